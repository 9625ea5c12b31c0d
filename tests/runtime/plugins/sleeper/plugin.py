"""Sleeps past its 1 s timeout, with a child process of its own."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

from mocklib_plugin_sdk import Plugin, Request, Response, endpoint

# Which worker answered: os.getpid() is the same in every sandbox (its own pid namespace).
WORKER = uuid.uuid4().hex


class TestPlugin(Plugin):
    @endpoint("GET", "/ok")
    def ok(self, request: Request) -> Response:
        return Response.json({"worker": WORKER})

    @endpoint("GET", "/sleep")
    def sleep(self, request: Request) -> Response:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        # Conditional, so it reaches the store now (an invocation's plain writes wait for its end).
        self.sdk.storage.put("pids", "last", {"worker": WORKER, "child": child.pid}, if_absent=True)
        time.sleep(30)
        return Response.json({"slept": True})
