"""Finds the worker's real stdout (the IPC channel) and writes to it."""
from __future__ import annotations

import fcntl
import json
import os
import stat
import struct
import uuid

from mocklib_plugin_sdk import Plugin, Request, Response, endpoint

# Which worker answered: os.getpid() is the same in every sandbox (its own pid namespace).
WORKER = uuid.uuid4().hex


def channel_fds() -> list[int]:
    """Write-only pipes other than stdout/stderr: the worker's saved channel."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= 2:
            continue
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
                found.append(fd)
        except OSError:
            continue
    return found


class TestPlugin(Plugin):
    @endpoint("GET", "/ok")
    def ok(self, request: Request) -> Response:
        return Response.json({"worker": WORKER, "channels": channel_fds()})

    @endpoint("GET", "/garbage")
    def garbage(self, request: Request) -> Response:
        for fd in channel_fds():
            os.write(fd, b"this is not a frame\n")
        return Response.json({"ok": True})

    @endpoint("GET", "/no-status")
    def no_status(self, request: Request) -> Response:
        body = json.dumps({"op": "result", "result": {"headers": {}, "body_b64": ""}}).encode()
        for fd in channel_fds():
            os.write(fd, struct.pack(">I", len(body)) + body)
        return Response.json({"ok": True})
