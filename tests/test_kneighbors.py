"""kneighbors: every list as arrays, the lists of related_many under every policy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from relatedness import RelatedArticles, UnknownArticleError

from .conftest import random_corpus

POLICIES = [
    {},
    {"section_policy": "any", "feedback": 0, "ngram_range": (1, 1)},
    {"section_policy": "prefer", "max_per_section": 2, "diversity": 0.3},
    {"max_age": 20.0, "recency_half_life": 10.0, "fallback": ("any", "latest")},
    {"pinned": {"a3": ["a7", "a9"]}, "blocked_pairs": [("a1", "a2")], "exclude_ids": ["a5"]},
]


def fit(rows, **params) -> RelatedArticles:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RelatedArticles(**{"k": 6, "min_df": 1, **params}).fit(rows)


def dated(rng, n):
    rows = random_corpus(rng, n)
    for i, r in enumerate(rows):
        r["id"] = f"a{i}"
        r["published"] = f"2024-{1 + i % 12:02d}-{1 + i % 27:02d}"
    return rows


@pytest.mark.parametrize("params", POLICIES)
def test_kneighbors_are_the_lists_of_related_many(rng, params):
    model = fit(dated(rng, 80), **params)
    model.remove(["a11"])
    scores, indices = model.kneighbors()
    assert scores.dtype == np.float32 and indices.dtype == np.int64
    assert scores.shape == indices.shape == (model.n_articles_, 6)
    lists = model.related_many(model.ids_)
    for row, article_id in enumerate(model.ids_):
        want = lists[article_id]
        got = [model.ids_[j] for j in indices[row] if j >= 0]
        assert got == [r.id for r in want]
        np.testing.assert_array_equal(
            scores[row, : len(want)], np.array([r.score for r in want], dtype=np.float32)
        )
        assert (indices[row, len(want) :] == -1).all() and (scores[row, len(want) :] == 0).all()
    assert (indices[model.ids_.index("a11")] == -1).all()  # a removed story has no list


def test_kneighbors_of_some_ids_in_their_order(rng):
    model = fit(dated(rng, 40))
    ids = ["a9", "a2", "a9", "a30"]
    scores, indices = model.kneighbors(ids, k=3)
    all_scores, all_indices = model.kneighbors(k=3)
    rows = [model.ids_.index(i) for i in dict.fromkeys(ids)]
    np.testing.assert_array_equal(indices, all_indices[rows])
    np.testing.assert_array_equal(scores, all_scores[rows])


def test_kneighbors_of_an_unknown_id_raises(rng):
    model = fit(dated(rng, 20))
    with pytest.raises(UnknownArticleError, match="'nope' is not in the model"):
        model.kneighbors(["a1", "nope"])
