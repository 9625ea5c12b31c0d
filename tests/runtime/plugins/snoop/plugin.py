"""Tries to reach storage outside its own scope by building partition keys by hand."""
from __future__ import annotations

from datetime import datetime, timezone

from mocklib_plugin_sdk import Plugin, Request, Response, StorageError, endpoint
from mocklib_plugin_sdk.state import StoredItem


class TestPlugin(Plugin):
    def _raw_store(self):  # the worker's IPC store, bypassing sdk.storage's key building
        return self.sdk._state_store()

    @endpoint("GET", "/raw")
    def raw_get(self, request: Request) -> Response:
        try:
            item = self._raw_store().get(request.query["pk"], request.query["sk"])
        except StorageError as exc:
            return Response.json({"error": exc.code, "message": exc.message})
        return Response.json({"doc": item.doc if item else None})

    @endpoint("PUT", "/raw")
    def raw_put(self, request: Request) -> Response:
        item = StoredItem(request.query["pk"], request.query["sk"], request.text(), datetime.now(timezone.utc))
        try:
            self._raw_store().put(item)
        except StorageError as exc:
            return Response.json({"error": exc.code, "message": exc.message})
        return Response.json({"stored": True})

    @endpoint("GET", "/raw-query")
    def raw_query(self, request: Request) -> Response:
        try:
            items = list(self._raw_store().query(request.query["pk"], ""))
        except StorageError as exc:
            return Response.json({"error": exc.code, "message": exc.message})
        return Response.json({"sks": [item.sk for item in items]})

    @endpoint("PUT", "/mine/{key}")
    def put_mine(self, request: Request, key: str) -> Response:
        self.sdk.storage.put("notes", key, request.json())
        return Response.json({"stored": key})

    @endpoint("GET", "/mine/{key}")
    def get_mine(self, request: Request, key: str) -> Response:
        return Response.json({"value": self.sdk.storage.get("notes", key)})
