"""The precompute job: every article's related list, for a whole archive, never half-written.

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

This file checks the arguments, describes the job (what decides the bytes: its SHA-256 names
the job for resume), drives one run and builds its manifest and summary. The pieces it drives
live beside it: ``runs.py`` (the run store), ``shards.py`` (one shard), ``executors.py``
(running shards), ``progress.py``, ``guards.py`` (SIGTERM, the lock) and ``outcome.py`` (the
summary and errors it returns or raises).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import params
from ..atomic import TEMP_PREFIX, sha256_file, sweep_stale_temp
from ..exceptions import InvalidParameterError, NotFittedError
from ..results import ArticleId
from ..store import current_version
from ..validation import NONE, Constraint, check_k, check_params, interval, one_of
from .executors import run_tasks
from .guards import exclusive, sigterm_raises
from .outcome import EXIT_INTERRUPTED, OutputError, PrecomputeInterrupted, PrecomputeSummary
from .progress import Progress, progress_enabled
from .runs import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    RUN_PREFIX,
    Layout,
    choose_run,
    iter_output,
    publish_file,
    publish_run,
    read_json,
    read_manifest,
    utc_now,
)
from .shards import RowCounter, ShardTask, related_batches
from .writers import DatabaseWriter, JsonlWriter, ShardWriter, get_writer

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


# ----------------------------------------------------------------------------- single file


def write_jsonl(
    model: RelatedArticles, path: str | Path, k: int | None = None
) -> PrecomputeSummary:
    """Write every article's related list to ``path`` (JSON Lines, UTF-8), atomically.

    One line per article in fit order, ``{"id": ..., "related": [r.to_dict(), ...]}``; an
    article with nothing related gets ``[]``, a removed (taken-down) article no line. For
    archive-scale, sharded, resumable or parallel output use :func:`precompute`.

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
    counter = RowCounter()
    with publish_file(path) as handle:
        JsonlWriter().write(
            handle, counter.wrap(related_batches(model, _published_ids(model), k)), id_type="str"
        )
    return PrecomputeSummary(path, counter.articles, counter.empty, time.perf_counter() - start)


def _published_ids(model: RelatedArticles, ids: list[ArticleId] | None = None) -> list:
    """``ids`` (default: every article, in fit order) without the removed ones.

    A taken-down article is in no output, neither as a row nor as an empty list: the same
    output an update that removes it leaves in a database.
    """
    ids = list(model.ids_) if ids is None else ids
    removed = model.removed_
    return [i for i in ids if i not in removed] if removed else ids


# ----------------------------------------------------------------------------- identity


def _library_version() -> str:
    try:
        return metadata.version("relatedness")
    except metadata.PackageNotFoundError:
        return "unknown"


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
    add_json(params.to_manifest(model.get_params()))
    add_json(
        {
            "ids": model.ids_,
            "titles": model.titles_,
            "sections": model.sections_,
            "published": [None if p is None else p.isoformat() for p in model.published_],
            "urls": model.urls_,
            "snippets": model.snippets_,
            "tags": model.tags_,
            "removed": [i for i in model.ids_ if i in model.removed_],  # in fit order
        }
    )
    return digest.hexdigest()


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
        # The version published now: workers load these very files even if a save switches
        # the model's CURRENT during the run.
        directory = current_version(model).resolve()
        if model_dir is not None and current_version(model_dir).resolve() != directory:
            msg = "pass the saved model either as `model` or as `model_dir`, not two paths"
            raise InvalidParameterError(msg)
        return RelatedArticles.load(directory, mmap=True), directory, False
    if not isinstance(model, RelatedArticles):
        msg = f"precompute needs a fitted RelatedArticles or a model directory, got {model!r}"
        raise InvalidParameterError(msg)
    if not model.__sklearn_is_fitted__():
        msg = "precompute needs a fitted model; call fit(articles) or RelatedArticles.load(path)"
        raise NotFittedError(msg)
    saved = None if model_dir is None else current_version(model_dir).resolve()
    return model, saved, model_dir is not None


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
        k=check_k(model.k if k is None else k),
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
        id_list = model.resolve_ids(options.ids)
    if model.removed_:
        id_list = _published_ids(model, id_list)
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
    layout = Layout(out, writer)
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
    reporter: Progress | None = None
    temp_model: Path | None = None
    run_dir: Path | None = None
    with exclusive(layout.lock), sigterm_raises():
        try:
            layout.sweep()
            if resume and layout.db is not None and layout.db.published_job(out) == job_sha:
                # The published database already holds exactly this job.
                summary = _database_summary(out, writer, n, n_shards, started)
                Progress(progress_enabled(progress), n, n).close(summary)
                return summary
            run_dir, run, verified = choose_run(layout, job, job_sha, n_shards, resume)
            if run_dir is None:  # resume found the published run complete and intact
                summary = _published_summary(layout, run, n_shards, started)
                Progress(progress_enabled(progress), n, n).close(summary)
                return summary
            skipped_articles = sum(e["articles"] for e in verified.values())
            reporter = Progress(progress_enabled(progress), n, skipped_articles)
            model_path, model_sha = None, None
            if mode not in ("inline", "threading", "fork"):
                if saved_dir is None:
                    temp_model = layout.root / f"{TEMP_PREFIX}model-{run['run_id']}"
                    model_path = current_version(model.save(temp_model))
                else:
                    model_path = saved_dir
                model_sha = sha256_file(model_path / "manifest.json")
            tasks = [
                ShardTask(
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
            for entry in run_tasks(
                tasks,
                model,
                mode,
                n_jobs=n_jobs,
                scheduler=options.scheduler,
                whole_archive=options.ids is None,
                stop=stop,
            ):
                entries[entry["shard"]] = entry
                reporter.update(entry["articles"])
            shards = [entries[i] for i in range(n_shards)]
            n_empty = sum(e["empty"] for e in shards)
            created = utc_now().isoformat(timespec="seconds")
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
                    "params": params.to_manifest(model.get_params()),
                },
                "job_sha256": job_sha,
                "shards": shards,
            }
            publish_run(layout, run_dir, manifest, time.perf_counter() - started)
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


# ----------------------------------------------------------------------------- summaries


def _published_summary(
    layout: Layout, run: dict, n_shards: int, started: float
) -> PrecomputeSummary:
    manifest = read_json(layout.root / f"{RUN_PREFIX}{run['run_id']}" / MANIFEST) or {}
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


# ----------------------------------------------------------------------------- DataFrame


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
