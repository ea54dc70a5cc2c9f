"""Public path of the similarity index, kept for users; the code lives in
:mod:`relatedness.engine`."""

from __future__ import annotations

from .engine import SECTION_POLICIES, SimilarityIndex, rocchio, take_rows, tiebreak_ranks

__all__ = ["SECTION_POLICIES", "SimilarityIndex", "rocchio", "take_rows", "tiebreak_ranks"]
