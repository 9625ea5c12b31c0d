"""The frontend on the dev stack: a fresh build of ``frontend/src`` (config.json pointing at the
local API) served by a small static server on 127.0.0.1, with the content types and cache
headers the S3 deploy gives the same files (``frontend.assets``).

S3 website hosting is not emulated (moto serves objects, not index documents), so the dev
stack serves the build itself; ``/`` is index.html, everything else is a file of the build or
a 404. Only GET and HEAD; no directory listings; nothing outside the build folder.
"""
from __future__ import annotations

import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from frontend.assets import cache_control, content_type
from frontend.build import MARKER, BuildResult, build

HOST = "127.0.0.1"


class _Handler(BaseHTTPRequestHandler):
    server_version = "MockFactoryFrontend/1"
    protocol_version = "HTTP/1.1"  # keep-alive: every answer has a Content-Length
    root: Path  # set on the subclass the server builds
    log_file: Path | None

    def _resolve(self) -> Path | None:
        path = unquote(urlsplit(self.path).path)
        if path in ("", "/"):
            path = "/index.html"
        relative = path.lstrip("/")
        if not relative or any(part in ("", ".", "..") or part.startswith(".") for part in relative.split("/")):
            return None  # also hides the build marker and any dotfile
        target = (self.root / relative).resolve()
        if self.root not in target.parents or not target.is_file():
            return None
        return target

    def _send(self, head_only: bool) -> None:
        target = self._resolve()
        if target is None:
            body = b"not found\n"
            self.send_response(HTTPStatus.NOT_FOUND)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if not head_only:
                self.wfile.write(body)
            return
        data = target.read_bytes()
        name = target.relative_to(self.root).as_posix()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type(name))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", cache_control(name))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        if not head_only:
            self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._send(head_only=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._send(head_only=True)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        if self.log_file is not None:
            with open(self.log_file, "a", encoding="utf-8") as out:
                out.write(f"{self.address_string()} - [{self.log_date_time_string()}] {format % args}\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return  # a browser that navigated away
        super().handle_error(request, client_address)


class FrontendServer:
    """``FrontendServer(build_dir, port=0).start()``; ``.url``; ``.stop()``."""

    def __init__(self, root: Path, *, port: int = 0, host: str = HOST, log_file: Path | None = None) -> None:
        self.root = Path(root).resolve()
        self.host = host
        self.requested_port = port
        self.log_file = log_file
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FrontendServer:
        if self._server is not None:
            return self
        handler = type("FrontendHandler", (_Handler,), {"root": self.root, "log_file": self.log_file})
        self._server = _Server((self.host, self.requested_port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"frontend-server-{self.port}", daemon=True)
        self._thread.start()
        return self

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout)


def build_for_stack(state_dir: Path, api_url: str) -> BuildResult:
    """A fresh build in ``<state-dir>/frontend`` pointing at the local API."""
    out = Path(state_dir) / "frontend"
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise RuntimeError(f"{out} holds files the frontend build did not write; move them away")
    return build(out, api_url=api_url)
