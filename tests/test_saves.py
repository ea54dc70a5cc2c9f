"""Saves that never destroy a model (issue 17 item 1), and published files that honour the umask
(issue 16).

A real process is killed (SIGKILL, no cleanup runs) at every step of a save that touches the
disk: before each file write, fsync, mkdir, rename, replace and unlink. After every kill the
model path must load, and answer as the old model or as the new one: never neither, never a
mix. The next save sweeps what the killed one left.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import relatedness.store.model as store_model
from relatedness import RelatedArticles
from relatedness.store import CURRENT, current_version

from .conftest import SEED, news_rows, random_corpus

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork") or not hasattr(signal, "SIGKILL"), reason="needs fork and SIGKILL"
)

#: What a save does to the disk, each a point to be killed at.
STEPS = (
    (os, "replace"),
    (os, "rename"),
    (os, "fsync"),
    (os, "mkdir"),
    (os, "unlink"),
    (shutil, "rmtree"),
    (store_model, "write_new"),
)


def fit(rows: list[dict]) -> RelatedArticles:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return RelatedArticles(k=4, min_df=1).fit(rows)


@pytest.fixture(scope="module")
def old() -> RelatedArticles:
    return fit(news_rows())


@pytest.fixture(scope="module")
def new() -> RelatedArticles:
    return fit(random_corpus(np.random.default_rng(SEED + 3), 60))


def lists(model: RelatedArticles) -> dict:
    return model.related_many(model.ids_)


def count_steps(save: Any) -> list[str]:
    """The disk steps of ``save()``, run in this process without faults."""
    calls: list[str] = []
    originals = [(owner, name, getattr(owner, name)) for owner, name in STEPS]

    def counting(name: str, real: Any) -> Any:
        def step(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return real(*args, **kwargs)

        return step

    try:
        for owner, name, real in originals:
            setattr(owner, name, counting(name, real))
        save()
    finally:
        for owner, name, real in originals:
            setattr(owner, name, real)
    return calls


def killed_at(step: int, save: Any) -> int:
    """Run ``save()`` in a forked child that SIGKILLs itself at disk step ``step`` (1-based,
    before the step runs); return the child's wait status (-9 when killed, 0 when done)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            calls = [0]

            def killing(real: Any) -> Any:
                def step_(*args: Any, **kwargs: Any) -> Any:
                    calls[0] += 1
                    if calls[0] == step:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return real(*args, **kwargs)

                return step_

            for owner, name in STEPS:
                setattr(owner, name, killing(getattr(owner, name)))
            save()
            os._exit(0)
        except BaseException:  # noqa: BLE001 - any error is a failed child
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".tmp-"))


@pytest.mark.parametrize("layout", ["versioned", "flat"])
def test_a_save_killed_at_any_step_leaves_the_old_model_or_the_new(tmp_path, old, new, layout):
    """Issue 17 item 1: save() replaced files one by one, so a kill at its 3rd-10th
    os.replace left a model that failed its size check on every load."""
    master = old.save(tmp_path / "master")
    if layout == "flat":  # a model saved before versions existed
        flat = tmp_path / "flat"
        shutil.copytree(current_version(master), flat)
        master = flat
    want_old, want_new = lists(old), lists(new)
    shutil.copytree(master, tmp_path / "dry")
    steps = count_steps(lambda: new.save(tmp_path / "dry"))
    assert {"replace", "rename", "fsync", "write_new"} <= set(steps)
    seen = set()
    for step in range(1, len(steps) + 2):  # the last one is not killed: the save completes
        directory = tmp_path / f"m{step}"
        shutil.copytree(master, directory)
        status = killed_at(step, lambda directory=directory: new.save(directory))
        assert status == (-signal.SIGKILL if step <= len(steps) else 0), (step, status)
        got = lists(RelatedArticles.load(directory))
        assert got in (want_old, want_new), f"killed before step {step} ({steps[step - 2]})"
        seen.add("old" if got == want_old else "new")
        if step <= steps.index("replace") + 1:  # CURRENT is switched by the one os.replace
            assert got == want_old, step
        # The next save sweeps what the killed one left and keeps two versions at most.
        old.save(directory)
        assert leftovers(directory) == []
        assert len([p for p in directory.iterdir() if p.name.startswith("v-")]) <= 2
        assert lists(RelatedArticles.load(directory, mmap=True)) == want_old
    assert seen == {"old", "new"}


def memory_mapped(array: Any) -> bool:
    while array is not None:
        if isinstance(array, np.memmap):
            return True
        array = getattr(array, "base", None)
    return False


def test_loading_memory_mapped_follows_current(tmp_path, old, new):
    directory = old.save(tmp_path / "m")
    new.save(directory)
    loaded = RelatedArticles.load(directory, mmap=True)
    assert lists(loaded) == lists(new)
    assert memory_mapped(loaded.index_.matrix.data)
    name = (directory / CURRENT).read_text(encoding="utf-8").strip()
    assert current_version(directory) == directory / name


@pytest.fixture
def umask_027(monkeypatch):
    import relatedness.atomic

    previous = os.umask(0o027)
    monkeypatch.setattr(relatedness.atomic, "_UMASK", None)  # read again under this umask
    try:
        yield
    finally:
        os.umask(previous)


def modes(paths) -> set[int]:
    return {stat.S_IMODE(p.stat().st_mode) for p in paths if p.is_file()}


def test_model_and_diff_files_honour_the_umask(tmp_path, old, umask_027):
    """Issue 16: model files were 0600 (mkstemp's mode) while precompute output was 0644; every
    published file now gets 0o666 & ~umask (here 0640), directories 0o777 & ~umask."""
    from relatedness.cli import main
    from relatedness.precompute import precompute

    directory = old.save(tmp_path / "m")
    version = current_version(directory)
    assert modes(version.iterdir()) == {0o640}
    assert modes([directory / CURRENT]) == {0o640}
    assert stat.S_IMODE(version.stat().st_mode) == 0o750
    out = tmp_path / "out"
    precompute(old, out, shard_size=5, progress=False)
    assert modes(out.rglob("*")) - modes([out / ".lock"]) <= {0o640}
    new_rows = tmp_path / "new.jsonl"
    new_rows.write_text('{"id": "n1", "body": "The central bank held interest rates."}\n')
    diff = tmp_path / "diff.jsonl"
    code = main(["update", "--model", str(directory), "--add", str(new_rows), "--out", str(diff)])
    assert code == 0
    assert modes([diff]) == {0o640}
    assert modes(current_version(directory).iterdir()) == {0o640}
