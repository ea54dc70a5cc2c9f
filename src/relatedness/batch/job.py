"""Batch precompute: every article's related list, for a whole archive, never half-written.

:func:`precompute` streams the lists of every article (or of a subset of ids) into shards of
``shard_size`` articles, in parallel if asked (joblib: loky or threads locally, Dask on a
cluster), and publishes them atomically:

- **JSON Lines, CSV, Parquet**: ``out`` is a directory. A run writes ``out/run-<id>/``:
  shard files ``part-00000.<suffix>`` (each a temp file, fsynced, ``os.replace``d), a
  ``part-00000.done`` sidecar per shard (its checksum: the resume journal), then
  ``MANIFEST.json`` last; then the ``out/CURRENT`` pointer is switched to the run with the same
  temp + ``os.replace`` routine. Readers follow ``CURRENT`` and trust only what its manifest
  lists, so the previous complete output stays published until the new one is complete.
- **SQLite**: ``out`` is a database file. Shards are staged as JSON Lines in
  ``.<name>.runs/`` beside it (which makes SQLite runs resumable too), then loaded into a
  temp database in one transaction, fsynced and ``os.replace``d over ``out``.

Shard ``i`` always holds articles ``[i * shard_size, (i + 1) * shard_size)`` of the fit order
(or of ``ids``), so the bytes do not depend on ``n_jobs``, the backend or timing, and a run
that is killed and resumed gives byte-identical shards. ``docs/batch.md`` documents the
layout, the schemas, the manifest and the resume rules.

:func:`write_jsonl` is the single-file form kept for the command line: one JSON Lines file,
written atomically.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from ..atomic import TEMP_PREFIX, atomic_write, fsync_dir, sha256_file, sweep_stale_temp
from ..exceptions import InvalidParameterError, RelatednessError
from ..results import ArticleId
from ..validation import NONE, Constraint, check_params, interval, one_of
from .writers import (
    DatabaseWriter,
    JsonlWriter,
    Row,
    RunRecord,
    ShardWriter,
    SqliteWriter,
    file_mode,
    get_writer,
)

if TYPE_CHECKING:
    import pandas as pd

    from ..recommender import RelatedArticles

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

FORMAT = "relatedness-precompute"
FORMAT_VERSION = 1
MANIFEST = "MANIFEST.json"
CURRENT = "CURRENT"
RUN_FILE = "RUN.json"
RUN_PREFIX = "run-"
LOCK = ".lock"
#: Exit code a command should use after :class:`PrecomputeInterrupted` from SIGTERM (128 + 15).
EXIT_INTERRUPTED = 128 + signal.SIGTERM
#: Articles scored per call inside a shard: keeps memory flat however large a shard is.
BATCH = 1024
#: Seconds between plain progress lines (when there is no terminal or no tqdm).
PLAIN_PROGRESS_EVERY = 5.0

_RUN_NAME = re.compile(r"^run-[0-9A-Za-z_-]{1,64}$")


class OutputError(RelatednessError, ValueError):
    """A precompute output is missing, incomplete, corrupted or busy; the message says which."""


class PrecomputeInterrupted(KeyboardInterrupt):
    """Raised inside :func:`precompute` when the process receives SIGTERM.

    A ``KeyboardInterrupt`` (like Ctrl-C) so that ``except Exception`` does not swallow it
    and joblib aborts its workers. When it propagates, temp files are gone and the previous
    complete output is still the published one. A command should exit with
    :attr:`exit_code` (``143`` for SIGTERM, the shell convention 128 + signal number).
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        self.signum = int(signum)
        self.exit_code = 128 + self.signum
        super().__init__(f"precompute interrupted by signal {self.signum}")


@dataclass(frozen=True)
class PrecomputeSummary:
    """What a precompute run wrote.

    Attributes
    ----------
    path : Path
        The output: the directory (JSON Lines, CSV, Parquet; readers start at its
        ``CURRENT``), the database file (SQLite) or the single file (:func:`write_jsonl`).
    n_articles : int
        Articles with a list in the output.
    n_empty_lists : int
        Of those, articles whose list is empty.
    seconds : float
        Wall time of the call.
    shards : int
        Shards in the output.
    skipped_shards : int
        Shards a resumed run found complete and verified and did not recompute.
    run_id : str or None
        The run whose output is published.
    format : str
    """

    path: Path
    n_articles: int
    n_empty_lists: int
    seconds: float
    shards: int = 1
    skipped_shards: int = 0
    run_id: str | None = None
    format: str = "jsonl"


# ----------------------------------------------------------------------------- single file


def write_jsonl(
    model: RelatedArticles, path: str | Path, k: int | None = None
) -> PrecomputeSummary:
    """Write every article's related list to ``path`` (JSON Lines, UTF-8), atomically.

    One line per article in fit order, ``{"id": ..., "related": [r.to_dict(), ...]}``; an
    article with nothing related gets ``[]``. For archive-scale, sharded, resumable or
    parallel output use :func:`precompute`.

    Parameters
    ----------
    model : RelatedArticles
        A fitted model.
    path : str or Path
        The output file; its folder is created if needed. Temp files a killed run left in that
        folder are removed first.
    k : int, optional
        Overrides the model's ``k``.

    Returns
    -------
    PrecomputeSummary
    """
    start = time.perf_counter()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temp(path.parent)
    counter = _Counter()
    with _publish(path) as handle:
        JsonlWriter().write(handle, counter.wrap(_batches(model, model.ids_, k)), id_type="str")
    return PrecomputeSummary(path, counter.articles, counter.empty, time.perf_counter() - start)


# ----------------------------------------------------------------------------- helpers


class _Counter:
    """Counts articles and empty lists as batches stream past."""

    def __init__(self) -> None:
        self.articles = 0
        self.empty = 0

    def wrap(self, batches: Iterable[list[Row]]) -> Iterator[list[Row]]:
        for batch in batches:
            self.articles += len(batch)
            self.empty += sum(1 for _, related in batch if not related)
            yield batch


def _batches(
    model: RelatedArticles,
    ids: Sequence[ArticleId],
    k: int | None,
    stop: threading.Event | None = None,
) -> Iterator[list[Row]]:
    """``(id, [Related.to_dict(), ...])`` rows for ``ids``, :data:`BATCH` articles at a time."""
    for start in range(0, len(ids), BATCH):
        if stop is not None and stop.is_set():
            raise PrecomputeInterrupted
        chunk = list(ids[start : start + BATCH])
        lists = model.related_many(chunk, k)
        yield [(article_id, [r.to_dict() for r in lists[article_id]]) for article_id in chunk]


@contextlib.contextmanager
def _publish(path: Path, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """``atomic_write`` that publishes with the umask's permissions, not mkstemp's 0o600.

    A site reads the output as another user (the web server), so it must be readable.
    """
    with atomic_write(path, mode, encoding=encoding) as handle:
        if hasattr(os, "fchmod"):
            os.fchmod(handle.fileno(), file_mode())
        yield handle


def _json_bytes(document: Any) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _write_json(path: Path, document: Any) -> None:
    with _publish(path) as handle:
        handle.write(_json_bytes(document))


def _read_json(path: Path) -> Any:
    """Parse a small JSON file; None when it is missing or not valid JSON."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _library_version() -> str:
    try:
        return metadata.version("relatedness")
    except metadata.PackageNotFoundError:
        return "unknown"


def _now() -> dt.datetime:
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


def model_fingerprint(model: RelatedArticles) -> str:
    """SHA-256 over everything in a fitted model that decides its related lists.

    The TF-IDF matrix, norms, parameters and per-article fields (ids, titles, sections,
    dates, urls, snippets, tags, removals), in the dtypes the model is saved in, so a model
    and its saved-then-loaded copy (with or without ``mmap``) have the same fingerprint. Used
    to refuse resuming a run with another model and to check that workers load the model the
    caller passed.

    Parameters
    ----------
    model : RelatedArticles
        A fitted model.

    Returns
    -------
    str
        64 hex digits.
    """
    digest = hashlib.sha256()

    def add_json(document: Any) -> None:
        body = json.dumps(
            document, ensure_ascii=False, sort_keys=True, separators=(",", ":")
        ).encode()
        digest.update(len(body).to_bytes(8, "little"))
        digest.update(body)

    def add_array(array: Any, dtype: str) -> None:
        # Explicit little-endian dtypes: the same bytes whatever the array's own layout; no
        # copy when it already matches (an mmap-loaded model is hashed in place).
        array = np.ascontiguousarray(array, dtype=dtype)
        add_json([dtype, list(array.shape)])
        digest.update(memoryview(array).cast("B"))

    matrix = model.index_.matrix
    add_json({"format": "relatedness-model-fingerprint", "version": 1})
    add_array(matrix.data, "<f4")
    add_array(matrix.indices, "<i4")
    add_array(matrix.indptr, "<i8")
    add_array(model.norms_, "<f8")
    add_json(model._params_for_manifest())
    add_json(
        {
            "ids": model.ids_,
            "titles": model.titles_,
            "sections": model.sections_,
            "published": [None if p is None else p.isoformat() for p in model.published_],
            "urls": model.urls_,
            "snippets": model.snippets_,
            "tags": model.tags_,
            "removed": sorted(model.removed_, key=model._row_of.__getitem__),
        }
    )
    return digest.hexdigest()


# ----------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class _Task:
    """One shard to compute: small and picklable (it carries paths, never the model)."""

    index: int
    run_dir: str
    start: int
    stop: int
    ids: tuple[ArticleId, ...] | None
    k: int
    writer: ShardWriter
    id_type: str
    job_sha256: str
    model_dir: str | None = None
    model_manifest_sha256: str | None = None

    @property
    def name(self) -> str:
        return _shard_name(self.index, self.writer)


def _shard_name(index: int, writer: ShardWriter) -> str:
    return f"part-{index:05d}{writer.suffix}"


def _done_name(index: int) -> str:
    return f"part-{index:05d}.done"


def _write_shard(
    model: RelatedArticles, task: _Task, stop: threading.Event | None = None
) -> dict[str, Any]:
    """Compute one shard, publish it atomically, then its ``.done`` sidecar; return its entry.

    The sidecar is written after the shard is under its final name, so a kill between the two
    leaves a shard without a sidecar, which resume recomputes: a sidecar always vouches for a
    complete file.
    """
    run_dir = Path(task.run_dir)
    ids = task.ids if task.ids is not None else model.ids_[task.start : task.stop]
    counter = _Counter()
    path = run_dir / task.name
    with _publish(path) as handle:
        records = task.writer.write(
            handle, counter.wrap(_batches(model, ids, task.k, stop)), id_type=task.id_type
        )
    entry = {
        "shard": task.index,
        "name": task.name,
        "articles": counter.articles,
        "empty": counter.empty,
        "records": records,
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }
    _write_json(run_dir / _done_name(task.index), {**entry, "job_sha256": task.job_sha256})
    return entry


#: Models loaded by worker processes, keyed by (directory, manifest SHA-256): each worker
#: loads a model once (memory-mapped, so workers on one machine share its pages) however many
#: shards it computes. Two entries at most: a long-lived loky worker must not hoard models.
_WORKER_MODELS: dict[tuple[str, str], RelatedArticles] = {}
_WORKER_LOCK = threading.Lock()


def _worker_model(model_dir: str, manifest_sha256: str) -> RelatedArticles:
    key = (model_dir, manifest_sha256)
    with _WORKER_LOCK:
        model = _WORKER_MODELS.get(key)
        if model is None:
            from ..recommender import RelatedArticles

            found = sha256_file(Path(model_dir) / "manifest.json")
            if found != manifest_sha256:
                msg = (
                    f"the model in {model_dir} changed during the run (manifest.json SHA-256 "
                    f"{found[:12]}..., expected {manifest_sha256[:12]}...); run again."
                )
                raise OutputError(msg)
            model = RelatedArticles.load(model_dir, mmap=True)
            while len(_WORKER_MODELS) >= 2:
                _WORKER_MODELS.pop(next(iter(_WORKER_MODELS)))
            _WORKER_MODELS[key] = model
        return model


def _run_task_in_worker(task: _Task) -> dict[str, Any]:
    """Entry point of a worker process or a Dask worker: load (once) then write the shard."""
    if task.model_dir is None or task.model_manifest_sha256 is None:
        msg = "a worker task needs a saved model directory and its manifest SHA-256"
        raise ValueError(msg)
    return _write_shard(_worker_model(task.model_dir, task.model_manifest_sha256), task)


# ----------------------------------------------------------------------------- progress


class _Progress:
    """A tqdm bar on a terminal, else a plain line on stderr every few seconds; or nothing."""

    def __init__(self, enabled: bool, total: int, initial: int) -> None:
        self.enabled = enabled
        self.total = total
        self.done = initial
        self.initial = initial
        self.start = time.perf_counter()
        self.last_line = self.start
        self.bar: Any = None
        if not enabled:
            return
        if _stderr_is_tty():
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(
                    total=total,
                    initial=initial,
                    unit=" articles",
                    unit_scale=total >= 100_000,
                    desc="precompute",
                    file=sys.stderr,
                    dynamic_ncols=True,
                    smoothing=0.1,
                )

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.perf_counter()
        if now - self.last_line >= PLAIN_PROGRESS_EVERY:
            self.last_line = now
            print(self._line(now), file=sys.stderr, flush=True)

    def _line(self, now: float) -> str:
        computed = self.done - self.initial
        rate = computed / max(now - self.start, 1e-9)
        left = self.total - self.done
        eta = f"{left / rate:.0f}s" if rate > 0 else "?"
        share = 100 * self.done / self.total if self.total else 100.0
        return (
            f"precompute: {self.done:,}/{self.total:,} articles ({share:.0f}%), "
            f"{rate:,.0f} articles/s, ETA {eta}"
        )

    def close(self, summary: PrecomputeSummary | None = None) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.enabled and summary is not None:
            skipped = f" ({summary.skipped_shards} resumed)" if summary.skipped_shards else ""
            print(
                f"precompute: {summary.n_articles:,} articles, {summary.n_empty_lists:,} empty "
                f"lists, {summary.shards} shards{skipped} in {summary.seconds:.1f}s "
                f"-> {summary.path}",
                file=sys.stderr,
                flush=True,
            )


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


# ----------------------------------------------------------------------------- signals


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into :class:`PrecomputeInterrupted` for the duration of a run.

    Python's default SIGTERM kills the process at once, skipping every cleanup; raising
    instead lets ``atomic_write`` remove its temp file. Only the main thread can install
    handlers; elsewhere the default stays (and the next run sweeps what is left).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def handler(signum: int, frame: Any) -> None:
        nonlocal fired
        if fired:  # a second SIGTERM while cleaning up must not interrupt the cleanup
            return
        fired = True
        raise PrecomputeInterrupted(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One writer per output at a time (an advisory ``flock`` the kernel drops on any exit)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory lock
        yield
        return
    handle = open(lock_path, "a+b")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            msg = f"another precompute is writing to {lock_path.parent} (lock {lock_path.name})"
            raise OutputError(msg) from None
        yield
    finally:
        handle.close()


# ----------------------------------------------------------------------------- parallel


@contextlib.contextmanager
def _dask_client(scheduler: Any, n_jobs: int) -> Iterator[Any]:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        msg = "backend='dask' needs dask.distributed: pip install 'relatedness[dask]'"
        raise ImportError(msg) from exc
    if scheduler is None:
        workers = (os.cpu_count() or 1) if n_jobs < 0 else n_jobs
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
    elif isinstance(scheduler, str):
        client = Client(scheduler, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    else:  # an existing Client: the caller owns it
        yield scheduler


def _run_parallel(
    tasks: list[_Task],
    *,
    model: RelatedArticles,
    backend: str,
    n_jobs: int,
    scheduler: Any,
    stop: threading.Event,
) -> Iterator[dict[str, Any]]:
    """Shard entries as tasks finish (any order: the manifest is built by shard index)."""
    import joblib

    if backend == "threading":
        # Threads share the caller's model: nothing is pickled or loaded.
        calls = (joblib.delayed(_write_shard)(model, t, stop) for t in tasks)
        yield from joblib.Parallel(
            n_jobs=n_jobs, backend="threading", return_as="generator_unordered"
        )(calls)
        return
    calls = (joblib.delayed(_run_task_in_worker)(t) for t in tasks)
    if backend == "dask":
        with (
            _dask_client(scheduler, n_jobs) as client,
            joblib.parallel_config(backend="dask", client=client),
        ):
            yield from joblib.Parallel(n_jobs=-1, return_as="generator_unordered")(calls)
        return
    yield from joblib.Parallel(n_jobs=n_jobs, backend="loky", return_as="generator_unordered")(
        calls
    )


# ----------------------------------------------------------------------------- layout


class _Layout:
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


# ----------------------------------------------------------------------------- verify


def _verified(run_dir: Path, index: int, writer: ShardWriter, job_sha256: str) -> dict | None:
    """The shard's entry if the shard and its sidecar agree (size and SHA-256), else None."""
    sidecar = _read_json(run_dir / _done_name(index))
    name = _shard_name(index, writer)
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
        with _publish(target) as handle, open(source / name, "rb") as src:
            shutil.copyfileobj(src, handle)
    fsync_dir(run_dir)
    _write_json(run_dir / _done_name(index), {**entry, "job_sha256": job_sha256})


# ----------------------------------------------------------------------------- main entry


_BACKENDS = (None, "loky", "threading", "fork", "dask")


def _check_arguments(arguments: dict[str, Any]) -> None:
    is_n_jobs = Constraint(
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v != 0,
        "an int other than 0 (-1: all cores)",
    )
    check_params(
        "precompute",
        arguments,
        {
            "shard_size": [interval("int", 1, None)],
            "resume": [Constraint(lambda v: isinstance(v, bool), "a bool")],
            "n_jobs": [NONE, is_n_jobs],
            "backend": [one_of(*_BACKENDS)],
            "progress": [NONE, Constraint(lambda v: isinstance(v, bool), "a bool")],
            "as_frame": [Constraint(lambda v: isinstance(v, bool), "a bool")],
        },
    )
    if arguments["scheduler"] is not None and arguments["backend"] != "dask":
        msg = "The 'scheduler' parameter of precompute is only used with backend='dask'."
        raise InvalidParameterError(msg)
    if arguments["backend"] == "fork":
        import multiprocessing

        if "fork" not in multiprocessing.get_all_start_methods():
            msg = (
                "backend='fork' needs a platform that can fork processes (Linux, macOS); "
                "use backend='loky' here."
            )
            raise InvalidParameterError(msg)


def _resolve_model(
    model: RelatedArticles | str | Path, model_dir: str | Path | None
) -> tuple[RelatedArticles, Path | None, bool]:
    """The model object, its saved directory (if any), and whether they must be compared."""
    from ..recommender import RelatedArticles

    if isinstance(model, str | Path):
        directory = Path(model)
        if model_dir is not None and Path(model_dir).resolve() != directory.resolve():
            msg = "pass the saved model either as `model` or as `model_dir`, not two paths"
            raise InvalidParameterError(msg)
        return RelatedArticles.load(directory, mmap=True), directory.resolve(), False
    if not isinstance(model, RelatedArticles):
        msg = f"precompute needs a fitted RelatedArticles or a model directory, got {model!r}"
        raise InvalidParameterError(msg)
    model._check_fitted()
    return model, None if model_dir is None else Path(model_dir).resolve(), model_dir is not None


def precompute(
    model: RelatedArticles | str | Path,
    out: str | Path | None,
    *,
    format: str | ShardWriter | DatabaseWriter = "jsonl",  # noqa: A002 - the natural name
    k: int | None = None,
    ids: Iterable[ArticleId] | None = None,
    shard_size: int = 10_000,
    resume: bool = False,
    n_jobs: int | None = 1,
    backend: str | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
    as_frame: bool = False,
    model_dir: str | Path | None = None,
) -> PrecomputeSummary | pd.DataFrame:
    """Compute and publish the related lists of a whole archive (or of ``ids``).

    Streams shard by shard with memory bounded by ``shard_size`` (and the model's
    ``working_memory``), in parallel if asked, and publishes atomically: a reader sees the
    previous complete output until the new one is complete, and a run killed at any point
    leaves nothing half-written under a final name. ``docs/batch.md`` documents the layout.

    Parameters
    ----------
    model : RelatedArticles, str or Path
        A fitted model, or the directory of a saved one (loaded with ``mmap=True``; it is then
        also the ``model_dir`` workers load).
    out : str, Path or None
        JSON Lines, CSV, Parquet: a directory (created if needed) that receives
        ``run-<id>/part-NNNNN.<suffix>``, ``run-<id>/MANIFEST.json`` and the ``CURRENT``
        pointer. SQLite: the database file, e.g. ``related.sqlite``. ``None`` only with
        ``as_frame=True`` (computed in a temp directory that is removed).
    format : {"jsonl", "csv", "parquet", "sqlite"} or a writer, default "jsonl"
        Or any name given to :func:`relatedness.writers.register_writer`, or a writer object.
    k : int, optional
        Overrides the model's ``k``.
    ids : iterable of ids, optional
        Only these articles, in this order (duplicates are dropped). Every id must be in the
        model: an unknown id raises before anything is written.
    shard_size : int, default 10000
        Articles per shard: the unit of work, of parallelism, of resume and of atomic writes.
    resume : bool, default False
        Complete an interrupted run instead of starting over: shards of an earlier run with
        the same job (model, k, ids, shard size, format, versions) whose SHA-256 matches their
        ``.done`` sidecar are kept, everything else is recomputed. With ``resume=False`` a new
        run is started (and the previous output stays published until it completes).
    n_jobs : int or None, default 1
        Parallel shards (joblib semantics: ``-1`` all cores). With ``backend="dask"`` and no
        ``scheduler``: the size of the local cluster. Output bytes never depend on it.
    backend : {None, "loky", "threading", "fork", "dask"}, default None
        ``None``/``"loky"``: worker processes when ``n_jobs != 1``; ``"threading"``: threads
        sharing ``model``; ``"fork"`` (Linux, macOS): this process scores each pair of
        the archive once on all cores, then forks ``n_jobs`` workers that inherit the model
        and those scores and write the shards (the fastest for a whole archive with large
        sections); ``"dask"``: a Dask cluster (needs the ``dask`` extra). Loky and Dask
        workers never receive the pickled model: each loads ``model_dir`` with ``mmap=True``
        once.
    scheduler : str or distributed.Client, optional
        With ``backend="dask"``: a scheduler address (``"tcp://host:8786"``) or a client. When
        omitted a ``LocalCluster`` of ``n_jobs`` worker processes is started and stopped.
    progress : bool, optional
        A progress bar (tqdm on a terminal when installed, else a plain stderr line every few
        seconds) and a final summary line on stderr. Default: on when stderr is a terminal.
        ``False`` is quiet.
    as_frame : bool, default False
        Return a pandas DataFrame with columns ``article_id``, ``rank`` (1-based),
        ``related_id``, ``score`` (the published output read back; articles with an empty
        list have no row; holds the whole output in memory) instead of the summary, which is
        then in ``frame.attrs["summary"]``. Needs the ``pandas`` extra.
    model_dir : str or Path, optional
        A saved copy of ``model`` that process and Dask workers load (on storage every worker
        can read). Without it, a parallel run saves ``model`` to a temp directory inside the
        output first, and removes it at the end. Its model must equal ``model`` (checked).

    Returns
    -------
    PrecomputeSummary or pandas.DataFrame

    Raises
    ------
    InvalidParameterError
        A parameter is out of range, or ``out`` has the wrong kind (file vs directory).
    UnknownArticleError
        An id in ``ids`` is not in the model.
    OutputError
        Another precompute holds the output's lock, or ``model_dir`` holds another model.
    OSError
        Disk full or an I/O error: the temp files are removed and the previous complete
        output stays published.
    PrecomputeInterrupted
        SIGTERM: temp files removed, previous output still published; exit with
        ``exc.exit_code`` (143).

    Examples
    --------
    >>> import tempfile
    >>> from relatedness import RelatedArticles, load_sample
    >>> from relatedness.precompute import iter_output, precompute
    >>> model = RelatedArticles(k=3).fit(load_sample())
    >>> out = tempfile.mkdtemp()
    >>> summary = precompute(model, out, shard_size=100, progress=False)
    >>> summary.n_articles == model.n_articles_, summary.shards
    (True, 3)
    >>> next(iter_output(out))[0] == model.ids_[0]
    True
    """
    started = time.perf_counter()
    _check_arguments(
        {
            "shard_size": shard_size,
            "resume": resume,
            "n_jobs": n_jobs,
            "backend": backend,
            "scheduler": scheduler,
            "progress": progress,
            "as_frame": as_frame,
        }
    )
    writer = get_writer(format)
    model, saved_dir, compare = _resolve_model(model, model_dir)
    options = _Options(
        k=model._k(k),
        ids=ids,
        shard_size=shard_size,
        resume=resume,
        n_jobs=1 if n_jobs is None else n_jobs,
        backend=backend,
        scheduler=scheduler,
        progress=progress,
        saved_dir=saved_dir,
        compare=compare,
    )
    if out is None:
        if not as_frame:
            msg = "The 'out' parameter of precompute is required unless as_frame=True."
            raise InvalidParameterError(msg)
        with tempfile.TemporaryDirectory(prefix="relatedness-precompute-") as tmp:
            summary = _run(model, Path(tmp) / "out", JsonlWriter(), options, started)
            return _frame(Path(tmp) / "out", summary)
    summary = _run(model, Path(out), writer, options, started)
    return _frame(Path(out), summary) if as_frame else summary


@dataclass(frozen=True)
class _Options:
    """The checked arguments of one :func:`precompute` call."""

    k: int
    ids: Iterable[ArticleId] | None
    shard_size: int
    resume: bool
    n_jobs: int
    backend: str | None
    scheduler: Any
    progress: bool | None
    saved_dir: Path | None
    compare: bool


def _run(
    model: RelatedArticles,
    out: Path,
    writer: ShardWriter | DatabaseWriter,
    options: _Options,
    started: float,
) -> PrecomputeSummary:
    k, shard_size, resume, n_jobs = options.k, options.shard_size, options.resume, options.n_jobs
    saved_dir, progress = options.saved_dir, options.progress
    parallel = options.backend == "dask" or n_jobs != 1
    mode = "inline" if not parallel else (options.backend or "loky")
    id_list: list[ArticleId] | None = None
    if options.ids is not None:
        # The model's own id objects (an id given as numpy.int64 becomes the int it equals),
        # looked up before anything is written: an unknown id raises with a hint.
        id_list = list(dict.fromkeys(model.ids_[model._row(i)] for i in options.ids))
    n = model.n_articles_ if id_list is None else len(id_list)
    n_shards = math.ceil(n / shard_size)
    id_type = "int" if model.ids_ and isinstance(model.ids_[0], int) else "str"
    fingerprint = model_fingerprint(model)
    if options.compare and saved_dir is not None:
        from ..recommender import RelatedArticles

        if model_fingerprint(RelatedArticles.load(saved_dir, mmap=True)) != fingerprint:
            msg = f"model_dir={saved_dir} holds a different model than the one passed"
            raise OutputError(msg)
    manifest_sha = None if saved_dir is None else sha256_file(saved_dir / "manifest.json")
    layout = _Layout(out, writer)
    shard_writer = layout.shard_writer
    job = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": _library_version(),
        "output_format": writer.name,
        "shard_format": shard_writer.name,
        "k": k,
        "shard_size": shard_size,
        "n_articles": n,
        "ids_sha256": None
        if id_list is None
        else hashlib.sha256(json.dumps(id_list, ensure_ascii=False).encode()).hexdigest(),
        "id_type": id_type,
        "model_fingerprint": fingerprint,
    }
    job_sha = hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()

    layout.prepare()
    stop = threading.Event()
    reporter: _Progress | None = None
    temp_model: Path | None = None
    run_dir: Path | None = None
    with _exclusive(layout.lock), _sigterm_raises():
        try:
            layout.sweep()
            if resume and layout.db is not None and layout.db.published_job(out) == job_sha:
                # The published database already holds exactly this job.
                summary = _database_summary(out, writer, n, n_shards, started)
                _Progress(_progress_on(progress), n, n).close(summary)
                return summary
            run_dir, run, verified = _choose_run(layout, job, job_sha, n_shards, resume)
            if run_dir is None:  # resume found the published run complete and intact
                summary = _published_summary(layout, run, n_shards, started)
                _Progress(_progress_on(progress), n, n).close(summary)
                return summary
            skipped_articles = sum(e["articles"] for e in verified.values())
            reporter = _Progress(_progress_on(progress), n, skipped_articles)
            model_path, model_sha = None, None
            if mode not in ("inline", "threading", "fork"):
                if saved_dir is None:
                    temp_model = layout.root / f"{TEMP_PREFIX}model-{run['run_id']}"
                    model.save(temp_model)
                    model_path = temp_model
                else:
                    model_path = saved_dir
                model_sha = sha256_file(model_path / "manifest.json")
            tasks = [
                _Task(
                    index=i,
                    run_dir=str(run_dir),
                    start=i * shard_size,
                    stop=min((i + 1) * shard_size, n),
                    ids=None
                    if id_list is None
                    else tuple(id_list[i * shard_size : (i + 1) * shard_size]),
                    k=k,
                    writer=shard_writer,
                    id_type=id_type,
                    job_sha256=job_sha,
                    model_dir=None if model_path is None else str(model_path),
                    model_manifest_sha256=model_sha,
                )
                for i in range(n_shards)
                if i not in verified
            ]
            entries = dict(verified)
            for entry in _compute(tasks, model, mode, options, stop):
                entries[entry["shard"]] = entry
                reporter.update(entry["articles"])
            shards = [entries[i] for i in range(n_shards)]
            n_empty = sum(e["empty"] for e in shards)
            created = _now().isoformat(timespec="seconds")
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "output_format": writer.name,
                "shard_format": shard_writer.name,
                "run_id": run["run_id"],
                "started_at": run["created_at"],
                "created_at": created,
                "library_version": job["library_version"],
                "k": k,
                "shard_size": shard_size,
                "id_type": id_type,
                "n_articles": n,
                "n_empty_lists": n_empty,
                "ids": None if id_list is None else {"count": n, "sha256": job["ids_sha256"]},
                "model": {
                    "manifest_sha256": None if saved_dir is None else manifest_sha,
                    "fingerprint": fingerprint,
                    "n_articles": model.n_articles_,
                    "params": model._params_for_manifest(),
                },
                "job_sha256": job_sha,
                "shards": shards,
            }
            _publish_run(layout, run_dir, manifest, time.perf_counter() - started)
        except BaseException:
            stop.set()  # threads stop at their next batch; their atomic_write cleans up
            with contextlib.suppress(OSError):
                layout.sweep()
            raise
        finally:
            if reporter is not None:
                reporter.close()
            if temp_model is not None:
                shutil.rmtree(temp_model, ignore_errors=True)
    summary = PrecomputeSummary(
        path=out,
        n_articles=n,
        n_empty_lists=n_empty,
        seconds=time.perf_counter() - started,
        shards=n_shards,
        skipped_shards=len(verified),
        run_id=run["run_id"],
        format=writer.name,
    )
    if reporter is not None and reporter.enabled:
        reporter.close(summary)
    return summary


def _compute(
    tasks: list[_Task],
    model: RelatedArticles,
    mode: str,
    options: _Options,
    stop: threading.Event,
) -> Iterator[dict[str, Any]]:
    """Run the shard tasks in-process or in parallel; yield each shard's entry when done.

    In-process (inline and threads), a job over most of the archive scores each pair once:
    the first batch of a section computes the ranked pools of the whole section with the
    pair-once kernel, later batches read theirs (:meth:`SimilarityIndex.shared_pools`; the
    output bytes are the same). ``fork`` does the pair-once pass for every section here, on
    all cores, then forks the workers that write the shards: they inherit the model and the
    pools. Loky and Dask workers each hold their own index, so there every batch scores its
    own rows.
    """
    todo = sum(task.stop - task.start for task in tasks)
    share = mode in ("inline", "threading", "fork") and options.ids is None
    share = share and 2 * todo >= model.n_articles_  # a resume near the end: not worth it
    with model.index_.shared_pools() if share else contextlib.nullcontext():
        if mode == "inline":
            for task in tasks:
                yield _write_shard(model, task)
            return
        if mode == "fork":
            if share and tasks:
                _score_pairs_before_forking(model, tasks[0].k)
            yield from _run_forked(tasks, model, options.n_jobs)
            return
        yield from _run_parallel(
            tasks,
            model=model,
            backend=mode,
            n_jobs=options.n_jobs,
            scheduler=options.scheduler,
            stop=stop,
        )


def _score_pairs_before_forking(model: RelatedArticles, k: int) -> None:
    """Fill the shared pools of every section now, in this process, on all cores.

    One article per section (its first with indexable text) asks for its list the way a
    shard batch does, which runs that section's pair-once pass; the forked workers then
    find every pool in the memory they inherit instead of each scoring the section again.
    """
    matrix = model.index_.matrix
    has_text = np.flatnonzero(np.diff(matrix.indptr) > 0)
    codes = np.asarray(model.index_.section_codes)[has_text]
    _, first = np.unique(codes, return_index=True)
    model.related_many([model.ids_[int(row)] for row in has_text[first]], k)


#: The model a forked precompute worker inherits; set in the parent only while it forks.
_FORKED_MODEL: RelatedArticles | None = None


def _write_forked_shard(task: _Task) -> dict[str, Any]:
    """In a forked worker: write a shard with the model (and pools) it inherited."""
    if _FORKED_MODEL is None:
        msg = "no inherited model in this process (only forked precompute workers have one)"
        raise RuntimeError(msg)
    return _write_shard(_FORKED_MODEL, task)


def _forked_worker_started() -> None:
    # The parent turns SIGTERM into PrecomputeInterrupted and cleans up; a worker just stops.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run_forked(tasks: list[_Task], model: RelatedArticles, n_jobs: int) -> Iterator[dict]:
    """Shard entries as forked workers finish them (any order, as with joblib).

    Fork, so the workers start with the model and the shared pools in their memory (copy on
    write: nothing is pickled or loaded). The parent's threads do not exist in a worker: its
    scoring threads are idle by then (they hold no lock), and a worker starts its own
    (:func:`relatedness._kernels._forget_pools`).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from joblib import effective_n_jobs

    global _FORKED_MODEL
    if not tasks:
        return
    workers = max(1, min(effective_n_jobs(n_jobs), len(tasks)))
    _FORKED_MODEL = model
    try:
        # With the fork context every worker is forked at the first submit, here.
        executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_forked_worker_started,
        )
        futures = [executor.submit(_write_forked_shard, task) for task in tasks]
    finally:
        _FORKED_MODEL = None
    try:
        for future in as_completed(futures):
            yield future.result()
    except BaseException:
        for future in futures:
            future.cancel()
        for process in list(getattr(executor, "_processes", {}).values()):
            process.kill()
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _publish_run(layout: _Layout, run_dir: Path, manifest: dict[str, Any], seconds: float) -> None:
    """Commit the run (its manifest, last of its files), then publish it.

    Directory outputs: switch ``CURRENT`` (temp + ``os.replace``), then remove old runs.
    Databases: load the committed shards into the database in one transaction, then remove
    the staging directory.
    """
    _write_json(run_dir / MANIFEST, manifest)
    if layout.db is None:
        previous = layout.published()
        with _publish(layout.out / CURRENT, "w", encoding="utf-8") as handle:
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


def _progress_on(progress: bool | None) -> bool:
    return _stderr_is_tty() if progress is None else progress


def _new_run(layout: _Layout, job: dict, job_sha: str) -> tuple[Path, dict]:
    now = _now()
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
    _write_json(run_dir / RUN_FILE, run)
    return run_dir, run


def _choose_run(
    layout: _Layout, job: dict, job_sha: str, n_shards: int, resume: bool
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
        run = _read_json(run_dir / RUN_FILE)
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


def _collect_garbage(layout: _Layout, keep: set[str]) -> None:
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


def _published_summary(
    layout: _Layout, run: dict, n_shards: int, started: float
) -> PrecomputeSummary:
    manifest = _read_json(layout.root / f"{RUN_PREFIX}{run['run_id']}" / MANIFEST) or {}
    return PrecomputeSummary(
        path=layout.out,
        n_articles=int(manifest.get("n_articles", 0)),
        n_empty_lists=int(manifest.get("n_empty_lists", 0)),
        seconds=time.perf_counter() - started,
        shards=n_shards,
        skipped_shards=n_shards,
        run_id=run["run_id"],
        format=layout.writer.name,
    )


def _database_summary(
    out: Path, writer: Any, n: int, n_shards: int, started: float
) -> PrecomputeSummary:
    import sqlite3

    run_id, n_empty = None, 0
    with contextlib.suppress(sqlite3.Error):
        con = sqlite3.connect(f"{out.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = con.execute(
                "SELECT run_id, n_empty FROM runs ORDER BY rowid DESC LIMIT 1"
            ).fetchone()
            if row is not None:
                run_id, n_empty = row[0], int(row[1])
        finally:
            con.close()
    return PrecomputeSummary(
        path=out,
        n_articles=n,
        n_empty_lists=n_empty,
        seconds=time.perf_counter() - started,
        shards=n_shards,
        skipped_shards=n_shards,
        run_id=run_id,
        format=writer.name,
    )


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
    manifest = _read_json(run_dir / MANIFEST)
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


def _frame(out: Path, summary: PrecomputeSummary) -> pd.DataFrame:
    try:
        import pandas as pd
    except ImportError as exc:
        msg = "as_frame=True needs pandas, not installed: pip install 'relatedness[pandas]'"
        raise ImportError(msg) from exc
    article_ids: list[ArticleId] = []
    ranks: list[int] = []
    related_ids: list[ArticleId] = []
    scores: list[float] = []
    for article_id, related in iter_output(out):
        for rank, entry in enumerate(related, start=1):
            article_ids.append(article_id)
            ranks.append(rank)
            related_ids.append(entry["id"])
            scores.append(entry["score"])
    frame = pd.DataFrame(
        {
            "article_id": article_ids,
            "rank": np.asarray(ranks, dtype=np.int64),
            "related_id": related_ids,
            "score": np.asarray(scores, dtype=np.float64),
        }
    )
    frame.attrs["summary"] = summary
    return frame
