"""A real uvicorn server on loopback for the service tests (tests/test_serve.py, test_widget.py).

In a thread for apps built in the test (:class:`LiveServer`), or as ``relatedness serve`` in a
subprocess for the signal tests (:class:`ServeProcess`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1] / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """``with LiveServer(app) as base:`` a uvicorn server for ``app`` on 127.0.0.1."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                msg = "the test server did not start"
                raise RuntimeError(msg)
            time.sleep(0.01)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


class ServeProcess:
    """``relatedness serve`` in a subprocess; its log lines are collected in :attr:`lines`."""

    def __init__(self, model: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        environment = {**os.environ, "PYTHONPATH": str(SRC), **(env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "relatedness.cli", "serve", "--model", str(model),
             "--port", str(self.port), *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environment,
        )  # fmt: skip
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate: Any, what: str, timeout: float = 120) -> None:
        """Wait until ``predicate()`` holds (a bound on a hung server, not a timing assert)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.process.poll() is not None:
                raise AssertionError(f"server exited ({self.process.returncode}) waiting for "
                                     f"{what}:\n" + "\n".join(self.lines))  # fmt: skip
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}:\n" + "\n".join(self.lines))
            time.sleep(0.05)

    def logged(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))

    def wait_ready(self) -> None:
        import httpx

        def up() -> bool:
            try:
                return httpx.get(self.base + "/healthz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        self.wait_for(up, "the server to answer /healthz")

    def hup(self) -> None:
        self.process.send_signal(signal.SIGHUP)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)
