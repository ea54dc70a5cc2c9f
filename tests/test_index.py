"""Oracle tests: every query path equals a brute-force ranking of all pairs.

The oracle scores every pair (the full product, made dense), applies the policy by plain
Python loops, and sorts by the documented rule: score descending, then the tie-break rank
(newer first, undated last, then id). The engine must return exactly the same ids in the same
order, for every block size.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from relatedness import RelatedArticles
from relatedness.engine.topk import block_rows, topk_block
from relatedness.index import SimilarityIndex, rocchio, take_rows, tiebreak_ranks

from .conftest import random_corpus


def brute_force(index: SimilarityIndex, k: int, policy: str, allowed=None):
    """Rank every candidate of every row with explicit loops; the reference answer."""
    x64 = sp.csr_matrix(index.matrix, dtype=np.float64)
    scores = (x64 @ x64.T).toarray()
    dense = x64.toarray() @ x64.toarray().T
    np.testing.assert_allclose(scores, dense, rtol=0, atol=1e-12)
    scores = np.minimum(scores, 1.0)  # the contract: a cosine is at most 1 (issue 17, item 9)
    n = index.n_articles
    codes = index.section_codes
    out = []
    for i in range(n):

        def ranked(candidates, i=i):
            cands = [
                j
                for j in candidates
                if j != i and scores[i, j] > 0 and (allowed is None or allowed[j])
            ]
            return sorted(cands, key=lambda j: (-scores[i, j], index.tiebreak[j]))

        same = ranked([j for j in range(n) if codes[j] == codes[i]])
        if policy == "any":
            chosen = ranked(range(n))[:k]
        elif policy == "same":
            chosen = same[:k]
        else:
            others = ranked([j for j in range(n) if codes[j] != codes[i]])
            chosen = (same[:k] + others)[:k]
        out.append((chosen, [scores[i, j] for j in chosen]))
    return out


@pytest.fixture(params=["kernels", "scipy"])
def engine(request):
    """Run a test through the compiled path and through the scipy path."""
    if request.param == "kernels":
        pytest.importorskip("numba")
    return request.param == "kernels"


def fit_quietly(rows, **params) -> RelatedArticles:
    """Fit with the duplicate policy off: these tests pin the raw engine on identical rows."""
    params = {"min_df": 1, "duplicate_threshold": None, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RelatedArticles(**params).fit(rows)


def compiled_and_scipy(rows, **params) -> tuple[RelatedArticles, RelatedArticles]:
    """The same model twice: one on the compiled path, one on the scipy path."""
    fast, slow = fit_quietly(rows, **params), fit_quietly(rows, **params)
    fast.index_.use_kernels, slow.index_.use_kernels = True, False
    return fast, slow


@pytest.mark.parametrize("policy", ["same", "any", "prefer"])
@pytest.mark.parametrize("working_memory", [1e-9, 0.001, 0.01, 256])
@pytest.mark.parametrize("k", [1, 3, 50])
def test_index_equals_brute_force_for_every_block_size(rng, policy, working_memory, k, engine):
    model = fit_quietly(random_corpus(rng, 60), section_policy=policy)
    index = model.index_
    index.use_kernels = engine
    index.working_memory = working_memory
    index.forget()
    rows = np.arange(index.n_articles)
    got = index.query(index.matrix, rows, index.section_codes, k, policy)
    want = brute_force(index, k, policy)
    for (g_rows, g_scores), (w_rows, w_scores) in zip(got, want, strict=True):
        assert g_rows.tolist() == w_rows
        np.testing.assert_array_equal(g_scores, w_scores)


def test_block_rows_for_covers_one_row_to_all():
    assert block_rows(10**9, 1e-9) == 1
    assert block_rows(100, 1024) > 100_000


@pytest.mark.parametrize("policy", ["same", "any", "prefer"])
def test_allowed_mask_is_applied_before_topk(rng, policy, engine):
    """A filter never starves a list: excluded candidates are replaced by the next ones."""
    model = fit_quietly(random_corpus(rng, 50), section_policy=policy)
    index = model.index_
    index.use_kernels = engine
    allowed = rng.random(index.n_articles) < 0.6
    rows = np.arange(index.n_articles)
    got = index.query(index.matrix, rows, index.section_codes, 4, policy, allowed)
    want = brute_force(index, 4, policy, allowed)
    assert [g[0].tolist() for g in got] == [w[0] for w in want]


def test_topk_block_pads_and_excludes_self():
    x = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    cols, scores = topk_block(x, sp.csr_matrix(x.T), 5, np.array([0, 1, 2]), np.arange(3))
    # k=5 is clamped to the 3 candidates; missing places are padded with -1 and 0.
    assert cols.tolist() == [[1, -1, -1], [0, -1, -1], [-1, -1, -1]]
    assert scores[0, 0] == 1.0
    assert scores[2].tolist() == [0.0] * 3


def test_ties_break_newer_first_then_undated_then_id():
    published = np.array(
        ["2024-01-01", "NaT", "2024-02-01", "2024-02-01", "NaT"], dtype="datetime64[s]"
    )
    ranks = tiebreak_ranks(["e", "d", "c", "b", "a"], published)
    # newest (ids b, c by id), then 2024-01-01 (e), then undated (a, d by id)
    order = np.argsort(ranks)
    assert [["e", "d", "c", "b", "a"][i] for i in order] == ["b", "c", "e", "a", "d"]


def test_identical_articles_each_get_the_others_never_themselves():
    """BAD_INPUTS row 13: five identical copies; self excluded by position, not by score."""
    rows = [
        {
            "id": f"c{i}",
            "title": "Storm",
            "body": "storm snow roads closed",
            "published": f"2024-01-0{i + 1}",
        }
        for i in range(5)
    ]
    rows.append({"id": "other", "title": "Cup", "body": "cup final team"})
    model = fit_quietly(rows, k=10)
    for i in range(5):
        got = [r.id for r in model.related(f"c{i}")]
        newest_first = [f"c{j}" for j in range(4, -1, -1) if j != i]
        assert got == newest_first
        assert all(r.score == pytest.approx(1.0) for r in model.related(f"c{i}"))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 30),
    k=st.integers(1, 8),
    policy=st.sampled_from(["same", "any", "prefer"]),
    memory=st.sampled_from([1e-9, 1e-4, 256]),
)
def test_property_engine_matches_oracle(seed, n, k, policy, memory):
    rng = np.random.default_rng(seed)
    rows = random_corpus(rng, n)
    # At least one indexable word ("fire" alone is an English stop word: nothing to index).
    rows[0]["body"] += " storm"
    model = fit_quietly(rows, section_policy=policy)
    index = model.index_
    index.use_kernels = bool(seed % 2)  # both engines, chosen by the drawn seed
    index.working_memory = memory
    all_rows = np.arange(index.n_articles)
    got = index.query(index.matrix, all_rows, index.section_codes, k, policy)
    want = brute_force(index, k, policy)
    assert [g[0].tolist() for g in got] == [w[0] for w in want]
    for query, (g_rows, g_scores) in enumerate(got):
        assert len(set(g_rows.tolist())) == len(g_rows)
        assert query not in g_rows.tolist()
        assert np.all(g_scores > 0)
        # "prefer" lists same-section stories first: scores fall within each part.
        same = index.section_codes[g_rows] == index.section_codes[query]
        for part in (same, ~same) if policy == "prefer" else (np.ones_like(same),):
            assert np.all(np.diff(g_scores[part]) <= 0)
        if policy == "prefer":
            assert not np.any(np.diff(same.astype(int)) > 0), "an other-section story came first"


REMOVAL_RULES = [
    {"duplicate_threshold": 0.5},
    {"max_age": 1.0},
    {"allow_newer": False},
    {"max_age": 1.0, "allow_newer": False, "duplicate_threshold": 0.9},
    {"blocked_pairs": [("a001", "a002"), ("a003", "a010")]},
]


@pytest.mark.parametrize("params", REMOVAL_RULES)
@pytest.mark.parametrize("policy", ["same", "any", "prefer"])
def test_compiled_path_equals_scipy_path_under_removal_rules(rng, params, policy):
    """The compiled path filters a ranked pool; the scipy path zeroes the dense block."""
    pytest.importorskip("numba")
    rows = random_corpus(rng, 80)
    fast, slow = compiled_and_scipy(rows, section_policy=policy, k=4, **params)
    assert fast.related_many(fast.ids_) == slow.related_many(slow.ids_)


def test_pool_grows_when_copies_fill_it(engine):
    """Regression guard: 40 copies of a story fill any first pool; the list still fills up."""
    rows = [{"id": f"copy{i:02d}", "body": "storm snow roads closed north"} for i in range(40)]
    words = ["helicopter", "volunteers", "village", "farmers", "hospital"]
    rows += [
        {"id": f"other{i}", "body": f"storm snow rescue {w} team"} for i, w in enumerate(words)
    ]
    model = fit_quietly(rows, k=3, duplicate_threshold=0.99)
    model.index_.use_kernels = engine
    got = [r.id for r in model.related("copy00")]
    assert len(got) == 3
    assert all(i.startswith("other") for i in got)


def test_all_pairs_scores_each_pair_once(rng, all_pairs_calls):
    """Issue 3: a batch of every candidate takes the pair-once kernel, with the same answer."""
    calls = all_pairs_calls
    model = fit_quietly(random_corpus(rng, 70), section_policy="any", k=5)
    index = model.index_
    index.use_kernels = True
    rows = np.arange(index.n_articles)
    want = [w[0] for w in brute_force(index, 5, "any")]
    # Not told the queries are its own rows (they may be any vectors): the block path.
    got = index.query(index.matrix, rows, index.section_codes, 5, "any")
    assert calls == []
    assert [g[0].tolist() for g in got] == want
    got = index.query(index.matrix, rows, index.section_codes, 5, "any", own_rows=True)
    assert calls == [index.n_articles]
    assert [g[0].tolist() for g in got] == want


def dated_corpus(rng, n):
    """Random rows, every one dated (days apart, with shared days for time ties)."""
    rows = random_corpus(rng, n)
    for row in rows:
        month, day = int(rng.integers(1, 7)), int(rng.integers(1, 29))
        row["published"] = f"2024-{month:02d}-{day:02d}"
    return rows


@pytest.mark.parametrize(
    "params",
    [
        {"max_age": 0.5},
        {"max_age": 3.0},
        {"max_age": 30.0, "allow_newer": False},
        {"allow_newer": False},
        {"max_age": 10.0, "feedback": 2, "duplicate_threshold": 0.8},
        {"max_age": 10.0, "section_overrides": {"s1": {"max_age": None}}},
    ],
)
@pytest.mark.parametrize("policy", ["same", "any", "prefer"])
def test_time_window_reads_a_time_ordered_range_with_the_scipy_answer(rng, params, policy):
    """Issue 3: with every candidate dated, a window scans only its time range of postings
    (the compiled path over a time-ordered copy) and returns exactly the dense answer."""
    pytest.importorskip("numba")
    rows = dated_corpus(rng, 90)
    fast, slow = compiled_and_scipy(rows, section_policy=policy, k=4, **params)
    assert fast.related_many(fast.ids_) == slow.related_many(slow.ids_)
    assert any("by_time" in names for names in fast.index_.built.values())


def test_time_window_is_skipped_when_a_candidate_is_undated(rng):
    """Undated stories are exempt from the window, so no time range can hold them."""
    pytest.importorskip("numba")
    rows = dated_corpus(rng, 40)
    rows[5]["published"] = None
    fast, slow = compiled_and_scipy(rows, section_policy="any", k=4, max_age=3.0)
    assert fast.related_many(fast.ids_) == slow.related_many(slow.ids_)
    tried = fast.index_.tried
    assert list(tried) == [-1] and "by_time" in tried[-1]
    assert "by_time" not in fast.index_.built[-1]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"max_age": 3.0},
        {"max_age": 10.0, "duplicate_threshold": 0.8, "max_per_section": 2},
        {"max_age": 10.0, "feedback": 2},
        {"max_age": 10.0, "section_overrides": {"s1": {"max_age": None}}},
        {"max_age": 30.0, "allow_newer": False},
    ],
)
@pytest.mark.parametrize("policy", ["same", "any", "prefer"])
def test_shared_pools_score_each_pair_once_with_the_same_lists(
    rng, all_pairs_calls, params, policy
):
    """Issue 3: inside shared_pools(), batches of own rows read their pools from one pair-once
    pass per candidate set, and every list is the one the per-batch kernel gives."""
    rows = dated_corpus(rng, 90)
    rows.append({"id": "solo", "body": "lonely flood story", "section": "solo",
                 "published": "2024-03-03"})  # fmt: skip
    model = fit_quietly(rows, section_policy=policy, k=4, **params)
    model.index_.use_kernels = True
    batches = [model.ids_[a : a + 7] for a in range(0, len(model.ids_), 7)]
    want = [model.related_many(batch) for batch in batches]
    calls = all_pairs_calls
    calls.clear()
    with model.index_.shared_pools():
        got = [model.related_many(batch) for batch in batches]
    assert got == want
    assert not model.index_.pools_active  # released on exit
    if params.get("allow_newer") is False:
        assert calls == []  # a one-sided window is not symmetric: per-batch kernel
    else:
        # Once per candidate set and pool size, never once per batch.
        assert calls
        assert len(calls) < len(batches)


def test_shared_pools_are_not_used_for_other_vectors(rng, all_pairs_calls):
    """related_to() queries are not index rows: they never read a shared pool."""
    model = fit_quietly(dated_corpus(rng, 40), section_policy="same", k=3, max_age=10.0)
    model.index_.use_kernels = True
    story = {"title": "flood", "body": "river flood town rescue", "section": "s0",
             "published": "2024-03-03"}  # fmt: skip
    want = model.related_to(story)
    all_pairs_calls.clear()
    with model.index_.shared_pools():
        assert model.related_to(story) == want
    assert all_pairs_calls == []


def test_take_rows_of_one_row_equals_scipy_fancy_indexing(rng):
    """take_rows' one-row path (a single query) is matrix[[r]]: every row, negative indices,
    empty rows, and a copy, never a view of the index's arrays."""
    dense = sp.random(9, 12, density=0.3, dtype=np.float32, random_state=rng).toarray()
    dense[4] = 0.0
    x = sp.csr_matrix(dense)
    for r in [*range(9), -1, -9]:
        got, want = take_rows(x, np.array([r])), x[[r]]
        assert got.shape == want.shape == (1, 12)
        assert (got != want).nnz == 0
        assert got.indices.tolist() == want.indices.tolist()
    got = take_rows(x, np.array([2]))
    got.data[:] = -1.0
    assert (x.data >= 0).all()


def _rocchio_by_scipy(raw, rows, counts, weight):
    """The feedback vector as scipy expressions: raw + A @ rows, then a row normalisation."""
    m = raw.shape[0]
    weights = np.repeat(weight / np.maximum(counts, 1), counts)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    mean = sp.csr_matrix((weights, np.arange(rows.shape[0]), indptr), shape=(m, rows.shape[0]))
    out = sp.csr_matrix(
        sp.csr_matrix(raw, dtype=np.float64) + mean @ sp.csr_matrix(rows, dtype=np.float64)
    )
    out.sum_duplicates()
    norms = np.sqrt(np.asarray(out.multiply(out).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    out = sp.csr_matrix(sp.diags(scale) @ out, dtype=rows.dtype)
    out.eliminate_zeros()
    out.sort_indices()
    return out


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 30),
    n_terms=st.integers(1, 200),
    density=st.sampled_from([0.0, 0.01, 0.1, 0.5, 1.0]),
    m=st.integers(0, 5),
    weight=st.sampled_from([0.3, 1.0, 1.5, 7.0]),
)
def test_rocchio_equals_the_scipy_expression_bit_for_bit(seed, n, n_terms, density, m, weight):
    """Empty rows, queries without neighbours and repeated neighbours included."""
    rng = np.random.default_rng(seed)
    x = sp.random(n, n_terms, density=density, format="csr", dtype=np.float32, random_state=seed)
    x.data += np.float32(1e-3)
    queries = x[rng.integers(0, n, m)]
    counts = rng.integers(0, 5, m)
    rows = x[rng.integers(0, n, int(counts.sum()))]
    got, _ = rocchio(queries, rows, counts, weight)
    want = _rocchio_by_scipy(queries, rows, counts, weight)
    assert got.shape == want.shape and got.dtype == want.dtype == np.float32
    assert np.array_equal(got.indptr, want.indptr)
    assert np.array_equal(got.indices, want.indices)
    assert np.array_equal(got.data, want.data)


def test_rocchio_is_the_normalised_dense_sum():
    x = sp.csr_matrix(np.array([[3.0, 0, 4.0, 0], [0, 1.0, 0, 0], [1.0, 1.0, 0, 0]], np.float32))
    expanded, factor = rocchio(x[[0]], x[[1, 2]], np.array([2]), 1.0)
    got = expanded.toarray()[0]
    want = np.array([3.0, 0, 4.0, 0]) + (np.array([0, 1.0, 0, 0]) + np.array([1.0, 1.0, 0, 0])) / 2
    np.testing.assert_allclose(got, want / np.linalg.norm(want), rtol=1e-6)
    # The article's own vector enters the expanded one scaled by the returned factor.
    np.testing.assert_allclose(factor, [1 / np.linalg.norm(want)])


def test_pair_once_is_off_by_default_and_gives_the_same_lists(rng):
    """The all-pairs kernel was measured slower than batched queries on every real corpus
    (benchmarks/README.md), so a whole-set batch no longer takes it unless asked; the lists
    are the same either way."""
    from relatedness import RelatedArticles

    rows = random_corpus(rng, 80)
    model = RelatedArticles(k=5, min_df=1, section_policy="any").fit(rows)
    assert model.index_.pair_once is False
    batched = model.related_many(model.ids_)
    model.index_.pair_once = True
    assert model.related_many(model.ids_) == batched
