"""Regression tests for issue 17, "Found broken" item 8: raw errors instead of the library's.

Each test is named after the reproduction it pins. Every bad input must raise a documented,
builtin-derived error that names the article id and the field (or the line), and the command
line must exit 2 with that message, never 1 "unexpected ...".
"""

from __future__ import annotations

import io
import json
import warnings

import pytest

from relatedness import RelatedArticles
from relatedness.articles import parse_json, read_jsonl
from relatedness.cli import EXIT_BAD_INPUT, EXIT_BAD_MODEL, EXIT_OK, main
from relatedness.exceptions import (
    InvalidArticleError,
    InvalidParameterError,
    ModelFormatError,
    UnknownArticleError,
)
from relatedness.store import current_version

from .conftest import news_rows

EDGE_DATES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def int_rows() -> list[dict]:
    return [{**row, "id": n} for n, row in enumerate(news_rows(), start=1)]


@pytest.fixture(scope="module")
def fitted() -> RelatedArticles:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RelatedArticles(k=3, min_df=1).fit(news_rows())


@pytest.fixture(scope="module")
def int_model() -> RelatedArticles:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RelatedArticles(k=3, min_df=1).fit(int_rows())


# ------------------------------------------------------------------ aware edge dates


@pytest.mark.parametrize("published", EDGE_DATES)
def test_aware_edge_date_at_fit_is_an_error_naming_the_id_and_field(published):
    rows = [*news_rows(), {"id": "edge", "title": "budget", "body": "vote", "published": published}]
    with pytest.raises(InvalidArticleError, match=r"id 'edge': field 'published' .*years 1-9999"):
        RelatedArticles(min_df=1).fit(rows)


@pytest.mark.parametrize("published", EDGE_DATES)
def test_aware_edge_date_with_skip_leaves_the_row_out(published):
    rows = [*news_rows(), {"id": "edge", "title": "budget", "body": "vote", "published": published}]
    with pytest.warns(UserWarning, match="skipped 1 invalid articles.*'edge'"):
        model = RelatedArticles(min_df=1, on_invalid="skip").fit(rows)
    assert "edge" not in model.ids_
    assert [r.id for r in model.rejects_] == ["edge"]


@pytest.mark.parametrize("published", EDGE_DATES)
def test_aware_edge_date_in_related_to_is_an_error_naming_the_field(fitted, published):
    with pytest.raises(InvalidArticleError, match=r"field 'published' .*years 1-9999"):
        fitted.related_to({"title": "budget vote", "published": published})


@pytest.mark.parametrize("published", EDGE_DATES)
def test_aware_edge_date_at_the_cli_exits_2_naming_the_line(tmp_path, published):
    path = tmp_path / "a.jsonl"
    rows = [*news_rows(), {"id": "edge", "title": "budget", "body": "vote", "published": published}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    code, _, err = run("fit", str(path), "--model", str(tmp_path / "m"), "--min-df", "1")
    assert code == EXIT_BAD_INPUT
    assert f"line {len(rows)}: id 'edge': field 'published'" in err


# ------------------------------------------------------------------ deep JSON nesting


def test_deeply_nested_json_line_is_an_invalid_line_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.jsonl"
    deep = '{"id": "deep", "title": ' + "[" * 200_000 + "]" * 200_000 + "}"
    path.write_text(json.dumps(news_rows()[0]) + "\n" + deep + "\n", encoding="utf-8")
    with pytest.raises(InvalidArticleError, match=r"line 2: JSON nested 200001 levels deep"):
        read_jsonl(path)
    with pytest.warns(UserWarning, match="line 2: JSON nested"):
        assert [r["id"] for r in read_jsonl(path, on_invalid="skip")] == ["p1"]
    code, _, err = run("fit", str(path), "--model", str(tmp_path / "m"))
    assert code == EXIT_BAD_INPUT and "line 2: JSON nested" in err


def test_brackets_inside_json_strings_do_not_count_as_nesting():
    text = json.dumps({"id": "b", "body": "[[[[" * 1000 + '\\"{{{'})
    assert parse_json(text)["id"] == "b"


def test_deeply_nested_manifest_is_a_model_format_error(tmp_path, fitted):
    fitted.save(tmp_path / "m")
    manifest = current_version(tmp_path / "m") / "manifest.json"
    manifest.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    with pytest.raises(ModelFormatError, match=r"manifest.json: JSON parse check failed .*nested"):
        RelatedArticles.load(tmp_path / "m")
    code, _, err = run("related", "p1", "--model", str(tmp_path / "m"))
    assert code == EXIT_BAD_MODEL and "nested" in err


# ------------------------------------------------------------------ huge numbers


def test_five_thousand_digit_int_id_is_an_error_naming_the_field():
    rows = [*int_rows(), {"id": 10**5000, "title": "budget", "body": "vote"}]
    with pytest.raises(InvalidArticleError, match=r"an int of about 5001 digits.*64-bit"):
        RelatedArticles(min_df=1).fit(rows)


def test_five_thousand_digit_int_id_in_a_json_line_names_the_line(tmp_path):
    path = tmp_path / "big.jsonl"
    rows = "".join(json.dumps(r) + "\n" for r in int_rows())
    path.write_text(rows + '{"id": ' + "9" * 5000 + ', "title": "x"}\n', encoding="utf-8")
    with pytest.raises(InvalidArticleError, match=r"line \d+: a number of more than 4,300 digits"):
        read_jsonl(path)
    code, _, err = run("fit", str(path), "--model", str(tmp_path / "m"))
    assert code == EXIT_BAD_INPUT and "4,300 digits" in err


def test_int_id_beyond_64_bits_is_refused():
    rows = [*int_rows(), {"id": 2**63, "title": "budget", "body": "vote"}]
    with pytest.raises(InvalidArticleError, match="outside the signed 64-bit range"):
        RelatedArticles(min_df=1).fit(rows)


def test_k_of_ten_to_the_thirty_returns_the_whole_section(fitted):
    full = fitted.related("p1", k=len(fitted.ids_))
    assert fitted.related("p1", k=10**30) == full
    assert RelatedArticles(k=10**30, min_df=1).fit(news_rows()).related("p1") == full


def test_k_of_twenty_three_digits_at_the_cli_is_not_unexpected(tmp_path):
    corpus = tmp_path / "a.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in news_rows()), encoding="utf-8")
    code, _, err = run("fit", str(corpus), "--model", str(tmp_path / "m"), "--min-df", "1")
    assert code == EXIT_OK, err
    huge = "99999999999999999999999"
    code, out, err = run("related", "p1", "--model", str(tmp_path / "m"), "--k", huge)
    assert code == EXIT_OK, err
    code, _, err = run("precompute", "--model", str(tmp_path / "m"),
                       "--out", str(tmp_path / "o.jsonl"), "--k", huge, "--quiet")  # fmt: skip
    assert code == EXIT_OK, err


# ------------------------------------------------------------------ related_to arguments


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("section", ["politics"], r"field 'section' is a list"),
        ("section", 5, r"field 'section' is a int"),
        ("tags", 5, r"field 'tags' is a int"),
        ("tags", [["x"]], r"field 'tags' is a list"),
        ("id", ["p1"], r"field 'id' is a list"),
    ],
)
def test_related_to_with_a_bad_field_is_an_error_naming_the_field(fitted, field, value, match):
    with pytest.raises(InvalidArticleError, match=match):
        fitted.related_to({"title": "budget vote", field: value})


@pytest.mark.parametrize(
    ("exclude", "match"),
    [(1.5, "Got a float"), ([["x"]], r"holding \['x'\]"), ([True], "holding True"),
     (b"p1", "Got a bytes")],
)  # fmt: skip
def test_related_to_with_a_bad_exclude_is_an_error_naming_the_parameter(fitted, exclude, match):
    with pytest.raises(InvalidParameterError, match=rf"'exclude' parameter.*{match}"):
        fitted.related_to({"title": "budget vote"}, exclude=exclude)
    with pytest.raises(InvalidParameterError, match="'exclude' parameter"):
        fitted.related("p1", exclude=exclude)


def test_related_to_exclude_still_takes_one_id_or_a_list(fitted):
    query = {"title": fitted.titles_[0], "body": "budget"}
    first = fitted.related_to(query)[0].id
    assert first not in [r.id for r in fitted.related_to(query, exclude=first)]
    assert first not in [r.id for r in fitted.related_to(query, exclude=(first,))]


# ------------------------------------------------------------------ iter_related, bool ids


@pytest.mark.parametrize("batch_size", [0, -1, True, 2.5])
def test_iter_related_with_a_batch_size_below_one_is_an_error(fitted, batch_size):
    with pytest.raises(InvalidParameterError, match="'batch_size' parameter of iter_related"):
        list(fitted.iter_related(batch_size=batch_size))


def test_related_true_on_an_int_id_model_is_not_id_one(int_model):
    assert int_model.related(1) is not None  # id 1 exists
    with pytest.raises(UnknownArticleError, match="True is a bool, not an article id"):
        int_model.related(True)
    with pytest.raises(UnknownArticleError, match="bool"):
        int_model.related_many([False])
