"""Signing at the command line and a ``require_signature`` load (issue 17, "What to build").

SHA-256 in the manifest detects corruption; only the HMAC (``manifest.sig``) detects
tampering, so a model from a place others can write to is loaded with a key and
``require_signature``.
"""

from __future__ import annotations

import io
import json
import warnings

import pytest

from relatedness import RelatedArticles
from relatedness.cli import EXIT_BAD_INPUT, EXIT_BAD_MODEL, EXIT_OK, main
from relatedness.exceptions import InvalidParameterError, ModelFormatError
from relatedness.store import KEY_ENV, SIGNATURE, current_version, load_model, resolve_key

from .conftest import news_rows


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in news_rows()), encoding="utf-8")
    return path


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "key"
    path.write_text("newsroom secret\n", encoding="utf-8")
    return path


def test_require_signature_refuses_an_unsigned_model(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        RelatedArticles(min_df=1).fit(news_rows()).save(tmp_path / "m")
    with pytest.raises(ModelFormatError, match="signature required, but no key was given"):
        load_model(tmp_path / "m", require_signature=True)
    with pytest.raises(ModelFormatError, match=r"manifest.sig: missing, but a key was given"):
        RelatedArticles.load(tmp_path / "m", key=b"k", require_signature=True)


def test_require_signature_loads_a_model_signed_with_the_key(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RelatedArticles(min_df=1).fit(news_rows())
    model.save(tmp_path / "m", key=b"k")
    loaded = RelatedArticles.load(tmp_path / "m", key=b"k", require_signature=True)
    assert loaded.related("p1") == model.related("p1")
    with pytest.raises(ModelFormatError, match="signature check failed"):
        RelatedArticles.load(tmp_path / "m", key=b"other", require_signature=True)


def test_key_file_signs_at_fit_and_verifies_at_related(tmp_path, corpus, key_file):
    model = tmp_path / "m"
    code, _, err = run("fit", str(corpus), "--model", str(model), "--min-df", "1",
                       "--key-file", str(key_file))  # fmt: skip
    assert code == EXIT_OK, err
    assert (current_version(model) / SIGNATURE).is_file()
    code, out, err = run("related", "p1", "--model", str(model), "--key-file", str(key_file),
                         "--require-signature")  # fmt: skip
    assert code == EXIT_OK, err
    wrong = tmp_path / "wrong"
    wrong.write_text("another secret", encoding="utf-8")
    code, _, err = run("related", "p1", "--model", str(model), "--key-file", str(wrong))
    assert code == EXIT_BAD_MODEL and "signature check failed" in err


def test_require_signature_at_the_cli_refuses_an_unsigned_model(tmp_path, corpus, key_file):
    model = tmp_path / "m"
    assert run("fit", str(corpus), "--model", str(model), "--min-df", "1")[0] == EXIT_OK
    code, _, err = run("related", "p1", "--model", str(model), "--require-signature")
    assert code == EXIT_BAD_MODEL and "signature required" in err
    code, _, err = run("precompute", "--model", str(model), "--out", str(tmp_path / "o.jsonl"),
                       "--key-file", str(key_file), "--require-signature")  # fmt: skip
    assert code == EXIT_BAD_MODEL and "manifest.sig: missing" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_key_from_the_environment_signs_and_verifies(tmp_path, corpus, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "from the environment")
    model = tmp_path / "m"
    assert run("fit", str(corpus), "--model", str(model), "--min-df", "1")[0] == EXIT_OK
    assert (current_version(model) / SIGNATURE).is_file()
    code, _, err = run("related", "p1", "--model", str(model), "--require-signature")
    assert code == EXIT_OK, err
    monkeypatch.setenv(KEY_ENV, "changed")
    code, _, err = run("related", "p1", "--model", str(model))
    assert code == EXIT_BAD_MODEL and "signature check failed" in err


def test_update_keeps_the_signature(tmp_path, corpus, key_file):
    model = tmp_path / "m"
    run("fit", str(corpus), "--model", str(model), "--min-df", "1", "--key-file", str(key_file))
    remove = tmp_path / "remove.txt"
    remove.write_text("p1\n", encoding="utf-8")
    code, _, err = run("update", "--model", str(model), "--remove", str(remove),
                       "--out", str(tmp_path / "diff.jsonl"), "--key-file", str(key_file),
                       "--require-signature")  # fmt: skip
    assert code == EXIT_OK, err
    assert RelatedArticles.load(model, key=key_file.read_bytes()[:-1], require_signature=True)


def test_empty_or_missing_key_file_is_an_error(tmp_path, corpus):
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(InvalidParameterError, match="is empty"):
        resolve_key(empty)
    code, _, err = run("fit", str(corpus), "--model", str(tmp_path / "m"),
                       "--key-file", str(tmp_path / "absent"))  # fmt: skip
    assert code == EXIT_BAD_INPUT and "cannot be read" in err
    assert not (tmp_path / "m").exists()
    assert resolve_key(None, environ={}) is None
