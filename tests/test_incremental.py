"""Incremental updates (issue 5): add() keeps the vocabulary; affected() bounds the recompute."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from relatedness import DuplicateIdError, InvalidArticleError, RelatedArticles
from relatedness.vectorize import FieldTfidfVectorizer

from .conftest import random_corpus


def fit(rows, **params) -> RelatedArticles:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RelatedArticles(**{"min_df": 1, "k": 4, **params}).fit(rows)


def full_recompute_with(model: RelatedArticles, rows) -> RelatedArticles:
    """A model over ``rows`` that reuses ``model``'s fitted vectorizer (same vocabulary/idf)."""
    from relatedness.archive import Archive
    from relatedness.articles import check_articles

    fresh = RelatedArticles(**model.get_params())
    vec = model.vectorizer_
    cleaned = [vec.clean_document(r) for r in rows]
    counts, _ = vec.count(cleaned, vec.vocabulary_)
    norms: list = []
    matrix = vec.weigh(counts, vec.idf_, norms_out=norms)
    arts = check_articles(rows)
    return fresh._fitted(Archive.of(vec, matrix, norms[0], arts, cleaned, fresh.snippet_chars))


@pytest.mark.parametrize("policy", ["same", "any"])
def test_add_equals_full_recompute_with_the_same_vocabulary(rng, policy):
    rows = random_corpus(rng, 120)
    old, new = rows[:90], rows[90:]
    model = fit(old, section_policy=policy)
    report = model.add(new)
    assert report.added == [r["id"] for r in new]
    reference = full_recompute_with(model, rows)
    assert model.related_many(model.ids_) == reference.related_many(reference.ids_)


def test_affected_lists_are_the_only_ones_that_change(rng):
    rows = random_corpus(rng, 150)
    before = fit(rows[:130], section_policy="any")
    old_lists = before.related_many(before.ids_)
    after = fit(rows[:130], section_policy="any")
    after.add(rows[130:])
    affected = set(after.affected([r["id"] for r in rows[130:]]))
    new_lists = after.related_many(before.ids_)
    changed = {i for i in before.ids_ if old_lists[i] != new_lists[i]}
    assert changed <= affected
    assert len(affected) < after.n_articles_  # a bound, not everything


def test_remove_affects_only_lists_sharing_terms(rng):
    rows = random_corpus(rng, 100)
    model = fit(rows, section_policy="any")
    victim = next(i for i in model.ids_ if model.related(i))
    before = model.related_many(model.ids_)
    affected = set(model.affected([victim]))
    model.remove([victim])
    after = model.related_many(model.ids_)
    assert {i for i in model.ids_ if before[i] != after[i]} <= affected
    assert all(victim not in [r.id for r in lst] for lst in after.values())


def test_add_reports_oov_and_drift():
    rows = [{"id": f"a{i}", "body": "storm snow roads closed"} for i in range(10)]
    model = fit(rows)
    same = model.add([{"id": "b1", "body": "storm snow roads"}])
    assert same.oov_rate == 0.0
    assert not same.needs_refit
    novel = model.add([{"id": f"c{i}", "body": "volcano eruption ash cloud"} for i in range(3)])
    assert novel.oov_rate == pytest.approx(1.0)
    assert novel.needs_refit


def test_add_refuses_existing_and_mistyped_ids():
    model = fit([{"id": "a", "body": "storm snow"}, {"id": "b", "body": "storm roads"}])
    with pytest.raises(DuplicateIdError, match=r"already in the model, e\.g\. \['a'\]"):
        model.add([{"id": "a", "body": "storm"}])
    with pytest.raises(InvalidArticleError, match="new ids are int but the model's are str"):
        model.add([{"id": 7, "body": "storm"}])


def test_added_articles_survive_save_and_load(tmp_path, rng):
    rows = random_corpus(rng, 60)
    model = fit(rows[:50])
    model.add(rows[50:])
    model.remove([rows[3]["id"]])
    model.save(tmp_path / "m")
    loaded = RelatedArticles.load(tmp_path / "m")
    assert loaded.related_many(loaded.ids_) == model.related_many(model.ids_)
    assert loaded.removed_ == {rows[3]["id"]}
    assert isinstance(loaded.vectorizer_, FieldTfidfVectorizer)
    assert np.array_equal(loaded.norms_, model.norms_)
