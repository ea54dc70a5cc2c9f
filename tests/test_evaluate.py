"""Tests of the evaluation harness: metrics against hand-computed values, baselines against
brute-force oracles, the Rocchio experiment, the one-call report and BBC quality."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import random
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from relatedness import RelatedArticles, load_sample
from relatedness import evaluate as ev
from relatedness.articles import read_jsonl
from relatedness.evaluate import experiments
from relatedness.render import render_html
from relatedness.results import Related

from .conftest import CLASSIC

BBC = Path(__file__).resolve().parents[2] / "shared" / "data" / "bbc.jsonl"

LISTS = {"a": ["b", "c"], "b": ["c", "a"], "c": [], "d": ["c"]}
LABELS = {"a": {"x"}, "b": {"x"}, "c": {"y"}, "d": {"y"}}


def fit(rows, **params) -> RelatedArticles:
    """Fit quietly; measure the ranking itself (no duplicate policy) when the library has one."""
    if "duplicate_threshold" in RelatedArticles().get_params():
        params = {"duplicate_threshold": None, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RelatedArticles(**{**CLASSIC, "min_df": 1, **params}).fit(rows)


# A tiny news corpus: two topical sections, a syndicated copy (b1/b4), an empty article.
TINY = [
    {"id": "b1", "section": "business", "published": "2024-02-10", "title": "Bank holds rates",
     "body": "The central bank held interest rates, citing inflation and growth."},
    {"id": "b2", "section": "business", "published": "2024-02-12", "title": "Rates on hold",
     "body": "Interest rates stay on hold while inflation eases, the bank said."},
    {"id": "b3", "section": "business", "published": "2024-02-01", "title": "Carmaker profits",
     "body": "The carmaker reported rising profits as sales of cars grew."},
    {"id": "b4", "section": "business", "published": "2024-02-11", "title": "Bank rates held",
     "body": "The central bank held interest rates, citing inflation and growth."},
    {"id": "s1", "section": "sport", "published": "2024-01-20", "title": "Team wins cup final",
     "body": "The team won the cup final after extra time; the coach praised the players."},
    {"id": "s2", "section": "sport", "published": "2024-01-21", "title": "Coach praises team",
     "body": "The coach praised the players after the cup final win in extra time."},
    {"id": "s3", "section": "sport", "published": None, "title": "Cup draw made",
     "body": "The cup draw pairs the team with rivals; the coach is confident."},
    {"id": "e1", "section": "sport", "published": "2024-01-22", "title": "", "body": ""},
]


# ---------------------------------------------------------------- label-proxy relevance


def test_evaluate_lists_hand_computed():
    r = ev.evaluate_lists(LISTS, LABELS, k=2)
    # a: [b+, c-] R=1  -> P 1/2, AP 1,    nDCG 1
    # b: [c-, a+] R=1  -> P 1/2, AP 1/2,  nDCG 1/log2(3)
    # c: []       R=1  -> P 0,   AP 0,    nDCG 0
    # d: [c+]     R=1  -> P 1/2 (an empty slot counts against it), AP 1, nDCG 1
    assert r["n_queries"] == 4 and r["k"] == 2
    assert r["precision_at_k"] == pytest.approx(1.5 / 4)
    assert r["map_at_k"] == pytest.approx(2.5 / 4)
    assert r["ndcg_at_k"] == pytest.approx((2 + 1 / math.log2(3)) / 4)


def test_map_and_ndcg_with_several_relevant_and_multi_labels():
    labels = {"a": {"x", "y"}, "b": {"x"}, "c": {"y"}, "d": {"z"}, "e": {"z"}}
    # a shares a label with b and c (R = 2); d does not.
    r = ev.evaluate_lists({"a": ["b", "d", "c"]}, labels, k=3)
    assert r["precision_at_k"] == pytest.approx(2 / 3)
    assert r["map_at_k"] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert r["ndcg_at_k"] == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    # Only the first k items count.
    assert ev.evaluate_lists({"a": ["d", "e", "b", "c"]}, labels, k=2)["precision_at_k"] == 0


def test_perfect_lists_score_one_and_unlabelled_queries_are_skipped():
    labels = {"a": {"x"}, "b": {"x"}, "c": {"x"}, "u": set(), "v": {"alone"}}
    r = ev.evaluate_lists({"a": ["b", "c"], "u": ["a", "b"], "v": ["a"]}, labels, k=2)
    assert r["n_queries"] == 1  # u has no label, v's label has no other member
    assert r["precision_at_k"] == r["map_at_k"] == r["ndcg_at_k"] == 1.0
    none = ev.evaluate_lists({"u": ["a"]}, labels, k=2)
    assert none["n_queries"] == 0 and none["precision_at_k"] is None and none["map_at_k"] is None


def test_evaluate_lists_accepts_related_records_and_rejects_bad_k(fitted_tiny):
    found = fitted_tiny.related_many(fitted_tiny.ids_, 3)
    labels = ev.labels_from(TINY)
    assert ev.evaluate_lists(found, labels, 3) == ev.evaluate_lists(
        ev.model_lists(fitted_tiny, k=3), labels, 3
    )
    with pytest.raises(ValueError, match="k must be"):
        ev.evaluate_lists(LISTS, LABELS, 0)


def test_precision_curve():
    assert ev.precision_curve(LISTS, LABELS, [1, 2]) == {1: 0.5, 2: 0.375}


def test_labels_from_auto_falls_back_to_section_and_named_key():
    rows = [
        {"id": 1, "section": "sport", "labels": ["a", "b"]},
        {"id": 2, "section": "sport", "labels": []},
        {"id": 3, "section": ""},
        {"id": 4, "section": "sport", "topic": "cup"},
    ]
    assert ev.labels_from(rows) == {1: {"a", "b"}, 2: {"sport"}, 3: set(), 4: {"sport"}}
    assert ev.labels_from(rows, "topic") == {1: set(), 2: set(), 3: set(), 4: {"cup"}}
    assert ev.labels_from(load_sample()[:3]) == {a.id: set() for a in load_sample()[:3]}


def test_labels_from_a_dataframe_keeps_the_labels_column():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame([{"id": "a", "body": "x", "labels": ["p", "q"]},
                          {"id": "b", "body": "y", "section": "s", "labels": []}])
    assert ev.labels_from(frame) == {"a": {"p", "q"}, "b": {"s"}}


# ---------------------------------------------------------------- coverage, Gini, twins


def test_coverage_appearances_and_empty_share():
    lists = {"a": ["b", "c"], "b": ["a"], "c": []}
    assert ev.appearance_counts(lists, "abcd") == {"a": 1, "b": 1, "c": 1, "d": 0}
    assert ev.coverage(lists, "abcd") == 0.75
    assert ev.coverage({"a": ["b"], "b": ["b"]}, "abcd") == 0.25
    assert ev.empty_share(lists) == pytest.approx(1 / 3)
    assert ev.empty_share({}) is None
    with pytest.raises(ValueError, match="non-empty"):
        ev.coverage(lists, [])


@pytest.mark.parametrize("n", [1, 2, 5, 40])
def test_gini_of_equal_counts_is_zero_and_of_one_hot_is_n_minus_one_over_n(n):
    assert ev.gini([7] * n) == pytest.approx(0.0, abs=1e-12)
    assert ev.gini([0] * (n - 1) + [3]) == pytest.approx((n - 1) / n)


def test_gini_matches_mean_absolute_difference(rng):
    x = rng.integers(0, 20, size=31).astype(float)
    brute = np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean())
    assert ev.gini(x) == pytest.approx(brute)
    assert ev.gini([1, 2, 3, 4]) == pytest.approx(0.25)
    assert ev.gini([0, 0]) == 0.0
    with pytest.raises(ValueError, match=">= 0"):
        ev.gini([1, -1])
    with pytest.raises(ValueError, match="at least one"):
        ev.gini([])


def test_twin_recall_hand_made_lists():
    corpus = [{"id": "a", "body": "x y"}, {"id": "b", "body": " x y\n"},
              {"id": "c", "body": "z"}, {"id": "d", "body": ""}, {"id": "e", "body": ""}]
    assert ev.twin_groups(corpus) == [["a", "b"]]  # empty bodies are not twins
    assert ev.twin_recall({"a": ["b", "c"], "b": ["c", "a"], "c": []}, corpus) == 0.5
    assert ev.twin_recall({"a": ["b"], "b": ["a"]}, corpus) == 1.0
    assert ev.twin_recall({"c": ["a"]}, corpus) is None


def test_twin_recall_on_a_fitted_tiny_corpus_with_a_duplicated_body(fitted_tiny):
    lists = ev.model_lists(fitted_tiny, k=3)
    assert lists["b1"][0] == "b4" and lists["b4"][0] == "b1"
    assert ev.twin_recall(lists, TINY) == 1.0
    # Moving the twin down the list is a miss.
    swapped = {**lists, "b1": [lists["b1"][1], "b4"]}
    assert ev.twin_recall(swapped, TINY) == 0.5


# ---------------------------------------------------------------- similarity, time, sections


def test_intra_list_similarity_hand_computed():
    m = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    row_of = {"p": 0, "q": 1, "r": 2, "s": 3}
    # [p, q]: 1; [p, r, s]: (0 + 0.6 + 0.8) / 3; one-item lists are skipped.
    got = ev.intra_list_similarity({"x": ["p", "q"], "y": ["p", "r", "s"], "z": ["r"]}, m, row_of)
    assert got == pytest.approx((1 + 1.4 / 3) / 2)
    assert ev.intra_list_similarity({"z": ["r"]}, m, row_of) is None


def test_intra_list_similarity_matches_pairwise_loop(fitted_tiny):
    lists = ev.model_lists(fitted_tiny, k=3)
    x = fitted_tiny.index_.matrix.toarray().astype(float)
    row = {i: r for r, i in enumerate(fitted_tiny.ids_)}
    per_list = [
        np.mean([x[row[a]] @ x[row[b]] for a, b in itertools.combinations(items, 2)])
        for items in lists.values() if len(items) >= 2
    ]
    assert ev.intra_list_similarity(lists, fitted_tiny.index_.matrix, row) == pytest.approx(
        np.mean(per_list)
    )


def test_freshness_and_age_gaps():
    pub = {"a": dt.date(2024, 1, 10), "b": dt.date(2024, 1, 3),
           "c": dt.datetime(2024, 1, 20, 12, tzinfo=dt.timezone.utc), "d": None}
    lists = {"a": ["b", "c", "d"], "d": ["a"]}
    assert ev.age_gaps(lists, pub).tolist() == [-7.0, 10.5]
    f = ev.freshness(lists, pub)
    assert f == {"median_age_gap_days": 8.75, "mean_age_gap_days": 8.75, "share_older": 0.5,
                 "n_dated_pairs": 2}
    assert ev.freshness({"d": ["a"]}, pub)["median_age_gap_days"] is None


def test_section_purity():
    sections = {"a": "x", "b": "x", "c": "y", "d": ""}
    assert ev.section_purity({"a": ["b", "c"], "b": ["a"], "c": [], "d": ["a"]}, sections) == 0.75
    assert ev.section_purity({"a": ["b"]}, {"a": "x", "b": "x"}) is None  # one section


def test_overlap_at_k():
    a = {"a": ["b", "c"], "b": ["a"], "c": []}
    b = {"a": ["c", "d"], "b": ["a"], "c": [], "z": ["a"]}
    # a: 1/2, b: 1, c: two empty lists agree; z is only in one.
    assert ev.overlap_at_k(a, b, 2) == pytest.approx(2.5 / 3)
    three_a, three_b = {"a": ["b", "c", "d"]}, {"a": ["b", "c", "e"]}
    assert ev.overlap_at_k(three_a, three_b, 2) == 1.0
    assert ev.overlap_at_k(three_a, three_b, 3) == pytest.approx(2 / 3)
    assert ev.overlap_at_k(a, a, 10) == 1.0
    assert ev.overlap_at_k({"a": []}, {"b": []}, 2) is None


def test_latency_reports_percentiles(fitted_tiny):
    r = ev.latency(fitted_tiny, k=3, n=20)
    assert r["n_calls"] == 20
    assert 0 < r["latency_p50_ms"] <= r["latency_p99_ms"]
    with pytest.raises(ValueError, match="at least one id"):
        ev.latency(fitted_tiny, ids=[], n=5)


# ---------------------------------------------------------------- baselines


def _random_corpus(seed: int, n: int = 40) -> list[dict]:
    words = ["bank", "rates", "tax", "cup", "final", "coach", "team", "storm", "snow", "vote",
             "budget", "oil", "price", "court", "judge", "film", "award", "the", "and", "of"]
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        body = " ".join(rnd.choices(words, k=rnd.randint(0, 12)))
        if i and rnd.random() < 0.2:
            body = rows[rnd.randrange(i)]["body"]  # exact copies: exact score ties
        rows.append({"id": f"r{i:02d}", "title": rnd.choice(words), "body": body})
    return rows


def _assert_ranked_like(got: dict, oracle: dict, k: int) -> None:
    """``got`` is a correct top-k of ``oracle`` scores (positive only, best first)."""
    for query, scores in oracle.items():
        positive = {i: s for i, s in scores.items() if s > 1e-12 and i != query}
        items = got[query]
        assert query not in items
        assert len(items) == min(k, len(positive)), (query, items, positive)
        vals = [positive[i] for i in items]
        assert all(x >= y - 1e-9 for x, y in itertools.pairwise(vals)), (query, vals)
        rest = [s for i, s in positive.items() if i not in items]
        if rest and vals:
            assert vals[-1] >= max(rest) - 1e-9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tfidf_baseline_matches_sklearn_cosine(seed):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

    rows = _random_corpus(seed)
    x = TfidfVectorizer().fit_transform([f"{r['title']} {r['body']}" for r in rows])
    sim = cosine_similarity(x)
    ids = [r["id"] for r in rows]
    oracle = {q: dict(zip(ids, sim[i], strict=True)) for i, q in enumerate(ids)}
    _assert_ranked_like(ev.tfidf_baseline(rows, k=5), oracle, 5)


def _mlt_oracle(rows, k1=1.2, b=0.75, max_terms=25, min_doc_freq=2, msm=0.3):
    """Elasticsearch more_like_this, written out term by term (slow, obviously right)."""
    from sklearn.feature_extraction.text import CountVectorizer

    analyze = CountVectorizer(stop_words="english").build_analyzer()
    docs = [Counter(analyze(f"{r['title']} {r['body']}")) for r in rows]
    n = len(docs)
    df = Counter(t for d in docs for t in d)
    avg = sum(sum(d.values()) for d in docs) / n
    out = {}
    for qi, q in enumerate(docs):
        cands = [t for t in q if df[t] >= min_doc_freq]
        weight = {t: q[t] * (1 + math.log(n / (df[t] + 1))) for t in cands}
        terms = sorted(cands, key=lambda t: (-weight[t], t))[:max_terms]
        need = max(1, math.floor(msm * len(terms) + 1e-9))
        scores = {}
        for di, d in enumerate(docs):
            matched = [t for t in terms if t in d]
            if di == qi or len(matched) < need:
                continue
            length = sum(d.values())
            scores[rows[di]["id"]] = sum(
                math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                * d[t] * (k1 + 1) / (d[t] + k1 * (1 - b + b * length / avg))
                for t in matched
            )
        out[rows[qi]["id"]] = scores
    return out


@pytest.mark.parametrize(("seed", "msm"), [(0, 0.3), (1, 0.3), (2, 0.0)])
def test_mlt_baseline_matches_a_term_by_term_oracle(seed, msm):
    rows = _random_corpus(seed)
    got = ev.mlt_baseline(rows, k=5, minimum_should_match=msm)
    _assert_ranked_like(got, _mlt_oracle(rows, msm=msm), 5)


def test_mlt_keeps_only_the_top_query_terms():
    # "q" has 3 eligible terms; with max_query_terms=1 only its rarest one ("zeta": df 2)
    # is asked for, so only the other article holding "zeta" can match.
    rows = [{"id": "q", "body": "alpha beta zeta"}, {"id": "z", "body": "zeta"},
            {"id": "a1", "body": "alpha beta"}, {"id": "a2", "body": "alpha beta"}]
    assert ev.mlt_baseline(rows, k=3, max_query_terms=1)["q"] == ["z"]
    assert set(ev.mlt_baseline(rows, k=3, max_query_terms=3)["q"]) == {"z", "a1", "a2"}


def test_mlt_minimum_should_match_is_30_percent_of_the_query_terms():
    # q asks for 10 terms (each in 2 articles): a match needs floor(30% of 10) = 3 of them.
    rows = [{"id": "q", "body": "alpha beta gamma delta epsilon zeta eta theta iota kappa"},
            {"id": "d1", "body": "alpha beta"},
            {"id": "d2", "body": "gamma delta epsilon"},
            {"id": "d3", "body": "zeta eta theta iota kappa"}]
    assert ev.mlt_baseline(rows, k=5)["q"] == ["d3", "d2"]
    assert ev.mlt_baseline(rows, k=5, minimum_should_match=0)["q"] == ["d3", "d2", "d1"]


@pytest.mark.parametrize("baseline", [ev.tfidf_baseline, ev.mlt_baseline])
def test_baselines_exclude_self_are_deterministic_and_break_ties_by_id(baseline):
    rows = [
        {"id": "q", "title": "bank rates", "body": "the bank held rates"},
        {"id": "c2", "title": "bank rates", "body": "the bank held rates"},
        {"id": "c1", "title": "bank rates", "body": "the bank held rates"},
        {"id": "z", "title": "cup final", "body": "the team won the cup final"},
        {"id": "y", "title": "cup final", "body": "a cup final for the team"},
    ]
    got = baseline(rows, k=3)
    assert got["q"][:2] == ["c1", "c2"]  # exact tie: by id, whatever the input order
    assert all(q not in items for q, items in got.items())
    assert baseline(list(reversed(rows)), k=3) == got
    assert list(got) == [r["id"] for r in rows]


# ---------------------------------------------------------------- Rocchio


def test_rocchio_without_feedback_weight_is_the_plain_ranking():
    sample = load_sample()
    model = fit(sample, k=5, section_policy="any", min_df=2)
    assert ev.rocchio_lists(model, k=5, beta=0.0) == ev.model_lists(model, k=5)


def test_rocchio_respects_self_exclusion_sections_and_k(fitted_tiny):
    sections = dict(zip(fitted_tiny.ids_, fitted_tiny.sections_, strict=True))
    same = fit(TINY, k=3, section_policy="same")
    lists = ev.rocchio_lists(same, k=3, beta=1.0)
    assert lists["e1"] == []  # no text: nothing related
    for q, items in lists.items():
        assert q not in items and len(items) <= 3
        assert all(sections[i] == sections[q] for i in items)
    rows = [*TINY, {"id": "s4", "section": "sport", "title": "Bank sponsors team",
                    "body": "The bank will sponsor the team and the cup final."}]
    sections["s4"] = "sport"
    prefer = ev.rocchio_lists(fit(rows, k=5, section_policy="prefer"), k=5, beta=1.0)
    for q, items in prefer.items():
        own = [sections[i] == sections[q] for i in items]
        assert own == sorted(own, reverse=True)  # own section first, then the others
    assert any(not all(sections[i] == sections[q] for i in v) for q, v in prefer.items())


def test_rocchio_moves_towards_the_feedback_centroid():
    # q's best match s shares its one rare word; the others share the topic with s.
    rows = [
        {"id": "q", "body": "rates rates rates zebra"},
        {"id": "s", "body": "rates zebra inflation bank"},
        {"id": "t", "body": "inflation bank bank"},
        {"id": "u", "body": "zebra"},
        {"id": "v", "body": "zebra"},
    ]
    model = fit(rows, k=4, section_policy="any")
    plain = ev.model_lists(model, k=4)["q"]
    pushed = ev.rocchio_lists(model, ["q"], k=4, n_feedback=1, beta=2.0)["q"]
    assert "t" not in plain and "t" in pushed  # t shares no word with q, only with s


# ---------------------------------------------------------------- one call, tables


@pytest.fixture
def fitted_tiny() -> RelatedArticles:
    return fit(TINY, k=3, section_policy="any")


def test_evaluate_model_on_the_bundled_sample_reports_none_for_label_metrics():
    sample = load_sample()
    model = fit(sample, k=5, min_df=2)
    r = ev.evaluate_model(model, sample, k=5, latency_n=20)
    assert set(ev.METRIC_LABELS) <= set(r)
    # The sample has no sections and no labels: label metrics are undefined, not 0.
    assert r["n_queries"] == 0
    assert r["precision_at_k"] is r["map_at_k"] is r["ndcg_at_k"] is None
    assert r["section_purity"] is None and r["twin_recall"] is None and r["n_twins"] == 0
    assert r["n_articles"] == 293
    assert 0.3 < r["coverage"] <= 1 and 0 <= r["gini"] < 1 and r["empty_share"] == 0
    assert 0 < r["intra_list_similarity"] < 1
    assert r["median_age_gap_days"] > 0  # the sample is dated
    assert r["latency_p50_ms"] > 0
    json.dumps(r, allow_nan=False)  # what the CLI's --format json prints
    table = ev.format_table(r)
    assert "P@5" in table and "coverage" in table
    assert [line.split() for line in table.splitlines() if line.startswith("P@5")] == [
        ["P@5", "-"]
    ]


def test_evaluate_model_on_a_labelled_corpus(fitted_tiny):
    r = ev.evaluate_model(fitted_tiny, TINY, k=3, latency_n=0)
    labels = ev.labels_from(TINY)
    assert r["precision_at_k"] == ev.evaluate_lists(ev.model_lists(fitted_tiny, k=3), labels, 3)[
        "precision_at_k"
    ]
    assert r["n_queries"] == 8  # e1 (no text) is a query too: its empty list scores 0
    assert r["twin_recall"] == 1.0 and r["n_twins"] == 2
    assert r["latency_p50_ms"] is None
    # With one label for all, precision is the share of filled slots.
    custom = ev.evaluate_model(fitted_tiny, TINY, k=3, labels={i: {"all"} for i in labels},
                               latency_n=0)
    lengths = [len(v) for v in ev.model_lists(fitted_tiny, k=3).values()]
    assert custom["precision_at_k"] == pytest.approx(np.mean(lengths) / 3)


def test_evaluate_model_warns_when_the_section_filter_makes_labels_trivial():
    model = fit(TINY, k=3, section_policy="same")
    with pytest.warns(UserWarning, match="trivially high"):
        r = ev.evaluate_model(model, TINY, k=3, latency_n=0)
    assert r["section_purity"] == 1.0


def test_evaluate_systems_scores_models_baselines_and_lists_alike(fitted_tiny):
    out = ev.evaluate_systems(
        {"model": fitted_tiny, "tfidf": ev.tfidf_baseline, "fixed": {"b1": ["s1"]}}, TINY, k=3
    )
    assert list(out) == ["model", "tfidf", "fixed"]
    assert out["fixed"]["precision_at_k"] == 0 and out["fixed"]["n_queries"] == 1
    assert out["fixed"]["coverage"] == pytest.approx(1 / 8)
    assert out["model"]["section_policy"] == "any" and out["tfidf"]["section_policy"] is None
    # One space for intra-list similarity: the model's rows, for every system.
    assert out["tfidf"]["intra_list_similarity"] is not None
    table = ev.format_table(out)
    assert table.splitlines()[0].split() == ["metric", "model", "tfidf", "fixed"]


def test_compare_returns_a_dataframe():
    pytest.importorskip("pandas")
    frame = ev.compare({"tfidf": ev.tfidf_baseline, "mlt": ev.mlt_baseline}, TINY, k=2)
    assert list(frame.index) == ["tfidf", "mlt"]
    assert frame.loc["tfidf", "precision_at_k"] == pytest.approx(
        ev.evaluate_lists(ev.tfidf_baseline(TINY, k=2), ev.labels_from(TINY), 2)["precision_at_k"]
    )


def test_format_table_layout():
    text = ev.format_table({"k": 10, "precision_at_k": 0.92134, "twin_recall": None,
                            "n_articles": 2225})
    assert text.splitlines() == [
        "metric       value",
        "k               10",
        "P@10         0.921",
        "twin recall      -",
        "articles     2,225",
    ]


def test_corpus_profile_and_render_box(fitted_tiny):
    p = ev.corpus_profile(TINY)
    assert p["n_articles"] == 8 and p["sections"] == {"business": 4, "sport": 4}
    assert p["twin_groups"] == 1 and p["empty_bodies"] == 1 and p["dated_share"] == 7 / 8
    text = ev.render_box(fitted_tiny, "b1", k=2)
    assert text.splitlines()[0] == "Related to: Bank holds rates [business]"
    assert "Bank rates held" in text.splitlines()[1]
    assert "(nothing related)" in ev.render_box(fitted_tiny, "e1")
    rows = [{"id": "x", "title": "<b>Tom & Jerry</b> news", "body": "tom jerry cartoon"},
            {"id": "y", "title": "Tom & Jerry again", "body": "tom jerry cartoon show",
             "url": "https://example.org/?a=1&b=2"}]
    html_box = ev.render_box(fit(rows), "x", html_output=True)
    assert "Tom &amp; Jerry again" in html_box and "a=1&amp;b=2" in html_box


def test_render_box_html_is_the_sites_box(fitted_tiny):
    # One HTML implementation: the notebook box is render_html's, headed by the article.
    for model, article_id, k in [(fitted_tiny, "b1", 2), (fitted_tiny, "s1", 5)]:
        title = model.titles_[model.ids_.index(article_id)]
        expected = render_html(model.related(article_id, k), heading=f"Related to: {title}")
        assert ev.render_box(model, article_id, k, html_output=True) == expected
    rows = [{"id": "x", "title": "Storm warning", "body": "storm snow roads closed"},
            {"id": "y", "title": 'Rates < 5% & "rising"', "body": "storm snow roads ice",
             "url": "https://news.example/y?a=1&b=2"}]
    model = fit(rows)
    expected = render_html(model.related("x", 5), heading="Related to: Storm warning")
    assert ev.render_box(model, "x", html_output=True) == expected
    # Nothing related: no box, as on the site.
    assert ev.render_box(fitted_tiny, "e1", html_output=True) == render_html([]) == ""


class _Unclean:
    """A fitted model's face whose titles did not go through the cleaner (it strips tags)."""

    def __init__(self, title: str, related: list[Related]) -> None:
        self.ids_, self.titles_, self.sections_ = ["q"], [title], [""]
        self._related = related

    def related(self, article_id, k=None):
        return self._related[:k]


def test_render_box_escapes_script_and_neutralises_javascript_links():
    xss = "<script>alert(1)</script>"
    hostile = Related("a", 0.5, f"Storm {xss} news", "<b>weather</b>", f"Snow {xss}",
                      url="javascript:alert(1)")
    box = ev.render_box(_Unclean(f"Query {xss}", [hostile]), "q", html_output=True)
    assert "<script>" not in box and "<b>" not in box and "javascript:" not in box
    assert "Related to: Query &lt;script&gt;alert(1)&lt;/script&gt;" in box
    assert "Storm &lt;script&gt;alert(1)&lt;/script&gt; news" in box
    assert '<a href="#">' in box
    # Through a real model too: the stored javascript: url never reaches the href.
    rows = [{"id": "x", "title": "Storm warning", "body": "storm snow roads closed"},
            {"id": "y", "title": 'Rates < 5% & "rising"', "body": "storm snow roads ice",
             "url": "javascript:alert(3)"}]
    box = ev.render_box(fit(rows), "x", html_output=True)
    assert "javascript:" not in box and '<a href="#">' in box
    assert "Rates &lt; 5% &amp; &quot;rising&quot;" in box


def test_subsample_is_seeded_and_keeps_order():
    rows = list(range(100))
    a = ev.subsample(rows, 10, seed=3)
    assert a == sorted(a) and len(set(a)) == 10 and a == ev.subsample(rows, 10, seed=3)
    assert a != ev.subsample(rows, 10, seed=4)
    assert ev.subsample(rows, None) == rows and ev.subsample(rows, 500) == rows


# ---------------------------------------------------------------- tuning


def test_kfold_ids_partition():
    ids = [f"a{i}" for i in range(23)]
    folds = ev.kfold_ids(ids, 5, seed=1)
    assert sorted(len(f) for f in folds) == [4, 4, 5, 5, 5]
    assert sorted(itertools.chain(*folds)) == sorted(ids)
    assert folds == ev.kfold_ids(ids, 5, seed=1) != ev.kfold_ids(ids, 5, seed=2)
    with pytest.raises(ValueError, match="n_splits"):
        ev.kfold_ids(ids, 1)


def test_grid_search_chooses_the_informative_field_on_every_fold():
    # Titles are noise across sections; bodies carry the topic: "body only" must win.
    rnd = random.Random(0)
    topics = {"business": "bank rates inflation budget tax", "sport": "cup final coach team goal"}
    rows = []
    for i in range(40):
        section = "business" if i % 2 else "sport"
        words = topics[section].split()
        rows.append({"id": f"a{i:02d}", "section": section,
                     "title": " ".join(rnd.sample(["red", "blue", "green", "gold"], 2)),
                     "body": " ".join(rnd.choices(words, k=6))})
    grid = [{"fields": {"title": 1.0}}, {"fields": {"body": 1.0}}]
    out = ev.grid_search(rows, grid, k=5, n_splits=4, base_params={"section_policy": "any",
                                                                   "min_df": 1})
    assert out["nested"]["chosen"] == [1, 1, 1, 1] and out["best"] == 1
    body, title = out["points"][1], out["points"][0]
    assert body["precision_at_k"] > title["precision_at_k"] + 0.2
    assert len(body["folds"]["map_at_k"]) == 4
    assert out["nested"]["mean"]["precision_at_k"] == pytest.approx(
        np.mean(body["folds"]["precision_at_k"])
    )
    pytest.importorskip("pandas")
    table = ev.grid_table(out)
    assert table.loc[0, "name"] == "fields={'body': 1.0}"
    assert table.loc[0, "chosen_in_folds"] == 4


def test_cross_validate_picks_on_training_folds_and_scores_on_held_out_ones():
    labels = {f"q{i}": {"x" if i % 2 else "y"} for i in range(8)}
    ids = list(labels)
    good = {q: [i for i in ids if i != q and labels[i] == labels[q]][:1] for q in ids}
    bad = {q: [i for i in ids if labels[i] != labels[q]][:1] for q in ids}
    # "mixed" is right on q0-q3 only: its training score depends on the fold.
    mixed = {q: good[q] if q in ids[:4] else bad[q] for q in ids}
    out = ev.cross_validate({"bad": bad, "mixed": mixed, "good": good}, labels, k=1, n_splits=4)
    assert out["nested"]["chosen"] == [2, 2, 2, 2] and out["best"] == 2
    assert out["nested"]["mean"] == {"precision_at_k": 1.0, "map_at_k": 1.0, "ndcg_at_k": 1.0}
    mixed_point = out["points"][1]
    assert mixed_point["precision_at_k"] == 0.5
    folds = ev.kfold_ids(ids, 4, seed=0)
    assert mixed_point["folds"]["precision_at_k"] == [
        np.mean([q in ids[:4] for q in fold]) for fold in folds
    ]
    # Equal candidates: the earlier one is chosen.
    tie = ev.cross_validate({"first": good, "second": dict(good)}, labels, k=1, n_splits=2)
    assert tie["nested"]["chosen"] == [0, 0] and tie["best"] == 0
    with pytest.raises(ValueError, match="metric"):
        ev.cross_validate({"g": good}, labels, metric="recall")


def test_split_halves_builds_a_label_free_task():
    body = "one two three\n\nfour five six seven\n\neight nine"
    rows, labels = ev.split_halves(
        [{"id": "a", "title": "T", "body": body, "section": "s"},
         {"id": "b", "title": "U", "body": "too short"}],
        min_words=5,
    )
    assert [r["id"] for r in rows] == ["a#1", "a#2"]
    # Cut at the paragraph boundary nearest half the words (3 | 4 + 2, not 3 + 4 | 2).
    assert rows[0]["body"] == "one two three" and rows[0]["title"] == "T"
    assert rows[1]["body"] == "four five six seven\n\neight nine" and rows[1]["title"] == ""
    assert rows[1]["section"] == "s"
    assert labels == {"a#1": {"a"}, "a#2": {"a"}}
    # On the sample, the other half is usually the first hit: MAP@k is its reciprocal rank.
    halves, half_labels = ev.split_halves(load_sample()[:60])
    model = fit(halves, k=5, section_policy="any")
    r = ev.evaluate_lists(ev.model_lists(model, k=5), half_labels, 5)
    assert r["n_queries"] == len(halves) and r["map_at_k"] > 0.8
    assert r["precision_at_k"] <= 0.2


def test_grid_expands_a_dict_and_translates_title_weight():
    points = experiments.expand_grid({"title_weight": [0.0, 1.0], "stem": [True, False]})
    assert len(points) == 4 and points[0] == {"title_weight": 0.0, "stem": True}
    params = experiments._model_params({"title_weight": 0.25}, {"section_policy": "any"})
    assert params == {"section_policy": "any",
                      "fields": {"title": 0.25, "body": 1.0, "tags": 1.0}}


# ---------------------------------------------------------------- import hygiene, BBC


def test_import_does_not_load_pandas_or_matplotlib():
    code = (
        "import sys, relatedness.evaluate; "
        "print(sorted(m for m in ('pandas', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.shared_data
def test_bbc_defaults_reach_precision_at_10_and_beat_the_newcomer_baseline():
    if not BBC.is_file():
        pytest.skip("bbc.jsonl not available (../shared/data is absent)")
    rows = read_jsonl(BBC)
    model = fit(rows, k=10, section_policy="any", min_df=2)
    r = ev.evaluate_model(model, rows, k=10, latency_n=50)
    assert r["n_queries"] == 2225 and r["n_twins"] == 266
    assert r["precision_at_k"] >= 0.92, r
    assert r["map_at_k"] >= 0.885 and r["ndcg_at_k"] >= 0.92
    assert r["twin_recall"] >= 0.95
    assert r["coverage"] >= 0.9 and r["gini"] < 0.5
    newcomer = ev.evaluate_lists(ev.tfidf_baseline(rows, k=10), ev.labels_from(rows), 10)
    assert r["precision_at_k"] >= newcomer["precision_at_k"] + 0.05, newcomer


@pytest.mark.shared_data
def test_bbc_shipped_defaults_reach_the_tuning_targets_in_the_api_and_the_cli(tmp_path):
    """With no section hint, the 0.2 defaults (chosen across four corpora by the worst one)
    keep BBC above the plain pipeline (0.923): P@10 >= 0.93, MAP@10 >= 0.905; the
    ``2026.11`` preset keeps the BBC-tuned targets of issue 6 (P@10 >= 0.94, MAP@10 >=
    0.91). `relatedness evaluate` reports the same numbers."""
    if not BBC.is_file():
        pytest.skip("bbc.jsonl not available (../shared/data is absent)")
    rows = read_jsonl(BBC)
    labels = ev.labels_from(rows, "section")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RelatedArticles(k=10, section_policy="any").fit(rows)
        pinned = RelatedArticles.from_preset("2026.11", k=10, section_policy="any").fit(rows)
    before = ev.evaluate_lists(ev.model_lists(pinned, k=10), labels, 10)
    assert before["precision_at_k"] >= 0.94 and before["map_at_k"] >= 0.91, before
    r = ev.evaluate_lists(ev.model_lists(model, k=10), labels, 10)
    assert r["precision_at_k"] >= 0.93, r
    assert r["map_at_k"] >= 0.905, r
    folds = ev.cross_validate({"defaults": ev.model_lists(model, k=10)}, labels, k=10)
    assert min(folds["points"][0]["folds"]["precision_at_k"]) >= 0.91  # no lucky fold

    from relatedness.cli import main

    out = tmp_path / "out.json"
    with out.open("w", encoding="utf-8") as handle:
        import contextlib

        with contextlib.redirect_stdout(handle):
            assert main(["evaluate", str(BBC), "--label", "section", "--format", "json"]) == 0
    cli = json.loads(out.read_text(encoding="utf-8"))["relatedness"]
    assert cli["precision_at_k"] == pytest.approx(r["precision_at_k"], abs=1e-9)
    assert cli["map_at_k"] == pytest.approx(r["map_at_k"], abs=1e-9)
