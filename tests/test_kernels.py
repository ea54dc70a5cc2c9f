"""Oracle tests for the compiled kernels: every path must equal ``engine.topk.topk_block`` exactly.

Scores are compared with ``==`` (``np.array_equal``), never approximately: the kernels promise
the bit-identical float64 of the scipy reference (same products, same summation order) and
the same ranking (score, then tiebreak rank). The matrices are built to make that hard:
quantized values and duplicate rows (many exactly equal scores, so the tie rule decides),
all-zero rows, and k below, at and beyond the number of candidates.
"""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import normalize

from relatedness.engine import kernels as _kernels
from relatedness.engine.topk import topk_block

pytestmark = pytest.mark.skipif(not _kernels.NUMBA_AVAILABLE, reason="numba is not installed")


def make_matrix(
    seed: int,
    n: int,
    n_terms: int,
    density: float,
    *,
    quantize: bool = True,
    n_zero: int = 2,
    n_dup: int = 3,
) -> sp.csr_matrix:
    """Random float32 CSR with L2-normalised rows, some all-zero rows and duplicated rows."""
    rng = np.random.default_rng(seed)
    # random_state= (not rng=) so the tests run on every scipy the project supports.
    x = sp.random(n, n_terms, density=density, format="csr", random_state=rng).toarray()
    if quantize:
        # Few distinct values: many pairs get exactly equal scores.
        x = np.round(x, 1)
    rows = rng.permutation(n)
    zero, dup = rows[:n_zero], rows[n_zero : n_zero + n_dup]
    x[zero] = 0.0
    if len(dup) > 1:
        x[dup] = x[dup[0]]  # identical rows: identical scores, the tiebreak decides
    m = sp.csr_matrix(normalize(x).astype(np.float32))
    m.eliminate_zeros()
    m.sort_indices()
    return m


def reference(
    queries: sp.csr_matrix,
    candidates: sp.csr_matrix,
    k: int,
    exclude: np.ndarray,
    tiebreak: np.ndarray,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The scipy path, called the way ``index.py`` calls it (float64 operands)."""
    q64 = sp.csr_matrix(queries, dtype=np.float64)
    c64 = sp.csr_matrix(candidates.T, dtype=np.float64)
    c64.sort_indices()
    return topk_block(q64, c64, k, np.asarray(exclude, np.int64), tiebreak, allowed)


def assert_same(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]) -> None:
    assert got[0].shape == want[0].shape
    assert got[0].dtype == np.int64
    assert got[1].dtype == np.float64
    np.testing.assert_array_equal(got[0], want[0])
    # array_equal on floats is bitwise equality here (no NaNs): no tolerance on purpose.
    assert np.array_equal(got[1], want[1])


def ranks(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed + 1).permutation(n).astype(np.int64)


# --- topk_block_fast ------------------------------------------------------------------------


@pytest.mark.parametrize("density", [0.05, 0.3])
@pytest.mark.parametrize("k", [1, 3, 10, "n+5"])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("self_excluded", [True, False])
def test_block_equals_reference(density: float, k: object, masked: bool, self_excluded: bool):
    n = 60
    x = make_matrix(7, n, 40, density)
    k = n + 5 if k == "n+5" else int(k)
    tiebreak = ranks(7, n)
    allowed = np.random.default_rng(3).random(n) < 0.6 if masked else None
    exclude = np.arange(n) if self_excluded else np.full(n, -1)
    want = reference(x, x, k, exclude, tiebreak, allowed)
    inverted = _kernels.inverted_index(x)
    got = _kernels.topk_block_fast(x, inverted, k, exclude, tiebreak, allowed)
    assert_same(got, want)
    # Threads and block sizes only change who scores a row, never the answer.
    got = _kernels.topk_block_fast(
        x, inverted, k, exclude, tiebreak, allowed, n_jobs=2, block_rows=7
    )
    assert_same(got, want)


def test_block_queries_differ_from_candidates():
    """Unseen queries (not rows of the index) against a candidate subset, float64 queries."""
    x = make_matrix(11, 80, 30, 0.2)
    rows = np.arange(5, 70, 2)  # a "section": every other row
    queries = make_matrix(12, 25, 30, 0.2)
    tiebreak = ranks(11, len(rows))
    exclude = np.full(queries.shape[0], -1)
    exclude[:3] = [0, 4, 9]  # positions inside the candidate set, as index.py passes them
    want = reference(queries, x[rows], 10, exclude, tiebreak)
    inverted = _kernels.inverted_index(x, rows)
    assert inverted.dtype == np.float32
    assert inverted.shape == (30, len(rows))
    for q in (queries, sp.csr_matrix(queries, dtype=np.float64)):
        assert_same(_kernels.topk_block_fast(q, inverted, 10, exclude, tiebreak), want)
    # A float64 inverted index (what index.py caches today) gives the same too.
    inverted64 = sp.csr_matrix(inverted, dtype=np.float64)
    assert_same(_kernels.topk_block_fast(queries, inverted64, 10, exclude, tiebreak), want)


def test_block_int64_indices():
    x = make_matrix(13, 40, 25, 0.2)
    inverted = _kernels.inverted_index(x)
    big = sp.csr_matrix(
        (inverted.data, inverted.indices.astype(np.int64), inverted.indptr.astype(np.int64)),
        shape=inverted.shape,
    )
    tiebreak = ranks(13, 40)
    want = reference(x, x, 5, np.arange(40), tiebreak)
    assert_same(_kernels.topk_block_fast(x, big, 5, np.arange(40), tiebreak), want)


@pytest.mark.parametrize("masked", [False, True])
def test_window_equals_mask(masked: bool):
    """A window [lo, hi) of candidate positions equals masking everything outside it."""
    n = 70
    x = make_matrix(17, n, 30, 0.25)
    tiebreak = ranks(17, n)
    rng = np.random.default_rng(5)
    lo = rng.integers(-3, n, size=n)
    hi = lo + rng.integers(0, 40, size=n)
    allowed = rng.random(n) < 0.7 if masked else np.ones(n, dtype=bool)
    inverted = _kernels.inverted_index(x)
    got = _kernels.topk_block_fast(
        x, inverted, 6, np.arange(n), tiebreak, allowed if masked else None, window=(lo, hi)
    )
    for i in range(n):
        inside = (np.arange(n) >= lo[i]) & (np.arange(n) < hi[i]) & allowed
        want = reference(x[i], x, 6, np.array([i]), tiebreak, inside)
        np.testing.assert_array_equal(got[0][i], want[0][0])
        assert np.array_equal(got[1][i], want[1][0])


def test_scores_are_canonical_sums():
    """Each score is the sequential float64 sum in the query's ascending column order."""
    rng = np.random.default_rng(21)
    # Values of very different magnitudes, so other summation orders round differently.
    dense = rng.random((30, 12)) * 10.0 ** rng.integers(-6, 1, size=(30, 12))
    dense[rng.random(dense.shape) < 0.3] = 0.0
    x = sp.csr_matrix(normalize(dense).astype(np.float32))
    x.sort_indices()
    cols, scores = _kernels.topk_block_fast(
        x, _kernels.inverted_index(x), 30, np.full(30, -1), np.arange(30)
    )
    xd = x.toarray().astype(np.float64)
    for q in range(30):
        for c, s in zip(cols[q], scores[q], strict=True):
            if c < 0:
                continue
            total = 0.0
            for t in range(12):  # ascending column order, shared terms only
                if xd[q, t] != 0.0 and xd[c, t] != 0.0:
                    total += xd[q, t] * xd[c, t]
            assert s == total


def test_block_empty_inputs():
    x = make_matrix(1, 10, 5, 0.3)
    inverted = _kernels.inverted_index(x)
    cols, scores = _kernels.topk_block_fast(x[:0], inverted, 3, np.empty(0), np.arange(10))
    assert cols.shape == (0, 3)
    assert scores.shape == (0, 3)
    no_candidates = sp.csr_matrix((5, 0), dtype=np.float32)
    cols, scores = _kernels.topk_block_fast(x, no_candidates, 3, np.full(10, -1), np.empty(0))
    assert cols.shape == (10, 1)
    assert (cols == -1).all()
    assert (scores == 0.0).all()


# --- all_pairs_topk -------------------------------------------------------------------------

#: all_pairs_topk's ``dense_share``: the default (no dense copy at these sizes), every term
#: stored densely, and the frequent ones only. The scores must be the same bits each way.
DENSE_SHARES = [None, 0.0, 0.3]


@pytest.mark.parametrize("block_rows", [1, 7, "n"])
@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("k", [1, 3, 10, "n+5"])
@pytest.mark.parametrize("dense_share", DENSE_SHARES)
def test_all_pairs_equals_reference(
    block_rows: object, n_jobs: int, k: object, dense_share: float | None
):
    n = 50
    x = make_matrix(31, n, 35, 0.15)
    k = n + 5 if k == "n+5" else int(k)
    block_rows = n if block_rows == "n" else int(block_rows)
    tiebreak = ranks(31, n)
    want = reference(x, x, k, np.arange(n), tiebreak)
    got = _kernels.all_pairs_topk(
        x, k, tiebreak, n_jobs=n_jobs, block_rows=block_rows, dense_share=dense_share
    )
    assert_same(got, want)


@pytest.mark.parametrize("density", [0.05, 0.3])
@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("dense_share", DENSE_SHARES)
def test_all_pairs_masked(density: float, n_jobs: int, dense_share: float | None):
    n = 64
    x = make_matrix(41, n, 30, density)
    tiebreak = ranks(41, n)
    allowed = np.random.default_rng(8).random(n) < 0.5
    want = reference(x, x, 4, np.arange(n), tiebreak, allowed)
    got = _kernels.all_pairs_topk(
        x, 4, tiebreak, allowed, n_jobs=n_jobs, block_rows=5, dense_share=dense_share
    )
    assert_same(got, want)


@pytest.mark.parametrize(
    "case", ["identical_rows", "one_term_everywhere", "all_zero", "single_row", "empty"]
)
def test_adversarial(case: str):
    rng = np.random.default_rng(4)
    if case == "identical_rows":
        dense = np.tile(rng.random(8), (25, 1))  # every score ties: tiebreak decides all
    elif case == "one_term_everywhere":
        dense = rng.random((40, 15)) * (rng.random((40, 15)) < 0.1)
        dense[:, 3] = 0.5  # a stop-word-like term in every row
    elif case == "all_zero":
        dense = np.zeros((6, 4))
    elif case == "single_row":
        dense = rng.random((1, 5))
    else:
        dense = np.zeros((0, 4))
    x = (
        sp.csr_matrix(normalize(dense).astype(np.float32))
        if len(dense)
        else sp.csr_matrix(dense, dtype=np.float32)
    )
    x.sort_indices()
    n = x.shape[0]
    tiebreak = ranks(4, n)
    for k in (1, 5, n + 3):
        want = reference(x, x, k, np.arange(n), tiebreak)
        got = _kernels.topk_block_fast(x, _kernels.inverted_index(x), k, np.arange(n), tiebreak)
        assert_same(got, want)
        for n_jobs, share in itertools.product((1, 2), DENSE_SHARES):
            got = _kernels.all_pairs_topk(
                x, k, tiebreak, n_jobs=n_jobs, block_rows=3, dense_share=share
            )
            assert_same(got, want)


def test_all_pairs_unsorted_input():
    """Unsorted column indices are sorted first: the summation order is part of the result."""
    x = make_matrix(51, 30, 20, 0.3)
    tiebreak = ranks(51, 30)
    want = reference(x, x, 5, np.arange(30), tiebreak)
    shuffled = x.copy()
    for r in range(30):
        lo, hi = shuffled.indptr[r], shuffled.indptr[r + 1]
        order = np.random.default_rng(r).permutation(hi - lo) + lo
        shuffled.indices[lo:hi] = shuffled.indices[order]
        shuffled.data[lo:hi] = shuffled.data[order]
    shuffled.has_sorted_indices = False
    shuffled.has_canonical_format = False
    assert_same(_kernels.all_pairs_topk(shuffled, 5, tiebreak), want)


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("dense_share", DENSE_SHARES)
def test_all_pairs_date_window(n_jobs: int, masked: bool, dense_share: float | None):
    """A symmetric window |date_q - date_j| <= w over date-sorted rows equals masking."""
    n, w = 60, 5
    x = make_matrix(57, n, 20, 0.3)
    dates = np.sort(np.random.default_rng(9).integers(0, 40, size=n))  # equal dates included
    tiebreak = ranks(57, n)
    allowed = np.random.default_rng(10).random(n) < 0.7 if masked else None
    end = np.searchsorted(dates, dates + w, side="right")
    got = _kernels.all_pairs_topk(
        x, 4, tiebreak, allowed, n_jobs=n_jobs, block_rows=6, window_end=end,
        dense_share=dense_share,
    )  # fmt: skip
    for q in range(n):
        inside = np.abs(dates - dates[q]) <= w
        if allowed is not None:
            inside &= allowed
        want = reference(x[q], x, 4, np.array([q]), tiebreak, inside)
        np.testing.assert_array_equal(got[0][q], want[0][0])
        assert np.array_equal(got[1][q], want[1][0])


@pytest.mark.parametrize("dense_share", DENSE_SHARES)
def test_all_pairs_float64_input(dense_share: float | None):
    """float64 rows (float32 values or not) score exactly like the reference too."""
    x = make_matrix(53, 40, 20, 0.3, quantize=False)
    x64 = sp.csr_matrix(x, dtype=np.float64)
    x64.data += 1e-9  # no longer float32 values: products are rounded, order still decides
    tiebreak = ranks(53, 40)
    want = reference(x64, x64, 6, np.arange(40), tiebreak)
    got = _kernels.all_pairs_topk(x64, 6, tiebreak, block_rows=4, dense_share=dense_share)
    assert_same(got, want)


# --- properties -----------------------------------------------------------------------------


@st.composite
def problems(draw: st.DrawFn) -> tuple[sp.csr_matrix, int, np.ndarray, np.ndarray | None]:
    n = draw(st.integers(1, 24))
    n_terms = draw(st.integers(1, 10))
    # Values from a tiny alphabet: equal scores everywhere, zero rows and duplicates likely.
    cells = draw(
        st.lists(st.sampled_from([0.0, 0.0, 0.0, 1.0, 2.0, 0.5]), min_size=n * n_terms,
                 max_size=n * n_terms)
    )  # fmt: skip
    dense = np.array(cells).reshape(n, n_terms)
    x = sp.csr_matrix(normalize(dense).astype(np.float32))
    x.sort_indices()
    k = draw(st.integers(1, n + 3))
    tiebreak = np.array(draw(st.permutations(range(n))), dtype=np.int64)
    allowed = draw(st.none() | st.lists(st.booleans(), min_size=n, max_size=n).map(np.array))
    return x, k, tiebreak, allowed


@settings(max_examples=50, deadline=None)
@given(problems(), st.integers(1, 5), st.integers(1, 2), st.sampled_from(DENSE_SHARES))
def test_property_equals_reference(
    problem: tuple, block_rows: int, n_jobs: int, dense_share: float | None
):
    x, k, tiebreak, allowed = problem
    n = x.shape[0]
    want = reference(x, x, k, np.arange(n), tiebreak, allowed)
    got = _kernels.topk_block_fast(
        x, _kernels.inverted_index(x), k, np.arange(n), tiebreak, allowed,
        n_jobs=n_jobs, block_rows=block_rows,
    )  # fmt: skip
    assert_same(got, want)
    got = _kernels.all_pairs_topk(
        x, k, tiebreak, allowed, n_jobs=n_jobs, block_rows=block_rows, dense_share=dense_share
    )
    assert_same(got, want)


# --- packaging ------------------------------------------------------------------------------


def test_import_compiles_nothing():
    """Importing the module (or the package) must not pay numba's compile time."""
    code = (
        "import sys, relatedness; assert 'numba' not in sys.modules; "
        "from relatedness.engine import kernels as k; "
        "assert all(not f.signatures for f in (k._topk_rows, k._pairs_rows, k.topk_inverted))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_numba_raises_import_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(_kernels, "NUMBA_AVAILABLE", False)
    x = make_matrix(1, 5, 4, 0.5)
    with pytest.raises(ImportError, match="numba"):
        _kernels.topk_block_fast(x, _kernels.inverted_index(x), 2, np.arange(5), np.arange(5))
    with pytest.raises(ImportError, match="numba"):
        _kernels.all_pairs_topk(x, 2, np.arange(5))


def test_topk_inverted_direct():
    """The raw kernel with the documented argument conventions (empty mask = allow all)."""
    x = make_matrix(61, 30, 15, 0.3)
    inverted = _kernels.inverted_index(x)
    tiebreak = ranks(61, 30)
    q = sp.csr_matrix(x, dtype=np.float64)
    cols, scores = _kernels.topk_inverted(
        q.indptr, q.indices, q.data, inverted.indptr, inverted.indices, inverted.data,
        4, np.arange(30), tiebreak, np.empty(0, dtype=np.bool_),
    )  # fmt: skip
    assert_same((cols, scores), reference(x, x, 4, np.arange(30), tiebreak))


@pytest.mark.parametrize("n_jobs", [2, 3])
@pytest.mark.parametrize("windowed", [False, True])
def test_single_query_split_over_candidates(
    monkeypatch: pytest.MonkeyPatch, n_jobs: int, windowed: bool
):
    """Few query rows: candidate ranges go to the threads; the merged lists are the same."""
    monkeypatch.setattr(_kernels, "_MIN_SPLIT", 4)
    n = 90
    x = make_matrix(71, n, 25, 0.2)
    inverted = _kernels.inverted_index(x)
    tiebreak = ranks(71, n)
    allowed = np.random.default_rng(2).random(n) < 0.8
    for q in (0, 17, 50):
        window = (np.array([10]), np.array([80])) if windowed else None
        inside = allowed.copy()
        if windowed:
            inside[:10] = inside[80:] = False
        for k in (1, 4, n + 5):
            want = reference(x[q], x, k, np.array([q]), tiebreak, inside)
            got = _kernels.topk_block_fast(
                x[q], inverted, k, np.array([q]), tiebreak, allowed, window=window, n_jobs=n_jobs
            )
            assert_same(got, want)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 60),
    density=st.sampled_from([0.0, 0.02, 0.2, 1.0]),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_row_cosines_equals_the_scipy_product_bit_for_bit(seed, n, density, dtype):
    rng = np.random.default_rng(seed)
    X = sp.random(n, 40, density=density, format="csr", dtype=dtype, random_state=seed)
    X.sort_indices()
    others = rng.choice(n, size=int(rng.integers(0, n + 1)), replace=True)
    row = int(rng.integers(n))
    sub = sp.csr_matrix(X[others], dtype=np.float64)
    want = (sub @ sp.csr_matrix(X[[row]], dtype=np.float64).T).toarray().ravel()
    got = _kernels.row_cosines(X, row, others)
    assert np.array_equal(got, want)
    # Symmetric bits: the pair scored from the other side is the same float.
    for b, other in enumerate(others.tolist()):
        assert _kernels.row_cosines(X, other, np.array([row]))[0] == got[b]


def test_row_cosines_leaves_the_shared_accumulator_zeroed():
    """The scatter buffer is reused by the top-k kernels: it must come back all zero."""
    X = sp.csr_matrix(normalize(np.random.default_rng(0).random((8, 30))), dtype=np.float32)
    _kernels.row_cosines(X, 3, np.arange(8))
    acc, _ = _kernels._scratch(30)
    assert not acc.any()


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 60),
    threshold=st.sampled_from([None, 0.0, 0.3, 0.8, 1.0]),
    quota=st.sampled_from([None, 0, 1, 2]),
    n_lists=st.integers(0, 6),
)
def test_greedy_lists_equals_the_python_walk(seed, n, threshold, quota, n_lists):
    """The compiled post-pass chooses what policies.select chooses without diversity,
    including held (pinned) rows, empty pools, exact-copy rows and one-row sections."""
    from relatedness.engine import postpass as policies

    rng = np.random.default_rng(seed)
    x = sp.random(n, 30, density=0.2, format="csr", dtype=np.float32, random_state=seed)
    x = sp.csr_matrix(normalize(x), dtype=np.float32)
    if n > 1:
        x = sp.csr_matrix(sp.vstack([x[:-1], x[[0]]]))  # an exact copy of row 0
    x.sort_indices()
    sections = rng.integers(0, 4, n)
    pools, scores, held, need = [], [], [], []
    for _ in range(n_lists):
        size = int(rng.integers(0, n + 1))
        pools.append(rng.permutation(n)[:size].astype(np.int64))
        scores.append(np.sort(rng.random(size))[::-1])
        held.append(rng.permutation(n)[: int(rng.integers(0, 3))].tolist())
        need.append(int(rng.integers(0, 6)))
    got = _kernels.greedy_lists(
        x, pools, held, need, duplicate_threshold=threshold, max_per_section=quota,
        sections=sections,
    )  # fmt: skip
    for i in range(n_lists):
        want, _ = policies.select(
            pools[i], scores[i], need[i],
            similarity=lambda row, others: _kernels.row_cosines(x, row, others),
            duplicate_threshold=threshold, max_per_section=quota, sections=sections,
            diversity=0.0, held=held[i],
        )  # fmt: skip
        assert pools[i][got[i]].tolist() == want


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_child_forked_after_the_scoring_threads_started_can_score():
    """Regression (precompute backend="fork"): a child forked while the parent's scoring
    thread pool existed submitted its tasks to that pool, whose threads it does not have,
    and waited forever. It must start its own threads and get the parent's results."""
    code = """
import os, sys
import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize
from relatedness.engine import kernels as _kernels
rng = np.random.default_rng(3)
x = sp.random(400, 60, density=0.2, format="csr", random_state=rng, dtype=np.float32)
x = normalize(x).astype(np.float32)
ties = np.arange(400)
want = _kernels.all_pairs_topk(x, 5, ties, n_jobs=2, block_rows=16)  # threads now exist
pid = os.fork()
if pid == 0:
    got = _kernels.all_pairs_topk(x, 5, ties, n_jobs=2, block_rows=16)
    same = all(np.array_equal(a, b) for a, b in zip(got, want))
    os._exit(0 if same else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
