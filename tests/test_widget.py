"""The widget (relatedness/serve/widget.js) in a real headless Chromium against a loopback server.

The browser is the system's ``chromium`` (Debian package; .ci/run installs it when it can);
without it these tests skip, saying so.
"""

from __future__ import annotations

import html
import shutil
import subprocess
from html.parser import HTMLParser
from importlib import resources

import pytest

pytest.importorskip("starlette", reason="the serve extra is not installed")
pytest.importorskip("uvicorn", reason="the serve extra is not installed")

from starlette.applications import Starlette  # noqa: E402
from starlette.responses import HTMLResponse, JSONResponse, Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from relatedness import Article, RelatedArticles  # noqa: E402
from relatedness.datasets import load_sample  # noqa: E402
from relatedness.render import render_html  # noqa: E402
from relatedness.results import Related  # noqa: E402
from relatedness.serve import create_app  # noqa: E402

from .serving import LiveServer  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on PATH: install the Debian package (apt-get install -y chromium) "
    "to run the widget in a real browser",
)

HOSTILE = [
    Article(id="h1", title="Rates & <script>alert('t')</script> \"quoted\" budget",
            body="Parliament budget tax vote minister schools spending.",
            url="javascript:alert(1)"),
    Article(id="h2", title="Budget vote: minister defends tax cuts",
            body="The finance minister defended the budget tax cuts before parliament voted.",
            url="https://news.example.org/budget?a=1&b=2"),
    Article(id="h3", title="Tax cuts and the budget debate",
            body="Budget debate: tax cuts, parliament and the minister.", url="/local/path"),
    Article(id="h4", title="Budget schools data", body="Budget tax parliament schools.",
            url="data:text/html,<b>x</b>"),
]  # fmt: skip


def _browser(url: str, *extra: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--virtual-time-budget=10000", *(extra or ("--dump-dom",)), url],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class _Boxes(HTMLParser):
    """The structure of every related-articles box: heading and (title, href, section, snippet)."""

    def __init__(self) -> None:
        super().__init__()
        self.boxes: list[dict] = []
        self.stack: list[str] = []
        self.field: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "section" and "related-articles" in classes:
            self.boxes.append({"heading": "", "items": []})
        elif self.boxes and tag == "li" and "related-article" in classes:
            blank = {"title": "", "href": None, "section": "", "snippet": ""}
            self.boxes[-1]["items"].append(blank)
        elif self.boxes and tag == "a" and self.boxes[-1]["items"]:
            self.boxes[-1]["items"][-1]["href"] = attributes.get("href")
            self.field = "title"
        elif self.boxes and tag == "h2":
            self.field = "heading"
        elif self.boxes and tag == "span" and "section" in classes:
            self.field = "section"
        elif self.boxes and tag == "p" and "snippet" in classes:
            self.field = "snippet"
        self.stack.append(tag)

    def handle_endtag(self, tag):
        self.field = None

    def handle_data(self, data):
        if self.field == "heading":
            self.boxes[-1]["heading"] += data
        elif self.field:
            self.boxes[-1]["items"][-1][self.field] += data


def _boxes(markup: str) -> list[dict]:
    parser = _Boxes()
    parser.feed(markup)
    return parser.boxes


@pytest.fixture(scope="module")
def hostile_model() -> RelatedArticles:
    return RelatedArticles(min_df=1, max_df=1.0).fit(HOSTILE)


def test_the_widget_draws_the_render_html_box_in_chromium(hostile_model):
    with LiveServer(create_app(hostile_model)) as url:
        dom = _browser(f"{url}/?id=h2")
    expected = _boxes(render_html(hostile_model.related("h2", k=4)))
    assert len(expected) == 1
    assert len(expected[0]["items"]) >= 2
    assert _boxes(dom) == expected
    assert 'data-related-state="done"' in dom


#: What a compromised or careless model could hold: markup in every field, hostile links.
TRAPS = [
    Related("t1", 0.9, "<img src=x onerror=\"document.title='pwned'\">Rates", "<b>biz</b>",
            "snippet </p><script>document.title='pwned'</script>", url="javascript:alert(1)"),
    Related("t2", 0.8, "Budget & \"quotes\"", "politics", "plain", url=" JavaScript:alert(2)"),
    Related("t3", 0.7, "Data link", "x", "y", url="data:text/html,<b>x</b>"),
    Related("t4", 0.6, "Good link", "x", "y", url="https://news.example.org/a?b=1&c=2"),
    Related("t5", 0.5, "Relative link", "x", "y", url="/local/path"),
]  # fmt: skip


def test_the_widget_sets_text_never_markup_and_keeps_only_http_links():
    widget = resources.files("relatedness.serve").joinpath("widget.js").read_text()
    payload = {"id": "x", "related": [r.to_dict() for r in TRAPS]}
    page = ("<!doctype html><html><head><title>clean</title></head><body>"
            "<div data-related-id='x'></div><script src='/widget.js'></script></body></html>")
    site = Starlette(routes=[
        Route("/", lambda request: HTMLResponse(page)),
        Route("/widget.js", lambda request: Response(widget, media_type="text/javascript")),
        Route("/related/x", lambda request: JSONResponse(payload)),
    ])  # fmt: skip
    with LiveServer(site) as url:
        dom = _browser(url + "/")
    assert _boxes(dom) == _boxes(render_html(TRAPS))
    assert "<title>clean</title>" in dom  # no handler ran
    assert "<img" not in dom
    assert "<script>document" not in dom
    hrefs = [i["href"] for i in _boxes(dom)[0]["items"]]
    assert hrefs == ["#", "#", "#", "https://news.example.org/a?b=1&c=2", "/local/path"]


def _page(service: str, extra: str = "") -> Starlette:
    page = (
        "<!doctype html><html><head><meta charset='utf-8'></head><body>"
        f"<div id='box' data-related-id='{html.escape(extra or '')}' data-k='2' "
        f"data-related-server='{service}'></div>"
        "<div id='default' data-related-id='h2' data-k='3'></div>"
        f"<script src='{service}/widget.js' defer></script></body></html>"
    )
    return Starlette(routes=[Route("/", lambda request: HTMLResponse(page))])


def test_a_page_on_another_origin_uses_the_allow_list(hostile_model):
    allowed_port_app = create_app(hostile_model, cors_origins=("http://127.0.0.1",))
    with LiveServer(allowed_port_app) as service, LiveServer(_page(service, "h1")) as site:
        # The allow-list names exact origins (scheme, host, port): this one is not on it.
        refused = _browser(site + "/")
    assert 'data-related-state="error"' in refused
    assert _boxes(refused) == []

    open_app = create_app(hostile_model, cors_origins=("*",))
    with LiveServer(open_app) as service, LiveServer(_page(service, "h1")) as site:
        dom = _browser(site + "/")
    boxes = _boxes(dom)
    expected = _boxes(render_html(hostile_model.related("h1", k=2)))
    expected += _boxes(render_html(hostile_model.related("h2", k=3)))
    # data-related-server for the first; the second defaults to the script's own origin.
    assert boxes == expected


def test_an_unknown_id_leaves_the_element_empty_and_marked(hostile_model):
    with LiveServer(create_app(hostile_model)) as url:
        dom = _browser(f"{url}/?id=nope")
    assert 'data-related-state="error"' in dom
    assert _boxes(dom) == []


def test_a_screenshot_of_the_demo_page(hostile_model, tmp_path):
    shot = tmp_path / "widget.png"
    model = RelatedArticles().fit(load_sample())
    with LiveServer(create_app(model)) as url:
        _browser(f"{url}/?id={model.ids_[0]}", f"--screenshot={shot}", "--window-size=800,600")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 5000  # more than a blank page
