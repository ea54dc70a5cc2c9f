"""Batch precompute: every article's related list for a whole archive, never half-written.

``job.py`` is the job (:func:`precompute`, :func:`write_jsonl`; not named ``precompute.py``
because ``relatedness.batch.precompute`` is the function); ``writers.py`` the output formats
(JSON Lines, CSV, Parquet, SQLite) and their registry. ``docs/batch.md``
documents the layout, the schemas and the resume rules. The public names of both modules are
re-exported here; ``relatedness.precompute`` and ``relatedness.writers`` are the paths kept
for users.
"""

from __future__ import annotations

from .job import (
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
from .writers import (
    TABULAR_COLUMNS,
    CsvWriter,
    DatabaseWriter,
    JsonlWriter,
    ParquetWriter,
    Row,
    RunRecord,
    ShardWriter,
    SqliteWriter,
    file_mode,
    get_writer,
    register_writer,
)

__all__ = [
    "EXIT_INTERRUPTED",
    "TABULAR_COLUMNS",
    "CsvWriter",
    "DatabaseWriter",
    "JsonlWriter",
    "OutputError",
    "ParquetWriter",
    "PrecomputeInterrupted",
    "PrecomputeSummary",
    "Row",
    "RunRecord",
    "ShardWriter",
    "SqliteWriter",
    "file_mode",
    "get_writer",
    "iter_output",
    "model_fingerprint",
    "precompute",
    "read_manifest",
    "register_writer",
    "write_jsonl",
]
