"""Process machinery of a fit: joblib chunks, the forked helper, handing memory back.

The vectorizer's work is deterministic per chunk and put together in chunk order, so who runs
a chunk (this process, a joblib worker or the forked :class:`ForkWorker`) never changes the
output; these helpers only decide where it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .analysis import stem_all

__all__ = [
    "MAIN_PID_ENV",
    "PARALLEL_MIN_DOCS",
    "PARALLEL_MIN_WORKERS",
    "ForkWorker",
    "chunk_bounds",
    "die_with_parent",
    "map_chunks",
    "n_workers",
    "trim_heap",
]

#: Below this many documents the joblib start-up (spawning workers that import scikit-learn
#: and nltk) costs more than it saves: measured 3.2 s serial vs 9.1 s on 2 workers at 3,000.
PARALLEL_MIN_DOCS = 20_000

#: joblib chunks need this many workers to pay. With two, the parent cleaning and counting
#: while one forked child stems (now :class:`ForkWorker`) wins: 50,000 synthetic articles took
#: 20.5 s that way (before the child existed) and 68.8 s on two joblib workers, which spawn
#: interpreters that import scikit-learn and nltk, and pickle every text out and back.
PARALLEL_MIN_WORKERS = 3


#: Seconds between two looks at the parent in the watchdog thread of :func:`die_with_parent`.
PARENT_POLL_SECONDS = 1.0
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
#: Set by a parallel job to its own pid: that process runs tasks too (Dask in-process
#: threads) and must not watch its own parent.
MAIN_PID_ENV = "RELATEDNESS_MAIN_PID"
_WATCHED: list[int] = []  # the parent pid this process watches, once set


def die_with_parent() -> None:
    """Make this worker process exit when its parent dies, even by SIGKILL.

    Called first in every worker (the fit's forked helper, precompute's forked, loky and
    Dask workers). On Linux the kernel sends SIGKILL when the parent dies
    (``prctl(PR_SET_PDEATHSIG)``, through ctypes); everywhere a daemon thread also checks
    once a second that the parent is still the same process (a dead parent's children are
    re-parented) and exits. A killed ``precompute --jobs 2`` otherwise left four ~300 MB
    workers running. Idempotent; a no-op in the main process of a run.
    """
    import os
    import sys
    import threading

    if _WATCHED or os.environ.get(MAIN_PID_ENV) == str(os.getpid()):
        return
    parent = os.getppid()
    _WATCHED.append(parent)
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no libc symbol: the watchdog still runs
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        import time

        while True:
            time.sleep(PARENT_POLL_SECONDS)
            if os.getppid() != parent:
                os._exit(1)  # no cleanup to run: the parent's resume sweeps our temp files

    threading.Thread(target=watch, name="relatedness-parent-watch", daemon=True).start()


def n_workers(n_jobs: int | None, n_docs: int) -> int:
    """joblib workers for a corpus of ``n_docs`` articles (1: run in this process)."""
    if n_docs < PARALLEL_MIN_DOCS or n_jobs == 1:
        return 1
    from joblib import effective_n_jobs

    workers = effective_n_jobs(n_jobs)
    return workers if workers >= PARALLEL_MIN_WORKERS else 1


def chunk_bounds(n: int, workers: int, min_parts: int = 1) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges covering ``n`` items: several per worker, at least ``min_parts``."""
    # Several chunks per worker, for balance; min_parts to feed a background stemmer.
    parts = max(1, min(n, max(workers * 4 if workers > 1 else 1, min_parts)))
    bounds = np.linspace(0, n, parts + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def map_chunks(
    function: Callable[..., Any],
    arguments: Sequence[tuple],
    n_jobs: int | None,
    workers: int,
    *,
    lazy: bool = False,
) -> Iterable:
    """``[function(*args) for args in arguments]``, in joblib workers when ``workers > 1``.

    With ``lazy``, results are yielded in order as they arrive instead of as one list.
    """
    if workers == 1 or len(arguments) < 2:
        if lazy:
            return (function(*a) for a in arguments)
        return [function(*a) for a in arguments]
    from joblib import Parallel, delayed

    return_as = "generator" if lazy else "list"
    return Parallel(n_jobs=n_jobs, return_as=return_as)(delayed(function)(*a) for a in arguments)


def trim_heap() -> None:
    """Return freed heap pages to the OS (glibc's ``malloc_trim``; a no-op elsewhere).

    A chunk's count arrays (~1.6 MB) come from the heap, not from their own mapping, so
    freeing them leaves holes that glibc keeps resident: stacking 1M articles' chunks into
    one array otherwise holds the chunks' 1.7 GiB twice over, once as holes.
    """
    import contextlib
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    # OSError/AttributeError: musl or another libc, with nothing to trim with.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


#: Seconds the parent waits for one task of the background worker before it kills the
#: child and does the rest of the work in-process.
WORKER_TIMEOUT = 120.0


class ForkWorker:
    """One forked child that shares the fit's cleaning, counting and stemming with the parent.

    Fork, not spawn: the child starts in milliseconds with numpy, scikit-learn and this
    module already loaded (a spawned interpreter takes seconds to import nltk, which pulls in
    scipy.stats). The documents are sent to it chunk by chunk. :meth:`RelatedArticles.fit`
    forks it before it reads the articles: a child forked from a process that holds the
    corpus puts its own allocations into the holes of the inherited heap and so copies each
    page it touches (its private memory peaked at 620 MiB for 200k articles, against 108 MiB
    forked first). Each step is a list of small tasks (:meth:`share`): the child takes them
    from the back, the parent from the front, until they meet. Every task is deterministic,
    and results are put together in task order, so who ran a task never changes the output;
    if the child fails in any way, the parent runs its remaining tasks itself.
    """

    def __init__(self, language: str) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.language = language
        self._broken = False
        self._used = False
        self._closed = False
        # The pool forks its child at the first submit, here.
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("fork"),
            initializer=die_with_parent,
        )
        # An empty batch makes the child import nltk now, during the parent's work.
        self._pool.submit(stem_all, [], language)

    @classmethod
    def start(cls, language: str, n_jobs: int | None) -> ForkWorker | None:
        """Return a running worker, or None where fork is unavailable or unsafe."""
        import multiprocessing
        import threading

        from joblib import effective_n_jobs

        # fork() in a process with other threads can deadlock the child (a lock held by a
        # thread that does not exist there); with one thread it is safe.
        if (
            effective_n_jobs(n_jobs) < 2
            or "fork" not in multiprocessing.get_all_start_methods()
            or threading.active_count() > 1
        ):
            return None
        try:
            return cls(language)
        except Exception:  # no process could be started (limits, sandbox): work in-process
            return None

    def share(self, remote: Any, local: Any, arguments: Sequence[tuple]) -> list[Any]:
        """Return ``[local(*a) for a in arguments]``, the child running ``remote`` on a share.

        ``remote(*a)`` (run in the child) must return what ``local(*a)`` returns. The child
        takes the tasks from the last one back while this process takes them from the front,
        cancelling those the child has not started; a task the child has (or had) when they
        meet is waited for, and run here if the child fails or times out.
        """
        self._used = True
        futures: list[Any] = []
        for args in reversed(arguments):
            try:
                futures.append(None if self._broken else self._pool.submit(remote, *args))
            except Exception:
                self._broken = True
                futures.append(None)
        futures.reverse()
        out: list[Any] = []
        child_has_rest = False
        for args, future in zip(arguments, futures, strict=True):
            # cancel() fails once the child has started the task: it then has every later one.
            child_has_rest = child_has_rest or (future is not None and not future.cancel())
            if not child_has_rest or self._broken:
                out.append(local(*args))
                continue
            try:
                out.append(future.result(timeout=WORKER_TIMEOUT))
            except Exception:
                self._kill()
                out.append(local(*args))
        return out

    def _kill(self) -> None:
        self._broken = True
        for process in list(getattr(self._pool, "_processes", {}).values()):
            process.kill()

    def close(self) -> None:
        """Stop the child (waits for it, so no executor thread outlives the fit). A child that
        was never given work is killed rather than waited for (it may still be importing
        nltk). Closing twice does nothing."""
        if self._closed:
            return
        self._closed = True
        if not self._used:
            self._kill()
        self._pool.shutdown(wait=True, cancel_futures=True)
