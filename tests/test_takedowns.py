"""Takedowns agree between outputs (issue 17 item 3): a removed article is in no output.

After ``update --remove`` the SQLite database dropped the ids, while a fresh precompute listed
them with ``[]``. Now every output leaves a removed article out, as a row and as an empty
list: precompute's JSON Lines, CSV, Parquet and SQLite, the single-file JSON Lines,
``iter_output`` and the update's diff. (Asked for directly, ``related()``, ``related_many()``
and ``iter_related()`` still answer ``[]`` for a removed id: they are queries, not outputs.)
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import pytest

from relatedness import RelatedArticles
from relatedness.cli import EXIT_OK, main
from relatedness.precompute import iter_output, precompute, write_jsonl

from .conftest import news_rows

GONE = ["b2", "p3"]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


@pytest.fixture
def model() -> RelatedArticles:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = RelatedArticles(k=3, min_df=1).fit(news_rows())
    return model.remove(GONE)


def expected(model: RelatedArticles) -> dict:
    """Every article still published, with its list (none mentions a removed one)."""
    lists = {
        i: [r.to_dict() for r in lst]
        for i, lst in model.related_many(model.ids_).items()
        if i not in GONE
    }
    assert all(r["id"] not in GONE for lst in lists.values() for r in lst)
    return lists


def ids_and_scores(rows) -> dict:
    return {i: [(r["id"], r["score"]) for r in lst] for i, lst in rows}


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "sqlite"])
@pytest.mark.parametrize("jobs", [1, 2])
def test_precompute_leaves_removed_articles_out(tmp_path, model, fmt, jobs):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    out = tmp_path / ("related.sqlite" if fmt == "sqlite" else "out")
    summary = precompute(
        model, out, format=fmt, shard_size=4, n_jobs=jobs, backend="threading", progress=False
    )
    assert summary.n_articles == len(news_rows()) - len(GONE)
    rows = list(iter_output(out))
    assert not {i for i, _ in rows} & set(GONE)
    assert ids_and_scores(rows) == ids_and_scores(expected(model).items())


def test_precompute_of_named_ids_leaves_removed_ones_out(tmp_path, model):
    out = tmp_path / "out"
    precompute(model, out, ids=["b1", "b2", "s1"], progress=False)
    assert [i for i, _ in iter_output(out)] == ["b1", "s1"]


def test_single_file_leaves_removed_articles_out(tmp_path, model):
    path = tmp_path / "related.jsonl"
    write_jsonl(model, path)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in lines] == [i for i in model.ids_ if i not in GONE]
    assert model.related("b2") == []  # asked directly, a removed article still answers []


def test_takedowns_agree_between_outputs(tmp_path):
    """The reproduction: after ``update --remove`` the database dropped the ids and a fresh
    precompute listed them with ``[]``. Both now hold the same rows."""
    corpus = tmp_path / "articles.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in news_rows()), encoding="utf-8")
    model_dir, database = tmp_path / "model", tmp_path / "related.sqlite"
    assert run("fit", str(corpus), "--model", str(model_dir), "--min-df", "1")[0] == EXIT_OK
    assert run("precompute", "--model", str(model_dir), "--out", str(database), "--quiet")[0] == 0
    gone = tmp_path / "gone.txt"
    gone.write_text("\n".join(GONE) + "\n", encoding="utf-8")
    diff = tmp_path / "diff.jsonl"
    code, _, err = run("update", "--model", str(model_dir), "--remove", str(gone), "--out",
                       str(diff), "--apply", str(database))  # fmt: skip
    assert code == EXIT_OK, err
    lines = [json.loads(line) for line in diff.read_text(encoding="utf-8").splitlines()]
    assert [row for row in lines if "removed" in row] == [{"id": i, "removed": True} for i in GONE]
    assert not [row for row in lines if row["id"] in GONE and "related" in row]
    updated = dict(iter_output(database))
    for fresh in (tmp_path / "fresh.sqlite", tmp_path / "fresh", tmp_path / "fresh.jsonl"):
        args = ("--format", "csv") if fresh.name == "fresh" else ()
        code, _, err = run("precompute", "--model", str(model_dir), "--out", str(fresh),
                           "--quiet", *args)  # fmt: skip
        assert code == EXIT_OK, err
        if fresh.suffix == ".jsonl":
            lines = fresh.read_text(encoding="utf-8").splitlines()
            rows = [(row["id"], row["related"]) for row in map(json.loads, lines)]
        else:
            rows = list(iter_output(fresh))
        assert ids_and_scores(rows) == ids_and_scores(updated.items()), fresh.name
    assert not set(updated) & set(GONE)
    assert Path(database).is_file()
