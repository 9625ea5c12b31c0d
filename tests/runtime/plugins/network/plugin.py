"""Tries to open a TCP connection (plugins must have no network at all)."""
from __future__ import annotations

import socket

from mocklib_plugin_sdk import Plugin, Request, Response, endpoint


class TestPlugin(Plugin):
    @endpoint("GET", "/connect")
    def connect(self, request: Request) -> Response:
        host, port = request.query.get("host", "127.0.0.1"), int(request.query["port"])
        try:
            with socket.create_connection((host, port), timeout=2):
                return Response.json({"connected": True})
        except OSError as exc:
            return Response.json({"connected": False, "error": type(exc).__name__, "errno": exc.errno})
