"""Running shard tasks: inline, threads, loky processes, a Dask cluster, or forked workers.

:func:`run_tasks` yields each shard's entry as it finishes (in any order). Threads and the
inline loop share the caller's model; forked workers inherit it; loky and Dask workers load the
saved model once per process (the worker-side cache here), so the model is never pickled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import sha256_file
from ..features.parallel import MAIN_PID_ENV, die_with_parent
from .outcome import OutputError
from .shards import ShardTask, write_shard

if TYPE_CHECKING:
    from ..recommender import RelatedArticles


def run_tasks(
    tasks: list[ShardTask],
    model: RelatedArticles,
    mode: str,
    *,
    n_jobs: int,
    scheduler: Any,
    whole_archive: bool,
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

    Parameters
    ----------
    tasks : list of ShardTask
        The shards still to compute.
    model : RelatedArticles
        The caller's fitted model (loky and Dask workers load the task's ``model_dir``).
    mode : {"inline", "threading", "fork", "loky", "dask"}
    n_jobs : int
        Parallel shards (joblib semantics); with ``"dask"`` and no scheduler, the cluster size.
    scheduler : str, distributed.Client or None
        With ``"dask"``: the scheduler address or client; None starts a ``LocalCluster``.
    whole_archive : bool
        The run covers the fit order (no ``ids``), so in-process modes may share pools.
    stop : threading.Event
        Set by the caller on failure: threads stop at their next batch.

    Yields
    ------
    dict
        A shard's manifest entry, as its shard is committed.
    """
    todo = sum(task.stop - task.start for task in tasks)
    share = mode in ("inline", "threading", "fork") and whole_archive and model.index_.pair_once
    share = share and 2 * todo >= model.n_articles_  # a resume near the end: not worth it
    with model.index_.shared_pools() if share else contextlib.nullcontext():
        if mode == "inline":
            for task in tasks:
                yield write_shard(model, task)
            return
        if mode == "fork":
            if share and tasks:
                _score_pairs_before_forking(model, tasks[0].k)
            yield from _run_forked(tasks, model, n_jobs)
            return
        yield from _run_parallel(
            tasks,
            model=model,
            backend=mode,
            n_jobs=n_jobs,
            scheduler=scheduler,
            stop=stop,
        )


# ----------------------------------------------------------------------------- loky and Dask


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


def _run_task_in_worker(task: ShardTask) -> dict[str, Any]:
    """Entry point of a worker process or a Dask worker: load (once) then write the shard."""
    die_with_parent()  # a loky worker outliving a killed precompute holds ~300 MB
    if task.model_dir is None or task.model_manifest_sha256 is None:
        msg = "a worker task needs a saved model directory and its manifest SHA-256"
        raise ValueError(msg)
    return write_shard(_worker_model(task.model_dir, task.model_manifest_sha256), task)


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
    tasks: list[ShardTask],
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
        calls = (joblib.delayed(write_shard)(model, t, stop) for t in tasks)
        yield from joblib.Parallel(
            n_jobs=n_jobs, backend="threading", return_as="generator_unordered"
        )(calls)
        return
    calls = (joblib.delayed(_run_task_in_worker)(t) for t in tasks)
    # Workers inherit the environment: the process that runs the job is not a worker.
    os.environ[MAIN_PID_ENV] = str(os.getpid())
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


# ----------------------------------------------------------------------------- fork


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


def _write_forked_shard(task: ShardTask) -> dict[str, Any]:
    """In a forked worker: write a shard with the model (and pools) it inherited."""
    if _FORKED_MODEL is None:
        msg = "no inherited model in this process (only forked precompute workers have one)"
        raise RuntimeError(msg)
    return write_shard(_FORKED_MODEL, task)


def _forked_worker_started() -> None:
    # The parent turns SIGTERM into PrecomputeInterrupted and cleans up; a worker just stops.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent()


def _run_forked(tasks: list[ShardTask], model: RelatedArticles, n_jobs: int) -> Iterator[dict]:
    """Shard entries as forked workers finish them (any order, as with joblib).

    Fork, so the workers start with the model and the shared pools in their memory (copy on
    write: nothing is pickled or loaded). The parent's threads do not exist in a worker: its
    scoring threads are idle by then (they hold no lock), and a worker starts its own
    (:func:`relatedness.engine.kernels._forget_pools`).
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
