"""The façade: :class:`RelatedArticles`, the one class a news site needs.

It validates at the door, owns the fitted state, and delegates: cleaning and vectorising to
:mod:`relatedness.vectorize`, exact top-k to :mod:`relatedness.index`, files to
:mod:`relatedness.persistence`.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from . import params
from . import text as _text
from .articles import Article, Rejected, as_datetime, check_articles, document_fields
from .engine import (
    Rules,
    SectionPolicy,
    SimilarityIndex,
    days_since_epoch,
    outside_window,
    rocchio,
    select,
    take_rows,
    tiebreak_ranks,
    time_rules,
)
from .exceptions import (
    InvalidArticleError,
    NotFittedError,
    UnknownArticleError,
)
from .features.tags import tag_rows
from .features.tfidf import FieldTfidfVectorizer
from .params import DEFAULTS
from .results import ArticleId, Explanation, Related, TermContribution
from .validation import check_k, check_params, interval, one_of

__all__ = ["RelatedArticles"]

#: ``{section: {"max_age": days, "recency_half_life": days}}`` (see ``section_overrides``).
SectionOverrides = Mapping[str, Mapping[str, float | None]]


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
    idf_power : float in [0, 4], default 0.25
        Terms weigh ``idf ** idf_power`` (see
        :class:`~relatedness.vectorize.FieldTfidfVectorizer`); 1 is classic TF-IDF.
    min_df : int or float, default 3
    max_df : int or float, default 1.0
    ngram_range : (int, int), default (1, 2)
        ``(1, 2)``: words and word pairs. ``(1, 1)`` halves the vocabulary and the fit's
        memory; on short title-and-lead text it can rank better (see the README).
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
    max_age : float or None, default None
        Hard window in days: a story published more than ``max_age`` days before (or, with
        ``allow_newer``, after) the article is never related to it.
    recency_half_life : float or None, default None
        Soft decay in days: the score is multiplied by ``0.5 ** (age_gap / half_life)``.
    section_overrides : dict or None, default None
        Per-section time rules, e.g. ``{"politics": {"recency_half_life": 14},
        "culture": {"recency_half_life": 365, "max_age": None}}`` (applied by the section of
        the article whose box is built).
    allow_newer : bool, default True
        Whether a story may link to stories published after it (follow-ups): on for a live
        site, off for a reproducible archive snapshot.
        Undated articles are exempt from ``max_age``, ``allow_newer`` and decay, as queries
        and as candidates.
    duplicate_threshold : float or None, default 0.8
        Stories whose cosine with the article is at least this are copies of the same story
        (syndication, re-publishes), not related stories: they are dropped from its list, and
        a list holds at most one story of any pair at or above it. On the BBC set every
        identical-body pair scores >= 0.995 and the sampled pairs in [0.8, 0.995) are
        re-publishes of one story; 0.7-0.8 are distinct follow-ups. ``None`` turns it off.
    diversity : float in [0, 1], default 0.0
        MMR re-ranking: each pick maximises ``(1 - diversity) * score - diversity * max
        cosine to the stories already in the list``; 0 is off.
    max_per_section : int or None, default None
        At most this many stories per section in one list (for ``"any"``/``"prefer"``).
    exclude_ids : tuple of ids, default ()
        Stories never shown anywhere (e.g. corrections pages).
    exclude_sections : tuple of str, default ()
        Sections never shown in any list.
    pinned : dict or None, default None
        ``{article id: [ids]}``: editor-pinned stories, shown first in that article's box.
    blocked_pairs : tuple of (id, id), default ()
        Pairs never shown together, in either direction (a blocked pair wins over a pin).
    fallback : tuple of str, default ()
        Steps tried in order while a list is shorter than ``k``: ``"same_section"``,
        ``"any"`` (every section), ``"relax_time"`` (drop the window), ``"latest"`` (the
        newest stories of the section, score 0). ``()`` returns fewer.
    tag_weight : float, default 0.0
        Bonus per shared tag: ``tag_weight * cosine(tag sets)`` is added to the score of a
        story that is already related (on top of the tags field).
    feedback : int, default 3
        Pseudo-relevance feedback (Rocchio): the article's vector is expanded with the mean
        of its first ``feedback`` neighbours before its list is ranked, so stories that share
        the *topic* of the article's closest neighbours, not only its exact words, move up.
        Both passes are exact. The neighbours are the best-scoring stories by plain cosine
        under the hard rules of the list (section policy, exclusions, time window), leaving
        out copies of the article (``duplicate_threshold``). ``0`` is off. Scores, ties and
        explanations then refer to the expanded vector; the duplicate rule keeps comparing
        the article's own vector. Costs a first pass and a denser second one (about 3-5x
        the work of a plain query).
    feedback_weight : float, default 1.5
        Weight of the neighbours' mean against the article's own vector (weight 1).
    n_jobs : int or None, default None
        Worker processes for cleaning and vectorizing large corpora (joblib semantics:
        ``-1`` all cores). Results are identical for every value.

    Attributes
    ----------
    ids_ : list of str or int
        Article ids in fit order.
    n_articles_ : int
    n_empty_ : int
        Articles with no indexable text: they appear in no list, and get ``[]`` (or what a
        ``fallback`` step such as ``"latest"`` fills their box with).
    section_names_ : list of str
        Distinct sections, sorted.
    vectorizer_ : FieldTfidfVectorizer
    index_ : SimilarityIndex
    rejects_ : list of Rejected
        Rows left out under ``on_invalid="skip"``.

    Notes
    -----
    The defaults of ``ngram_range``, ``idf_power``, ``min_df``, ``feedback`` and
    ``feedback_weight`` were chosen on the BBC news set with 5-fold cross-validation
    (``benchmarks/tune.py``; table in the README): precision@10 0.946 and MAP@10 0.931
    without a section hint, against 0.918 / 0.890 for classic TF-IDF with the same
    cleaning. ``ngram_range=(1, 1), idf_power=1.0, feedback=0`` is the classic model, about
    4x cheaper to score.

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
        k: int = DEFAULTS["k"],
        *,
        section_policy: Literal["same", "any", "prefer"] = DEFAULTS["section_policy"],
        fields: Mapping[str, float] | None = DEFAULTS["fields"],
        language: str = DEFAULTS["language"],
        stop_words: Any = DEFAULTS["stop_words"],
        stem: bool = DEFAULTS["stem"],
        sublinear_tf: bool = DEFAULTS["sublinear_tf"],
        idf_power: float = DEFAULTS["idf_power"],
        min_df: float = DEFAULTS["min_df"],
        max_df: float = DEFAULTS["max_df"],
        ngram_range: tuple[int, int] = DEFAULTS["ngram_range"],
        max_chars: int = DEFAULTS["max_chars"],
        boilerplate: bool = DEFAULTS["boilerplate"],
        boilerplate_patterns: Sequence[str] = DEFAULTS["boilerplate_patterns"],
        boilerplate_min_share: float | None = DEFAULTS["boilerplate_min_share"],
        snippet_chars: int = DEFAULTS["snippet_chars"],
        working_memory: float = DEFAULTS["working_memory"],
        on_invalid: Literal["raise", "skip"] = DEFAULTS["on_invalid"],
        on_duplicate: Literal["raise", "keep_last"] = DEFAULTS["on_duplicate"],
        max_age: float | None = DEFAULTS["max_age"],
        recency_half_life: float | None = DEFAULTS["recency_half_life"],
        section_overrides: SectionOverrides | None = DEFAULTS["section_overrides"],
        allow_newer: bool = DEFAULTS["allow_newer"],
        duplicate_threshold: float | None = DEFAULTS["duplicate_threshold"],
        diversity: float = DEFAULTS["diversity"],
        max_per_section: int | None = DEFAULTS["max_per_section"],
        exclude_ids: Sequence[ArticleId] = DEFAULTS["exclude_ids"],
        exclude_sections: Sequence[str] = DEFAULTS["exclude_sections"],
        pinned: Mapping[ArticleId, Sequence[ArticleId]] | None = DEFAULTS["pinned"],
        blocked_pairs: Sequence[tuple[ArticleId, ArticleId]] = DEFAULTS["blocked_pairs"],
        fallback: Sequence[str] = DEFAULTS["fallback"],
        tag_weight: float = DEFAULTS["tag_weight"],
        feedback: int = DEFAULTS["feedback"],
        feedback_weight: float = DEFAULTS["feedback_weight"],
        n_jobs: int | None = DEFAULTS["n_jobs"],
    ) -> None:
        self.k = k
        self.section_policy = section_policy
        self.fields = fields
        self.language = language
        self.stop_words = stop_words
        self.stem = stem
        self.sublinear_tf = sublinear_tf
        self.idf_power = idf_power
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
        self.max_age = max_age
        self.recency_half_life = recency_half_life
        self.section_overrides = section_overrides
        self.allow_newer = allow_newer
        self.duplicate_threshold = duplicate_threshold
        self.diversity = diversity
        self.max_per_section = max_per_section
        self.exclude_ids = exclude_ids
        self.exclude_sections = exclude_sections
        self.pinned = pinned
        self.blocked_pairs = blocked_pairs
        self.fallback = fallback
        self.tag_weight = tag_weight
        self.feedback = feedback
        self.feedback_weight = feedback_weight
        self.n_jobs = n_jobs

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
        params.check(type(self).__name__, self.get_params())
        if hasattr(articles, "to_dict") and hasattr(articles, "columns"):
            from .articles import from_dataframe

            articles = from_dataframe(articles)
        rejects: list[Rejected] = []
        vectorizer = FieldTfidfVectorizer(
            **{name: getattr(self, name) for name in params.VECTORIZER_PARAMS}
        )
        # The fit's helper process is forked before the articles are read (see _ForkWorker:
        # forked later, it copies much of this process' memory). Closed by the vectorizer
        # once counted, or here if the articles are refused.
        worker = vectorizer.start_worker(len(articles) if isinstance(articles, Sized) else None)
        try:
            checked = check_articles(
                articles,
                on_invalid=self.on_invalid,
                on_duplicate=self.on_duplicate,
                rejects=rejects,
            )
            matrix, cleaned = vectorizer.fit_transform_cleaned(checked, worker)
        finally:
            if worker is not None:
                worker.close()
        self._set_fitted(
            vectorizer=vectorizer,
            matrix=matrix,
            norms=vectorizer.row_norms_,
            ids=[a.id for a in checked],
            titles=[c["title"] for c in cleaned],
            sections=[a.section for a in checked],
            published=[a.published for a in checked],
            urls=[a.url for a in checked],
            snippets=[_text.make_snippet(c["body"], self.snippet_chars) for c in cleaned],
            tags=[list(a.tags) for a in checked],
            removed=[],
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
        norms: np.ndarray,
        ids: list[ArticleId],
        titles: list[str],
        sections: list[str],
        published: list[dt.date | dt.datetime | None],
        urls: list[str],
        snippets: list[str],
        tags: list[list[str]],
        removed: list[ArticleId],
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
        self.tags_ = tags
        self.norms_ = np.asarray(norms, dtype=np.float64)
        self.section_names_ = sorted(set(sections))
        self._section_code = {name: code for code, name in enumerate(self.section_names_)}
        codes = np.array([self._section_code[s] for s in sections], dtype=np.int64)
        stamps = np.array(
            [
                np.datetime64("NaT") if p is None else np.datetime64(as_datetime(p), "s")
                for p in published
            ],
            dtype="datetime64[s]",
        )
        tag_matrix, self._tag_vocabulary = tag_rows(tags)
        self.index_ = SimilarityIndex(
            matrix,
            codes,
            tiebreak_ranks(ids, stamps),
            self.working_memory,
            times=days_since_epoch(published),
            tags=tag_matrix,
        )
        self._empty_rows = np.diff(matrix.indptr) == 0
        self.n_articles_ = len(ids)
        self.n_empty_ = int(self._empty_rows.sum())
        self.rejects_ = []
        self.removed_: set[ArticleId] = set()
        self._prepare_policies()
        self.remove([i for i in removed if i in self._row_of])

    def _prepare_policies(self) -> None:
        """Turn the policy parameters into row masks and row lists (once per fit/load)."""
        n = self.n_articles_
        visible = np.ones(n, dtype=bool)
        for article_id in self.exclude_ids:
            row = self._row_of.get(article_id)
            if row is not None:
                visible[row] = False
        hidden_sections = set(self.exclude_sections)
        if hidden_sections:
            visible &= np.array([s not in hidden_sections for s in self.sections_], dtype=bool)
        visible &= ~self._empty_rows
        self._visible = visible
        self._blocked: dict[int, list[int]] = {}
        for a, b in self.blocked_pairs:
            ra, rb = self._row_of.get(a), self._row_of.get(b)
            if ra is not None and rb is not None:
                self._blocked.setdefault(ra, []).append(rb)
                self._blocked.setdefault(rb, []).append(ra)
        self._pinned: dict[int, list[int]] = {}
        for article_id, items in (self.pinned or {}).items():
            row = self._row_of.get(article_id)
            if row is not None:
                rows = [self._row_of[i] for i in items if i in self._row_of]
                self._pinned[row] = list(dict.fromkeys(r for r in rows if r != row))

    def remove(self, article_ids: Iterable[ArticleId]) -> RelatedArticles:
        """Take articles out of every list at once (retractions, takedowns, unpublishing).

        Removed articles stay in the model (so their ids are known and a saved model keeps
        the removal) but are never returned, and asking for their own list gives ``[]``.

        Parameters
        ----------
        article_ids : iterable of ids
            Ids the model holds.

        Returns
        -------
        self

        Raises
        ------
        UnknownArticleError
            An id is not in the model.
        """
        self._check_fitted()
        rows = [self._row(i) for i in article_ids]
        for row in rows:
            self.removed_.add(self.ids_[row])
            self._visible[row] = False
        return self

    def add(self, articles: Iterable[Any]) -> UpdateReport:
        """Index new articles with the fitted vocabulary and idf kept (no refit).

        New articles are cleaned and vectorised exactly as at fit time (learned boilerplate
        lines included), so their lists equal those of a full recompute with the same
        vocabulary. Words the vocabulary does not know are ignored; the report says how many
        and how far the idf has drifted, and ``needs_refit`` turns on past the thresholds.

        Parameters
        ----------
        articles : iterable of dict or Article
            Validated like :meth:`fit`; ids must be new and of the model's id type.

        Returns
        -------
        UpdateReport
            ``added`` ids, ``oov_rate`` (share of new tokens outside the vocabulary),
            ``idf_drift`` (mean absolute change of idf over the vocabulary had the new
            articles been counted), ``needs_refit`` (oov_rate > 0.2, idf_drift > 0.1 or the
            archive grew by more than half since fit).

        Raises
        ------
        DuplicateIdError
            An id is already in the model (use :meth:`remove` first for a replacement).
        InvalidArticleError
            As in :meth:`fit`, or ids of another type than the model's.
        """
        self._check_fitted()
        checked = check_articles(articles, on_invalid=self.on_invalid, on_duplicate="raise")
        if not checked:
            return UpdateReport([], 0.0, 0.0, False)
        taken = [a.id for a in checked if a.id in self._row_of]
        if taken:
            from .exceptions import DuplicateIdError

            msg = (
                f"{len(taken)} ids are already in the model, e.g. {taken[:5]!r}; remove() them "
                "first to replace a story."
            )
            raise DuplicateIdError(msg)
        if self.ids_ and type(checked[0].id) is not type(self.ids_[0]):
            msg = (
                f"new ids are {type(checked[0].id).__name__} but the model's are "
                f"{type(self.ids_[0]).__name__}; one corpus uses one id type."
            )
            raise InvalidArticleError(msg)
        vec = self.vectorizer_
        cleaned = [vec.clean_document(a) for a in checked]
        rows = vec.transform_cleaned(cleaned)
        norms: list[np.ndarray] = []
        counts, _ = vec.count(cleaned, vec.vocabulary_)
        vec.weigh(counts, vec.idf_, norms_out=norms)
        oov_rate, drift = self._drift(cleaned, counts)
        removed = sorted(self.removed_, key=self._row_of.__getitem__)
        self._set_fitted(
            vectorizer=vec,
            matrix=sp.vstack([self.index_.matrix, rows], format="csr"),
            norms=np.concatenate([self.norms_, norms[0]]),
            ids=[*self.ids_, *(a.id for a in checked)],
            titles=[*self.titles_, *(c["title"] for c in cleaned)],
            sections=[*self.sections_, *(a.section for a in checked)],
            published=[*self.published_, *(a.published for a in checked)],
            urls=[*self.urls_, *(a.url for a in checked)],
            snippets=[
                *self.snippets_,
                *(_text.make_snippet(c["body"], self.snippet_chars) for c in cleaned),
            ],
            tags=[*self.tags_, *(list(a.tags) for a in checked)],
            removed=removed,
        )
        grown = self.n_articles_ > 1.5 * vec.n_documents_
        needs_refit = oov_rate > 0.2 or drift > 0.1 or grown
        return UpdateReport([a.id for a in checked], oov_rate, drift, needs_refit)

    def affected(self, article_ids: Iterable[ArticleId]) -> list[ArticleId]:
        """Articles whose lists may change when ``article_ids`` are added or removed.

        The given articles themselves, plus every article that shares at least one term with
        any of them (score > 0, the only way one can enter or leave a list). With
        ``feedback`` on, also every article whose feedback neighbours include one of those:
        its expanded vector carries their terms. Recomputing the lists of exactly these
        articles and keeping all others gives the same output as a full recompute with the
        same vocabulary; ``relatedness update`` relies on it.

        Returns
        -------
        list of ids
            In fit order.
        """
        self._check_fitted()
        rows = np.array([self._row(i) for i in article_ids], dtype=np.int64)
        touched = np.zeros(self.n_articles_, dtype=bool)
        touched[rows] = True
        if len(rows):
            matrix = sp.csr_matrix(self.index_.matrix, dtype=np.float64)
            terms = np.unique(matrix[rows].indices)
            # Any article holding one of those terms has a positive score with some of them.
            touched |= np.asarray((matrix[:, terms] != 0).sum(axis=1)).ravel() > 0
        if self.feedback and len(rows):
            # Untouched articles keep their neighbours, but a touched neighbour lends their
            # expanded vector its terms, through which a changed article can enter the list.
            sharing = touched.copy()
            others = np.flatnonzero(~sharing)
            for start in range(0, len(others), 4096):
                batch = others[start : start + 4096]
                for row, found in zip(batch, self._feedback_neighbours(batch), strict=True):
                    touched[row] = bool(sharing[found].any())
        return [self.ids_[r] for r in np.flatnonzero(touched)]

    def _drift(
        self, cleaned: Sequence[Mapping[str, str]], counts: Mapping[str, sp.csr_matrix]
    ) -> tuple[float, float]:
        """Out-of-vocabulary share of the new tokens, and the idf drift they would cause."""
        vec = self.vectorizer_
        analyzer = vec.analyzer()
        total = known = 0
        for doc in cleaned:
            for field_name in vec.field_weights():
                terms = analyzer(doc[field_name])
                total += len(terms)
                known += sum(t in vec.vocabulary_ for t in terms)
        oov = 0.0 if total == 0 else 1.0 - known / total
        # idf = ln((1 + n) / (1 + df)) + 1, so the fitted df is recoverable from idf.
        n_old = vec.n_documents_
        df_old = np.rint((1.0 + n_old) / np.exp(vec.idf_ - 1.0) - 1.0)
        presence = sum(counts.values(), sp.csr_matrix((len(cleaned), len(vec.idf_))))
        df_new = np.bincount(sp.csr_matrix(presence).indices, minlength=len(vec.idf_))
        # Drift of this batch against the fitted corpus (the idf that stays in use).
        n_all = n_old + len(cleaned)
        idf_all = np.log((1.0 + n_all) / (1.0 + df_old + df_new)) + 1.0
        return oov, float(np.mean(np.abs(idf_all - vec.idf_)))

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

    def _call_exclusions(self, exclude: Iterable[Any] | None) -> list[int]:
        if exclude is None:
            return []
        if isinstance(exclude, str | int):
            exclude = [exclude]
        return [self._row_of[i] for i in exclude if i in self._row_of]

    @property
    def _uses_time(self) -> bool:
        return (
            self.max_age is not None
            or self.recency_half_life is not None
            or bool(self.section_overrides)
            or not self.allow_newer
        )

    def _similarity(self, row: int, others: np.ndarray) -> np.ndarray:
        """Cosines of index row ``row`` with the index rows ``others`` (for choosing a list)."""
        if self.index_.compiled:
            from .engine.kernels import row_cosines

            return row_cosines(self.index_.matrix, row, others)
        matrix = self.index_.matrix
        sub = sp.csr_matrix(matrix[others], dtype=np.float64)
        return (sub @ sp.csr_matrix(matrix[[row]], dtype=np.float64).T).toarray().ravel()

    def _make_rules(
        self,
        times: np.ndarray,
        sections: Sequence[str],
        tags: sp.csr_matrix | None,
        exclude_rows: list[np.ndarray],
        *,
        relax_time: bool = False,
        removal_only: bool = False,
    ) -> Rules:
        """The engine's rules for a batch of queries.

        ``removal_only`` keeps only the rules that remove candidates (window,
        ``allow_newer``, exclusions): plain cosine order, as the feedback pass needs. With
        feedback on, copies of the query are found on its own vector by that pass and arrive
        in ``exclude_rows``, so the engine's duplicate rule (which compares ranking scores)
        is off.
        """
        use_time = self._uses_time
        max_age = half_life = None
        if use_time:
            max_age, half_life = time_rules(
                sections, self.max_age, self.recency_half_life, self.section_overrides
            )
            if relax_time:  # the "relax_time" fallback drops the window, keeps the decay
                max_age = np.full(len(sections), np.inf)
        return Rules(
            times=times if use_time else None,
            max_age=max_age,
            half_life=None if removal_only else half_life,
            allow_newer=self.allow_newer or relax_time,
            tags=tags if self.tag_weight and not removal_only else None,
            tag_weight=0.0 if removal_only else float(self.tag_weight),
            duplicate_threshold=None if self.feedback or removal_only else self.duplicate_threshold,
            exclude_rows=exclude_rows,
        )

    def _query_some(
        self,
        queries: sp.csr_matrix,
        pending: np.ndarray,
        self_rows: np.ndarray,
        codes: np.ndarray,
        pool: int,
        policy: SectionPolicy,
        allowed: np.ndarray,
        rules: Rules,
        own_rows: bool,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The engine's top-``pool`` for the queries ``pending`` of a batch (growing pools)."""
        return self.index_.query(
            take_rows(queries, pending),
            self_rows[pending],
            codes[pending],
            pool,
            policy,
            allowed,
            rules.take(pending),
            own_rows and pending.size == queries.shape[0],
        )

    def _raw_pass(
        self,
        raw: sp.csr_matrix,
        self_rows: np.ndarray,
        codes: np.ndarray,
        policy: SectionPolicy,
        allowed: np.ndarray,
        rules: Rules,
        n_neighbours: int,
        own_rows: bool = False,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Plain-cosine pass: per query, its copies and its first ``n_neighbours`` others.

        Copies (cosine >= ``duplicate_threshold``) outrank every other story, so a pool that
        holds one story below the threshold, or every candidate, holds all of them; a pool
        full of copies is fetched again, four times larger.
        """
        threshold = self.duplicate_threshold
        m = raw.shape[0]
        empty = np.empty(0, dtype=np.int64)
        copies = [empty] * m
        neighbours = [empty] * m
        pending = np.arange(m)
        pool = n_neighbours + 5
        while pending.size:
            found = self._query_some(
                raw, pending, self_rows, codes, pool, policy, allowed, rules, own_rows
            )
            again = []
            for i, (rows, scores) in zip(pending.tolist(), found, strict=True):
                is_copy = (
                    scores >= threshold
                    if threshold is not None
                    else np.zeros(len(rows), dtype=bool)
                )
                others = rows[~is_copy]
                full = len(rows) >= pool and pool < self.n_articles_
                if full and len(others) < max(n_neighbours, 1):
                    again.append(i)
                    continue
                copies[i], neighbours[i] = rows[is_copy], others[:n_neighbours]
            pending = np.array(again, dtype=np.int64)
            pool *= 4
        return copies, neighbours

    def _feedback_neighbours(self, rows: np.ndarray) -> list[np.ndarray]:
        """The feedback neighbours of index rows, as :meth:`related` chooses them."""
        allowed = self._visible
        _, exclude_rows = self._held_and_excluded(rows, allowed, self._k(None), True)
        sections, times, _ = self._query_arrays(rows)
        removal = self._make_rules(times, sections, None, exclude_rows, removal_only=True)
        _, neighbours = self._raw_pass(
            self.index_.matrix[rows],
            rows,
            self.index_.section_codes[rows],
            self.section_policy,
            allowed,
            removal,
            self.feedback,
        )
        return neighbours

    def _expand(
        self,
        raw: sp.csr_matrix,
        self_rows: np.ndarray,
        codes: np.ndarray,
        sections: Sequence[str],
        times: np.ndarray,
        policy: SectionPolicy,
        allowed: np.ndarray,
        exclude_rows: list[np.ndarray],
        own_rows: bool = False,
    ) -> tuple[sp.csr_matrix, list[np.ndarray]]:
        """Rocchio feedback: ``q + w * mean(first neighbours)``, L2-normalised, and the copies.

        The sum is taken in float64 over the neighbours in rank order (the same bits for a
        query whatever batch it is in) and stored like the index rows, in float32.
        """
        removal = self._make_rules(times, sections, None, exclude_rows, removal_only=True)
        copies, neighbours = self._raw_pass(
            raw, self_rows, codes, policy, allowed, removal, self.feedback, own_rows
        )
        if policy == "prefer":
            # Copies may sit in any section the fill can reach.
            copies, _ = self._raw_pass(raw, self_rows, codes, "any", allowed, removal, 0, own_rows)
        counts = np.array([len(n) for n in neighbours], dtype=np.int64)
        picked = np.concatenate([*neighbours, np.empty(0, dtype=np.int64)])
        expanded = rocchio(
            raw, take_rows(self.index_.matrix, picked), counts, float(self.feedback_weight)
        )
        return expanded, copies

    def _lists(
        self,
        queries: sp.csr_matrix,
        self_rows: np.ndarray,
        codes: np.ndarray,
        sections: Sequence[str],
        times: np.ndarray,
        tags: sp.csr_matrix,
        k: int,
        *,
        policy: SectionPolicy,
        extra_exclude: Sequence[int] = (),
        explain: bool = False,
        editorial: bool = True,
        own_rows: bool = False,
    ) -> list[list[Related]]:
        """Every policy, applied identically for related, related_to, related_many, batches.

        ``editorial=False`` leaves out pinned stories and the fallback chain (the by-section
        view, where they would repeat in every group). ``own_rows``: the queries are the
        index rows ``self_rows`` themselves (lets a whole-set batch score each pair once).
        """
        m = queries.shape[0]
        allowed = self._visible.copy()
        allowed[list(extra_exclude)] = False
        held, exclude_rows = self._held_and_excluded(self_rows, allowed, k, editorial)
        removed_query = [own >= 0 and self.ids_[own] in self.removed_ for own in self_rows]
        raw = queries
        if self.feedback:
            queries, copies = self._expand(
                raw, self_rows, codes, sections, times, policy, allowed, exclude_rows, own_rows
            )
            own_rows = False  # the expanded vectors are not the index rows
            exclude_rows = [
                np.concatenate([e, c]) for e, c in zip(exclude_rows, copies, strict=True)
            ]
        rules = self._make_rules(times, sections, tags, exclude_rows)
        chosen = self._choose(queries, self_rows, codes, k, policy, allowed, rules, held, own_rows)

        steps = [s for s in self.fallback if s != "same_section"] if editorial else []
        for step in steps:
            short = [i for i in range(m) if len(held[i]) + len(chosen[i][0]) < k]
            if not short:
                break
            self._fill(
                step,
                short,
                queries,
                raw,
                self_rows,
                codes,
                sections,
                times,
                tags,
                k,
                allowed,
                exclude_rows,
                held,
                chosen,
            )

        out: list[list[Related]] = []
        for i in range(m):
            if removed_query[i]:
                out.append([])
                continue
            rows, scores = chosen[i]
            pins = held[i]
            query_tags = None if tags is None else tags[i]
            pin_scores = [
                self.explain_rows(
                    queries[i], times[i], sections[i], query_tags, r, terms=False
                ).score
                for r in pins
            ]
            results = self._results(pins, pin_scores, pinned=True)
            results += self._results(rows, scores)
            if explain:
                results = [
                    _with_explanation(
                        r,
                        self.explain_rows(
                            queries[i], times[i], sections[i], query_tags, self._row_of[r.id]
                        ),
                    )
                    for r in results
                ]
            out.append(results[:k])
        return out

    def _held_and_excluded(
        self, self_rows: np.ndarray, allowed: np.ndarray, k: int, editorial: bool
    ) -> tuple[list[list[int]], list[np.ndarray]]:
        """Per query: its pinned rows (shown first) and the rows the ranking must skip."""
        held: list[list[int]] = []
        exclude_rows: list[np.ndarray] = []
        for own in self_rows.tolist():
            pins = self._pinned.get(own, []) if own >= 0 and editorial else []
            blocked = self._blocked.get(own, []) if own >= 0 else []
            # A blocked pair wins over a pin: "never together" is the safety rule.
            pins = [r for r in pins if allowed[r] and r not in blocked][:k]
            held.append(pins)
            exclude_rows.append(np.array(pins + blocked, dtype=np.int64))
        return held, exclude_rows

    def _choose(
        self,
        queries: sp.csr_matrix,
        self_rows: np.ndarray,
        codes: np.ndarray,
        k: int,
        policy: SectionPolicy,
        allowed: np.ndarray,
        rules: Rules,
        held: list[list[int]],
        own_rows: bool = False,
    ) -> list[tuple[list[int], list[float]]]:
        """Top-k under the hard filters, then the greedy post-pass, growing the pool if short."""
        m = queries.shape[0]
        post_pass = (
            self.duplicate_threshold is not None
            or self.diversity > 0
            or self.max_per_section is not None
        )
        need = [max(0, k - len(h)) for h in held]
        chosen: list[tuple[list[int], list[float]]] = [([], []) for _ in range(m)]
        pending = np.array([i for i in range(m) if need[i] > 0], dtype=np.int64)
        pool = (3 * k + 10) if post_pass else k
        while pending.size:
            found = self._query_some(
                queries, pending, self_rows, codes, pool, policy, allowed, rules, own_rows
            )
            again = []
            picks = self._greedy(found, [need[i] for i in pending], [held[i] for i in pending])
            for j, (i, (rows, scores)) in enumerate(zip(pending.tolist(), found, strict=True)):
                if not post_pass:
                    chosen[i] = (rows.tolist()[: need[i]], scores.tolist()[: need[i]])
                    continue
                if picks is not None:
                    picked = (rows[picks[j]].tolist(), scores[picks[j]].tolist())
                else:
                    picked = select(
                        rows,
                        scores,
                        need[i],
                        similarity=self._similarity,
                        duplicate_threshold=self.duplicate_threshold,
                        max_per_section=self.max_per_section,
                        sections=self.index_.section_codes,
                        diversity=float(self.diversity),
                        held=held[i],
                    )
                chosen[i] = picked
                # A full pool may hide more candidates: ask again with a bigger one.
                if len(picked[0]) < need[i] and len(rows) >= pool and pool < self.n_articles_:
                    again.append(i)
            pending = np.array(again, dtype=np.int64)
            pool *= 4
        return chosen

    def _greedy(
        self,
        found: Sequence[tuple[np.ndarray, np.ndarray]],
        need: Sequence[int],
        held: Sequence[Sequence[int]],
    ) -> list[np.ndarray] | None:
        """The post-pass of every list at once, compiled, when it needs no diversity.

        ``None`` when the Python walk (:func:`policies.select`) must run instead: diversity,
        no post-pass at all, or no compiled kernels.
        """
        post_pass = self.duplicate_threshold is not None or self.max_per_section is not None
        if self.diversity > 0 or not post_pass or not self.index_.compiled:
            return None
        from .engine.kernels import greedy_lists

        return greedy_lists(
            self.index_.matrix,
            [rows for rows, _ in found],
            held,
            need,
            duplicate_threshold=self.duplicate_threshold,
            max_per_section=self.max_per_section,
            sections=self.index_.section_codes,
        )

    def _fill(
        self,
        step: str,
        short: list[int],
        queries: sp.csr_matrix,
        raw: sp.csr_matrix,
        self_rows: np.ndarray,
        codes: np.ndarray,
        sections: Sequence[str],
        times: np.ndarray,
        tags: sp.csr_matrix,
        k: int,
        allowed: np.ndarray,
        exclude_rows: list[np.ndarray],
        held: list[list[int]],
        chosen: list[tuple[list[int], list[float]]],
    ) -> None:
        """One fallback step for the lists still shorter than ``k`` (updates ``chosen``)."""
        idx = np.array(short, dtype=np.int64)
        keep = [
            np.concatenate([exclude_rows[i], np.array(chosen[i][0], dtype=np.int64)]) for i in short
        ]
        holds = [held[i] + chosen[i][0] for i in short]
        if step == "latest":
            for i, hold, excluded in zip(short, holds, keep, strict=True):
                extra = self._latest(
                    raw[i],
                    int(self_rows[i]),
                    int(codes[i]),
                    float(times[i]),
                    sections[i],
                    excluded,
                    hold,
                    k - len(hold),
                    allowed,
                )
                chosen[i] = (chosen[i][0] + extra, chosen[i][1] + [0.0] * len(extra))
            return
        relax = step == "relax_time"
        policy: SectionPolicy = "any" if step == "any" else self.section_policy
        if self.feedback:
            # The step widens the candidates: look for copies of the query among them too.
            removal = self._make_rules(
                times[idx],
                [sections[i] for i in short],
                None,
                keep,
                relax_time=relax,
                removal_only=True,
            )
            copies, _ = self._raw_pass(
                raw[idx], self_rows[idx], codes[idx], policy, allowed, removal, 0
            )
            keep = [np.concatenate([e, c]) for e, c in zip(keep, copies, strict=True)]
        rules = self._make_rules(
            times[idx],
            [sections[i] for i in short],
            None if tags is None else tags[idx],
            keep,
            relax_time=relax,
        )
        found = self._choose(
            queries[idx], self_rows[idx], codes[idx], k, policy, allowed, rules, holds
        )
        for i, (rows, scores) in zip(short, found, strict=True):
            chosen[i] = (chosen[i][0] + rows, chosen[i][1] + scores)

    def _latest(
        self,
        query: sp.csr_matrix,
        own: int,
        code: int,
        time: float,
        section: str,
        excluded: np.ndarray,
        held: list[int],
        need: int,
        allowed: np.ndarray,
    ) -> list[int]:
        """The newest stories of a section (the "latest" fallback step), score 0.

        Every rule that removes stories still applies: exclusions, the time window and
        ``allow_newer``, copies of the story itself, one story per duplicate pair and the
        section quota. Only the ranking by similarity is given up.
        """
        if need <= 0:
            return []
        if 0 <= code < len(self.index_.groups):
            candidates = self.index_.groups[code]
        else:
            candidates = np.arange(self.n_articles_)
        mask = allowed[candidates] & ~np.isin(candidates, excluded) & (candidates != own)
        if self._uses_time:
            ages, _ = time_rules(
                [section], self.max_age, self.recency_half_life, self.section_overrides
            )
            gap = time - self.index_.times[candidates]
            mask &= ~outside_window(gap, ages[0], self.allow_newer)
        candidates = candidates[mask]
        if self.duplicate_threshold is not None and len(candidates):
            q = sp.csr_matrix(query, dtype=np.float64)
            cosine = sp.csr_matrix(self.index_.matrix[candidates], dtype=np.float64) @ q.T
            candidates = candidates[cosine.toarray().ravel() < self.duplicate_threshold]
        ranked = candidates[np.argsort(self.index_.tiebreak[candidates], kind="stable")]
        rows, _ = select(
            ranked,
            np.zeros(len(ranked)),
            need,
            similarity=self._similarity,
            duplicate_threshold=self.duplicate_threshold,
            max_per_section=self.max_per_section,
            sections=self.index_.section_codes,
            diversity=0.0,
            held=held,
        )
        return rows

    def _results(
        self, rows: Sequence[int], scores: Sequence[float], *, pinned: bool = False
    ) -> list[Related]:
        return [
            Related(
                id=self.ids_[row],
                score=float(score),
                title=self.titles_[row],
                section=self.sections_[row],
                snippet=self.snippets_[row],
                published=self.published_[row],
                url=self.urls_[row],
                pinned=pinned,
            )
            for row, score in zip(rows, scores, strict=True)
        ]

    def _query_arrays(self, rows: np.ndarray) -> tuple[list[str], np.ndarray, sp.csr_matrix]:
        sections = [self.sections_[r] for r in rows.tolist()]
        # Tags only matter to the tag bonus: skip slicing them (scipy overhead) otherwise.
        all_tags = self.index_.tags
        tags = all_tags[rows] if self.tag_weight and all_tags is not None else None
        return sections, self.index_.times[rows], tags

    def _related_rows(
        self,
        rows: np.ndarray,
        k: int,
        extra_exclude: Sequence[int] = (),
        explain: bool = False,
    ) -> list[list[Related]]:
        sections, times, tags = self._query_arrays(rows)
        codes = self.index_.section_codes[rows]
        return self._lists(
            take_rows(self.index_.matrix, rows),
            rows,
            codes,
            sections,
            times,
            tags,
            k,
            policy=self.section_policy,
            extra_exclude=extra_exclude,
            explain=explain,
            own_rows=True,
        )

    def warm_up(self) -> RelatedArticles:
        """Build now what each section's first query would otherwise build.

        A section's search structure (its inverted index, time-ordered when a date window
        applies) is built on the first query that needs it, about 25 ms for a section of
        25,000 articles, and the compiled kernels and the stemmer load on first use. A
        server calls this once after :meth:`fit` or :meth:`load` so that no reader's request
        pays for it. Results do not change.

        Returns
        -------
        self : RelatedArticles
        """
        self._check_fitted()
        # One list per section, computed the way related() computes it.
        firsts = np.array([g[0] for g in self.index_.groups if len(g)], dtype=np.int64)
        self._related_rows(firsts, self._k(None))
        self.vectorizer_.transform([{"title": "", "body": "warm up"}])
        return self

    def related(
        self,
        article_id: ArticleId,
        k: int | None = None,
        *,
        exclude: Iterable[Any] | None = None,
        explain: bool = False,
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
        explain : bool, default False
            Attach an :class:`~relatedness.results.Explanation` to each result.

        Returns
        -------
        list of Related
            At most ``k`` entries: pinned stories first, then the ranked ones (score > 0),
            then any fallback entries. ``[]`` for an article with no indexable text, a removed
            article, or a section with no other related story (and no fallback).

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
        extra = self._call_exclusions(exclude)
        return self._related_rows(np.array([row]), k, extra, explain)[0]

    def related_many(
        self,
        article_ids: Iterable[ArticleId],
        k: int | None = None,
        *,
        missing: Literal["raise", "skip"] = "raise",
        explain: bool = False,
    ) -> dict[ArticleId, list[Related]]:
        """Return the related lists of many fitted articles in one batched pass.

        Parameters
        ----------
        article_ids : iterable of str or int
        k : int, optional
        missing : {"raise", "skip"}, default "raise"
            What to do with an id the model does not hold.
        explain : bool, default False

        Returns
        -------
        dict
            Id to its list (exactly as :meth:`related` returns it), in the order given.

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
        lists = self._related_rows(rows, k, explain=explain) if len(rows) else []
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

    def related_by_section(
        self, article_id: ArticleId, k_per_section: int = 3
    ) -> dict[str, list[Related]]:
        """Group an article's related stories by section: ``{section: [Related, ...]}``.

        Each section's list holds its best ``k_per_section`` stories under every policy but
        the section policy itself; sections with no related story are left out. Sections are
        ordered by their best score.

        Raises
        ------
        UnknownArticleError
            ``article_id`` is not in the model.
        """
        self._check_fitted()
        k_per_section = check_k(k_per_section, "related_by_section")
        row = self._row(article_id)
        groups: dict[str, list[Related]] = {}
        sections, times, tags = self._query_arrays(np.array([row]))
        for code, name in enumerate(self.section_names_):
            # "same" against another section's group: the engine leaves the article's own
            # row out only where it is a candidate, so this is that section's best stories.
            lst = self._lists(
                self.index_.matrix[[row]],
                np.array([row]),
                np.array([code]),
                sections,
                times,
                tags,
                k_per_section,
                policy="same",
                editorial=False,
            )[0]
            if lst:
                groups[name] = lst
        return dict(sorted(groups.items(), key=lambda item: -item[1][0].score))

    def related_to(
        self,
        article: Any,
        k: int | None = None,
        *,
        exclude: Iterable[Any] | None = None,
        explain: bool = False,
    ) -> list[Related]:
        """Return related articles for an unseen article or a bare text.

        Parameters
        ----------
        article : str, dict or Article
            A str is taken as the body. A dict/Article may carry ``title``, ``body``, ``tags``,
            ``section`` and ``published``; its section is used by the section policy when it
            is given (a section the model has never seen has no same-section stories:
            ``"same"`` returns ``[]``, ``"prefer"`` falls back to the others); without a
            section every section is searched. If it carries an ``id`` the model holds, that
            article is left out (and its pinned stories and blocked pairs apply).
        k : int, optional
        exclude : iterable of ids, optional
        explain : bool, default False

        Returns
        -------
        list of Related
            ``[]`` when the text shares no term with the archive.

        Raises
        ------
        InvalidArticleError
            ``title``/``body`` is not a str (e.g. None or bytes), or ``published`` is not a
            date.
        """
        self._check_fitted()
        k = self._k(k)
        if not isinstance(article, str | Mapping | Article):
            msg = f"related_to takes a str, a dict or an Article, got a {type(article).__name__}."
            raise InvalidArticleError(msg)
        title, body, tags = document_fields(article)
        for name, value in (("title", title), ("body", body)):
            if not isinstance(value, str):
                msg = f"related_to: field {name!r} is a {type(value).__name__}; pass text as str."
                raise InvalidArticleError(msg)
        published = None
        if isinstance(article, str):
            section, own_id = None, None
        elif isinstance(article, Article):
            section, own_id, published = article.section or None, article.id, article.published
        else:
            section, own_id = article.get("section") or None, article.get("id")
            if article.get("published") is not None:
                (checked,) = check_articles(
                    [{"id": "related_to", "published": article["published"]}]
                )
                published = checked.published
        query = self.vectorizer_.transform([{"title": title, "body": body, "tags": tags}])
        self_row = self._row_of.get(own_id, -1) if own_id is not None else -1
        policy: SectionPolicy
        if section is None:
            policy = "any"
            code = -1
        else:
            policy = self.section_policy
            code = self._section_code.get(section, -1)
        tag_matrix = (
            tag_rows([list(tags)], self._tag_vocabulary)[0] if self.tag_weight else None
        )
        return self._lists(
            query,
            np.array([self_row]),
            np.array([code]),
            [section or ""],
            days_since_epoch([published]),
            tag_matrix,
            k,
            policy=policy,
            extra_exclude=self._call_exclusions(exclude),
            explain=explain,
        )[0]

    # ------------------------------------------------------------------------------- explain

    def explain(self, article_id: ArticleId, related_id: ArticleId) -> Explanation:
        """Say why ``related_id`` relates to ``article_id``: shared terms, per field, sum = score.

        Term contributions are ``q_t * x_t * decay`` for each shared term ``t`` (``q`` and
        ``x`` the two normalised rows), split by the field of ``related_id`` the term came
        from; ``tags`` is the tag bonus. They add up to the ranking score, which equals the
        score :meth:`related` reports when the pair is in the list. With ``feedback`` on,
        ``q`` is the expanded vector, so terms the article lacks but its closest neighbours
        share with ``related_id`` contribute too (``cosine`` is then the cosine with it).

        Raises
        ------
        UnknownArticleError
            Either id is not in the model.
        """
        self._check_fitted()
        row, other = self._row(article_id), self._row(related_id)
        rows = np.array([row])
        sections, times, tags = self._query_arrays(rows)
        query = self.index_.matrix[rows]
        if self.feedback:
            # The vector related() ranks with, so the score here is the score shown there.
            _, exclude_rows = self._held_and_excluded(rows, self._visible, self._k(None), True)
            query, _ = self._expand(
                query,
                rows,
                self.index_.section_codes[rows],
                sections,
                times,
                self.section_policy,
                self._visible,
                exclude_rows,
            )
        return self.explain_rows(query, times[0], sections[0], tags, other)

    def explain_rows(
        self,
        query: sp.csr_matrix,
        time: float,
        section: str,
        tags: sp.csr_matrix | None,
        row: int,
        *,
        terms: bool = True,
    ) -> Explanation:
        """Explanation of one (query row vector, index row) pair; see :meth:`explain`."""
        q = sp.csr_matrix(query[0], dtype=np.float64) if query.shape[0] else sp.csr_matrix(query)
        x = sp.csr_matrix(self.index_.matrix[row], dtype=np.float64)
        # Same summation order as the engine (the query's term order): the same bits.
        common, q_pos, x_pos = np.intersect1d(q.indices, x.indices, return_indices=True)
        products = q.data[q_pos] * x.data[x_pos]
        cosine = float(sum(products.tolist()))
        decay = 1.0
        if self._uses_time and not np.isnan(time) and not np.isnan(self.index_.times[row]):
            _, lives = time_rules(
                [section], self.max_age, self.recency_half_life, self.section_overrides
            )
            gap = abs(time - self.index_.times[row])
            decay = float(np.exp2(-gap / lives[0])) if np.isfinite(lives[0]) else 1.0
        tag_bonus = 0.0
        if self.tag_weight and tags is not None and self.index_.tags is not None and cosine > 0:
            shared = (tags[0] @ self.index_.tags[row].T).toarray()
            tag_bonus = float(self.tag_weight * shared.sum())
        score = cosine * decay + tag_bonus
        contributions: list[TermContribution] = []
        if terms and len(common):
            parts = self._field_parts(row)
            names = self.vectorizer_.get_feature_names_out()
            for col, product in zip(common.tolist(), products.tolist(), strict=True):
                value = product * decay
                split = {f: parts[f].get(col, 0.0) for f in parts}
                known = sum(split.values())
                total = float(x[0, col])
                # The stored row is float32, the parts float64: a remainder within float32
                # rounding of the value is rounding, not an occurrence in the body.
                body = total - known
                split["body"] = body if body > 1e-5 * total else 0.0
                whole = sum(split.values())
                for field_name, part in split.items():
                    if part > 0:
                        contributions.append(
                            TermContribution(names[col], field_name, value * part / whole)
                        )
            contributions.sort(key=lambda t: (-t.contribution, t.term, t.field))
        return Explanation(score, cosine, decay, tag_bonus, tuple(contributions))

    def _field_parts(self, row: int) -> dict[str, dict[int, float]]:
        """Normalised per-field values of an index row, from its stored title and tags.

        The body is what remains of the row once title and tags are taken out (the model
        keeps titles and tags but not full bodies).
        """
        doc = {"title": self.titles_[row], "body": "", "tags": "\n".join(self.tags_[row])}
        values = self.vectorizer_.field_values(doc)
        norm = self.norms_[row]
        return {
            f: {c: float(v / norm) for c, v in vals.items()}
            for f, vals in values.items()
            if f != "body"
        }

    def find_duplicates(self, threshold: float | None = None) -> list[list[ArticleId]]:
        """Groups of near-duplicate articles (syndicated copies, re-publishes) in the corpus.

        Two articles are linked when their cosine is at least ``threshold``; a group is a
        connected set of links. The first id of each group is its canonical member: the
        earliest published (undated last), then the smallest id. Groups are sorted by their
        canonical id.

        Parameters
        ----------
        threshold : float, optional
            Defaults to the model's ``duplicate_threshold`` (0.8 when that is ``None``).

        Returns
        -------
        list of list of ids
        """
        self._check_fitted()
        limit = self.duplicate_threshold if threshold is None else threshold
        limit = 0.8 if limit is None else float(limit)
        check_params(
            "find_duplicates",
            {"threshold": limit},
            {"threshold": [interval("real", 0, 1, closed="right")]},
        )
        parent = list(range(self.n_articles_))

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        matrix = sp.csr_matrix(self.index_.matrix, dtype=np.float64)
        matrix_t = sp.csr_matrix(matrix.T)
        # Sparse products in small blocks: only pairs at or above the threshold are kept.
        step = 64
        for start in range(0, self.n_articles_, step):
            block = sp.coo_matrix(matrix[start : start + step] @ matrix_t)
            hit = (block.data >= limit) & (block.row + start != block.col)
            for r, c in zip(
                (block.row[hit] + start).tolist(), block.col[hit].tolist(), strict=True
            ):
                ra, rb = find(r), find(c)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
        groups: dict[int, list[int]] = {}
        for r in range(self.n_articles_):
            groups.setdefault(find(r), []).append(r)
        times = self.index_.times

        def canonical(r: int) -> tuple:
            return (np.isnan(times[r]), 0.0 if np.isnan(times[r]) else times[r], self.ids_[r])

        out = [
            [self.ids_[r] for r in sorted(g, key=canonical)] for g in groups.values() if len(g) > 1
        ]
        return sorted(out, key=lambda g: g[0])

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
        return params.to_manifest(self.get_params())

    @staticmethod
    def _params_from_manifest(values: dict[str, Any]) -> dict[str, Any]:
        """Inverse of :meth:`_params_for_manifest`: the types the constructor documents."""
        return params.from_manifest(values)


@dataclass(frozen=True)
class UpdateReport:
    """What :meth:`RelatedArticles.add` did and whether the model should be refitted."""

    added: list[ArticleId]
    oov_rate: float
    idf_drift: float
    needs_refit: bool


def _with_explanation(result: Related, explanation: Explanation) -> Related:
    from dataclasses import replace

    return replace(result, explanation=explanation)
