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


def test_related_many_as_frame_is_one_tidy_row_per_article_and_rank(fitted):
    pd = pytest.importorskip("pandas")
    ids = fitted.ids_[:6]
    lists = fitted.related_many(ids, k=3)
    frame = fitted.related_many(ids, k=3, as_frame=True)
    assert list(frame.columns) == ["article_id", "rank", "related_id", "score", "title",
                                   "section", "published", "url", "pinned"]  # fmt: skip
    assert len(frame) == sum(len(v) for v in lists.values())
    expected = [(a, rank, r.id, r.score, r.title, r.section)
                for a, related in lists.items()
                for rank, r in enumerate(related, start=1)]  # fmt: skip
    got = list(frame[["article_id", "rank", "related_id", "score", "title", "section"]]
               .itertuples(index=False, name=None))  # fmt: skip
    assert got == expected
    assert frame["rank"].dtype == "int64"
    assert str(frame["published"].dtype).startswith("datetime64")
    published = [r.published for related in lists.values() for r in related]
    assert published[0] is not None  # the Wikinews sample is dated
    stamp = pd.Timestamp(published[0])
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    assert frame["published"].iloc[0] == stamp


def test_related_many_as_frame_must_be_a_bool(fitted):
    from relatedness.exceptions import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="as_frame"):
        fitted.related_many(fitted.ids_[:2], as_frame="yes")


def test_as_frame_without_pandas_names_the_pip_command(fitted, monkeypatch):
    from relatedness.exceptions import MissingDependencyError

    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'relatedness\[pandas\]'"):
        fitted.related_many(fitted.ids_[:2], as_frame=True)
