"""The façade: :class:`RelatedArticles`, the one class a news site needs.

It stores the parameters (:mod:`relatedness.params`), validates at the door, and delegates:
articles are checked by :mod:`relatedness.articles`, vectorised by
:mod:`relatedness.features`, kept as an :class:`~relatedness.archive.Archive`, ranked by the
query planner (:mod:`relatedness.ranking`, which drives the engine) and saved by
:mod:`relatedness.store`. Nothing below imports it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator

from . import params
from .archive import Archive, fit_archive
from .articles import Rejected, check_articles, check_query
from .exceptions import NotFittedError
from .params import DEFAULTS
from .ranking import Policy, Ranker
from .render import to_frame
from .results import ArticleId, Explanation, Related, UpdateReport
from .store import load_model, save_model
from .validation import check_count, check_k, check_params, interval, one_of

__all__ = ["RelatedArticles", "UpdateReport"]

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
        Stemmer and stop word language (:data:`relatedness.params.LANGUAGES`: the Snowball
        languages, and Chinese, Japanese, Korean as character bigrams), or ``"auto"``: each
        article analysed in its own detected language.
    tokenizer : {"standard", "runs"}, default "standard"
        ``"runs"``: every run of letters and digits is one token (before 0.2.0).
    stop_words : "auto", None or list of str, default "auto"
    stem : bool, default True
    stemmer : {"auto", "nltk", "pystemmer"}, default "auto"
        The Snowball implementation; ``"auto"``: PyStemmer when installed (5-10x faster),
        else nltk. A fitted model keeps using the one it was fitted with.
    sublinear_tf : bool, default True
    idf_power : float in [0, 4], default 0.5
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
    feedback : int, default 0
        Pseudo-relevance feedback (Rocchio), ``0`` off: the article's vector is expanded with
        the mean of its first ``feedback`` neighbours (plain cosine under the list's hard
        rules, copies left out) before its list is ranked, so stories on the neighbours'
        topic move up. Exact; scores and ties refer to the expanded vector, the duplicate
        rule to the article's own. About 3-5x the work of a plain query.
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
    The README's "Defaults and why" shows how the defaults were chosen, corpus by corpus.

    Ranking: higher cosine first; equal scores are ordered newer first (undated articles last), then
    by id. The article itself is never in its own list (excluded by position, so an identical
    copy still ranks first), and only scores > 0 are returned.

    A fitted model pickles and deep-copies (joblib, multiprocessing); load a pickle only from
    a source you trust (it can run code). :meth:`save` / :meth:`load` is the safe format.

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
        tokenizer: str = DEFAULTS["tokenizer"],
        stop_words: Any = DEFAULTS["stop_words"],
        stem: bool = DEFAULTS["stem"],
        stemmer: str = DEFAULTS["stemmer"],
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
        self.tokenizer = tokenizer
        self.stop_words = stop_words
        self.stem = stem
        self.stemmer = stemmer
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

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> RelatedArticles:
        """A model with the ranking of an earlier release (``relatedness.params.PRESETS``).

        ``RelatedArticles.from_preset("2026.11", k=4)`` keeps the boxes a site showed before
        the defaults changed; ``overrides`` win over the preset. Raises
        ``InvalidParameterError`` for an unknown name (the message lists the presets).
        """
        return cls(**{**params.preset(name), **overrides})

    # ------------------------------------------------------------------ fit

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
        archive = fit_archive(
            articles,
            {name: getattr(self, name) for name in params.VECTORIZER_PARAMS},
            on_invalid=self.on_invalid,
            on_duplicate=self.on_duplicate,
            snippet_chars=self.snippet_chars,
            rejects=rejects,
        )
        self._fitted(archive)
        self.rejects_ = rejects
        if self.n_empty_:
            empty_ids = [self.ids_[i] for i in np.flatnonzero(self._ranker.empty)[:5]]
            warnings.warn(
                f"{self.n_empty_} articles had no indexable text after cleaning (e.g. ids "
                f"{empty_ids!r}); they get empty lists and appear in no list.",
                UserWarning,
                stacklevel=2,
            )
        return self

    def _fitted(self, archive: Archive) -> RelatedArticles:
        """Set every fitted attribute from an archive (:meth:`fit`, :meth:`add`, :meth:`load`)."""
        ranker = Ranker(
            archive,
            working_memory=self.working_memory,
            exclude_ids=self.exclude_ids,
            exclude_sections=self.exclude_sections,
            pinned=self.pinned,
            blocked_pairs=self.blocked_pairs,
        )
        self._ranker = ranker
        self.vectorizer_ = archive.vectorizer
        self.ids_ = archive.ids
        self.titles_ = archive.titles
        self.sections_ = archive.sections
        self.published_ = archive.published
        self.urls_ = archive.urls
        self.snippets_ = archive.snippets
        self.tags_ = archive.tags
        self.norms_ = archive.norms
        self.section_names_ = ranker.section_names
        self.index_ = ranker.index
        self.n_articles_ = ranker.n
        self.n_empty_ = int(ranker.empty.sum())
        self.rejects_ = []
        self.removed_ = ranker.removed
        return self

    def __sklearn_is_fitted__(self) -> bool:
        """Whether :meth:`fit` or :meth:`load` has run (scikit-learn's fitted check)."""
        return hasattr(self, "_ranker")

    def _check_fitted(self) -> Ranker:
        if not self.__sklearn_is_fitted__():
            msg = (
                f"this {type(self).__name__} is not fitted yet; call fit(articles) or "
                "RelatedArticles.load(path) first."
            )
            raise NotFittedError(msg)
        return self._ranker

    def _policy(self) -> Policy:
        """The list rules as the parameters stand now (``set_params`` after a fit counts)."""
        return Policy.of(vars(self))

    def _k(self, k: int | None) -> int:
        return check_k(self.k if k is None else k)

    # ------------------------------------------------------------------ updates

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
        ranker = self._check_fitted()
        ranker.remove([ranker.row(i) for i in article_ids])
        return self

    def add(self, articles: Iterable[Any]) -> UpdateReport:
        """Index new articles without a refit; the vocabulary grows for their new terms.

        Cleaned and vectorised as at fit time. Fitted terms keep their idf; a new term
        enters once it is in ``min_df`` added articles, with the fit's idf formula over the
        documents counted then, and added rows holding it are re-weighed: a new name links
        the stories that share it (the rules: :mod:`relatedness.features.growth`).

        Parameters
        ----------
        articles : iterable of dict or Article
            Validated like :meth:`fit`; ids must be new and of the model's id type.

        Returns
        -------
        UpdateReport
            ``added``, ``reweighed``, ``new_terms``, ``oov_rate`` (new word occurrences
            outside the vocabulary), ``idf_drift``, ``needs_refit`` (oov_rate > 0.2,
            idf_drift > 0.1 or the archive grew by half since fit).

        Raises
        ------
        DuplicateIdError
            An id is already in the model (use :meth:`remove` first for a replacement).
        InvalidArticleError
            As in :meth:`fit`, or ids of another type than the model's.
        """
        ranker = self._check_fitted()
        checked = check_articles(articles, on_invalid=self.on_invalid, on_duplicate="raise")
        if not checked:
            return UpdateReport([], 0.0, 0.0, False)
        archive, step = ranker.new_articles(checked, self.snippet_chars)
        return self._fitted(archive)._ranker.report(checked, step)

    def affected(self, article_ids: Iterable[ArticleId]) -> list[ArticleId]:
        """Articles whose lists may change when ``article_ids`` are added or removed.

        The articles themselves and every article sharing a term with one (with feedback,
        also those whose feedback neighbours do): recomputing exactly these lists gives a
        full recompute's output under the same vocabulary (``relatedness update``).

        Returns
        -------
        list of ids
            In fit order.
        """
        ranker = self._check_fitted()
        rows = np.array([ranker.row(i) for i in article_ids], dtype=np.int64)
        return [self.ids_[r] for r in ranker.affected(rows, self._policy())]

    def resolve_ids(self, article_ids: Iterable[Any]) -> list[ArticleId]:
        """The model's own ids for ``article_ids``, each once, in the order given.

        An id given as another object that equals a model id (``numpy.int64(3)`` for ``3``)
        comes back as the model's.

        Raises
        ------
        UnknownArticleError
            An id is not in the model (the message names it, with a hint when the other id
            type exists).
        """
        ranker = self._check_fitted()
        return list(dict.fromkeys(self.ids_[ranker.row(i)] for i in article_ids))

    # ------------------------------------------------------------------ lists

    def warm_up(self) -> RelatedArticles:
        """Build now what each section's first query would otherwise build.

        Each section's inverted index (about 25 ms for 25,000 articles), the compiled
        kernels and the stemmer: a server calls this after :meth:`fit` or :meth:`load` so no
        reader's request pays for them. Results do not change.

        Returns
        -------
        self : RelatedArticles
        """
        self._check_fitted().warm_up(self._policy())
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
        ranker = self._check_fitted()
        k = self._k(k)
        row = ranker.row(article_id)
        extra = ranker.known_rows(exclude)
        return ranker.related_rows(np.array([row]), k, self._policy(), extra, explain)[0]

    def related_many(
        self,
        article_ids: Iterable[ArticleId],
        k: int | None = None,
        *,
        missing: Literal["raise", "skip"] = "raise",
        explain: bool = False,
        as_frame: bool = False,
    ) -> Any:
        """Return the related lists of many fitted articles in one batched pass.

        Parameters
        ----------
        article_ids : iterable of str or int
        k : int, optional
        missing : {"raise", "skip"}, default "raise"
            What to do with an id the model does not hold.
        explain : bool, default False
        as_frame : bool, default False
            A tidy pandas DataFrame instead (``relatedness.render.to_frame``: article_id, rank,
            related_id, score, title, section, published, url, pinned; needs pandas).

        Returns
        -------
        dict or DataFrame
            Id to its list (exactly as :meth:`related` returns it), in the order given.

        Raises
        ------
        UnknownArticleError
            An id is unknown and ``missing="raise"``.
        """
        ranker = self._check_fitted()
        k = self._k(k)
        check_params("related_many", {"missing": missing, "as_frame": as_frame},
                     {"missing": [one_of("raise", "skip")], "as_frame": [one_of(True, False)]})
        wanted = list(dict.fromkeys(article_ids))
        if missing == "skip":
            wanted = [i for i in wanted if i in ranker.row_of]
        rows = np.array([ranker.row(i) for i in wanted], dtype=np.int64)
        lists = ranker.related_rows(rows, k, self._policy(), explain=explain) if len(rows) else []
        by_id = dict(zip(wanted, lists, strict=True))
        return to_frame(by_id) if as_frame else by_id

    def kneighbors(
        self, ids: Iterable[ArticleId] | None = None, k: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every list as arrays, for batch users (scikit-learn's ``kneighbors`` naming).

        Parameters
        ----------
        ids : iterable of ids, optional
            Whose lists (each once, in this order); default every fitted article.
        k : int, optional

        Returns
        -------
        scores : ndarray of shape (n, k), float32
            Similarities, highest first, padded with 0.0.
        indices : ndarray of shape (n, k), int64
            Positions in :attr:`ids_`, padded with -1: the lists of :meth:`related_many`,
            same policies and tie rule.

        Raises
        ------
        UnknownArticleError
            An id is not in the model.
        """
        ranker = self._check_fitted()
        k = self._k(k)
        rows = (
            np.arange(self.n_articles_)
            if ids is None
            else np.array([ranker.row(i) for i in dict.fromkeys(ids)], dtype=np.int64)
        )
        return ranker.kneighbors(rows, k, self._policy())

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
        ranker = self._check_fitted()
        k, batch_size = self._k(k), check_count("batch_size", batch_size, "iter_related")
        policy = self._policy()
        for start in range(0, self.n_articles_, batch_size):
            rows = np.arange(start, min(start + batch_size, self.n_articles_))
            for row, lst in zip(rows.tolist(), ranker.related_rows(rows, k, policy), strict=True):
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
        ranker = self._check_fitted()
        k_per_section = check_k(k_per_section, "related_by_section")
        row = ranker.row(article_id)
        return ranker.by_section(row, k_per_section, self._policy())

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
        ranker = self._check_fitted()
        k = self._k(k)
        extra = ranker.known_rows(exclude)
        return ranker.related_to(check_query(article), k, self._policy(), extra, explain)

    # ------------------------------------------------------------------ explain

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
        ranker = self._check_fitted()
        row, other = ranker.row(article_id), ranker.row(related_id)
        return ranker.explain(row, other, self._policy())

    def find_duplicates(self, threshold: float | None = None) -> list[list[ArticleId]]:
        """Groups of near-duplicate articles (syndicated copies, re-publishes) in the corpus.

        Linked when their cosine is at least ``threshold``; a group is a connected set of
        links, led by its canonical member (earliest published, undated last, then smallest
        id); groups sorted by it.

        Parameters
        ----------
        threshold : float, optional
            Defaults to the model's ``duplicate_threshold`` (0.8 when that is ``None``).

        Returns
        -------
        list of list of ids
        """
        ranker = self._check_fitted()
        limit = self.duplicate_threshold if threshold is None else threshold
        limit = 0.8 if limit is None else float(limit)
        check_params(
            "find_duplicates",
            {"threshold": limit},
            {"threshold": [interval("real", 0, 1, closed="right")]},
        )
        return ranker.duplicates(limit)

    # ------------------------------------------------------------------ files

    def save(
        self,
        path: str | Path,
        *,
        key: bytes | str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write the fitted model to a directory, without pickle; never destroys the old one.

        Parameters
        ----------
        path : str or Path
            Created if needed. The model is written as a new version beside the current one
            and ``CURRENT`` is switched to it in one step: a failure or a kill at any point
            leaves the previous model or the new one (``models/README.md``).
        key : bytes or str, optional
            A secret: also writes ``manifest.sig``, an HMAC-SHA256 of the manifest, so that
            :meth:`load` with the same key detects tampering (checksums alone only detect
            corruption).
        metadata : mapping, optional
            A JSON object kept in the manifest (``relatedness.store.read_manifest(path)``).

        Returns
        -------
        Path
            The directory.

        Raises
        ------
        InvalidArticleError
            A text cannot be stored as UTF-8 (a lone surrogate); nothing is written.
        """
        ranker = self._check_fitted()
        archive = ranker.current_archive()
        return save_model(path, self.get_params(), archive, key=key, metadata=metadata)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        key: bytes | str | None = None,
        require_signature: bool = False,
        mmap: bool = False,
    ) -> RelatedArticles:
        """Load a model written by :meth:`save`. Never executes code from the files.

        Parameters
        ----------
        path : str or Path
        key : bytes or str, optional
            When given, the manifest's HMAC signature must verify.
        require_signature : bool, default False
            Refuse a model whose signature was not verified with ``key`` (untrusted places).
        mmap : bool, default False
            Memory-map the arrays instead of reading them (for archive-scale models shared by
            several worker processes).

        Raises
        ------
        ModelFormatError
            A file is missing, truncated, corrupted, of another format version, or holds an
            object (pickle) array; the message names the file and the failed check. A model
            saved before a parameter existed loads with the value it behaved with.
        """
        values, archive = load_model(path, key=key, require_signature=require_signature, mmap=mmap)
        return cls(**values)._fitted(archive)
