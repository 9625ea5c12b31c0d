"""Echo: answers with what it received, and counts calls per user.

The smallest useful plugin, used to check clients, the gateway's byte-exact
proxying and per-user state isolation end to end.
"""
from __future__ import annotations

import base64
from typing import Any

from mocklib_plugin_sdk import Plugin, Request, Response, endpoint

COUNTERS = "counters"
COUNTER_KEY = "echo"


class EchoPlugin(Plugin):
    def _count(self) -> int:
        # get-then-put is not atomic; good enough for a debug counter, and it
        # keeps the example to the storage API every plugin has.
        calls = int(self.sdk.storage.get(COUNTERS, COUNTER_KEY, {"calls": 0})["calls"]) + 1
        self.sdk.storage.put(COUNTERS, COUNTER_KEY, {"calls": calls})
        return calls

    def _echo(self, request: Request) -> Response:
        calls = self._count()
        try:
            text: Any = request.body.decode("utf-8")
        except UnicodeDecodeError:
            text = None  # binary: only the base64 form is meaningful
        self.sdk.logger.info("echo", method=request.method, path=request.path, calls=calls)
        return Response.json({
            "method": request.method,
            "path": request.path,
            "query": request.query.to_dict(),
            "headers": dict(request.headers),
            "body": text,
            "body_b64": base64.b64encode(request.body).decode("ascii"),
            "sandbox": request.sandbox,
            "calls": calls,
        })

    @endpoint("GET", "/echo")
    @endpoint("POST", "/echo")
    @endpoint("PUT", "/echo")
    @endpoint("PATCH", "/echo")
    @endpoint("DELETE", "/echo")
    def echo(self, request: Request) -> Response:
        return self._echo(request)

    @endpoint("GET", "/echo/{rest+}")
    @endpoint("POST", "/echo/{rest+}")
    def echo_sub_path(self, request: Request, rest: str) -> Response:
        return self._echo(request)

    @endpoint("GET", "/licence")
    def licence(self, request: Request) -> Response:
        """The caller's licence as the plugin sees it; ``?feature=x`` asks whether it has feature x."""
        wanted = request.query.get("feature")
        return Response.json({"tier": self.sdk.licence.tier, "features": sorted(self.sdk.licence.features),
                              "has_feature": self.sdk.licence.has_feature(wanted) if wanted else None})

    @endpoint("GET", "/counter")
    def counter(self, request: Request) -> Response:
        return Response.json(self.sdk.storage.get(COUNTERS, COUNTER_KEY, {"calls": 0}))

    @endpoint("DELETE", "/counter")
    def reset_counter(self, request: Request) -> Response:
        self.sdk.storage.delete(COUNTERS, COUNTER_KEY)
        return Response.json({"calls": 0})
