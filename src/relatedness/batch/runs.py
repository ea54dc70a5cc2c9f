"""The run store: where a precompute output's files live and how a run is committed and read.

One output is a directory (JSON Lines, CSV, Parquet) or a database file with its staging
directory beside it (SQLite); :class:`Layout` knows which paths each has. This module owns the
run directories (``run-<id>/`` with ``RUN.json``), the shard and ``.done`` sidecar names, the
verification and adoption of shards for ``resume``, the choice of the run to write, the
publication (``MANIFEST.json``, then the ``CURRENT`` pointer or the database load), garbage
collection of old runs, the readers (:func:`read_manifest`, :func:`iter_output`) and the small
JSON and file helpers they share. It computes nothing: shards come from
:mod:`relatedness.batch.shards`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..atomic import TEMP_PREFIX, atomic_write, fsync_dir, sha256_file
from ..exceptions import InvalidParameterError
from .outcome import OutputError
from .writers import (
    DatabaseWriter,
    JsonlWriter,
    Row,
    RunRecord,
    ShardWriter,
    SqliteWriter,
    get_writer,
)

#: The ``format`` of every manifest and ``RUN.json``; ``FORMAT_VERSION`` its version.
FORMAT = "relatedness-precompute"
FORMAT_VERSION = 1
MANIFEST = "MANIFEST.json"
CURRENT = "CURRENT"
RUN_FILE = "RUN.json"
RUN_PREFIX = "run-"
LOCK = ".lock"

_RUN_NAME = re.compile(r"^run-[0-9A-Za-z_-]{1,64}$")


# ----------------------------------------------------------------------------- files


#: Publishes a file atomically with the umask's permissions (one implementation, in atomic).
publish_file = atomic_write


def _json_bytes(document: Any) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def write_json(path: Path, document: Any) -> None:
    """Publish ``document`` as indented, key-sorted UTF-8 JSON at ``path`` (atomically)."""
    with publish_file(path) as handle:
        handle.write(_json_bytes(document))


def read_json(path: Path) -> Any:
    """Parse a small JSON file; None when it is missing or not valid JSON."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def utc_now() -> dt.datetime:
    """The current time, timezone-aware UTC (run ids and manifest times)."""
    return dt.datetime.now(dt.timezone.utc)


def _sweep(directory: Path, prefix: str = TEMP_PREFIX) -> int:
    """Remove temp files *and* temp directories (an auto-saved model) a killed run left."""
    removed = 0
    if not directory.is_dir():
        return 0
    for entry in directory.iterdir():
        if not entry.name.startswith(prefix):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
    return removed


# ----------------------------------------------------------------------------- layout


def shard_name(index: int, writer: ShardWriter) -> str:
    """File name of shard ``index`` in a run directory, e.g. ``part-00003.jsonl``."""
    return f"part-{index:05d}{writer.suffix}"


def done_name(index: int) -> str:
    """File name of shard ``index``'s ``.done`` sidecar (its entry plus the job's SHA-256)."""
    return f"part-{index:05d}.done"


class Layout:
    """Where a run's files go for one output (a directory, or a database file)."""

    def __init__(self, out: Path, writer: ShardWriter | DatabaseWriter) -> None:
        self.out = out
        self.writer = writer
        #: The database writer, for outputs that are a database (SQLite); else None.
        self.db: DatabaseWriter | None = None
        #: What the shards are written with. A database is staged as JSON Lines shards: they
        #: keep ids' JSON type and make a database run resumable like any other.
        self.shard_writer: ShardWriter
        if isinstance(writer, ShardWriter):
            self.shard_writer = writer
        elif isinstance(writer, DatabaseWriter):
            self.db, self.shard_writer = writer, JsonlWriter()
        else:
            msg = f"{writer!r} is neither a ShardWriter nor a DatabaseWriter"
            raise TypeError(msg)

    @property
    def database(self) -> bool:
        return self.db is not None

    @property
    def root(self) -> Path:
        """The directory that holds the run directories."""
        return self.out.parent / f".{self.out.name}.runs" if self.database else self.out

    @property
    def lock(self) -> Path:
        return self.out.parent / f".{self.out.name}.lock" if self.database else self.out / LOCK

    def prepare(self) -> None:
        if self.database:
            if self.out.is_dir():
                msg = f"out={self.out} is a directory; format={self.writer.name!r} writes a file"
                raise InvalidParameterError(msg)
            self.out.parent.mkdir(parents=True, exist_ok=True)
        elif self.out.exists() and not self.out.is_dir():
            msg = (
                f"out={self.out} is a file; format={self.writer.name!r} writes a directory "
                "(shards, MANIFEST.json and a CURRENT pointer)"
            )
            raise InvalidParameterError(msg)
        self.root.mkdir(parents=True, exist_ok=True)

    def sweep(self) -> None:
        """Remove what killed runs left: temp files and dirs, in the root and every run."""
        if self.database:
            _sweep(self.out.parent, f"{TEMP_PREFIX}{self.out.name}.")
        _sweep(self.root)
        for run_dir in self.run_dirs():
            _sweep(run_dir)

    def run_dirs(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(d for d in self.root.iterdir() if d.is_dir() and _RUN_NAME.match(d.name))

    def published(self) -> Path | None:
        """The run directory ``CURRENT`` points to (directory formats), if any."""
        if self.database:
            return None
        return _current_run(self.out)


def _current_run(out: Path) -> Path | None:
    try:
        name = (out / CURRENT).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not _RUN_NAME.match(name):
        return None
    return out / name


# ----------------------------------------------------------------------------- resume


def _verified(run_dir: Path, index: int, writer: ShardWriter, job_sha256: str) -> dict | None:
    """The shard's entry if the shard and its sidecar agree (size and SHA-256), else None."""
    sidecar = read_json(run_dir / done_name(index))
    name = shard_name(index, writer)
    if (
        not isinstance(sidecar, dict)
        or sidecar.get("job_sha256") != job_sha256
        or sidecar.get("name") != name
        or sidecar.get("shard") != index
    ):
        return None
    path = run_dir / name
    try:
        if path.stat().st_size != sidecar.get("bytes"):
            return None
    except OSError:
        return None
    if sha256_file(path) != sidecar.get("sha256"):
        return None
    return {key: sidecar[key] for key in sidecar if key != "job_sha256"}


def _adopt(source: Path, run_dir: Path, index: int, entry: dict, job_sha256: str) -> None:
    """Put a verified shard of a published run into a new run (hard link, else copy)."""
    name = entry["name"]
    target = run_dir / name
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    try:
        # Published shards are never modified in place (only replaced), so sharing the inode
        # between runs is safe and costs no space.
        os.link(source / name, target)
    except OSError:
        with publish_file(target) as handle, open(source / name, "rb") as src:
            shutil.copyfileobj(src, handle)
    fsync_dir(run_dir)
    write_json(run_dir / done_name(index), {**entry, "job_sha256": job_sha256})


# ----------------------------------------------------------------------------- runs


def _new_run(layout: Layout, job: dict, job_sha: str) -> tuple[Path, dict]:
    now = utc_now()
    run_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
    run_dir = layout.root / f"{RUN_PREFIX}{run_id}"
    run_dir.mkdir()
    fsync_dir(layout.root)
    run = {
        "format": FORMAT,
        "run_id": run_id,
        "created_at": now.isoformat(timespec="seconds"),
        "job_sha256": job_sha,
        "job": job,
    }
    write_json(run_dir / RUN_FILE, run)
    return run_dir, run


def choose_run(
    layout: Layout, job: dict, job_sha: str, n_shards: int, resume: bool
) -> tuple[Path | None, dict, dict[int, dict]]:
    """The run directory to write and the shards already verified in it.

    Without resume: a new run. With resume: the newest unpublished run of the same job is
    continued in place (its manifest, if any, is removed first: it will be rewritten, and
    until then no manifest may list a shard that could change); else, when the published run
    is of the same job, its verified shards are linked into a new run (returns ``None`` as the
    directory when all of them verify: nothing to do); else a new run.
    """
    writer = layout.shard_writer
    if not resume:
        run_dir, run = _new_run(layout, job, job_sha)
        return run_dir, run, {}
    published = layout.published()
    candidates = []
    for run_dir in layout.run_dirs():
        run = read_json(run_dir / RUN_FILE)
        if isinstance(run, dict) and run.get("job_sha256") == job_sha:
            candidates.append((run.get("created_at", ""), run_dir.name, run_dir, run))
    unpublished = [c for c in candidates if published is None or c[2] != published]
    if unpublished:
        _, _, run_dir, run = max(unpublished, key=lambda c: (c[0], c[1]))
        with contextlib.suppress(FileNotFoundError):
            (run_dir / MANIFEST).unlink()
        fsync_dir(run_dir)
        verified = {}
        for i in range(n_shards):
            entry = _verified(run_dir, i, writer, job_sha)
            if entry is not None:
                verified[i] = entry
        return run_dir, run, verified
    current = [c for c in candidates if c[2] == published]
    if current and published is not None and (published / MANIFEST).is_file():
        _, _, source, source_run = current[0]
        found = {}
        for i in range(n_shards):
            entry = _verified(source, i, writer, job_sha)
            if entry is not None:
                found[i] = entry
        if len(found) == n_shards:
            return None, source_run, found
        run_dir, run = _new_run(layout, job, job_sha)
        for i, entry in found.items():
            _adopt(source, run_dir, i, entry, job_sha)
        return run_dir, run, found
    run_dir, run = _new_run(layout, job, job_sha)
    return run_dir, run, {}


def _collect_garbage(layout: Layout, keep: set[str]) -> None:
    """Remove run directories other than the new and the previous published ones.

    The previous one is kept because a reader may have read ``CURRENT`` just before the
    switch and still be opening its shards.
    """
    for run_dir in layout.run_dirs():
        if run_dir.name not in keep:
            # Manifest first: a kill during rmtree must not leave a manifest listing shards
            # that are already gone.
            with contextlib.suppress(OSError):
                (run_dir / MANIFEST).unlink()
                fsync_dir(run_dir)
            shutil.rmtree(run_dir, ignore_errors=True)


def _rows_of_run(
    run_dir: Path, shards: list[dict], writer: ShardWriter, id_type: str
) -> Iterator[Row]:
    for entry in shards:
        yield from writer.read(run_dir / entry["name"], id_type=id_type)


def publish_run(layout: Layout, run_dir: Path, manifest: dict[str, Any], seconds: float) -> None:
    """Commit the run (its manifest, last of its files), then publish it.

    Directory outputs: switch ``CURRENT`` (temp + ``os.replace``), then remove old runs.
    Databases: load the committed shards into the database in one transaction, then remove
    the staging directory.
    """
    write_json(run_dir / MANIFEST, manifest)
    if layout.db is None:
        previous = layout.published()
        with publish_file(layout.out / CURRENT, "w", encoding="utf-8") as handle:
            handle.write(run_dir.name + "\n")
        _collect_garbage(layout, keep={run_dir.name, getattr(previous, "name", "")})
        return
    model = manifest["model"]
    record = RunRecord(
        run_id=manifest["run_id"],
        created_at=manifest["created_at"],
        model_sha256=model["manifest_sha256"],
        model_fingerprint=model["fingerprint"],
        job_sha256=manifest["job_sha256"],
        params={
            **model["params"],
            "k": manifest["k"],
            "shard_size": manifest["shard_size"],
            "ids": manifest["ids"],
        },
        k=manifest["k"],
        id_type=manifest["id_type"],
        n_articles=manifest["n_articles"],
        n_empty=manifest["n_empty_lists"],
        seconds=seconds,
    )
    rows = _rows_of_run(run_dir, manifest["shards"], layout.shard_writer, manifest["id_type"])
    layout.db.publish(layout.out, rows, record)
    shutil.rmtree(layout.root, ignore_errors=True)


# ----------------------------------------------------------------------------- readers


def read_manifest(out: str | Path) -> dict[str, Any]:
    """Return the manifest of the published run of a directory output.

    Parameters
    ----------
    out : str or Path
        The directory given to :func:`precompute`.

    Returns
    -------
    dict
        The parsed ``MANIFEST.json`` of the run ``out/CURRENT`` names, plus ``"run_dir"``
        (its directory, as a str).

    Raises
    ------
    OutputError
        No published run, or its manifest is missing or not a precompute manifest.
    """
    out = Path(out)
    run_dir = _current_run(out)
    if run_dir is None:
        msg = f"{out} has no published precompute output (no valid {CURRENT} pointer)"
        raise OutputError(msg)
    manifest = read_json(run_dir / MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        msg = f"{run_dir / MANIFEST} is missing or is not a {FORMAT} manifest"
        raise OutputError(msg)
    if manifest.get("format_version") != FORMAT_VERSION:
        msg = f"{run_dir / MANIFEST}: format_version {manifest.get('format_version')!r} unknown"
        raise OutputError(msg)
    return {**manifest, "run_dir": str(run_dir)}


def iter_output(out: str | Path, *, verify: bool = True) -> Iterator[Row]:
    """Yield ``(article_id, related)`` from a published output, in run order.

    ``related`` is a list of dicts shaped like :meth:`Related.to_dict`; ids come back with
    the model's type (ints stay ints, also from CSV and SQLite).

    Parameters
    ----------
    out : str or Path
        A directory output (read through ``CURRENT`` and its manifest) or an SQLite file.
    verify : bool, default True
        Check every shard's size and SHA-256 against the manifest before reading it.

    Raises
    ------
    OutputError
        No published output, or a shard does not match the manifest.
    """
    out = Path(out)
    if out.is_file():
        yield from SqliteWriter().read(out)
        return
    manifest = read_manifest(out)
    run_dir = Path(manifest["run_dir"])
    writer = get_writer(manifest["shard_format"])
    if not isinstance(writer, ShardWriter):
        msg = (
            f"{run_dir / MANIFEST}: shard format {manifest['shard_format']!r} is not a file format"
        )
        raise OutputError(msg)
    for entry in manifest["shards"]:
        path = run_dir / entry["name"]
        if verify:
            try:
                size = path.stat().st_size
            except OSError as exc:
                msg = f"{path}: listed in the manifest but unreadable ({exc})"
                raise OutputError(msg) from exc
            if size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
                msg = f"{path}: size or SHA-256 does not match {MANIFEST}"
                raise OutputError(msg)
        yield from writer.read(path, id_type=manifest["id_type"])
