"""A well-behaved plugin: echoes, reports its process, uses storage the normal way."""
from __future__ import annotations

import os
import resource
import sys
import time
import uuid

from mocklib_plugin_sdk import NotFoundError, Plugin, Request, Response, endpoint

# Which worker answered: os.getpid() is the same in every sandbox (its own pid namespace).
WORKER = uuid.uuid4().hex


class TestPlugin(Plugin):
    @endpoint("GET", "/echo")
    @endpoint("POST", "/echo")
    def echo(self, request: Request) -> Response:
        delay = float(request.query.get("sleep", "0"))
        if delay:
            time.sleep(delay)
        return Response.json({"worker": WORKER, "method": request.method, "body": request.body.decode(),
                              "user_id": request.user_id, "sandbox": request.sandbox})

    @endpoint("GET", "/big")
    def big(self, request: Request) -> Response:
        return Response(200, b"x" * int(float(request.query["mb"]) * 1024 * 1024))

    @endpoint("GET", "/process")
    def process(self, request: Request) -> Response:
        print("a plugin print must not corrupt the channel")  # goes to stderr
        sys.stdout.flush()
        os.write(1, b"nor a raw write to fd 1\n")
        return Response.json({
            "worker": WORKER, "sid": os.getsid(0), "pgid": os.getpgid(0), "uid": os.getuid(),
            "rlimit_as": resource.getrlimit(resource.RLIMIT_AS)[0],
            "env": dict(os.environ),
            "gateway_modules": sorted(name for name in sys.modules if name.split(".")[0] == "chalicelib"),
        })

    @endpoint("PUT", "/items/{key}")
    def put_item(self, request: Request, key: str) -> Response:
        self.sdk.storage.put("items", key, request.json())
        return Response.json({"stored": key})

    @endpoint("GET", "/items/{key}")
    def get_item(self, request: Request, key: str) -> Response:
        value = self.sdk.storage.get("items", key)
        if value is None:
            raise NotFoundError(f"no item {key}")
        return Response.json(value)

    @endpoint("GET", "/items")
    def list_items(self, request: Request) -> Response:
        return Response.json(self.sdk.storage.items("items", limit=None))
