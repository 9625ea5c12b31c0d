"""Standalone ``serve`` mode: the plugin as a plain HTTP server on 127.0.0.1.

There is no gateway here, so this module plays its part in-process: it turns
HTTP requests into protocol events (same ``PluginHost.invoke`` path as
Lambda), identifies the caller from the credential, and delivers the outbox
with a background deliverer that signs, retries and keeps a log.
"""
from __future__ import annotations

import base64
import hashlib
import heapq
import itertools
import json
import logging
import re
import secrets
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .host import PluginHost
from .manifest import PluginManifest
from .plugin import Plugin
from .protocol import decode_result, make_request_event
from .settings import SdkSettings
from .signing import SIGNATURE_HEADER, sign
from .state import DynamoDBStateStore, InMemoryStateStore, StateStore

log = logging.getLogger("mocklib_plugin_sdk.serve")

DEFAULT_RETRY_DELAYS = (0.0, 1.0, 2.0, 4.0, 8.0)
LOCAL_USER = "local"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-connection"}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


# -- webhook delivery ----------------------------------------------------------------


@dataclass
class Delivery:
    id: str
    kind: str
    url: str | None
    headers: dict[str, str]
    body: bytes
    event_type: str | None = None
    secret: str | None = None
    state: str = "pending"
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def as_log(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "url": self.url, "event_type": self.event_type,
                "state": self.state, "attempts": [dict(a) for a in self.attempts]}


class WebhookDeliverer:
    """One background thread with a due-time heap, so a slow retry never
    blocks other deliveries and nothing sleeps while holding a lock."""

    def __init__(self, retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS, timeout_s: float = 10.0) -> None:
        if not retry_delays:
            raise ValueError("retry_delays needs at least one entry (the first attempt)")
        self.retry_delays = tuple(retry_delays)
        self.timeout_s = timeout_s
        self._heap: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._log: list[Delivery] = []
        self._in_flight = 0
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="mf-webhook-deliverer", daemon=True)
        self._thread.start()

    def submit(self, delivery: Delivery) -> None:
        with self._cond:
            self._log.append(delivery)
            if delivery.url is None:
                delivery.state = "skipped"
                delivery.attempts.append({"at": time.time(), "error": "no webhook endpoint configured"})
                self._cond.notify_all()
                return
            heapq.heappush(self._heap, (time.monotonic() + self.retry_delays[0], next(self._seq), delivery))
            self._cond.notify_all()

    def deliveries(self) -> list[dict[str, Any]]:
        with self._cond:
            return [d.as_log() for d in self._log]

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every delivery reached a final state (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._stopped:
                    return
                _, _, delivery = heapq.heappop(self._heap)
                self._in_flight += 1
            try:
                attempt = self._attempt(delivery)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    delivery.attempts.append(attempt)
                    if attempt.get("ok"):
                        delivery.state = "delivered"
                    elif len(delivery.attempts) < len(self.retry_delays):
                        due = time.monotonic() + self.retry_delays[len(delivery.attempts)]
                        heapq.heappush(self._heap, (due, next(self._seq), delivery))
                    else:
                        delivery.state = "failed"
                    self._cond.notify_all()

    def _attempt(self, delivery: Delivery) -> dict[str, Any]:
        assert delivery.url is not None
        headers = dict(delivery.headers)
        if delivery.secret is not None:
            # Re-signed per attempt so the timestamp stays within the receiver's tolerance.
            headers[SIGNATURE_HEADER] = sign(delivery.secret, delivery.body)
        request = urllib.request.Request(delivery.url, data=delivery.body, headers=headers, method="POST")
        # Never send loopback deliveries through an HTTP(S)_PROXY from the environment.
        opener = (urllib.request.build_opener(urllib.request.ProxyHandler({}))
                  if urlsplit(delivery.url).hostname in _LOOPBACK else urllib.request.build_opener())
        started = time.time()
        try:
            with opener.open(request, timeout=self.timeout_s) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            return {"at": started, "ok": False, "error": str(getattr(exc, "reason", exc))}
        return {"at": started, "ok": 200 <= status < 300, "status": status}


# -- the caller, as the gateway would resolve it -------------------------------------


def extract_credential(headers: Mapping[str, str], manifest: PluginManifest) -> tuple[str | None, str | None]:
    """``(credential, carrier header)`` from the carriers vendor SDKs use."""
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() in ("bearer", "token") and value:
        return value, "authorization"
    if scheme.lower() == "basic" and value:
        try:
            user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            user, password = "", ""
        if password or user:
            # Stripe's SDK sends the key as the Basic *user*, others as the password.
            return password or user, "authorization"
    if headers.get("x-api-key"):
        return headers["x-api-key"], "x-api-key"
    if manifest.auth_header and headers.get(manifest.auth_header.lower()):
        return headers[manifest.auth_header.lower()], manifest.auth_header.lower()
    return None, None


def user_for_credential(credential: str) -> str:
    # A hash, not the key itself: the id ends up in storage keys and logs.
    return "key_" + hashlib.sha256(credential.encode("utf-8")).hexdigest()[:20]


# -- the HTTP server -----------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # keep-alive clients otherwise stall ~40 ms per call
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s - %s", self.address_string(), format % args)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() in _HOP_BY_HOP or name.lower() == "content-length":
                continue
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _handle(self) -> None:
        body = self._read_body()
        raw_path, _, raw_query = self.path.partition("?")
        app = self.server.plugin_server
        if raw_path.startswith("/_mf/") and self.command == "GET":
            internal = app.internal(raw_path)
            if internal is not None:
                self._send(200, {"Content-Type": "application/json"}, json.dumps(internal).encode("utf-8"))
                return
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            if key in headers:
                headers[key] += ("; " if key == "cookie" else ", ") + value
            else:
                headers[key] = value
        status, out_headers, out_body = app.handle(self.command, raw_path, raw_query, headers, body)
        self._send(status, out_headers, out_body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    plugin_server: PluginServer


class PluginServer:
    """A running serve-mode server. Use as a context manager, or ``start``/``stop``."""

    def __init__(self, plugin_class: type[Plugin], manifest: PluginManifest | Mapping[str, Any] | str, *,
                 port: int = 0, host: str = "127.0.0.1", store: StateStore | None = None,
                 settings: SdkSettings | None = None, config: Mapping[str, Any] | None = None,
                 licence: Mapping[str, Any] | None = None, webhook_url: str | None = None,
                 webhook_secret: str | None = None, user_id: str = LOCAL_USER,
                 retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS) -> None:
        self.manifest = PluginManifest.load(manifest)
        self.settings = settings if settings is not None else SdkSettings.from_env()
        self.host = PluginHost(plugin_class, self.manifest, settings=self.settings,
                               store=store if store is not None else self._default_store,
                               log_stream=sys.stderr)
        self.config = dict(config) if config is not None else dict(self.manifest.config_default)
        self.licence = dict(licence) if licence is not None else None
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret or "whsec_" + secrets.token_hex(16)
        self.local_user = user_id
        self.deliverer = WebhookDeliverer(retry_delays)
        self._prefix = re.compile(rf"^/plugins/{re.escape(self.manifest.name)}/v\d+(?=/|$)")
        self._httpd = _Server((host, port), _Handler)
        self._httpd.plugin_server = self
        self._thread: threading.Thread | None = None

    def _default_store(self) -> StateStore:
        if not self.settings.state_table:
            return InMemoryStateStore()
        store = DynamoDBStateStore.from_settings(self.settings)
        if self.settings.dynamodb_endpoint:
            store.create_table()  # local DynamoDB: make the stack self-starting
        return store

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def internal(self, path: str) -> Any:
        if path == "/_mf/health":
            return {"plugin": self.manifest.name, "version": self.manifest.version, "healthy": self.host.health()}
        if path == "/_mf/deliveries":
            return {"deliveries": self.deliverer.deliveries()}
        return None

    def handle(self, method: str, raw_path: str, raw_query: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes]:
        path = self._prefix.sub("", raw_path) or "/"
        query: dict[str, list[str]] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            query.setdefault(key, []).append(value)
        credential, carrier = extract_credential(headers, self.manifest)
        if carrier is not None:
            headers = {k: v for k, v in headers.items() if k != carrier}
        headers = {k: v for k, v in headers.items() if k not in _HOP_BY_HOP}
        user_id = user_for_credential(credential) if credential else self.local_user
        sandbox = bool(credential and credential.startswith("mf_test_"))
        event = make_request_event(
            method, path, plugin=self.manifest.name, version=self.manifest.version, user_id=user_id,
            query=query, headers=headers, body=body, request_id="req_" + secrets.token_hex(12),
            sandbox=sandbox, config=self.config, licence=self.licence,
            deadline_ms=int(time.time() * 1000) + self.manifest.timeout_seconds * 1000,
            authenticated=credential is not None)
        result = decode_result(self.host.invoke(event))
        for entry in result.webhooks:
            self._enqueue(entry, sandbox)
        return result.status, result.headers, result.body

    def _enqueue(self, entry: Mapping[str, Any], sandbox: bool) -> None:
        delivery_id = "whevt_" + secrets.token_hex(12)
        if entry.get("kind") == "event":
            body = json.dumps({"id": delivery_id, "type": entry["event_type"], "created": int(time.time()),
                               "plugin": self.manifest.name, "livemode": not sandbox,
                               "data": entry.get("payload")}, separators=(",", ":")).encode("utf-8")
            headers = {"Content-Type": "application/json", "User-Agent": "MockFactory-Webhooks/1",
                       "X-MockFactory-Event": str(entry["event_type"]), "X-MockFactory-Delivery": delivery_id}
            self.deliverer.submit(Delivery(delivery_id, "event", self.webhook_url, headers, body,
                                           event_type=str(entry["event_type"]), secret=self.webhook_secret))
        elif entry.get("kind") == "raw":
            body = base64.b64decode(entry.get("body_b64") or "")
            self.deliverer.submit(Delivery(delivery_id, "raw", str(entry["url"]), dict(entry.get("headers") or {}),
                                           body))
        else:
            log.warning("ignoring unknown webhook entry kind %r", entry.get("kind"))

    def start(self) -> PluginServer:
        # A short poll interval keeps stop() quick (shutdown waits for one poll).
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="mf-plugin-serve", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()  # only safe while serve_forever runs, else it waits forever
            self._thread.join(timeout=5)
            self._thread = None
        self.release()

    def release(self) -> None:
        """Close the socket, stop the deliverer and call the plugin's ``cleanup``."""
        self._httpd.server_close()
        self.deliverer.stop()
        self.host.close()

    def __enter__(self) -> PluginServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(plugin_class: type[Plugin], manifest: PluginManifest | Mapping[str, Any] | str, port: int = 8080, *,
          block: bool = True, **options: Any) -> PluginServer:
    """Serve a plugin on 127.0.0.1:``port``. Blocks unless ``block=False``,
    in which case the started server is returned (call ``stop()``)."""
    server = PluginServer(plugin_class, manifest, port=port, **options)
    if not block:
        return server.start()
    try:
        server.serve_forever()
    finally:
        server.release()
    return server
