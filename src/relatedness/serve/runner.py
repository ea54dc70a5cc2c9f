"""``relatedness serve``: the app of :mod:`.app` under uvicorn, one process or several.

With ``workers=1`` the app runs in this process. With more, uvicorn's supervisor starts the
workers on one shared socket; each worker builds its own app (and maps the model files, so the
pages are shared) and installs its own SIGHUP handler; the supervisor here forwards a SIGHUP
it receives to every worker, so each reloads in place (and refuses a broken model in place).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Any

from ..exceptions import MissingDependencyError
from .app import create_app
from .state import load_checked

try:
    import uvicorn
except ImportError:  # pragma: no cover - the CLI's missing-dependency test covers it
    msg = "relatedness serve needs Starlette and uvicorn: pip install 'relatedness[serve]'"
    raise MissingDependencyError(msg) from None

__all__ = ["read_key", "serve", "worker_app"]

#: The options a worker process reads (JSON; the key itself never goes in it).
OPTIONS_ENV = "RELATEDNESS_SERVE_OPTIONS"
KEY_ENV = "RELATEDNESS_KEY"

logger = logging.getLogger("relatedness.serve")


def read_key(key_file: str | Path | None) -> bytes | None:
    """The signing secret: the file's bytes (without a final newline), else ``$RELATEDNESS_KEY``."""
    if key_file is not None:
        return Path(key_file).read_bytes().rstrip(b"\r\n")
    value = os.environ.get(KEY_ENV)
    return value.encode("utf-8") if value else None


#: Set when a SIGHUP reaches a worker before its app has installed its own handler.
_EARLY_RELOAD = threading.Event()


def _worker(common: dict[str, Any], sock: socket.socket) -> None:
    """One worker process: its own app (and SIGHUP handler) on the shared socket."""
    # Until the app's handler is in place, a SIGHUP (the default action ends the process) is
    # remembered, and worker_app reloads once its first model is up.
    signal.signal(signal.SIGHUP, lambda signum, frame: _EARLY_RELOAD.set())
    config = uvicorn.Config("relatedness.serve.runner:worker_app", factory=True, **common)
    uvicorn.Server(config).run(sockets=[sock])


def _supervise(common: dict[str, Any], sock: socket.socket, workers: int) -> None:
    """Start ``workers`` processes on ``sock``; forward SIGHUP to each, stop them on SIGINT/TERM.

    A worker that dies is started again. (uvicorn's own supervisor restarts every worker on
    SIGHUP, which would take the service down with a broken model instead of refusing it.)
    """
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def start() -> Any:
        process = context.Process(target=_worker, args=(common, sock), daemon=False)
        process.start()
        return process

    processes = [start() for _ in range(workers)]

    def forward(signum: int, frame: Any) -> None:
        logger.info("SIGHUP: asking %d workers to reload the model", len(processes))
        for process in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGHUP)

    def finish(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGHUP, forward)
    signal.signal(signal.SIGINT, finish)
    signal.signal(signal.SIGTERM, finish)
    try:
        while not stop.wait(0.5):
            for index, process in enumerate(processes):
                if not process.is_alive():
                    logger.error("worker %s exited (%s); starting another",
                                 process.pid, process.exitcode)  # fmt: skip
                    processes[index] = start()
    finally:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            process.join(30)
        sock.close()


def _app(options: dict[str, Any]) -> Any:
    return create_app(
        options["model"],
        key=read_key(options.get("key_file")),
        require_signature=options.get("require_signature", False),
        cors_origins=tuple(options.get("cors_origins", ())),
        reload_signal=signal.SIGHUP,
    )


def worker_app() -> Any:
    """The app of one worker process (uvicorn's factory), from ``$RELATEDNESS_SERVE_OPTIONS``."""
    _logging()
    app = _app(json.loads(os.environ[OPTIONS_ENV]))
    if _EARLY_RELOAD.is_set():
        app.state.holder.reload()
    return app


def _logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"
        )


def serve(
    model: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    key_file: str | Path | None = None,
    require_signature: bool = False,
    cors_origins: tuple[str, ...] = (),
) -> None:
    """Serve the model directory until SIGINT/SIGTERM; SIGHUP reloads it.

    The model is loaded, checked and warmed before the port opens; a model that fails is an
    error here (``ModelFormatError``), not a server answering 500s.
    """
    _logging()
    options = {
        "model": str(model),
        "key_file": None if key_file is None else str(key_file),
        "require_signature": require_signature,
        "cors_origins": list(cors_origins),
    }
    common: dict[str, Any] = {"host": host, "port": port, "access_log": False, "lifespan": "on",
              "log_config": None, "server_header": False}  # fmt: skip
    if workers <= 1:
        app = _app(options)
        logger.info(
            "serving %s (%s) on http://%s:%d", model, app.state.holder.current.model_id[:12],
            host, port,
        )  # fmt: skip
        uvicorn.Server(uvicorn.Config(app, **common)).run()
        return
    # Check the model once here, so a bad one is refused before any worker starts.
    checked = load_checked(model, key=read_key(key_file), require_signature=require_signature)
    logger.info("serving %s (%s) on http://%s:%d with %d workers", model,
                checked.model_id[:12], host, port, workers)  # fmt: skip
    del checked
    os.environ[OPTIONS_ENV] = json.dumps(options)
    sock = uvicorn.Config(worker_app, **common).bind_socket()
    _supervise(common, sock, workers)
