"""The fitted archive as plain data: every article's row and the fields its box shows.

An :class:`Archive` is what a model holds besides its parameters: the fitted vectorizer, the
normalised TF-IDF rows (and their norms before normalisation), and per article its id, cleaned
title, section, publication time, url, snippet, tags, plus the ids taken down. The model files
(:mod:`relatedness.store`) write and read exactly this record; the query planner
(:mod:`relatedness.ranking`) is built from it. Nothing here ranks or touches a file.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from .articles import Article, Rejected, check_articles
from .features.growth import Grown, Growth
from .features.tfidf import FieldTfidfVectorizer
from .results import ArticleId
from .text import clean_text, make_snippet
from .validation import shown

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
    growth : Growth or None
        The term counts of the articles added since the fit (the last ``growth.n_added``
        rows), from which the vocabulary grows; ``None``: nothing added.
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
    growth: Growth | None = None

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

    def grown(self, step: Grown, more: Archive) -> Archive:
        """This archive after one vocabulary growth step (see :mod:`relatedness.features.growth`).

        The rows ``step`` re-weighed are replaced, ``more`` (the new articles, in the grown
        vocabulary) is appended; the vectorizer and the counts are ``step``'s; removals are
        kept.
        """
        width = len(step.vectorizer.vocabulary_)
        first_added = self.n_articles - (0 if self.growth is None else self.growth.n_added)
        rows = first_added + step.reweighed
        matrix = sp.csr_matrix(
            (self.matrix.data, self.matrix.indices, self.matrix.indptr),
            shape=(self.n_articles, width),
        )
        norms = np.asarray(self.norms, dtype=np.float64)
        if len(rows):
            matrix = _replace_rows(matrix, rows, step.reweighed_rows)
            norms = norms.copy()
            norms[rows] = step.reweighed_norms
        return Archive(
            vectorizer=step.vectorizer,
            matrix=sp.vstack([matrix, more.matrix], format="csr"),
            norms=np.concatenate([norms, more.norms]),
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
            growth=step.growth,
        )

    @property
    def n_articles(self) -> int:
        """Number of articles (rows)."""
        return len(self.ids)

    @property
    def id_type(self) -> str:
        """``"int"`` or ``"str"``: the one id type of the archive."""
        return "int" if self.ids and isinstance(self.ids[0], int) else "str"


def _replace_rows(matrix: sp.csr_matrix, rows: np.ndarray, new: sp.csr_matrix) -> sp.csr_matrix:
    """``matrix`` with ``rows`` replaced by the rows of ``new`` (values moved, not computed:
    each is multiplied by exactly 1 or 0)."""
    keep = np.ones(matrix.shape[0], dtype=matrix.dtype)
    keep[rows] = 0
    kept = sp.csr_matrix(sp.diags(keep) @ matrix)
    kept.eliminate_zeros()
    place = sp.csr_matrix(
        (np.ones(len(rows), dtype=new.dtype), (rows, np.arange(len(rows)))),
        shape=(matrix.shape[0], len(rows)),
    )
    out = sp.csr_matrix(kept + place @ new)
    out.sort_indices()
    return out


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
    warn_cut(vectorizer, checked)
    return Archive.of(vectorizer, matrix, vectorizer.row_norms_, checked, cleaned, snippet_chars)


def warn_cut(vectorizer: FieldTfidfVectorizer, articles: Sequence[Article]) -> None:
    """Warn, naming the ids, when a body was cut at ``max_chars`` (BAD_INPUTS.md row 7).

    Only a body longer than ``max_chars`` can be cut; those (rare) are cleaned once more with
    twice the cap, which is longer than ``max_chars`` exactly when the cap cut the text (a
    cut backs off at most a tenth of the cap to keep a character whole).
    """
    cap = vectorizer.max_chars
    cut = [
        a.id
        for a in articles
        if len(a.body) > cap
        and len(
            clean_text(
                a.body,
                max_chars=2 * cap,
                boilerplate=vectorizer.boilerplate,
                extra_patterns=tuple(vectorizer.boilerplate_patterns),
            )
        )
        > cap
    ]
    if cut:
        warnings.warn(
            f"{len(cut)} article bodies were longer than max_chars={cap} characters after "
            f"cleaning and were cut there (e.g. ids {', '.join(shown(i) for i in cut[:5])}); raise "
            "max_chars to index more of them.",
            UserWarning,
            stacklevel=4,
        )
