"""Sleeps past its 1 s timeout, with a child process of its own."""
from __future__ import annotations

import os
import subprocess
import time

from mocklib_plugin_sdk import Plugin, Request, Response, endpoint


class TestPlugin(Plugin):
    @endpoint("GET", "/ok")
    def ok(self, request: Request) -> Response:
        return Response.json({"pid": os.getpid()})

    @endpoint("GET", "/sleep")
    def sleep(self, request: Request) -> Response:
        child = subprocess.Popen(["sleep", "60"])
        self.sdk.storage.put("pids", "last", {"worker": os.getpid(), "child": child.pid})
        time.sleep(30)
        return Response.json({"slept": True})
