"""Field-weighted TF-IDF: articles to L2-normalised rows, in scikit-learn's transformer contract.

Each field (title, body, tags) is cleaned and analysed on its own; the fields share one
vocabulary and one idf. An article's row is::

    row[t] = idf[t] * sum_f  weight_f * tf'_f(t)        tf' = 1 + ln(tf)  (sublinear_tf)
    row    = row / ||row||_2

so a word in the headline counts ``weights["title"]`` times what it counts in the body, and
each field's own repetitions are damped separately. Document frequency counts an article once
whatever fields hold the term; ``idf = ln((1 + n) / (1 + df)) + 1`` (scikit-learn's smooth idf).

The fitted state is plain data (``vocabulary_``, ``idf_``, ``boilerplate_lines_`` and the
parameters), so a model is saved and rebuilt without pickle (:meth:`from_state`).
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from .. import params as _params
from .. import text as _text
from ..articles import document_fields
from ..exceptions import (
    EmptyCorpusError,
    InvalidParameterError,
    MissingDependencyError,
    NotFittedError,
)
from ..params import DEFAULT_FIELDS, DEFAULTS, FIELD_NAMES
from .analysis import (
    CODES,
    UNSEGMENTED,
    Analyzer,
    available_engine,
    engine_version,
    grams_for,
    stem_all,
)
from .counting import (
    VOCAB_SEPARATOR,
    count_raw_chunk,
    document_frequencies,
    keep_columns,
    relabel_columns,
    stack_chunks,
)
from .languages import describe, detect_language
from .parallel import ForkWorker, chunk_bounds, map_chunks, n_workers

__all__ = ["FieldTfidfVectorizer"]

logger = logging.getLogger("relatedness")

#: Row dtype: float32 halves memory; scores are accumulated in float64 by the scorers.
DTYPE = np.float32

#: From this many articles on, with ``n_jobs`` allowing two processes, a forked process shares
#: the cleaning, counting and stemming (:class:`ForkWorker`). Below it the fork and the
#: child's nltk import (~0.5 s) are not hidden behind enough work.
BACKGROUND_MIN_DOCS = 5_000

#: Transforms of at most this many documents (queries) keep their stems in a memo on the
#: vectorizer, bounded to QUERY_MEMO_MAX_TOKENS entries (cleared when full).
QUERY_MEMO_MAX_DOCS = 64
QUERY_MEMO_MAX_TOKENS = 500_000
#: Documents per cleaning task shared with the forked child: small enough that the two
#: processes finish within ~0.1 s of each other, and that each task's cleaned text travels
#: back in a small message.
SHARED_CLEAN_CHUNK = 1_000

#: Articles per counting chunk (see :meth:`FieldTfidfVectorizer.count`).
COUNT_CHUNK_DOCS = 1_000

#: Distinct tokens per stemming task shared with the forked child (~0.15 s of work).
SHARED_STEM_BATCH = 5_000


def clean_chunk(
    vectorizer: FieldTfidfVectorizer, docs: Sequence[Any]
) -> list[dict[str, str | None]]:
    """The cleaned fields of ``docs``, with ``None`` for a title or body cleaning left as is.

    Most news text is already clean (2,173 of the 2,225 BBC bodies): the caller then keeps
    the document's own string (:func:`with_originals`) instead of an equal copy, which for a
    large corpus is the fit's biggest allocation (3.4 GB of bodies for 1M articles), and a
    forked child sends back only what changed.
    """
    out: list[dict[str, str | None]] = []
    for doc in docs:
        cleaned: dict[str, str | None] = {**vectorizer.clean_document(doc, learned=False)}
        title, body, _ = document_fields(doc)
        if cleaned["title"] == title:
            cleaned["title"] = None
        if cleaned["body"] == body:
            cleaned["body"] = None
        out.append(cleaned)
    return out


def with_originals(
    docs: Sequence[Any], parts: Iterable[list[dict[str, str | None]]]
) -> list[dict[str, str]]:
    """Undo :func:`clean_chunk`'s ``None``: the document's own title or body string."""
    out: list[dict[str, str]] = []
    for doc, cleaned in zip(docs, (c for part in parts for c in part), strict=True):
        if cleaned["title"] is None or cleaned["body"] is None:
            title, body, _ = document_fields(doc)
            if cleaned["title"] is None:
                cleaned["title"] = title
            if cleaned["body"] is None:
                cleaned["body"] = body
        out.append(cleaned)  # type: ignore[arg-type]  # no None left
    return out


class FieldTfidfVectorizer(TransformerMixin, BaseEstimator):
    """Clean, analyse and vectorise articles into field-weighted, L2-normalised TF-IDF rows.

    Parameters
    ----------
    fields : dict, default {"title": 0.5, "body": 1.0, "tags": 1.0}
        Weight of each field. Omitted fields are ignored.
    language : str, default "english"
        Stemmer and stop word language (see :data:`relatedness.params.LANGUAGES`), or
        ``"auto"``: each article's language is detected from its text
        (:func:`~relatedness.features.languages.detect_language`) and its words are stop-listed
        and stemmed in it; ``languages_`` counts what was found.
    tokenizer : {"standard", "runs"}, default "standard"
        ``"standard"``: runs of letters and digits, Chinese/Japanese/Korean runs as character
        bigrams, Arabic letter variants folded; ``"runs"``: every run of letters and digits is
        one token (models saved before 0.2.0 load with it).
    stop_words : "auto", None or list of str, default "auto"
        ``"auto"``: the language's list; ``None``: keep all words.
    stem : bool, default True
        Snowball stemming (memoized per distinct token).
    stemmer : {"auto", "nltk", "pystemmer"}, default "auto"
        The Snowball implementation; ``"auto"``: PyStemmer when installed, else nltk. They
        disagree on a few words (PyStemmer has Snowball 2.x), so the fit records the one used
        (``stemmer_``) and queries are stemmed with it.
    sublinear_tf : bool, default True
        Use ``1 + ln(tf)`` per field instead of raw counts.
    idf_power : float in [0, 4], default 0.5
        Terms are weighted by ``idf ** idf_power``: 1 is classic TF-IDF, smaller values
        flatten the gap between rare and common words, 0 ignores idf. ``idf_`` itself is
        always the plain smoothed idf.
    min_df, max_df : int or float, default 3 and 1.0
        Keep terms in at least ``min_df`` and at most ``max_df`` articles (a float is a share
        of the corpus). On a corpus too small for them (one article, or thresholds that
        contradict each other, or that would leave no term) both are relaxed to 1 and 1.0
        with a warning; the values used are ``effective_min_df_``/``effective_max_df_``.
    ngram_range : (int, int), default (1, 2)
        ``(1, 2)``: words and word pairs; ``(1, 1)``: words only.
    max_chars : int, default 200000
        Cleaned text beyond this many characters is cut (after HTML stripping).
    boilerplate : bool, default True
        Remove the default boilerplate lines (breadcrumbs, "originally published on ...",
        a "Related Articles" block and all after it, share/subscribe lines).
    boilerplate_patterns : list of str or re.Pattern, default ()
        Extra line patterns to drop (regular expressions, matched case-insensitively).
    boilerplate_min_share : float or None, default 0.05
        The corpus rule: a line found in more than this share of the (distinct) articles, and
        in at least 3, is boilerplate. ``None`` turns the rule off.
    n_jobs : int or None, default None
        Processes for cleaning, counting and stemming (``-1``: all cores, ``None``: 1 unless
        a ``joblib.parallel_config`` says otherwise). From 5,000 articles on, with 2 or more,
        a forked child stems while this process cleans and counts (where ``fork`` exists);
        from 20,000 articles on, with 3 or more, joblib workers also clean and count chunks
        (below that, worker start-up costs more than it saves). The output is identical for
        every value.

    Attributes
    ----------
    vocabulary_ : dict of str to int
        Term to column, columns in sorted term order (so input order never changes it).
    idf_ : ndarray of shape (n_terms,)
    boilerplate_lines_ : frozenset of str
        Lines learned by the corpus rule (normalised, see :func:`relatedness.text.normalize_line`).
    effective_min_df_, effective_max_df_ : int or float
    n_documents_ : int

    Examples
    --------
    >>> vec = FieldTfidfVectorizer(min_df=1, ngram_range=(1, 1))
    >>> X = vec.fit_transform([{"title": "Rates held", "body": "The bank held rates."},
    ...                        {"title": "Cup final", "body": "The team won the cup."}])
    >>> X.shape, list(vec.get_feature_names_out()[:3])
    ((2, 7), ['bank', 'cup', 'final'])
    """

    def __init__(
        self,
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
        boilerplate_patterns: Sequence[Any] = DEFAULTS["boilerplate_patterns"],
        boilerplate_min_share: float | None = DEFAULTS["boilerplate_min_share"],
        n_jobs: int | None = DEFAULTS["n_jobs"],
    ) -> None:
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
        self.n_jobs = n_jobs

    # ---------------------------------------------------------------- parameters and helpers

    def field_weights(self) -> dict[str, float]:
        fields = DEFAULT_FIELDS if self.fields is None else self.fields
        return {f: float(fields[f]) for f in FIELD_NAMES if f in fields and fields[f] > 0}

    def _validate_params(self) -> None:
        _params.check(type(self).__name__, self.get_params(), _params.VECTORIZER_PARAMS)

    def _fast_counting(self) -> bool:
        """Whether :meth:`count` takes the fast path (words, or words and word pairs)."""
        return self.ngram_range[1] <= 1 or tuple(self.ngram_range) == (1, 2)

    def _main_language(self) -> str:
        """Under ``language="auto"``: the language most fitted articles are in ("" while
        fitting: decided once every article has been read)."""
        found = self.__dict__.get("languages_")
        if found is None or "_fit_engine" in self.__dict__:
            return ""
        return max(found, key=lambda name: (found[name], name)) if found else "english"

    def _chosen_engine(self) -> str:
        """The stemmer a fit uses: the one asked for, PyStemmer under ``"auto"`` when present."""
        if self.stemmer == "auto":
            return available_engine()
        if self.stemmer == "pystemmer" and not engine_version("pystemmer"):
            msg = "stemmer='pystemmer' needs PyStemmer: pip install 'relatedness[fast]'"
            raise MissingDependencyError(msg)
        return str(self.stemmer)

    def engine(self) -> str:
        """The stemmer implementation: the one the fit used, else the one a fit would use.

        Raises
        ------
        MissingDependencyError
            The model was stemmed by PyStemmer, which is not installed here.
        """
        used = self.__dict__.get("stemmer_")
        if used is None:
            return self.__dict__.get("_fit_engine") or self._chosen_engine()
        engine, version = used["engine"], used.get("version", "")
        if self.stem and engine == "pystemmer":
            installed = engine_version("pystemmer")
            if not installed:
                msg = (
                    f"this model's vocabulary was stemmed by PyStemmer {version}, which is not "
                    "installed; its queries must be stemmed the same way: pip install "
                    "'relatedness[fast]' (or PyStemmer)"
                )
                raise MissingDependencyError(msg)
            if installed != version and not self.__dict__.get("_warned_version"):
                self.__dict__["_warned_version"] = True
                warnings.warn(
                    f"this model was stemmed by PyStemmer {version}, PyStemmer {installed} is "
                    "installed: a few words may stem differently; refit to be exact.",
                    UserWarning,
                    stacklevel=3,
                )
        return str(engine)

    def analyzer(self, *, load_stemmer: bool = True) -> Analyzer:
        low, high = self.ngram_range
        # Without a stemmer the analyzer is only used for its stop words (the stems come
        # from a background worker): the parent then never imports nltk.
        stem = self.stem and load_stemmer
        return Analyzer(
            self.language, self.stop_words, stem, (low, high), self.tokenizer, self.engine()
        )

    # ---------------------------------------------------------------- cleaning

    def clean_document(self, doc: Any, *, learned: bool = True) -> dict[str, str]:
        """Return the cleaned ``title``, ``body`` and ``tags`` text of one document.

        Parameters
        ----------
        doc : Article, dict or str
        learned : bool, default True
            Also drop the lines learned by the corpus rule (needs a fitted vectorizer).
        """
        title, body, tags = document_fields(doc)
        clean_body = _text.clean_text(
            body,
            max_chars=self.max_chars,
            boilerplate=self.boilerplate,
            extra_patterns=tuple(self.boilerplate_patterns),
        )
        if learned and getattr(self, "boilerplate_lines_", None):
            clean_body = _text.drop_lines(clean_body, self.boilerplate_lines_)
        cleaned = {
            "title": _text.clean_title(title),
            "body": clean_body,
            "tags": "\n".join(_text.clean_title(t) for t in tags),
        }
        if self.language == "auto":
            # One language per article (not per field), read from its own text; an article
            # too short to tell (a headline) takes the archive's main language.
            cleaned["language"] = detect_language(
                cleaned["title"] + "\n" + clean_body, default=self._main_language()
            )
        return cleaned

    # ---------------------------------------------------------------- counting

    def _n_workers(self, n_docs: int) -> int:
        """joblib workers for a corpus of ``n_docs`` articles (1: run in this process)."""
        return n_workers(self.n_jobs, n_docs)

    def _parallel(
        self, function: Any, arguments: Sequence[tuple], n_docs: int, *, lazy: bool = False
    ) -> Iterable:
        """Run ``function(*args)`` for each argument tuple, in joblib workers when it pays."""
        return map_chunks(function, arguments, self.n_jobs, self._n_workers(n_docs), lazy=lazy)

    def _chunks(self, n: int, min_parts: int = 1) -> list[tuple[int, int]]:
        return chunk_bounds(n, self._n_workers(n), min_parts)

    def _clean_all(
        self, docs: Sequence[Any], worker: ForkWorker | None = None
    ) -> list[dict[str, str]]:
        if worker is not None and self._n_workers(len(docs)) == 1:
            tasks = [
                (self, docs[a : a + SHARED_CLEAN_CHUNK])
                for a in range(0, len(docs), SHARED_CLEAN_CHUNK)
            ]
            return with_originals(docs, worker.share(clean_chunk, clean_chunk, tasks))
        chunks = self._chunks(len(docs))
        parts = self._parallel(clean_chunk, [(self, docs[a:b]) for a, b in chunks], len(docs))
        return with_originals(docs, parts)

    def count(
        self,
        cleaned: Sequence[Mapping[str, str]],
        vocabulary: dict[str, int] | None,
        worker: ForkWorker | None = None,
        pair_df: tuple[float, float] | None = None,
    ) -> tuple[dict[str, sp.csr_matrix], dict[str, int]]:
        """Per-field term-count matrices. With ``vocabulary=None`` a new one is grown.

        Words, and words with word pairs (``ngram_range=(1, 2)``, see :meth:`_count_pairs`),
        take the fast path: count raw tokens (in parallel chunks), stem each
        distinct token once, then merge the columns of tokens that share a stem. The counts
        are integers, so the result is identical to stemming every token (tested). With a
        ``worker``, the counting (unless joblib workers do it) and the stemming are shared
        with its forked child. With ``pair_df=(min_count, max_count)`` (a fit), word pairs
        whose document frequency lies outside those bounds are left out of the vocabulary
        (see :meth:`_count_pairs`).
        """
        if not self._fast_counting():
            return self._count_plain(cleaned, vocabulary)
        # Word pairs: counted below from the stemmed sequences, as integer keys (never of the
        # character n-grams of an unsegmented language).
        pairs = tuple(self.ngram_range) == (1, 2) and self.language not in UNSEGMENTED
        grams = None
        if self.tokenizer == "standard" and (
            self.language in UNSEGMENTED or self.language == "auto"
        ):
            grams = grams_for(self.ngram_range)
        weights = self.field_weights()
        analyzer = self.analyzer(load_stemmer=worker is None)
        # Chunks of ~1,000 articles: a chunk holds every token list of its articles at once
        # (one chunk for a whole 50k corpus peaked at 2.3 GiB against 1.0), and small chunks
        # balance the work between processes.
        chunks = self._chunks(len(cleaned), min_parts=max(1, len(cleaned) // COUNT_CHUNK_DOCS))
        auto = self.language == "auto"
        stop: Any = analyzer.stop
        if auto:
            stop = {CODES[lang]: analyzer.stop_for(lang) for lang in CODES}
        arguments = [
            (
                {f: [cleaned[i][f] for i in range(a, b)] for f in weights},
                stop,
                pairs,
                self.tokenizer,
                [CODES[_language_of(cleaned[i])] for i in range(a, b)] if auto else None,
                grams,
            )
            for a, b in chunks
        ]
        results: Iterable[tuple[str, dict[str, sp.csr_matrix]]]
        if worker is not None and self._n_workers(len(cleaned)) == 1:
            results = worker.share(count_raw_chunk, count_raw_chunk, arguments)
        else:
            results = self._parallel(count_raw_chunk, arguments, len(cleaned), lazy=True)
        raw_index: dict[str, int] = {}
        pieces: dict[str, list[tuple[sp.csr_matrix, np.ndarray]]] = {f: [] for f in weights}
        for joined_vocab, counts in results:
            local_vocab = joined_vocab.split(VOCAB_SEPARATOR) if joined_vocab else []
            # int32: held for every chunk until stacked (far fewer than 2**31 distinct tokens).
            remap = np.empty(len(local_vocab), dtype=np.int32)
            for i, token in enumerate(local_vocab):
                j = raw_index.get(token)
                if j is None:
                    j = raw_index[token] = len(raw_index)
                remap[i] = j
            for name, matrix in counts.items():
                pieces[name].append((matrix, remap))
        del results, arguments
        raw_tokens = list(raw_index)
        del raw_index
        if worker is not None and self.stem:
            batches = [
                (raw_tokens[a : a + SHARED_STEM_BATCH], self.language, self.engine())
                for a in range(0, len(raw_tokens), SHARED_STEM_BATCH)
            ]
            parts = worker.share(stem_all, stem_all, batches)
            stems = [t for part in parts for t in part]
        else:
            stems = self._stem_all(raw_tokens, analyzer, len(cleaned))
        if auto and not self.stem:
            stems = [key.partition(":")[2] for key in stems]  # the key's token is the term
        vocab: dict[str, int] = {} if vocabulary is None else vocabulary
        if vocabulary is None:
            columns = np.array([vocab.setdefault(t, len(vocab)) for t in stems], dtype=np.int64)
        else:
            columns = np.array([vocab.get(t, -1) for t in stems], dtype=np.int64)
        known = columns >= 0
        # float32, like the counts (float64 counts make the product float64).
        merge = sp.csr_matrix(
            (
                np.ones(int(known.sum()), dtype=np.float32),
                (np.flatnonzero(known), columns[known]),
            ),
            shape=(len(raw_tokens), len(vocab)),
        )
        out: dict[str, sp.csr_matrix] = {}
        sequences: dict[str, sp.csr_matrix] = {}
        for name, parts in pieces.items():
            stacked = stack_chunks(parts, len(raw_tokens))
            if vocabulary is None:
                merged = sp.csr_matrix(stacked @ merge)
            else:
                # A transform (often one query): relabel the columns in place instead of a
                # product whose accumulator spans the whole vocabulary. Counts are whole
                # numbers, so the sums are exact either way.
                merged = relabel_columns(stacked, columns, len(vocab))
            if pairs:
                sequences[name] = stacked  # each row's raw tokens, still in text order
            del stacked
            merged.sum_duplicates()
            # float64 from here on: the weighting computes in place on these values.
            out[name] = sp.csr_matrix(merged, dtype=np.float64)
            del merged
        if pairs:
            skip = None
            if auto and grams is not None:
                skip = np.array([_language_of(c) in UNSEGMENTED for c in cleaned])
            self._count_pairs(sequences, stems, vocab, vocabulary is None, out, pair_df, skip)
        return out, vocab

    @staticmethod
    def _count_pairs(
        sequences: Mapping[str, sp.csr_matrix],
        stems: Sequence[str],
        vocab: dict[str, int],
        growing: bool,
        out: dict[str, sp.csr_matrix],
        df_bounds: tuple[float, float] | None = None,
        skip: np.ndarray | None = None,
    ) -> None:
        """Add word-pair counts to ``out`` (and pairs to a ``growing`` vocabulary).

        A pair is two consecutive kept tokens of a field, as the analyzer forms it: the two
        stems joined by a space. Pairs are keyed by integers (stem code * n_stems + stem
        code) so that a string is built once per distinct pair, not once per occurrence.
        Counts are whole numbers: the sums equal the analyzer path's exactly (tested).

        With ``df_bounds=(min_count, max_count)`` only the pairs in at least ``min_count``
        and at most ``max_count`` documents get a string and a column: most distinct pairs
        occur once, and building, hashing and storing them cost more than counting the
        words. The fit prunes with the same bounds afterwards, so the fitted vocabulary is
        the same, with one exception handled here: when no pair is within the bounds, every
        pair is kept, because the fit may then relax its bounds (no term survives them).
        Rows where ``skip`` is true (documents cut into character n-grams) get no pairs.
        """
        names, codes = np.unique(np.asarray(stems, dtype=object), return_inverse=True)
        n_stems = np.int64(max(1, len(names)))
        keys: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, seq in sequences.items():
            stem_seq = codes[seq.indices].astype(np.int64)
            row_of = np.repeat(np.arange(seq.shape[0]), np.diff(seq.indptr))
            same = row_of[1:] == row_of[:-1]
            if skip is not None:
                same &= ~skip[row_of[1:]]
            keys[name] = (row_of[1:][same], stem_seq[:-1][same] * n_stems + stem_seq[1:][same])
            del stem_seq, row_of, same
        distinct, inverse = np.unique(
            np.concatenate([k for _, k in keys.values()] + [np.empty(0, np.int64)]),
            return_inverse=True,
        )
        # Per field, the count of each distinct pair in each row (coo -> csr sums repeats).
        pair_counts: dict[str, sp.csr_matrix] = {}
        start = 0
        for name, (rows, field_keys) in keys.items():
            pair_counts[name] = sp.csr_matrix(
                (
                    np.ones(len(field_keys)),
                    (rows, inverse[start : start + len(field_keys)]),
                ),
                shape=(out[name].shape[0], len(distinct)),
            )
            start += len(field_keys)
        del keys, inverse
        selected = np.arange(len(distinct))
        if df_bounds is not None and growing:
            low, high = df_bounds
            # A document counts once whatever fields hold the pair (the sum's structure).
            fields = iter(pair_counts.values())
            presence = next(fields)
            for matrix in fields:
                presence = presence + matrix
            df = np.bincount(presence.indices, minlength=len(distinct))
            del presence
            within = np.flatnonzero((df >= low) & (df <= high))
            if len(within):
                selected = within
        words = names.tolist()
        first, second = (
            (distinct[selected] // n_stems).tolist(),
            (distinct[selected] % n_stems).tolist(),
        )
        strings = [words[a] + " " + words[b] for a, b in zip(first, second, strict=True)]
        column = np.full(len(distinct), -1, dtype=np.int64)
        if growing:
            column[selected] = [vocab.setdefault(t, len(vocab)) for t in strings]
        else:
            column[selected] = [vocab.get(t, -1) for t in strings]
        for name, counted in pair_counts.items():
            words_only = out[name]
            words_only.resize((words_only.shape[0], len(vocab)))
            # Distinct pairs have distinct columns: relabelling leaves no repeats to sum.
            total = sp.csr_matrix(words_only + relabel_columns(counted, column, len(vocab)))
            total.sum_duplicates()
            out[name] = total

    def _stem_all(self, tokens: Sequence[str], analyzer: Analyzer, n_docs: int) -> list[str]:
        """The stem of each distinct token, computed once (in parallel for large corpora)."""
        if not self.stem:
            return list(tokens)
        if self._n_workers(n_docs) > 1 and len(tokens) > 10_000:
            bounds = np.linspace(0, len(tokens), 5).astype(int)
            parts = self._parallel(
                stem_all,
                [
                    (tokens[a:b], self.language, self.engine())
                    for a, b in zip(bounds[:-1], bounds[1:], strict=True)
                ],
                n_docs,
            )
            return [t for part in parts for t in part]
        assert analyzer.stemmer is not None  # self.stem, and no background worker
        if n_docs > QUERY_MEMO_MAX_DOCS:
            # A fit: the tokens are distinct, a memo would only add cost.
            return list(map(analyzer.stemmer, tokens))
        # Queries (related_to, add) meet the same words again and again: keep their stems.
        memo: dict[str, str] = self.__dict__.setdefault("_query_stems", {})
        if len(memo) > QUERY_MEMO_MAX_TOKENS:
            memo.clear()
        stem = analyzer.stemmer
        out = []
        for token in tokens:
            stemmed = memo.get(token)
            if stemmed is None:
                stemmed = memo[token] = stem(token)
            out.append(stemmed)
        return out

    def _count_plain(
        self, cleaned: Sequence[Mapping[str, str]], vocabulary: dict[str, int] | None
    ) -> tuple[dict[str, sp.csr_matrix], dict[str, int]]:
        """The straightforward counting: analyse (stem) every token of every document.

        Used for n-grams (they are built from the stemmed sequence) and as the reference the
        fast path is tested against.
        """
        analyzer = self.analyzer()
        growing = vocabulary is None
        vocab: dict[str, int] = {} if vocabulary is None else vocabulary
        parts: dict[str, tuple[list[int], list[int]]] = {}
        for name in self.field_weights():
            rows: list[int] = []
            cols: list[int] = []
            for i, doc in enumerate(cleaned):
                terms = analyzer(doc[name], _language_of(doc) if self.language == "auto" else None)
                if growing:
                    ids = [vocab.setdefault(t, len(vocab)) for t in terms]
                else:
                    ids = [j for j in map(vocab.get, terms) if j is not None]
                rows.extend([i] * len(ids))
                cols.extend(ids)
            parts[name] = (rows, cols)
        shape = (len(cleaned), len(vocab))
        counts = {}
        for name, (rows, cols) in parts.items():
            data = np.ones(len(rows), dtype=np.float64)
            matrix = sp.csr_matrix((data, (rows, cols)), shape=shape)  # sums repeats
            matrix.sum_duplicates()
            counts[name] = matrix
        return counts, vocab

    def weigh(
        self,
        counts: dict[str, sp.csr_matrix],
        idf: np.ndarray,
        *,
        norms_out: list | None = None,
        in_place: bool = False,
    ) -> sp.csr_matrix:
        """Combine field counts into normalised TF-IDF rows (float32, sorted indices).

        With ``norms_out`` (a list), the rows' norms before normalisation are appended to it.
        With ``in_place`` the count matrices are taken out of ``counts`` and overwritten
        instead of copied (a fit, which does not need them afterwards: each is freed once
        added, instead of a copy of the corpus' largest arrays being made).
        """
        weights = self.field_weights()
        total: sp.csr_matrix | None = None
        for name, weight in weights.items():
            tf = counts.pop(name) if in_place else counts[name].copy()
            if self.sublinear_tf:
                np.log(tf.data, out=tf.data)
                tf.data += 1.0
            tf.data *= weight
            total = tf if total is None else total + tf
        assert total is not None  # fields always has a positive weight (validated)
        total = sp.csr_matrix(total)
        total.sum_duplicates()
        total.sort_indices()
        # Scaling the stored values in place is the product with a diagonal matrix, one
        # multiply per entry (the same bits), without building a vocabulary-sized diagonal.
        total.data *= self._term_weights(idf)[total.indices]
        # total.multiply(total) without its copy of the indices: the same squares, summed by
        # the same routine, so the same bits.
        squares = sp.csr_matrix((total.data * total.data, total.indices, total.indptr), total.shape)
        norms = np.sqrt(np.asarray(squares.sum(axis=1)).ravel())
        del squares
        # An article with no known terms keeps an all-zero row: it scores 0 with everything
        # and the scorers never return a score <= 0, so it never appears in anyone's list.
        norms[norms == 0.0] = 1.0
        if norms_out is not None:
            norms_out.append(norms)
        total.data *= np.repeat(1.0 / norms, np.diff(total.indptr))
        # float32 values on the same index arrays (sorted above), not a copy of them too.
        return sp.csr_matrix((total.data.astype(DTYPE), total.indices, total.indptr), total.shape)

    def _term_weights(self, idf: np.ndarray) -> np.ndarray:
        """``idf ** idf_power`` (``idf`` itself at power 1: the classic weights, same bits).

        Kept for the last ``idf`` array and power: every query's transform needs it, and
        the power of a vocabulary-sized array (1.2M terms at 100k articles with word pairs)
        costs ~5 ms, more than the rest of the transform. ``idf_`` is replaced, never
        changed in place, so the array's identity is a valid key.
        """
        power = float(self.idf_power)
        if power == 1.0:
            return idf
        cached = self.__dict__.get("_term_weights_cache")
        if cached is not None and cached[0] is idf and cached[1] == power:
            return cached[2]
        weights = np.power(idf, power)
        self.__dict__["_term_weights_cache"] = (idf, power, weights)
        return weights

    # ---------------------------------------------------------------- fit / transform

    def fit(self, X: Iterable[Any], y: None = None) -> FieldTfidfVectorizer:
        """Learn boilerplate lines, vocabulary and idf from articles."""
        self.fit_transform(X)
        return self

    def fit_transform(self, X: Iterable[Any], y: None = None) -> sp.csr_matrix:
        """Fit, then return the rows of ``X`` (faster than ``fit(X).transform(X)``)."""
        matrix, _ = self.fit_transform_cleaned(X)
        return matrix

    def start_worker(self, n_docs: int | None) -> ForkWorker | None:
        """The forked helper a fit of ``n_docs`` articles uses (``None``: not known yet)."""
        if not self._fast_counting() or (n_docs is not None and n_docs < BACKGROUND_MIN_DOCS):
            return None
        return ForkWorker.start(self.language, self.n_jobs)

    def fit_transform_cleaned(
        self, X: Iterable[Any], worker: ForkWorker | None | Literal["start"] = "start"
    ) -> tuple[sp.csr_matrix, list[dict]]:
        """Fit and transform; also return the cleaned text (the façade keeps it for snippets).

        ``worker``: a helper from :meth:`start_worker`, forked before the documents were
        read (this method closes it once the counting is done), ``None`` for none, or
        ``"start"`` to fork one now when the corpus is large enough.
        """
        self._validate_params()
        docs = list(X)
        if worker == "start":
            worker = self.start_worker(len(docs))
        elif worker is not None and len(docs) < BACKGROUND_MIN_DOCS:
            worker.close()  # too small to be worth sharing
            worker = None
        if not docs:
            msg = "cannot fit on an empty corpus: pass at least one article."
            raise EmptyCorpusError(msg)
        for attr in ("boilerplate_lines_", "stemmer_"):
            self.__dict__.pop(attr, None)
        self.__dict__["_fit_engine"] = self._chosen_engine()
        try:
            cleaned = self._clean_all(docs, worker)
            if self.language == "auto":
                _settle_languages(cleaned)
            if self.boilerplate_min_share is None:
                lines: frozenset[str] = frozenset()
            else:
                # clean_text output is collapsed: skip re-checking every body.
                lines = _text.find_recurring_lines(
                    (c["body"] for c in cleaned),
                    min_share=self.boilerplate_min_share,
                    min_count=3,
                    collapsed=True,
                )
                if lines:
                    for c in cleaned:
                        c["body"] = _text.drop_lines(c["body"], lines)
            # Word pairs outside the df bounds are left out as they are counted (by far most
            # of them occur once); _prune below then sees the same surviving terms.
            counts, vocab = self.count(cleaned, None, worker, self._df_bounds(len(docs)))
        finally:
            if worker is not None:
                worker.close()
        n = len(docs)
        if not vocab:
            msg = (
                f"no indexable text in any of the {n} articles after cleaning (all empty, "
                "markup, stop words or emoji only). Check the 'title'/'body' fields of the input."
            )
            raise EmptyCorpusError(msg)
        df = document_frequencies(counts.values(), n, len(vocab))
        keep, min_df, max_df = self._prune(df, n)
        terms = sorted(t for t, j in vocab.items() if keep[j])
        old_columns = np.array([vocab[t] for t in terms], dtype=np.int64)
        new_column = np.full(len(vocab), -1, dtype=np.int64)
        new_column[old_columns] = np.arange(len(terms))
        for name in list(counts):
            counts[name] = keep_columns(counts.pop(name), new_column, len(terms))
        df = df[old_columns]
        self.vocabulary_ = {t: j for j, t in enumerate(terms)}
        self.idf_ = np.log((1.0 + n) / (1.0 + df)) + 1.0
        self.boilerplate_lines_ = lines
        self.effective_min_df_ = min_df
        self.effective_max_df_ = max_df
        self.n_documents_ = n
        self.languages_ = _languages_found(cleaned, self.language)
        engine = self.__dict__.pop("_fit_engine")
        self.stemmer_ = {"engine": engine, "version": engine_version(engine)}
        norms: list[np.ndarray] = []
        matrix = self.weigh(counts, self.idf_, norms_out=norms, in_place=True)
        del counts
        self.row_norms_ = norms[0]
        _warn_about_analysis(matrix, cleaned, self)
        return matrix, cleaned

    def _df_bounds(self, n: int) -> tuple[float, float]:
        """``(min_count, max_count)``: the document frequencies min_df/max_df allow out of ``n``."""
        min_df, max_df = self.min_df, self.max_df
        min_count = min_df if isinstance(min_df, int) else min_df * n
        max_count = max_df if isinstance(max_df, int) else max_df * n
        return min_count, max_count

    def _prune(self, df: np.ndarray, n: int) -> tuple[np.ndarray, float, float]:
        """Apply min_df/max_df; relax both when the corpus is too small for them."""
        min_df, max_df = self.min_df, self.max_df
        min_count, max_count = self._df_bounds(n)
        keep = (df >= min_count) & (df <= max_count)
        if max_count < min_count or not keep.any():
            warnings.warn(
                f"min_df={min_df!r} and max_df={max_df!r} leave no terms on a corpus of {n} "
                "articles; using min_df=1 and max_df=1.0 instead.",
                UserWarning,
                stacklevel=4,
            )
            return np.ones_like(df, dtype=bool), 1, 1.0
        return keep, min_df, max_df

    def transform(self, X: Iterable[Any]) -> sp.csr_matrix:
        """Return the rows of ``X`` in the fitted vocabulary (unknown words are ignored)."""
        self._check_fitted()
        cleaned = [self.clean_document(d) for d in X]
        return self.transform_cleaned(cleaned)

    def transform_cleaned(self, cleaned: Sequence[Mapping[str, str]]) -> sp.csr_matrix:
        """Like :meth:`transform` for documents already passed through :meth:`clean_document`."""
        self._check_fitted()
        counts, _ = self.count(cleaned, self.vocabulary_)
        return self.weigh(counts, self.idf_)

    def field_values(self, cleaned: Mapping[str, str]) -> dict[str, dict[int, float]]:
        """Unnormalised weighted values ``weight * tf' * idf`` per field and column.

        A row of :meth:`transform` is the sum over fields, divided by its norm; explanations
        use this to say which field a shared term came from.
        """
        self._check_fitted()
        counts, _ = self.count([cleaned], self.vocabulary_)
        weights = self.field_weights()
        out: dict[str, dict[int, float]] = {}
        for name, matrix in counts.items():
            tf = matrix.data.copy()
            if self.sublinear_tf:
                tf = 1.0 + np.log(tf)
            values = weights[name] * tf * self._term_weights(self.idf_)[matrix.indices]
            out[name] = dict(zip(matrix.indices.tolist(), values.tolist(), strict=True))
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Return the terms, in column order, as an object array of str."""
        self._check_fitted()
        names = np.empty(len(self.vocabulary_), dtype=object)
        for term, j in self.vocabulary_.items():
            names[j] = term
        return names

    def _check_fitted(self) -> None:
        if not hasattr(self, "idf_"):
            msg = f"this {type(self).__name__} is not fitted yet; call fit first."
            raise NotFittedError(msg)

    # ---------------------------------------------------------------- plain-data state

    def to_state(self) -> tuple[dict[str, Any], list[str], np.ndarray, list[str]]:
        """Return ``(params, terms, idf, boilerplate_lines)``: everything to rebuild it."""
        self._check_fitted()
        params = self.get_params()
        params["fields"] = self.field_weights() if self.fields is not None else None
        params["ngram_range"] = list(self.ngram_range)
        params["boilerplate_patterns"] = [
            p if isinstance(p, str) else p.pattern for p in self.boilerplate_patterns
        ]
        if isinstance(params["stop_words"], set | frozenset | tuple):
            params["stop_words"] = sorted(params["stop_words"])
        params["effective_min_df"] = self.effective_min_df_
        params["effective_max_df"] = self.effective_max_df_
        params["n_documents"] = self.n_documents_
        params["languages"] = dict(getattr(self, "languages_", {}))
        params["stemmer"] = dict(self.stemmer_)
        return (
            params,
            list(self.get_feature_names_out()),
            self.idf_,
            sorted(self.boilerplate_lines_),
        )

    @classmethod
    def from_state(
        cls,
        params: Mapping[str, Any],
        terms: Sequence[str],
        idf: np.ndarray,
        boilerplate_lines: Iterable[str],
    ) -> FieldTfidfVectorizer:
        """Rebuild a fitted vectorizer from :meth:`to_state` output, without fitting."""
        params = dict(params)
        effective_min = params.pop("effective_min_df")
        effective_max = params.pop("effective_max_df")
        n_documents = params.pop("n_documents")
        languages = params.pop("languages", None) or {}
        # Models saved before the stemmer was recorded were stemmed by nltk.
        used = params.pop("stemmer", None) or {"engine": "nltk", "version": ""}
        params["ngram_range"] = tuple(params["ngram_range"])
        params["boilerplate_patterns"] = tuple(params["boilerplate_patterns"])
        # Models saved before idf_power existed were weighted by idf itself.
        params.setdefault("idf_power", 1.0)
        vec = cls(**params)
        vec._validate_params()
        if len(terms) != len(idf):
            msg = f"{len(terms)} terms but {len(idf)} idf values."
            raise InvalidParameterError(msg)
        vec.vocabulary_ = {t: j for j, t in enumerate(terms)}
        vec.idf_ = np.asarray(idf, dtype=np.float64)
        vec.boilerplate_lines_ = frozenset(boilerplate_lines)
        vec.languages_ = {str(k): int(v) for k, v in dict(languages).items()}
        vec.stemmer_ = {"engine": str(used["engine"]), "version": str(used.get("version", ""))}
        vec.effective_min_df_ = effective_min
        vec.effective_max_df_ = effective_max
        vec.n_documents_ = n_documents
        return vec


def _settle_languages(cleaned: Sequence[dict[str, str]]) -> None:
    """Give the articles too short to tell (language ``""``) the archive's main language."""
    sure = Counter(c["language"] for c in cleaned if c["language"])
    main = max(sure, key=lambda name: (sure[name], name)) if sure else "english"
    for c in cleaned:
        if not c["language"]:
            c["language"] = main


def _language_of(doc: Mapping[str, str]) -> str:
    """A cleaned document's language (detected now when :meth:`clean_document` did not)."""
    return doc.get("language") or detect_language(doc.get("title", "") + "\n" + doc.get("body", ""))


def _languages_found(cleaned: Sequence[Mapping[str, str]], language: str) -> dict[str, int]:
    """How many articles were analysed in each language (most first), logged under "auto"."""
    if language != "auto":
        return {language: len(cleaned)}
    counts = Counter(_language_of(c) for c in cleaned)
    found = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    logger.info("language='auto' analysed the articles as: %s", describe(found.items()))
    return found


#: An article with fewer terms than this "yields almost no terms".
FEW_TERMS = 3
#: Fewest articles with text for that diagnosis.
FEW_TERMS_MIN_ARTICLES = 20


def _warn_about_analysis(
    matrix: sp.csr_matrix, cleaned: Sequence[Mapping[str, str]], vectorizer: FieldTfidfVectorizer
) -> None:
    """Warn when the text looks like another language than the one it is analysed in, or when
    most articles yield almost no terms, naming the likely cause."""
    with_text = [i for i, c in enumerate(cleaned) if c["title"] or c["body"]]
    if len(with_text) < FEW_TERMS_MIN_ARTICLES:
        return  # a handful of test rows is no corpus to diagnose
    sample = [cleaned[i] for i in with_text[:: max(1, len(with_text) // 200)]]
    seen = Counter(detect_language(c["title"] + "\n" + c["body"]) for c in sample)
    likely, n_likely = seen.most_common(1)[0]
    language = vectorizer.language
    if language != "auto" and likely != language and n_likely * 2 > len(sample):
        warnings.warn(
            f"most articles look {likely} but are analysed as {language} (stop words, "
            f"stemming): pass language={likely!r}, or language='auto' to detect it per article.",
            UserWarning,
            stacklevel=4,
        )
        return
    terms = np.diff(matrix.indptr)[with_text]
    few = np.count_nonzero(terms < FEW_TERMS)
    if few * 2 <= len(with_text):
        return
    if vectorizer.tokenizer == "runs" and likely in UNSEGMENTED:
        cause = (
            f"the text looks {likely}, which tokenizer='runs' reads as one word per clause: "
            "use tokenizer='standard'"
        )
    elif vectorizer.effective_min_df_ != 1:
        cause = (
            f"the texts are short for min_df={vectorizer.effective_min_df_!r} (terms in fewer "
            "articles are dropped): lower min_df"
        )
    else:
        cause = "the articles hold little text besides stop words after cleaning"
    warnings.warn(
        f"{few / len(with_text):.0%} of the articles yield fewer than {FEW_TERMS} terms; "
        f"likely cause: {cause}.",
        UserWarning,
        stacklevel=4,
    )
