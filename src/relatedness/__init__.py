"""relatedness: exact, fast "Related articles" lists for news archives.

The public surface is small: :class:`RelatedArticles` (fit, related, related_to,
related_many, save, load), the :class:`Article` and :class:`Related` records, the
:func:`clean_text` cleaner, :func:`load_sample` and the exceptions. Names load on first use, so
``import relatedness`` stays fast (scikit-learn and nltk are imported only when needed).

Examples
--------
>>> import relatedness
>>> model = relatedness.RelatedArticles(k=3).fit(relatedness.load_sample())
>>> len(model.related(model.ids_[0])) <= 3
True
"""

from __future__ import annotations

from importlib import import_module, metadata
from typing import TYPE_CHECKING, Any

from .exceptions import (
    DuplicateIdError,
    EmptyCorpusError,
    InvalidArticleError,
    InvalidParameterError,
    MissingDependencyError,
    ModelFormatError,
    NotFittedError,
    RelatednessError,
    UnknownArticleError,
)

try:
    __version__ = metadata.version("relatedness")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
    from .articles import Article
    from .datasets import load_sample
    from .recommender import RelatedArticles
    from .results import Related
    from .text import clean_text

# name -> module that defines it; imported on first attribute access (PEP 562).
_LAZY = {
    "RelatedArticles": ".recommender",
    "Article": ".articles",
    "Related": ".results",
    "clean_text": ".text",
    "load_sample": ".datasets",
}

__all__ = [
    "Article",
    "DuplicateIdError",
    "EmptyCorpusError",
    "InvalidArticleError",
    "InvalidParameterError",
    "MissingDependencyError",
    "ModelFormatError",
    "NotFittedError",
    "Related",
    "RelatedArticles",
    "RelatednessError",
    "UnknownArticleError",
    "__version__",
    "clean_text",
    "load_sample",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'relatedness' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
