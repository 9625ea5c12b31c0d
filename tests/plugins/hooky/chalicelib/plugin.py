from __future__ import annotations

from mocklib_plugin_sdk import Plugin, Request, Response, endpoint


class HookyPlugin(Plugin):
    @endpoint("POST", "/things")
    def create(self, request: Request) -> Response:
        thing = request.json()
        self.sdk.webhooks.send("thing.created", thing)
        if thing.get("raw_to"):
            self.sdk.webhooks.deliver(thing["raw_to"], b'{"vendor": "format"}',
                                      {"Content-Type": "application/json", "Vendor-Signature": "v=1"})
        return Response.json(thing, status=201)

    def on_installed(self, event) -> None:
        self.sdk.webhooks.send("hooky.installed", {"user": "welcome"})
