"""The command line, in-process through ``main(argv)`` and once as a real subprocess."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from relatedness.cli import EXIT_BAD_INPUT, EXIT_BAD_MODEL, EXIT_OK, main
from relatedness.store import current_version, read_manifest

from .conftest import news_rows


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "articles.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for row in news_rows():
            handle.write(json.dumps(row) + "\n")
    return path


@pytest.fixture
def model_dir(tmp_path, corpus) -> Path:
    model = tmp_path / "model"
    code, out, err = run("fit", str(corpus), "--model", str(model), "--min-df", "1")
    assert code == EXIT_OK, err
    return model


def test_fit_reports_counts_and_warnings(tmp_path, corpus):
    code, out, err = run("fit", str(corpus), "--model", str(tmp_path / "m"), "--min-df", "1")
    assert code == EXIT_OK
    assert f"fitted {len(news_rows())} articles (3 without indexable text" in out
    assert "relatedness: warning: 3 articles had no indexable text" in err
    assert read_manifest(tmp_path / "m")["counts"]["n_articles"] == len(news_rows())


def test_related_text_and_json(model_dir):
    code, out, _ = run("related", "b1", "--model", str(model_dir))
    assert code == EXIT_OK
    assert out.startswith("Related to b1: Bank holds interest rates")
    assert "Rates on hold as inflation eases  [business]  2024-02-11" in out

    code, out, _ = run("related", "b1", "--model", str(model_dir), "--format", "json", "--k", "1")
    payload = json.loads(out)
    assert payload["id"] == "b1"
    assert [r["id"] for r in payload["related"]] == ["b2"]


def test_related_int_ids_from_the_command_line(tmp_path):
    path = tmp_path / "int.jsonl"
    path.write_text("\n".join(json.dumps({"id": i, "body": "storm snow roads"}) for i in range(3)))
    assert run("fit", str(path), "--model", str(tmp_path / "m"))[0] == EXIT_OK
    code, out, _ = run("related", "1", "--model", str(tmp_path / "m"), "--format", "json")
    assert code == EXIT_OK
    assert json.loads(out)["id"] == 1


def test_precompute_writes_one_line_per_article(model_dir, tmp_path):
    out_file = tmp_path / "out" / "related.jsonl"
    code, out, _ = run("precompute", "--model", str(model_dir), "--out", str(out_file), "--k", "2")
    assert code == EXIT_OK
    lines = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == [r["id"] for r in news_rows()]
    assert all(len(line["related"]) <= 2 for line in lines)
    assert next(line for line in lines if line["id"] == "e1")["related"] == []
    assert f"wrote {len(lines)} lists" in out
    assert not [p for p in out_file.parent.iterdir() if p.name.startswith(".tmp-")]


def test_unknown_id_exits_2_with_one_line(model_dir):
    code, out, err = run("related", "nope", "--model", str(model_dir))
    assert code == EXIT_BAD_INPUT
    assert err.strip().splitlines() == [
        "relatedness: error: article id 'nope' is not in the model."
    ]
    assert "Traceback" not in err


def test_bad_input_file_exits_2(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "body": null}\n{"id": "b", "body": "ok"}\n', encoding="utf-8")
    code, _, err = run("fit", str(path), "--model", str(tmp_path / "m"))
    assert code == EXIT_BAD_INPUT
    assert "id 'a': field 'body' is missing" in err
    code, _, err = run("fit", str(tmp_path / "missing.jsonl"), "--model", str(tmp_path / "m"))
    assert code == EXIT_BAD_INPUT
    assert "No such file or directory" in err
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")  # streamed: nothing to read
    code, _, err = run("fit", str(tmp_path / "empty.jsonl"), "--model", str(tmp_path / "m"))
    assert code == EXIT_BAD_INPUT
    assert "empty corpus" in err


def test_skip_invalid_proceeds(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "body": null}\nnot json\n{"id": "b", "body": "storm"}\n'
                    '{"id": "c", "body": "storm snow"}\n', encoding="utf-8")
    code, out, err = run("fit", str(path), "--model", str(tmp_path / "m"), "--skip-invalid")
    assert code == EXIT_OK, err
    assert "fitted 2 articles" in out
    assert "skipped 1 invalid lines" in err and "skipped 1 invalid articles" in err


def test_corrupt_model_exits_3(model_dir):
    (current_version(model_dir) / "idf.npy").write_bytes(b"garbage")
    code, _, err = run("related", "b1", "--model", str(model_dir))
    assert code == EXIT_BAD_MODEL
    assert "invalid model:" in err and "idf.npy" in err


def test_usage_error_exits_2(capsys):
    assert main(["related"]) == 2
    assert "usage:" in capsys.readouterr().err
    assert main(["fit", "x.jsonl", "--k", "0"]) == EXIT_BAD_INPUT


def test_demo_in_process():
    code, out, _ = run("demo", "--articles", "2", "--k", "3")
    assert code == EXIT_OK
    assert out.startswith("Fitted 293 Wikinews articles")
    assert out.count("Related to:") == 2


def test_console_script_as_a_real_subprocess(model_dir):
    """The installed entry point runs in a fresh interpreter, with real exit codes."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    ok = subprocess.run(
        [sys.executable, "-m", "relatedness.cli", "related", "b1", "--model", str(model_dir)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert ok.returncode == EXIT_OK, ok.stderr
    assert "Related to b1" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "relatedness.cli", "related", "zzz", "--model", str(model_dir)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert bad.returncode == EXIT_BAD_INPUT
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_import_is_light():
    """``import relatedness`` must not import scikit-learn, scipy or nltk."""
    code = (
        "import sys, relatedness; "
        "heavy = [m for m in ('sklearn', 'scipy', 'nltk', 'pandas') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == ""


def test_max_df_written_as_a_share_stays_a_share(tmp_path, corpus):
    """Regression: ``--max-df 1.0`` was parsed to the int 1 ("in at most one article")."""
    code, out, _ = run("fit", str(corpus), "--model", str(tmp_path / "m"), "--min-df", "1",
                       "--max-df", "1.0")
    assert code == EXIT_OK
    manifest = read_manifest(tmp_path / "m")
    assert manifest["params"]["max_df"] == 1.0 and isinstance(manifest["params"]["max_df"], float)
    assert manifest["params"]["min_df"] == 1 and isinstance(manifest["params"]["min_df"], int)


def test_evaluate_command_table_and_json(corpus):
    code, out, _ = run("evaluate", str(corpus), "--k", "3", "--baselines")
    assert code == EXIT_OK
    assert "P@3" in out and "sklearn TfidfVectorizer" in out
    code, out, _ = run("evaluate", str(corpus), "--k", "3", "--format", "json")
    payload = json.loads(out)
    assert 0.0 <= payload["relatedness"]["precision_at_k"] <= 1.0
    assert payload["relatedness"]["k"] == 3


def test_precompute_formats_and_resume_flags(model_dir, tmp_path):
    """Issue 5: sharded output through the CLI, then --resume keeps every verified shard."""
    from relatedness.precompute import iter_output

    out_dir = tmp_path / "lists"
    args = ("precompute", "--model", str(model_dir), "--out", str(out_dir), "--format", "csv",
            "--shard-size", "4", "--quiet")
    code, out, _ = run(*args)
    assert code == EXIT_OK
    got = dict(iter_output(out_dir))
    assert list(got) == [r["id"] for r in news_rows()]
    code, out, _ = run(*args, "--resume")
    assert code == EXIT_OK
    sqlite = tmp_path / "related.sqlite"
    assert run("precompute", "--model", str(model_dir), "--out", str(sqlite), "--quiet")[0] == 0
    assert dict(iter_output(sqlite)).keys() == got.keys()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_precompute_with_forked_workers_writes_what_one_process_writes(model_dir, tmp_path):
    from relatedness.precompute import iter_output

    outputs = {}
    for name, flags in (("one", ()), ("forked", ("--jobs", "2", "--backend", "fork"))):
        out = tmp_path / name
        code, _, err = run(
            "precompute", "--model", str(model_dir), "--out", str(out), "--shard-size", "5",
            "--quiet", *flags,
        )  # fmt: skip
        assert code == EXIT_OK, err
        outputs[name] = list(iter_output(out))
    assert outputs["forked"] == outputs["one"]
    assert len(outputs["one"]) == len(news_rows())


def test_update_rewrites_only_changed_lists_and_applies_them(tmp_path, corpus):
    """Issue 5: add/remove then update == a full recompute with the same vocabulary."""
    from relatedness import RelatedArticles
    from relatedness.precompute import iter_output

    model = tmp_path / "model"
    assert run("fit", str(corpus), "--model", str(model), "--min-df", "1")[0] == EXIT_OK
    database = tmp_path / "related.sqlite"
    assert run("precompute", "--model", str(model), "--out", str(database), "--quiet")[0] == 0
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps({"id": "n1", "section": "business", "title": "Bank rates",
                               "body": "The central bank cut interest rates again."}) + "\n",
                   encoding="utf-8")
    gone = tmp_path / "gone.txt"
    gone.write_text("b2\n", encoding="utf-8")
    diff = tmp_path / "diff.jsonl"
    code, out, err = run("update", "--model", str(model), "--add", str(new), "--remove",
                         str(gone), "--out", str(diff), "--apply", str(database))
    assert code == EXIT_OK, err
    assert "removed 1; added 1" in out
    changed = [json.loads(line)["id"] for line in diff.read_text().splitlines()]
    assert "n1" in changed and "b1" in changed and len(changed) < len(news_rows())

    updated = RelatedArticles.load(model)
    full = {i: [r.to_dict() for r in lst] for i, lst in
            updated.related_many([i for i in updated.ids_ if i != "b2"]).items()}
    applied = dict(iter_output(database, verify=False))
    assert "b2" not in applied
    assert {i: [(r["id"], r["score"]) for r in lst] for i, lst in applied.items()} == {
        i: [(r["id"], r["score"]) for r in lst] for i, lst in full.items()
    }


def test_skip_invalid_writes_a_rejects_file(tmp_path):
    """Issue 5 item 8: --skip-invalid proceeds and lists what it left out, with line numbers."""
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        b'{"id": "a", "body": null}\n'
        b"not json\n"
        b'{"id": "b", "body": "storm snow"}\n'
        b'{"id": "c\xff", "body": "x"}\n'
        b'{"id": "d", "body": "storm roads"}\n'
    )
    model = tmp_path / "m"
    code, _, err = run("fit", str(path), "--model", str(model), "--skip-invalid")
    assert code == EXIT_OK, err
    rejects = [json.loads(line) for line in (model / "rejects.jsonl").read_text().splitlines()]
    assert any(r["stage"] == "read" and "line 2" in r["reason"] for r in rejects)
    assert any(r["stage"] == "read" and "line 4" in r["reason"] for r in rejects)
    assert {"stage": "validate", "line": 1, "id": "a", "reason": "body: missing (None/NaN)"} in (
        rejects
    )


def test_fit_streams_a_jsonl_file_into_the_model(tmp_path, corpus, monkeypatch):
    """A JSON Lines archive goes to the fit line by line (iter_jsonl), never as a whole list
    of dicts next to the fit's own articles: ~1 GiB at 1M articles."""
    import relatedness.articles as articles_module

    def whole_file(*args, **kwargs):
        msg = "the CLI read the whole JSON Lines file into a list"
        raise AssertionError(msg)

    monkeypatch.setattr(articles_module, "load_articles", whole_file)
    monkeypatch.setattr(articles_module, "read_jsonl", whole_file)
    model = tmp_path / "streamed"
    code, out, err = run("fit", str(corpus), "--model", str(model))
    assert code == EXIT_OK, err
    assert f"fitted {len(news_rows())} articles" in out


def test_skip_invalid_csv_rows_are_listed_one_per_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "id,body\na,storm snow roads\nb,storm,extra\nc,snow roads closed\n", encoding="utf-8"
    )
    model = tmp_path / "m"
    code, _, err = run("fit", str(path), "--model", str(model), "--skip-invalid")
    assert code == EXIT_OK, err
    rejects = [json.loads(line) for line in (model / "rejects.jsonl").read_text().splitlines()]
    assert rejects == [{"stage": "read", "reason": "line 3: more cells than header columns"}]


def test_duplicate_ids_name_their_lines(tmp_path):
    path = tmp_path / "dup.jsonl"
    path.write_text("\n".join(json.dumps({"id": i, "body": "storm"}) for i in "abca"),
                    encoding="utf-8")
    code, _, err = run("fit", str(path), "--model", str(tmp_path / "m"))
    assert code == EXIT_BAD_INPUT
    assert "'a' on lines 1, 4" in err
    assert not (tmp_path / "m").exists()  # nothing written before the input is valid


def test_policy_file_sets_structured_policies(tmp_path, corpus):
    """Issue 4: pins, blocked pairs and section overrides from a JSON file; flags win."""
    policies = tmp_path / "policies.json"
    policies.write_text(json.dumps({
        "pinned": {"b1": ["s1"]},
        "blocked_pairs": [["p1", "p3"]],
        "section_overrides": {"politics": {"recency_half_life": 7}},
        "diversity": 0.3,
    }), encoding="utf-8")
    model = tmp_path / "m"
    code, _, err = run("fit", str(corpus), "--model", str(model), "--min-df", "1",
                       "--policy-file", str(policies), "--diversity", "0.5")
    assert code == EXIT_OK, err
    params = read_manifest(model)["params"]
    assert params["pinned"] == [["b1", ["s1"]]]
    assert params["blocked_pairs"] == [["p1", "p3"]]
    assert params["section_overrides"] == {"politics": {"recency_half_life": 7}}
    assert params["diversity"] == 0.5  # the flag typed on the command line wins
    code, out, _ = run("related", "b1", "--model", str(model), "--format", "json")
    assert json.loads(out)["related"][0]["id"] == "s1"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"colour": "red"}), encoding="utf-8")
    code, _, err = run("fit", str(corpus), "--model", str(model), "--policy-file", str(bad))
    assert code == EXIT_BAD_INPUT
    assert "unknown keys: ['colour']" in err
