"""What guards a precompute run from outside: SIGTERM and a second writer on the same output.

:func:`sigterm_raises` turns SIGTERM into :class:`PrecomputeInterrupted` so cleanups run;
:func:`exclusive` holds the output's advisory lock for the whole run.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .outcome import OutputError, PrecomputeInterrupted


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
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
def exclusive(lock_path: Path) -> Iterator[None]:
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
