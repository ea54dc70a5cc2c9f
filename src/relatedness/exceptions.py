"""Exceptions raised by relatedness.

Every class derives from a builtin (``ValueError``, ``TypeError`` or ``KeyError``) as well as
from :class:`RelatednessError`, so a caller's existing ``except ValueError`` keeps working and
``except RelatednessError`` catches everything the library raises on purpose.
"""

from __future__ import annotations

__all__ = [
    "DuplicateIdError",
    "EmptyCorpusError",
    "InvalidArticleError",
    "InvalidParameterError",
    "MissingDependencyError",
    "ModelFormatError",
    "NotFittedError",
    "RelatednessError",
    "UnknownArticleError",
]


class RelatednessError(Exception):
    """Base class of every error relatedness raises on purpose."""


class InvalidParameterError(RelatednessError, ValueError, TypeError):
    """A constructor or call parameter has a wrong type or value.

    Like scikit-learn's ``InvalidParameterError`` it is both a ``ValueError`` and a
    ``TypeError``, because a wrong type and a wrong value are one mistake to the caller.
    """


class InvalidArticleError(RelatednessError, TypeError):
    """An article field has a type or value that cannot be indexed (None, NaN, bytes, ...).

    The message names the article ids and the field, and says how to fix the input.
    """


class DuplicateIdError(RelatednessError, ValueError):
    """Two or more articles share one id."""


class EmptyCorpusError(RelatednessError, ValueError):
    """No article has any indexable text after cleaning, so nothing can be related."""


class UnknownArticleError(RelatednessError, KeyError):
    """A query names an article id that the fitted model does not hold."""

    def __str__(self) -> str:
        # KeyError.__str__ returns repr(message), which wraps the sentence in quotes.
        return str(self.args[0]) if self.args else ""


class ModelFormatError(RelatednessError, ValueError):
    """A model directory is missing, corrupted, tampered with or of an unsupported version.

    The message names the file and the check that failed. Loading never executes code from
    the model files, so this error is raised before anything from a bad file is used.
    """


class NotFittedError(RelatednessError, ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit`` or ``load``."""


class MissingDependencyError(RelatednessError, ImportError):
    """An optional package a feature or a saved model needs is not installed.

    The message names the package and the ``pip install`` command.
    """
