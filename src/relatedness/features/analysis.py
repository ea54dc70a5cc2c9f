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

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from importlib import resources
from typing import Any

from .. import params
from .scripts import cjk_terms, has_cjk, is_cjk, strip_arabic_marks

__all__ = [
    "CODES",
    "LANGUAGES",
    "ENGINES",
    "UNSEGMENTED",
    "Analyzer",
    "available_engine",
    "char_grams",
    "engine_version",
    "grams_for",
    "is_term",
    "raw_tokens",
    "stem_all",
    "stemmer",
    "stop_words_for",
    "tokenize",
]

#: Languages whose words are not separated by spaces: indexed as character bigrams, unstemmed.
UNSEGMENTED = ("chinese", "japanese", "korean")

#: Languages with a Snowball stemmer and a shipped stop word list.
LANGUAGES = tuple(name for name in params.LANGUAGES if name not in UNSEGMENTED)

#: Short codes of the languages, for the keys of a multilingual corpus (``"en:bank"``): under
#: ``language="auto"`` each article's tokens are stop-listed and stemmed in its own language.
CODES = {
    "arabic": "ar", "chinese": "zh", "danish": "da", "dutch": "nl", "english": "en",
    "finnish": "fi", "french": "fr", "german": "de", "hungarian": "hu", "italian": "it",
    "japanese": "ja", "korean": "ko", "norwegian": "no", "portuguese": "pt", "romanian": "ro",
    "russian": "ru", "spanish": "es", "swedish": "sv",
}  # fmt: skip
_LANGUAGE_OF = {code: language for language, code in CODES.items()}


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


def raw_tokens(text: str, tokenizer: str = "standard") -> list[str]:
    """Split text into lower-cased tokens, of any length.

    ``tokenizer="runs"`` is ``re.findall(r"[^\\W_]+", text.lower())``: runs of letters and
    digits. ``"standard"`` also removes Arabic diacritics and tatweel (so a mark does not
    split a word; letter variants are left to the stemmer) and splits Chinese, Japanese and
    Korean runs into character bigrams (:func:`~relatedness.features.scripts.cjk_terms`),
    since those scripts put no spaces between words. :func:`tokenize` then keeps the terms.

    Parameters
    ----------
    text : str
        Any text.
    tokenizer : {"standard", "runs"}, default "standard"

    Returns
    -------
    list of str

    Examples
    --------
    >>> raw_tokens("A BBC_News item: 4.75%")
    ['a', 'bbc', 'news', 'item', '4', '75']
    >>> raw_tokens("東京都の天気")
    ['東京', '京都', '都の', 'の天', '天気']
    """
    if text.isascii():
        # str.isascii() is O(1); an ASCII-to-ASCII translate plus split() runs ~4x faster
        # than the regular expression, which tests Unicode categories per character.
        return text.translate(_ASCII_TOKEN_TABLE).split()
    if tokenizer == "runs":
        return _TOKEN.findall(text.lower())
    tokens = _TOKEN.findall(strip_arabic_marks(text.lower()))
    if not has_cjk(text):
        return tokens
    out: list[str] = []
    for token in tokens:
        if has_cjk(token):
            out.extend(cjk_terms(token))
        else:
            out.append(token)
    return out


def char_grams(text: str, longest: int) -> list[str]:
    """Character n-grams of 2 to ``longest`` characters, for Chinese, Japanese and Korean.

    These languages put no spaces between words: as scikit-learn's ``analyzer="char"`` does,
    the lower-cased text (whitespace runs as one space) is cut into every n-gram, punctuation
    and Latin letters included; n-grams that are only whitespace are dropped.

    Examples
    --------
    >>> char_grams("東京都へ", 3)
    ['東京', '京都', '都へ', '東京都', '京都へ']
    """
    text = " ".join(strip_arabic_marks(text.lower()).split())
    grams: list[str] = []
    for n in range(2, longest + 1):
        grams.extend(text[i : i + n] for i in range(len(text) - n + 1))
    return [g for g in grams if not g.isspace()]


def grams_for(ngram_range: tuple[int, int]) -> int:
    """The longest character n-gram of an unsegmented language: 1 + the longest word n-gram."""
    return 1 + int(ngram_range[1])


def is_term(token: str, tokenizer: str = "standard") -> bool:
    """Whether a token may be a term: 2 to 40 characters, or (``"standard"``) one CJK character.

    Shorter tokens carry no topic (a single CJK character is a word); longer ones are base64
    blobs, URLs run together or run-on strings.
    """
    return MIN_TOKEN_CHARS <= len(token) <= MAX_TOKEN_CHARS or (
        len(token) == 1 and tokenizer == "standard" and is_cjk(token)
    )


def tokenize(text: str, tokenizer: str = "standard") -> list[str]:
    """Split cleaned text into lower-cased terms (see :func:`raw_tokens` and :func:`is_term`).

    Parameters
    ----------
    text : str
        Cleaned text (see :func:`relatedness.text.clean_text`).
    tokenizer : {"standard", "runs"}, default "standard"

    Returns
    -------
    list of str

    Examples
    --------
    >>> tokenize("Bank holds interest rate at 4.75% - BBC_News")
    ['bank', 'holds', 'interest', 'rate', 'at', '75', 'bbc', 'news']
    """
    return [token for token in raw_tokens(text, tokenizer) if is_term(token, tokenizer)]


@cache
def stop_words_for(language: str) -> frozenset[str]:
    """Return the stop word list for ``language`` (lower case, unstemmed).

    English is scikit-learn's ``ENGLISH_STOP_WORDS``; the other languages ship with the
    package.
    """
    if language in UNSEGMENTED:
        return frozenset()  # bigrams of function characters weigh little through idf
    if language == "english":
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        return frozenset(ENGLISH_STOP_WORDS)
    data = resources.files("relatedness.features") / "stopwords" / f"{language}.txt"
    words = data.read_text(encoding="utf-8").split()
    return frozenset(w.lower() for w in words)


#: Stemmer implementations: nltk's pure-Python Snowball, and PyStemmer (the C Snowball library,
#: ~5-10x faster; the ``fast`` extra). Both implement Snowball; they differ on a few words per
#: language (nltk's own fixes and Snowball's later releases; measured in benchmarks/README.md),
#: so a model records which made its vocabulary and keeps stemming with it.
ENGINES = ("nltk", "pystemmer")


def available_engine() -> str:
    """The stemmer a new fit uses: PyStemmer when installed, else nltk."""
    try:
        import Stemmer  # noqa: F401
    except ImportError:
        return "nltk"
    return "pystemmer"


def engine_version(engine: str) -> str:
    """The installed version of a stemmer implementation (``""`` when it is missing)."""
    from importlib import metadata

    try:
        return metadata.version("PyStemmer" if engine == "pystemmer" else "nltk")
    except metadata.PackageNotFoundError:
        return ""


@cache
def stemmer(language: str, engine: str = "nltk") -> Callable[[str], str]:
    """The stemmer of ``language``: a function from a token to its stem.

    Snowball (``engine``: nltk's pure-Python one, or PyStemmer's C one), made once per language
    and process; the identity for Chinese, Japanese and Korean n-grams. For ``"auto"``, tokens
    are keys ``"<code>:<token>"`` (:data:`CODES`) and each is stemmed in its own language.

    Examples
    --------
    >>> stemmer("english")("holdings")
    'hold'
    >>> stemmer("auto")("pt:bancos")
    'banc'
    """
    if language in UNSEGMENTED:
        return _same
    if language == "auto":
        return functools.partial(_stem_key, engine=engine)
    if engine == "pystemmer":
        import Stemmer

        return Stemmer.Stemmer(language).stemWord
    from nltk.stem.snowball import SnowballStemmer  # deferred: keeps import light

    return SnowballStemmer(language).stem


def _same(token: str) -> str:
    return token


def _stem_key(key: str, engine: str) -> str:
    code, _, token = key.partition(":")
    return stemmer(_LANGUAGE_OF[code], engine)(token)


def stem_all(tokens: Sequence[str], language: str, engine: str = "nltk") -> list[str]:
    """The stem of each token, in order (a top-level function, so a worker can run it)."""
    if engine == "pystemmer" and language not in UNSEGMENTED and language != "auto":
        import Stemmer

        return Stemmer.Stemmer(language).stemWords(list(tokens))  # one call for the batch
    return list(map(stemmer(language, engine), tokens))


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
    tokenizer : {"standard", "runs"}, default "standard"
        See :func:`raw_tokens`.
    engine : {"nltk", "pystemmer"}, default "nltk"
        The Snowball implementation (see :data:`ENGINES`).

    With ``language="auto"`` each call names the text's language (``language=``); stop words
    and stemming are that language's.

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
        tokenizer: str = "standard",
        engine: str = "nltk",
    ) -> None:
        self.language = language
        self.stop_words = stop_words
        self.stem = stem
        self.ngram_range = ngram_range
        self.tokenizer = tokenizer
        self.engine = engine
        self._setup()

    def _setup(self) -> None:
        if self.language == "auto":
            self.stop: frozenset[str] = frozenset()  # per language, see stop_for()
        elif self.stop_words == "auto":
            self.stop = stop_words_for(self.language)
        elif self.stop_words is None:
            self.stop = frozenset()
        else:
            self.stop = frozenset(str(w).lower() for w in self.stop_words)
        #: The stemmer (``None`` without stemming); see :func:`stemmer`.
        self.stemmer = stemmer(self.language, self.engine) if self.stem else None
        self._cache: dict[str, str] = {}

    # The memo and the stemmer are rebuilt in each worker rather than shipped.
    def __getstate__(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "stop_words": self.stop_words,
            "stem": self.stem,
            "ngram_range": self.ngram_range,
            "tokenizer": self.tokenizer,
            "engine": self.engine,
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

    def stop_for(self, language: str) -> frozenset[str]:
        """The stop words of ``language`` under this analyzer's ``stop_words`` setting."""
        if self.language != "auto":
            return self.stop
        if self.stop_words == "auto":
            return stop_words_for(language)
        if self.stop_words is None:
            return frozenset()
        return frozenset(str(w).lower() for w in self.stop_words)

    def __call__(self, text: str, language: str | None = None) -> list[str]:
        """Return the terms of ``text`` in order (repeated terms repeat).

        ``language``: the text's language, read only under ``language="auto"`` (default
        English).
        """
        text_language = (language or "english") if self.language == "auto" else self.language
        if text_language in UNSEGMENTED and self.tokenizer == "standard":
            return char_grams(text, grams_for(self.ngram_range))
        tokens = tokenize(text, self.tokenizer)
        if self.language == "auto":
            language = language or "english"
            stop = self.stop_for(language)
            prefix = CODES[language] + ":"
            terms = [self._stem(prefix + t) for t in tokens if t not in stop]
            if self.stemmer is None:  # no stemming: the key's token is the term
                terms = [t.partition(":")[2] for t in terms]
        else:
            stop = self.stop
            terms = [self._stem(t) for t in tokens if t not in stop]
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
