"""Batch precompute: formats, sharding, parallel backends, resume, SQLite schema, frames.

Every output is read back through what a consumer trusts (``CURRENT`` and the manifest, or the
database) and compared with ``model.related_many``: the oracle is the library's own query
path, so a writer that drops a field, an empty list or an id type fails here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import warnings
from pathlib import Path

import numpy as np
import pytest

from relatedness import RelatedArticles
from relatedness.batch.runs import CURRENT, MANIFEST
from relatedness.exceptions import InvalidParameterError, UnknownArticleError
from relatedness.precompute import (
    OutputError,
    PrecomputeSummary,
    iter_output,
    model_fingerprint,
    precompute,
    read_manifest,
    write_jsonl,
)
from relatedness.store import current_version
from relatedness.writers import (
    TABULAR_COLUMNS,
    JsonlWriter,
    ShardWriter,
    SqliteWriter,
    get_writer,
    register_writer,
)

from .conftest import SEED, random_corpus

FORMATS = ["jsonl", "csv", "parquet", "sqlite"]


def _fit(rows, **params) -> RelatedArticles:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny corpora: min_df relaxed, empty articles
        return RelatedArticles(min_df=1, **params).fit(rows)


@pytest.fixture(scope="module")
def model() -> RelatedArticles:
    """300 articles, 4 sections, ties, empties: several shards, some empty lists."""
    return _fit(random_corpus(np.random.default_rng(SEED), 300, n_sections=4), k=4)


@pytest.fixture(scope="module")
def int_model() -> RelatedArticles:
    rows = random_corpus(np.random.default_rng(SEED + 1), 120, n_sections=2)
    for i, row in enumerate(rows):
        row["id"] = 1000 + i
    return _fit(rows, k=3)


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory) -> Path:
    return model.save(tmp_path_factory.mktemp("model") / "m")


def expected(model, ids=None, k=None) -> list[tuple]:
    ids = model.ids_ if ids is None else list(dict.fromkeys(ids))
    lists = model.related_many(ids, k)
    return [(i, [r.to_dict() for r in lists[i]]) for i in ids]


def target(tmp_path: Path, fmt: str, name: str = "out") -> Path:
    return tmp_path / (f"{name}.sqlite" if fmt == "sqlite" else name)


def shard_bytes(out: Path) -> dict[str, bytes]:
    manifest = read_manifest(out)
    run_dir = Path(manifest["run_dir"])
    return {s["name"]: (run_dir / s["name"]).read_bytes() for s in manifest["shards"]}


def temp_leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".tmp-")]


def needs(fmt: str) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow")


# ----------------------------------------------------------------------------- formats


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_round_trips_to_related_many(model, tmp_path, fmt):
    needs(fmt)
    out = target(tmp_path, fmt)
    summary = precompute(model, out, format=fmt, shard_size=64, progress=False)
    want = expected(model)
    assert list(iter_output(out)) == want
    n_empty = sum(1 for _, related in want if not related)
    assert n_empty > 0, "the fixture must exercise empty lists"
    assert summary == PrecomputeSummary(
        out, 300, n_empty, summary.seconds, 5, 0, summary.run_id, fmt
    )
    assert not temp_leftovers(tmp_path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_int_ids_come_back_as_ints(int_model, tmp_path, fmt):
    """CSV and SQLite store ids as text; the recorded id_type turns them back into ints."""
    needs(fmt)
    out = target(tmp_path, fmt)
    precompute(int_model, out, format=fmt, shard_size=50, progress=False)
    got = list(iter_output(out))
    assert got == expected(int_model)
    assert all(isinstance(i, int) for i, _ in got)
    assert all(isinstance(r["id"], int) for _, related in got for r in related)


def test_nasty_fixture_rows_round_trip(fitted, tmp_path):
    """Empty, whitespace-only, HTML-only, Cyrillic and one-article-section rows (conftest)."""
    for fmt in ("jsonl", "csv", "sqlite"):
        out = target(tmp_path, fmt)
        precompute(fitted, out, format=fmt, shard_size=4, progress=False)
        got = dict(iter_output(out))
        assert got["e1"] == [] and got["w1"] == []  # explicit empty lists, not missing rows
        assert list(got.items()) == expected(fitted)


def test_jsonl_shards_concatenate_to_the_single_file(model, tmp_path):
    precompute(model, tmp_path / "out", shard_size=70, progress=False)
    write_jsonl(model, tmp_path / "single.jsonl")
    joined = b"".join(shard_bytes(tmp_path / "out").values())
    assert joined == (tmp_path / "single.jsonl").read_bytes()


def test_csv_layout(model, tmp_path):
    precompute(model, tmp_path / "out", format="csv", shard_size=1000, progress=False)
    manifest = read_manifest(tmp_path / "out")
    text = (Path(manifest["run_dir"]) / "part-00000.csv").read_bytes().decode("utf-8")
    lines = text.split("\r\n")
    assert lines[0] == ",".join(TABULAR_COLUMNS)
    empty_id = next(i for i, related in expected(model) if not related)
    assert f"{empty_id},0,,,,,,,," in lines  # the empty-list marker row


def test_manifest_lists_every_shard_with_its_checksum(model, tmp_path):
    out = tmp_path / "out"
    summary = precompute(model, out, k=2, shard_size=128, progress=False)
    manifest = read_manifest(out)
    run_dir = Path(manifest["run_dir"])
    assert (out / CURRENT).read_text() == run_dir.name + "\n"
    assert manifest["run_id"] == summary.run_id
    assert (manifest["k"], manifest["shard_size"], manifest["n_articles"]) == (2, 128, 300)
    assert manifest["model"]["fingerprint"] == model_fingerprint(model)
    assert manifest["model"]["params"]["k"] == 4  # the model's; the run's k is manifest["k"]
    assert [s["name"] for s in manifest["shards"]] == [f"part-{i:05d}.jsonl" for i in range(3)]
    assert [s["articles"] for s in manifest["shards"]] == [128, 128, 44]
    for shard in manifest["shards"]:
        data = (run_dir / shard["name"]).read_bytes()
        assert len(data) == shard["bytes"]
        assert hashlib.sha256(data).hexdigest() == shard["sha256"]
    assert all(len(related) <= 2 for _, related in iter_output(out))


def test_ids_subset_keeps_order_and_drops_duplicates(model, tmp_path):
    ids = [model.ids_[5], model.ids_[0], model.ids_[5], model.ids_[299]]
    summary = precompute(model, tmp_path / "out", ids=ids, shard_size=2, progress=False)
    assert summary.n_articles == 3 and summary.shards == 2
    assert list(iter_output(tmp_path / "out")) == expected(model, ids)


def test_unknown_id_fails_before_writing(model, tmp_path):
    with pytest.raises(UnknownArticleError, match="'nope' is not in the model"):
        precompute(model, tmp_path / "out", ids=[model.ids_[0], "nope"], progress=False)
    assert not (tmp_path / "out" / CURRENT).exists()


def test_empty_ids_publish_an_empty_output(model, tmp_path):
    summary = precompute(model, tmp_path / "out", ids=[], progress=False)
    assert (summary.n_articles, summary.shards) == (0, 0)
    assert list(iter_output(tmp_path / "out")) == []


def test_shard_size_does_not_change_the_content(model, tmp_path):
    contents = set()
    for size in (1, 7, 100, 10_000):
        out = tmp_path / f"s{size}"
        summary = precompute(model, out, shard_size=size, progress=False)
        assert summary.shards == -(-300 // size)
        contents.add(b"".join(shard_bytes(out).values()))
    assert len(contents) == 1


# ----------------------------------------------------------------------------- parallel


def test_loky_workers_write_identical_bytes(model, saved, tmp_path):
    precompute(model, tmp_path / "one", shard_size=40, progress=False)
    precompute(model, tmp_path / "two", shard_size=40, n_jobs=2, progress=False)
    precompute(saved, tmp_path / "dir", shard_size=40, n_jobs=2, progress=False)
    reference = shard_bytes(tmp_path / "one")
    assert shard_bytes(tmp_path / "two") == reference
    assert shard_bytes(tmp_path / "dir") == reference
    # The model saved for the workers was a temp directory inside the output: gone.
    assert not temp_leftovers(tmp_path)
    assert sorted(p.name for p in (tmp_path / "two").iterdir() if p.is_dir()) == [
        Path(read_manifest(tmp_path / "two")["run_dir"]).name
    ]


def test_threading_backend_writes_identical_bytes(model, tmp_path):
    precompute(model, tmp_path / "one", format="csv", shard_size=40, progress=False)
    precompute(
        model, tmp_path / "thr", format="csv", shard_size=40, n_jobs=2, backend="threading",
        progress=False,
    )  # fmt: skip
    assert shard_bytes(tmp_path / "thr") == shard_bytes(tmp_path / "one")


def test_in_process_runs_score_each_pair_once(tmp_path, all_pairs_calls):
    """Issue 3: an in-process run over the archive computes each section's pools once (the
    pair-once kernel, under a date window too) and writes the bytes the workers write."""
    rows = random_corpus(np.random.default_rng(SEED + 2), 240, n_sections=3)
    for i, row in enumerate(rows):
        row["published"] = f"2024-{1 + i % 6:02d}-{1 + i % 27:02d}"  # all dated: a window
    dated = _fit(rows, k=4, section_policy="same", max_age=20)
    precompute(dated, tmp_path / "workers", shard_size=50, n_jobs=2, progress=False)
    calls = all_pairs_calls
    calls.clear()  # the workers ran in their own processes: nothing was counted here
    precompute(dated, tmp_path / "inline", shard_size=50, progress=False)
    assert sorted(calls) == sorted(len(g) for g in dated.index_.groups)  # once per section
    assert shard_bytes(tmp_path / "inline") == shard_bytes(tmp_path / "workers")
    calls.clear()
    precompute(dated, tmp_path / "subset", ids=dated.ids_[:30], shard_size=50, progress=False)
    assert calls == []  # a few ids: their own rows only


def test_fork_backend_scores_each_section_once_before_forking(
    tmp_path, all_pairs_calls, monkeypatch
):
    """backend="fork": this process runs each section's pair-once pass (once per section),
    then forked workers write the shards from the inherited pools, never scoring a section
    again, and the bytes are those of an in-process run, for files and SQLite."""
    import relatedness.engine.kernels as kernels

    rows = random_corpus(np.random.default_rng(SEED + 2), 240, n_sections=3)
    for i, row in enumerate(rows):
        row["published"] = f"2024-{1 + i % 6:02d}-{1 + i % 27:02d}"  # all dated: a window
    dated = _fit(rows, k=4, section_policy="same", max_age=20)
    precompute(dated, tmp_path / "inline", shard_size=50, progress=False)
    precompute(dated, tmp_path / "inline.sqlite", format="sqlite", shard_size=50, progress=False)
    parent, counting = os.getpid(), kernels.all_pairs_topk

    def parent_only(*args, **kwargs):
        if os.getpid() != parent:
            msg = "a forked worker scored a section again"
            raise AssertionError(msg)
        return counting(*args, **kwargs)

    monkeypatch.setattr(kernels, "all_pairs_topk", parent_only)
    all_pairs_calls.clear()
    summary = precompute(
        dated, tmp_path / "fork", shard_size=50, n_jobs=2, backend="fork", progress=False
    )
    assert sorted(all_pairs_calls) == sorted(len(g) for g in dated.index_.groups)
    assert summary.shards == 5
    assert shard_bytes(tmp_path / "fork") == shard_bytes(tmp_path / "inline")
    precompute(
        dated, tmp_path / "fork.sqlite", format="sqlite", shard_size=50, n_jobs=2,
        backend="fork", progress=False,
    )  # fmt: skip
    assert dict(iter_output(tmp_path / "fork.sqlite")) == dict(
        iter_output(tmp_path / "inline.sqlite")
    )
    assert not temp_leftovers(tmp_path)


def test_fork_backend_workers_score_their_own_rows_for_a_subset(model, tmp_path):
    """With ``ids`` there are no shared pools: each forked worker scores its batches with
    its own threads (the parent's thread pool does not exist in a child)."""
    model.related_many(model.ids_[:50])  # the parent's scoring threads are running
    ids = model.ids_[::3]
    precompute(model, tmp_path / "one", ids=ids, shard_size=30, progress=False)
    precompute(
        model, tmp_path / "fork", ids=ids, shard_size=30, n_jobs=2, backend="fork",
        progress=False,
    )  # fmt: skip
    assert shard_bytes(tmp_path / "fork") == shard_bytes(tmp_path / "one")


def test_fork_backend_is_refused_where_processes_cannot_fork(model, tmp_path, monkeypatch):
    import multiprocessing

    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    with pytest.raises(InvalidParameterError, match="backend='fork' needs a platform"):
        precompute(model, tmp_path / "out", n_jobs=2, backend="fork", progress=False)
    assert not (tmp_path / "out").exists()


def test_dask_local_cluster_writes_identical_bytes(model, saved, tmp_path):
    pytest.importorskip("dask")
    pytest.importorskip("distributed")
    precompute(model, tmp_path / "one", shard_size=40, progress=False)
    precompute(
        model, tmp_path / "dask", shard_size=40, n_jobs=2, backend="dask", model_dir=saved,
        progress=False,
    )  # fmt: skip
    assert shard_bytes(tmp_path / "dask") == shard_bytes(tmp_path / "one")
    assert read_manifest(tmp_path / "dask")["model"]["manifest_sha256"] is not None


def test_model_dir_must_hold_the_same_model(model, int_model, tmp_path):
    other = int_model.save(tmp_path / "other")
    with pytest.raises(OutputError, match="different model"):
        precompute(model, tmp_path / "out", model_dir=other, progress=False)


def test_fingerprint_survives_save_and_mmap_load(model, saved):
    assert model_fingerprint(RelatedArticles.load(saved, mmap=True)) == model_fingerprint(model)
    assert model_fingerprint(RelatedArticles.load(saved)) == model_fingerprint(model)


# ----------------------------------------------------------------------------- resume


class Boom(RuntimeError):
    pass


def interrupt_after(monkeypatch, n_shards: int) -> None:
    """Make the n+1-th shard write fail, as a crash would (shards before it are committed)."""
    import relatedness.batch.executors as pc

    real = pc.write_shard
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > n_shards:
            raise Boom
        return real(*args, **kwargs)

    monkeypatch.setattr(pc, "write_shard", flaky)


@pytest.mark.parametrize("fmt", ["jsonl", "sqlite"])
def test_resume_skips_verified_shards_and_recomputes_a_corrupted_one(
    model, tmp_path, monkeypatch, fmt
):
    reference = target(tmp_path, fmt, "reference")
    precompute(model, reference, format=fmt, shard_size=30, progress=False)
    out = target(tmp_path, fmt)
    with monkeypatch.context() as patch:
        interrupt_after(patch, 4)
        with pytest.raises(Boom):
            precompute(model, out, format=fmt, shard_size=30, progress=False)
    assert not out.exists() or not (out / CURRENT).exists()  # nothing published
    root = out if fmt != "sqlite" else out.parent / f".{out.name}.runs"
    (run_dir,) = [d for d in root.iterdir() if d.name.startswith("run-")]
    assert sorted(p.name for p in run_dir.glob("part-*.done")) == [
        f"part-{i:05d}.done" for i in range(4)
    ]
    shard = run_dir / "part-00002.jsonl"
    shard.write_bytes(shard.read_bytes()[:-10])  # a torn shard under a final name
    summary = precompute(model, out, format=fmt, shard_size=30, resume=True, progress=False)
    assert (summary.shards, summary.skipped_shards) == (10, 3)
    assert list(iter_output(out)) == list(iter_output(reference)) == expected(model)
    if fmt == "jsonl":
        assert shard_bytes(out) == shard_bytes(reference)
    else:
        assert not root.exists()  # staging removed once the database is published
    assert not temp_leftovers(tmp_path)


def test_resume_of_a_complete_output_does_nothing(model, tmp_path):
    out = tmp_path / "out"
    first = precompute(model, out, shard_size=100, progress=False)
    again = precompute(model, out, shard_size=100, resume=True, progress=False)
    assert (again.run_id, again.skipped_shards, again.shards) == (first.run_id, 3, 3)
    # A different job (k) is not a resume of this one: everything is recomputed.
    other = precompute(model, out, k=2, shard_size=100, resume=True, progress=False)
    assert (other.skipped_shards, other.run_id != first.run_id) == (0, True)


def test_resume_repairs_a_corrupted_published_shard_in_a_new_run(model, tmp_path):
    out = tmp_path / "out"
    first = precompute(model, out, shard_size=100, progress=False)
    good = shard_bytes(out)
    run_dir = Path(read_manifest(out)["run_dir"])
    (run_dir / "part-00001.jsonl").write_bytes(b"garbage\n")
    with pytest.raises(OutputError, match="does not match"):
        list(iter_output(out))
    summary = precompute(model, out, shard_size=100, resume=True, progress=False)
    assert summary.skipped_shards == 2 and summary.run_id != first.run_id
    assert shard_bytes(out) == good


def test_stale_temp_files_are_swept(model, tmp_path):
    out = tmp_path / "out"
    precompute(model, out, shard_size=100, progress=False)
    run_dir = Path(read_manifest(out)["run_dir"])
    stale = [out / ".tmp-part-00000.jsonl.x1", run_dir / ".tmp-MANIFEST.json.x2"]
    for path in stale:
        path.write_bytes(b"half")
    (out / ".tmp-model-dead").mkdir()
    (out / ".tmp-model-dead" / "matrix.data.npy").write_bytes(b"x")
    precompute(model, out, shard_size=100, resume=True, progress=False)
    assert not temp_leftovers(tmp_path)


def test_old_runs_are_collected_but_the_previous_one_is_kept(model, tmp_path):
    out = tmp_path / "out"
    runs = [precompute(model, out, shard_size=100, progress=False).run_id for _ in range(3)]
    kept = sorted(p.name for p in out.iterdir() if p.name.startswith("run-"))
    assert kept == sorted(f"run-{r}" for r in runs[1:])


def test_a_failed_run_leaves_the_previous_output_published(model, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = precompute(model, out, k=2, shard_size=100, progress=False)
    before = list(iter_output(out))
    interrupt_after(monkeypatch, 1)
    with pytest.raises(Boom):
        precompute(model, out, k=3, shard_size=100, progress=False)
    assert read_manifest(out)["run_id"] == first.run_id
    assert list(iter_output(out)) == before
    assert not temp_leftovers(tmp_path)


def test_a_second_writer_is_refused(model, tmp_path):
    fcntl = pytest.importorskip("fcntl")
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".lock", "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(OutputError, match="another precompute"):
            precompute(model, out, progress=False)


# ----------------------------------------------------------------------------- SQLite


def test_sqlite_schema_indexes_and_run_table(model, saved, tmp_path):
    db = tmp_path / "related.sqlite"
    first = precompute(saved, db, format="sqlite", shard_size=100, progress=False)
    second = precompute(saved, db, format="sqlite", k=2, shard_size=100, progress=False)
    con = sqlite3.connect(db)
    try:
        columns = {
            table: [(c[1], c[2]) for c in con.execute(f"PRAGMA table_info({table})")]
            for table in ("related", "articles", "runs", "meta")
        }
        assert columns["related"] == [
            ("article_id", "TEXT"), ("rank", "INTEGER"), ("related_id", "TEXT"),
            ("score", "REAL"), ("title", "TEXT"), ("section", "TEXT"), ("snippet", "TEXT"),
            ("published", "TEXT"), ("url", "TEXT"), ("pinned", "INTEGER"),
        ]  # fmt: skip
        key = sorted((c[5], c[1]) for c in con.execute("PRAGMA table_info(related)") if c[5])
        assert key == [(1, "article_id"), (2, "rank")]
        plan = " ".join(
            row[-1]
            for row in con.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM related WHERE article_id = ? ORDER BY rank",
                ("a001",),
            )
        )
        assert "USING PRIMARY KEY (article_id=?)" in plan  # a range scan, not a table scan
        # Indexes: the clustered primary key leads with article_id (lookups), and one on
        # related_id answers "which boxes show this story?".
        leading = {
            index[1]: con.execute(f"PRAGMA index_info({index[1]})").fetchone()[2]
            for index in con.execute("PRAGMA index_list(related)")
        }
        assert sorted(leading.values()) == ["article_id", "related_id"]
        assert leading["related_by_related_id"] == "related_id"
        # Every article is listed, the empty ones with n_related = 0.
        n_related = dict(con.execute("SELECT article_id, n_related FROM articles"))
        want = dict(expected(model, k=2))
        assert n_related == {i: len(related) for i, related in want.items()}
        assert 0 in n_related.values()
        runs = con.execute(
            "SELECT run_id, model_sha256, params_json, n_articles, n_empty, seconds FROM runs "
            "ORDER BY rowid"
        ).fetchall()
        assert [r[0] for r in runs] == [first.run_id, second.run_id]  # history carried over
        manifest_sha = hashlib.sha256((current_version(saved) / "manifest.json").read_bytes())
        assert runs[-1][1] == manifest_sha.hexdigest()
        assert json.loads(runs[-1][2])["k"] == 2
        assert runs[-1][3:5] == (300, second.n_empty_lists) and runs[-1][5] > 0
        meta = dict(con.execute("SELECT key, value FROM meta"))
        assert (meta["id_type"], meta["k"], meta["run_id"]) == ("str", "2", second.run_id)
        assert con.execute("PRAGMA user_version").fetchone() == (1,)
        top = con.execute(
            "SELECT related_id, score, title FROM related WHERE article_id = ? ORDER BY rank",
            (model.ids_[1],),
        ).fetchall()
        assert top == [(r["id"], r["score"], r["title"]) for r in want[model.ids_[1]]]
    finally:
        con.close()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".related.sqlite.runs")]


def test_sqlite_resume_of_a_published_database_does_nothing(model, tmp_path):
    db = tmp_path / "related.sqlite"
    first = precompute(model, db, format="sqlite", shard_size=100, progress=False)
    stamp = db.stat().st_mtime_ns
    again = precompute(model, db, format="sqlite", shard_size=100, resume=True, progress=False)
    assert (again.run_id, again.skipped_shards, db.stat().st_mtime_ns) == (
        first.run_id, 3, stamp,
    )  # fmt: skip


def test_out_of_the_wrong_kind_is_refused(model, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidParameterError, match="is a file"):
        precompute(model, tmp_path / "file", progress=False)
    with pytest.raises(InvalidParameterError, match="is a directory"):
        precompute(model, tmp_path, format="sqlite", progress=False)


# ----------------------------------------------------------------------------- frames


def test_as_frame_is_tidy(model, tmp_path):
    pd = pytest.importorskip("pandas")
    frame = precompute(model, None, as_frame=True, shard_size=100, progress=False)
    assert list(frame.columns) == ["article_id", "rank", "related_id", "score"]
    want = [
        (i, rank, r["id"], r["score"])
        for i, related in expected(model)
        for rank, r in enumerate(related, start=1)
    ]
    assert list(frame.itertuples(index=False, name=None)) == want
    assert frame["rank"].min() == 1 and str(frame["rank"].dtype) == "int64"
    assert isinstance(frame.attrs["summary"], PrecomputeSummary)
    written = precompute(model, tmp_path / "out", format="csv", as_frame=True, progress=False)
    pd.testing.assert_frame_equal(written, frame)


# ----------------------------------------------------------------------------- progress


def test_quiet_prints_nothing(model, tmp_path, capsys):
    precompute(model, tmp_path / "out", shard_size=50, progress=False)
    assert capsys.readouterr() == ("", "")


def test_progress_without_a_terminal_prints_plain_lines(model, tmp_path, capsys, monkeypatch):
    import relatedness.batch.progress as pc

    monkeypatch.setattr(pc, "PLAIN_PROGRESS_EVERY", 0.0)
    precompute(model, tmp_path / "out", shard_size=100, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert lines[0].startswith("precompute: 100/300 articles (33%), ")
    assert "articles/s, ETA" in lines[0]
    assert lines[-1].startswith("precompute: 300 articles, ")
    assert " empty lists, 3 shards in " in lines[-1]


def test_progress_defaults_to_off_without_a_terminal(model, tmp_path, capsys):
    precompute(model, tmp_path / "out", shard_size=100)
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------------------- API


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shard_size": 0}, "'shard_size' parameter of precompute"),
        ({"n_jobs": 0}, "'n_jobs' parameter of precompute"),
        ({"backend": "spark"}, "'backend' parameter of precompute"),
        ({"scheduler": "tcp://x:8786"}, "only used with backend='dask'"),
        ({"k": 0}, "'k' parameter"),
    ],
)
def test_bad_parameters_are_refused(model, tmp_path, kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        precompute(model, tmp_path / "out", progress=False, **kwargs)
    assert not (tmp_path / "out").exists()


def test_out_is_required_without_as_frame(model):
    with pytest.raises(InvalidParameterError, match="'out' parameter"):
        precompute(model, None)


def test_unknown_format(model, tmp_path):
    with pytest.raises(ValueError, match="unknown output format 'xml'"):
        precompute(model, tmp_path / "out", format="xml")


def test_old_public_paths_are_shims_over_relatedness_batch():
    """relatedness.precompute and relatedness.writers export exactly their old names, unchanged.

    They are the paths kept for users; every name must be the very object of relatedness.batch.
    """
    import relatedness.batch as batch
    import relatedness.precompute as precompute_shim
    import relatedness.writers as writers_shim

    shims = [
        (
            precompute_shim,
            {
                "EXIT_INTERRUPTED",
                "OutputError",
                "PrecomputeInterrupted",
                "PrecomputeSummary",
                "iter_output",
                "model_fingerprint",
                "precompute",
                "read_manifest",
                "write_jsonl",
            },
        ),
        (
            writers_shim,
            {
                "TABULAR_COLUMNS",
                "CsvWriter",
                "DatabaseWriter",
                "JsonlWriter",
                "ParquetWriter",
                "Row",
                "RunRecord",
                "ShardWriter",
                "SqliteWriter",
                "file_mode",
                "get_writer",
                "register_writer",
            },
        ),
    ]
    for shim, names in shims:
        assert sorted(shim.__all__) == sorted(names)
        public = {n for n in vars(shim) if not n.startswith("_")} - {"annotations"}
        assert public == names, shim.__name__
        for name in names:
            assert name in batch.__all__
            assert getattr(shim, name) is getattr(batch, name), f"{shim.__name__}.{name}"


def test_writers_are_pluggable(model, tmp_path):
    """A third-party shard writer only implements the protocol (here: id<TAB>related ids)."""

    class TsvWriter:
        name = "tsv-ids"
        suffix = ".tsv"

        def write(self, handle, batches, *, id_type):
            n = 0
            for batch in batches:
                for article_id, related in batch:
                    ids = ",".join(str(r["id"]) for r in related)
                    handle.write(f"{article_id}\t{ids}\n".encode())
                    n += 1
            return n

        def read(self, path, *, id_type):
            for line in Path(path).read_text().splitlines():
                article_id, ids = line.split("\t")
                yield article_id, [{"id": i} for i in ids.split(",") if i]

    writer = TsvWriter()
    assert isinstance(writer, ShardWriter)
    register_writer(writer)
    try:
        precompute(model, tmp_path / "out", format="tsv-ids", shard_size=100, progress=False)
        got = [(i, [r["id"] for r in rel]) for i, rel in iter_output(tmp_path / "out")]
        assert got == [(i, [r["id"] for r in rel]) for i, rel in expected(model)]
    finally:
        with contextlib.suppress(KeyError):
            from relatedness.batch import writers

            del writers._WRITERS["tsv-ids"]
    with pytest.raises(TypeError, match="neither a ShardWriter"):
        register_writer(object())  # type: ignore[arg-type]
    assert isinstance(get_writer("sqlite"), SqliteWriter)
    assert isinstance(get_writer("jsonl"), JsonlWriter)


def test_write_jsonl_still_writes_one_file(fitted, tmp_path):
    path = tmp_path / "deep" / "related.jsonl"
    summary = write_jsonl(fitted, path, k=2)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(line["id"], line["related"]) for line in lines] == expected(fitted, k=2)
    assert (summary.path, summary.n_articles) == (path, len(fitted.ids_))
    assert summary.n_empty_lists == sum(1 for line in lines if not line["related"])
    assert not temp_leftovers(tmp_path)
    assert os.listdir(path.parent) == ["related.jsonl"]
    assert MANIFEST not in os.listdir(path.parent)


@pytest.mark.parametrize("fmt", ["jsonl", "sqlite"])
def test_published_files_are_readable_by_the_site(model, tmp_path, fmt):
    """Temp files are created 0o600; what is published gets the umask's mode, like open()."""
    umask = os.umask(0o022)
    os.umask(umask)
    out = target(tmp_path, fmt)
    precompute(model, out, format=fmt, shard_size=100, progress=False)
    files = [out] if fmt == "sqlite" else [p for p in out.rglob("*") if p.is_file()]
    files = [p for p in files if p.name != ".lock"]
    assert files
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {oct(0o666 & ~umask)}
