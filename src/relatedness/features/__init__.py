"""Features: cleaned articles to vectors.

- :mod:`~relatedness.features.analysis`: tokenizer, stop words, the one stemmer, n-grams.
- :mod:`~relatedness.features.tfidf`: :class:`FieldTfidfVectorizer`, field-weighted TF-IDF in
  scikit-learn's transformer contract.
- :mod:`~relatedness.features.counting`: the sparse count matrices it builds and prunes.
- :mod:`~relatedness.features.parallel`: where that work runs (joblib chunks, a forked helper).
- :mod:`~relatedness.features.tags`: tag sets as rows, for the tag bonus.

Nothing here knows about sections, rankings or files.
"""

from __future__ import annotations

from .analysis import LANGUAGES, Analyzer, stop_words_for, tokenize
from .tfidf import FieldTfidfVectorizer

__all__ = ["LANGUAGES", "Analyzer", "FieldTfidfVectorizer", "stop_words_for", "tokenize"]
