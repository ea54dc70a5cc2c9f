"""Batch precompute, at the public path kept for users: ``relatedness.precompute``.

Code written against ``from relatedness.precompute import precompute`` (and the other names
in ``__all__``) keeps working through this module; nothing inside the library imports it. The
code lives in :mod:`relatedness.batch` (the job in ``relatedness/batch/job.py``; that
package's docstring says which file does what).
"""

from __future__ import annotations

from .batch.job import (
    EXIT_INTERRUPTED,
    OutputError,
    PrecomputeInterrupted,
    PrecomputeSummary,
    iter_output,
    model_fingerprint,
    precompute,
    read_manifest,
    write_jsonl,
)

__all__ = [
    "EXIT_INTERRUPTED",
    "OutputError",
    "PrecomputeInterrupted",
    "PrecomputeSummary",
    "iter_output",
    "model_fingerprint",
    "precompute",
    "read_manifest",
    "write_jsonl",
]
