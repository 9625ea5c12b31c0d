"""Dies in the middle of a request, in several ways."""
from __future__ import annotations

import os
import signal

from mocklib_plugin_sdk import Plugin, Request, Response, endpoint

MIB = 1024 * 1024


class TestPlugin(Plugin):
    @endpoint("GET", "/ok")
    def ok(self, request: Request) -> Response:
        return Response.json({"pid": os.getpid()})

    @endpoint("GET", "/exit")
    def exit(self, request: Request) -> Response:
        os._exit(1)

    @endpoint("GET", "/sigkill")
    def sigkill(self, request: Request) -> Response:
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")

    @endpoint("GET", "/sigkill-near-limit")
    def sigkill_near_limit(self, request: Request) -> Response:
        # What the kernel's OOM killer looks like from outside: a SIGKILL with
        # resident memory close to the limit (pages touched, not just reserved).
        ballast = b"\x01" * (int(request.query.get("mb", "72")) * MIB)
        os.kill(os.getpid(), signal.SIGKILL)
        return Response.json({"size": len(ballast)})
