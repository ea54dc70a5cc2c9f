"""The progress reporter of a precompute run: tqdm on a terminal, plain lines otherwise.

It counts articles as shards finish and prints a final summary line on stderr; it never
writes to stdout.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from .outcome import PrecomputeSummary

#: Seconds between plain progress lines (when there is no terminal or no tqdm).
PLAIN_PROGRESS_EVERY = 5.0


class Progress:
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


def progress_enabled(progress: bool | None) -> bool:
    """Whether to report: ``progress`` when given, else whether stderr is a terminal."""
    return _stderr_is_tty() if progress is None else progress


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
