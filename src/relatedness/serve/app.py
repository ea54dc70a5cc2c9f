"""The HTTP service: a Starlette application over one :class:`~.state.ModelHolder`.

Endpoints (docs/serve.md has the full reference):

``GET /related/{id}``
    ``?k=4&exclude=ID&exclude=ID&explain=1&format=json|html``; the lists of
    ``model.related(id, k=k)``, as JSON or as the ``render_html`` box.
``POST /related``
    ``?k=4&explain=1``, a JSON article ``{title, body, section, published, tags}`` as the body;
    the lists of ``model.related_to``.
``GET /healthz``, ``GET /``, ``GET /widget.js``
    The model's id, counts and parameters; a demo page; the embeddable widget.

Queries run on the event loop, one at a time per worker: a query is a few milliseconds of
CPU, and answering them in order needs no lock around the model. Errors are JSON
``{"error", "detail"}`` carrying the library's own message, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import json
import logging
import re
import signal
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from ..exceptions import (
    InvalidArticleError,
    InvalidParameterError,
    MissingDependencyError,
    RelatednessError,
    UnknownArticleError,
)
from ..recommender import RelatedArticles
from ..render import render_html
from .state import ModelHolder, Served

try:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route
except ImportError:  # pragma: no cover - exercised by the CLI's missing-dependency test
    msg = (
        "relatedness serve needs Starlette and uvicorn: pip install 'relatedness[serve]'"
    )
    raise MissingDependencyError(msg) from None

__all__ = ["DEFAULT_MAX_BODY", "create_app"]

#: POST bodies above this many bytes are refused with 413 (an article is a few KB).
DEFAULT_MAX_BODY = 1024 * 1024
#: Seconds a browser or CDN may keep a list (a reload changes the ETag).
DEFAULT_CACHE_MAX_AGE = 300
#: The largest k a request may ask for.
DEFAULT_MAX_K = 100
#: GET /related answers kept per worker (a few KB each).
DEFAULT_CACHE_SIZE = 4096
#: What a POSTed article may carry.
ARTICLE_FIELDS = ("title", "body", "section", "published", "tags")

access_log = logging.getLogger("relatedness.serve.access")
logger = logging.getLogger("relatedness.serve")

#: Where _Stamp leaves the request's snapshot in the ASGI scope.
_SERVED = "relatedness.served"
_INT = re.compile(r"-?[0-9]+\Z")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def _widget_source() -> bytes:
    return resources.files("relatedness.serve").joinpath("widget.js").read_bytes()


class _Refused(Exception):
    """An answer other than 200, with the JSON error body to send."""

    def __init__(self, status: int, error: str, detail: Any) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


def _dumps(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _json(document: Any, status: int = 200) -> Response:
    return Response(_dumps(document), status_code=status, media_type="application/json")


def _error(status: int, error: str, detail: Any) -> Response:
    return _json({"error": error, "detail": detail}, status)


def _only(request: Request, allowed: Sequence[str]) -> None:
    unknown = sorted(set(request.query_params) - set(allowed))
    if unknown:
        raise _Refused(
            400, "bad parameter",
            f"unknown query parameter(s) {', '.join(map(repr, unknown))}; this endpoint "
            f"takes {', '.join(allowed)}.",
        )  # fmt: skip


def _one(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        detail = f"{name!r} is given {len(values)} times; give it once."
        raise _Refused(400, "bad parameter", detail)
    return values[0] if values else None


def _k(request: Request, max_k: int) -> int | None:
    text = _one(request, "k")
    if text is None:
        return None
    if not _INT.match(text.strip()):
        raise _Refused(400, "bad parameter", f"k must be an integer >= 1, got {text!r}.")
    k = int(text)
    if k > max_k:
        raise _Refused(400, "bad parameter", f"k must be <= {max_k} (the server's max_k), got {k}.")
    return k  # k < 1 is refused by the library, with its own message


def _flag(request: Request, name: str) -> bool:
    text = _one(request, name)
    if text is None:
        return False
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise _Refused(400, "bad parameter", f"{name} must be 1/true or 0/false, got {text!r}.")


def _read_id(served: Served, text: str) -> Any:
    """A path segment in the model's id type (an int-id model takes ``/related/42``)."""
    if served.id_type is int and _INT.match(text):
        return int(text)
    return text  # an unknown id: the library's message (with its hint on id types) says so


def _format(request: Request) -> str:
    fmt = _one(request, "format") or "json"
    if fmt not in ("json", "html"):
        raise _Refused(400, "bad parameter", f"format must be 'json' or 'html', got {fmt!r}.")
    return fmt


def _library_error(exc: RelatednessError) -> _Refused:
    if isinstance(exc, UnknownArticleError):
        return _Refused(404, "unknown article", str(exc))
    if isinstance(exc, InvalidArticleError):
        return _Refused(400, "bad article", str(exc))
    if isinstance(exc, InvalidParameterError):
        return _Refused(400, "bad parameter", str(exc))
    return _Refused(400, type(exc).__name__, str(exc))


async def _body(request: Request, max_body: int) -> bytes:
    declared = request.headers.get("content-length")
    too_big = _Refused(
        413, "body too large", f"the body is over {max_body} bytes (the server's max_body)."
    )
    if declared is not None and declared.isdigit() and int(declared) > max_body:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def _article(raw: bytes) -> dict[str, Any]:
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _Refused(400, "malformed JSON", f"the body is not UTF-8 ({exc}).") from None
    except json.JSONDecodeError as exc:
        raise _Refused(
            400, "malformed JSON",
            f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.",
        ) from None  # fmt: skip
    except RecursionError:
        raise _Refused(400, "malformed JSON", "the body nests too deeply.") from None
    if not isinstance(document, dict):
        raise _Refused(
            400, "bad article",
            f"the body must be a JSON object with {', '.join(ARTICLE_FIELDS)}; got a "
            f"{type(document).__name__}.",
        )  # fmt: skip
    unknown = sorted(set(document) - set(ARTICLE_FIELDS))
    if unknown:
        raise _Refused(
            400, "bad article",
            f"unknown field(s) {', '.join(map(repr, unknown))}; an article has "
            f"{', '.join(ARTICLE_FIELDS)}.",
        )  # fmt: skip
    tags = document.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        raise _Refused(400, "bad article", "field 'tags' must be a list of strings.")
    section = document.get("section")
    if section is not None and not isinstance(section, str):
        raise _Refused(400, "bad article", "field 'section' must be a string.")
    document.setdefault("title", "")
    document.setdefault("body", "")
    return document


def _demo_page(served: Served, article_id: str | None) -> str:
    shown = article_id if article_id is not None else str(served.model.ids_[0])
    safe = html.escape(shown, quote=True)
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<title>relatedness: related articles demo</title>\n"
        "<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;"
        "padding:0 1rem}.related-articles li{margin:.6rem 0}.section{color:#666;"
        "font-size:.85em;margin-left:.4em}.snippet{margin:.2rem 0;color:#333}</style>\n"
        "</head>\n<body>\n<form method=\"get\" action=\"/\"><label>Article id "
        f"<input name=\"id\" value=\"{safe}\"></label> <button>Show</button></form>\n"
        f"<div data-related-id=\"{safe}\" data-k=\"4\"></div>\n"
        "<script src=\"/widget.js\" defer></script>\n</body>\n</html>\n"
    )


def create_app(
    model_or_path: RelatedArticles | str | Path,
    *,
    key: bytes | str | None = None,
    require_signature: bool = False,
    max_body: int = DEFAULT_MAX_BODY,
    cache_max_age: int = DEFAULT_CACHE_MAX_AGE,
    cors_origins: Sequence[str] = (),
    max_k: int = DEFAULT_MAX_K,
    cache_size: int = DEFAULT_CACHE_SIZE,
    reload_signal: int | None = None,
) -> Starlette:
    """The related-articles service as an ASGI application (Starlette).

    Parameters
    ----------
    model_or_path : RelatedArticles, str or Path
        A fitted model, or a model directory (loaded memory-mapped). Either way the model is
        warmed and answers one query before this returns.
    key : bytes or str, optional
        The secret the model was saved with (``save(key=...)``): its signature must verify.
    require_signature : bool, default False
        Refuse to serve a model without a valid signature (needs ``key``).
    max_body : int, default 1 MiB
        Largest ``POST /related`` body; larger is 413.
    cache_max_age : int, default 300
        ``Cache-Control: max-age`` of the GET answers, in seconds.
    cors_origins : sequence of str, default ()
        Origins allowed to call the service from a browser (``"https://www.example.org"``;
        ``"*"`` for any). CORS is off when empty: the widget is then served only to pages of
        the service's own origin.
    max_k : int, default 100
        The largest ``k`` a request may ask for.
    cache_size : int, default 4096
        ``GET /related`` answers kept in memory (least recently used out first), keyed by the
        model id and the request's parameters: a list is a pure function of the two, and news
        traffic asks for the same stories again and again. 0 turns it off.
    reload_signal : int, optional
        A signal (``signal.SIGHUP``) on which the model directory is loaded again, checked and
        swapped in (see :meth:`ModelHolder.reload`); installed when the app starts, in the
        main thread. ``relatedness serve`` sets SIGHUP.

    Returns
    -------
    starlette.applications.Starlette
        ``app.state.holder`` is the :class:`~relatedness.serve.state.ModelHolder`.

    Raises
    ------
    ModelFormatError
        The model directory fails a check (or its signature, with ``key``).
    InvalidParameterError
        An option is out of range, or ``require_signature`` without ``key``.
    """
    for name, value, low in (("max_body", max_body, 1), ("cache_max_age", cache_max_age, 0),
                             ("max_k", max_k, 1), ("cache_size", cache_size, 0)):  # fmt: skip
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            msg = f"create_app: {name} must be an int >= {low}, got {value!r}."
            raise InvalidParameterError(msg)
    if isinstance(cors_origins, str):
        msg = "create_app: cors_origins is a list of origins, not one string."
        raise InvalidParameterError(msg)
    holder = ModelHolder(model_or_path, key=key, require_signature=require_signature)
    widget = _widget_source()
    widget_etag = '"w-' + hashlib.sha256(widget).hexdigest()[:20] + '"'
    cache = f"public, max-age={cache_max_age}"

    def cached(request: Request, response: Response, etag: str) -> Response:
        response.headers["ETag"] = etag
        response.headers["Cache-Control"] = cache
        matches = request.headers.get("if-none-match", "")
        if etag in [m.strip() for m in matches.split(",")] or matches.strip() == "*":
            return Response(status_code=304, headers={"ETag": etag, "Cache-Control": cache})
        return response

    def guarded(handler: Callable[..., Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            # One model for the whole request, even across a reload: the one _Stamp named.
            served = request.scope.get(_SERVED) or holder.current
            try:
                return await handler(request, served)
            except _Refused as refused:
                return _error(refused.status, refused.error, refused.detail)
            except RelatednessError as exc:
                mapped = _library_error(exc)
                return _error(mapped.status, mapped.error, mapped.detail)
            except Exception as exc:  # noqa: BLE001 - never a traceback to the client
                logger.exception("unexpected error on %s %s", request.method, request.url.path)
                return _error(
                    500, "internal error", f"unexpected {type(exc).__name__}; see the server log"
                )

        return endpoint

    # Answers of GET /related by (model id, parameters). Only the event loop's thread touches
    # it, and a reload needs no purge: the old model's entries are never asked for again.
    answers: OrderedDict[tuple, tuple[bytes, str]] = OrderedDict()

    async def related(request: Request, served: Served) -> Response:
        _only(request, ("k", "exclude", "explain", "format"))
        k, explain, fmt = _k(request, max_k), _flag(request, "explain"), _format(request)
        article_id = _read_id(served, request.path_params["article_id"])
        exclude = [_read_id(served, e) for e in request.query_params.getlist("exclude")]
        key = (served.model_id, article_id, k, tuple(exclude), explain, fmt)
        hit = answers.get(key)
        if hit is not None:
            answers.move_to_end(key)
            body, media = hit
        else:
            lists = served.model.related(
                article_id, k=k, exclude=exclude or None, explain=explain
            )
            if fmt == "html":
                body, media = render_html(lists).encode("utf-8"), "text/html; charset=utf-8"
            else:
                document = {"id": article_id, "related": [r.to_dict() for r in lists]}
                body, media = _dumps(document), "application/json"
            if cache_size:
                answers[key] = (body, media)
                if len(answers) > cache_size:
                    answers.popitem(last=False)
        return cached(request, Response(body, media_type=media), f'"{served.model_id}"')

    async def related_to(request: Request, served: Served) -> Response:
        _only(request, ("k", "explain"))
        k, explain = _k(request, max_k), _flag(request, "explain")
        article = _article(await _body(request, max_body))
        lists = served.model.related_to(article, k=k, explain=explain)
        return _json({"related": [r.to_dict() for r in lists]})

    async def healthz(request: Request, served: Served) -> Response:
        _only(request, ())
        response = _json(served.health())
        response.headers["Cache-Control"] = "no-store"
        return response

    async def demo(request: Request, served: Served) -> Response:
        _only(request, ("id",))
        page = _demo_page(served, _one(request, "id"))
        response = Response(page, media_type="text/html; charset=utf-8")
        return cached(request, response, f'"{served.model_id}-{widget_etag[3:-1]}"')

    async def widget_js(request: Request, served: Served) -> Response:
        response = Response(widget, media_type="text/javascript; charset=utf-8")
        return cached(request, response, widget_etag)

    async def not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)  # the only class it is registered for
        what = {404: "not found", 405: "method not allowed"}.get(exc.status_code, "error")
        detail = (
            f"no endpoint {request.method} {request.url.path}; see GET /healthz, "
            "GET /related/{id}, POST /related, GET /widget.js"
            if exc.status_code in (404, 405)
            else exc.detail
        )
        return _error(exc.status_code, what, detail)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if reload_signal is not None:
            def on_signal() -> None:
                logger.info("signal %s: reloading the model", signal.Signals(reload_signal).name)
                # Loading and warming run in a thread: the loop keeps answering meanwhile.
                loop.run_in_executor(None, holder.reload)

            loop.add_signal_handler(reload_signal, on_signal)
        yield
        if reload_signal is not None:
            loop.remove_signal_handler(reload_signal)

    middleware = []
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Content-Type", "If-None-Match"],
                expose_headers=["ETag", "X-Relatedness-Model"],
                max_age=600,
            )
        )
    app = Starlette(
        routes=[
            Route("/related/{article_id:path}", guarded(related), methods=["GET"]),
            Route("/related", guarded(related_to), methods=["POST"]),
            Route("/healthz", guarded(healthz), methods=["GET"]),
            Route("/widget.js", guarded(widget_js), methods=["GET"]),
            Route("/", guarded(demo), methods=["GET"]),
        ],
        middleware=middleware,
        exception_handlers={HTTPException: not_found},
        lifespan=lifespan,
    )
    app.state.holder = holder
    app.add_middleware(_Stamp, holder=holder)  # outermost: every answer, errors included
    return app


class _Stamp:
    """Pure ASGI middleware: the ``X-Relatedness-Model`` header and one access-log line."""

    def __init__(self, app: Any, holder: ModelHolder) -> None:
        self.app, self.holder = app, holder

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        served = self.holder.current
        scope[_SERVED] = served
        model_id = served.model_id
        seen: dict[str, int] = {"status": 500, "bytes": 0}

        async def stamped(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"x-relatedness-model"]  # fmt: skip
                headers.append((b"x-relatedness-model", model_id.encode("ascii")))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                seen["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, stamped)
        finally:
            client = scope.get("client") or ("-", 0)
            query = scope.get("query_string", b"").decode("latin-1")
            access_log.info(
                '%s "%s %s%s" %d %dB %.1fms',
                client[0], scope["method"], scope["path"], f"?{query}" if query else "",
                seen["status"], seen["bytes"], (time.perf_counter() - started) * 1000,
            )  # fmt: skip
