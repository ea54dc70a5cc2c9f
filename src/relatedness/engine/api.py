"""The engine's door: :class:`SimilarityIndex`, exact cosine top-k under the rules of a query.

The index owns the normalised rows and what the rules read of each article (section, tie-break
rank, publication time, tags), and groups the rows by section into candidate sets, so a
``section_policy="same"`` query only ever touches the rows of its own section: the work is the
sum of the squared section sizes, not the square of the archive.

:meth:`SimilarityIndex.query` is the one checked entry: it checks its arguments once, then hands
each candidate set to a backend, the compiled kernels (:mod:`~relatedness.engine.compiled`) when
numba is installed, else the scipy reference (:mod:`~relatedness.engine.reference`). Both have
one signature and one contract (same rules, same ranking, same bits), and nothing behind this
door validates again.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Literal

import numpy as np
import scipy.sparse as sp

from ..exceptions import InvalidParameterError
from ..params import SECTION_POLICIES
from . import compiled, reference
from .candidates import CandidateSet, Result, Settings, SharedPools, take_rows
from .rules import Rules

__all__ = ["SECTION_POLICIES", "SectionPolicy", "SimilarityIndex"]

SectionPolicy = Literal["same", "any", "prefer"]

#: A backend: one candidate set's top-k (see :func:`relatedness.engine.reference.run`).
Backend = Callable[..., list[Result]]


class SimilarityIndex:
    """Exact cosine top-k over L2-normalised rows, with section-restricted candidates.

    Parameters
    ----------
    matrix : csr_matrix of shape (n, n_terms)
        L2-normalised rows (all-zero rows allowed: they match nothing).
    section_codes : ndarray of shape (n,), int
        Section of each row, ``0 .. n_sections - 1``.
    tiebreak : ndarray of shape (n,), int64
        Distinct ranks, smaller wins ties (see :func:`~relatedness.engine.topk.tiebreak_ranks`).
    working_memory : float, default 256
        MiB a dense score block may use.
    times : ndarray of shape (n,), float, optional
        Publication times in days, NaN when undated (for windows and decay).
    tags : csr_matrix of shape (n, n_tags), optional
        L2-normalised tag indicator rows (for the tag bonus).

    Attributes
    ----------
    groups : list of ndarray
        The rows of each section, in row order.
    position_in_group : ndarray of shape (n,)
        Where each row sits inside its own section's group.
    use_kernels : bool or None
        Use the compiled backend (``None``: when numba is installed, decided on first use).
        Results do not depend on it.
    n_threads : int
        Threads of the compiled backend (results do not depend on it).
    pair_once : bool
        Score each pair once when a batch is a whole candidate set, and let batch jobs share
        whole-set pools (the compiled backend's all-pairs kernel). Off by default: on every
        real corpus measured (BBC, Fake.br, HuffPost, SaudiNewsNet) batched queries were
        faster (``benchmarks/README.md``). Results do not depend on it.
    """

    pair_once: bool = False

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
        self.position_in_group = np.empty(n, dtype=np.int64)
        for group in self.groups:
            self.position_in_group[group] = np.arange(len(group))
        self.n_threads = min(os.cpu_count() or 1, 8)
        self.use_kernels: bool | None = None
        self._sets: dict[int, CandidateSet] = {}
        self._pools = SharedPools()

    @property
    def n_articles(self) -> int:
        """Number of rows."""
        return int(self.matrix.shape[0])

    @property
    def compiled(self) -> bool:
        """Whether the compiled backend serves this index (numba installed and not turned off)."""
        if self.use_kernels is None:
            from .kernels import NUMBA_AVAILABLE

            self.use_kernels = NUMBA_AVAILABLE
        return bool(self.use_kernels)

    def candidates(self, section: int) -> CandidateSet:
        """The candidate set of a section code (``-1``: every row), made once."""
        found = self._sets.get(section)
        if found is None:
            rows = None if section < 0 else self.groups[section]
            found = CandidateSet(section, self.matrix, rows, self.tiebreak, self.times, self.tags)
            self._sets[section] = found
        return found

    @property
    def built(self) -> dict[int, tuple[str, ...]]:
        """Per candidate set (section code), the search structures built so far."""
        return {section: s.built for section, s in self._sets.items() if s.built}

    @property
    def tried(self) -> dict[int, tuple[str, ...]]:
        """Per candidate set, every structure asked for so far, including those that do not
        apply (see :attr:`CandidateSet.built`)."""
        return {section: s.tried for section, s in self._sets.items() if s.tried}

    def forget(self) -> None:
        """Drop every built search structure (rebuilt on next use; results do not change)."""
        for candidate_set in self._sets.values():
            candidate_set.forget()

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
        with self._pools.active():
            yield

    @property
    def pools_active(self) -> bool:
        """Whether :meth:`shared_pools` is in effect."""
        return self._pools.on

    # ------------------------------------------------------------------ the door

    def query(
        self,
        queries: sp.csr_matrix,
        self_rows: np.ndarray,
        sections: np.ndarray,
        k: int,
        policy: SectionPolicy = "same",
        allowed: np.ndarray | None = None,
        rules: Rules | None = None,
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
        rules : Rules, optional
            Time window, decay, tags, duplicates and per-query exclusions, also applied
            before top-k.
        own_rows : bool, default False
            The queries are the index's own rows ``self_rows``, unchanged. Then a batch of
            every row of a candidate set, in order, may score each pair once.

        Returns
        -------
        list of (rows, scores)
            Per query: index rows (int64) and scores (float64), best first, length <= k.

        Raises
        ------
        InvalidParameterError
            An argument has the wrong shape, type or range (a bug of the caller: the façade
            never passes one).
        """
        self_rows, sections = self._check(queries, self_rows, sections, k, policy, allowed, rules)
        m = queries.shape[0]
        if policy == "any":
            return self._run(-1, queries, self_rows, k, allowed, rules, own_rows)
        empty: Result = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))
        results: list[Result] = [empty] * m
        for section in np.unique(sections):
            if section < 0:
                continue  # unknown section: nothing is "same"; "prefer" fills below
            which = np.flatnonzero(sections == section)
            own = self_rows[which]
            exclude = np.where(own >= 0, self.position_in_group[np.maximum(own, 0)], -1)
            # A query of another section (an unseen article) has no own column here.
            exclude[self.section_codes[np.maximum(own, 0)] != section] = -1
            found = self._backend()(
                self.candidates(int(section)),
                take_rows(queries, which),
                exclude,
                k,
                allowed,
                None if rules is None else rules.take(which),
                own_rows=own_rows,
                settings=self._settings(),
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

    def _check(
        self,
        queries: sp.csr_matrix,
        self_rows: np.ndarray,
        sections: np.ndarray,
        k: int,
        policy: str,
        allowed: np.ndarray | None,
        rules: Rules | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The door's checks; returns ``self_rows`` and ``sections`` as int64 arrays."""
        problems = []
        if not sp.issparse(queries) or queries.format != "csr":
            problems.append(f"queries must be a CSR matrix, got {type(queries).__name__}")
        elif queries.shape[1] != self.matrix.shape[1]:
            problems.append(
                f"queries have {queries.shape[1]} columns, the index {self.matrix.shape[1]}"
            )
        m = queries.shape[0] if not problems else 0
        own = np.asarray(self_rows)
        codes = np.asarray(sections)
        for name, array, high in (
            ("self_rows", own, self.n_articles),
            ("sections", codes, len(self.groups)),
        ):
            if array.ndim != 1 or len(array) != m or array.dtype.kind not in "iu":
                problems.append(f"{name} must be {m} ints")
            elif m and not (int(array.min()) >= -1 and int(array.max()) < high):
                problems.append(f"{name} must lie in [-1, {high})")
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            problems.append(f"k must be an int >= 1, got {k!r}")
        if policy not in SECTION_POLICIES:
            problems.append(f"policy must be one of {SECTION_POLICIES}, got {policy!r}")
        if allowed is not None and (
            not isinstance(allowed, np.ndarray)
            or allowed.dtype != bool
            or allowed.shape != (self.n_articles,)
        ):
            problems.append(f"allowed must be {self.n_articles} bools")
        if rules is not None and rules.size not in (0, m):
            problems.append(f"rules describe {rules.size} queries, not {m}")
        if problems:
            msg = "SimilarityIndex.query: " + "; ".join(problems) + "."
            raise InvalidParameterError(msg)
        return own.astype(np.int64, copy=False), codes.astype(np.int64, copy=False)

    def _backend(self) -> Backend:
        return compiled.run if self.compiled else reference.run

    def _settings(self) -> Settings:
        return Settings(self.working_memory, self.n_threads, self._pools, self.pair_once)

    def _run(
        self,
        section: int,
        queries: sp.csr_matrix,
        self_rows: np.ndarray,
        k: int,
        allowed: np.ndarray | None,
        rules: Rules | None,
        own_rows: bool = False,
    ) -> list[Result]:
        return self._backend()(
            self.candidates(section),
            queries,
            self_rows,
            k,
            allowed,
            rules,
            own_rows=own_rows,
            settings=self._settings(),
        )

    def _fill_from_other_sections(
        self,
        queries: sp.csr_matrix,
        self_rows: np.ndarray,
        sections: np.ndarray,
        k: int,
        allowed: np.ndarray | None,
        rules: Rules | None,
        results: list[Result],
        short: np.ndarray,
    ) -> list[Result]:
        """Append the best rows of the other sections to lists shorter than ``k``."""
        results = list(results)
        for section in np.unique(sections[short]):
            which = short[sections[short] == section]
            other = self.section_codes != section
            mask = other if allowed is None else other & allowed
            found = self._run(
                -1,
                take_rows(queries, which),
                self_rows[which],
                k,
                mask,
                None if rules is None else rules.take(which),
            )
            for i, (rows, scores) in zip(which, found, strict=True):
                have_rows, have_scores = results[i]
                need = k - len(have_rows)
                results[i] = (
                    np.concatenate([have_rows, rows[:need]]),
                    np.concatenate([have_scores, scores[:need]]),
                )
        return results
