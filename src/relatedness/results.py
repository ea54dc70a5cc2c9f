"""The result records: one entry of a "Related articles" box, and why it is there."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

__all__ = ["ArticleId", "Explanation", "Related", "TermContribution", "UpdateReport"]

#: An article id: a str or an int, one type per corpus (``1`` and ``"1"`` are different ids).
ArticleId = str | int


@dataclass(frozen=True, slots=True)
class TermContribution:
    """How much one shared term, through one field of the related article, adds to the score."""

    term: str
    field: str
    contribution: float


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why an article is related: contributions that add up to its score.

    ``score == sum(t.contribution for t in terms) + feedback + tags`` (up to float
    rounding). ``terms`` are only terms that both articles contain; with relevance feedback
    on, the part of the score that the query's neighbours added (their terms, and their
    share of the shared terms' weight) is ``feedback``, stated separately. Term
    contributions already include the recency ``decay`` factor; ``cosine`` is the plain
    similarity before decay and the tag bonus.
    """

    score: float
    cosine: float
    decay: float
    tags: float
    terms: tuple[TermContribution, ...]
    feedback: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "score": self.score,
            "cosine": self.cosine,
            "decay": self.decay,
            "tags": self.tags,
            "feedback": self.feedback,
            "terms": [
                {"term": t.term, "field": t.field, "contribution": t.contribution}
                for t in self.terms
            ],
        }


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
    pinned : bool
        An editor pinned it to this article's box (it comes first, whatever its score).
    explanation : Explanation or None
        Present when asked for (``related(..., explain=True)``).
    """

    id: ArticleId
    score: float
    title: str
    section: str
    snippet: str
    published: dt.date | dt.datetime | None = None
    url: str = ""
    pinned: bool = False
    explanation: Explanation | None = None

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
            "pinned": self.pinned,
            **({"explanation": self.explanation.to_dict()} if self.explanation else {}),
        }


@dataclass(frozen=True)
class UpdateReport:
    """What :meth:`RelatedArticles.add <relatedness.RelatedArticles.add>` did, and whether
    the model should be refitted.

    Attributes
    ----------
    added : list of ids
    oov_rate : float
        Share of the new articles' word occurrences outside the vocabulary once it has
        grown (words still pending: seen in fewer than ``min_df`` added articles). Word
        pairs are left out: most occur once and are pruned at fit too.
    idf_drift : float
        Mean absolute difference, over the vocabulary, between the idf in use and the idf
        every article counted so far (fitted and added since) would give.
    needs_refit : bool
        ``oov_rate > 0.2``, ``idf_drift > 0.1`` or the archive grew by more than half.
    reweighed : list of ids
        Articles added earlier whose rows changed because a term they hold entered the
        vocabulary: their lists, and lists near them, may change too (pass them to
        ``affected()`` with ``added``).
    new_terms : list of str
        The terms that entered the vocabulary.
    """

    added: list[ArticleId]
    oov_rate: float
    idf_drift: float
    needs_refit: bool
    reweighed: list[ArticleId] = dataclasses.field(default_factory=list)
    new_terms: list[str] = dataclasses.field(default_factory=list)
