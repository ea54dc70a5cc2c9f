"""Public path of the analyzer, kept for users; the code lives in
:mod:`relatedness.features.analysis`."""

from __future__ import annotations

from .features.analysis import LANGUAGES, Analyzer, stop_words_for, tokenize

__all__ = ["LANGUAGES", "Analyzer", "stop_words_for", "tokenize"]
