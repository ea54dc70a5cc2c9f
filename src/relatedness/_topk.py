"""The hot path: exact top-k for a block of query rows. No validation in here.

Callers (``index.py``) pass clean, already-normalised matrices and valid sizes. Everything is
exact: every candidate's score is computed, nothing is approximated.

Cosines are ``float64`` sums of ``float32`` products taken in the query row's term order (the
order scipy's sparse product uses), so the same pair always gets the bit-identical score,
whatever the block size or the number of workers.

Newsroom rules (:class:`BlockRules`) act on the dense block *before* selection, so a filter
never starves a list: near-duplicates of the query, the time window and ``allow_newer`` zero a
candidate out; recency decay multiplies its cosine; shared tags add a bonus.

Ranking rule (documented in the README): higher score first; on equal scores the candidate with
the smaller ``tiebreak`` rank first (the index ranks newer articles first, then by id); only
scores ``> 0`` are ever returned, and the query's own column is never returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["BlockRules", "block_rows_for", "outside_window", "topk_block"]


@dataclass(frozen=True)
class BlockRules:
    """Per-pair rules for one block: the query side is per row, the candidate side per column.

    Times are float days (any epoch), ``NaN`` for undated articles; an undated query or
    candidate is exempt from the window, ``allow_newer`` and decay.
    """

    query_times: np.ndarray | None = None  # (m,)
    candidate_times: np.ndarray | None = None  # (n,)
    max_age: np.ndarray | None = None  # (m,) days, inf = no window
    half_life: np.ndarray | None = None  # (m,) days, inf = no decay
    allow_newer: bool = True
    query_tags: sp.csr_matrix | None = None  # (m, n_tags), rows L2-normalised
    candidate_tags_t: sp.csr_matrix | None = None  # (n_tags, n)
    tag_weight: float = 0.0
    duplicate_threshold: float | None = None  # cosine at or above: same story, dropped

    def rows(self, start: int, stop: int) -> BlockRules:
        """The rules of query rows ``start:stop``."""

        def cut(a):
            return None if a is None else a[start:stop]

        return BlockRules(
            cut(self.query_times),
            self.candidate_times,
            cut(self.max_age),
            cut(self.half_life),
            self.allow_newer,
            cut(self.query_tags),
            self.candidate_tags_t,
            self.tag_weight,
            self.duplicate_threshold,
        )


def outside_window(
    gap: np.ndarray, max_age: np.ndarray | float | None, allow_newer: bool
) -> np.ndarray:
    """Which age gaps (query time minus candidate time, days; NaN = undated) the window drops.

    The one definition of the hard time rules, used on dense blocks here and on ranked pools
    by the compiled path in ``index.py``.
    """
    dated = ~np.isnan(gap)
    drop = np.zeros(gap.shape, dtype=bool)
    if max_age is not None:
        # "further apart in time" both ways: an old story and a far-later one alike.
        drop |= dated & (np.abs(gap) > max_age)
    if not allow_newer:
        drop |= dated & (gap < 0)
    return drop


def block_rows_for(n_candidates: int, working_memory_mib: float) -> int:
    """How many query rows fit a dense score block in ``working_memory_mib`` MiB.

    A block holds the float64 scores and about two temporaries of the same size.
    """
    per_row = max(1, n_candidates) * 8 * 3
    return max(1, int(working_memory_mib * 2**20) // per_row)


def _apply_rules(block: np.ndarray, rules: BlockRules) -> np.ndarray:
    """Turn a block of cosines into ranking scores (0 = not a candidate)."""
    if rules.duplicate_threshold is not None:
        block[block >= rules.duplicate_threshold] = 0.0
    if rules.query_times is not None and rules.candidate_times is not None:
        # gap > 0: the candidate is older than the query.
        gap = rules.query_times[:, None] - rules.candidate_times[None, :]
        dated = ~np.isnan(gap)
        max_age = None if rules.max_age is None else rules.max_age[:, None]
        block[outside_window(gap, max_age, rules.allow_newer)] = 0.0
        if rules.half_life is not None and np.isfinite(rules.half_life).any():
            decay = np.exp2(-np.abs(np.where(dated, gap, 0.0)) / rules.half_life[:, None])
            block *= decay
    if rules.tag_weight and rules.query_tags is not None and rules.candidate_tags_t is not None:
        shared = (rules.query_tags @ rules.candidate_tags_t).toarray()
        # The bonus joins only candidates the rules above kept: tags never revive an
        # excluded or out-of-window story, and never make a story related on tags alone.
        block += np.where(block > 0.0, rules.tag_weight * shared, 0.0)
    return block


def topk_block(
    queries: sp.csr_matrix,
    candidates_t: sp.csr_matrix,
    k: int,
    exclude: np.ndarray,
    tiebreak: np.ndarray,
    allowed: np.ndarray | None = None,
    rules: BlockRules | None = None,
    exclude_pairs: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` candidates for each query row.

    Parameters
    ----------
    queries : csr_matrix of shape (m, n_terms), float64
    candidates_t : csr_matrix of shape (n_terms, n), float64
        The candidates' rows, transposed.
    k : int
        At least 1.
    exclude : ndarray of shape (m,), int64
        Candidate column to leave out for each query (its own row), or -1.
    tiebreak : ndarray of shape (n,), int64
        Rank used on equal scores, smaller first. Must be distinct per candidate.
    allowed : ndarray of shape (n,) or (m, n), bool, optional
        Candidates that may be returned (per query when 2-d); ``None`` allows all.
    rules : BlockRules, optional
        Time window, decay, tag bonus and duplicate drop (see :class:`BlockRules`).
    exclude_pairs : (ndarray, ndarray), optional
        Extra (query row, candidate column) pairs to leave out: blocked pairs, items a
        caller already holds.

    Returns
    -------
    columns : ndarray of shape (m, min(k, n)), int64
        Candidate columns, best first, padded with -1.
    scores : ndarray of shape (m, min(k, n)), float64
        Their scores, padded with 0.
    """
    m = queries.shape[0]
    n = candidates_t.shape[1]
    # k beyond the candidate count would only allocate padding (k=10**9 must not OOM).
    k = max(1, min(k, n))
    columns = np.full((m, k), -1, dtype=np.int64)
    scores = np.zeros((m, k), dtype=np.float64)
    if m == 0 or n == 0:
        return columns, scores

    block = (queries @ candidates_t).toarray()
    rows = np.arange(m)
    has_self = exclude >= 0
    block[rows[has_self], exclude[has_self]] = 0.0
    if exclude_pairs is not None:
        block[exclude_pairs] = 0.0
    if rules is not None:
        block = _apply_rules(block, rules)
    if allowed is not None:
        block[~np.broadcast_to(allowed, block.shape)] = 0.0

    # The k-th largest score of each row is the admission threshold; every candidate at or
    # above it (ties included) is ranked below, so equal scores are decided by the tiebreak
    # rank and never by where argpartition happened to put them.
    kth = np.partition(block, n - k, axis=1)[:, n - k]
    admitted = (block >= kth[:, None]) & (block > 0.0)
    qi, cj = np.nonzero(admitted)
    if qi.size == 0:
        return columns, scores
    values = block[qi, cj]
    order = np.lexsort((tiebreak[cj], -values, qi))
    qi, cj, values = qi[order], cj[order], values[order]
    # Position of each admitted candidate within its query row's ranking.
    starts = np.searchsorted(qi, np.arange(m))
    rank = np.arange(qi.size) - starts[qi]
    keep = rank < k
    columns[qi[keep], rank[keep]] = cj[keep]
    scores[qi[keep], rank[keep]] = values[keep]
    return columns, scores
