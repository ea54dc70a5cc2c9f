"""Analysis: cleaned text to terms (tokenize, stop words, Snowball stemming, n-grams).

The :class:`Analyzer` is a picklable callable so it can run in joblib workers. Stemming is
memoized per distinct token: news text repeats its words, and the Snowball stemmer is by far
the slowest step of the pipeline (~93% of the time when every token is stemmed).

No nltk data is ever downloaded: Snowball needs none, the English stop words come from
scikit-learn, and the other languages' lists ship with this package (``stopwords/``, BSD-3,
from python-stop-words; see NOTICE).

:func:`stemmer` is the one place a stemmer is made: the analyzer, the vectorizer's fast
counting and its helper process all stem through it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from importlib import resources
from typing import Any

from ..params import LANGUAGES

__all__ = [
    "LANGUAGES",
    "Analyzer",
    "raw_tokens",
    "stem_all",
    "stemmer",
    "stop_words_for",
    "tokenize",
]

#: Tokens are runs of letters and digits (any script); underscores split them.
_TOKEN = re.compile(r"[^\W_]+")

#: Shorter tokens carry no topic; longer ones are base64 blobs, URLs run together, or run-on
#: strings that must never become vocabulary terms (Lucene rejects "immense terms" likewise).
MIN_TOKEN_CHARS = 2
MAX_TOKEN_CHARS = 40


# Printable ASCII letters and digits are exactly the ASCII characters [^\W_] matches; every
# other ASCII character separates tokens. Built from str methods so it cannot drift from re.
_ASCII_TOKEN_TABLE = str.maketrans(
    {chr(i): chr(i).lower() if chr(i).isalnum() else " " for i in range(128)}
)


def raw_tokens(text: str) -> list[str]:
    """Split text into lower-cased runs of letters and digits, of any length.

    The same as ``re.findall(r"[^\\W_]+", text.lower())``; :func:`tokenize` then keeps the
    tokens of 2 to 40 characters.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    list of str

    Examples
    --------
    >>> raw_tokens("A BBC_News item: 4.75%")
    ['a', 'bbc', 'news', 'item', '4', '75']
    """
    if text.isascii():
        # str.isascii() is O(1); an ASCII-to-ASCII translate plus split() runs ~4x faster
        # than the regular expression, which tests Unicode categories per character.
        return text.translate(_ASCII_TOKEN_TABLE).split()
    return _TOKEN.findall(text.lower())


def tokenize(text: str) -> list[str]:
    """Split cleaned text into lower-cased word tokens of 2 to 40 characters.

    Parameters
    ----------
    text : str
        Cleaned text (see :func:`relatedness.text.clean_text`).

    Returns
    -------
    list of str

    Examples
    --------
    >>> tokenize("Bank holds interest rate at 4.75% - BBC_News")
    ['bank', 'holds', 'interest', 'rate', 'at', '75', 'bbc', 'news']
    """
    return [
        token for token in raw_tokens(text) if MIN_TOKEN_CHARS <= len(token) <= MAX_TOKEN_CHARS
    ]


@cache
def stop_words_for(language: str) -> frozenset[str]:
    """Return the stop word list for ``language`` (lower case, unstemmed).

    English is scikit-learn's ``ENGLISH_STOP_WORDS``; the other languages ship with the
    package.
    """
    if language == "english":
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        return frozenset(ENGLISH_STOP_WORDS)
    data = resources.files("relatedness.features") / "stopwords" / f"{language}.txt"
    words = data.read_text(encoding="utf-8").split()
    return frozenset(w.lower() for w in words)


@cache
def stemmer(language: str) -> Callable[[str], str]:
    """The Snowball stemmer of ``language``: a function from a token to its stem.

    nltk's pure-Python Snowball (no data download), made once per language and process.

    Examples
    --------
    >>> stemmer("english")("holdings")
    'hold'
    """
    from nltk.stem.snowball import SnowballStemmer  # deferred: keeps import light

    return SnowballStemmer(language).stem


def stem_all(tokens: Sequence[str], language: str) -> list[str]:
    """The stem of each token, in order (a top-level function, so a worker can run it)."""
    return list(map(stemmer(language), tokens))


class Analyzer:
    """Turn cleaned text into terms: tokenize, drop stop words, stem, optionally add n-grams.

    Parameters
    ----------
    language : str, default "english"
        One of :data:`LANGUAGES`; picks the Snowball stemmer and the stop word list.
    stop_words : "auto", None or iterable of str, default "auto"
        ``"auto"`` uses the language's list, ``None`` keeps every token, an iterable is used
        as given (lower-cased). Stop words are removed before stemming.
    stem : bool, default True
        Apply nltk's Snowball stemmer.
    ngram_range : tuple (min_n, max_n), default (1, 1)
        Word n-grams over the stemmed tokens, joined by a space (``(1, 2)`` adds bigrams).

    Examples
    --------
    >>> Analyzer()("The banks were holding rates")
    ['bank', 'hold', 'rate']
    """

    def __init__(
        self,
        language: str = "english",
        stop_words: Any = "auto",
        stem: bool = True,
        ngram_range: tuple[int, int] = (1, 1),
    ) -> None:
        self.language = language
        self.stop_words = stop_words
        self.stem = stem
        self.ngram_range = ngram_range
        self._setup()

    def _setup(self) -> None:
        if self.stop_words == "auto":
            self.stop: frozenset[str] = stop_words_for(self.language)
        elif self.stop_words is None:
            self.stop = frozenset()
        else:
            self.stop = frozenset(str(w).lower() for w in self.stop_words)
        #: The stemmer (``None`` without stemming); see :func:`stemmer`.
        self.stemmer = stemmer(self.language) if self.stem else None
        self._cache: dict[str, str] = {}

    # The memo and the stemmer are rebuilt in each worker rather than shipped.
    def __getstate__(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "stop_words": self.stop_words,
            "stem": self.stem,
            "ngram_range": self.ngram_range,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup()

    def _stem(self, token: str) -> str:
        stemmed = self._cache.get(token)
        if stemmed is None:
            stemmed = self.stemmer(token) if self.stemmer is not None else token
            self._cache[token] = stemmed
        return stemmed

    def __call__(self, text: str) -> list[str]:
        """Return the terms of ``text`` in order (repeated terms repeat)."""
        stop = self.stop
        terms = [self._stem(t) for t in tokenize(text) if t not in stop]
        low, high = self.ngram_range
        if high <= 1:
            return terms
        return list(_ngrams(terms, low, high))


def _ngrams(terms: list[str], low: int, high: int) -> Iterable[str]:
    if low <= 1:
        yield from terms
    for n in range(max(low, 2), high + 1):
        for start in range(len(terms) - n + 1):
            yield " ".join(terms[start : start + n])
