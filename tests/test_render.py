"""The rendered "Related Articles" box: escaping, link safety, templates, JSON, and the CLI."""

from __future__ import annotations

import datetime as dt
import io
import json
import warnings
from html.parser import HTMLParser

import pytest

from relatedness import Related, RelatedArticles
from relatedness.cli import EXIT_OK, main
from relatedness.render import DEFAULT_ITEM_TEMPLATE, DEFAULT_TEMPLATE, render_html, to_json

from .conftest import news_rows

XSS = "<script>alert(1)</script>"


def item(**fields) -> Related:
    values = {
        "id": "a1",
        "score": 0.5,
        "title": "Storm brings snow",
        "section": "weather",
        "snippet": "A storm brought heavy snow…",
        "published": dt.date(2024, 1, 5),
        "url": "https://news.example/a1",
    }
    values.update(fields)
    return Related(**values)


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text, as a browser would parse them."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def names(self) -> list[str]:
        return [tag for tag, _ in self.tags]

    def hrefs(self) -> list[str]:
        return [attrs["href"] for tag, attrs in self.tags if tag == "a"]


# ------------------------------------------------------------------------------ escaping


def test_script_in_a_headline_renders_as_text():
    box = render_html([item(title=f"Storm {XSS} snow")])
    assert XSS not in box
    assert "Storm &lt;script&gt;alert(1)&lt;/script&gt; snow" in box
    parsed = Elements(box)
    assert "script" not in parsed.names()
    assert f"Storm {XSS} snow" in parsed.text


@pytest.mark.parametrize("field", ["title", "section", "snippet", "id"])
def test_every_text_field_is_escaped(field):
    box = render_html(
        [item(**{field: f"x {XSS} & y"})],
        item_template="<li>{id}|{title}|{section}|{snippet}</li>",
        template="{items}",
    )
    assert XSS not in box
    assert "x &lt;script&gt;alert(1)&lt;/script&gt; &amp; y" in box
    assert Elements(box).names() == ["li"]


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        "  javascript:alert(1)",
        "\tjavascript:alert(1)",
        "java\nscript:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "",
        "   ",
    ],
)
def test_unsafe_or_empty_links_become_hash(url):
    box = render_html([item(url=url)])
    assert Elements(box).hrefs() == ["#"]
    assert "javascript" not in box.lower() and "data:" not in box


@pytest.mark.parametrize(
    ("url", "href"),
    [
        ("https://news.example/a1", "https://news.example/a1"),
        ("http://news.example/a1?x=1&y=2", "http://news.example/a1?x=1&y=2"),
        ("HTTPS://NEWS.EXAMPLE/A1", "HTTPS://NEWS.EXAMPLE/A1"),
        ("/news/2024/storm", "/news/2024/storm"),
        ("./storm", "./storm"),
        ("../storm", "../storm"),
        ("?page=2", "?page=2"),
        ("#comments", "#comments"),
        ("news/storm-2024", "news/storm-2024"),
        ("/search?q=a:b", "/search?q=a:b"),  # a colon after the first "/" is no scheme
    ],
)
def test_safe_links_are_kept(url, href):
    box = render_html([item(url=url)])
    assert Elements(box).hrefs() == [href]


def test_attribute_breaking_quotes_are_escaped():
    url = 'https://news.example/a" onmouseover="alert(1)'
    title = "Minister's \"final\" word <b>"
    box = render_html(
        [item(url=url, title=title)],
        item_template="<a href=\"{url}\" title='{title}' data-id=\"{id}\">{title}</a>\n",
    )
    assert '" onmouseover="' not in box
    assert "&quot;" in box and "&#x27;" in box
    anchors = [attrs for tag, attrs in Elements(box).tags if tag == "a"]
    assert anchors == [{"href": url, "title": title, "data-id": "a1"}]
    assert len(Elements(box).tags) == 4  # section, h2, ul, a: nothing injected


def test_custom_item_template_gets_escaped_values():
    template = '<div class="x" data-title="{title}" data-section="{section}">{snippet}</div>\n'
    box = render_html(
        [item(title=f'"{XSS}', section="a'b", snippet=f"{XSS} & more")],
        item_template=template,
        template="<aside>{items}</aside>",
    )
    assert XSS not in box
    parsed = Elements(box)
    assert parsed.names() == ["aside", "div"]
    assert parsed.tags[1][1] == {"class": "x", "data-title": f'"{XSS}', "data-section": "a'b"}
    assert "".join(parsed.text) == f"{XSS} & more\n"


def test_url_for_result_is_also_sanitised():
    box = render_html([item(id="a1"), item(id="b2")], url_for=lambda r: f"/story/{r.id}")
    assert Elements(box).hrefs() == ["/story/a1", "/story/b2"]
    box = render_html([item()], url_for=lambda r: "javascript:alert(1)")
    assert Elements(box).hrefs() == ["#"]


def test_heading_is_escaped_and_fields_are_filled():
    box = render_html([item()], heading=f"More {XSS}")
    assert "<h2>More &lt;script&gt;alert(1)&lt;/script&gt;</h2>" in box
    box = render_html(
        [item(score=0.12345, published=dt.datetime(2024, 1, 5, 9, 30))],
        item_template="{score} {published}\n",
        template="{items}",
    )
    assert box == "0.123 2024-01-05T09:30:00\n"
    undated = render_html([item(published=None)], item_template="[{published}]", template="{items}")
    assert undated == "[]"


def test_default_block_shape():
    box = render_html([item(), item(id="a2", title="Second")])
    assert box.startswith('<section class="related-articles">\n  <h2>Related Articles</h2>')
    assert box.count('<li class="related-article">') == 2
    assert box == DEFAULT_TEMPLATE.format(
        heading="Related Articles",
        items=DEFAULT_ITEM_TEMPLATE.format(
            url="https://news.example/a1",
            title="Storm brings snow",
            section="weather",
            snippet="A storm brought heavy snow…",
        )
        + DEFAULT_ITEM_TEMPLATE.format(
            url="https://news.example/a1",
            title="Second",
            section="weather",
            snippet="A storm brought heavy snow…",
        ),
    )


@pytest.mark.parametrize("empty", [[], (), iter([])])
def test_empty_results_render_nothing(empty):
    assert render_html(empty) == ""
    assert render_html(empty, heading="x", template="<div>{items}</div>") == ""


# ------------------------------------------------------------------------------ from a model


def _fit(rows, **params) -> RelatedArticles:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RelatedArticles(**{"min_df": 1, **params}).fit(rows)


def hostile_rows() -> list[dict]:
    return [
        {"id": "q", "title": "Storm warning", "body": "storm snow roads north",
         "url": "https://news.example/q"},
        {"id": "a", "title": 'Rates < 5% & "rising"', "body": "storm snow roads",
         "url": "javascript:alert(1)"},
        {"id": "b", "title": "It's snowing", "body": "snow roads ice",
         "url": '/b" onclick="alert(1)'},
    ]


def test_model_results_render_safely():
    model = _fit(hostile_rows(), k=5, duplicate_threshold=None)
    results = model.related("q")
    assert {r.id for r in results} == {"a", "b"}
    box = render_html(results)
    parsed = Elements(box)
    assert sorted(parsed.hrefs()) == ["#", '/b" onclick="alert(1)']
    assert all(set(attrs) <= {"href", "class"} for _, attrs in parsed.tags)
    assert "Rates &lt; 5% &amp; &quot;rising&quot;" in box
    assert 'Rates < 5% & "rising"' in parsed.text


def test_to_json_is_plain_unescaped_json():
    results = [item(title=XSS, url="javascript:alert(1)")]
    payload = json.loads(to_json(results))
    assert payload[0]["title"] == XSS  # the front end escapes when it builds the DOM
    assert payload[0]["published"] == "2024-01-05"
    many = json.loads(to_json({"q": results, "r": []}))
    assert many == [{"id": "q", "related": payload}, {"id": "r", "related": []}]
    assert "\n" in to_json(results, indent=2)


# ------------------------------------------------------------------------------ CLI


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def model_dir(tmp_path):
    rows = news_rows() + hostile_rows()
    path = tmp_path / "articles.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    model = tmp_path / "model"
    code, _, err = run("fit", str(path), "--model", str(model), "--min-df", "1",
                       "--duplicate-threshold", "none")
    assert code == EXIT_OK, err
    return model


def test_cli_related_format_html_prints_the_rendered_box(model_dir):
    code, out, _ = run("related", "q", "--model", str(model_dir), "--format", "html")
    assert code == EXIT_OK
    model = RelatedArticles.load(model_dir)
    assert out == render_html(model.related("q"))
    assert "&lt; 5% &amp; &quot;rising&quot;" in out
    assert sorted(Elements(out).hrefs()) == ["#", '/b" onclick="alert(1)']
    code, out, _ = run("related", "q", "--model", str(model_dir), "--format", "html", "--k", "1")
    assert out.count("<li") == 1


def test_cli_related_format_html_of_an_empty_list_is_empty(model_dir):
    code, out, _ = run("related", "w1", "--model", str(model_dir), "--format", "html")
    assert code == EXIT_OK
    assert out == ""


def test_cli_related_explain_text_and_json(model_dir):
    code, out, _ = run("related", "b1", "--model", str(model_dir), "--explain")
    assert code == EXIT_OK
    assert out.startswith("Related to b1:")
    why = [line for line in out.splitlines() if line.strip().startswith("why:")]
    assert len(why) == out.count("\n          why:") >= 1
    assert "(body)" in why[0]
    code, out, _ = run("related", "b1", "--model", str(model_dir), "--explain", "--format", "json")
    assert code == EXIT_OK
    related = json.loads(out)["related"]
    assert related
    for r in related:
        e = r["explanation"]
        assert {t["field"] for t in e["terms"]} <= {"title", "body", "tags"}
        assert e["score"] == pytest.approx(r["score"], abs=1e-6)
    code, out, _ = run("related", "b1", "--model", str(model_dir), "--format", "json")
    assert all("explanation" not in r for r in json.loads(out)["related"])
