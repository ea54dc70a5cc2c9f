"""Batch precompute: every article's related list for a whole archive, never half-written.

One file per job, each importing only the ones listed before it:

- ``writers.py``: the output formats (JSON Lines, CSV, Parquet, SQLite) and their registry.
- ``outcome.py``: what a run returns or raises (``PrecomputeSummary``, ``OutputError``,
  ``PrecomputeInterrupted``, ``EXIT_INTERRUPTED``).
- ``progress.py``: the progress reporter (tqdm on a terminal, plain lines otherwise).
- ``guards.py``: SIGTERM -> ``PrecomputeInterrupted``, and the exclusive lock on an output.
- ``runs.py``: the run store (layout, run directories, shard and sidecar names, resume
  verification, publishing, garbage collection) and its readers ``read_manifest`` and
  ``iter_output``.
- ``shards.py``: one shard task, and computing, writing and vouching for its shard.
- ``executors.py``: running shard tasks inline, in threads, loky or Dask workers, or forked.
- ``job.py``: the job, :func:`precompute` and :func:`write_jsonl` (not ``precompute.py``:
  ``relatedness.batch.precompute`` is the function).

The public names of ``job.py`` and ``writers.py`` are re-exported here; ``docs/batch.md``
documents the layout, the schemas and the resume rules. ``relatedness.precompute`` and
``relatedness.writers`` are the paths kept for users.
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
