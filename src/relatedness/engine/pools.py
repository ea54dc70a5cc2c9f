"""The one pool-growth loop: fetch ranked pools, settle what is decided, grow the rest.

A rule applied after ranking (dropping copies of the query, a window, one story per duplicate
pair, quotas, rescoring) can leave a ranked pool with too few survivors, or leave open whether a
candidate outside the pool could still rank higher. Such a query is fetched again with a pool
four times larger, until its answer is decided or the pool holds every candidate: a rule never
starves a list, and the answer equals the one over every candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

__all__ = ["GROWTH", "grow"]

#: How much larger each retry's pool is.
GROWTH = 4

T = TypeVar("T")

#: ``fetch(pending, pool)``: the ranked pools of the queries ``pending`` (their indices),
#: each ``(rows, scores)`` best first and at most ``pool`` long.
Fetch = Callable[[np.ndarray, int], Sequence[tuple[np.ndarray, Any]]]

#: ``settle(pending, found, full)``: per query its answer, or ``None`` to fetch again with a
#: larger pool. ``full[j]`` says the pool was cut at ``pool`` (more candidates exist); a query
#: whose pool is not full must be settled.
Settle = Callable[[np.ndarray, Sequence[tuple[np.ndarray, Any]], list[bool]], Sequence[Any]]


def grow(m: int, fetch: Fetch, settle: Settle, start: int, limit: int) -> list[Any]:
    """Answers of ``m`` queries, each fetched with pools of ``start``, ``4 * start``, ...

    Parameters
    ----------
    m : int
        Number of queries.
    fetch, settle : callable
        See :data:`Fetch` and :data:`Settle`.
    start : int
        The first pool size (at least 1).
    limit : int
        The number of candidates: a pool this large holds them all, so it is never full.

    Returns
    -------
    list
        Per query, what ``settle`` decided.
    """
    answers: list[Any] = [None] * m
    pending = np.arange(m, dtype=np.int64)
    pool = max(1, min(start, limit)) if limit > 0 else max(1, start)
    while pending.size:
        found = fetch(pending, pool)
        counts = getattr(found, "counts", None)  # a batch of pools may know its sizes
        sizes = [len(rows) for rows, _ in found] if counts is None else counts.tolist()
        full = [size >= pool and pool < limit for size in sizes]
        settled = settle(pending, found, full)
        again = []
        for i, answer, cut in zip(pending.tolist(), settled, full, strict=True):
            if answer is None:
                if not cut:
                    msg = "a query whose pool holds every candidate must be settled"
                    raise RuntimeError(msg)
                again.append(i)
            else:
                answers[i] = answer
        pending = np.array(again, dtype=np.int64)
        pool = min(limit, pool * GROWTH) if limit > 0 else pool * GROWTH
    return answers
