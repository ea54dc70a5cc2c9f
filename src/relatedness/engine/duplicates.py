"""Near-duplicate groups: articles linked by a cosine at or above a threshold, connected.

Syndicated copies and re-publishes of one story. A group's first member is its canonical
one: the earliest published (undated last), then the smallest id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["duplicate_groups"]

#: Query rows per sparse product: only pairs at or above the threshold are kept of each.
_STEP = 64


def duplicate_groups(
    matrix: sp.csr_matrix, threshold: float, times: np.ndarray, ids: Sequence[Any]
) -> list[list[int]]:
    """Groups of rows (two or more) connected by pairs with cosine >= ``threshold``.

    Parameters
    ----------
    matrix : csr_matrix of shape (n, n_terms)
        The normalised rows.
    threshold : float
        In (0, 1].
    times : ndarray of shape (n,)
        Publication times in days, NaN undated (for the canonical member).
    ids : sequence
        Article ids (sortable), for the canonical member and the order of groups.

    Returns
    -------
    list of list of int
        Each group's rows, canonical first; groups sorted by their canonical id.
    """
    n = matrix.shape[0]
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    x = sp.csr_matrix(matrix, dtype=np.float64)
    x_t = sp.csr_matrix(x.T)
    for start in range(0, n, _STEP):
        block = sp.coo_matrix(x[start : start + _STEP] @ x_t)
        hit = (block.data >= threshold) & (block.row + start != block.col)
        for r, c in zip((block.row[hit] + start).tolist(), block.col[hit].tolist(), strict=True):
            ra, rb = find(r), find(c)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for r in range(n):
        groups.setdefault(find(r), []).append(r)

    def canonical(r: int) -> tuple:
        return (np.isnan(times[r]), 0.0 if np.isnan(times[r]) else times[r], ids[r])

    out = [sorted(g, key=canonical) for g in groups.values() if len(g) > 1]
    return sorted(out, key=lambda g: ids[g[0]])
