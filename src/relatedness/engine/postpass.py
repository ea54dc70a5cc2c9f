"""The list post-pass: choose a list from a ranked pool (copies, quotas, MMR diversity).

Hard rules are applied inside the engine before top-k; this pass only ever chooses among an
already-ranked pool. It keeps at most one story of any near-duplicate pair (a copy of a story
already in the list, or of a pinned one), at most ``max_per_section`` stories per section, and
re-ranks by maximal marginal relevance when ``diversity > 0``. When it runs short, the caller
grows the pool (:func:`relatedness.engine.pools.grow`), so no rule starves a list.

:func:`choose` is the entry: the compiled walk for a whole batch when it applies (no
diversity, numba installed), else :func:`select` per list. Both make the same choices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp

__all__ = ["choose", "row_cosines", "select"]


def row_cosines(matrix: sp.csr_matrix, compiled: bool) -> Callable[[int, np.ndarray], np.ndarray]:
    """``similarity(row, others)``: cosines of index row ``row`` with the rows ``others``.

    The compiled kernel and the scipy product give the same bits.
    """
    if compiled:
        from .kernels import row_cosines as compiled_row_cosines

        return lambda row, others: compiled_row_cosines(matrix, row, others)

    def similarity(row: int, others: np.ndarray) -> np.ndarray:
        sub = sp.csr_matrix(matrix[others], dtype=np.float64)
        return (sub @ sp.csr_matrix(matrix[[row]], dtype=np.float64).T).toarray().ravel()

    return similarity


def choose(
    matrix: sp.csr_matrix,
    sections: np.ndarray,
    pools: Sequence[tuple[np.ndarray, np.ndarray]],
    need: Sequence[int],
    held: Sequence[Sequence[int]],
    *,
    duplicate_threshold: float | None,
    max_per_section: int | None,
    diversity: float,
    compiled: bool,
) -> list[tuple[list[int], list[float]]]:
    """The post-pass of a batch of lists: per pool, the rows and scores chosen, in order.

    Parameters
    ----------
    matrix : csr_matrix
        The index rows (for the cosines between candidates).
    sections : ndarray of int
        Section code of every index row.
    pools : sequence of (rows, scores)
        Each list's ranked pool, best first.
    need : sequence of int
        How many each list still needs.
    held : sequence of sequence of int
        Rows already in each list (pinned): counted for duplicates and quotas.
    duplicate_threshold, max_per_section, diversity
        The rules (see :func:`select`).
    compiled : bool
        Use the compiled walk where it applies.
    """
    if compiled and diversity <= 0:
        from .kernels import greedy_lists

        picks = greedy_lists(
            matrix,
            [rows for rows, _ in pools],
            held,
            need,
            duplicate_threshold=duplicate_threshold,
            max_per_section=max_per_section,
            sections=sections,
        )
        return [
            (rows[pick].tolist(), scores[pick].tolist())
            for (rows, scores), pick in zip(pools, picks, strict=True)
        ]
    similarity = row_cosines(matrix, compiled)
    return [
        select(
            rows,
            scores,
            n,
            similarity=similarity,
            duplicate_threshold=duplicate_threshold,
            max_per_section=max_per_section,
            sections=sections,
            diversity=float(diversity),
            held=h,
        )
        for (rows, scores), n, h in zip(pools, need, held, strict=True)
    ]


def select(
    rows: np.ndarray,
    scores: np.ndarray,
    k: int,
    *,
    similarity: Callable[[int, np.ndarray], np.ndarray],
    duplicate_threshold: float | None,
    max_per_section: int | None,
    sections: np.ndarray,
    diversity: float,
    held: Sequence[int] = (),
) -> tuple[list[int], list[float]]:
    """Greedily choose up to ``k`` rows from a ranked pool.

    Walks the pool best first (or by maximal marginal relevance when ``diversity > 0``) and
    skips a candidate that is a near-duplicate (cosine >= ``duplicate_threshold``) of a story
    already chosen or ``held`` (pinned items), or whose section already has
    ``max_per_section`` stories in the list.

    Parameters
    ----------
    rows, scores : ndarray
        The pool, best first.
    k : int
        How many to choose.
    similarity : callable
        ``similarity(row, others)`` returns the cosines of index row ``row`` with the index
        rows ``others``. Only the pairs the walk needs are asked for: each candidate against
        the stories chosen so far (or, with diversity, each chosen story against the pool),
        not the whole pool pairwise.
    duplicate_threshold : float or None
    max_per_section : int or None
    sections : ndarray of int
        Section code of every index row.
    diversity : float in [0, 1]
        MMR trade-off: each step picks the candidate maximising
        ``(1 - diversity) * score - diversity * max cosine to the chosen``; 0 keeps the pool
        order.
    held : sequence of int
        Rows already in the list (pinned), counted for duplicates and quotas.

    Returns
    -------
    (rows, scores) : lists
        The chosen rows and their scores (the ranking scores, not the MMR values), in list
        order.
    """
    held = list(held)
    all_rows = np.concatenate([np.asarray(held, dtype=np.int64), rows]).astype(np.int64)
    offset = len(held)
    per_section: dict[int, int] = {}
    for r in held:
        per_section[int(sections[r])] = per_section.get(int(sections[r]), 0) + 1
    # With diversity, the largest cosine of every pool row to the stories chosen so far; it
    # is also what the duplicate rule asks of a pick.
    redundancy = np.full(len(all_rows), -np.inf) if diversity > 0 else None
    chosen: list[int] = []  # positions in all_rows
    chosen_pos: list[int] = []  # held and chosen positions: what a pick is compared with

    def choose(position: int) -> None:
        chosen_pos.append(position)
        if redundancy is not None:
            np.maximum(redundancy, similarity(int(all_rows[position]), all_rows), out=redundancy)

    for position in range(offset):
        choose(position)
    remaining = list(range(offset, len(all_rows)))
    while remaining and len(chosen) < k:
        if redundancy is not None and chosen_pos:
            relevance = scores[np.array(remaining) - offset]
            mmr = (1 - diversity) * relevance - diversity * redundancy[remaining]
            pick = remaining[int(np.argmax(mmr))]  # argmax keeps the first of equal values
        else:
            pick = remaining[0]
        remaining.remove(pick)
        section = int(sections[all_rows[pick]])
        if max_per_section is not None and per_section.get(section, 0) >= max_per_section:
            continue
        if duplicate_threshold is not None and chosen_pos:
            if redundancy is not None:
                nearest = redundancy[pick]
            else:
                nearest = similarity(int(all_rows[pick]), all_rows[chosen_pos]).max()
            if nearest >= duplicate_threshold:
                continue
        chosen.append(pick)
        choose(pick)
        per_section[section] = per_section.get(section, 0) + 1
    out_rows = [int(all_rows[p]) for p in chosen]
    out_scores = [float(scores[p - offset]) for p in chosen]
    return out_rows, out_scores
