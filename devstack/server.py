"""The Chalice app on chalice's own local server, in-process, in a background thread.

Same request path as ``chalice local`` (LocalGateway: routing, CORS, authorizers), bound to
127.0.0.1, threaded, and with Nagle's algorithm off: chalice's handler writes the status
line, the headers and the body in separate small writes, and with Nagle on a keep-alive
client waits for the delayed ACK on each response (~23 req/s).
"""
from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from chalice import Chalice
from chalice import local
from chalice.config import Config

from devstack import REPO_ROOT

HOST = "127.0.0.1"

# What the dev stack uses for every server it starts (the class default is False).
local.ChaliceRequestHandler.disable_nagle_algorithm = True


def build_config(app: Chalice, *, stage: str = "dev", project_dir: Path = REPO_ROOT) -> Config:
    """The Config ``chalice local --stage <stage>`` would build (``.chalice/config.json`` when
    present: per-stage lambda_timeout/memory feed the local Lambda context)."""
    config_file = Path(project_dir) / ".chalice" / "config.json"
    from_disk: dict[str, Any] = {}
    if config_file.is_file():
        from_disk = json.loads(config_file.read_text())
    return Config(chalice_stage=stage,
                  user_provided_params={"chalice_app": app, "project_dir": str(project_dir)},
                  config_from_disk=from_disk,
                  default_params={"app_name": app.app_name, "project_dir": str(project_dir),
                                  "api_gateway_stage": "api", "autogen_policy": True})


def _make_local(app: Chalice) -> None:
    """What ``chalice.local.create_local_server`` does to the app (thread-local
    ``current_request``), but safe to call for a second server in the same process."""
    if not isinstance(app, local.LocalChalice):
        local.CustomLocalChalice.__bases__ = (local.LocalChalice, app.__class__)
        app.__class__ = local.CustomLocalChalice


class _Server(local.ThreadedHTTPServer):
    """chalice's threaded server with a listen backlog for more than 5 clients at once."""

    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (reset, broken pipe) is normal; anything else is printed."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


NO_BODY_STATUSES = (204, 304)


class RequestHandler(local.ChaliceRequestHandler):
    """chalice's request handler, answering like the deployed API: every method reaches the
    app (a method a route lacks is its 405, not http.server's 501), a path no route matches
    is the API's 404 (API Gateway's Missing Authentication Token, mapped by the deployed
    template's gateway responses), no body follows a HEAD, a 204 or a 304, and the app's
    Content-Type is kept whatever its case."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # do_TRACE, do_PROPFIND, ...: http.server looks them up by name
            return self._generic_handle
        raise AttributeError(name)

    def _send_error_response(self, error: local.LocalGatewayException) -> None:
        if not isinstance(error, local.ForbiddenError):
            super()._send_error_response(error)
            return
        from chalicelib.http import error_body, new_request_id

        request_id = new_request_id()
        body = json.dumps(error_body("route_not_found", f"no route matches {self.command} "
                                                         f"{self.path.split('?')[0][:200]}", request_id))
        self._send_http_response(404, {"Content-Type": "application/json", "X-Request-Id": request_id},
                                 body.encode())

    def _send_http_response_with_body(self, code: int, headers: Any, body: str | bytes) -> None:
        if self.command == "HEAD" or code in NO_BODY_STATUSES:
            body = b""
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        content_type = None
        for name in [name for name in headers if name.lower() in ("content-type", "content-length")]:
            value = headers.pop(name)
            content_type = value if name.lower() == "content-type" else content_type
        self.send_response(code)
        if code != 204:  # RFC 9110: no Content-Length on a 204
            self.send_header("Content-Length", str(len(data)))
        if content_type or data or self.command == "HEAD":  # HEAD: the type a GET would have
            self.send_header("Content-Type", content_type or "application/json")  # API Gateway's default
        self._send_headers(headers)
        if data:
            self.wfile.write(data)


class ApiServer:
    """``with ApiServer(app, port=8000) as api: requests.get(api.url + "/health")``.

    ``port=0`` picks a free port. ``disable_nagle`` exists for the benchmark's baseline;
    leave it on. ``access_log`` prints chalice local's per-request line to stderr.
    """

    def __init__(self, app: Chalice, *, port: int = 0, host: str = HOST, stage: str = "dev",
                 project_dir: Path = REPO_ROOT, disable_nagle: bool = True,
                 access_log: bool = True) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.stage = stage
        self.project_dir = project_dir
        self.disable_nagle = disable_nagle
        self.access_log = access_log
        self._server: local.LocalDevServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ApiServer:
        if self._server is not None:
            return self
        from devstack.chalice_local import install as greedy_proxy_routes

        greedy_proxy_routes()  # {proxy+} matches like API Gateway (aws/chalice#2118)
        config = build_config(self.app, stage=self.stage, project_dir=self.project_dir)
        _make_local(self.app)
        attrs: dict[str, Any] = {"disable_nagle_algorithm": self.disable_nagle}
        if not self.access_log:
            attrs["log_message"] = lambda handler, *args: None
        handler_cls = type("ChaliceRequestHandler", (RequestHandler,), attrs)
        self._server = local.LocalDevServer(self.app, config, self.host, self.requested_port,
                                            handler_cls=handler_cls, server_cls=_Server)
        # serve_forever of the underlying HTTPServer (LocalDevServer's own prints a banner).
        self._thread = threading.Thread(target=self._server.server.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        name=f"api-server-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        if server is None:
            return
        server.server.shutdown()  # stops serve_forever (must not run on the serving thread)
        server.server.server_close()  # releases the port; keep-alive threads are daemons
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
