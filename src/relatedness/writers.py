"""Output writers for batch precompute, at the public path kept for users: ``relatedness.writers``.

Code written against ``from relatedness.writers import register_writer`` (and the other names
in ``__all__``) keeps working through this module; nothing inside the library imports it. The
formats and the registry live in ``relatedness/batch/writers.py``.
"""

from __future__ import annotations

from .batch.writers import (
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
    "TABULAR_COLUMNS",
    "CsvWriter",
    "DatabaseWriter",
    "JsonlWriter",
    "ParquetWriter",
    "Row",
    "RunRecord",
    "ShardWriter",
    "SqliteWriter",
    "file_mode",
    "get_writer",
    "register_writer",
]
