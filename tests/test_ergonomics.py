"""What users expect of a production tool (issue 16 part 4): copies and pickles of a fitted
model, and a command line that ends quietly when its reader goes away."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from relatedness import RelatedArticles
from relatedness.datasets import load_sample

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def fitted() -> RelatedArticles:
    return RelatedArticles().fit(load_sample())


@pytest.mark.parametrize("duplicate", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))],
                         ids=["deepcopy", "pickle"])  # fmt: skip
def test_a_fitted_model_copies_and_pickles_with_its_locks(fitted, duplicate):
    # Was: TypeError "cannot pickle '_thread.lock' object" (the engine's lazy structures).
    twin = duplicate(fitted)
    ids = fitted.ids_[:20]
    assert [twin.related(i, k=4) for i in ids] == [fitted.related(i, k=4) for i in ids]
    query = {"title": "Election results", "body": "The votes were counted overnight."}
    assert twin.related_to(query, k=3) == fitted.related_to(query, k=3)
    # The restored locks work: concurrent first queries build each structure once.
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(twin.related(ids[3], k=4)))
               for _ in range(4)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [fitted.related(ids[3], k=4)] * 4


def test_a_memory_mapped_model_pickles(tmp_path, fitted):
    fitted.save(tmp_path / "m")
    loaded = RelatedArticles.load(tmp_path / "m", mmap=True)
    twin = pickle.loads(pickle.dumps(loaded))
    assert twin.related(fitted.ids_[0], k=4) == fitted.related(fitted.ids_[0], k=4)


def test_related_into_a_closed_pipe_exits_quietly(tmp_path, fitted):
    # Was: "unexpected BrokenPipeError" and exit 1, as with `relatedness related ... | head`.
    fitted.save(tmp_path / "m")
    process = subprocess.Popen(
        [sys.executable, "-m", "relatedness.cli", "related", fitted.ids_[0], "--model",
         str(tmp_path / "m"), "--format", "json", "--k", "50"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(SRC)},
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the first write
    error = process.stderr.read().decode()
    assert process.wait(120) == 141
    assert error == ""
