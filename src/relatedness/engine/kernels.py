"""Compiled kernels for exact cosine top-k: inverted-index accumulate, heap top-k, all-pairs.

This is the fast path behind :func:`relatedness.engine.topk.topk_block`, with the same contract, bit
for bit:

- the score of a pair ``(q, j)`` is the float64 sum, over ``q``'s terms in ascending column
  order, of ``float64(X[q, t]) * float64(X[j, t])``. That is exactly the order scipy's sparse
  product adds in, so both paths give the identical float64 for every pair (tests use ``==``).
  Walking the inverted index term by term (``acc[j] += q_t * x_jt``) adds in that order too.
  The kernels are compiled without ``fastmath``: no sum is reassociated and no multiply-add is
  fused (scipy's product does neither), so float64 queries that are not float32 values match
  as well.
- ranking: higher score first; equal scores by smaller ``tiebreak[j]`` (distinct ranks, so the
  order is total and the top-k is unique: it does not depend on the order in which candidates
  are met, which is what makes every block size and thread count give the same answer); only
  scores ``> 0``; never the query's own column; only ``allowed`` candidates; at most ``k``,
  padded with ``-1`` / ``0.0``.

Candidate restriction (how the caller keeps excluded candidates free)
--------------------------------------------------------------------
The kernels score a query against *one inverted index*: the transposed rows of a candidate
set, with candidate *positions* ``0 .. n_c - 1`` as its columns (:func:`inverted_index` builds
one from any subset of rows, in any order). Candidates outside that index cost nothing, so:

- **section**: build one inverted index per section, once (each candidate set of
  :mod:`relatedness.engine.candidates` keeps its own); a same-section query only walks its
  own section's postings;
- **date window**: order a section's candidates by date when building its index; a window is
  then a contiguous range of positions ``[lo, hi)`` (two ``np.searchsorted`` calls on the sorted
  dates) and ``window=(lo, hi)`` makes the kernel binary-search each posting list to that range,
  so postings outside the window are never read (cost: one binary search per query term);
- **exclusion masks** (``allowed``): checked once per *scored* candidate, before the top-k
  heap. A mask is arbitrary, so it cannot skip postings; use an index or a window for the
  large, structured restrictions and the mask for the remaining few.

All-pairs follows the same rule: call :func:`all_pairs_topk` on one section's rows
(``X[group]``, results are positions in ``group``) for work ``sum_s n_s**2``, and pass
``window_end`` for a date window over date-sorted rows (postings past a row's window are never
read).

Parallelism and determinism
---------------------------
Every kernel is compiled with ``nogil=True`` and runs single-threaded; the Python wrappers run
several calls at once on a thread pool (``n_jobs``), handing out blocks of rows dynamically.
Because the tie rule is a total order, the top-k of a row is the same set in the same order
whatever block or thread its pairs were scored in.

All-pairs (:func:`all_pairs_topk`) scores each unordered pair once: ``score(q, j)`` and
``score(j, q)`` are the same float64 (the same products of the shared terms, added in the same
ascending column order), so row ``q`` only walks the postings *after* itself and offers every
pair to both rows' top-k lists. Each worker keeps its own per-row top-k lists; they are merged
at the end (the top-k of a union is in the union of the top-k's).

No pruning (measured, not assumed)
----------------------------------
Exact pruning (AllPairs / L2AP-style bounds, then exact rescoring in the canonical order) was
measured on the calibrated synthetic news corpus (benchmarks/corpus.py, 10k rows, k=10) and
left out: the 10th-best cosine is small there (median 0.068), so bounds hardly bite. Scoring
only the terms outside the 100 most frequent, plus a Cauchy-Schwarz bound on the frequent
part, still costs half the multiply-adds and leaves 3.3% of pairs to rescore at ~|row|
operations each, which is more than brute force; dense columns for frequent terms and
multi-query register blocking also measured slower under numba. What did pay: unsigned loop
indices (no wraparound checks, ~1.5x) and scoring each pair once (2x).

Numba is optional: this module imports without it (``NUMBA_AVAILABLE`` is then ``False``) and
the wrappers raise :class:`ImportError` when called, so the core can fall back to
:func:`relatedness.engine.topk.topk_block`. Nothing is compiled at import; the first call compiles
(about a second per kernel) and ``cache=True`` lets later processes load the machine code.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp

try:  # numba is an optional accelerator; the reference backend works without it.
    import numba
except ImportError:  # pragma: no cover - exercised only where numba is absent
    numba = None  # type: ignore[assignment]

__all__ = [
    "NUMBA_AVAILABLE",
    "all_pairs_topk",
    "greedy_lists",
    "inverted_index",
    "row_cosines",
    "topk_block_fast",
    "topk_inverted",
]

#: Whether the compiled kernels can run (numba importable).
NUMBA_AVAILABLE: bool = numba is not None


def _jit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Compile lazily (on first call, never at import), cached on disk, without the GIL."""
    if numba is None:  # pragma: no cover - the wrappers refuse to run in that case
        return fn
    return numba.njit(cache=True, nogil=True)(fn)


def _require_numba() -> None:
    if not NUMBA_AVAILABLE:
        msg = (
            "the fast kernels need numba (pip install numba); "
            "use relatedness.engine.topk.topk_block instead"
        )
        raise ImportError(msg)


# --- top-k heap -----------------------------------------------------------------------------
# A min-heap of the k best (score, tiebreak) pairs seen so far, "worst" at the root, stored in
# three parallel arrays: scores, candidate columns and their tiebreak ranks (kept next to the
# score so comparisons never chase an index).


@_jit
def _better(s1, t1, s2, t2):
    """Whether (score s1, rank t1) ranks before (s2, t2)."""
    return s1 > s2 or (s1 == s2 and t1 < t2)


@_jit
def _sift_down(hs, hc, ht, size, s, c, t):
    """Put (s, c, t) at the root of a heap of ``size`` entries and restore the heap order."""
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        right = child + 1
        if right < size and _better(hs[child], ht[child], hs[right], ht[right]):
            child = right
        if _better(s, t, hs[child], ht[child]):
            hs[i] = hs[child]
            hc[i] = hc[child]
            ht[i] = ht[child]
            i = child
        else:
            break
    hs[i] = s
    hc[i] = c
    ht[i] = t


@_jit
def _heap_push(hs, hc, ht, size, s, c, t):
    """Offer (s, c, t) to a heap of capacity ``len(hs)`` holding ``size``; return the size."""
    k = hs.shape[0]
    if size < k:
        i = size
        while i > 0:
            parent = (i - 1) >> 1
            if _better(hs[parent], ht[parent], s, t):
                hs[i] = hs[parent]
                hc[i] = hc[parent]
                ht[i] = ht[parent]
                i = parent
            else:
                break
        hs[i] = s
        hc[i] = c
        ht[i] = t
        return size + 1
    if _better(s, t, hs[0], ht[0]):
        _sift_down(hs, hc, ht, k, s, c, t)
    return size


@_jit
def _heap_drain(hs, hc, ht, size, out_c, out_s):
    """Write the heap's entries best first into ``out_c[:size]``, ``out_s[:size]`` (destroys it)."""
    for last in range(size - 1, -1, -1):
        # The root is the worst of the ``last + 1`` left: it goes to the back.
        out_s[last] = hs[0]
        out_c[last] = hc[0]
        _sift_down(hs, hc, ht, last, hs[last], hc[last], ht[last])


@_jit
def _lower_bound(a, lo, hi, value):
    """First position in sorted ``a[lo:hi]`` whose value is >= ``value``."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


# --- block kernel ---------------------------------------------------------------------------


@_jit
def _topk_rows(
    q_indptr,
    q_indices,
    q_data,
    inv_indptr,
    inv_indices,
    inv_data,
    k,
    exclude,
    tiebreak,
    allowed,
    lo,
    hi,
    r0,
    r1,
    out_c,
    out_s,
    acc,
    touched,
):
    """Top-k of query rows ``r0 .. r1 - 1`` into ``out_c``/``out_s`` (pre-filled -1 / 0).

    ``allowed`` and ``lo``/``hi`` may be empty arrays, meaning "no mask" / "no window".
    ``acc`` (float64, all zero) and ``touched`` (int64) are scratch of length >= n; ``acc`` is
    all zero again on return, so a caller can keep both for the next call.
    """
    n = tiebreak.shape[0]
    use_allowed = allowed.shape[0] > 0
    use_window = lo.shape[0] > 0
    hs = np.empty(k, dtype=np.float64)
    hc = np.empty(k, dtype=np.int64)
    ht = np.empty(k, dtype=np.int64)
    longest = 0
    for r in range(r0, r1):
        longest = max(longest, q_indptr[r + 1] - q_indptr[r])
    first = np.empty(longest, dtype=np.int64)
    stop = np.empty(longest, dtype=np.int64)
    one = np.uint64(1)

    for r in range(r0, r1):
        p0 = q_indptr[r]
        nq = q_indptr[r + 1] - p0
        a = 0
        b = n
        if use_window:
            a = max(lo[r], 0)
            b = min(hi[r], n)
        # Posting ranges of the query's terms, clipped to the window; their total length
        # decides between a dense sweep of the accumulator and a list of touched candidates.
        total = 0
        for i in range(nq):
            t = q_indices[p0 + i]
            s0 = inv_indptr[t]
            s1 = inv_indptr[t + 1]
            if use_window:
                s0 = _lower_bound(inv_indices, s0, s1, a)
                s1 = _lower_bound(inv_indices, s0, s1, b)
            first[i] = s0
            stop[i] = s1
            total += s1 - s0
        span = max(b - a, 0)
        dense = 2 * total >= span
        nt = 0
        for i in range(nq):
            v = np.float64(q_data[p0 + i])
            # Unsigned positions and indices: with signed ones numba emits a negative-index
            # wraparound on every access, which costs about a third of this loop.
            pp = np.uint64(first[i])
            end = np.uint64(stop[i])
            if dense:
                while pp < end:
                    acc[np.uint64(inv_indices[pp])] += v * inv_data[pp]
                    pp += one
            else:
                while pp < end:
                    j = np.uint64(inv_indices[pp])
                    # A zero accumulator marks a first touch. A sum that cancels back to zero
                    # can list j twice; the second read then finds 0 and is skipped. The list
                    # cannot overflow: it holds at most ``total < span <= n`` entries.
                    if acc[j] == 0.0:
                        touched[nt] = j
                        nt += 1
                    acc[j] += v * inv_data[pp]
                    pp += one

        ex = exclude[r]
        size = 0
        count = span if dense else nt
        for idx in range(count):
            j = a + idx if dense else touched[idx]
            s = acc[j]
            acc[j] = 0.0
            if s > 0.0 and j != ex and (not use_allowed or allowed[j]):
                tb = tiebreak[j]
                # The heap's root test, written out: a call here would not be inlined.
                if size < k or s > hs[0] or (s == hs[0] and tb < ht[0]):
                    size = _heap_push(hs, hc, ht, size, s, j, tb)
        _heap_drain(hs, hc, ht, size, out_c[r], out_s[r])


@_jit
def topk_inverted(
    q_indptr,
    q_indices,
    q_data,
    inv_indptr,
    inv_indices,
    inv_data,
    k,
    exclude,
    tiebreak,
    allowed,
):
    """Exact top-``k`` of each query row against an inverted index (compiled; no validation).

    Parameters
    ----------
    q_indptr, q_indices, q_data : ndarray
        CSR arrays of the ``m`` query rows, column indices sorted within each row.
    inv_indptr, inv_indices, inv_data : ndarray
        CSR arrays of the inverted index (``n_terms x n`` candidates, postings sorted).
    k : int
        Output width, ``1 <= k``; callers clip it to ``n``.
    exclude : ndarray of shape (m,), int64
        Candidate column to leave out per query, or -1.
    tiebreak : ndarray of shape (n,), int64
        Distinct ranks, smaller wins ties.
    allowed : ndarray of shape (n,) or (0,), bool
        Candidates that may be returned; an empty array allows all.

    Returns
    -------
    columns : ndarray of shape (m, k), int64
        Best first, padded with -1.
    scores : ndarray of shape (m, k), float64
        Padded with 0.0.
    """
    m = q_indptr.shape[0] - 1
    out_c = np.full((m, k), -1, dtype=np.int64)
    out_s = np.zeros((m, k), dtype=np.float64)
    none = np.empty(0, dtype=np.int64)
    n = tiebreak.shape[0]
    _topk_rows(
        q_indptr, q_indices, q_data, inv_indptr, inv_indices, inv_data,
        k, exclude, tiebreak, allowed, none, none, 0, m, out_c, out_s,
        np.zeros(n, dtype=np.float64), np.empty(n, dtype=np.int64),
    )  # fmt: skip
    return out_c, out_s


# --- all-pairs kernels ----------------------------------------------------------------------


@_jit
def _transpose(indptr, indices, data, n_terms):
    """Inverted index (indptr, row ids as int32, values) of a CSR matrix.

    Rows are visited in order, so every posting list comes out sorted by row.
    """
    n = indptr.shape[0] - 1
    nnz = indptr[n]
    inv_indptr = np.zeros(n_terms + 1, dtype=np.int64)
    for p in range(nnz):
        inv_indptr[indices[p] + 1] += 1
    for t in range(n_terms):
        inv_indptr[t + 1] += inv_indptr[t]
    fill = inv_indptr[:-1].copy()
    inv_indices = np.empty(nnz, dtype=np.int32)
    inv_data = np.empty(nnz, dtype=data.dtype)
    for r in range(n):
        for p in range(indptr[r], indptr[r + 1]):
            t = indices[p]
            d = fill[t]
            fill[t] = d + 1
            inv_indices[d] = r
            inv_data[d] = data[p]
    return inv_indptr, inv_indices, inv_data


@_jit
def _offer(hs, hc, ht, size, thr_s, thr_t, row, s, c, t):
    """Add candidate ``c`` (score s, rank t), known to beat the threshold, to row ``row``."""
    k = hs.shape[1]
    n_in = _heap_push(hs[row], hc[row], ht[row], size[row], s, c, t)
    size[row] = n_in
    if n_in == k:
        thr_s[row] = hs[row, 0]
        thr_t[row] = ht[row, 0]


@_jit
def _pairs_rows(
    indptr,
    indices,
    data,
    inv_indptr,
    inv_indices,
    inv_data,
    tiebreak,
    allowed,
    window_end,
    slot,
    dense_rows,
    r0,
    r1,
    acc,
    touched,
    start,
    stop,
    hs,
    hc,
    ht,
    size,
    thr_s,
    thr_t,
):
    """Score rows ``r0 .. r1 - 1`` against the later rows of their window; offer each pair
    to both rows. ``window_end`` (empty: ``n`` for every row) ends each row's window.

    ``slot[t] >= 0`` (``slot`` may be empty) marks a frequent term whose values are also
    stored densely in ``dense_rows[slot[t]]``: in a dense sweep its contribution is added to
    the whole window as one contiguous multiply-add (vectorised), instead of a scatter of its
    postings. Zeros add exact zeros and the terms still come in column order, so every score
    is the same sum, bit for bit."""
    n = acc.shape[0]
    use_window = window_end.shape[0] > 0
    use_slots = slot.shape[0] > 0
    one = np.uint64(1)
    for q in range(r0, r1):
        p0 = indptr[q]
        p1 = indptr[q + 1]
        hi = min(window_end[q], n) if use_window else n
        total = 0
        for p in range(p0, p1):
            t = indices[p]
            # Postings are sorted by row: they start just after q's own posting. A binary
            # search rather than a stored position per entry: O(log df) per term is nothing
            # next to walking the list, and it saves an int64 per stored entry.
            first = _lower_bound(inv_indices, inv_indptr[t], inv_indptr[t + 1], q + 1)
            last = inv_indptr[t + 1]
            if use_window:
                last = _lower_bound(inv_indices, first, last, hi)
            start[p - p0] = first
            stop[p - p0] = last
            total += last - first
        span = max(hi - q - 1, 0)
        dense = 2 * total >= span
        nt = 0
        for p in range(p0, p1):
            v = np.float64(data[p])
            pp = np.uint64(start[p - p0])
            end = np.uint64(stop[p - p0])
            if dense and use_slots and slot[indices[p]] >= 0:
                # Views starting at 0: a loop over them vectorises, one over acc[q + 1 + i]
                # with a signed index does not (about 5x slower).
                x = acc[q + 1 : q + 1 + span]
                y = dense_rows[slot[indices[p]], q + 1 : q + 1 + span]
                for i in range(span):
                    x[i] += v * y[i]
            elif dense:
                while pp < end:
                    acc[np.uint64(inv_indices[pp])] += v * inv_data[pp]
                    pp += one
            else:
                while pp < end:
                    j = np.uint64(inv_indices[pp])
                    if acc[j] == 0.0:
                        touched[nt] = j
                        nt += 1
                    acc[j] += v * inv_data[pp]
                    pp += one
        q_ok = allowed[q]
        tq = tiebreak[q]
        count = span if dense else nt
        for idx in range(count):
            j = q + 1 + idx if dense else touched[idx]
            s = acc[j]
            acc[j] = 0.0
            if s > 0.0:
                # thr_* holds the root of each full heap (-1 while not full, below any positive
                # score): compact arrays that stay in cache, so rejected offers (nearly all)
                # never touch the heaps. Written out here because a call is not inlined.
                if allowed[j]:
                    tj = tiebreak[j]
                    if s > thr_s[q] or (s == thr_s[q] and tj < thr_t[q]):
                        _offer(hs, hc, ht, size, thr_s, thr_t, q, s, j, tj)
                if q_ok and (s > thr_s[j] or (s == thr_s[j] and tq < thr_t[j])):
                    _offer(hs, hc, ht, size, thr_s, thr_t, j, s, q, tq)


@_jit
def _merge_lists(hs_all, hc_all, ht_all, size_all, out_c, out_s):
    """Merge the workers' per-row top-k lists into the final ranked rows."""
    n_workers = hs_all.shape[0]
    n = hs_all.shape[1]
    k = hs_all.shape[2]
    hs = np.empty(k, dtype=np.float64)
    hc = np.empty(k, dtype=np.int64)
    ht = np.empty(k, dtype=np.int64)
    for r in range(n):
        size = 0
        for w in range(n_workers):
            for i in range(size_all[w, r]):
                size = _heap_push(hs, hc, ht, size, hs_all[w, r, i], hc_all[w, r, i],
                                  ht_all[w, r, i])  # fmt: skip
        _heap_drain(hs, hc, ht, size, out_c[r], out_s[r])


@_jit
def _merge_parts(part_c, part_s, tiebreak, out_c, out_s):
    """Merge per-candidate-range top-k lists (padded with -1) into the final ranked rows."""
    n_parts, m, k = part_c.shape
    hs = np.empty(k, dtype=np.float64)
    hc = np.empty(k, dtype=np.int64)
    ht = np.empty(k, dtype=np.int64)
    for r in range(m):
        size = 0
        for i in range(n_parts):
            for j in range(k):
                c = part_c[i, r, j]
                if c < 0:
                    break
                size = _heap_push(hs, hc, ht, size, part_s[i, r, j], c, tiebreak[c])
        _heap_drain(hs, hc, ht, size, out_c[r], out_s[r])


@_jit
def _row_cosines(indptr, indices, data, row, others, acc, out):
    # ``row`` is scattered into the zeroed accumulator, then each other row reads it walking
    # its own terms in ascending column order: the products of the shared terms are added in
    # the order of scipy's product and of every other scorer here (a term missing from
    # ``row`` adds an exact 0.0), so the same pair gets the same bits whichever side scatters.
    sa, ea = indptr[row], indptr[row + 1]
    for i in range(sa, ea):
        acc[indices[i]] = np.float64(data[i])
    for b in range(others.shape[0]):
        total = 0.0
        for j in range(indptr[others[b]], indptr[others[b] + 1]):
            total += acc[indices[j]] * np.float64(data[j])
        out[b] = total
    for i in range(sa, ea):
        acc[indices[i]] = 0.0


@_jit
def _greedy_lists(
    indptr, indices, data, pool_rows, pool_ptr, held_rows, held_ptr, need, threshold,
    max_per_section, sections, per_section, acc, out_pos, out_count,
):  # fmt: skip
    """The greedy pass of ``postpass.select`` without diversity, for many lists at once.

    List ``i`` walks its pool ``pool_rows[pool_ptr[i]:pool_ptr[i + 1]]`` best first after its
    held rows, skipping a row whose section already has ``max_per_section`` rows (``< 0``:
    no quota) or whose cosine with a row already in the list is ``>= threshold`` (NaN: no
    duplicate rule), until ``need[i]`` rows are chosen. The cosines are ``_row_cosines``'s.
    Chosen pool positions go to ``out_pos[pool_ptr[i]:]``, their count to
    ``out_count[i]``. ``per_section`` is zeroed scratch of one counter per section.
    """
    check = not np.isnan(threshold)
    quota = max_per_section >= 0
    longest = 0
    for i in range(need.shape[0]):
        longest = max(longest, held_ptr[i + 1] - held_ptr[i] + need[i])
    in_list = np.empty(longest, dtype=np.int64)
    cosines = np.empty(longest, dtype=np.float64)
    for i in range(need.shape[0]):
        size = 0
        for h in range(held_ptr[i], held_ptr[i + 1]):
            in_list[size] = held_rows[h]
            size += 1
            if quota:
                per_section[sections[held_rows[h]]] += 1
        count = 0
        for p in range(pool_ptr[i], pool_ptr[i + 1]):
            if count >= need[i]:
                break
            row = pool_rows[p]
            if quota and per_section[sections[row]] >= max_per_section:
                continue
            if check and size > 0:
                _row_cosines(indptr, indices, data, row, in_list[:size], acc, cosines[:size])
                if cosines[:size].max() >= threshold:
                    continue
            in_list[size] = row
            size += 1
            if quota:
                per_section[sections[row]] += 1
            out_pos[pool_ptr[i] + count] = p - pool_ptr[i]
            count += 1
        out_count[i] = count
        if quota:
            for c in range(size):
                per_section[sections[in_list[c]]] = 0


# --- Python wrappers ------------------------------------------------------------------------


def _csr_arrays(matrix: Any, data_dtype: Any = None) -> tuple[np.ndarray, ...]:
    """indptr, indices and data of ``matrix`` as canonical CSR, without copying when it is.

    Index arrays keep their dtype (int32 or int64: the kernels compile for either), so an
    inverted index is never copied per call. The canonical-format check is cached by scipy on
    the matrix object, so repeated calls with the same index pay it once.
    """
    csr = matrix if sp.issparse(matrix) and matrix.format == "csr" else sp.csr_matrix(matrix)
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()  # sorts the indices too: the score order depends on it
    data = csr.data
    if data_dtype is not None:
        data = data.astype(data_dtype, copy=False)
    elif data.dtype not in (np.float32, np.float64):
        data = data.astype(np.float64)
    return csr.indptr, csr.indices, np.ascontiguousarray(data)


#: Fewest candidates per thread worth splitting a single query's candidates over threads.
_MIN_SPLIT = 16384

_SCRATCH = threading.local()


def _scratch(n: int) -> tuple[np.ndarray, np.ndarray]:
    """This thread's accumulator (all zero) and touched list, of length >= ``n``.

    Kept between calls: a single query against a large index would otherwise spend a good
    part of its time allocating and page-faulting a fresh ``8 n``-byte accumulator.
    """
    acc = getattr(_SCRATCH, "acc", None)
    if acc is None or acc.shape[0] < n:
        _SCRATCH.acc = acc = np.zeros(n, dtype=np.float64)
        _SCRATCH.touched = np.empty(n, dtype=np.int64)
    return acc, _SCRATCH.touched


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _forget_pools() -> None:
    """In a forked child: drop the parent's thread pools, whose threads it does not have.

    A task submitted to one of them would wait forever; the child starts its own on first
    use. (Batch precompute forks workers after scoring in threads, ``backend="fork"``.)
    """
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_pools)


def _pool(n_jobs: int) -> ThreadPoolExecutor:
    """A persistent pool of ``n_jobs`` threads (starting threads per call would cost more
    than a whole single-query search). Its tasks never wait on other tasks: no deadlock."""
    with _POOLS_LOCK:
        pool = _POOLS.get(n_jobs)
        if pool is None:
            pool = ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="relatedness")
            _POOLS[n_jobs] = pool
    return pool


def _run_parallel(tasks: Sequence[Callable[[], None]], n_jobs: int) -> None:
    """Run the (nogil) tasks on ``n_jobs`` threads, or inline when that is 1."""
    if n_jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            task()
        return
    futures = [_pool(n_jobs).submit(task) for task in tasks]
    for future in futures:
        future.result()  # re-raises a task's exception here


def row_cosines(matrix: sp.csr_matrix, row: int, others: np.ndarray) -> np.ndarray:
    """Dot products of row ``row`` of a canonical CSR ``matrix`` with the rows ``others``.

    Bit-identical to ``(X[others] @ X[[row]].T)`` in float64, without scipy's per-call
    overhead (choosing a related list compares each candidate with the stories already in it).
    """
    _require_numba()
    indptr, indices, data = _csr_arrays(matrix)
    others = np.ascontiguousarray(others, dtype=np.int64)
    out = np.empty(len(others), dtype=np.float64)
    acc, _ = _scratch(matrix.shape[1])
    _row_cosines(indptr, indices, data, int(row), others, acc, out)
    return out


def greedy_lists(
    matrix: sp.csr_matrix,
    pools: Sequence[np.ndarray],
    held: Sequence[Sequence[int]],
    need: Sequence[int],
    *,
    duplicate_threshold: float | None,
    max_per_section: int | None,
    sections: np.ndarray,
) -> list[np.ndarray]:
    """Per list, the pool positions ``postpass.select`` chooses when ``diversity == 0``.

    One compiled call for a whole batch of lists (the Python walk asks for a few cosines per
    list, each call costing more than its arithmetic). Same rules, same order, same bits.
    """
    _require_numba()
    indptr, indices, data = _csr_arrays(matrix)
    m = len(pools)
    pool_ptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum([len(p) for p in pools], out=pool_ptr[1:])
    held_ptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum([len(h) for h in held], out=held_ptr[1:])
    pool_rows = np.concatenate([*pools, np.empty(0, np.int64)]).astype(np.int64)
    held_rows = np.array([r for h in held for r in h], dtype=np.int64)
    sections = np.ascontiguousarray(sections, dtype=np.int64)
    out_pos = np.empty(len(pool_rows), dtype=np.int64)
    out_count = np.zeros(m, dtype=np.int64)
    acc, _ = _scratch(matrix.shape[1])
    _greedy_lists(
        indptr, indices, data, pool_rows, pool_ptr, held_rows, held_ptr,
        np.asarray(need, dtype=np.int64),
        np.nan if duplicate_threshold is None else float(duplicate_threshold),
        -1 if max_per_section is None else int(max_per_section),
        sections, np.zeros(int(sections.max(initial=0)) + 1, dtype=np.int64),
        acc, out_pos, out_count,
    )  # fmt: skip
    return [out_pos[pool_ptr[i] : pool_ptr[i] + out_count[i]] for i in range(m)]


def inverted_index(
    matrix: sp.spmatrix | sp.sparray, rows: np.ndarray | None = None
) -> sp.csr_matrix:
    """Inverted index (transposed rows, float32 CSR with sorted postings) of a candidate set.

    Parameters
    ----------
    matrix : sparse matrix of shape (n, n_terms)
        The normalised rows.
    rows : ndarray of int, optional
        Rows forming the candidate set, in the order that defines candidate positions (e.g. a
        section's rows sorted by date, so date windows become position ranges). ``None``: all.

    Returns
    -------
    csr_matrix of shape (n_terms, len(rows)), float32
        float32 holds the contract's float32 rows exactly (and halves the memory traffic of
        the kernels); for float64 rows that are not float32 values, build the transpose in
        float64 instead: the kernels accept it and then match the float64 reference.
    """
    csr = sp.csr_matrix(matrix)
    if rows is not None:
        csr = csr[np.asarray(rows, dtype=np.int64)]
    inverted = sp.csr_matrix(csr.T, dtype=np.float32)
    inverted.sum_duplicates()
    return inverted


def topk_block_fast(
    queries: sp.spmatrix | sp.sparray,
    inverted: sp.spmatrix | sp.sparray,
    k: int,
    exclude: np.ndarray,
    tiebreak: np.ndarray,
    allowed: np.ndarray | None = None,
    *,
    window: tuple[np.ndarray, np.ndarray] | None = None,
    n_jobs: int = 1,
    block_rows: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` candidates for each query row; same contract as ``engine.topk.topk_block``.

    Parameters
    ----------
    queries : sparse matrix of shape (m, n_terms), float32 or float64
        Normalised query rows.
    inverted : sparse matrix of shape (n_terms, n), float32
        The candidates' rows, transposed (see :func:`inverted_index`).
    k : int
        At least 1.
    exclude : ndarray of shape (m,), int
        Candidate column to leave out for each query (its own row), or -1.
    tiebreak : ndarray of shape (n,), int
        Distinct ranks, smaller wins ties.
    allowed : ndarray of shape (n,), bool, optional
        Candidates that may be returned; ``None`` allows all.
    window : (ndarray, ndarray), optional
        Per query, the candidate positions ``[lo, hi)`` it may see (e.g. a date window over a
        date-ordered index). Postings outside are skipped by binary search, never scored.
    n_jobs : int, default 1
        Threads. Blocks of query rows go to them; with fewer query rows than threads (a
        single-article query) each thread takes a range of candidate positions instead.
    block_rows : int, default 64
        Query rows per block handed to a thread (does not change the result).

    Returns
    -------
    columns : ndarray of shape (m, min(k, n)), int64
        Candidate columns, best first, padded with -1.
    scores : ndarray of shape (m, min(k, n)), float64
        Their scores, padded with 0.
    """
    _require_numba()
    m = queries.shape[0]
    n = inverted.shape[1]
    k = max(1, min(int(k), n))
    columns = np.full((m, k), -1, dtype=np.int64)
    scores = np.zeros((m, k), dtype=np.float64)
    if m == 0 or n == 0:
        return columns, scores
    q_indptr, q_indices, q_data = _csr_arrays(queries, np.float64)
    inv_indptr, inv_indices, inv_data = _csr_arrays(inverted)
    exclude = np.ascontiguousarray(exclude, dtype=np.int64)
    tiebreak = np.ascontiguousarray(tiebreak, dtype=np.int64)
    mask = np.empty(0, np.bool_) if allowed is None else np.ascontiguousarray(allowed, np.bool_)
    if window is None:
        lo = hi = np.empty(0, dtype=np.int64)
    else:
        lo = np.ascontiguousarray(window[0], dtype=np.int64)
        hi = np.ascontiguousarray(window[1], dtype=np.int64)

    # Few query rows and many candidates (single-article queries): split the candidates into
    # one position range per thread instead, and merge the per-range top-k lists. The top-k
    # of a union is in the union of the top-k's, and each pair is still scored the same way.
    n_parts = min(n_jobs, n // _MIN_SPLIT) if m < n_jobs else 1
    if n_parts > 1:
        bounds = np.linspace(0, n, n_parts + 1).astype(np.int64)
        part_c = np.full((n_parts, m, k), -1, dtype=np.int64)
        part_s = np.zeros((n_parts, m, k), dtype=np.float64)
        base_lo = np.zeros(m, np.int64) if window is None else lo
        base_hi = np.full(m, n, np.int64) if window is None else hi

        def part(i: int) -> None:
            acc, touched = _scratch(n)
            _topk_rows(
                q_indptr, q_indices, q_data, inv_indptr, inv_indices, inv_data, k, exclude,
                tiebreak, mask, np.maximum(base_lo, bounds[i]), np.minimum(base_hi, bounds[i + 1]),
                0, m, part_c[i], part_s[i], acc, touched,
            )  # fmt: skip

        _run_parallel([functools.partial(part, i) for i in range(n_parts)], n_jobs)
        _merge_parts(part_c, part_s, tiebreak, columns, scores)
        return columns, scores

    def rows(start: int, stop: int) -> None:
        acc, touched = _scratch(n)
        _topk_rows(
            q_indptr, q_indices, q_data, inv_indptr, inv_indices, inv_data,
            k, exclude, tiebreak, mask, lo, hi, start, stop, columns, scores, acc, touched,
        )  # fmt: skip

    step = max(1, int(block_rows))
    tasks = [functools.partial(rows, a, min(a + step, m)) for a in range(0, m, step)]
    _run_parallel(tasks, n_jobs)
    return columns, scores


#: A term in at least this share of the rows is also stored densely for the all-pairs sweep:
#: a contiguous multiply-add runs ~4x faster per element than a scatter per posting here, so
#: it pays from ~1/4 of the window; the margin keeps the dense copy small.
DENSE_TERM_SHARE = 0.3

#: Fewest rows for which a dense copy of the frequent terms is worth building.
DENSE_MIN_ROWS = 2048


@_jit
def _fill_dense(inv_indptr, inv_indices, inv_data, terms, out):
    for s in range(terms.shape[0]):
        t = terms[s]
        for pp in range(inv_indptr[t], inv_indptr[t + 1]):
            out[s, inv_indices[pp]] = inv_data[pp]


def _dense_terms(
    inv_indptr: np.ndarray,
    inv_indices: np.ndarray,
    inv_data: np.ndarray,
    n: int,
    share: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(slot, dense_rows)``: the terms in ``share`` of the rows or more, stored densely.

    ``share=None``: :data:`DENSE_TERM_SHARE`, from :data:`DENSE_MIN_ROWS` rows. Empty arrays
    when no term qualifies.
    """
    df = np.diff(inv_indptr)
    if share is None:
        share = DENSE_TERM_SHARE if n >= DENSE_MIN_ROWS else np.inf
    terms = np.flatnonzero(df >= share * n)
    if not len(terms):
        return np.empty(0, np.int64), np.empty((0, 0), inv_data.dtype)
    slot = np.full(len(df), -1, dtype=np.int64)
    slot[terms] = np.arange(len(terms))
    dense_rows = np.zeros((len(terms), n), dtype=inv_data.dtype)
    _fill_dense(inv_indptr, inv_indices, inv_data, terms.astype(np.int64), dense_rows)
    return slot, dense_rows


def all_pairs_topk(
    X_csr: sp.spmatrix | sp.sparray,  # noqa: N803 - the conventional name of the data matrix
    k: int,
    tiebreak: np.ndarray,
    allowed: np.ndarray | None = None,
    n_jobs: int = 2,
    block_rows: int = 256,
    *,
    window_end: np.ndarray | None = None,
    dense_share: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` of every row against all rows (itself excluded), each pair scored once.

    Parameters
    ----------
    X_csr : sparse matrix of shape (n, n_terms), float32
        L2-normalised rows (all-zero rows allowed: they match nothing).
    k : int
        At least 1.
    tiebreak : ndarray of shape (n,), int
        Distinct ranks, smaller wins ties.
    allowed : ndarray of shape (n,), bool, optional
        Rows that may be returned; ``None`` allows all.
    n_jobs : int, default 2
        Threads; each keeps its own per-row top-k lists (``n * k * 24`` bytes), merged at the
        end.
    block_rows : int, default 256
        Rows per block handed to a thread (does not change the result).
    window_end : ndarray of shape (n,), int, optional
        Row ``q`` is only paired with rows ``j`` in ``q < j < window_end[q]``; postings past
        the end are never read, so the work is that of the pairs inside the windows. The
        relation must be symmetric, since each pair is scored once for both rows: for a date
        window ``|date_q - date_j| <= w`` over rows sorted by date, use
        ``np.searchsorted(dates, dates + w, side="right")``. ``None``: all rows.
    dense_share : float, optional
        Terms in at least this share of the rows are also stored densely (``4 n`` bytes
        each) and added to a row's whole window in one vectorised sweep instead of posting by
        posting; scores are the same bits either way. ``None``: :data:`DENSE_TERM_SHARE`
        from :data:`DENSE_MIN_ROWS` rows, none below; ``inf``: never.

    Returns
    -------
    columns : ndarray of shape (n, min(k, n)), int64
        Best first, padded with -1.
    scores : ndarray of shape (n, min(k, n)), float64
        Padded with 0.
    """
    _require_numba()
    n, n_terms = X_csr.shape
    k = max(1, min(int(k), n))
    if n == 0:
        return np.full((0, k), -1, dtype=np.int64), np.zeros((0, k), dtype=np.float64)
    indptr, indices, data = _csr_arrays(X_csr)
    inv_indptr, inv_indices, inv_data = _transpose(indptr, indices, data, n_terms)
    longest = int(np.diff(indptr).max())
    tiebreak = np.ascontiguousarray(tiebreak, dtype=np.int64)
    mask = np.ones(n, np.bool_) if allowed is None else np.ascontiguousarray(allowed, np.bool_)
    ends = (
        np.empty(0, np.int64) if window_end is None else np.ascontiguousarray(window_end, np.int64)
    )

    slot, dense_rows = _dense_terms(inv_indptr, inv_indices, inv_data, n, dense_share)

    n_workers = max(1, int(n_jobs))
    hs = np.empty((n_workers, n, k), dtype=np.float64)
    hc = np.empty((n_workers, n, k), dtype=np.int64)
    ht = np.empty((n_workers, n, k), dtype=np.int64)
    size = np.zeros((n_workers, n), dtype=np.int64)
    thr_s = np.full((n_workers, n), -1.0)
    thr_t = np.zeros((n_workers, n), dtype=np.int64)
    blocks = itertools.count()
    block_rows = max(1, int(block_rows))
    n_blocks = -(-n // block_rows)

    def worker(w: int) -> None:
        acc = np.zeros(n, dtype=np.float64)
        touched = np.empty(n, dtype=np.int64)
        start = np.empty(longest, dtype=np.int64)
        stop = np.empty(longest, dtype=np.int64)
        while True:
            # next() on itertools.count is atomic under the GIL: blocks go to whichever thread
            # is free (rows near the end walk shorter posting tails, so work is uneven).
            b = next(blocks)
            if b >= n_blocks:
                return
            r0 = b * block_rows
            _pairs_rows(
                indptr, indices, data, inv_indptr, inv_indices, inv_data, tiebreak, mask, ends,
                slot, dense_rows, r0, min(r0 + block_rows, n), acc, touched, start, stop,
                hs[w], hc[w], ht[w], size[w], thr_s[w], thr_t[w],
            )  # fmt: skip

    _run_parallel([functools.partial(worker, w) for w in range(n_workers)], n_workers)
    columns = np.full((n, k), -1, dtype=np.int64)
    scores = np.zeros((n, k), dtype=np.float64)
    _merge_lists(hs, hc, ht, size, columns, scores)
    return columns, scores
