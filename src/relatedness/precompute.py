"""Batch precompute: every article's related list, written as one JSON Lines file atomically.

Each line is ``{"id": ..., "related": [{"id", "score", "title", "section", "snippet",
"published", "url"}, ...]}`` in fit order; an article with nothing related gets an explicit
empty list, never a missing line. The file appears under its final name only when complete.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ._io import atomic_write, sweep_stale_temp

if TYPE_CHECKING:
    from .recommender import RelatedArticles

__all__ = ["PrecomputeSummary", "write_jsonl"]


@dataclass(frozen=True)
class PrecomputeSummary:
    """What a precompute run wrote."""

    path: Path
    n_articles: int
    n_empty_lists: int
    seconds: float


def write_jsonl(
    model: RelatedArticles, path: str | Path, k: int | None = None
) -> PrecomputeSummary:
    """Write every article's related list to ``path`` (JSON Lines, UTF-8), atomically.

    Parameters
    ----------
    model : RelatedArticles
        A fitted model.
    path : str or Path
        The output file; its folder is created if needed. Temp files a killed run left in that
        folder are removed first.
    k : int, optional
        Overrides the model's ``k``.

    Returns
    -------
    PrecomputeSummary
    """
    start = time.perf_counter()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temp(path.parent)
    n = empty = 0
    with atomic_write(path, "w", encoding="utf-8") as handle:
        for article_id, related in model.iter_related(k):
            row = {"id": article_id, "related": [r.to_dict() for r in related]}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
            empty += not related
    return PrecomputeSummary(path, n, empty, time.perf_counter() - start)
