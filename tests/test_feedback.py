"""Pseudo-relevance feedback (``feedback=N``): oracle, invariants, errors, persistence, CLI.

The oracle re-derives every list from dense arithmetic and plain loops: the article's copies
(plain cosine >= ``duplicate_threshold``) and its first ``N`` other neighbours by plain cosine;
the expanded vector ``x + w * mean(neighbours)``, L2-normalised and stored as float32 like the
index rows; then every candidate ranked by its cosine with that vector (ties: the index's
tie-break rank), copies skipped, and the greedy rule "at most one story of a near-duplicate
pair" applied walking down the ranking.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from relatedness import RelatedArticles
from relatedness.cli import main
from relatedness.exceptions import InvalidParameterError

from .conftest import news_rows, random_corpus


def fit(rows, **params) -> RelatedArticles:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RelatedArticles(min_df=1, **params).fit(rows)


def oracle(model: RelatedArticles, row: int, k: int) -> tuple[list[int], list[float]]:
    """The feedback list of one index row, by brute force."""
    index = model.index_
    x64 = sp.csr_matrix(index.matrix, dtype=np.float64)
    n = x64.shape[0]
    codes, tiebreak = index.section_codes, index.tiebreak
    threshold = model.duplicate_threshold
    policy = model.section_policy
    visible = model._ranker.visible

    def scores_for(query_row: sp.csr_matrix) -> np.ndarray:
        # Sparse product in the query's term order: the engine's summation order.
        return (x64 @ query_row.T).toarray().ravel()

    def order(candidates, scores, same_first):
        key = (lambda j: (codes[j] != codes[row], -scores[j], tiebreak[j])) if same_first else (
            lambda j: (-scores[j], tiebreak[j])
        )
        return sorted(candidates, key=key)

    def eligible(scores, scope):
        return [
            j for j in range(n)
            if j != row and visible[j] and scores[j] > 0
            and (scope == "any" or codes[j] == codes[row])
        ]

    plain = scores_for(x64[row])
    scope = "same" if policy == "same" else "any"
    is_copy = (plain >= threshold) if threshold is not None else np.zeros(n, dtype=bool)
    first = order(eligible(plain, scope), plain, policy == "prefer")
    if policy == "same":
        first = [j for j in first if codes[j] == codes[row]]
    neighbours = [j for j in first if not is_copy[j]][: model.feedback]
    if plain.max(initial=0.0) <= 0:
        return [], []
    q = x64[row].toarray().ravel()
    if neighbours:
        q = q + model.feedback_weight * x64[neighbours].toarray().mean(axis=0)
    q = (q / np.linalg.norm(q)).astype(np.float32).astype(np.float64)
    expanded = scores_for(sp.csr_matrix(q))
    ranked = [
        j for j in order(eligible(expanded, scope), expanded, policy == "prefer")
        if not is_copy[j]
    ]
    chosen: list[int] = []
    for j in ranked:
        if len(chosen) == k:
            break
        if threshold is not None and chosen:
            pair = (x64[chosen] @ x64[j].T).toarray().ravel()
            if pair.max() >= threshold:
                continue
        chosen.append(j)
    return chosen, [float(expanded[j]) for j in chosen]


def assert_matches_oracle(model: RelatedArticles, k: int) -> None:
    lists = model.related_many(model.ids_, k)
    for row, article_id in enumerate(model.ids_):
        want_rows, want_scores = oracle(model, row, k)
        got = lists[article_id]
        assert [r.id for r in got] == [model.ids_[j] for j in want_rows], article_id
        np.testing.assert_allclose([r.score for r in got], want_scores, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("policy", ["any", "same", "prefer"])
@pytest.mark.parametrize("threshold", [0.8, None])
@pytest.mark.parametrize("use_kernels", [True, False])
def test_feedback_lists_equal_the_brute_force_oracle(rng, policy, threshold, use_kernels):
    if use_kernels:
        pytest.importorskip("numba")
    rows = random_corpus(rng, 70, n_sections=3) + news_rows()
    model = fit(
        rows, k=4, section_policy=policy, duplicate_threshold=threshold, feedback=2,
        feedback_weight=1.5,
    )
    model.index_.use_kernels = use_kernels
    assert_matches_oracle(model, 4)


@pytest.mark.parametrize(("n_feedback", "weight"), [(1, 0.5), (3, 1.0), (5, 3.0)])
def test_feedback_oracle_over_neighbour_counts_and_weights(rng, n_feedback, weight):
    model = fit(
        random_corpus(rng, 50, n_sections=2), k=5, section_policy="any",
        feedback=n_feedback, feedback_weight=weight,
    )
    assert_matches_oracle(model, 5)


def test_feedback_zero_is_the_plain_ranking(rng):
    """With no neighbours the oracle's query is the article's own row: plain cosine."""
    assert_matches_oracle(fit(random_corpus(rng, 40), k=5, feedback=0), 5)


def test_feedback_changes_the_ranking_on_the_fixture_corpus():
    rows = news_rows()
    plain, expanded = fit(rows, k=3, section_policy="any"), fit(
        rows, k=3, section_policy="any", feedback=2
    )
    before = {i: [r.score for r in v] for i, v in plain.related_many(plain.ids_).items()}
    after = {i: [r.score for r in v] for i, v in expanded.related_many(expanded.ids_).items()}
    assert before != after


def test_regression_pair_once_kernel_not_used_for_expanded_queries():
    """Bug: a batch of every article took the pair-once kernel, which scores the index rows
    themselves, so feedback was silently ignored by related_many(all ids)."""
    rows = random_corpus(np.random.default_rng(5), 60)
    model = fit(rows, k=5, section_policy="any", feedback=3)
    model.index_.pair_once = True  # the path the bug took (off by default since)
    batch = model.related_many(model.ids_)
    one_by_one = {i: model.related(i) for i in model.ids_}
    assert batch == one_by_one


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 40),
    chunk=st.integers(1, 17),
    n_feedback=st.integers(1, 4),
    policy=st.sampled_from(["any", "same", "prefer"]),
)
def test_property_feedback_lists_do_not_depend_on_batching_or_input_order(
    seed, n, chunk, n_feedback, policy
):
    rows = random_corpus(np.random.default_rng(seed), n)
    model = fit(rows, k=4, section_policy=policy, feedback=n_feedback)
    whole = model.related_many(model.ids_)
    for start in range(0, n, chunk):
        part = model.related_many(model.ids_[start : start + chunk])
        assert part == {i: whole[i] for i in part}
    shuffled = fit(
        [rows[i] for i in np.random.default_rng(seed + 1).permutation(n)],
        k=4, section_policy=policy, feedback=n_feedback,
    )
    again = shuffled.related_many(model.ids_)
    assert {i: [r.id for r in v] for i, v in again.items()} == {
        i: [r.id for r in v] for i, v in whole.items()
    }


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 40))
def test_property_feedback_lists_hold_no_self_no_copy_and_sorted_scores(seed, n):
    model = fit(random_corpus(np.random.default_rng(seed), n), k=5, feedback=2)
    x64 = sp.csr_matrix(model.index_.matrix, dtype=np.float64)
    for article_id, found in model.related_many(model.ids_).items():
        row = model.ids_.index(article_id)
        assert article_id not in [r.id for r in found]
        scores = [r.score for r in found]
        assert scores == sorted(scores, reverse=True)
        assert all(s > 0 for s in scores)
        for r in found:
            plain = float((x64[row] @ x64[model.ids_.index(r.id)].T).toarray()[0, 0])
            assert plain < model.duplicate_threshold


def test_feedback_explain_adds_up_to_the_listed_score(rng):
    model = fit(random_corpus(rng, 50), k=5, section_policy="any", feedback=3)
    for article_id in model.ids_[:15]:
        for r in model.related(article_id):
            why = model.explain(article_id, r.id)
            assert why.score == pytest.approx(r.score, rel=1e-9)
            total = sum(t.contribution for t in why.terms) + why.feedback + why.tags
            assert total == pytest.approx(r.score, rel=1e-5, abs=1e-7)
            assert why.feedback >= -1e-7


def _terms_of(model: RelatedArticles, article_id) -> set[str]:
    names = model.vectorizer_.get_feature_names_out()
    row = model.index_.matrix[model.ids_.index(article_id)]
    return {str(names[c]) for c in row.indices}


def test_feedback_explanation_names_only_terms_both_articles_contain(rng):
    """Regression: with feedback on, explanations listed terms of the query's neighbours that
    the article itself does not contain; they now go into ``feedback``, stated apart."""
    rows = random_corpus(rng, 60)
    model = fit(rows, k=5, section_policy="any", feedback=3)
    borrowed = 0.0
    for article_id in model.ids_[:20]:
        mine = _terms_of(model, article_id)
        for r in model.related(article_id, explain=True):
            why = r.explanation
            assert why is not None and why == model.explain(article_id, r.id)
            assert {t.term for t in why.terms} <= mine & _terms_of(model, r.id)
            total = sum(t.contribution for t in why.terms) + why.feedback + why.tags
            assert total == pytest.approx(r.score, rel=1e-5, abs=1e-7)
            borrowed += why.feedback
    assert borrowed > 0  # the feedback did add to some scores: the split is not vacuous


def test_explanation_without_feedback_has_no_feedback_share(rng):
    model = fit(random_corpus(rng, 40), k=5, section_policy="any", feedback=0)
    for article_id in model.ids_[:10]:
        for r in model.related(article_id, explain=True):
            assert r.explanation is not None and r.explanation.feedback == 0.0
            assert r.explanation.to_dict()["feedback"] == 0.0


def test_feedback_related_to_own_text_equals_related(rng):
    rows = random_corpus(rng, 50)
    model = fit(rows, k=5, section_policy="any", feedback=2)
    for row in rows[:20]:
        assert [r.id for r in model.related_to(row)] == [r.id for r in model.related(row["id"])]


def test_feedback_keeps_the_twin_out_and_still_fills_the_list():
    rows = news_rows()  # p2 and p4 are identical copies
    model = fit(rows, k=5, section_policy="any", feedback=2)
    assert "p4" not in [r.id for r in model.related("p2")]
    assert "p2" not in [r.id for r in model.related("p4")]


def test_feedback_with_pins_blocks_and_fallback_keeps_the_editorial_rules():
    rows = news_rows()
    model = fit(
        rows, k=4, feedback=2, pinned={"p1": ["w1"]}, blocked_pairs=(("p1", "p3"),),
        fallback=("any", "latest"),
    )
    found = model.related("p1")
    ids = [r.id for r in found]
    assert ids[0] == "w1" and found[0].pinned
    assert "p3" not in ids and "p1" not in ids
    assert len(set(ids)) == len(ids) <= 4
    assert not {"p2", "p4"} <= set(ids)  # one story of the copy pair, even via "latest"


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"feedback": -1}, "feedback"),
        ({"feedback": 1.5}, "feedback"),
        ({"feedback": True}, "feedback"),
        ({"feedback_weight": 0}, "feedback_weight"),
        ({"feedback_weight": -1.0}, "feedback_weight"),
        ({"feedback_weight": "1"}, "feedback_weight"),
    ],
)
def test_invalid_feedback_parameters_fail_at_fit(params, match):
    with pytest.raises(InvalidParameterError, match=match):
        RelatedArticles(**params).fit(news_rows())


def test_feedback_survives_save_and_load(tmp_path, rng):
    model = fit(random_corpus(rng, 40), k=4, feedback=2, feedback_weight=0.75)
    model.save(tmp_path / "m")
    loaded = RelatedArticles.load(tmp_path / "m")
    assert (loaded.feedback, loaded.feedback_weight) == (2, 0.75)
    assert loaded.related_many(loaded.ids_) == model.related_many(model.ids_)


def test_feedback_affected_then_recompute_equals_a_full_recompute(rng):
    """Lists outside affected() must not change when articles are added."""
    rows = random_corpus(rng, 80, n_sections=2)
    first, extra = rows[:70], rows[70:]
    model = fit(first, k=4, section_policy="any", feedback=3)
    before = model.related_many(model.ids_)
    model.add(extra)
    affected = set(model.affected([r["id"] for r in extra]))
    after = model.related_many(model.ids_)
    for article_id, found in before.items():
        if article_id not in affected:
            assert after[article_id] == found, article_id


def test_feedback_affected_reaches_articles_through_their_neighbours():
    """An added story can enter the list of an article it shares no term with, through the
    terms the article's feedback neighbour lends its expanded vector."""
    rows = [
        {"id": "a", "title": "", "body": "alpha beta", "section": "x"},
        {"id": "b", "title": "", "body": "alpha beta gamma", "section": "x"},
        {"id": "c", "title": "", "body": "epsilon zeta", "section": "x"},
        {"id": "d", "title": "", "body": "epsilon theta", "section": "x"},
    ]
    model = fit(rows, k=3, feedback=1, duplicate_threshold=None)
    before = model.related("a")
    model.add([{"id": "n", "title": "", "body": "gamma", "section": "x"}])
    assert [r.id for r in model.related("a")] != [r.id for r in before]  # n entered
    assert "a" in model.affected(["n"])
    assert model.affected(["n"]) == ["a", "b", "n"]  # c, d share nothing, nor do theirs


def test_cli_fit_records_feedback_flags(tmp_path):
    corpus = tmp_path / "a.jsonl"
    corpus.write_text("\n".join(json.dumps(r) for r in news_rows()) + "\n", encoding="utf-8")
    code = main([
        "fit", str(corpus), "--model", str(tmp_path / "m"), "--min-df", "1",
        "--feedback", "2", "--feedback-weight", "0.5",
    ])
    assert code == 0
    loaded = RelatedArticles.load(tmp_path / "m")
    assert (loaded.feedback, loaded.feedback_weight) == (2, 0.5)
