"""The exact similarity index: normalised rows grouped by section, queried in memory-bounded blocks.

``SimilarityIndex`` owns the state (rows, section codes, tie-break ranks, publication times,
tags) and organises the candidates by section, so a ``section_policy="same"`` query only ever
touches the rows of its own section: the work is the sum of the squared section sizes, not the
square of the archive. The arithmetic lives in :mod:`relatedness._topk`.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import scipy.sparse as sp

from ._topk import BlockRules, block_rows_for, outside_window, topk_block

__all__ = [
    "SECTION_POLICIES",
    "QueryRules",
    "SimilarityIndex",
    "rocchio",
    "take_rows",
    "tiebreak_ranks",
]

SectionPolicy = Literal["same", "any", "prefer"]
SECTION_POLICIES: tuple[str, ...] = ("same", "any", "prefer")

Result = tuple[np.ndarray, np.ndarray]

#: Days a time window's position range reaches past the window, so that rounding never
#: drops a candidate the exact rule keeps (that rule is applied to the ranked pool after).
WINDOW_SLACK = 1e-6


@dataclass(frozen=True)
class QueryRules:
    """Query-side rules for one batch (see :class:`relatedness._topk.BlockRules`)."""

    times: np.ndarray | None = None  # (m,) float days, NaN undated
    max_age: np.ndarray | None = None  # (m,) days, inf = none
    half_life: np.ndarray | None = None  # (m,) days, inf = none
    allow_newer: bool = True
    tags: sp.csr_matrix | None = None  # (m, n_tags)
    tag_weight: float = 0.0
    duplicate_threshold: float | None = None
    # Per query: extra index rows never to return (blocked pairs, already chosen items).
    exclude_rows: Sequence[np.ndarray] | None = None

    def take(self, which: np.ndarray) -> QueryRules:
        """The rules of the queries ``which``."""

        def cut(a):
            return None if a is None else a[which]

        excl = None if self.exclude_rows is None else [self.exclude_rows[i] for i in which]
        return replace(
            self,
            times=cut(self.times),
            max_age=cut(self.max_age),
            half_life=cut(self.half_life),
            tags=cut(self.tags),
            exclude_rows=excl,
        )


def take_rows(matrix: sp.csr_matrix, which: np.ndarray) -> sp.csr_matrix:
    """``matrix[which]``, or ``matrix`` itself when ``which`` is every row in order.

    Slicing a sparse matrix costs ~0.1 ms of scipy overhead even for one row; a single
    query passes through several such steps, all of which keep every row.
    """
    m = matrix.shape[0]
    whole = len(which) == m and (m == 0 or (which[0] == 0 and which[-1] == m - 1))
    if whole and (m < 2 or bool(np.all(np.diff(which) == 1))):
        return matrix
    if len(which) == 1 and -m <= int(which[0]) < m:
        # One row (a single query): its slice of the arrays, copied, without fancy indexing's
        # checks (~0.15 ms of a ~1 ms related()).
        row = int(which[0]) % m
        start, stop = matrix.indptr[row], matrix.indptr[row + 1]
        indptr = np.array([0, stop - start], dtype=matrix.indptr.dtype)
        return sp.csr_matrix(
            (matrix.data[start:stop].copy(), matrix.indices[start:stop].copy(), indptr),
            shape=(1, matrix.shape[1]),
        )
    return matrix[which]


def rocchio(
    raw: sp.csr_matrix, neighbours: sp.csr_matrix, counts: np.ndarray, weight: float
) -> sp.csr_matrix:
    """``raw[i] + weight * mean(its neighbours)`` per row, L2-normalised, as float32 rows.

    ``neighbours`` holds every query's neighbour rows one after the other, in rank order;
    ``counts[i]`` of them belong to query ``i``. The arithmetic is float64 in a fixed order,
    so a query gets the same bits whatever batch it is in: per column the neighbour terms
    ``(weight / count) * x`` are added in rank order, the raw value is added to that sum,
    the norm is numpy's sum of the squares in column order, and each value is multiplied
    by ``1 / norm`` then rounded to the neighbours' dtype (values that round to zero are
    dropped). These are the operations, in order, of the scipy expression
    ``raw + A @ neighbours`` followed by a row normalisation (tested bit for bit), without
    scipy's per-call costs or its vocabulary-sized scratch (milliseconds per query on a
    large vocabulary).
    """
    m, n_cols = raw.shape
    raw = raw if raw.has_canonical_format else sp.csr_matrix(raw, copy=True)
    raw.sum_duplicates()
    width = np.int64(max(n_cols, 1))
    # Every neighbour entry, keyed by (query, column); a stable sort keeps rank order.
    owner = np.repeat(np.arange(m, dtype=np.int64), counts)
    per_row = np.diff(neighbours.indptr)
    entry_owner = np.repeat(owner, per_row)
    scale = np.repeat(weight / np.maximum(counts, 1).astype(np.float64), counts)
    products = np.repeat(scale, per_row) * neighbours.data.astype(np.float64)
    keys = entry_owner * width + neighbours.indices
    order = np.argsort(keys, kind="stable")
    keys, products = keys[order], products[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else keys
    sizes = np.diff(np.r_[starts, len(keys)])
    mean_keys = keys[starts]
    mean = products[starts].copy()  # 0 + p1 is p1
    for level in range(1, int(sizes.max(initial=1))):
        deeper = sizes > level
        mean[deeper] += products[starts[deeper] + level]
    # raw + mean over the union of their entries (a missing side adds an exact zero).
    raw_rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(raw.indptr))
    raw_keys = raw_rows * width + raw.indices
    union = np.concatenate([raw_keys, mean_keys])
    union.sort()
    union = union[np.concatenate([union[:1] == union[:1], union[1:] != union[:-1]])]
    from_raw = np.zeros(len(union))
    from_raw[np.searchsorted(union, raw_keys)] = raw.data
    from_mean = np.zeros(len(union))
    from_mean[np.searchsorted(union, mean_keys)] = mean
    values = from_raw + from_mean
    rows = union // width
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    # The row norms as scipy's .sum(axis=1) takes them: np.add.reduceat per non-empty row.
    norms = np.zeros(m)
    filled = np.flatnonzero(np.diff(indptr))
    if len(filled):
        norms[filled] = np.add.reduceat(values * values, indptr[filled])
    norms = np.sqrt(norms)
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    out = sp.csr_matrix(
        (
            (np.repeat(inverse, np.diff(indptr)) * values).astype(neighbours.dtype),
            union % width,
            indptr,
        ),
        shape=(m, n_cols),
    )
    out.eliminate_zeros()
    return out


def tiebreak_ranks(ids: Sequence[object], published: np.ndarray) -> np.ndarray:
    """Rank articles for breaking score ties: newer first, undated last, then by id.

    Parameters
    ----------
    ids : sequence of str or int
        All of one type, so they sort.
    published : ndarray of datetime64[s]
        ``NaT`` for undated articles.

    Returns
    -------
    ndarray of int64
        ``rank[i]`` is article ``i``'s place in that order (0 = wins every tie).
    """
    n = len(ids)
    id_order = sorted(range(n), key=ids.__getitem__)  # type: ignore[arg-type]
    id_rank = np.empty(n, dtype=np.int64)
    id_rank[id_order] = np.arange(n)
    seconds = published.astype("datetime64[s]").astype(np.int64)
    undated = np.isnat(published)
    # lexsort: last key is primary. Dated before undated, newer before older, then id.
    order = np.lexsort((id_rank, -np.where(undated, 0, seconds), undated))
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = np.arange(n)
    return ranks


class SimilarityIndex:
    """Exact cosine top-k over L2-normalised rows, with section-restricted candidates.

    Parameters
    ----------
    matrix : csr_matrix of shape (n, n_terms)
        L2-normalised rows (all-zero rows allowed: they match nothing).
    section_codes : ndarray of shape (n,), int
        Section of each row, ``0 .. n_sections - 1``.
    tiebreak : ndarray of shape (n,), int64
        Distinct ranks, smaller wins ties (see :func:`tiebreak_ranks`).
    working_memory : float, default 256
        MiB a dense score block may use.
    times : ndarray of shape (n,), float, optional
        Publication times in days, NaN when undated (for windows and decay).
    tags : csr_matrix of shape (n, n_tags), optional
        L2-normalised tag indicator rows (for the tag bonus).
    """

    def __init__(
        self,
        matrix: sp.csr_matrix,
        section_codes: np.ndarray,
        tiebreak: np.ndarray,
        working_memory: float = 256,
        times: np.ndarray | None = None,
        tags: sp.csr_matrix | None = None,
    ) -> None:
        self.matrix = matrix
        self.section_codes = np.asarray(section_codes, dtype=np.int64)
        self.tiebreak = np.asarray(tiebreak, dtype=np.int64)
        self.working_memory = working_memory
        n = len(self.section_codes)
        self.times: np.ndarray = np.full(n, np.nan) if times is None else np.asarray(times, float)
        self.tags = tags
        n_sections = int(self.section_codes.max()) + 1 if len(self.section_codes) else 0
        order = np.argsort(self.section_codes, kind="stable")
        bounds = np.searchsorted(self.section_codes[order], np.arange(n_sections + 1))
        self.groups = [order[bounds[s] : bounds[s + 1]] for s in range(n_sections)]
        # Where each row sits inside its own section group (for excluding it by position).
        self.position_in_group = np.empty(len(self.section_codes), dtype=np.int64)
        for group in self.groups:
            self.position_in_group[group] = np.arange(len(group))
        self._transposed: dict[tuple[str, int], sp.csr_matrix] = {}
        self._by_time_cache: dict[tuple[str, int], tuple | None] = {}
        #: Threads of the compiled path (results do not depend on it).
        self.n_threads = min(os.cpu_count() or 1, 8)
        #: Use the compiled kernels when numba is installed (``None``: decide on first use).
        self.use_kernels: bool | None = None
        # Inside shared_pools(): whole-set pools of own-row queries (see _shared_pool).
        self._pools: dict[tuple, Result] | None = None
        self._pools_lock = threading.Lock()

    @property
    def n_articles(self) -> int:
        """Number of rows."""
        return int(self.matrix.shape[0])

    def _cached_t(self, what: str, section: int) -> sp.csr_matrix:
        """Transposed float64 rows (or tags) of one section (``-1``: all), built once."""
        key = (what, section)
        cached = self._transposed.get(key)
        if cached is None:
            source = self.matrix if what == "rows" else self.tags
            assert source is not None
            rows = source if section < 0 else source[self.groups[section]]
            cached = sp.csr_matrix(rows.T, dtype=np.float64)
            cached.sort_indices()
            self._transposed[key] = cached
        return cached

    def _block_rules(
        self, rules: QueryRules | None, candidate_rows: np.ndarray | None, section: int
    ) -> BlockRules | None:
        if rules is None:
            return None
        times = None
        if rules.times is not None:
            times = self.times if candidate_rows is None else self.times[candidate_rows]
        tags_t = None
        if rules.tag_weight and self.tags is not None and rules.tags is not None:
            tags_t = self._cached_t("tags", section)
        return BlockRules(
            query_times=rules.times if times is not None else None,
            candidate_times=times,
            max_age=rules.max_age,
            half_life=rules.half_life,
            allow_newer=rules.allow_newer,
            query_tags=None if tags_t is None else sp.csr_matrix(rules.tags, dtype=np.float64),
            candidate_tags_t=tags_t,
            tag_weight=rules.tag_weight,
            duplicate_threshold=rules.duplicate_threshold,
        )

    def _kernels_ready(self, rules: QueryRules | None) -> bool:
        """The compiled path serves rules that only remove candidates (exactly, see _run_fast).

        Decay and the tag bonus change scores, so they take the dense scipy path.
        """
        if self.use_kernels is None:
            from ._kernels import NUMBA_AVAILABLE

            self.use_kernels = NUMBA_AVAILABLE
        if not self.use_kernels:
            return False
        if rules is None:
            return True
        decays = (
            rules.times is not None
            and rules.half_life is not None
            and bool(np.isfinite(rules.half_life).any())
        )
        bonus = bool(rules.tag_weight) and rules.tags is not None and self.tags is not None
        return not decays and not bonus

    def _inverted(self, section: int) -> sp.csr_matrix:
        key = ("inverted", section)
        cached = self._transposed.get(key)
        if cached is None:
            from ._kernels import inverted_index

            rows = None if section < 0 else self.groups[section]
            cached = inverted_index(self.matrix, rows)
            self._transposed[key] = cached
        return cached

    def _by_time(self, section: int) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix] | None:
        """One candidate set ordered by publication time: (order, sorted times, inverted).

        ``order[p]`` is the candidate position (in the set's usual order) at time-ordered
        position ``p``. ``None`` when some candidate is undated: undated stories are exempt
        from the window, so they cannot sit in one contiguous time range.
        """
        key = ("by_time", section)
        if key not in self._by_time_cache:
            rows = np.arange(self.n_articles) if section < 0 else self.groups[section]
            times = self.times[rows]
            if np.isnan(times).any():
                self._by_time_cache[key] = None
            else:
                from ._kernels import inverted_index

                order = np.argsort(times, kind="stable")
                self._by_time_cache[key] = (
                    order,
                    times[order],
                    inverted_index(self.matrix, rows[order]),
                )
        return self._by_time_cache[key]

    @contextlib.contextmanager
    def shared_pools(self) -> Iterator[None]:
        """Within this block, score each pair once for batches of the index's own rows.

        A batch job that asks for the list of every article (precompute) would otherwise score
        each pair twice, once from each side. Inside the block, the first own-row query of a
        candidate set (a section, under a uniform date window or none) runs the pair-once
        kernel over the whole set and keeps every row's ranked pool; later batches read their
        rows' pools from it. The pools are exactly those the per-batch kernel computes (same
        candidates, same ranking rule), so results do not change; only the time does. Costs
        ``16 * pool`` bytes per article while the block lasts. Not re-entrant.
        """
        self._pools = {}
        try:
            yield
        finally:
            self._pools = None

    def _shared_pool(
        self,
        section: int,
        pool: int,
        exclude: np.ndarray,
        tiebreak: np.ndarray,
        allowed: np.ndarray | None,
        global_of: np.ndarray,
        rules: QueryRules | None,
        by_time: tuple[np.ndarray, np.ndarray, sp.csr_matrix] | None,
    ) -> Result | None:
        """Ranked pools of the own-row queries at candidate positions ``exclude``, or None.

        ``None`` when the pools cannot be shared: a query outside the set, a date window that
        is not the same for every query, or one that hides newer stories (not symmetric, so
        not pair-once). The arrays are in the positional order the caller uses (time-ordered
        under a window).
        """
        pools = self._pools
        if pools is None or not len(exclude) or int(exclude.min()) < 0:
            return None
        age = None
        times = None if by_time is None else by_time[1]  # the set's times, sorted
        if times is not None:
            if rules is None or rules.times is None or not rules.allow_newer:
                return None
            ages = np.full(len(exclude), np.inf) if rules.max_age is None else rules.max_age
            if not np.all(ages == ages[0]) or not np.array_equal(rules.times, times[exclude]):
                return None
            age = float(ages[0])
        key = (section, pool, None if allowed is None else allowed.tobytes(), age)
        with self._pools_lock:
            found = pools.get(key)
            if found is None:
                from ._kernels import all_pairs_topk

                window_end = None
                if times is not None and age is not None and np.isfinite(age):
                    # The same reach as _time_window's [lo, hi), seen from the earlier row.
                    window_end = np.searchsorted(times, times + age + WINDOW_SLACK, "right")
                found = all_pairs_topk(
                    take_rows(self.matrix, global_of),
                    pool,
                    tiebreak,
                    allowed,
                    self.n_threads,
                    window_end=window_end,
                )
                pools[key] = found
        return found[0][exclude], found[1][exclude]

    def _time_window(
        self, rules: QueryRules | None, sorted_times: np.ndarray, m: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per query, the time-ordered positions ``[lo, hi)`` its window can reach.

        A little wider than the window (by :data:`WINDOW_SLACK`): the exact rule is applied to the
        ranked pool afterwards by :func:`outside_window`, so the range only has to contain
        every candidate the rule keeps.
        """
        n = len(sorted_times)
        lo = np.zeros(m, dtype=np.int64)
        hi = np.full(m, n, dtype=np.int64)
        if rules is None or rules.times is None:
            return lo, hi
        t = rules.times
        age = np.full(m, np.inf) if rules.max_age is None else rules.max_age
        dated = ~np.isnan(t)
        slack = WINDOW_SLACK
        windowed = dated & np.isfinite(age)
        lo[windowed] = np.searchsorted(sorted_times, t[windowed] - age[windowed] - slack, "left")
        hi[windowed] = np.searchsorted(sorted_times, t[windowed] + age[windowed] + slack, "right")
        if not rules.allow_newer:
            hi[dated] = np.minimum(
                hi[dated], np.searchsorted(sorted_times, t[dated] + slack, "right")
            )
        return lo, hi

    def _run_fast(
        self,
        queries: sp.csr_matrix,
        candidate_rows: np.ndarray | None,
        section: int,
        exclude: np.ndarray,
        k: int,
        allowed: np.ndarray | None,
        rules: QueryRules | None,
        own_rows: bool = False,
    ) -> list[Result]:
        """The compiled inverted-index path, exact under removal-only rules.

        The kernel ranks by (score, tiebreak) over the allowed candidates; duplicates of the
        query, the time window and per-query exclusions only *remove* candidates and never
        reorder the rest, so the first ``k`` survivors of a ranked pool are the exact answer,
        provided the pool was not cut short. A pool that was full and lost too many to the
        filters is fetched again, four times larger, until it is not full or holds ``k``.
        """
        from ._kernels import topk_block_fast

        n_cand = self.n_articles if candidate_rows is None else len(candidate_rows)
        tiebreak = self.tiebreak if candidate_rows is None else self.tiebreak[candidate_rows]
        if allowed is not None and candidate_rows is not None:
            allowed = allowed[candidate_rows]
        global_of = np.arange(self.n_articles) if candidate_rows is None else candidate_rows
        # A time window (max_age, or no newer stories) over a time-ordered copy of the set:
        # each query reads only the postings of its window, never the whole archive's.
        window = None
        windowed = (
            rules is not None
            and rules.times is not None
            and (
                (rules.max_age is not None and bool(np.isfinite(rules.max_age).any()))
                or not rules.allow_newer
            )
        )
        by_time = self._by_time(section) if windowed else None
        shareable = own_rows and self._pools is not None
        # Only one inverted copy per candidate set is built: the time-ordered one when windows
        # can use it, the plain one otherwise.
        inverted = self._inverted(section) if by_time is None else by_time[2]
        if by_time is not None:
            order, sorted_times, _ = by_time
            position = np.empty(n_cand, dtype=np.int64)
            position[order] = np.arange(n_cand)
            exclude = np.where(exclude >= 0, position[np.maximum(exclude, 0)], -1)
            tiebreak = tiebreak[order]
            allowed = None if allowed is None else allowed[order]
            global_of = global_of[order]
            window = self._time_window(rules, sorted_times, queries.shape[0])
            own_rows = False  # the pair-once kernel walks the set in its usual order
        filters = rules is not None and (
            rules.duplicate_threshold is not None
            or rules.exclude_rows is not None
            or (rules.times is not None and (rules.max_age is not None or not rules.allow_newer))
        )
        m = queries.shape[0]
        results: list[Result | None] = [None] * m
        pending = np.arange(m)
        pool = min(n_cand, 2 * k + 10) if filters else k
        # All-pairs: the queries are exactly the candidates, in order (each excluded at its own
        # position), so every pair can be scored once and offered to both rows.
        pair_once = own_rows and m >= 2 and m == n_cand and np.array_equal(exclude, np.arange(m))
        shared = (
            self._shared_pool(section, pool, exclude, tiebreak, allowed, global_of, rules, by_time)
            if shareable and not pair_once
            else None
        )
        while pending.size:
            if shared is not None:
                cols, scores = shared
                shared = None  # a retry with a bigger pool serves only the short rows
            elif pair_once:
                from ._kernels import all_pairs_topk

                rows_of = self.matrix if candidate_rows is None else self.matrix[candidate_rows]
                cols, scores = all_pairs_topk(rows_of, pool, tiebreak, allowed, self.n_threads)
                pair_once = False  # a retry with a bigger pool serves only the short rows
            else:
                cols, scores = topk_block_fast(
                    take_rows(queries, pending),
                    inverted,
                    pool,
                    exclude[pending],
                    tiebreak,
                    allowed,
                    window=None if window is None else (window[0][pending], window[1][pending]),
                    n_jobs=self.n_threads,
                )
            again = []
            for j, i in enumerate(pending.tolist()):
                found = cols[j] >= 0
                rows, vals = global_of[cols[j][found]], scores[j][found]
                full = len(rows) >= pool and pool < n_cand
                if filters and rules is not None:
                    keep = self._survivors(rules, i, rows, vals)
                    rows, vals = rows[keep], vals[keep]
                if len(rows) < k and full:
                    again.append(i)
                    continue
                results[i] = (rows[:k], vals[:k])
            pending = np.array(again, dtype=np.int64)
            pool = min(n_cand, pool * 4)
        return [r for r in results if r is not None]

    def _survivors(
        self, rules: QueryRules, i: int, rows: np.ndarray, scores: np.ndarray
    ) -> np.ndarray:
        """Which pooled candidates of query ``i`` pass the removal-only rules."""
        keep = np.ones(len(rows), dtype=bool)
        if rules.duplicate_threshold is not None:
            keep &= scores < rules.duplicate_threshold
        if rules.exclude_rows is not None and len(rules.exclude_rows[i]):
            keep &= ~np.isin(rows, rules.exclude_rows[i])
        if rules.times is not None:
            gap = rules.times[i] - self.times[rows]
            max_age = None if rules.max_age is None else rules.max_age[i]
            keep &= ~outside_window(gap, max_age, rules.allow_newer)
        return keep

    def _run(
        self,
        queries: sp.csr_matrix,
        candidate_rows: np.ndarray | None,
        section: int,
        exclude: np.ndarray,
        k: int,
        allowed: np.ndarray | None,
        rules: QueryRules | None,
        own_rows: bool = False,
    ) -> list[Result]:
        """Top-k of each query against one candidate set, block by block."""
        if self._kernels_ready(rules):
            return self._run_fast(
                queries, candidate_rows, section, exclude, k, allowed, rules, own_rows
            )
        cand_t = self._cached_t("rows", section)
        n_cand = cand_t.shape[1]
        tiebreak = self.tiebreak if candidate_rows is None else self.tiebreak[candidate_rows]
        if allowed is not None and candidate_rows is not None:
            allowed = allowed[candidate_rows]
        # Global row -> candidate column, for per-query extra exclusions.
        column_of = None
        if rules is not None and rules.exclude_rows is not None:
            column_of = np.full(self.n_articles, -1, dtype=np.int64)
            cols = np.arange(n_cand)
            column_of[cols if candidate_rows is None else candidate_rows] = cols
        block_rules = self._block_rules(rules, candidate_rows, section)
        step = block_rows_for(n_cand, self.working_memory)
        out: list[Result] = []
        q64 = sp.csr_matrix(queries, dtype=np.float64)
        for start in range(0, q64.shape[0], step):
            stop = min(start + step, q64.shape[0])
            pairs = None
            if column_of is not None and rules is not None and rules.exclude_rows is not None:
                pairs = _local_pairs(rules.exclude_rows[start:stop], column_of)
            columns, scores = topk_block(
                q64[start:stop],
                cand_t,
                k,
                exclude[start:stop],
                tiebreak,
                allowed,
                None if block_rules is None else block_rules.rows(start, stop),
                pairs,
            )
            for cols, vals in zip(columns, scores, strict=True):
                found = cols >= 0
                cols = cols[found]
                rows = cols if candidate_rows is None else candidate_rows[cols]
                out.append((rows, vals[found]))
        return out

    def query(
        self,
        queries: sp.csr_matrix,
        self_rows: np.ndarray,
        sections: np.ndarray,
        k: int,
        policy: SectionPolicy = "same",
        allowed: np.ndarray | None = None,
        rules: QueryRules | None = None,
        own_rows: bool = False,
    ) -> list[Result]:
        """Exact top-k related rows for each query row.

        Parameters
        ----------
        queries : csr_matrix of shape (m, n_terms)
            Normalised query rows (rows of the index, or transformed unseen articles).
        self_rows : ndarray of shape (m,), int
            The index row of each query, excluded by position; -1 for unseen articles.
        sections : ndarray of shape (m,), int
            Section code of each query; -1 when unknown to the index.
        k : int
        policy : {"same", "any", "prefer"}
            ``"same"``: only the query's section (nothing for an unknown section);
            ``"any"``: every section; ``"prefer"``: the section first, then the best of the
            others to fill up to ``k``.
        allowed : ndarray of shape (n,), bool, optional
            Rows that may be returned; applied before top-k, so filtering never starves a list.
        rules : QueryRules, optional
            Time window, decay, tags, duplicates and per-query exclusions, also applied
            before top-k.
        own_rows : bool, default False
            The queries are the index's own rows ``self_rows``, unchanged. Then a batch of
            every row of a candidate set, in order, may score each pair once.

        Returns
        -------
        list of (rows, scores)
            Per query: index rows (int64) and scores (float64), best first, length <= k.
        """
        m = queries.shape[0]
        self_rows = np.asarray(self_rows, dtype=np.int64)
        sections = np.asarray(sections, dtype=np.int64)
        empty: Result = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))
        results: list[Result] = [empty] * m
        if policy == "any":
            return self._run(queries, None, -1, self_rows, k, allowed, rules, own_rows)

        for section in np.unique(sections):
            which = np.flatnonzero(sections == section)
            if section < 0:
                continue  # unknown section: nothing is "same"; "prefer" fills below
            group = self.groups[section]
            own = self_rows[which]
            exclude = np.where(own >= 0, self.position_in_group[np.maximum(own, 0)], -1)
            # A query of another section (an unseen article) has no own column here.
            exclude[self.section_codes[np.maximum(own, 0)] != section] = -1
            sub_rules = None if rules is None else rules.take(which)
            found = self._run(
                take_rows(queries, which),
                group,
                int(section),
                exclude,
                k,
                allowed,
                sub_rules,
                own_rows,
            )
            for i, result in zip(which, found, strict=True):
                results[i] = result

        if policy == "prefer":
            short = np.flatnonzero([len(r[0]) < k for r in results])
            if short.size:
                results = self._fill_from_other_sections(
                    queries, self_rows, sections, k, allowed, rules, results, short
                )
        return results

    def _fill_from_other_sections(
        self,
        queries: sp.csr_matrix,
        self_rows: np.ndarray,
        sections: np.ndarray,
        k: int,
        allowed: np.ndarray | None,
        rules: QueryRules | None,
        results: list[Result],
        short: np.ndarray,
    ) -> list[Result]:
        """Append the best rows of the other sections to lists shorter than ``k``."""
        results = list(results)
        for section in np.unique(sections[short]):
            which = short[sections[short] == section]
            other = self.section_codes != section
            mask = other if allowed is None else other & allowed
            sub_rules = None if rules is None else rules.take(which)
            found = self._run(
                take_rows(queries, which), None, -1, self_rows[which], k, mask, sub_rules
            )
            for i, (rows, scores) in zip(which, found, strict=True):
                have_rows, have_scores = results[i]
                need = k - len(have_rows)
                results[i] = (
                    np.concatenate([have_rows, rows[:need]]),
                    np.concatenate([have_scores, scores[:need]]),
                )
        return results


def _local_pairs(
    exclude_rows: Sequence[np.ndarray], column_of: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """(block row, candidate column) pairs for the rows each query must not return."""
    qi: list[np.ndarray] = []
    cj: list[np.ndarray] = []
    for i, rows in enumerate(exclude_rows):
        if len(rows):
            cols = column_of[np.asarray(rows, dtype=np.int64)]
            cols = cols[cols >= 0]
            qi.append(np.full(len(cols), i, dtype=np.int64))
            cj.append(cols)
    if not qi:
        return None
    return np.concatenate(qi), np.concatenate(cj)
