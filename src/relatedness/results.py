"""The result record: one entry of a "Related articles" box."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

__all__ = ["Related"]


@dataclass(frozen=True, slots=True)
class Related:
    """One related article, with what the box shows.

    Attributes
    ----------
    id : str or int
        The related article's id.
    score : float
        Cosine similarity in (0, 1]; higher is more related.
    title : str
        Cleaned headline.
    section : str
        Its section (``""`` when none).
    snippet : str
        The opening of its cleaned body, cut at a word boundary and ended with "…".
    published : datetime.date, datetime.datetime or None
    url : str
    """

    id: str | int
    score: float
    title: str
    section: str
    snippet: str
    published: dt.date | dt.datetime | None = None
    url: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``published`` as an ISO string, score rounded to 6 places)."""
        return {
            "id": self.id,
            "score": round(self.score, 6),
            "title": self.title,
            "section": self.section,
            "snippet": self.snippet,
            "published": None if self.published is None else self.published.isoformat(),
            "url": self.url,
        }
