"""``relatedness update --apply`` keeps the model and the database in step (issue 17 item 1),
and writes exactly the lists that change (issue 17 item 2).

It committed the SQLite change first and then saved the model in place: killed at its 3rd-10th
``os.replace`` the database was updated and the model unloadable, exit 3 on every rerun. Here a
real process runs the update and is killed (SIGKILL) at every step that touches the disk (each
write, fsync, mkdir, rename, replace, unlink of the diff and of the model save, and before and
after the database's COMMIT); the same command run again must complete, and then the model, the
database and the diff must be those of an update that was never interrupted.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import sqlite3
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import relatedness.store.model as store_model
from relatedness import RelatedArticles
from relatedness.batch.outcome import OutputError
from relatedness.batch.update import update_model
from relatedness.cli import EXIT_BAD_INPUT, EXIT_OK, main
from relatedness.precompute import iter_output, precompute
from relatedness.store import read_manifest

from .conftest import SEED, news_rows, random_corpus

NEW = [
    {"id": "n1", "section": "business", "title": "Bank cuts rates",
     "body": "The central bank cut interest rates again as inflation eased."},
    {"id": "n2", "section": "sport", "title": "Cup final replay",
     "body": "The cup final replay ends after extra time; the coach praised the players."},
]  # fmt: skip
GONE = ["p2"]


def fit(rows: list[dict], **params: Any) -> RelatedArticles:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return RelatedArticles(**{"k": 3, "min_df": 1, **params}).fit(rows)


@pytest.fixture
def setup(tmp_path) -> tuple[Path, Path]:
    """A saved model and its precompute database."""
    model_dir, database = tmp_path / "model", tmp_path / "related.sqlite"
    fit(news_rows()).save(model_dir)
    precompute(model_dir, database, format="sqlite", progress=False)
    return model_dir, database


def lists_in(database: Path) -> dict:
    return {i: [(r["id"], r["score"]) for r in lst] for i, lst in iter_output(database)}


def full_recompute(model_dir: Path, tmp: Path) -> dict:
    """The database a fresh precompute of the model writes."""
    out = tmp / f"fresh-{len(list(tmp.glob('fresh-*')))}.sqlite"
    precompute(model_dir, out, format="sqlite", progress=False)
    return lists_in(out)


def update(model_dir: Path, database: Path | None, diff: Path) -> Any:
    return update_model(model_dir, add=NEW, remove=GONE, out=diff, apply=database)


def test_update_writes_exactly_the_lists_that_change(tmp_path):
    """Issue 17 item 2: update after adding 25 articles rewrote all 2,225 lists when 201
    changed. The diff holds exactly the lists that differ, and applying it gives the
    database a full recompute gives."""
    rows = random_corpus(np.random.default_rng(SEED), 200)
    model_dir, database = tmp_path / "model", tmp_path / "related.sqlite"
    fit(rows[:180], section_policy="any").save(model_dir)
    precompute(model_dir, database, format="sqlite", progress=False)
    before = dict(iter_output(database))
    diff = tmp_path / "diff.jsonl"
    summary = update_model(
        model_dir, add=rows[180:], remove=["a003", "a010"], out=diff, apply=database
    )
    after = full_recompute(model_dir, tmp_path)
    assert lists_in(database) == after
    fresh = dict(iter_output(tmp_path / "fresh-0.sqlite"))
    changed = {i for i in fresh if before.get(i) != fresh[i]}
    lines = [json.loads(line) for line in diff.read_text(encoding="utf-8").splitlines()]
    written = [row["id"] for row in lines if "related" in row]
    assert set(written) == changed and len(written) == len(changed) == summary.changed
    assert [row["id"] for row in lines if row.get("removed")] == ["a003", "a010"]
    assert summary.changed < summary.checked  # the bound is wider: the diff is not


# ------------------------------------------------------------------------------ kills

#: What an update does to the disk, each a point to be killed at (the COMMIT of the
#: database is two more: just before it and just after it).
STEPS = (
    (os, "replace"),
    (os, "rename"),
    (os, "fsync"),
    (os, "mkdir"),
    (os, "unlink"),
    (shutil, "rmtree"),
    (store_model, "write_new"),
)


def _instrument(on_step: Any) -> None:
    """Route every step through ``on_step(name)`` (in the child process: never undone)."""

    def wrap(name: str, real: Any) -> Any:
        def step(*args: Any, **kwargs: Any) -> Any:
            on_step(name)
            return real(*args, **kwargs)

        return step

    for owner, name in STEPS:
        setattr(owner, name, wrap(name, getattr(owner, name)))
    real_connect = sqlite3.connect

    class Connection(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> Any:
            if sql.strip().upper() != "COMMIT":
                return super().execute(sql, *args)
            on_step("before COMMIT")
            done = super().execute(sql, *args)
            on_step("after COMMIT")
            return done

    sqlite3.connect = lambda *a, **kw: real_connect(*a, factory=Connection, **kw)  # type: ignore[assignment]


def _steps_of(action: Any) -> list[str]:
    """The steps ``action()`` takes, counted in a forked child (nothing leaks back)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            names: list[str] = []
            _instrument(names.append)
            action()
            os.write(write, json.dumps(names).encode())
            os._exit(0)
        except BaseException:  # noqa: BLE001 - any error fails the count
            os._exit(1)
    os.close(write)
    with os.fdopen(read, "rb") as handle:
        data = handle.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    return json.loads(data)


def _killed_at(step: int, action: Any) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            count = [0]

            def on_step(name: str) -> None:
                count[0] += 1
                if count[0] == step:
                    os.kill(os.getpid(), signal.SIGKILL)

            _instrument(on_step)
            action()
            os._exit(0)
        except BaseException:  # noqa: BLE001
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")
def test_update_apply_killed_at_any_step_then_rerun_completes(tmp_path, setup):
    """Issue 17 item 1: killed at any step, a rerun of the same update completes, and the
    model, the database and the diff end as an uninterrupted update leaves them."""
    model_dir, database = setup
    master = tmp_path / "master"
    shutil.copytree(model_dir, master / "model")
    shutil.copy(database, master / "related.sqlite")

    def copy(name: str) -> tuple[Path, Path, Path]:
        shutil.copytree(master, tmp_path / name)
        return tmp_path / name / "model", tmp_path / name / "related.sqlite", tmp_path / name

    ref_model, ref_db, ref_dir = copy("reference")
    update(ref_model, ref_db, ref_dir / "diff.jsonl")
    want_db = lists_in(ref_db)
    want_diff = (ref_dir / "diff.jsonl").read_bytes()
    want_lists = RelatedArticles.load(ref_model).related_many(
        [i for i in RelatedArticles.load(ref_model).ids_ if i not in GONE]
    )
    assert want_db == full_recompute(ref_model, tmp_path)

    dry_model, dry_db, dry_dir = copy("dry")
    steps = _steps_of(lambda: update(dry_model, dry_db, dry_dir / "diff.jsonl"))
    assert {"before COMMIT", "after COMMIT", "replace", "rename", "write_new"} <= set(steps)
    assert len(steps) >= 30  # the diff, the COMMIT, every file of the new model version
    for step in range(1, len(steps) + 1):
        model, db, where = copy(f"kill{step}")
        diff = where / "diff.jsonl"
        status = _killed_at(step, lambda model=model, db=db, diff=diff: update(model, db, diff))
        assert status == -signal.SIGKILL, (step, steps[step - 1], status)
        summary = update(model, db, diff)  # the rerun
        label = f"killed at step {step} ({steps[step - 1]})"
        assert lists_in(db) == want_db, label
        loaded = RelatedArticles.load(model)
        assert loaded.related_many([i for i in loaded.ids_ if i not in GONE]) == want_lists, label
        assert summary.already_applied == (step > len(steps) - _steps_after_commit(steps)), label
        if not summary.already_applied:
            assert diff.read_bytes() == want_diff, label
        again = update(model, db, diff)  # and once more: nothing to do
        assert again.already_applied, label
        runs = sqlite3.connect(db).execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        assert runs == 2, label  # the precompute and one update, however many reruns


def _steps_after_commit(steps: list[str]) -> int:
    """Steps after the model's CURRENT switch (the last ``replace``): the update is done."""
    last_replace = len(steps) - 1 - steps[::-1].index("replace")
    return len(steps) - 1 - last_replace


def test_a_rerun_of_a_finished_update_does_nothing(tmp_path, setup):
    model_dir, database = setup
    diff = tmp_path / "diff.jsonl"
    first = update(model_dir, database, diff)
    assert not first.already_applied
    journal = read_manifest(model_dir)["metadata"]["update"]
    assert journal["sha256"] == first.update_id
    code, out, err = _run("update", "--model", str(model_dir), "--add", str(_write_new(tmp_path)),
                          "--remove", str(_write_gone(tmp_path)), "--out", str(diff),
                          "--apply", str(database))  # fmt: skip
    assert code == EXIT_OK, err
    assert "already in" in out


def test_a_different_update_over_a_half_done_one_is_refused(tmp_path, setup, monkeypatch):
    """Killed between the database step and the model save, the database holds an update the
    model does not: another update from the same model would leave them apart for good."""
    model_dir, database = setup
    monkeypatch.setattr(RelatedArticles, "save", _crash)
    with pytest.raises(RuntimeError, match="killed"):
        update(model_dir, database, tmp_path / "diff.jsonl")
    monkeypatch.undo()
    with pytest.raises(OutputError, match="holds update update-.*run that update again"):
        update_model(model_dir, add=NEW[:1], out=tmp_path / "other.jsonl", apply=database)
    update(model_dir, database, tmp_path / "diff.jsonl")  # the same one completes
    assert lists_in(database) == full_recompute(model_dir, tmp_path)


def _crash(*args: Any, **kwargs: Any) -> None:
    msg = "killed before the model was saved"
    raise RuntimeError(msg)


@pytest.mark.parametrize("kind", ["missing", "not-sqlite", "foreign-sqlite"])
def test_update_apply_refuses_a_file_that_is_not_a_precompute_database(tmp_path, setup, kind):
    model_dir, _ = setup
    target = tmp_path / "other.sqlite"
    if kind == "not-sqlite":
        target.write_text("hello")
    elif kind == "foreign-sqlite":
        sqlite3.connect(target).execute("CREATE TABLE t (x)").connection.close()
    before = read_manifest(model_dir)["created_at"], sorted(os.listdir(model_dir))
    code, _, err = _run("update", "--model", str(model_dir), "--add", str(_write_new(tmp_path)),
                        "--out", str(tmp_path / "diff.jsonl"), "--apply", str(target))  # fmt: skip
    assert code == EXIT_BAD_INPUT
    assert err.count("\n") == 1
    assert "no such database" in err if kind == "missing" else "not a relatedness precompute" in err
    assert (read_manifest(model_dir)["created_at"], sorted(os.listdir(model_dir))) == before


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def _write_new(tmp_path: Path) -> Path:
    path = tmp_path / "new.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in NEW), encoding="utf-8")
    return path


def _write_gone(tmp_path: Path) -> Path:
    path = tmp_path / "gone.txt"
    path.write_text("\n".join(GONE) + "\n", encoding="utf-8")
    return path
