"""The compiled backend: exact top-k through the numba kernels, under every rule.

The kernels (:mod:`relatedness.engine.kernels`) rank candidates by cosine over an inverted
index of the candidate set, walking only the postings of a date window where one applies. The
:class:`~relatedness.engine.rules.Rules` then act on that ranked pool, with the same arithmetic
the reference backend applies to a dense block (:meth:`Rules.score
<relatedness.engine.rules.Rules.score>`):

- rules that only *remove* candidates (copies, exclusions, the window) never reorder the rest,
  so the first ``k`` survivors of a pool are the answer once ``k`` survive;
- rules that *rescore* (decay multiplies by at most 1, the tag bonus adds at most
  ``tag_weight``) can lift a candidate above others, so a pool's answer is decided only when
  its ``k``-th score beats the best score any candidate outside the pool could reach: the
  pool's smallest cosine plus the largest possible bonus.

An undecided pool is fetched again, four times larger (:func:`relatedness.engine.pools.grow`),
until it is decided or holds every candidate. The answer therefore equals the reference
backend's bit for bit (the kernels' cosines are scipy's, see the kernels' docstring).

Same signature and contract as :func:`relatedness.engine.reference.run`; nothing is validated
here.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from .candidates import ByTime, CandidateSet, Result, Settings, take_rows
from .pools import grow
from .rules import Rules

__all__ = ["WINDOW_SLACK", "run"]

#: Days a time window's position range reaches past the window, so that rounding never
#: drops a candidate the exact rule keeps (that rule is applied to the ranked pool after).
WINDOW_SLACK = 1e-6


def run(
    candidates: CandidateSet,
    queries: sp.csr_matrix,
    exclude: np.ndarray,
    k: int,
    allowed: np.ndarray | None,
    rules: Rules | None,
    *,
    own_rows: bool,
    settings: Settings,
) -> list[Result]:
    """Top-``k`` index rows of each query against one candidate set.

    Parameters and result as :func:`relatedness.engine.reference.run`. ``own_rows``: the
    queries are the set's own rows, unchanged; a batch of every row of the set, in order, then
    scores each pair once (:func:`~relatedness.engine.kernels.all_pairs_topk`), and inside
    :meth:`~relatedness.engine.api.SimilarityIndex.shared_pools` batches read the pools of one
    such pass over the whole set.
    """
    from .kernels import all_pairs_topk, topk_block_fast

    m = queries.shape[0]
    n = candidates.size
    tiebreak = candidates.tiebreak
    allowed_here = candidates.restrict(allowed)
    global_of = candidates.global_rows
    times = candidates.times
    window = None
    by_time = candidates.by_time if rules is not None and rules.windowed else None
    inverted = candidates.inverted if by_time is None else by_time.inverted
    shareable = own_rows and settings.pools.on and settings.pair_once
    if by_time is not None:
        # A time window over a time-ordered copy of the set: each query reads only the
        # postings of its window, never the whole set's.
        position = np.empty(n, dtype=np.int64)
        position[by_time.order] = np.arange(n)
        exclude = np.where(exclude >= 0, position[np.maximum(exclude, 0)], -1)
        tiebreak = tiebreak[by_time.order]
        allowed_here = None if allowed_here is None else allowed_here[by_time.order]
        global_of = global_of[by_time.order]
        times = by_time.times
        window = _time_window(rules, by_time.times, m)
        own_rows = False  # the pair-once kernel walks the set in its usual order
    plain = rules is None or not (rules.removes or rules.rescores)
    start = k if plain else min(n, 2 * k + 10)
    # All-pairs: the queries are exactly the candidates, in order (each excluded at its own
    # position), so every pair can be scored once and offered to both rows.
    pair_once = (
        settings.pair_once
        and own_rows
        and m >= 2
        and m == n
        and np.array_equal(exclude, np.arange(m))
    )
    first: list[tuple[np.ndarray, np.ndarray] | None] = [None]
    if shareable and not pair_once:
        first[0] = _shared_pool(
            candidates, start, exclude, tiebreak, allowed_here, global_of, rules, by_time, settings
        )
    first_round = [True]

    def fetch(pending: np.ndarray, pool: int) -> _Pools:
        if first[0] is not None:
            cols, scores = first[0]
            first[0] = None  # a retry with a bigger pool serves only the undecided rows
        elif pair_once and first_round[0]:
            rows_of = take_rows(candidates.matrix, candidates.global_rows)
            cols, scores = all_pairs_topk(rows_of, pool, tiebreak, allowed_here, settings.n_threads)
        else:
            cols, scores = topk_block_fast(
                take_rows(queries, pending),
                inverted,
                pool,
                exclude[pending],
                tiebreak,
                allowed_here,
                window=None if window is None else (window[0][pending], window[1][pending]),
                n_jobs=settings.n_threads,
            )
        first_round[0] = False
        return _Pools(cols, scores, global_of)

    def settle(pending: np.ndarray, found: _Pools, full: list[bool]) -> list[Result | None]:
        if plain or rules is None:
            # A cosine is at most 1 (float32 rows round two copies to 1.00000004).
            return [(rows[:k], np.minimum(cosines[:k], 1.0)) for rows, cosines in found]
        return _settle(rules.take(pending), found, full, k, times, tiebreak, candidates)

    return grow(m, fetch, settle, start, n)  # type: ignore[arg-type]


class _Pools:
    """The kernels' ranked pools of a batch: ``(P, pool)`` positions and cosines, padded.

    Indexing gives one query's ``(index rows, cosines)``; the settling step reads the arrays.
    """

    def __init__(self, columns: np.ndarray, cosines: np.ndarray, global_of: np.ndarray) -> None:
        self.columns = columns
        self.cosines = cosines
        self.global_of = global_of
        self.counts = (columns >= 0).sum(axis=1)

    def __len__(self) -> int:
        return len(self.columns)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return (self[j] for j in range(len(self)))

    def __getitem__(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        count = self.counts[j]  # the kernels fill each row from the front
        return self.global_of[self.columns[j, :count]], self.cosines[j, :count]


def _settle(
    rules: Rules,
    found: _Pools,
    full: list[bool],
    k: int,
    times: np.ndarray,
    tiebreak: np.ndarray,
    candidates: CandidateSet,
) -> list[Result | None]:
    """Each pool's answer under ``rules`` (the batch's), or ``None`` where still undecided."""
    positions = found.columns
    valid = positions >= 0
    safe = np.maximum(positions, 0)
    candidate_times = times[safe] if rules.times is not None else None
    shared = None
    if rules.adds_tags and rules.tags is not None and candidates.tags_transposed is not None:
        # The entries of the reference path's (query tags @ set tags.T), pair by pair: the
        # same sums in the same order. Positions are time-ordered under a window: map them
        # to the set's usual order, which the transposed tags use.
        rows = found.global_of[safe]
        usual = (
            rows
            if candidates.rows is None
            else candidates.columns(candidates.matrix.shape[0])[rows]
        )
        product = sp.csr_matrix(
            sp.csr_matrix(rules.tags, dtype=np.float64) @ candidates.tags_transposed
        )
        shared = np.vstack(
            [product[j].toarray()[0, usual[j]] for j in range(len(positions))]
        ).reshape(positions.shape)
    scores = rules.score(found.cosines.copy(), candidate_times, shared)
    keep = valid & (scores > 0.0)
    bound = rules.bonus_bound() if rules.rescores else None
    if rules.exclude_rows is None and bound is None:
        return _settle_in_order(keep, positions, scores, found.global_of, full, k)
    answers: list[Result | None] = []
    for j, cut in enumerate(full):
        kept = np.flatnonzero(keep[j])
        rows = found.global_of[positions[j, kept]]
        row_scores = scores[j, kept]
        if rules.exclude_rows is not None and len(rules.exclude_rows[j]):
            outside = ~np.isin(rows, rules.exclude_rows[j])
            kept, rows, row_scores = kept[outside], rows[outside], row_scores[outside]
        if bound is not None:
            order = np.lexsort((tiebreak[positions[j, kept]], -row_scores))
            rows, row_scores = rows[order], row_scores[order]
        if cut and len(rows) < k:
            answers.append(None)
            continue
        if cut and bound is not None and not row_scores[k - 1] > found.cosines[j, -1] + bound[j]:
            # Outside the pool every cosine is at most the pool's last; decay cannot raise
            # it and the bonus adds at most bound[j]: undecided unless the k-th beats that.
            answers.append(None)
            continue
        answers.append((rows[:k], row_scores[:k]))
    return answers


def _settle_in_order(
    keep: np.ndarray,
    positions: np.ndarray,
    scores: np.ndarray,
    global_of: np.ndarray,
    full: list[bool],
    k: int,
) -> list[Result | None]:
    """:func:`_settle` when the rules only remove candidates: the first ``k`` kept entries
    of each pool, in pool order, for the whole batch at once (no per-query search)."""
    # A stable sort of "dropped" puts each row's kept entries first, in their order.
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    totals = keep.sum(axis=1)
    counts = np.minimum(totals, k).tolist()
    top_rows = global_of[np.maximum(np.take_along_axis(positions, order, axis=1), 0)]
    top_scores = np.take_along_axis(scores, order, axis=1)
    return [
        None if cut and total < k else (top_rows[j, :count], top_scores[j, :count])
        for j, (cut, total, count) in enumerate(zip(full, totals.tolist(), counts, strict=True))
    ]


def _time_window(
    rules: Rules | None, sorted_times: np.ndarray, m: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per query, the time-ordered positions ``[lo, hi)`` its window can reach.

    A little wider than the window (by :data:`WINDOW_SLACK`): the exact rule is applied to the
    ranked pool afterwards by :func:`~relatedness.engine.rules.outside_window`, so the range
    only has to contain every candidate the rule keeps.
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
        hi[dated] = np.minimum(hi[dated], np.searchsorted(sorted_times, t[dated] + slack, "right"))
    return lo, hi


def _shared_pool(
    candidates: CandidateSet,
    pool: int,
    exclude: np.ndarray,
    tiebreak: np.ndarray,
    allowed: np.ndarray | None,
    global_of: np.ndarray,
    rules: Rules | None,
    by_time: ByTime | None,
    settings: Settings,
) -> Result | None:
    """Ranked pools of the own-row queries at candidate positions ``exclude``, or None.

    ``None`` when the pools cannot be shared: a query outside the set, a date window that is
    not the same for every query, or one that hides newer stories (not symmetric, so not
    pair-once). The arrays are in the positional order the caller uses (time-ordered under a
    window).
    """
    if not settings.pools.on or not len(exclude) or int(exclude.min()) < 0:
        return None
    age = None
    times = None if by_time is None else by_time.times
    if times is not None:
        if rules is None or rules.times is None or not rules.allow_newer:
            return None
        ages = np.full(len(exclude), np.inf) if rules.max_age is None else rules.max_age
        if not np.all(ages == ages[0]) or not np.array_equal(rules.times, times[exclude]):
            return None
        age = float(ages[0])

    def compute() -> Result:
        from .kernels import all_pairs_topk

        window_end = None
        if times is not None and age is not None and np.isfinite(age):
            # The same reach as _time_window's [lo, hi), seen from the earlier row.
            window_end = np.searchsorted(times, times + age + WINDOW_SLACK, "right")
        return all_pairs_topk(
            take_rows(candidates.matrix, global_of),
            pool,
            tiebreak,
            allowed,
            settings.n_threads,
            window_end=window_end,
        )

    key = (candidates.section, pool, None if allowed is None else allowed.tobytes(), age)
    found = settings.pools.get(key, compute)
    if found is None:
        return None
    return found[0][exclude], found[1][exclude]
