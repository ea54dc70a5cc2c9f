"""The one top-k: exact selection of the best candidates of a dense block of scores.

:func:`topk_block` is the reference backend's arithmetic and the evaluation baselines' too:
cosines are ``float64`` sums of ``float32`` products taken in the query row's term order (the
order scipy's sparse product uses), so the same pair always gets the bit-identical score,
whatever the block size or the number of workers. Nothing is validated in here: callers pass
clean, normalised matrices and valid sizes.

Ranking rule (documented in the README): higher score first; on equal scores the candidate with
the smaller ``tiebreak`` rank first (:func:`tiebreak_ranks`: newer articles first, undated last,
then by id); only scores ``> 0`` are ever returned, and the query's own column never is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp

__all__ = ["block_rows", "tiebreak_ranks", "topk_block"]


def tiebreak_ranks(ids: Sequence[object], published: np.ndarray) -> np.ndarray:
    """Rank articles for breaking score ties: newer first, undated last, then by id.

    The one tie rule of the library (the engine, the evaluation baselines and experiments).

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


def block_rows(n_candidates: int, working_memory_mib: float) -> int:
    """How many query rows fit a dense score block in ``working_memory_mib`` MiB.

    The one block-size rule: a block holds the float64 scores and about two temporaries of
    the same size.
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
    scorer: Callable[[np.ndarray], np.ndarray] | None = None,
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
    scorer : callable, optional
        Turns the block of cosines into ranking scores in place (0 = not a candidate); the
        engine passes its :meth:`Rules.score <relatedness.engine.rules.Rules.score>` bound
        to the block's queries and candidates.
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
    if scorer is not None:
        block = scorer(block)
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
