"""Fault tests for batch precompute (BAD_INPUTS.md row 17 and section 5.2).

A real subprocess runs ``precompute`` on a seeded corpus and is killed with SIGKILL at random
points (seeded RNG); after every kill the output must satisfy the invariants a reader relies
on, and resuming must end with shards byte-identical to an uninterrupted run. SIGTERM must
stop gracefully with exit code 143 and no temp files. In-process, Lucene
``MockDirectoryWrapper`` style, every single write, fsync and rename of a run is made to fail
in turn (ENOSPC, EIO): the run must fail cleanly, leave no temp file, and leave the previous
complete output published.

The CI-sized kill loop (5 kills) is unmarked; the long one is ``@pytest.mark.slow``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from relatedness import RelatedArticles
from relatedness.batch.runs import CURRENT, MANIFEST
from relatedness.precompute import (
    EXIT_INTERRUPTED,
    iter_output,
    precompute,
    read_manifest,
)
from relatedness.writers import SqliteWriter

from .conftest import random_corpus

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

N_ARTICLES = 2000
SHARD_SIZE = 50  # 40 shards: many commit points to be killed between
N_SHARDS = N_ARTICLES // SHARD_SIZE
#: A kill lands this long (uniform, seconds) after its target number of shards is committed:
#: mid-shard, between a shard and its sidecar, or in the manifest / CURRENT / cleanup steps.
JITTER = 0.03

#: The subprocess: load the saved model (mmap), warm up, say "ready", then precompute with
#: resume=True (the first run simply finds nothing to resume). SIGTERM -> exit 143.
DRIVER = """
import sys, time
import relatedness.batch.executors as executors
from relatedness import RelatedArticles
from relatedness.precompute import PrecomputeInterrupted, precompute

# Each shard takes at least 10 ms, so a run lasts long enough for the signals sent at fixed
# delays to land mid-run however fast the scoring gets.
write_shard = executors.write_shard
executors.write_shard = lambda *args, **kw: (time.sleep(0.01), write_shard(*args, **kw))[1]

model_dir, out, shard_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = RelatedArticles.load(model_dir, mmap=True)
model.related_many(model.ids_[:1])  # load compiled kernels before the clock starts
print("ready", flush=True)
try:
    precompute(model, out, shard_size=shard_size, resume=True, progress=False)
except PrecomputeInterrupted as exc:
    sys.exit(exc.exit_code)
except OSError as exc:
    print(f"relatedness: error: {exc}", file=sys.stderr)
    sys.exit(1)
print("done", flush=True)
"""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    rows = random_corpus(np.random.default_rng(7), N_ARTICLES, n_sections=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RelatedArticles(k=5, min_df=1).fit(rows)
    return model.save(tmp_path_factory.mktemp("faults") / "model")


@pytest.fixture(scope="module")
def reference(model_dir, tmp_path_factory) -> dict[str, bytes]:
    """Shard name -> bytes of an uninterrupted run (in-process: also checks process parity)."""
    out = tmp_path_factory.mktemp("reference") / "out"
    precompute(
        RelatedArticles.load(model_dir, mmap=True), out, shard_size=SHARD_SIZE, progress=False
    )
    run_dir = Path(read_manifest(out)["run_dir"])
    return {p.name: p.read_bytes() for p in sorted(run_dir.glob("part-*.jsonl"))}


def start(model_dir: Path, out: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(model_dir), str(out), str(SHARD_SIZE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if line.strip() != "ready":
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"driver did not start: {line!r} {err}")
    return proc


def temp_leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".tmp-")]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_invariants(out: Path, reference: dict[str, bytes]) -> None:
    """What a reader may rely on at any instant, however the writer died.

    - every file under a final name is complete: a shard is byte-identical to the reference
      shard of that name (stronger than "parses"), JSON files parse, CURRENT names a run with
      a manifest;
    - a manifest lists exactly the shards in its directory, with matching checksums;
    - a ``.done`` sidecar vouches only for a shard that matches it.
    Temp files (``.tmp-*``) may exist after SIGKILL; they are swept by the next run.
    """
    if not out.exists():
        return
    for path in out.rglob("*"):
        if path.is_dir() or path.name.startswith("."):  # .lock, .tmp-* (not final names)
            continue
        data = path.read_bytes()
        if path.name == CURRENT:
            run_dir = out / data.decode().strip()
            assert (run_dir / MANIFEST).is_file(), f"CURRENT names {run_dir} without a manifest"
        elif path.suffix == ".jsonl":
            assert data == reference[path.name], f"{path} is torn or wrong"
            assert all(json.loads(line)["id"] is not None for line in data.splitlines())
        elif path.suffix in (".json", ".done"):
            json.loads(data)
        else:
            pytest.fail(f"unexpected file under a final name: {path}")
    for manifest_path in out.rglob(MANIFEST):
        manifest = json.loads(manifest_path.read_bytes())
        listed = {s["name"]: s for s in manifest["shards"]}
        present = {p.name for p in manifest_path.parent.glob("part-*.jsonl")}
        assert set(listed) == present == set(reference)
        for name, entry in listed.items():
            data = (manifest_path.parent / name).read_bytes()
            assert (len(data), sha(data)) == (entry["bytes"], entry["sha256"])
    for done in out.rglob("part-*.done"):
        shard = done.with_suffix(".jsonl")
        if shard.exists():
            assert json.loads(done.read_bytes())["sha256"] == sha(shard.read_bytes())


def committed(out: Path) -> int:
    """Shards committed (with their sidecar) in the most advanced run directory."""
    if not out.exists():
        return 0
    return max((len(list(d.glob("part-*.done"))) for d in out.glob("run-*")), default=0)


def finished_output(out: Path) -> dict[str, bytes]:
    manifest = read_manifest(out)
    run_dir = Path(manifest["run_dir"])
    return {s["name"]: (run_dir / s["name"]).read_bytes() for s in manifest["shards"]}


def kill_loop(
    model_dir: Path, out: Path, reference: dict[str, bytes], kills: int, seed: int
) -> int:
    """SIGKILL ``kills`` runs at random points, resuming each time; return the cycles.

    Once a cycle's output is published (the run finished, or was killed after publishing) it
    is checked against the reference and removed, so the next kill lands in real work again.
    """
    rng = random.Random(seed)
    killed = cycles = 0
    for _ in range(kills * 4):
        if killed == kills:
            break
        proc = start(model_dir, out)
        # Kill by progress, not by wall time, so kills land in real work on a fast or a
        # loaded machine alike: wait for a random number of committed shards, then jitter.
        target = rng.randint(committed(out), N_SHARDS)
        deadline = time.monotonic() + 60
        while committed(out) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, JITTER))
        proc.send_signal(signal.SIGKILL)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode in (0, -signal.SIGKILL), stderr
        check_invariants(out, reference)
        killed += proc.returncode == -signal.SIGKILL
        if (out / CURRENT).exists():  # finished (or killed after publishing): next cycle
            assert finished_output(out) == reference
            shutil.rmtree(out)
            cycles += 1
    assert killed == kills
    proc = start(model_dir, out)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert stdout.strip() == "done"
    check_invariants(out, reference)
    assert finished_output(out) == reference
    assert not temp_leftovers(out)
    return cycles + 1


def test_sigkill_at_random_points_then_resume_is_byte_identical(model_dir, reference, tmp_path):
    kill_loop(model_dir, tmp_path / "out", reference, kills=5, seed=20261128)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_sigkill_loop_long(model_dir, reference, tmp_path, seed):
    assert kill_loop(model_dir, tmp_path / "out", reference, kills=30, seed=seed) >= 2


def test_sigterm_stops_gracefully_and_resume_completes(model_dir, reference, tmp_path):
    out = tmp_path / "out"
    proc = start(model_dir, out)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED == 143, stderr
    assert "Traceback" not in stderr
    assert not temp_leftovers(out)
    check_invariants(out, reference)
    assert not (out / CURRENT).exists()  # interrupted before completion: nothing published
    proc = start(model_dir, out)
    assert proc.communicate(timeout=120)[0].strip() == "done"
    run_dir = Path(read_manifest(out)["run_dir"])
    assert {p.name: p.read_bytes() for p in run_dir.glob("part-*.jsonl")} == reference


# ----------------------------------------------------------------------------- in-process


@pytest.fixture(scope="module")
def small() -> RelatedArticles:
    """150 articles: 3 shards of 50, so a run has a dozen writes, renames and fsyncs."""
    rows = random_corpus(np.random.default_rng(11), 150, n_sections=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RelatedArticles(k=4, min_df=1).fit(rows)


class Faults:
    """Counts calls of one OS operation and fails the k-th with ``error``."""

    def __init__(self, fail_at: int | None, error: int) -> None:
        self.fail_at = fail_at
        self.error = error
        self.calls = 0

    def tick(self) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            raise OSError(self.error, os.strerror(self.error))


class FlakyFile:
    """A file whose writes go through :class:`Faults` (a disk that fills up mid-write)."""

    def __init__(self, real, faults: Faults) -> None:
        self._real = real
        self._faults = faults

    def write(self, data):
        # Half the bytes land before the disk is "full": the temp file is really torn.
        self._real.write(data[: len(data) // 2])
        self._faults.tick()
        return self._real.write(data[len(data) // 2 :])

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return self._real.__exit__(*exc_info)

    def __getattr__(self, name):
        return getattr(self._real, name)


def inject(monkeypatch, operation: str, faults: Faults) -> None:
    if operation == "write":
        real_fdopen = os.fdopen
        monkeypatch.setattr(os, "fdopen", lambda *a, **kw: FlakyFile(real_fdopen(*a, **kw), faults))
    elif operation == "fsync":
        real_fsync = os.fsync

        def flaky_fsync(fd):
            # Only files: a failed directory fsync is deliberately ignored (atomic.fsync_dir),
            # since some platforms cannot fsync directories at all.
            if stat.S_ISREG(os.fstat(fd).st_mode):
                faults.tick()
            return real_fsync(fd)

        monkeypatch.setattr(os, "fsync", flaky_fsync)
    else:
        real = getattr(os, operation)

        def flaky(*args, **kwargs):
            faults.tick()
            return real(*args, **kwargs)

        monkeypatch.setattr(os, operation, flaky)


def count_calls(small, tmp_path, monkeypatch, operation: str) -> int:
    faults = Faults(None, errno.EIO)
    with monkeypatch.context() as patch:
        inject(patch, operation, faults)
        precompute(small, tmp_path / "count", k=3, shard_size=50, progress=False)
    return faults.calls


@pytest.mark.parametrize(
    ("operation", "error"),
    [("write", errno.ENOSPC), ("write", errno.EIO), ("replace", errno.EIO), ("fsync", errno.EIO)],
)
def test_every_failing_write_leaves_the_previous_output_published(
    small, tmp_path, monkeypatch, operation, error
):
    out = tmp_path / "out"
    first = precompute(small, out, k=2, shard_size=50, progress=False)
    before = list(iter_output(out))
    total = count_calls(small, tmp_path, monkeypatch, operation)
    assert total >= 8  # RUN.json, 3 shards, 3 sidecars, MANIFEST, CURRENT (and more)
    for fail_at in range(1, total + 1):
        faults = Faults(fail_at, error)
        with monkeypatch.context() as patch:
            inject(patch, operation, faults)
            with pytest.raises(OSError, match=os.strerror(error)) as info:
                precompute(small, out, k=3, shard_size=50, progress=False)
        assert info.value.errno == error, fail_at
        assert not temp_leftovers(tmp_path), fail_at
        assert (out / CURRENT).read_text() == f"run-{first.run_id}\n", fail_at
        assert read_manifest(out)["run_id"] == first.run_id, fail_at
        assert list(iter_output(out)) == before, fail_at
    # Free space again: a resumed run completes from what the failed runs committed.
    summary = precompute(small, out, k=3, shard_size=50, resume=True, progress=False)
    assert summary.shards == 3
    want = small.related_many(small.ids_, 3)
    assert list(iter_output(out)) == [(i, [r.to_dict() for r in want[i]]) for i in small.ids_]


def test_disk_full_while_building_sqlite_keeps_the_old_database(small, tmp_path, monkeypatch):
    db = tmp_path / "related.sqlite"
    precompute(small, db, format="sqlite", k=2, shard_size=50, progress=False)
    before = list(iter_output(db))
    real = SqliteWriter._insert_rows

    def tiny_disk(self, con, rows):
        con.execute("PRAGMA max_page_count = 8")  # a real SQLITE_FULL after a few pages
        return real(self, con, rows)

    with monkeypatch.context() as patch:
        patch.setattr(SqliteWriter, "_insert_rows", tiny_disk)
        with pytest.raises(OSError, match="No space left on device") as info:
            precompute(small, db, format="sqlite", k=3, shard_size=50, progress=False)
    assert info.value.errno == errno.ENOSPC
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    assert list(iter_output(db)) == before
    assert not temp_leftovers(tmp_path)
    # The staged shards were complete: resuming only rebuilds the database.
    summary = precompute(small, db, format="sqlite", k=3, shard_size=50, resume=True)
    assert summary.skipped_shards == summary.shards == 3
    assert all(len(related) <= 3 for _, related in iter_output(db))
    assert list(iter_output(db)) != before
