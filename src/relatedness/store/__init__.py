"""Model files: a fitted model as versions of ``.npy`` arrays and JSON, never a pickle.

:func:`save_model` writes the parameters and the :class:`~relatedness.archive.Archive` as a
new version and switches ``CURRENT`` to it; :func:`load_model` checks every file of the
current version and returns them. ``models/README.md`` documents the format for other tools.
"""

from __future__ import annotations

from .model import (
    CURRENT,
    FORMAT,
    FORMAT_VERSION,
    KEY_ENV,
    MANIFEST,
    SIGNATURE,
    current_version,
    load_model,
    manifest_sha256,
    read_manifest,
    resolve_key,
    save_model,
)

__all__ = [
    "CURRENT",
    "FORMAT",
    "FORMAT_VERSION",
    "KEY_ENV",
    "MANIFEST",
    "SIGNATURE",
    "current_version",
    "load_model",
    "manifest_sha256",
    "read_manifest",
    "resolve_key",
    "save_model",
]
