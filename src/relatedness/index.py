"""The exact similarity index: normalised rows grouped by section, queried in memory-bounded blocks.

``SimilarityIndex`` owns the state (rows, section codes, tie-break ranks) and organises the
candidates by section, so a ``section_policy="same"`` query only ever touches the rows of its
own section: the work is the sum of the squared section sizes, not the square of the archive.
The arithmetic lives in :mod:`relatedness._topk`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import scipy.sparse as sp

from ._topk import block_rows_for, topk_block

__all__ = ["SECTION_POLICIES", "SimilarityIndex", "tiebreak_ranks"]

SectionPolicy = Literal["same", "any", "prefer"]
SECTION_POLICIES: tuple[str, ...] = ("same", "any", "prefer")

Result = tuple[np.ndarray, np.ndarray]


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
    """

    def __init__(
        self,
        matrix: sp.csr_matrix,
        section_codes: np.ndarray,
        tiebreak: np.ndarray,
        working_memory: float = 256,
    ) -> None:
        self.matrix = matrix
        self.section_codes = np.asarray(section_codes, dtype=np.int64)
        self.tiebreak = np.asarray(tiebreak, dtype=np.int64)
        self.working_memory = working_memory
        n_sections = int(self.section_codes.max()) + 1 if len(self.section_codes) else 0
        order = np.argsort(self.section_codes, kind="stable")
        bounds = np.searchsorted(self.section_codes[order], np.arange(n_sections + 1))
        self.groups = [order[bounds[s] : bounds[s + 1]] for s in range(n_sections)]
        # Where each row sits inside its own section group (for excluding it by position).
        self.position_in_group = np.empty(len(self.section_codes), dtype=np.int64)
        for group in self.groups:
            self.position_in_group[group] = np.arange(len(group))
        self._transposed: dict[int, sp.csr_matrix] = {}

    @property
    def n_articles(self) -> int:
        """Number of rows."""
        return int(self.matrix.shape[0])

    def _candidates_t(self, section: int) -> sp.csr_matrix:
        """Transposed float64 rows of one section (``-1``: all rows), built once and cached."""
        cached = self._transposed.get(section)
        if cached is None:
            rows = self.matrix if section < 0 else self.matrix[self.groups[section]]
            cached = sp.csr_matrix(rows.T, dtype=np.float64)
            cached.sort_indices()
            self._transposed[section] = cached
        return cached

    def _run(
        self,
        queries: sp.csr_matrix,
        candidate_rows: np.ndarray | None,
        section: int,
        exclude: np.ndarray,
        k: int,
        allowed: np.ndarray | None,
    ) -> list[Result]:
        """Top-k of each query against one candidate set, block by block."""
        cand_t = self._candidates_t(section)
        n_cand = cand_t.shape[1]
        tiebreak = self.tiebreak if candidate_rows is None else self.tiebreak[candidate_rows]
        if allowed is not None and candidate_rows is not None:
            allowed = allowed[candidate_rows]
        step = block_rows_for(n_cand, self.working_memory)
        out: list[Result] = []
        q64 = sp.csr_matrix(queries, dtype=np.float64)
        for start in range(0, q64.shape[0], step):
            stop = start + step
            columns, scores = topk_block(
                q64[start:stop], cand_t, k, exclude[start:stop], tiebreak, allowed
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
            return self._run(queries, None, -1, self_rows, k, allowed)

        for section in np.unique(sections):
            which = np.flatnonzero(sections == section)
            if section < 0:
                continue  # unknown section: nothing is "same"; "prefer" fills below
            group = self.groups[section]
            own = self_rows[which]
            exclude = np.where(own >= 0, self.position_in_group[np.maximum(own, 0)], -1)
            found = self._run(queries[which], group, int(section), exclude, k, allowed)
            for i, result in zip(which, found, strict=True):
                results[i] = result

        if policy == "prefer":
            short = np.flatnonzero([len(r[0]) < k for r in results])
            if short.size:
                results = self._fill_from_other_sections(
                    queries, self_rows, sections, k, allowed, results, short
                )
        return results

    def _fill_from_other_sections(
        self,
        queries: sp.csr_matrix,
        self_rows: np.ndarray,
        sections: np.ndarray,
        k: int,
        allowed: np.ndarray | None,
        results: list[Result],
        short: np.ndarray,
    ) -> list[Result]:
        """Append the best rows of the other sections to lists shorter than ``k``."""
        results = list(results)
        for section in np.unique(sections[short]):
            which = short[sections[short] == section]
            other = self.section_codes != section
            mask = other if allowed is None else other & allowed
            found = self._run(queries[which], None, -1, self_rows[which], k, mask)
            for i, (rows, scores) in zip(which, found, strict=True):
                have_rows, have_scores = results[i]
                need = k - len(have_rows)
                results[i] = (
                    np.concatenate([have_rows, rows[:need]]),
                    np.concatenate([have_scores, scores[:need]]),
                )
        return results
