"""Candidate sets: the rows a query is ranked against, and what the backends build from them.

A :class:`CandidateSet` is one section's rows (or the whole archive's) with their tie-break
ranks, times and tags, and the search structures each backend needs, built on first use and
kept: the transposed float64 rows of the reference path, the inverted index (in fit order, or
ordered by date for time windows) of the compiled path. Candidates are addressed by their
*position* in the set; ``rows[position]`` is the index row.

:class:`SharedPools` holds, while a batch job runs, the ranked pools that the pair-once pass
computed for a whole set (see :meth:`SimilarityIndex.shared_pools
<relatedness.engine.api.SimilarityIndex.shared_pools>`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["ByTime", "CandidateSet", "Result", "Settings", "SharedPools", "take_rows"]

#: One query's answer: index rows (int64) and scores (float64), best first.
Result = tuple[np.ndarray, np.ndarray]


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


@dataclass(frozen=True)
class ByTime:
    """A candidate set ordered by publication time, for date windows.

    ``order[p]`` is the candidate position (in the set's usual order) at time-ordered
    position ``p``; ``times`` are the sorted times; ``inverted`` is the inverted index whose
    columns are the time-ordered positions.
    """

    order: np.ndarray
    times: np.ndarray
    inverted: sp.csr_matrix


class CandidateSet:
    """The rows one query may be ranked against, and the structures built from them.

    Parameters
    ----------
    section : int
        The section code of the set, ``-1`` for the whole archive.
    matrix : csr_matrix of shape (n, n_terms)
        Every row of the index.
    rows : ndarray of int, optional
        The set's rows in position order; ``None``: every row.
    tiebreak, times : ndarray of shape (n,)
        The index's tie-break ranks and publication times (days, NaN undated).
    tags : csr_matrix of shape (n, n_tags), optional
        The index's tag rows.
    """

    def __init__(
        self,
        section: int,
        matrix: sp.csr_matrix,
        rows: np.ndarray | None,
        tiebreak: np.ndarray,
        times: np.ndarray,
        tags: sp.csr_matrix | None,
    ) -> None:
        self.section = section
        self.matrix = matrix
        self.rows = rows
        self.size = int(matrix.shape[0]) if rows is None else len(rows)
        #: The index row at each position.
        self.global_rows = np.arange(self.size) if rows is None else rows
        self.tiebreak = tiebreak if rows is None else tiebreak[rows]
        self.times = times if rows is None else times[rows]
        self._tags = tags
        self._built: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _once(self, name: str, build: Callable[[], Any]) -> Any:
        """``build()``, computed on first use and kept (one builder at a time)."""
        if name not in self._built:
            with self._lock:
                if name not in self._built:
                    self._built[name] = build()
        return self._built[name]

    @property
    def built(self) -> tuple[str, ...]:
        """Names of the structures built so far (``"transposed"``, ``"inverted"``,
        ``"by_time"``, ...); a structure that does not apply (``by_time`` with an undated
        candidate) is not listed."""
        return tuple(name for name, value in self._built.items() if value is not None)

    @property
    def tried(self) -> tuple[str, ...]:
        """Names of every structure asked for so far, including those that do not apply."""
        return tuple(self._built)

    def __getstate__(self) -> dict[str, Any]:
        # A pickle or deepcopy (joblib, notebooks) carries the data, not the lock nor the
        # built structures: they are rebuilt on first use, with the same results.
        state = self.__dict__.copy()
        del state["_lock"]
        state["_built"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Drop every built structure (they are rebuilt on next use; results do not change)."""
        with self._lock:
            self._built.clear()

    def restrict(self, allowed: np.ndarray | None) -> np.ndarray | None:
        """An index-wide ``allowed`` mask as a mask over this set's positions."""
        if allowed is None or self.rows is None:
            return allowed
        return allowed[self.rows]

    def columns(self, n_rows: int) -> np.ndarray:
        """Index row to position in this set, -1 for a row outside it."""
        column_of = np.full(n_rows, -1, dtype=np.int64)
        column_of[self.global_rows] = np.arange(self.size)
        return column_of

    # ------------------------------------------------------------ the reference path's

    @property
    def transposed(self) -> sp.csr_matrix:
        """The set's rows transposed, float64 with sorted indices (terms x positions)."""

        def build() -> sp.csr_matrix:
            rows = self.matrix if self.rows is None else self.matrix[self.rows]
            transposed = sp.csr_matrix(rows.T, dtype=np.float64)
            transposed.sort_indices()
            return transposed

        return self._once("transposed", build)

    @property
    def tags_transposed(self) -> sp.csr_matrix | None:
        """The set's tag rows transposed, float64 (tags x positions); ``None`` without tags."""
        if self._tags is None:
            return None
        tags = self._tags

        def build() -> sp.csr_matrix:
            rows = tags if self.rows is None else tags[self.rows]
            transposed = sp.csr_matrix(rows.T, dtype=np.float64)
            transposed.sort_indices()
            return transposed

        return self._once("tags_transposed", build)

    # ------------------------------------------------------------ the compiled path's

    @property
    def inverted(self) -> sp.csr_matrix:
        """The inverted index of the set, columns in position order (float32)."""
        from .kernels import inverted_index

        return self._once("inverted", lambda: inverted_index(self.matrix, self.rows))

    @property
    def by_time(self) -> ByTime | None:
        """The set ordered by time, or ``None`` when a candidate is undated.

        Undated stories are exempt from the window, so they cannot sit in one contiguous
        time range.
        """

        def build() -> ByTime | None:
            if np.isnan(self.times).any():
                return None
            from .kernels import inverted_index

            order = np.argsort(self.times, kind="stable")
            return ByTime(
                order, self.times[order], inverted_index(self.matrix, self.global_rows[order])
            )

        return self._once("by_time", build)


@dataclass(frozen=True)
class Settings:
    """How a backend runs (never what it returns).

    Attributes
    ----------
    working_memory : float
        MiB a dense block of scores may use (the reference backend).
    n_threads : int
        Threads of the compiled kernels.
    pools : SharedPools
        Whole-set pools a batch job keeps (the compiled backend).
    pair_once : bool
        A whole-set batch may score each pair once (the compiled backend).
    """

    working_memory: float
    n_threads: int
    pools: SharedPools
    pair_once: bool = False


class SharedPools:
    """Ranked pools of whole candidate sets, kept while a batch job scores every article.

    Inactive by default; :meth:`active` turns it on for a ``with`` block (not re-entrant).
    Costs ``16 * pool`` bytes per article while it lasts.
    """

    def __init__(self) -> None:
        self._pools: dict[tuple, Result] | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # Pools live for one batch job in one process; a copy starts inactive, with its lock.
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]

    @property
    def on(self) -> bool:
        """Whether pools are being kept."""
        return self._pools is not None

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Keep pools within the block; drop them at its end."""
        self._pools = {}
        try:
            yield
        finally:
            self._pools = None

    def get(self, key: tuple, compute: Callable[[], Result]) -> Result | None:
        """The pool under ``key``, computed once; ``None`` when inactive."""
        pools = self._pools
        if pools is None:
            return None
        with self._lock:
            found = pools.get(key)
            if found is None:
                found = pools[key] = compute()
        return found
