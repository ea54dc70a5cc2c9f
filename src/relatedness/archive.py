"""The fitted archive as plain data: every article's row and the fields its box shows.

An :class:`Archive` is what a model holds besides its parameters: the fitted vectorizer, the
normalised TF-IDF rows (and their norms before normalisation), and per article its id, cleaned
title, section, publication time, url, snippet, tags, plus the ids taken down. The model files
(:mod:`relatedness.store`) write and read exactly this record; the query planner
(:mod:`relatedness.ranking`) is built from it. Nothing here ranks or touches a file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from .articles import Article, Rejected, check_articles
from .features.tfidf import FieldTfidfVectorizer
from .results import ArticleId
from .text import make_snippet

__all__ = ["Archive", "fit_archive"]


@dataclass
class Archive:
    """A fitted archive: rows in fit order and the fields of each article.

    Attributes
    ----------
    vectorizer : FieldTfidfVectorizer
        Fitted; turns an unseen article into a row of the same space.
    matrix : csr_matrix of shape (n, n_terms)
        L2-normalised float32 rows (an article with no indexable text has an all-zero row).
    norms : ndarray of shape (n,)
        Each row's norm before normalisation (explanations split a row back into fields).
    ids, titles, sections, published, urls, snippets, tags : lists of length n
        The articles' fields as the box shows them (titles cleaned, snippets cut).
    removed : list of ids
        Articles taken down (kept so their ids stay known), in fit order.
    languages : list of str, optional
        Each article's detected language, under ``language="auto"`` (``None`` otherwise).
    """

    vectorizer: FieldTfidfVectorizer
    matrix: sp.csr_matrix
    norms: np.ndarray
    ids: list[ArticleId]
    titles: list[str]
    sections: list[str]
    published: list[dt.date | dt.datetime | None]
    urls: list[str]
    snippets: list[str]
    tags: list[list[str]]
    removed: list[ArticleId] = field(default_factory=list)
    languages: list[str] | None = None

    @classmethod
    def of(
        cls,
        vectorizer: FieldTfidfVectorizer,
        matrix: sp.csr_matrix,
        norms: np.ndarray,
        articles: Sequence[Article],
        cleaned: Sequence[Mapping[str, str]],
        snippet_chars: int,
    ) -> Archive:
        """The archive of checked ``articles`` with their cleaned text and rows."""
        return cls(
            vectorizer=vectorizer,
            matrix=matrix,
            norms=np.asarray(norms, dtype=np.float64),
            ids=[a.id for a in articles],
            titles=[c["title"] for c in cleaned],
            sections=[a.section for a in articles],
            published=[a.published for a in articles],
            urls=[a.url for a in articles],
            snippets=[make_snippet(c["body"], snippet_chars) for c in cleaned],
            tags=[list(a.tags) for a in articles],
            languages=[c["language"] for c in cleaned]
            if cleaned and "language" in cleaned[0]
            else None,
        )

    def extended(self, more: Archive) -> Archive:
        """This archive followed by ``more`` (same vectorizer); removals are kept."""
        return Archive(
            vectorizer=self.vectorizer,
            matrix=sp.vstack([self.matrix, more.matrix], format="csr"),
            norms=np.concatenate([self.norms, more.norms]),
            ids=[*self.ids, *more.ids],
            titles=[*self.titles, *more.titles],
            sections=[*self.sections, *more.sections],
            published=[*self.published, *more.published],
            urls=[*self.urls, *more.urls],
            snippets=[*self.snippets, *more.snippets],
            tags=[*self.tags, *more.tags],
            removed=list(self.removed),
            languages=None
            if self.languages is None or more.languages is None
            else [*self.languages, *more.languages],
        )

    @property
    def n_articles(self) -> int:
        """Number of articles (rows)."""
        return len(self.ids)

    @property
    def id_type(self) -> str:
        """``"int"`` or ``"str"``: the one id type of the archive."""
        return "int" if self.ids and isinstance(self.ids[0], int) else "str"


def fit_archive(
    articles: Iterable[Any],
    vectorizer_params: Mapping[str, Any],
    *,
    on_invalid: Literal["raise", "skip"],
    on_duplicate: Literal["raise", "keep_last"],
    snippet_chars: int,
    rejects: list[Rejected],
) -> Archive:
    """Check ``articles``, fit a vectorizer on them and return their archive.

    Rows left out under ``on_invalid="skip"`` are appended to ``rejects``. The vectorizer's
    helper process is forked before the articles are read (see
    :class:`~relatedness.features.parallel.ForkWorker`: forked later, it copies much of this
    process' memory) and closed once the articles are counted or refused.
    """
    vectorizer = FieldTfidfVectorizer(**vectorizer_params)
    worker = vectorizer.start_worker(len(articles) if isinstance(articles, Sized) else None)
    try:
        checked = check_articles(
            articles, on_invalid=on_invalid, on_duplicate=on_duplicate, rejects=rejects
        )
        matrix, cleaned = vectorizer.fit_transform_cleaned(checked, worker)
    finally:
        if worker is not None:
            worker.close()
    return Archive.of(vectorizer, matrix, vectorizer.row_norms_, checked, cleaned, snippet_chars)
