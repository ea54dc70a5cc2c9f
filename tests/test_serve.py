"""The HTTP service against a real uvicorn server on loopback (relatedness.serve).

Every endpoint and error code, the caching and CORS headers, concurrency (the answers are
exactly the library's lists), signatures, and ``relatedness serve``'s SIGHUP reload in a
subprocess, with a good model and with a broken one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the serve extra is not installed")
pytest.importorskip("uvicorn", reason="the serve extra is not installed")
httpx = pytest.importorskip("httpx", reason="httpx (test extra) is not installed")

from relatedness import RelatedArticles  # noqa: E402
from relatedness.datasets import load_sample  # noqa: E402
from relatedness.exceptions import InvalidParameterError, ModelFormatError  # noqa: E402
from relatedness.render import render_html  # noqa: E402
from relatedness.serve import create_app  # noqa: E402

from .serving import LiveServer, ServeProcess  # noqa: E402

KEY = b"deploy secret"
QUERY = {"title": "Parliament votes on the budget", "body": "The finance minister defended "
         "tax cuts before parliament voted.", "section": "", "published": "2020-01-10",
         "tags": ["politics"]}  # fmt: skip


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("served") / "model"
    RelatedArticles().fit(load_sample()).save(path, key=KEY)
    return path


@pytest.fixture(scope="module")
def model(sample_dir) -> RelatedArticles:
    return RelatedArticles.load(sample_dir)


@pytest.fixture(scope="module")
def base(sample_dir):
    with LiveServer(create_app(sample_dir, cors_origins=("https://news.example.org",))) as url:
        yield url


@pytest.fixture(scope="module")
def client(base):
    with httpx.Client(base_url=base, timeout=30) as c:
        yield c


def _ids(model: RelatedArticles, n: int) -> list:
    return [model.ids_[i] for i in range(0, len(model.ids_), max(1, len(model.ids_) // n))][:n]


# ------------------------------------------------------------------ GET /related/{id}


@pytest.mark.parametrize("k", [None, 1, 4, 10])
def test_get_related_returns_the_librarys_lists(client, model, k):
    for article_id in _ids(model, 5):
        answer = client.get(f"/related/{article_id}", params={} if k is None else {"k": k})
        assert answer.status_code == 200
        expected = [r.to_dict() for r in model.related(article_id, k=k)]
        assert answer.json() == {"id": article_id, "related": expected}


def test_get_related_takes_exclude_and_explain_as_the_library_does(client, model):
    article_id = model.ids_[3]
    first = model.related(article_id, k=3)
    excluded = [first[0].id, first[1].id]
    answer = client.get(f"/related/{article_id}",
                        params={"k": 3, "exclude": excluded, "explain": "true"})  # fmt: skip
    assert answer.status_code == 200
    expected = model.related(article_id, k=3, exclude=excluded, explain=True)
    assert answer.json()["related"] == [r.to_dict() for r in expected]
    assert all("explanation" in r for r in answer.json()["related"])


def test_cached_answers_are_the_same_lists_and_never_cross_a_reload(tmp_path, model):
    path = tmp_path / "m"
    model.save(path)
    app = create_app(path, cache_size=2)
    article_id = model.ids_[5]
    with LiveServer(app) as url:
        first = [httpx.get(f"{url}/related/{i}", params={"k": 3}).json() for i in model.ids_[:4]]
        again = [httpx.get(f"{url}/related/{i}", params={"k": 3}).json() for i in model.ids_[:4]]
        before = httpx.get(f"{url}/related/{article_id}", params={"k": 3}).json()
        RelatedArticles(k=3).fit(load_sample()[:150]).save(path)
        assert app.state.holder.reload()
        after = httpx.get(f"{url}/related/{article_id}", params={"k": 3}).json()
    assert first == again == [{"id": i, "related": [r.to_dict() for r in model.related(i, k=3)]}
                              for i in model.ids_[:4]]  # fmt: skip
    assert before["related"] == [r.to_dict() for r in model.related(article_id, k=3)]
    reloaded = RelatedArticles.load(path)
    assert after["related"] == [r.to_dict() for r in reloaded.related(article_id, k=3)]
    assert after != before


def test_format_html_is_the_render_html_box(client, model):
    article_id = model.ids_[7]
    answer = client.get(f"/related/{article_id}", params={"k": 4, "format": "html"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.text == render_html(model.related(article_id, k=4))


def test_an_int_id_model_reads_the_path_segment_as_an_int(tmp_path):
    articles = [dataclasses.replace(a, id=n * 7) for n, a in enumerate(load_sample()[:60])]
    model = RelatedArticles().fit(articles)
    with LiveServer(create_app(model)) as url:
        answer = httpx.get(f"{url}/related/14", params={"k": 3, "exclude": "21"})
        missing = httpx.get(f"{url}/related/15")
        word = httpx.get(f"{url}/related/abc")
    assert answer.status_code == 200
    assert answer.json()["id"] == 14
    assert answer.json()["related"] == [r.to_dict() for r in model.related(14, k=3, exclude=[21])]
    assert missing.status_code == 404
    assert word.status_code == 404
    assert "abc" in word.json()["detail"]


def test_an_id_with_a_slash_and_spaces_reaches_the_model(tmp_path):
    articles = [dataclasses.replace(a, id=f"2020/01/story {n}")
                for n, a in enumerate(load_sample()[:40])]  # fmt: skip
    model = RelatedArticles().fit(articles)
    with LiveServer(create_app(model)) as url:
        answer = httpx.get(f"{url}/related/2020/01/story%203", params={"k": 2})
    assert answer.status_code == 200
    assert answer.json()["related"] == [r.to_dict() for r in model.related("2020/01/story 3", k=2)]


# ------------------------------------------------------------------ POST /related


def test_post_related_returns_the_related_to_lists(client, model):
    answer = client.post("/related", params={"k": 5}, json=QUERY)
    assert answer.status_code == 200
    assert answer.json() == {"related": [r.to_dict() for r in model.related_to(QUERY, k=5)]}


def test_post_related_with_only_a_body_and_explain(client, model):
    answer = client.post("/related", params={"explain": "1"}, json={"body": "election campaign"})
    assert answer.status_code == 200
    expected = model.related_to({"body": "election campaign"}, explain=True)
    assert answer.json()["related"] == [r.to_dict() for r in expected]


# ------------------------------------------------------------------ /healthz, /, /widget.js


def test_healthz_names_the_model_by_its_manifests_sha256(client, sample_dir, model):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    health = answer.json()
    version = sample_dir / (sample_dir / "CURRENT").read_text().strip()
    assert health["model"] == hashlib.sha256((version / "manifest.json").read_bytes()).hexdigest()
    assert health["counts"]["n_articles"] == model.n_articles_
    assert health["parameters"]["k"] == model.k
    assert health["loaded_at"].endswith("+00:00")
    assert answer.headers["cache-control"] == "no-store"


def test_the_demo_page_embeds_the_widget_and_escapes_the_id(client):
    page = client.get("/", params={"id": '"><script>alert(1)</script>'})
    assert page.status_code == 200
    assert '<script src="/widget.js" defer></script>' in page.text
    assert "<script>alert(1)" not in page.text
    assert 'data-related-id="&quot;&gt;&lt;script&gt;' in page.text


def test_widget_js_is_served_as_javascript(client):
    answer = client.get("/widget.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert "data-related-id" in answer.text
    assert "innerHTML" not in answer.text  # text goes in with textContent only


# ------------------------------------------------------------------ errors


def _error(answer, status: int, match: str) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    document = answer.json()
    assert set(document) == {"error", "detail"}
    assert match in document["detail"], document
    assert "Traceback" not in answer.text
    return document


def test_unknown_id_is_404_with_the_librarys_message(client):
    _error(client.get("/related/no-such-story"), 404, "'no-such-story' is not in the model")


@pytest.mark.parametrize(
    ("k", "match"),
    [("abc", "k must be an integer >= 1, got 'abc'"), ("1.5", "got '1.5'"),
     ("0", "'k' parameter of RelatedArticles must be an int"),
     ("-2", "'k' parameter of RelatedArticles must be an int"),
     ("101", "k must be <= 100")],
)  # fmt: skip
def test_bad_k_is_400_naming_it(client, model, k, match):
    _error(client.get(f"/related/{model.ids_[0]}", params={"k": k}), 400, match)
    _error(client.post("/related", params={"k": k}, json=QUERY), 400, match)


@pytest.mark.parametrize(
    ("query", "match"),
    [({"kk": "4"}, "unknown query parameter(s) 'kk'"), ({"format": "xml"}, "format must be"),
     ({"explain": "maybe"}, "explain must be 1/true"), ({"k": ["2", "3"]}, "given 2 times")],
)  # fmt: skip
def test_bad_parameters_are_400_naming_them(client, model, query, match):
    _error(client.get(f"/related/{model.ids_[0]}", params=query), 400, match)


@pytest.mark.parametrize(
    ("body", "status", "match"),
    [(b"{title: 1", 400, "the body is not JSON: Expecting property name"),
     (b"\xff\xfe", 400, "not UTF-8"), (b"[1, 2]", 400, "must be a JSON object"),
     (b'{"headline": "x"}', 400, "unknown field(s) 'headline'"),
     (b'{"title": 5}', 400, "field 'title' is a int"),
     (b'{"body": "x", "published": "last week"}', 400, "field 'published'"),
     (b'{"body": "x", "tags": "one"}', 400, "'tags' must be a list of strings"),
     (b"[" * 100000, 400, "nests too deeply")],
)  # fmt: skip
def test_malformed_or_invalid_articles_are_400(client, body, status, match):
    answer = client.post("/related", content=body, headers={"content-type": "application/json"})
    _error(answer, status, match)


def test_a_body_over_the_limit_is_413_declared_or_streamed(model):
    with LiveServer(create_app(model, max_body=2000)) as url:
        declared = httpx.post(f"{url}/related", json={"body": "word " * 1000})
        streamed = httpx.post(f"{url}/related", content=iter([b'{"body": "', b"x" * 3000, b'"}']))
        small = httpx.post(f"{url}/related", json={"body": "budget"})
    _error(declared, 413, "over 2000 bytes")
    _error(streamed, 413, "over 2000 bytes")
    assert small.status_code == 200


def test_the_default_body_limit_is_one_mib(client):
    _error(client.post("/related", content=b" " * (1024 * 1024 + 1)), 413, "over 1048576 bytes")


def test_unknown_route_and_wrong_method_are_json(client):
    _error(client.get("/nowhere"), 404, "no endpoint GET /nowhere")
    _error(client.delete("/healthz"), 405, "no endpoint DELETE /healthz")


def test_an_unexpected_error_is_a_json_500_without_traceback(sample_dir, monkeypatch, caplog):
    app = create_app(sample_dir)
    served = app.state.holder.current

    def broken(*args, **kwargs):
        msg = "deep inside"
        raise TypeError(msg)

    monkeypatch.setattr(served.model, "related", broken)
    with caplog.at_level(logging.ERROR, "relatedness.serve"), LiveServer(app) as url:
        answer = httpx.get(f"{url}/related/{served.model.ids_[0]}")
    _error(answer, 500, "unexpected TypeError; see the server log")
    assert "deep inside" not in answer.text
    assert any("deep inside" in r.getMessage() or r.exc_info for r in caplog.records)


@pytest.mark.parametrize(
    ("option", "match"),
    [({"max_body": 0}, "max_body must be an int >= 1"),
     ({"cache_max_age": -1}, "cache_max_age must be an int >= 0"),
     ({"max_k": True}, "max_k must be an int"),
     ({"cache_size": -1}, "cache_size must be an int >= 0"),
     ({"cors_origins": "https://a.example"}, "a list of origins")],
)  # fmt: skip
def test_bad_options_are_refused(model, option, match):
    with pytest.raises(InvalidParameterError, match=match):
        create_app(model, **option)


def test_create_app_refuses_something_that_is_not_a_model():
    with pytest.raises(InvalidParameterError, match="takes a fitted RelatedArticles or a model"):
        create_app(42)


# ------------------------------------------------------------------ caching, headers, CORS


def test_gets_carry_etag_and_cache_control_and_answer_304(client, model):
    url = f"/related/{model.ids_[0]}"
    first = client.get(url)
    etag = first.headers["etag"]
    model_id = client.get("/healthz").json()["model"]
    assert etag == f'"{model_id}"'
    assert first.headers["cache-control"] == "public, max-age=300"
    again = client.get(url, headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert client.get(url, headers={"if-none-match": '"other"'}).status_code == 200
    widget = client.get("/widget.js").headers["etag"]
    assert client.get("/widget.js", headers={"if-none-match": widget}).status_code == 304


def test_cache_max_age_is_configurable(model):
    with LiveServer(create_app(model, cache_max_age=30)) as url:
        answer = httpx.get(f"{url}/related/{model.ids_[0]}")
    assert answer.headers["cache-control"] == "public, max-age=30"


def test_every_answer_names_the_model(client, model):
    model_id = client.get("/healthz").json()["model"]
    preflight = {"origin": "https://news.example.org", "access-control-request-method": "POST"}
    answers = [client.get(f"/related/{model.ids_[0]}"), client.get("/related/nope"),
               client.post("/related", content=b"{"), client.get("/nowhere"),
               client.get("/widget.js"), client.get("/"),
               client.options("/related", headers=preflight)]  # fmt: skip
    assert [a.headers["x-relatedness-model"] for a in answers] == [model_id] * len(answers)


def test_cors_is_off_by_default(model):
    with LiveServer(create_app(model)) as url:
        answer = httpx.get(f"{url}/related/{model.ids_[0]}", headers={"origin": "https://x.example"})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers


def test_cors_allows_only_the_listed_origins(client, model):
    url = f"/related/{model.ids_[0]}"
    allowed = client.get(url, headers={"origin": "https://news.example.org"})
    other = client.get(url, headers={"origin": "https://evil.example"})
    preflight = client.options("/related", headers={
        "origin": "https://news.example.org", "access-control-request-method": "POST",
        "access-control-request-headers": "content-type"})  # fmt: skip
    assert allowed.headers["access-control-allow-origin"] == "https://news.example.org"
    assert "x-relatedness-model" in allowed.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in other.headers
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["access-control-allow-methods"]


def test_one_access_log_line_per_request(client, model, caplog):
    with caplog.at_level(logging.INFO, "relatedness.serve.access"):
        client.get(f"/related/{model.ids_[0]}", params={"k": 2})
        client.get("/related/nope")
        client.post("/related", json=QUERY)
    lines = [r.getMessage() for r in caplog.records if r.name == "relatedness.serve.access"]
    assert len(lines) == 3
    assert f'"GET /related/{model.ids_[0]}?k=2" 200' in lines[0]
    assert '"GET /related/nope" 404' in lines[1]
    assert '"POST /related" 200' in lines[2]


# ------------------------------------------------------------------ concurrency


def test_concurrent_requests_return_exactly_the_librarys_lists(base, model):
    ids = _ids(model, 40)
    expected = {i: [r.to_dict() for r in model.related(i, k=4)] for i in ids}
    expected_post = [r.to_dict() for r in model.related_to(QUERY, k=4)]
    mismatches: list = []

    def client_thread(n: int) -> int:
        done = 0
        with httpx.Client(base_url=base, timeout=60) as c:
            for j in range(50):
                if j % 10 == 9:
                    answer = c.post("/related", params={"k": 4}, json=QUERY)
                    if answer.status_code != 200 or answer.json()["related"] != expected_post:
                        mismatches.append(("POST", answer.status_code))
                else:
                    article_id = ids[(n * 50 + j) % len(ids)]
                    answer = c.get(f"/related/{article_id}", params={"k": 4})
                    ok = answer.status_code == 200
                    if not ok or answer.json()["related"] != expected[article_id]:
                        mismatches.append((article_id, answer.status_code))
                done += 1
        return done

    with ThreadPoolExecutor(8) as pool:
        done = sum(pool.map(client_thread, range(8)))
    assert done == 400
    assert mismatches == []


# ------------------------------------------------------------------ signatures


def test_a_signed_model_is_served_with_its_key(sample_dir):
    app = create_app(sample_dir, key=KEY, require_signature=True)
    assert app.state.holder.current.model.n_articles_ == 293


def test_require_signature_refuses_an_unsigned_model(tmp_path, model):
    unsigned = tmp_path / "unsigned"
    model.save(unsigned)
    with pytest.raises(ModelFormatError, match="manifest.sig: missing, but a key was given"):
        create_app(unsigned, key=KEY, require_signature=True)


def test_require_signature_refuses_a_wrong_key(sample_dir):
    with pytest.raises(ModelFormatError, match="signature check failed"):
        create_app(sample_dir, key=b"not the secret", require_signature=True)


def test_require_signature_without_a_key_is_an_error(sample_dir):
    with pytest.raises(InvalidParameterError, match="require_signature needs a key"):
        create_app(sample_dir, require_signature=True)


# ------------------------------------------------------------------ relatedness serve, SIGHUP


def _deploy(root: Path, target: Path) -> None:
    """Point root/current at ``target`` in one rename, as a deploy does."""
    link = root / "current.new"
    link.unlink(missing_ok=True)
    link.symlink_to(target)
    link.replace(root / "current")


def _hammer(base: str, article_id: str, stop: threading.Event, failures: list, count: list):
    with httpx.Client(base_url=base, timeout=60) as c:
        while not stop.is_set():
            try:
                answer = c.get(f"/related/{article_id}", params={"k": 3})
                if answer.status_code != 200:
                    failures.append(answer.status_code)
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
            count.append(1)


def test_sighup_reloads_a_switched_model_and_refuses_a_broken_one(tmp_path, sample_dir):
    old = tmp_path / "v1"
    shutil.copytree(sample_dir, old, symlinks=True)
    new = tmp_path / "v2"
    RelatedArticles(k=3).fit(load_sample()[:200]).save(new, key=KEY)
    broken = tmp_path / "v3"
    shutil.copytree(new, broken, symlinks=True)
    version = broken / (broken / "CURRENT").read_text().strip()
    (version / "idf.npy").write_bytes(b"\x93NUMPY broken")
    _deploy(tmp_path, old)
    server = ServeProcess(tmp_path / "current", "--key-file", str(_key_file(tmp_path)))
    try:
        server.wait_ready()
        first = httpx.get(server.base + "/healthz").json()["model"]
        stop, failures, count = threading.Event(), [], []
        worker = threading.Thread(target=_hammer, args=(server.base, load_sample()[0].id,
                                                        stop, failures, count))  # fmt: skip
        worker.start()
        try:
            # A good model: loaded, checked and swapped while requests keep coming.
            _deploy(tmp_path, new)
            server.hup()
            server.wait_for(lambda: server.logged("reloaded: serving") == 1, "the reload")
            second = httpx.get(server.base + "/healthz").json()
            # A broken model: refused with a log line; the good one keeps serving.
            _deploy(tmp_path, broken)
            server.hup()
            server.wait_for(lambda: server.logged("reload refused") == 1, "the refusal")
            third = httpx.get(server.base + "/healthz").json()["model"]
            before = len(count)
            server.wait_for(lambda: len(count) > before + 20, "requests after the refusal")
        finally:
            stop.set()
            worker.join(60)
    finally:
        code = server.stop()
    assert second["model"] != first
    assert second["counts"]["n_articles"] == 200
    assert third == second["model"]
    refusal = next(line for line in server.lines if "reload refused" in line)
    assert "idf.npy" in refusal
    assert failures == []
    # uvicorn finishes its graceful shutdown, then lets SIGTERM end the process.
    assert code in (0, -15)
    assert server.logged("Finished server process") == 1


def _key_file(tmp_path: Path) -> Path:
    path = tmp_path / "key"
    path.write_bytes(KEY + b"\n")
    return path


def test_sighup_reloads_every_worker(tmp_path, sample_dir):
    _deploy(tmp_path, sample_dir)
    server = ServeProcess(tmp_path / "current", "--workers", "2")
    try:
        server.wait_for(lambda: server.logged("Application startup complete") == 2, "2 workers")
        server.wait_ready()
        new = tmp_path / "v2"
        RelatedArticles(k=2).fit(load_sample()[:100]).save(new)
        _deploy(tmp_path, new)
        server.hup()
        server.wait_for(lambda: server.logged("reloaded: serving") == 2, "both workers' reload")
        answers = {httpx.get(server.base + "/healthz").json()["counts"]["n_articles"]
                   for _ in range(20)}  # fmt: skip
    finally:
        code = server.stop()
    reloads = [line.split()[2] for line in server.lines if "reloaded: serving" in line]
    assert len(set(reloads)) == 2  # two processes (the pid column), each reloaded once
    assert answers == {100}
    assert code == 0


def test_serve_refuses_an_unsigned_model_when_a_signature_is_required(tmp_path, model):
    unsigned = tmp_path / "unsigned"
    model.save(unsigned)
    server = ServeProcess(unsigned, "--require-signature", env={"RELATEDNESS_KEY": "secret"})
    code = server.process.wait(120)
    server.reader.join(10)
    assert code == 3
    assert any("manifest.sig: missing, but a key was given" in line for line in server.lines)


def test_serve_without_the_serve_extra_exits_2_with_the_pip_command(tmp_path, sample_dir):
    import subprocess
    import sys

    from .serving import SRC

    code = (
        "import sys; sys.modules['starlette'] = None; sys.modules['uvicorn'] = None\n"
        "from relatedness.cli import main\n"
        f"sys.exit(main(['serve', '--model', {str(sample_dir)!r}]))"
    )
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "pip install 'relatedness[serve]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1  # one line
