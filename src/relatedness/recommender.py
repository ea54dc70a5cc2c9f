"""The façade: :class:`RelatedArticles`, the one class a news site needs.

It validates at the door, owns the fitted state, and delegates: cleaning and vectorising to
:mod:`relatedness.vectorize`, exact top-k to :mod:`relatedness.index`, files to
:mod:`relatedness.persistence`.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from . import text as _text
from ._validation import NONE, Constraint, check_k, check_params, interval, one_of
from .articles import Article, Rejected, as_datetime, check_articles
from .exceptions import (
    InvalidArticleError,
    InvalidParameterError,
    NotFittedError,
    UnknownArticleError,
)
from .index import SECTION_POLICIES, SectionPolicy, SimilarityIndex, tiebreak_ranks
from .results import Related
from .vectorize import _CONSTRAINTS as _VECTORIZER_CONSTRAINTS
from .vectorize import FieldTfidfVectorizer, document_fields

__all__ = ["RelatedArticles"]

ArticleId = str | int

#: Parameters handed to the vectorizer unchanged.
_VECTORIZER_PARAMS = (
    "fields",
    "language",
    "stop_words",
    "stem",
    "sublinear_tf",
    "min_df",
    "max_df",
    "ngram_range",
    "max_chars",
    "boilerplate",
    "boilerplate_patterns",
    "boilerplate_min_share",
)

_CONSTRAINTS: dict[str, list[Constraint]] = {
    "k": [interval("int", 1, None)],
    "section_policy": [one_of(*SECTION_POLICIES)],
    "snippet_chars": [interval("int", 20, None)],
    "working_memory": [interval("real", 1, None)],
    "on_invalid": [one_of("raise", "skip")],
    "on_duplicate": [one_of("raise", "keep_last")],
    **{name: _VECTORIZER_CONSTRAINTS[name] for name in _VECTORIZER_PARAMS},
}
_CONSTRAINTS["fields"] = [NONE, *_VECTORIZER_CONSTRAINTS["fields"]]


class RelatedArticles(BaseEstimator):
    """Related-article lists for a news archive: exact cosine over field-weighted TF-IDF.

    ``__init__`` only stores the settings; :meth:`fit` validates them and the articles.

    Parameters
    ----------
    k : int, default 5
        How many related articles a list holds at most. Lists are shorter when fewer
        candidates have a positive score (never padded with unrelated stories).
    section_policy : {"same", "any", "prefer"}, default "same"
        ``"same"``: only stories of the article's own section (the box under a politics story
        shows politics stories; articles without a section form one group). ``"any"``: all
        sections. ``"prefer"``: same-section stories first, then the best of the rest to fill
        up to ``k``. The restriction is applied before ranking, so it never starves a list.
    fields : dict, default {"title": 0.5, "body": 1.0, "tags": 1.0}
        Field weights for the TF-IDF (see :class:`~relatedness.vectorize.FieldTfidfVectorizer`).
    language : str, default "english"
        Snowball stemmer and stop word language.
    stop_words : "auto", None or list of str, default "auto"
    stem : bool, default True
    sublinear_tf : bool, default True
    min_df : int or float, default 2
    max_df : int or float, default 1.0
    ngram_range : (int, int), default (1, 1)
    max_chars : int, default 200000
        Longer cleaned bodies are cut (a 50 MB paste cannot stall a fit).
    boilerplate : bool, default True
        Apply the default boilerplate line rules.
    boilerplate_patterns : list of str, default ()
        More line patterns (regular expressions) to drop.
    boilerplate_min_share : float or None, default 0.05
        Lines in more than this share of articles (and at least 3) are dropped.
    snippet_chars : int, default 160
        Length of the snippet shown under each headline.
    working_memory : float, default 256
        MiB that one block of scores may use; bounds memory whatever the archive size.
    on_invalid : {"raise", "skip"}, default "raise"
        Articles with unusable fields raise :class:`~relatedness.InvalidArticleError` at fit,
        or are left out with a warning and listed in ``rejects_``.
    on_duplicate : {"raise", "keep_last"}, default "raise"
        Duplicate ids raise :class:`~relatedness.DuplicateIdError`, or the newest copy is kept.

    Attributes
    ----------
    ids_ : list of str or int
        Article ids in fit order.
    n_articles_ : int
    n_empty_ : int
        Articles with no indexable text: they get ``[]`` and appear in no list.
    section_names_ : list of str
        Distinct sections, sorted.
    vectorizer_ : FieldTfidfVectorizer
    index_ : SimilarityIndex
    rejects_ : list of Rejected
        Rows left out under ``on_invalid="skip"``.

    Notes
    -----
    Ranking: higher cosine first; equal scores are ordered newer first (undated articles last), then
    by id. The article itself is never in its own list (excluded by position, so an identical
    copy still ranks first), and only scores > 0 are returned.

    Examples
    --------
    >>> from relatedness import RelatedArticles
    >>> articles = [
    ...     {"id": 1, "title": "Bank holds rates", "body": "The central bank held rates.",
    ...      "section": "business"},
    ...     {"id": 2, "title": "Rates held again", "body": "Rates stay on hold at the bank.",
    ...      "section": "business"},
    ...     {"id": 3, "title": "Cup final tonight", "body": "The team plays the cup final.",
    ...      "section": "sport"},
    ... ]
    >>> model = RelatedArticles(k=3, min_df=1).fit(articles)
    >>> [r.id for r in model.related(1)]
    [2]
    """

    def __init__(
        self,
        k: int = 5,
        *,
        section_policy: Literal["same", "any", "prefer"] = "same",
        fields: Mapping[str, float] | None = None,
        language: str = "english",
        stop_words: Any = "auto",
        stem: bool = True,
        sublinear_tf: bool = True,
        min_df: float = 2,
        max_df: float = 1.0,
        ngram_range: tuple[int, int] = (1, 1),
        max_chars: int = 200_000,
        boilerplate: bool = True,
        boilerplate_patterns: Sequence[str] = (),
        boilerplate_min_share: float | None = 0.05,
        snippet_chars: int = 160,
        working_memory: float = 256,
        on_invalid: Literal["raise", "skip"] = "raise",
        on_duplicate: Literal["raise", "keep_last"] = "raise",
    ) -> None:
        self.k = k
        self.section_policy = section_policy
        self.fields = fields
        self.language = language
        self.stop_words = stop_words
        self.stem = stem
        self.sublinear_tf = sublinear_tf
        self.min_df = min_df
        self.max_df = max_df
        self.ngram_range = ngram_range
        self.max_chars = max_chars
        self.boilerplate = boilerplate
        self.boilerplate_patterns = boilerplate_patterns
        self.boilerplate_min_share = boilerplate_min_share
        self.snippet_chars = snippet_chars
        self.working_memory = working_memory
        self.on_invalid = on_invalid
        self.on_duplicate = on_duplicate

    # ------------------------------------------------------------------------------- fit

    def fit(self, articles: Iterable[Any], y: None = None) -> RelatedArticles:
        """Validate and index a corpus.

        Parameters
        ----------
        articles : iterable of dict or Article, or a pandas DataFrame
            Each with an ``id`` and any of ``title``, ``body``, ``section``, ``published``,
            ``tags``, ``url`` (see :class:`~relatedness.Article`).

        Returns
        -------
        self

        Raises
        ------
        InvalidParameterError
            A constructor setting is out of range.
        InvalidArticleError
            A field is None/NaN/bytes/not text, an id is invalid, or ids mix str and int.
        DuplicateIdError
            Two articles share an id (unless ``on_duplicate="keep_last"``).
        EmptyCorpusError
            No article has indexable text.

        Warns
        -----
        UserWarning
            Once, naming examples, when some articles have no indexable text; when df
            thresholds are relaxed for a tiny corpus; when rows are skipped or de-duplicated.
        """
        check_params(type(self).__name__, self.get_params(), _CONSTRAINTS)
        if hasattr(articles, "to_dict") and hasattr(articles, "columns"):
            from .articles import from_dataframe

            articles = from_dataframe(articles)
        rejects: list[Rejected] = []
        checked = check_articles(
            articles, on_invalid=self.on_invalid, on_duplicate=self.on_duplicate, rejects=rejects
        )
        vectorizer = FieldTfidfVectorizer(
            **{name: getattr(self, name) for name in _VECTORIZER_PARAMS}
        )
        matrix, cleaned = vectorizer._fit_transform_cleaned(checked)
        self._set_fitted(
            vectorizer=vectorizer,
            matrix=matrix,
            ids=[a.id for a in checked],
            titles=[c["title"] for c in cleaned],
            sections=[a.section for a in checked],
            published=[a.published for a in checked],
            urls=[a.url for a in checked],
            snippets=[_text.make_snippet(c["body"], self.snippet_chars) for c in cleaned],
        )
        self.rejects_ = rejects
        if self.n_empty_:
            empty_ids = [self.ids_[i] for i in np.flatnonzero(self._empty_rows)[:5]]
            warnings.warn(
                f"{self.n_empty_} articles had no indexable text after cleaning (e.g. ids "
                f"{empty_ids!r}); they get empty lists and appear in no list.",
                UserWarning,
                stacklevel=2,
            )
        return self

    def _set_fitted(
        self,
        *,
        vectorizer: FieldTfidfVectorizer,
        matrix: sp.csr_matrix,
        ids: list[ArticleId],
        titles: list[str],
        sections: list[str],
        published: list[dt.date | dt.datetime | None],
        urls: list[str],
        snippets: list[str],
    ) -> None:
        """Set every fitted attribute; shared by :meth:`fit` and :meth:`load`."""
        self.vectorizer_ = vectorizer
        self.ids_ = ids
        self._row_of = {article_id: row for row, article_id in enumerate(ids)}
        self.titles_ = titles
        self.sections_ = sections
        self.published_ = published
        self.urls_ = urls
        self.snippets_ = snippets
        self.section_names_ = sorted(set(sections))
        self._section_code = {name: code for code, name in enumerate(self.section_names_)}
        codes = np.array([self._section_code[s] for s in sections], dtype=np.int64)
        stamps = np.array(
            [np.datetime64("NaT") if p is None else np.datetime64(as_datetime(p), "s")
             for p in published],
            dtype="datetime64[s]",
        )
        self.index_ = SimilarityIndex(
            matrix, codes, tiebreak_ranks(ids, stamps), self.working_memory
        )
        self._empty_rows = np.diff(matrix.indptr) == 0
        self.n_articles_ = len(ids)
        self.n_empty_ = int(self._empty_rows.sum())
        self.rejects_ = []

    # ------------------------------------------------------------------------------- query

    def _check_fitted(self) -> None:
        if not hasattr(self, "index_"):
            msg = (
                f"this {type(self).__name__} is not fitted yet; call fit(articles) or "
                "RelatedArticles.load(path) first."
            )
            raise NotFittedError(msg)

    def _row(self, article_id: Any) -> int:
        try:
            return self._row_of[article_id]
        except (KeyError, TypeError):
            pass
        hint = ""
        alternative: Any = None
        if isinstance(article_id, str) and article_id.strip().lstrip("-").isdigit():
            alternative = int(article_id)
        elif isinstance(article_id, int) and not isinstance(article_id, bool):
            alternative = str(article_id)
        if alternative is not None and alternative in self._row_of:
            hint = f"; an {type(alternative).__name__} id {alternative!r} exists"
        msg = f"article id {article_id!r} is not in the model{hint}."
        raise UnknownArticleError(msg)

    def _k(self, k: int | None) -> int:
        return check_k(self.k if k is None else k)

    def _allowed(self, exclude: Iterable[Any] | None) -> np.ndarray | None:
        if exclude is None:
            return None
        if isinstance(exclude, str | int):
            exclude = [exclude]
        rows = [self._row_of[i] for i in exclude if i in self._row_of]
        if not rows:
            return None
        allowed = np.ones(self.n_articles_, dtype=bool)
        allowed[rows] = False
        return allowed

    def _results(self, rows: np.ndarray, scores: np.ndarray) -> list[Related]:
        return [
            Related(
                id=self.ids_[row],
                score=float(score),
                title=self.titles_[row],
                section=self.sections_[row],
                snippet=self.snippets_[row],
                published=self.published_[row],
                url=self.urls_[row],
            )
            for row, score in zip(rows.tolist(), scores.tolist(), strict=True)
        ]

    def related(
        self, article_id: ArticleId, k: int | None = None, *, exclude: Iterable[Any] | None = None
    ) -> list[Related]:
        """Return the related articles of a fitted article, best first.

        Parameters
        ----------
        article_id : str or int
            An id given to :meth:`fit`.
        k : int, optional
            Overrides the model's ``k`` for this call.
        exclude : iterable of ids, optional
            Ids never to return for this call (unknown ids are ignored). Applied before
            ranking, so the list is still filled up to ``k`` when candidates exist.

        Returns
        -------
        list of Related
            At most ``k`` entries with score > 0; ``[]`` for an article with no indexable
            text or a section with no other related story.

        Raises
        ------
        UnknownArticleError
            ``article_id`` is not in the model (a ``KeyError``).
        InvalidParameterError
            ``k`` is not an int >= 1.
        NotFittedError
            Called before :meth:`fit` or :meth:`load`.
        """
        self._check_fitted()
        k = self._k(k)
        row = self._row(article_id)
        return self._related_rows(np.array([row]), k, self._allowed(exclude))[0]

    def _related_rows(
        self, rows: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[list[Related]]:
        codes = self.index_.section_codes[rows]
        found = self.index_.query(
            self.index_.matrix[rows], rows, codes, k, self.section_policy, allowed
        )
        return [self._results(r, s) for r, s in found]

    def related_many(
        self,
        article_ids: Iterable[ArticleId],
        k: int | None = None,
        *,
        missing: Literal["raise", "skip"] = "raise",
    ) -> dict[ArticleId, list[Related]]:
        """Return the related lists of many fitted articles in one batched pass.

        Parameters
        ----------
        article_ids : iterable of str or int
        k : int, optional
        missing : {"raise", "skip"}, default "raise"
            What to do with an id the model does not hold.

        Returns
        -------
        dict
            Id to its list (as :meth:`related` returns it), in the order given.

        Raises
        ------
        UnknownArticleError
            An id is unknown and ``missing="raise"``.
        """
        self._check_fitted()
        k = self._k(k)
        check_params("related_many", {"missing": missing}, {"missing": [one_of("raise", "skip")]})
        wanted = list(dict.fromkeys(article_ids))
        if missing == "skip":
            wanted = [i for i in wanted if i in self._row_of]
        rows = np.array([self._row(i) for i in wanted], dtype=np.int64)
        lists = self._related_rows(rows, k) if len(rows) else []
        return dict(zip(wanted, lists, strict=True))

    def iter_related(
        self, k: int | None = None, *, batch_size: int = 1024
    ) -> Iterator[tuple[ArticleId, list[Related]]]:
        """Yield ``(id, related list)`` for every article, in fit order, memory-bounded.

        Parameters
        ----------
        k : int, optional
        batch_size : int, default 1024
            Articles scored per batch (each batch is further split by ``working_memory``).
        """
        self._check_fitted()
        k = self._k(k)
        for start in range(0, self.n_articles_, batch_size):
            rows = np.arange(start, min(start + batch_size, self.n_articles_))
            for row, lst in zip(rows.tolist(), self._related_rows(rows, k), strict=True):
                yield self.ids_[row], lst

    def related_to(
        self,
        article: Any,
        k: int | None = None,
        *,
        exclude: Iterable[Any] | None = None,
    ) -> list[Related]:
        """Return related articles for an unseen article or a bare text.

        Parameters
        ----------
        article : str, dict or Article
            A str is taken as the body. A dict/Article may carry ``title``, ``body``, ``tags``
            and ``section``; its section is used by the section policy when it is given (a
            section the model has never seen has no same-section stories: ``"same"`` returns
            ``[]``, ``"prefer"`` falls back to the others); without a section every section is
            searched. If it carries an ``id`` the model holds, that article is left out.
        k : int, optional
        exclude : iterable of ids, optional

        Returns
        -------
        list of Related
            ``[]`` when the text shares no term with the archive.

        Raises
        ------
        InvalidArticleError
            ``title``/``body`` is not a str (e.g. None or bytes).
        """
        self._check_fitted()
        k = self._k(k)
        if not isinstance(article, str | Mapping | Article):
            msg = (
                f"related_to takes a str, a dict or an Article, got a {type(article).__name__}."
            )
            raise InvalidArticleError(msg)
        title, body, tags = document_fields(article)
        for name, value in (("title", title), ("body", body)):
            if not isinstance(value, str):
                msg = f"related_to: field {name!r} is a {type(value).__name__}; pass text as str."
                raise InvalidArticleError(msg)
        if isinstance(article, str):
            section, own_id = None, None
        elif isinstance(article, Article):
            section, own_id = article.section or None, article.id
        else:
            section, own_id = article.get("section") or None, article.get("id")
        query = self.vectorizer_.transform([{"title": title, "body": body, "tags": tags}])
        self_row = self._row_of.get(own_id, -1) if own_id is not None else -1
        policy: SectionPolicy
        if section is None:
            policy = "any"
            code = -1
        else:
            policy = self.section_policy
            code = self._section_code.get(section, -1)
        found = self.index_.query(
            query, np.array([self_row]), np.array([code]), k, policy, self._allowed(exclude)
        )
        return self._results(*found[0])

    # ------------------------------------------------------------------------------- files

    def save(self, path: str | Path, *, key: bytes | str | None = None) -> Path:
        """Write the fitted model to a directory, without pickle.

        Parameters
        ----------
        path : str or Path
            Created if needed; files inside are replaced atomically (temp file + rename) and
            ``manifest.json`` is written last.
        key : bytes or str, optional
            A secret: also writes ``manifest.sig``, an HMAC-SHA256 of the manifest, so that
            :meth:`load` with the same key detects tampering (checksums alone only detect
            corruption).

        Returns
        -------
        Path
            The directory.
        """
        self._check_fitted()
        from .persistence import save_model

        return save_model(self, path, key=key)

    @classmethod
    def load(
        cls, path: str | Path, *, key: bytes | str | None = None, mmap: bool = False
    ) -> RelatedArticles:
        """Load a model written by :meth:`save`. Never executes code from the files.

        Parameters
        ----------
        path : str or Path
        key : bytes or str, optional
            When given, the manifest's HMAC signature must verify.
        mmap : bool, default False
            Memory-map the arrays instead of reading them (for archive-scale models shared by
            several worker processes).

        Raises
        ------
        ModelFormatError
            A file is missing, truncated, corrupted, of another format version, or holds an
            object (pickle) array; the message names the file and the failed check.
        """
        from .persistence import load_model

        return load_model(cls, path, key=key, mmap=mmap)

    def _params_for_manifest(self) -> dict[str, Any]:
        """The constructor parameters as JSON (names as in the API; tuples become lists)."""
        params = self.get_params()
        params["fields"] = None if self.fields is None else dict(self.fields)
        params["ngram_range"] = list(self.ngram_range)
        params["boilerplate_patterns"] = list(self.boilerplate_patterns)
        if isinstance(self.stop_words, set | frozenset | tuple):
            params["stop_words"] = sorted(self.stop_words)
        return params


def _check_param_names(params: Mapping[str, Any]) -> None:
    unknown = set(params) - set(RelatedArticles().get_params())
    if unknown:
        msg = f"unknown RelatedArticles parameters {sorted(unknown)!r}."
        raise InvalidParameterError(msg)
