"""Worker processes die with their parent (issue 17, "Found broken" item 7).

SIGKILL of ``relatedness precompute --jobs 2`` left 4 worker processes (~300 MB each) alive.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relatedness.features.parallel import die_with_parent

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def children_of(pid: int) -> set[int]:
    """Every descendant of ``pid``, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(condition, what: str, limit: float = 60.0) -> None:
    """Poll until ``condition()``; the limit only stops a broken run from hanging the suite."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.2)


@pytest.mark.slow
def test_sigkill_of_precompute_with_two_jobs_leaves_no_workers(tmp_path):
    rng = random.Random(7)
    words = [f"w{i}" for i in range(400)]
    corpus = tmp_path / "a.jsonl"
    with corpus.open("w", encoding="utf-8") as handle:
        for n in range(3000):
            body = " ".join(rng.choice(words) for _ in range(60))
            handle.write(json.dumps({"id": n, "title": body[:30], "body": body}) + "\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    cli = [sys.executable, "-m", "relatedness.cli"]
    model = tmp_path / "m"
    subprocess.run([*cli, "fit", str(corpus), "--model", str(model), "--min-df", "1"],
                   check=True, env=env, capture_output=True)  # fmt: skip
    run = subprocess.Popen(
        [*cli, "precompute", "--model", str(model), "--out", str(tmp_path / "out"),
         "--jobs", "2", "--backend", "loky", "--shard-size", "5", "--quiet"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # Workers have taken tasks once shards are written (before, loky may still be
        # starting them): kill the run in the middle of its work.
        out = tmp_path / "out"
        wait_for(lambda: len(list(out.rglob("part-*"))) >= 4 or run.poll() is not None, "shards")
        workers = children_of(run.pid)
        assert run.poll() is None, "precompute finished before its workers could be seen"
        run.send_signal(signal.SIGKILL)
        run.wait()
        wait_for(lambda: not any(alive(p) for p in workers), "the workers to exit")
    finally:
        if run.poll() is None:
            run.kill()
    assert not [p for p in workers if alive(p)]


def test_die_with_parent_is_a_no_op_in_the_process_that_runs_the_job(monkeypatch):
    monkeypatch.setenv("RELATEDNESS_MAIN_PID", str(os.getpid()))
    die_with_parent()  # must neither exit nor start a watchdog here
    import threading

    assert "relatedness-parent-watch" not in [t.name for t in threading.enumerate()]
