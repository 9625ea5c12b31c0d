"""Allocates far past its 128 MB limit."""
from __future__ import annotations

import os
import uuid

from mocklib_plugin_sdk import Plugin, Request, Response, endpoint

# Which worker answered: os.getpid() is the same in every sandbox (its own pid namespace).
WORKER = uuid.uuid4().hex

MIB = 1024 * 1024


class TestPlugin(Plugin):
    @endpoint("GET", "/ok")
    def ok(self, request: Request) -> Response:
        return Response.json({"worker": WORKER})

    @endpoint("GET", "/hog")
    def hog(self, request: Request) -> Response:
        chunks = []
        for _ in range(256):  # up to 2 GB, 8 MB at a time, every page touched
            chunks.append(b"\x01" * (8 * MIB))
        return Response.json({"allocated_mb": 8 * len(chunks)})

    @endpoint("GET", "/shm")
    def shm(self, request: Request) -> Response:
        """Memory outside the address space: a file on tmpfs. 256 MiB, 8 MiB at a time."""
        written = 0
        try:
            with open("/dev/shm/hog", "wb") as handle:
                for _ in range(32):
                    handle.write(b"\x01" * (8 * MIB))
                    handle.flush()
                    written += 8 * MIB
        except OSError as exc:
            return Response.json({"written_mb": written // MIB, "error": exc.strerror})
        return Response.json({"written_mb": written // MIB, "error": None})
