"""One test per row of ../shared/BAD_INPUTS.md that the foundation covers (rows 1-6, 11-14, 18).

Each documented error is asserted with ``match=`` on its message: the message is the API.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings

import numpy as np
import pytest

from relatedness import (
    Article,
    DuplicateIdError,
    EmptyCorpusError,
    InvalidArticleError,
    InvalidParameterError,
    RelatedArticles,
    UnknownArticleError,
)
from relatedness.articles import (
    Rejected,
    check_articles,
    iter_jsonl,
    load_articles,
    read_csv,
    read_jsonl,
)

from .conftest import CLASSIC, news_rows


def fit(rows, **params) -> RelatedArticles:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RelatedArticles(**{**CLASSIC, "min_df": 1, **params}).fit(rows)


# ---------------------------------------------------------------- rows 1 and 2: empty text


EMPTY_BODIES = ["", " ", "\n\t", "\u00a0", "\u3000", "\u200b", "\ufeff", "<p></p>", "the of and"]


@pytest.mark.parametrize("body", EMPTY_BODIES)
def test_row1_row2_empty_article_gets_empty_list_and_is_in_no_list(body):
    rows = news_rows()
    rows.append({"id": "blank", "title": "", "body": body, "section": "politics"})
    with pytest.warns(UserWarning, match=r"no indexable text after cleaning \(e\.g\. ids") as rec:
        model = RelatedArticles(min_df=1).fit(rows)
    assert sum("no indexable text" in str(w.message) for w in rec) == 1
    assert model.related("blank") == []
    for other in model.ids_:
        assert "blank" not in [r.id for r in model.related(other, k=50)]


def test_row1_all_empty_corpus_fails_at_fit():
    rows = [{"id": i, "title": "", "body": b} for i, b in enumerate(EMPTY_BODIES)]
    with pytest.raises(EmptyCorpusError, match="no indexable text"):
        RelatedArticles().fit(rows)


def test_row1_no_articles_fails_at_fit():
    with pytest.raises(EmptyCorpusError, match="empty corpus"):
        RelatedArticles().fit([])


# ---------------------------------------------------------------- rows 3 and 4: wrong types


def _nan_flavours():
    flavours = [None, float("nan"), np.float64("nan"), np.float32("nan")]
    try:
        import pandas as pd

        flavours.append(pd.NA)
        flavours.append(pd.Series([1.0, None])[1])  # what a pandas float column yields
    except ImportError:  # pandas is an optional extra
        pass
    return flavours


@pytest.mark.parametrize("value", _nan_flavours(), ids=repr)
@pytest.mark.parametrize("field", ["title", "body"])
def test_row3_none_or_nan_text_raises_naming_id_and_field(field, value):
    rows = news_rows()
    rows[2][field] = value
    with pytest.raises(InvalidArticleError, match=rf"id 'p3': field '{field}' is missing"):
        RelatedArticles().fit(rows)


def test_row3_skip_mode_drops_invalid_rows_with_a_warning():
    rows = news_rows()
    rows[0]["body"] = None
    rows[1]["title"] = float("nan")
    with pytest.warns(UserWarning, match="skipped 2 invalid articles|no indexable") as caught:
        model = RelatedArticles(min_df=1, on_invalid="skip").fit(rows)
    assert any("skipped 2 invalid articles" in str(w.message) for w in caught)
    assert "p1" not in model.ids_ and "p2" not in model.ids_
    assert [r.id for r in model.rejects_] == ["p1", "p2"]
    assert all(isinstance(r, Rejected) for r in model.rejects_)


def test_row3_nan_from_a_pandas_column():
    """The sklearn comment's case: NaN text read by pandas from a CSV with an empty cell."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(news_rows())
    frame.loc[3, "body"] = np.nan
    with pytest.raises(InvalidArticleError, match="id 'p4': field 'body' is missing"):
        RelatedArticles().fit(frame)


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        (42, "int"),
        (b"bytes body", r"decode bytes first, e\.g\. b\.decode"),
        ({"a": 1}, "dict"),
        (["a", "b"], "list"),
    ],
)
def test_row4_non_string_text_raises_with_type_and_hint(value, hint):
    rows = news_rows()
    rows[0]["body"] = value
    with pytest.raises(InvalidArticleError, match=hint):
        RelatedArticles().fit(rows)


def test_row4_invalid_article_error_is_a_type_error():
    rows = news_rows()
    rows[0]["body"] = 3.5
    with pytest.raises(TypeError):
        RelatedArticles().fit(rows)


# ---------------------------------------------------------------- row 5: duplicate ids


def test_row5_duplicate_ids_raise_with_examples():
    rows = news_rows() + [dict(news_rows()[0])]
    with pytest.raises(DuplicateIdError, match=r"1 duplicate article ids, e\.g\. \['p1'\]"):
        RelatedArticles().fit(rows)


def test_row5_keep_last_keeps_the_newest_copy():
    rows = news_rows()
    newer = dict(rows[0], body="The storm closed roads and snow fell.", published="2025-01-01")
    older = dict(rows[0], body="Old text about cup finals.", published="2020-01-01")
    with pytest.warns(UserWarning, match="kept the newest|no indexable") as caught:
        model = RelatedArticles(min_df=1, on_duplicate="keep_last").fit(
            [*rows[1:], newer, rows[0] | {"published": "2021-01-01"}, older]
        )
    assert any("kept the newest copy of 1 duplicate ids" in str(w.message) for w in caught)
    assert model.ids_.count("p1") == 1
    assert model.published_[model.ids_.index("p1")] == dt.date(2025, 1, 1)


# ---------------------------------------------------------------- row 6: id types


@pytest.mark.parametrize(
    ("ids", "match"),
    [
        ([1, "1"], r"ids mix int and str \(e\.g\. 1 and '1'\)"),
        ([1, True], "field 'id' is a bool"),
        ([1, 2.0], "field 'id' is a float"),
        ([1, float("nan")], r"field 'id' is missing \(None/NaN\)"),
        (["a", ""], "field 'id' is an empty string"),
        (["a", None], "field 'id' is missing"),
    ],
)
def test_row6_mixed_or_invalid_id_types_raise(ids, match):
    rows = [{"id": i, "body": f"story number {n} about storms"} for n, i in enumerate(ids)]
    with pytest.raises(InvalidArticleError, match=match):
        RelatedArticles().fit(rows)


def test_row6_numpy_int_ids_become_python_ints():
    rows = [{"id": np.int64(i), "body": "storm snow roads"} for i in range(3)]
    model = fit(rows)
    assert all(type(i) is int for i in model.ids_)


# ---------------------------------------------------------------- rows 11 and 12: tiny corpora


@pytest.mark.parametrize("n", [1, 2, 3])
def test_row11_tiny_corpora_fit_with_default_params(n):
    rows = [{"id": f"a{i}", "title": "Storm", "body": f"storm snow roads day {i}"}
            for i in range(n)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = RelatedArticles().fit(rows)
    for article_id in model.ids_:
        assert len(model.related(article_id)) <= n - 1
    if n == 1:
        assert model.related("a0") == []
        assert any("using min_df=1 and max_df=1.0" in str(w.message) for w in caught)
        assert model.vectorizer_.effective_min_df_ == 1


@pytest.mark.parametrize("policy", ["same", "prefer"])
def test_row12_one_article_section(policy):
    model = fit(news_rows(), section_policy=policy, k=3)
    got = model.related("w1")
    assert "w1" not in [r.id for r in got]
    if policy == "same":
        assert got == []
    else:
        assert 0 < len(got) <= 3  # filled from the other sections


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_row12_section_sizes_around_k(size):
    k = 3
    rows = [{"id": f"s{i}", "section": "small", "body": "storm snow roads closed"}
            for i in range(size)]
    rows += [{"id": f"o{i}", "section": "other", "body": "storm snow roads"} for i in range(5)]
    model = fit(rows, k=k, duplicate_threshold=None)  # identical bodies on purpose
    for i in range(size):
        got = model.related(f"s{i}")
        assert len(got) == min(k, size - 1)
        assert {r.section for r in got} <= {"small"}


# ---------------------------------------------------------------- row 13: identical articles


def test_row13_duplicate_policy_drops_the_copy_by_default():
    model = fit(news_rows())
    assert "p4" not in [r.id for r in model.related("p2")]
    assert "p2" not in [r.id for r in model.related("p4")]


def test_row13_syndicated_copy_ranks_first_for_each_other():
    model = fit(news_rows(), duplicate_threshold=None)
    assert model.related("p2")[0].id == "p4"
    assert model.related("p4")[0].id == "p2"
    assert model.related("p2")[0].score == pytest.approx(1.0)


# ---------------------------------------------------------------- row 14: unknown ids


def test_row14_unknown_id_raises_key_error_with_repr():
    model = fit(news_rows())
    with pytest.raises(UnknownArticleError, match="article id 'nope' is not in the model"):
        model.related("nope")
    with pytest.raises(KeyError):
        model.related("nope")


def test_row14_unknown_id_hints_at_the_other_type():
    model = fit([{"id": 123, "body": "storm snow"}, {"id": 7, "body": "storm roads"}])
    with pytest.raises(UnknownArticleError, match="'123' is not in the model; an int id 123"):
        model.related("123")


def test_row14_related_many_missing_modes():
    model = fit(news_rows())
    with pytest.raises(UnknownArticleError, match="'zzz'"):
        model.related_many(["p1", "zzz"])
    got = model.related_many(["p1", "zzz"], missing="skip")
    assert list(got) == ["p1"]


# ---------------------------------------------------------------- row 15: unseen vocabulary


@pytest.mark.parametrize("text", ["", "zyxwv qwrtp", "😀😀", "\u200b", "<p>&nbsp;</p>"])
def test_row15_unseen_text_gives_empty_list(text):
    assert fit(news_rows()).related_to(text) == []


def test_row15_one_known_word_returns_only_articles_with_it():
    model = fit(news_rows())
    got = model.related_to("zyxwv snow", k=10)
    assert [r.id for r in got] == ["w1"]


# ---------------------------------------------------------------- row 18: bad k and params


@pytest.mark.parametrize("k", [0, -1, True, 2.5, "3", None])
def test_row18_bad_k_at_fit(k):
    with pytest.raises(InvalidParameterError, match="The 'k' parameter of RelatedArticles"):
        RelatedArticles(k=k).fit(news_rows())


@pytest.mark.parametrize("k", [0, -1, True, 2.5])
def test_row18_bad_k_at_query(k):
    model = fit(news_rows())
    with pytest.raises(InvalidParameterError, match="The 'k' parameter"):
        model.related("p1", k=k)


def test_row18_huge_k_returns_what_exists():
    """Regression: k=10**9 once allocated an (m, k) array before clamping to the candidates."""
    model = fit(news_rows(), section_policy="any")
    assert len(model.related("p1", k=10**9)) <= model.n_articles_ - 1


@pytest.mark.parametrize(
    ("param", "value", "match"),
    [
        ("section_policy", "nearby", "'section_policy' parameter .* must be one of"),
        ("fields", {"headline": 1.0}, "'fields' parameter"),
        ("fields", {"title": -1.0}, "'fields' parameter"),
        ("fields", {"title": 0.0, "body": 0.0}, "'fields' parameter"),
        ("min_df", 0, "'min_df' parameter"),
        ("max_df", 1.5, "'max_df' parameter"),
        ("language", "klingon", "'language' parameter"),
        ("ngram_range", (2, 1), "'ngram_range' parameter"),
        ("working_memory", 0, "'working_memory' parameter"),
        ("boilerplate_min_share", 2.0, "'boilerplate_min_share' parameter"),
    ],
)
def test_row18_bad_params_raise_at_fit(param, value, match):
    with pytest.raises(InvalidParameterError, match=match):
        RelatedArticles(**{param: value}).fit(news_rows())


# ---------------------------------------------------------------- readers


def test_read_jsonl_names_bad_lines(tmp_path):
    path = tmp_path / "a.jsonl"
    good = json.dumps({"id": "a", "body": "storm"})
    path.write_bytes(
        (good + "\n" + '{"id": "b", "body": \n' + "[1, 2]\n").encode() + b'{"id": "c\xff"}\n'
    )
    with pytest.raises(InvalidArticleError, match=r"3 invalid lines: line 2: invalid JSON"):
        read_jsonl(path)
    with pytest.raises(InvalidArticleError, match="line 4: invalid UTF-8"):
        read_jsonl(path)
    with pytest.warns(UserWarning, match="skipped 3 invalid lines"):
        rows = read_jsonl(path, on_invalid="skip")
    assert [r["id"] for r in rows] == ["a"]


def test_iter_jsonl_yields_what_read_jsonl_reads_and_reports_bad_lines_at_the_end(tmp_path):
    """The streaming reader: the same dicts, one at a time; bad lines never yielded, then
    raised (or warned about) once the whole file has been read, and listed in ``problems``."""
    path = tmp_path / "a.jsonl"
    good = [json.dumps({"id": i, "body": "storm"}) for i in ("a", "b")]
    path.write_bytes(
        (good[0] + "\n\n" + "{not json\n" + good[1] + "\n").encode() + b'{"id": "c\xff"}\n'
    )
    lines = iter_jsonl(path, on_invalid="raise")
    assert next(lines)["id"] == "a"  # yielded before the bad lines are met
    assert next(lines) == {"id": "b", "body": "storm", "_line": 4}
    with pytest.raises(InvalidArticleError, match=r"2 invalid lines: line 3: invalid JSON"):
        next(lines)
    problems: list[str] = []
    with pytest.warns(UserWarning, match="skipped 2 invalid lines"):
        rows = list(iter_jsonl(path, on_invalid="skip", problems=problems))
    listed: list[str] = []
    with pytest.warns(UserWarning, match="skipped 2 invalid lines"):
        assert rows == load_articles(path, on_invalid="skip", problems=listed)
    assert listed == problems
    assert [p.split(":")[0] for p in problems] == ["line 3", "line 5"]
    assert "invalid UTF-8" in problems[1]


def test_a_fit_consuming_iter_jsonl_fails_on_a_bad_line_like_read_jsonl(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"id": "a", "body": "storm snow"}) + "\n[1, 2]\n", encoding="utf-8")
    with pytest.raises(InvalidArticleError, match="line 2: a JSON list, not an object"):
        RelatedArticles().fit(iter_jsonl(path))


def test_read_csv_lists_malformed_rows_in_problems(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("id,body\nx1,storm\nx2,snow,extra\n", encoding="utf-8")
    problems: list[str] = []
    with pytest.warns(UserWarning, match="skipped 1 invalid lines"):
        rows = read_csv(path, on_invalid="skip", problems=problems)
    assert [r["id"] for r in rows] == ["x1"]
    assert problems == ["line 3: more cells than header columns"]


def test_read_csv(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(
        "id,title,body,section,published,tags\n"
        'x1,Storm,"Snow, roads",weather,2024-01-02,snow|roads\n'
        "x2,Cup,Final,sport,,\n",
        encoding="utf-8",
    )
    articles = check_articles(read_csv(path))
    assert articles[0] == Article(
        id="x1", title="Storm", body="Snow, roads", section="weather",
        published=dt.date(2024, 1, 2), tags=("snow", "roads"),
    )
    assert articles[1].published is None


def test_read_csv_without_id_column(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("title,body\nA,B\n", encoding="utf-8")
    with pytest.raises(InvalidArticleError, match="no 'id' column"):
        read_csv(path)


def test_bad_published_value_names_id_and_field():
    rows = news_rows()
    rows[0]["published"] = "yesterday"
    with pytest.raises(InvalidArticleError, match=r"id 'p1': field 'published' is 'yesterday'"):
        RelatedArticles().fit(rows)


def test_aware_datetimes_become_utc():
    tz = dt.timezone(dt.timedelta(hours=2))
    (article,) = check_articles([{"id": 1, "published": dt.datetime(2024, 1, 1, 12, tzinfo=tz)}])
    assert article.published == dt.datetime(2024, 1, 1, 10)
