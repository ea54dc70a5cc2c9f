"""The engine: exact cosine top-k under the rules of a query, behind one checked door.

- :mod:`~relatedness.engine.api`: :class:`SimilarityIndex`, the door (``query``).
- :mod:`~relatedness.engine.rules`: :class:`Rules`, every rule of a query as one type.
- :mod:`~relatedness.engine.candidates`: candidate sets and the structures built from them.
- :mod:`~relatedness.engine.reference` and :mod:`~relatedness.engine.compiled`: the two
  backends, one signature and one contract (the scipy path is the oracle of the compiled one).
- :mod:`~relatedness.engine.kernels`: the numba kernels the compiled backend runs.
- :mod:`~relatedness.engine.topk`: the one top-k of a dense block, the tie rule, block sizes.
- :mod:`~relatedness.engine.pools`: the one pool-growth loop.
- :mod:`~relatedness.engine.postpass`: choosing a list from a pool (copies, quotas, MMR).
- :mod:`~relatedness.engine.feedback`: the Rocchio expansion of a query.
- :mod:`~relatedness.engine.duplicates`: near-duplicate groups.

The engine knows rows, sections, times and tags; it knows nothing of articles, text or files.
"""

from __future__ import annotations

from .api import SECTION_POLICIES, SectionPolicy, SimilarityIndex
from .candidates import take_rows
from .duplicates import duplicate_groups
from .feedback import rocchio
from .pools import grow
from .postpass import choose, row_cosines, select
from .rules import Rules, days_since_epoch, outside_window, time_rules
from .topk import block_rows, tiebreak_ranks, topk_block

__all__ = [
    "SECTION_POLICIES",
    "Rules",
    "SectionPolicy",
    "SimilarityIndex",
    "block_rows",
    "choose",
    "days_since_epoch",
    "duplicate_groups",
    "grow",
    "outside_window",
    "rocchio",
    "row_cosines",
    "select",
    "take_rows",
    "tiebreak_ranks",
    "time_rules",
    "topk_block",
]
