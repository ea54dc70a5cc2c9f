"""One shard: the task a worker runs, and computing, writing and vouching for that shard.

A :class:`ShardTask` is small and picklable (paths, never the model), so it travels to a
worker process or a Dask worker as is; :func:`write_shard` computes its lists batch by batch,
publishes the file atomically, then its ``.done`` sidecar. Which executor runs the task is
:mod:`relatedness.batch.executors`' business.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import sha256_file
from ..results import ArticleId
from .outcome import PrecomputeInterrupted
from .runs import done_name, publish_file, shard_name, write_json
from .writers import Row, ShardWriter

if TYPE_CHECKING:
    from ..recommender import RelatedArticles


#: Articles scored per call inside a shard: keeps memory flat however large a shard is.
BATCH = 1024


class RowCounter:
    """Counts articles and empty lists as batches stream past."""

    def __init__(self) -> None:
        self.articles = 0
        self.empty = 0

    def wrap(self, batches: Iterable[list[Row]]) -> Iterator[list[Row]]:
        for batch in batches:
            self.articles += len(batch)
            self.empty += sum(1 for _, related in batch if not related)
            yield batch


def related_batches(
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


@dataclass(frozen=True)
class ShardTask:
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
        return shard_name(self.index, self.writer)


def write_shard(
    model: RelatedArticles, task: ShardTask, stop: threading.Event | None = None
) -> dict[str, Any]:
    """Compute one shard, publish it atomically, then its ``.done`` sidecar; return its entry.

    The sidecar is written after the shard is under its final name, so a kill between the two
    leaves a shard without a sidecar, which resume recomputes: a sidecar always vouches for a
    complete file.
    """
    run_dir = Path(task.run_dir)
    ids = task.ids if task.ids is not None else model.ids_[task.start : task.stop]
    counter = RowCounter()
    path = run_dir / task.name
    with publish_file(path) as handle:
        records = task.writer.write(
            handle, counter.wrap(related_batches(model, ids, task.k, stop)), id_type=task.id_type
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
    write_json(run_dir / done_name(task.index), {**entry, "job_sha256": task.job_sha256})
    return entry
