"""The reference backend: exact top-k in dense blocks of scipy sparse products.

Every candidate of the set is scored for every query of a block (``q @ rows.T``, float64); the
:class:`~relatedness.engine.rules.Rules` turn cosines into scores on the whole block; the
one top-k (:func:`~relatedness.engine.topk.topk_block`) selects. Block size follows
``working_memory`` and never changes a result. This is the path without numba, and the oracle
the compiled backend is tested against.

Same signature and contract as :func:`relatedness.engine.compiled.run`; nothing is validated
here (:class:`~relatedness.engine.api.SimilarityIndex.query` is the checked door).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from .candidates import CandidateSet, Result, Settings
from .rules import Rules
from .topk import block_rows, topk_block

__all__ = ["run"]


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

    Parameters
    ----------
    candidates : CandidateSet
    queries : csr_matrix of shape (m, n_terms)
        Normalised query rows.
    exclude : ndarray of shape (m,), int64
        Each query's own position in the set (left out), or -1.
    k : int
    allowed : ndarray of shape (n,), bool, optional
        Index rows that may be returned.
    rules : Rules, optional
        The queries' rules.
    own_rows : bool
        The queries are the set's own rows (unused here: every pair of a block is scored).
    settings : Settings

    Returns
    -------
    list of (rows, scores)
        Per query: index rows and scores, best first, at most ``k``.
    """
    del own_rows
    transposed = candidates.transposed
    allowed_here = candidates.restrict(allowed)
    column_of = None
    if rules is not None and rules.exclude_rows is not None:
        column_of = candidates.columns(candidates.matrix.shape[0])
    times = candidates.times if rules is not None and rules.times is not None else None
    tags_t = candidates.tags_transposed if rules is not None and rules.adds_tags else None
    step = block_rows(candidates.size, settings.working_memory)
    out: list[Result] = []
    q64 = sp.csr_matrix(queries, dtype=np.float64)
    for start in range(0, q64.shape[0], step):
        stop = min(start + step, q64.shape[0])
        pairs = None
        scorer = _clip_cosines  # Rules.score clips as well; rules=None needs it too
        if rules is not None:
            block_rules = rules.take(slice(start, stop))
            if column_of is not None and block_rules.exclude_rows is not None:
                pairs = _local_pairs(block_rules.exclude_rows, column_of)

            def scorer(block: np.ndarray, block_rules: Rules = block_rules) -> np.ndarray:
                shared = None
                if tags_t is not None and block_rules.tags is not None:
                    shared = (sp.csr_matrix(block_rules.tags, dtype=np.float64) @ tags_t).toarray()
                return block_rules.score(block, times, shared)

        columns, scores = topk_block(
            q64[start:stop],
            transposed,
            k,
            exclude[start:stop],
            candidates.tiebreak,
            allowed_here,
            scorer,
            pairs,
        )
        for cols, vals in zip(columns, scores, strict=True):
            found = cols >= 0
            out.append((candidates.global_rows[cols[found]], vals[found]))
    return out


def _clip_cosines(block: np.ndarray) -> np.ndarray:
    """A cosine is at most 1: float32 rows round two identical articles to 1.00000004."""
    return np.minimum(block, 1.0, out=block)


def _local_pairs(
    exclude_rows: Sequence[np.ndarray], column_of: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """(block row, candidate column) pairs for the rows each query must not return."""
    qi: list[np.ndarray] = []
    cj: list[np.ndarray] = []
    for i, rows in enumerate(exclude_rows):
        if len(rows):
            cols = column_of[np.asarray(rows, dtype=np.int64)]
            cols = cols[cols >= 0]
            qi.append(np.full(len(cols), i, dtype=np.int64))
            cj.append(cols)
    if not qi:
        return None
    return np.concatenate(qi), np.concatenate(cj)
