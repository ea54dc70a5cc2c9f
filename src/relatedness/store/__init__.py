"""Model files: a fitted model as a directory of ``.npy`` arrays and JSON, never a pickle.

:func:`save_model` writes the parameters and the :class:`~relatedness.archive.Archive`;
:func:`load_model` checks every file and returns them. ``models/README.md`` documents the
format for other tools.
"""

from __future__ import annotations

from .model import FORMAT, FORMAT_VERSION, MANIFEST, SIGNATURE, load_model, save_model

__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST", "SIGNATURE", "load_model", "save_model"]
