"""The hot path: exact top-k cosine for a block of query rows. No validation in here.

Callers (``index.py``) pass clean, already-normalised matrices and valid sizes. Everything is
exact: every candidate's score is computed, nothing is approximated.

Scores are ``float64`` sums of ``float32`` products taken in the query row's term order (the
order scipy's sparse product uses), so the same pair always gets the bit-identical score,
whatever the block size or the number of workers.

Ranking rule (documented in the README): higher score first; on equal scores the candidate with
the smaller ``tiebreak`` rank first (the index ranks newer articles first, then by id); only
scores ``> 0`` are ever returned, and the query's own column is never returned.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["block_rows_for", "topk_block"]


def block_rows_for(n_candidates: int, working_memory_mib: float) -> int:
    """How many query rows fit a dense score block in ``working_memory_mib`` MiB.

    A block holds the float64 scores and about two temporaries of the same size.
    """
    per_row = max(1, n_candidates) * 8 * 3
    return max(1, int(working_memory_mib * 2**20) // per_row)


def topk_block(
    queries: sp.csr_matrix,
    candidates_t: sp.csr_matrix,
    k: int,
    exclude: np.ndarray,
    tiebreak: np.ndarray,
    allowed: np.ndarray | None = None,
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
    allowed : ndarray of shape (n,), bool, optional
        Candidates that may be returned; ``None`` allows all.

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
    if allowed is not None:
        block[:, ~allowed] = 0.0

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
