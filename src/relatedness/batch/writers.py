"""Output writers for batch precompute: a small protocol and the four built-in formats.

Two kinds of writer, because two kinds of destination exist:

- a :class:`ShardWriter` turns a stream of ``(article id, related list)`` rows into the bytes of
  one shard file (JSON Lines, CSV, Parquet). It never opens, names or publishes files: the
  caller hands it a binary handle on a temp file and publishes that file atomically. So a
  writer cannot break the "never half-written" rule however it fails, and the same writer runs
  unchanged in a worker process or on a Dask worker.
- a :class:`DatabaseWriter` loads every row plus a run record into a database in one
  transaction and makes it visible only when complete (SQLite: a temp file then
  ``os.replace``; a PostgreSQL writer would load a new table and swap it in the same
  transaction).

A *row* is ``(article_id, related)`` where ``related`` is the list of
:meth:`relatedness.results.Related.to_dict` dicts (keys ``id``, ``score``, ``title``,
``section``, ``snippet``, ``published``, ``url``, ``pinned``), best first; ``[]`` for an
article with nothing related. Writers must keep empty lists visible and must be deterministic:
the same rows give the same bytes, so a resumed run is byte-identical to an uninterrupted one.

The tabular formats (CSV, Parquet, SQLite) hold one row per (article, rank) with ``rank``
1-based; an article with an empty list is one row with ``rank`` 0 and empty related fields in
CSV and Parquet, and a row of the ``articles`` table with ``n_related = 0`` in SQLite. In CSV
and SQLite ids are text; ``id_type`` (``"int"`` or ``"str"``, recorded in the manifest or the
``meta`` table) says how a reader turns them back. See ``docs/batch.md``.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from ..atomic import TEMP_PREFIX, file_mode, fsync_dir
from ..results import ArticleId

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

#: One article's output: its id and its related list as ``Related.to_dict()`` dicts.
Row = tuple[ArticleId, list[dict[str, Any]]]

#: Columns of the tabular formats, in file order.
TABULAR_COLUMNS = (
    "article_id",
    "rank",
    "related_id",
    "score",
    "title",
    "section",
    "snippet",
    "published",
    "url",
    "pinned",
)

#: Keys of a related entry (``Related.to_dict`` without the optional explanation).
_ENTRY_KEYS = ("id", "score", "title", "section", "snippet", "published", "url", "pinned")


def _id_from_text(value: str, id_type: str) -> ArticleId:
    return int(value) if id_type == "int" else value


# ----------------------------------------------------------------------------- protocols


@runtime_checkable
class ShardWriter(Protocol):
    """Writes rows into one shard file and reads a shard back.

    Attributes
    ----------
    name : str
        The format name given to ``precompute(format=...)``, e.g. ``"jsonl"``.
    suffix : str
        File name suffix of a shard, e.g. ``".jsonl"``.

    Notes
    -----
    Implementations must be deterministic (same rows, same bytes), must write an empty list
    visibly, and must be picklable and cheap (they travel to worker processes with each task;
    the model never does).
    """

    @property
    def name(self) -> str: ...

    @property
    def suffix(self) -> str: ...

    def write(self, handle: IO[bytes], batches: Iterable[Sequence[Row]], *, id_type: str) -> int:
        """Write every row of ``batches`` to the binary ``handle``; return the records written.

        ``handle`` is a temp file the caller fsyncs and publishes; the writer must not close
        it. ``id_type`` is ``"int"`` or ``"str"``.
        """
        ...

    def read(self, path: Path, *, id_type: str) -> Iterator[Row]:
        """Yield the rows of one shard file, in file order."""
        ...


@dataclass(frozen=True)
class RunRecord:
    """What a database writer stores about the run that produced its rows.

    Attributes
    ----------
    run_id : str
    created_at : str
        ISO 8601 UTC time the run finished computing.
    model_sha256 : str or None
        SHA-256 of the saved model's ``manifest.json`` when the model came from a directory.
    model_fingerprint : str
        SHA-256 over the model's content (matrix, articles, parameters); identifies the model
        whether or not it was saved.
    job_sha256 : str
        SHA-256 of everything that determines the output (model, k, ids, format, versions).
    params : dict
        The model's parameters plus the run's ``k``, ``shard_size`` and ``ids``.
    k : int
    id_type : str
    n_articles : int
    n_empty : int
    seconds : float
    """

    run_id: str
    created_at: str
    model_sha256: str | None
    model_fingerprint: str
    job_sha256: str
    params: dict[str, Any] = field(default_factory=dict)
    k: int = 0
    id_type: str = "str"
    n_articles: int = 0
    n_empty: int = 0
    seconds: float = 0.0


@runtime_checkable
class DatabaseWriter(Protocol):
    """Loads every row and a run record into a database, all or nothing.

    Attributes
    ----------
    name : str
        The format name, e.g. ``"sqlite"``.
    """

    @property
    def name(self) -> str: ...

    def publish(self, target: Any, rows: Iterable[Row], run: RunRecord) -> int:
        """Write ``rows`` and ``run`` in one transaction; make them visible only when complete.

        On any error the previously published data must stay as it was. Returns the number
        of related rows written.
        """
        ...

    def read(self, target: Any) -> Iterator[Row]:
        """Yield the published rows, in the order they were written."""
        ...

    def published_job(self, target: Any) -> str | None:
        """The ``job_sha256`` of the published data, or None when there is none."""
        ...


# ----------------------------------------------------------------------------- JSON Lines


@dataclass(frozen=True)
class JsonlWriter:
    """JSON Lines: ``{"id": ..., "related": [{...}, ...]}`` per article, UTF-8.

    Ids keep their JSON type (an int id stays a number). Not escaping non-ASCII keeps headlines
    readable and the files smaller.
    """

    name: str = "jsonl"
    suffix: str = ".jsonl"

    def write(self, handle: IO[bytes], batches: Iterable[Sequence[Row]], *, id_type: str) -> int:
        """Write one line per row; return the number of lines."""
        n = 0
        for batch in batches:
            lines = [
                json.dumps({"id": article_id, "related": related}, ensure_ascii=False) + "\n"
                for article_id, related in batch
            ]
            handle.write("".join(lines).encode("utf-8"))
            n += len(lines)
        return n

    def read(self, path: Path, *, id_type: str = "str") -> Iterator[Row]:
        """Yield ``(id, related)`` per line."""
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                yield record["id"], record["related"]


# ----------------------------------------------------------------------------- CSV


def _tabular_records(article_id: ArticleId, related: list[dict[str, Any]]) -> list[tuple]:
    """Rows of the tabular formats for one article (rank 0 marks an empty list)."""
    if not related:
        return [(article_id, 0, None, None, None, None, None, None, None, None)]
    return [
        (
            article_id,
            rank,
            entry["id"],
            entry["score"],
            entry["title"],
            entry["section"],
            entry["snippet"],
            entry["published"],
            entry["url"],
            bool(entry.get("pinned", False)),
        )
        for rank, entry in enumerate(related, start=1)
    ]


def _entry(values: Sequence[Any]) -> dict[str, Any]:
    """A related entry (``Related.to_dict`` shape) from the related columns of a record."""
    return dict(zip(_ENTRY_KEYS, values, strict=True))


#: What a spreadsheet takes for the start of a formula (OWASP, "CSV Injection"), and the
#: quote that marks a neutralised cell.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NEUTRAL_QUOTE = "'"


def neutralise_cell(value: Any) -> Any:
    """A text cell a spreadsheet shows as text: ``'`` before a cell that starts with ``=``,
    ``+``, ``-``, ``@``, tab or CR (OWASP's advice against CSV injection), and before a cell
    that starts with ``'`` itself, so :func:`restore_cell` undoes it exactly."""
    if isinstance(value, str) and value.startswith((*FORMULA_STARTS, NEUTRAL_QUOTE)):
        return NEUTRAL_QUOTE + value
    return value


def restore_cell(cell: str) -> str:
    """The text :func:`neutralise_cell` was given."""
    return cell[1:] if cell.startswith(NEUTRAL_QUOTE) else cell


@dataclass(frozen=True)
class CsvWriter:
    """CSV (RFC 4180, UTF-8, header row in every shard), one row per (article, rank).

    Ids are written as text; ``pinned`` as ``0``/``1``; a missing ``published`` as an empty
    field; an empty list as one row with ``rank`` 0 and empty related fields. Text cells
    that a spreadsheet would run as a formula (``=HYPERLINK(...)`` in a title) are prefixed
    with ``'`` (:func:`neutralise_cell`; docs/batch.md); :meth:`read` removes the prefix.
    """

    name: str = "csv"
    suffix: str = ".csv"

    def write(self, handle: IO[bytes], batches: Iterable[Sequence[Row]], *, id_type: str) -> int:
        """Write the header and one record per (article, rank); return the records."""
        # newline="" lets the csv module own line endings (CRLF, RFC 4180) on every platform.
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        try:
            out = csv.writer(text)
            out.writerow(TABULAR_COLUMNS)
            n = 0
            for batch in batches:
                records = []
                for article_id, related in batch:
                    for rec in _tabular_records(article_id, related):
                        pinned = "" if rec[9] is None else int(rec[9])
                        records.append((*map(neutralise_cell, rec[:9]), pinned))
                out.writerows(records)
                n += len(records)
            text.flush()
        finally:
            # Detach so that closing the wrapper cannot close the caller's handle.
            with contextlib.suppress(ValueError):
                text.detach()
        return n

    def read(self, path: Path, *, id_type: str = "str") -> Iterator[Row]:
        """Yield ``(id, related)`` per article, ids converted back with ``id_type``."""
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            if tuple(header) != TABULAR_COLUMNS:
                msg = f"{path}: unexpected CSV header {header!r}"
                raise ValueError(msg)
            current: ArticleId | None = None
            related: list[dict[str, Any]] = []
            started = False
            for cells in reader:
                rec = [restore_cell(cell) for cell in cells]
                article_id = _id_from_text(rec[0], id_type)
                if started and article_id != current:
                    yield current, related  # type: ignore[misc]
                    related = []
                current, started = article_id, True
                if rec[1] == "0":
                    continue
                related.append(
                    _entry(
                        (
                            _id_from_text(rec[2], id_type),
                            float(rec[3]),
                            rec[4],
                            rec[5],
                            rec[6],
                            rec[7] or None,
                            rec[8],
                            rec[9] == "1",
                        )
                    )
                )
            if started:
                yield current, related  # type: ignore[misc]


# ----------------------------------------------------------------------------- Parquet


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = (
            "format='parquet' needs pyarrow, which is not installed: "
            "pip install 'relatedness[parquet]'"
        )
        raise ImportError(msg) from exc
    return pa, pq


@dataclass(frozen=True)
class ParquetWriter:
    """Parquet (needs the ``parquet`` extra: pyarrow), one row per (article, rank).

    Same columns as CSV; ``article_id`` and ``related_id`` are ``int64`` for integer ids and
    ``string`` otherwise, ``rank`` is ``int32``, ``score`` ``float64``, ``pinned`` ``bool``; an
    empty list is one row with ``rank`` 0 and nulls. One row group per batch of articles.
    """

    name: str = "parquet"
    suffix: str = ".parquet"
    compression: str = "zstd"

    def schema(self, id_type: str) -> Any:
        """The Arrow schema for ``id_type``."""
        pa, _ = _pyarrow()
        id_arrow = pa.int64() if id_type == "int" else pa.string()
        return pa.schema(
            [
                ("article_id", id_arrow),
                ("rank", pa.int32()),
                ("related_id", id_arrow),
                ("score", pa.float64()),
                ("title", pa.string()),
                ("section", pa.string()),
                ("snippet", pa.string()),
                ("published", pa.string()),
                ("url", pa.string()),
                ("pinned", pa.bool_()),
            ]
        )

    def write(self, handle: IO[bytes], batches: Iterable[Sequence[Row]], *, id_type: str) -> int:
        """Write one row group per batch; return the records."""
        pa, pq = _pyarrow()
        schema = self.schema(id_type)
        n = 0
        writer = pq.ParquetWriter(handle, schema, compression=self.compression)
        try:
            for batch in batches:
                records = [rec for aid, rel in batch for rec in _tabular_records(aid, rel)]
                if not records:
                    continue
                columns = list(zip(*records, strict=True))
                table = pa.Table.from_arrays(
                    [pa.array(col, type=schema.field(i).type) for i, col in enumerate(columns)],
                    schema=schema,
                )
                writer.write_table(table)
                n += len(records)
        finally:
            writer.close()
        return n

    def read(self, path: Path, *, id_type: str = "str") -> Iterator[Row]:
        """Yield ``(id, related)`` per article, one row group at a time."""
        _, pq = _pyarrow()
        source = pq.ParquetFile(path)
        current: ArticleId | None = None
        related: list[dict[str, Any]] = []
        started = False
        for group in range(source.num_row_groups):
            for rec in source.read_row_group(group).to_pylist():
                article_id = rec["article_id"]
                if started and article_id != current:
                    yield current, related  # type: ignore[misc]
                    related = []
                current, started = article_id, True
                if rec["rank"] == 0:
                    continue
                related.append(_entry([rec[c] for c in TABULAR_COLUMNS[2:]]))
        if started:
            yield current, related  # type: ignore[misc]


# ----------------------------------------------------------------------------- SQLite

#: Bumped when the SQLite schema changes; stored in ``PRAGMA user_version`` and ``meta``.
SQLITE_SCHEMA_VERSION = 1

_SQLITE_SCHEMA = """
CREATE TABLE related (
    article_id TEXT NOT NULL,
    rank INTEGER NOT NULL,
    related_id TEXT NOT NULL,
    score REAL NOT NULL,
    title TEXT NOT NULL,
    section TEXT NOT NULL,
    snippet TEXT NOT NULL,
    published TEXT,
    url TEXT NOT NULL,
    pinned INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (article_id, rank)
) WITHOUT ROWID;
CREATE TABLE articles (
    article_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    n_related INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    model_sha256 TEXT,
    model_fingerprint TEXT,
    job_sha256 TEXT,
    params_json TEXT NOT NULL,
    n_articles INTEGER NOT NULL,
    n_empty INTEGER NOT NULL,
    seconds REAL NOT NULL
);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

#: Built after the rows are in: one sort instead of a b-tree insert per row.
_SQLITE_INDEXES = """
CREATE UNIQUE INDEX articles_by_position ON articles (position);
CREATE INDEX related_by_related_id ON related (related_id);
"""

def _sqlite_row(key: str, rank: int, entry: Mapping[str, Any]) -> tuple:
    """One row of the ``related`` table, in column order (the one place that knows it)."""
    return (
        key,
        rank,
        str(entry["id"]),
        entry["score"],
        entry["title"],
        entry["section"],
        entry["snippet"],
        entry["published"],
        entry["url"],
        int(bool(entry.get("pinned", False))),
    )


_RUN_COLUMNS = (
    "run_id",
    "created_at",
    "model_sha256",
    "model_fingerprint",
    "job_sha256",
    "params_json",
    "n_articles",
    "n_empty",
    "seconds",
)


#: SQLite result codes (the low byte of extended codes) that mean the storage failed.
_SQLITE_STORAGE_ERRNO = {13: errno.ENOSPC, 10: errno.EIO}  # SQLITE_FULL, SQLITE_IOERR


def _storage_error(exc: BaseException, target: Path) -> OSError | None:
    """SQLite's "database or disk is full" and I/O errors as the ``OSError`` they are.

    So a caller handles a full disk the same way for every format (``errno.ENOSPC``).
    """
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(exc, sqlite3.Error) or code is None:
        return None
    number = _SQLITE_STORAGE_ERRNO.get(code & 0xFF)
    if number is None:
        return None
    return OSError(number, f"{os.strerror(number)} while writing {target.name} ({exc})")


def _execute_script(con: sqlite3.Connection, script: str) -> None:
    # Not executescript(): it may COMMIT a pending transaction first, and this must stay one.
    for statement in script.split(";"):
        if statement.strip():
            con.execute(statement)


def _previous_runs(target: Path) -> list[tuple]:
    """Run history of the database being replaced; ``[]`` if it is missing or unreadable."""
    if not target.is_file():
        return []
    try:
        con = sqlite3.connect(f"{target.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return []
    try:
        return con.execute(f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs ORDER BY rowid").fetchall()
    except sqlite3.Error:  # not ours, corrupted, or an older schema: start a fresh history
        return []
    finally:
        con.close()


@dataclass(frozen=True)
class SqliteWriter:
    """An SQLite database file a site can query directly (the embedded default).

    Tables (see ``docs/batch.md``): ``related`` (one row per article and rank, clustered by
    ``(article_id, rank)`` so a lookup by article id is one index range scan), ``articles``
    (every article with its ``position`` in the run and ``n_related``, so an empty list is
    visible), ``runs`` (one row per run that produced this file, newest last) and ``meta``.

    The database is built in a temp file beside ``target`` in one transaction, fsynced and
    ``os.replace``d over ``target``: readers see the previous complete database until the new
    one is complete. Connections opened before the switch keep reading the old file; open a
    new connection to see the new data.
    """

    name: str = "sqlite"
    batch_rows: int = 5000

    def publish(self, target: Any, rows: Iterable[Row], run: RunRecord) -> int:
        """Build the database from ``rows`` and ``run``; publish it as ``target``."""
        target = Path(target)
        history = [r for r in _previous_runs(target) if r[0] != run.run_id]
        fd, tmp_name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{target.name}.", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        con: sqlite3.Connection | None = None
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so everything below is
            # literally one transaction. The journal lives in memory (the file is private
            # until os.replace, and a crash leaves only a temp file that the next run sweeps);
            # durability comes from the fsync before the rename.
            con = sqlite3.connect(tmp, isolation_level=None)
            con.execute("PRAGMA journal_mode = MEMORY")
            con.execute("PRAGMA synchronous = OFF")
            con.execute("BEGIN")
            _execute_script(con, _SQLITE_SCHEMA)
            n_related = self._insert_rows(con, rows)
            _execute_script(con, _SQLITE_INDEXES)
            records = [
                *history,
                (
                    run.run_id,
                    run.created_at,
                    run.model_sha256,
                    run.model_fingerprint,
                    run.job_sha256,
                    json.dumps(run.params, sort_keys=True, ensure_ascii=False),
                    run.n_articles,
                    run.n_empty,
                    run.seconds,
                ),
            ]
            con.executemany(f"INSERT INTO runs VALUES ({', '.join('?' * 9)})", records)
            meta = {
                "format": "relatedness-precompute",
                "schema_version": str(SQLITE_SCHEMA_VERSION),
                "id_type": run.id_type,
                "k": str(run.k),
                "run_id": run.run_id,
                "job_sha256": run.job_sha256,
            }
            con.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
            con.execute(f"PRAGMA user_version = {SQLITE_SCHEMA_VERSION}")
            con.execute("COMMIT")
            con.close()
            con = None
            with open(tmp, "rb+") as handle:
                os.fchmod(handle.fileno(), file_mode())
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException as exc:
            if con is not None:
                with contextlib.suppress(sqlite3.Error):
                    con.close()
            for leftover in (tmp, Path(f"{tmp}-journal"), Path(f"{tmp}-wal")):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            storage = _storage_error(exc, target)
            if storage is not None:
                raise storage from exc
            raise
        fsync_dir(target.parent)
        return n_related

    @staticmethod
    def apply_diff(
        con: sqlite3.Connection,
        lists: Mapping[Any, Sequence[Any]],
        removed: Iterable[Any] = (),
        seconds: float = 0.0,
        *,
        run_id: str | None = None,
        note: Mapping[str, Any] | None = None,
    ) -> int:
        """Replace the lists of the changed articles in place (``relatedness update``).

        Call inside one transaction (``with connection:``): readers see the old or the new
        lists, never a mix. ``lists`` maps article ids to ``Related`` records or their dicts;
        ``removed`` articles lose their own rows too. A ``runs`` row records the update,
        under ``run_id`` when given (the update's journal id), with ``note`` merged into its
        ``params_json``.

        Returns
        -------
        int
            Related rows written.
        """
        import datetime as dt
        import json

        taken_down = [str(i) for i in removed]
        for key in taken_down:
            con.execute("DELETE FROM related WHERE article_id = ?", (key,))
            con.execute("DELETE FROM articles WHERE article_id = ?", (key,))
        next_position = con.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM articles")
        position = int(next_position.fetchone()[0])
        written = 0
        n_empty = 0
        for article_id, entries in lists.items():
            key = str(article_id)
            if key in taken_down:
                continue
            rows = [e.to_dict() if hasattr(e, "to_dict") else e for e in entries]
            con.execute("DELETE FROM related WHERE article_id = ?", (key,))
            held = con.execute("SELECT position FROM articles WHERE article_id = ?", (key,))
            found = held.fetchone()
            if found is None:
                con.execute("INSERT INTO articles VALUES (?, ?, ?)", (key, position, len(rows)))
                position += 1
            else:
                con.execute(
                    "UPDATE articles SET n_related = ? WHERE article_id = ?", (len(rows), key)
                )
            con.executemany(
                f"INSERT INTO related VALUES ({', '.join('?' * 10)})",
                [_sqlite_row(key, rank, e) for rank, e in enumerate(rows, start=1)],
            )
            written += len(rows)
            n_empty += not rows
        now = dt.datetime.now(dt.timezone.utc)
        summary = {"update": True, "changed": len(lists), "removed": len(taken_down)}
        con.execute(
            f"INSERT INTO runs VALUES ({', '.join('?' * 9)})",
            (
                run_id or f"update-{now.strftime('%Y%m%dT%H%M%S%f')}",
                now.isoformat(timespec="seconds"),
                None,
                None,
                None,
                json.dumps({**summary, **(note or {})}, sort_keys=True),
                len(lists),
                n_empty,
                seconds,
            ),
        )
        return written

    def _insert_rows(self, con: sqlite3.Connection, rows: Iterable[Row]) -> int:
        related: list[tuple] = []
        articles: list[tuple] = []
        n_related = 0
        for position, (article_id, lst) in enumerate(rows):
            key = str(article_id)
            articles.append((key, position, len(lst)))
            related.extend(_sqlite_row(key, rank, e) for rank, e in enumerate(lst, start=1))
            if len(related) >= self.batch_rows or len(articles) >= self.batch_rows:
                n_related += self._flush(con, articles, related)
                articles, related = [], []
        return n_related + self._flush(con, articles, related)

    @staticmethod
    def _flush(con: sqlite3.Connection, articles: list[tuple], related: list[tuple]) -> int:
        con.executemany("INSERT INTO articles VALUES (?, ?, ?)", articles)
        con.executemany(f"INSERT INTO related VALUES ({', '.join('?' * 10)})", related)
        return len(related)

    def read(self, target: Any) -> Iterator[Row]:
        """Yield ``(id, related)`` per article in run order, ids converted back."""
        con = sqlite3.connect(f"{Path(target).resolve().as_uri()}?mode=ro", uri=True)
        try:
            id_type = dict(con.execute("SELECT key, value FROM meta").fetchall())["id_type"]
            cursor = con.execute(
                "SELECT a.article_id, r.rank, r.related_id, r.score, r.title, r.section, "
                "r.snippet, r.published, r.url, r.pinned FROM articles AS a "
                "LEFT JOIN related AS r ON r.article_id = a.article_id "
                "ORDER BY a.position, r.rank"
            )
            current: str | None = None
            related: list[dict[str, Any]] = []
            for rec in cursor:
                if current is not None and rec[0] != current:
                    yield _id_from_text(current, id_type), related
                    related = []
                current = rec[0]
                if rec[1] is None:
                    continue
                related.append(_entry((_id_from_text(rec[2], id_type), *rec[3:9], bool(rec[9]))))
            if current is not None:
                yield _id_from_text(current, id_type), related
        finally:
            con.close()

    def published_job(self, target: Any) -> str | None:
        """The ``job_sha256`` in the ``meta`` table of ``target``; None if absent/unreadable."""
        target = Path(target)
        if not target.is_file():
            return None
        try:
            con = sqlite3.connect(f"{target.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error:
            return None
        try:
            row = con.execute("SELECT value FROM meta WHERE key = 'job_sha256'").fetchone()
            check = con.execute("PRAGMA quick_check").fetchone()
        except sqlite3.Error:
            return None
        finally:
            con.close()
        if row is None or check is None or check[0] != "ok":
            return None
        return str(row[0])


# ----------------------------------------------------------------------------- registry

_WRITERS: dict[str, ShardWriter | DatabaseWriter] = {
    "jsonl": JsonlWriter(),
    "csv": CsvWriter(),
    "parquet": ParquetWriter(),
    "sqlite": SqliteWriter(),
}


def register_writer(writer: ShardWriter | DatabaseWriter) -> None:
    """Make ``writer`` available as ``precompute(format=writer.name)``.

    Parameters
    ----------
    writer : ShardWriter or DatabaseWriter
        Must satisfy one of the two protocols. Registering a name again replaces the writer.
    """
    if not isinstance(writer, ShardWriter | DatabaseWriter):
        msg = (
            f"{type(writer).__name__} is neither a ShardWriter (name, suffix, write, read) nor "
            "a DatabaseWriter (name, publish, read, published_job)."
        )
        raise TypeError(msg)
    _WRITERS[writer.name] = writer


def get_writer(format: str | ShardWriter | DatabaseWriter) -> ShardWriter | DatabaseWriter:
    """Return the writer registered as ``format`` (a writer instance is returned as is)."""
    if not isinstance(format, str):
        return format
    try:
        return _WRITERS[format]
    except KeyError:
        msg = f"unknown output format {format!r}; known: {', '.join(sorted(_WRITERS))}"
        raise ValueError(msg) from None
