"""What a precompute call hands back or raises: its summary, its errors, its exit code.

The bottom of :mod:`relatedness.batch`: every other file of the package may raise these, so
they import nothing from it. :mod:`relatedness.batch.job` re-exports them (and so do
``relatedness.batch`` and ``relatedness.precompute``).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import RelatednessError

#: Exit code a command should use after :class:`PrecomputeInterrupted` from SIGTERM (128 + 15).
EXIT_INTERRUPTED = 128 + signal.SIGTERM


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
