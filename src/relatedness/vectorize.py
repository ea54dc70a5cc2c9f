"""Public path of :class:`FieldTfidfVectorizer`, kept for users; the code lives in
:mod:`relatedness.features.tfidf`."""

from __future__ import annotations

from .features.tfidf import FieldTfidfVectorizer
from .params import DEFAULT_FIELDS, FIELD_NAMES

__all__ = ["DEFAULT_FIELDS", "FIELD_NAMES", "FieldTfidfVectorizer"]
