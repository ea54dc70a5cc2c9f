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

import math
import re
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from . import text as _text
from ._validation import NONE, Constraint, check_params, interval, one_of, type_of
from .analysis import (
    LANGUAGES,
    MAX_TOKEN_CHARS,
    MIN_TOKEN_CHARS,
    Analyzer,
    _raw_tokens,
)
from .articles import Article
from .exceptions import EmptyCorpusError, InvalidParameterError

__all__ = ["DEFAULT_FIELDS", "FIELD_NAMES", "FieldTfidfVectorizer"]

#: The fields an article can contribute, in the order they are summed.
FIELD_NAMES = ("title", "body", "tags")

#: Measured on the BBC set (section_policy="any", P@10 of same-section neighbours): title weight
#: 2.0 -> 0.907, 1.0 -> 0.917, 0.5 -> 0.921, 0.0 -> 0.922. A headline repeats the story's key
#: words, which the body already carries; weighting it up over-rewards shared headline words.
DEFAULT_FIELDS: Mapping[str, float] = {"title": 0.5, "body": 1.0, "tags": 1.0}

#: Row dtype: float32 halves memory; scores are accumulated in float64 by the scorers.
DTYPE = np.float32


def _is_fields(value: Any) -> bool:
    if not isinstance(value, Mapping) or not value:
        return False
    if any(k not in FIELD_NAMES for k in value):
        return False
    weights = list(value.values())
    ok = all(
        isinstance(w, int | float) and not isinstance(w, bool) and math.isfinite(w) and w >= 0
        for w in weights
    )
    return ok and any(w > 0 for w in weights)


def _is_patterns(value: Any) -> bool:
    """A list/tuple of regular expressions (str or compiled) that all compile."""
    if not isinstance(value, list | tuple):
        return False
    for pattern in value:
        if isinstance(pattern, re.Pattern):
            continue
        if not isinstance(pattern, str):
            return False
        try:
            re.compile(pattern)
        except re.error:
            return False
    return True


def _is_ngram_range(value: Any) -> bool:
    return (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and 1 <= value[0] <= value[1] <= 3
    )


_CONSTRAINTS: dict[str, list[Constraint]] = {
    "fields": [
        Constraint(
            _is_fields,
            "a dict mapping some of 'title', 'body', 'tags' to finite weights >= 0 "
            "(at least one > 0)",
        )
    ],
    "language": [one_of(*LANGUAGES)],
    "stop_words": [one_of("auto"), NONE, type_of(list, tuple, set, frozenset)],
    "stem": [type_of(bool)],
    "sublinear_tf": [type_of(bool)],
    "idf_power": [interval("real", 0, 4)],
    "min_df": [interval("int", 1, None), interval("real", 0, 1, closed="right")],
    "max_df": [interval("int", 1, None), interval("real", 0, 1, closed="right")],
    "ngram_range": [
        Constraint(_is_ngram_range, "a pair (min_n, max_n) with 1 <= min_n <= max_n <= 3")
    ],
    "max_chars": [interval("int", 1, None)],
    "boilerplate": [type_of(bool)],
    "boilerplate_patterns": [
        Constraint(_is_patterns, "a list of regular expressions (str or re.Pattern) that compile")
    ],
    "boilerplate_min_share": [NONE, interval("real", 0, 1, closed="right")],
    "n_jobs": [NONE, interval("int", -1, -1), interval("int", 1, None)],
}


#: Below this many documents the joblib start-up (spawning workers that import scikit-learn
#: and nltk) costs more than it saves: measured 3.2 s serial vs 9.1 s on 2 workers at 3,000.
PARALLEL_MIN_DOCS = 20_000

#: joblib chunks need this many workers to pay. With two, the parent cleaning and counting
#: while one forked child stems (:class:`_StemWorker`) wins: 50,000 synthetic articles took
#: 20.5 s that way (before the child existed) and 68.8 s on two joblib workers, which spawn
#: interpreters that import scikit-learn and nltk, and pickle every text out and back.
PARALLEL_MIN_WORKERS = 3


def _count_raw_chunk(
    texts: Mapping[str, Sequence[str]], stop: frozenset[str]
) -> tuple[list[str], dict[str, sp.csr_matrix]]:
    """Count raw (unstemmed) tokens per field for one chunk of documents.

    Returns the chunk's own vocabulary and, per field, a CSR count matrix over it (a token
    repeated in a document appears repeatedly, as 1s). Stemming happens later, once per
    distinct token of the corpus.
    """
    # Raw token -> local column, or -1 for a token that is never a term (a stop word, too
    # short or too long): each distinct token is judged once, and a document's tokens are
    # then mapped by C-level map() instead of a Python loop per token.
    ids: dict[str, int] = {}
    vocab: list[str] = []
    raw: dict[str, tuple[list[int], list[int]]] = {}
    for name, docs in texts.items():
        tokenized = [_raw_tokens(text) for text in docs]
        # One set of the whole chunk's new tokens; sorted() so that the local column order
        # does not depend on string hashing.
        for token in sorted(set().union(*tokenized).difference(ids)):
            if token in stop or not MIN_TOKEN_CHARS <= len(token) <= MAX_TOKEN_CHARS:
                ids[token] = -1
            else:
                ids[token] = len(vocab)
                vocab.append(token)
        lengths = [len(tokens) for tokens in tokenized]
        indices: list[int] = []
        for tokens in tokenized:
            indices.extend(map(ids.__getitem__, tokens))
        raw[name] = (lengths, indices)
    counts: dict[str, sp.csr_matrix] = {}
    for name, (lengths, indices) in raw.items():
        columns = np.array(indices, dtype=np.int64)
        rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
        keep = columns >= 0
        indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows[keep], minlength=len(lengths)), out=indptr[1:])
        columns = columns[keep]
        # Repeated columns within a row are left in: the stem-merging product sums them.
        counts[name] = sp.csr_matrix(
            (np.ones(len(columns), dtype=np.float64), columns, indptr),
            shape=(len(lengths), len(vocab)),
        )
    return vocab, counts


def _relabel_columns(counts: sp.csr_matrix, columns: np.ndarray, n_columns: int) -> sp.csr_matrix:
    """``counts`` with column ``c`` moved to ``columns[c]`` (dropped where -1), unsummed."""
    new = columns[counts.indices]
    keep = new >= 0
    rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    indptr = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[keep], minlength=counts.shape[0]), out=indptr[1:])
    return sp.csr_matrix((counts.data[keep], new[keep], indptr), shape=(counts.shape[0], n_columns))


def _stem_chunk(tokens: Sequence[str], language: str) -> list[str]:
    from nltk.stem.snowball import SnowballStemmer

    return list(map(SnowballStemmer(language).stem, tokens))


#: Seconds (plus 1 ms per token) the parent waits for the background stemmer before it kills
#: the child and stems in-process.
STEM_WORKER_TIMEOUT = 120.0

#: Transforms of at most this many documents (queries) keep their stems in a memo on the
#: vectorizer, bounded to QUERY_MEMO_MAX_TOKENS entries (cleared when full).
QUERY_MEMO_MAX_DOCS = 64
QUERY_MEMO_MAX_TOKENS = 500_000

#: From this many articles on, with ``n_jobs`` allowing two processes, a forked process stems
#: the distinct tokens while the caller cleans and counts. Below it the fork and the child's
#: nltk import (~0.5 s) are not hidden behind enough main-process work.
BACKGROUND_STEM_MIN_DOCS = 5_000


class _StemWorker:
    """Stem batches of distinct tokens in one forked child while the parent keeps working.

    Fork, not spawn: the child starts in milliseconds with numpy, scikit-learn and this
    module already loaded, so only nltk is imported there (a spawned interpreter takes
    seconds to import nltk, which pulls in scipy.stats). The child only runs the pure-Python
    stemmer. Batches come back in submission order; if the child fails in any way, the
    parent stems everything itself, so the result never depends on the worker.
    """

    def __init__(self, language: str) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.language = language
        self._tokens: list[str] = []
        self._futures: list[Any] = []
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("fork")
        )
        # An empty batch makes the child import nltk now, during the parent's cleaning.
        self._futures.append(self._pool.submit(_stem_chunk, [], language))

    @classmethod
    def start(cls, language: str, n_jobs: int | None) -> _StemWorker | None:
        """Return a running worker, or None where fork is unavailable or unsafe."""
        import multiprocessing
        import threading

        from joblib import effective_n_jobs

        # fork() in a process with other threads can deadlock the child (a lock held by a
        # thread that does not exist there); with one thread it is safe.
        if (
            effective_n_jobs(n_jobs) < 2
            or "fork" not in multiprocessing.get_all_start_methods()
            or threading.active_count() > 1
        ):
            return None
        try:
            return cls(language)
        except Exception:  # no process could be started (limits, sandbox): stem in-process
            return None

    def submit(self, tokens: list[str]) -> None:
        """Queue ``tokens`` for stemming (no-op for an empty list)."""
        if not tokens:
            return
        self._tokens.extend(tokens)
        try:
            self._futures.append(self._pool.submit(_stem_chunk, tokens, self.language))
        except Exception:
            self._futures.append(None)  # recovered in stems()

    def stems(self) -> list[str]:
        """Return the stems of every submitted token, in order."""
        # The child stems ~30,000 tokens a second; a child that has not answered within a
        # generous bound is stuck (a fork can inherit a lock held by a thread the child does
        # not have): it is killed and the parent stems everything itself.
        deadline = time.monotonic() + STEM_WORKER_TIMEOUT + len(self._tokens) / 1_000
        try:
            out: list[str] = []
            for future in self._futures:
                out.extend(future.result(timeout=max(0.0, deadline - time.monotonic())))
            return out
        except Exception:
            self._kill()
            return _stem_chunk(self._tokens, self.language)

    def _kill(self) -> None:
        for process in list(getattr(self._pool, "_processes", {}).values()):
            process.kill()

    def close(self) -> None:
        """Stop the child (waits for it, so no executor thread outlives the fit)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def _clean_chunk(vectorizer: FieldTfidfVectorizer, docs: Sequence[Any]) -> list[dict[str, str]]:
    return [vectorizer.clean_document(d, learned=False) for d in docs]


def document_fields(doc: Any) -> tuple[str, str, Sequence[str]]:
    """Return ``(title, body, tags)`` of an Article, a mapping, or a bare string (the body)."""
    if isinstance(doc, str):
        return "", doc, ()
    if isinstance(doc, Article):
        return doc.title, doc.body, doc.tags
    if isinstance(doc, Mapping):
        return doc.get("title", "") or "", doc.get("body", "") or "", doc.get("tags", ()) or ()
    msg = f"a document must be an Article, a dict or a str, got a {type(doc).__name__}."
    raise TypeError(msg)


class FieldTfidfVectorizer(TransformerMixin, BaseEstimator):
    """Clean, analyse and vectorise articles into field-weighted, L2-normalised TF-IDF rows.

    Parameters
    ----------
    fields : dict, default {"title": 0.5, "body": 1.0, "tags": 1.0}
        Weight of each field. Omitted fields are ignored.
    language : str, default "english"
        Stemmer and stop word language (see :data:`relatedness.analysis.LANGUAGES`).
    stop_words : "auto", None or list of str, default "auto"
        ``"auto"``: the language's list; ``None``: keep all words.
    stem : bool, default True
        Snowball stemming (memoized per distinct token).
    sublinear_tf : bool, default True
        Use ``1 + ln(tf)`` per field instead of raw counts.
    idf_power : float in [0, 4], default 1.0
        Terms are weighted by ``idf ** idf_power``: 1 is classic TF-IDF, smaller values
        flatten the gap between rare and common words, 0 ignores idf. ``idf_`` itself is
        always the plain smoothed idf.
    min_df, max_df : int or float, default 2 and 1.0
        Keep terms in at least ``min_df`` and at most ``max_df`` articles (a float is a share
        of the corpus). On a corpus too small for them (one article, or thresholds that
        contradict each other, or that would leave no term) both are relaxed to 1 and 1.0
        with a warning; the values used are ``effective_min_df_``/``effective_max_df_``.
    ngram_range : (int, int), default (1, 1)
        ``(1, 2)`` adds word bigrams.
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
    >>> vec = FieldTfidfVectorizer(min_df=1)
    >>> X = vec.fit_transform([{"title": "Rates held", "body": "The bank held rates."},
    ...                        {"title": "Cup final", "body": "The team won the cup."}])
    >>> X.shape, list(vec.get_feature_names_out()[:3])
    ((2, 6), ['bank', 'cup', 'final'])
    """

    def __init__(
        self,
        fields: Mapping[str, float] | None = None,
        language: str = "english",
        stop_words: Any = "auto",
        stem: bool = True,
        sublinear_tf: bool = True,
        idf_power: float = 1.0,
        min_df: float = 2,
        max_df: float = 1.0,
        ngram_range: tuple[int, int] = (1, 1),
        max_chars: int = 200_000,
        boilerplate: bool = True,
        boilerplate_patterns: Sequence[Any] = (),
        boilerplate_min_share: float | None = 0.05,
        n_jobs: int | None = None,
    ) -> None:
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
        self.n_jobs = n_jobs

    # ---------------------------------------------------------------- parameters and helpers

    def _field_weights(self) -> dict[str, float]:
        fields = DEFAULT_FIELDS if self.fields is None else self.fields
        return {f: float(fields[f]) for f in FIELD_NAMES if f in fields and fields[f] > 0}

    def _validate_params(self) -> None:
        params = self.get_params()
        if params["fields"] is None:
            params["fields"] = dict(DEFAULT_FIELDS)
        check_params(type(self).__name__, params, _CONSTRAINTS)

    def _analyzer(self, *, load_stemmer: bool = True) -> Analyzer:
        low, high = self.ngram_range
        # Without a stemmer the analyzer is only used for its stop words (the stems come
        # from a background worker): the parent then never imports nltk.
        stem = self.stem and load_stemmer
        return Analyzer(self.language, self.stop_words, stem, (low, high))

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
        return {
            "title": _text.clean_title(title),
            "body": clean_body,
            "tags": "\n".join(_text.clean_title(t) for t in tags),
        }

    # ---------------------------------------------------------------- counting

    def _parallel(
        self, function: Any, arguments: Sequence[tuple], n_docs: int, *, lazy: bool = False
    ) -> Iterable:
        """Run ``function(*args)`` for each argument tuple, in joblib workers when it pays.

        With ``lazy``, results are yielded in order as they arrive instead of as one list.
        """
        if self._n_workers(n_docs) == 1 or len(arguments) < 2:
            if lazy:
                return (function(*a) for a in arguments)
            return [function(*a) for a in arguments]
        from joblib import Parallel, delayed

        return_as = "generator" if lazy else "list"
        return Parallel(n_jobs=self.n_jobs, return_as=return_as)(
            delayed(function)(*a) for a in arguments
        )

    def _n_workers(self, n_docs: int) -> int:
        """joblib workers for a corpus of ``n_docs`` articles (1: run in this process)."""
        if n_docs < PARALLEL_MIN_DOCS or self.n_jobs == 1:
            return 1
        from joblib import effective_n_jobs

        workers = effective_n_jobs(self.n_jobs)
        return workers if workers >= PARALLEL_MIN_WORKERS else 1

    def _chunks(self, n: int, min_parts: int = 1) -> list[tuple[int, int]]:
        workers = self._n_workers(n)
        # Several chunks per worker, for balance; min_parts to feed a background stemmer.
        parts = max(1, min(n, max(workers * 4 if workers > 1 else 1, min_parts)))
        bounds = np.linspace(0, n, parts + 1).astype(int)
        return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]

    def _clean_all(self, docs: Sequence[Any]) -> list[dict[str, str]]:
        chunks = self._chunks(len(docs))
        parts = self._parallel(_clean_chunk, [(self, docs[a:b]) for a, b in chunks], len(docs))
        return [c for part in parts for c in part]

    def _count(
        self,
        cleaned: Sequence[Mapping[str, str]],
        vocabulary: dict[str, int] | None,
        stem_worker: _StemWorker | None = None,
    ) -> tuple[dict[str, sp.csr_matrix], dict[str, int]]:
        """Per-field term-count matrices. With ``vocabulary=None`` a new one is grown.

        Words, and words with word pairs (``ngram_range=(1, 2)``, see :meth:`_count_pairs`),
        take the fast path: count raw tokens (in parallel chunks), stem each
        distinct token once, then merge the columns of tokens that share a stem. The counts
        are integers, so the result is identical to stemming every token (tested). With a
        ``stem_worker``, each chunk's new tokens are stemmed in the background while the
        next chunks are counted.
        """
        # Word pairs: counted below from the stemmed sequences, as integer keys.
        pairs = tuple(self.ngram_range) == (1, 2)
        if self.ngram_range[1] > 1 and not pairs:
            return self._count_plain(cleaned, vocabulary)
        weights = self._field_weights()
        analyzer = self._analyzer(load_stemmer=stem_worker is None)
        # Chunks of ~1,000 articles: a chunk holds every token list of its articles at once
        # (one chunk for a whole 50k corpus peaked at 2.3 GiB against 1.0), and small chunks
        # let the background stemmer start early.
        chunks = self._chunks(len(cleaned), min_parts=max(1, len(cleaned) // 1000))
        arguments = [
            ({f: [cleaned[i][f] for i in range(a, b)] for f in weights}, analyzer._stop)
            for a, b in chunks
        ]
        results = self._parallel(_count_raw_chunk, arguments, len(cleaned), lazy=True)
        raw_index: dict[str, int] = {}
        pieces: dict[str, list[tuple[sp.csr_matrix, np.ndarray]]] = {f: [] for f in weights}
        for local_vocab, counts in results:
            remap = np.empty(len(local_vocab), dtype=np.int64)
            new_tokens: list[str] = []
            for i, token in enumerate(local_vocab):
                j = raw_index.get(token)
                if j is None:
                    j = raw_index[token] = len(raw_index)
                    new_tokens.append(token)
                remap[i] = j
            if stem_worker is not None:
                stem_worker.submit(new_tokens)
            for name, matrix in counts.items():
                pieces[name].append((matrix, remap))
        raw_tokens = list(raw_index)
        if stem_worker is not None:
            stems = stem_worker.stems()
        else:
            stems = self._stem_all(raw_tokens, analyzer, len(cleaned))
        vocab: dict[str, int] = {} if vocabulary is None else vocabulary
        if vocabulary is None:
            columns = np.array([vocab.setdefault(t, len(vocab)) for t in stems], dtype=np.int64)
        else:
            columns = np.array([vocab.get(t, -1) for t in stems], dtype=np.int64)
        known = columns >= 0
        merge = sp.csr_matrix(
            (np.ones(int(known.sum())), (np.flatnonzero(known), columns[known])),
            shape=(len(raw_tokens), len(vocab)),
        )
        out: dict[str, sp.csr_matrix] = {}
        sequences: dict[str, sp.csr_matrix] = {}
        for name, parts in pieces.items():
            blocks = [
                sp.csr_matrix(
                    (m.data, remap[m.indices], m.indptr), shape=(m.shape[0], len(raw_tokens))
                )
                for m, remap in parts
            ]
            if len(blocks) == 1:
                stacked = blocks[0]
            elif blocks:
                stacked = sp.vstack(blocks, format="csr")
            else:
                stacked = sp.csr_matrix((0, len(raw_tokens)))
            if vocabulary is None:
                merged = sp.csr_matrix(stacked @ merge)
            else:
                # A transform (often one query): relabel the columns in place instead of a
                # product whose accumulator spans the whole vocabulary. Counts are whole
                # numbers, so the sums are exact either way.
                merged = _relabel_columns(stacked, columns, len(vocab))
            if pairs:
                sequences[name] = stacked  # each row's raw tokens, still in text order
            merged.sum_duplicates()
            out[name] = merged
        if pairs:
            self._count_pairs(sequences, stems, vocab, vocabulary is None, out)
        return out, vocab

    @staticmethod
    def _count_pairs(
        sequences: Mapping[str, sp.csr_matrix],
        stems: Sequence[str],
        vocab: dict[str, int],
        growing: bool,
        out: dict[str, sp.csr_matrix],
    ) -> None:
        """Add word-pair counts to ``out`` (and pairs to a ``growing`` vocabulary).

        A pair is two consecutive kept tokens of a field, as the analyzer forms it: the two
        stems joined by a space. Pairs are keyed by integers (stem code * n_stems + stem
        code) so that a string is built once per distinct pair, not once per occurrence.
        Counts are whole numbers: the sums equal the analyzer path's exactly (tested).
        """
        names, codes = np.unique(np.asarray(stems, dtype=object), return_inverse=True)
        n_stems = np.int64(max(1, len(names)))
        keys: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, seq in sequences.items():
            stem_seq = codes[seq.indices].astype(np.int64)
            row_of = np.repeat(np.arange(seq.shape[0]), np.diff(seq.indptr))
            same = row_of[1:] == row_of[:-1]
            keys[name] = (row_of[1:][same], stem_seq[:-1][same] * n_stems + stem_seq[1:][same])
        distinct, inverse = np.unique(
            np.concatenate([k for _, k in keys.values()] + [np.empty(0, np.int64)]),
            return_inverse=True,
        )
        words = names.tolist()
        first, second = (distinct // n_stems).tolist(), (distinct % n_stems).tolist()
        strings = [words[a] + " " + words[b] for a, b in zip(first, second, strict=True)]
        if growing:
            column = np.array([vocab.setdefault(t, len(vocab)) for t in strings], np.int64)
        else:
            column = np.array([vocab.get(t, -1) for t in strings], dtype=np.int64)
        start = 0
        for name, (rows, field_keys) in keys.items():
            cols = column[inverse[start : start + len(field_keys)]]
            start += len(field_keys)
            kept = cols >= 0
            shape = (out[name].shape[0], len(vocab))
            counted = sp.csr_matrix(
                (np.ones(int(kept.sum())), (rows[kept], cols[kept])), shape=shape
            )
            words_only = out[name]
            words_only.resize(shape)
            total = sp.csr_matrix(words_only + counted)
            total.sum_duplicates()
            out[name] = total

    def _stem_all(self, tokens: Sequence[str], analyzer: Analyzer, n_docs: int) -> list[str]:
        """The stem of each distinct token, computed once (in parallel for large corpora)."""
        if not self.stem:
            return list(tokens)
        if self._n_workers(n_docs) > 1 and len(tokens) > 10_000:
            bounds = np.linspace(0, len(tokens), 5).astype(int)
            parts = self._parallel(
                _stem_chunk,
                [
                    (tokens[a:b], self.language)
                    for a, b in zip(bounds[:-1], bounds[1:], strict=True)
                ],
                n_docs,
            )
            return [t for part in parts for t in part]
        assert analyzer._stemmer is not None  # self.stem, and no background worker
        if n_docs > QUERY_MEMO_MAX_DOCS:
            # A fit: the tokens are distinct, a memo would only add cost.
            return list(map(analyzer._stemmer.stem, tokens))
        # Queries (related_to, add) meet the same words again and again: keep their stems.
        memo: dict[str, str] = self.__dict__.setdefault("_query_stems", {})
        if len(memo) > QUERY_MEMO_MAX_TOKENS:
            memo.clear()
        stem = analyzer._stemmer.stem
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
        analyzer = self._analyzer()
        growing = vocabulary is None
        vocab: dict[str, int] = {} if vocabulary is None else vocabulary
        parts: dict[str, tuple[list[int], list[int]]] = {}
        for name in self._field_weights():
            rows: list[int] = []
            cols: list[int] = []
            for i, doc in enumerate(cleaned):
                terms = analyzer(doc[name])
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

    def _weigh(
        self, counts: Mapping[str, sp.csr_matrix], idf: np.ndarray, *, norms_out: list | None = None
    ) -> sp.csr_matrix:
        """Combine field counts into normalised TF-IDF rows (float32, sorted indices).

        With ``norms_out`` (a list), the rows' norms before normalisation are appended to it.
        """
        weights = self._field_weights()
        total: sp.csr_matrix | None = None
        for name, weight in weights.items():
            tf = counts[name].copy()
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
        norms = np.sqrt(np.asarray(total.multiply(total).sum(axis=1)).ravel())
        # An article with no known terms keeps an all-zero row: it scores 0 with everything
        # and the scorers never return a score <= 0, so it never appears in anyone's list.
        norms[norms == 0.0] = 1.0
        if norms_out is not None:
            norms_out.append(norms)
        total.data *= np.repeat(1.0 / norms, np.diff(total.indptr))
        out = sp.csr_matrix(total, dtype=DTYPE)
        out.sort_indices()
        return out

    def _term_weights(self, idf: np.ndarray) -> np.ndarray:
        """``idf ** idf_power`` (``idf`` itself at power 1: the classic weights, same bits)."""
        power = float(self.idf_power)
        return idf if power == 1.0 else np.power(idf, power)

    # ---------------------------------------------------------------- fit / transform

    def fit(self, X: Iterable[Any], y: None = None) -> FieldTfidfVectorizer:
        """Learn boilerplate lines, vocabulary and idf from articles."""
        self.fit_transform(X)
        return self

    def fit_transform(self, X: Iterable[Any], y: None = None) -> sp.csr_matrix:
        """Fit, then return the rows of ``X`` (faster than ``fit(X).transform(X)``)."""
        matrix, _ = self._fit_transform_cleaned(X)
        return matrix

    def _fit_transform_cleaned(self, X: Iterable[Any]) -> tuple[sp.csr_matrix, list[dict]]:
        """Fit and transform; also return the cleaned text (the façade keeps it for snippets)."""
        self._validate_params()
        docs = list(X)
        if not docs:
            msg = "cannot fit on an empty corpus: pass at least one article."
            raise EmptyCorpusError(msg)
        for attr in ("boilerplate_lines_",):
            self.__dict__.pop(attr, None)
        stem_worker = None
        if self.stem and self.ngram_range[1] <= 1 and len(docs) >= BACKGROUND_STEM_MIN_DOCS:
            stem_worker = _StemWorker.start(self.language, self.n_jobs)
        try:
            cleaned = self._clean_all(docs)
            if self.boilerplate_min_share is None:
                lines: frozenset[str] = frozenset()
            else:
                # clean_text output is collapsed: skip re-checking every body.
                lines = _text._find_recurring_lines(
                    (c["body"] for c in cleaned),
                    min_share=self.boilerplate_min_share,
                    min_count=3,
                    collapsed=True,
                )
                if lines:
                    for c in cleaned:
                        c["body"] = _text.drop_lines(c["body"], lines)
            counts, vocab = self._count(cleaned, None, stem_worker)
        finally:
            if stem_worker is not None:
                stem_worker.close()
        n = len(docs)
        if not vocab:
            msg = (
                f"no indexable text in any of the {n} articles after cleaning (all empty, "
                "markup, stop words or emoji only). Check the 'title'/'body' fields of the input."
            )
            raise EmptyCorpusError(msg)
        presence = sum(counts.values(), sp.csr_matrix((n, len(vocab))))
        df = np.bincount(sp.csr_matrix(presence).indices, minlength=len(vocab))
        keep, min_df, max_df = self._prune(df, n)
        terms = sorted(t for t, j in vocab.items() if keep[j])
        old_columns = np.array([vocab[t] for t in terms], dtype=np.int64)
        counts = {name: m[:, old_columns].tocsr() for name, m in counts.items()}
        df = df[old_columns]
        self.vocabulary_ = {t: j for j, t in enumerate(terms)}
        self.idf_ = np.log((1.0 + n) / (1.0 + df)) + 1.0
        self.boilerplate_lines_ = lines
        self.effective_min_df_ = min_df
        self.effective_max_df_ = max_df
        self.n_documents_ = n
        norms: list[np.ndarray] = []
        matrix = self._weigh(counts, self.idf_, norms_out=norms)
        self.row_norms_ = norms[0]
        return matrix, cleaned

    def _prune(self, df: np.ndarray, n: int) -> tuple[np.ndarray, float, float]:
        """Apply min_df/max_df; relax both when the corpus is too small for them."""
        min_df, max_df = self.min_df, self.max_df
        min_count = min_df if isinstance(min_df, int) else min_df * n
        max_count = max_df if isinstance(max_df, int) else max_df * n
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
        counts, _ = self._count(cleaned, self.vocabulary_)
        return self._weigh(counts, self.idf_)

    def field_values(self, cleaned: Mapping[str, str]) -> dict[str, dict[int, float]]:
        """Unnormalised weighted values ``weight * tf' * idf`` per field and column.

        A row of :meth:`transform` is the sum over fields, divided by its norm; explanations
        use this to say which field a shared term came from.
        """
        self._check_fitted()
        counts, _ = self._count([cleaned], self.vocabulary_)
        weights = self._field_weights()
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
            from .exceptions import NotFittedError

            msg = f"this {type(self).__name__} is not fitted yet; call fit first."
            raise NotFittedError(msg)

    # ---------------------------------------------------------------- plain-data state

    def to_state(self) -> tuple[dict[str, Any], list[str], np.ndarray, list[str]]:
        """Return ``(params, terms, idf, boilerplate_lines)``: everything to rebuild it."""
        self._check_fitted()
        params = self.get_params()
        params["fields"] = self._field_weights() if self.fields is not None else None
        params["ngram_range"] = list(self.ngram_range)
        params["boilerplate_patterns"] = [
            p if isinstance(p, str) else p.pattern for p in self.boilerplate_patterns
        ]
        if isinstance(params["stop_words"], set | frozenset | tuple):
            params["stop_words"] = sorted(params["stop_words"])
        params["effective_min_df"] = self.effective_min_df_
        params["effective_max_df"] = self.effective_max_df_
        params["n_documents"] = self.n_documents_
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
        vec.effective_min_df_ = effective_min
        vec.effective_max_df_ = effective_max
        vec.n_documents_ = n_documents
        return vec
