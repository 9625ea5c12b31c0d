"""Dies in the middle of a request, in several ways."""
from __future__ import annotations

import os
import signal
import uuid

from mocklib_plugin_sdk import Plugin, Request, Response, endpoint

# Which worker answered: os.getpid() is the same in every sandbox (its own pid namespace).
WORKER = uuid.uuid4().hex



class TestPlugin(Plugin):
    @endpoint("GET", "/ok")
    def ok(self, request: Request) -> Response:
        return Response.json({"worker": WORKER})

    @endpoint("GET", "/exit")
    def exit(self, request: Request) -> Response:
        os._exit(1)

    @endpoint("GET", "/sigkill")
    def sigkill(self, request: Request) -> Response:
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")
