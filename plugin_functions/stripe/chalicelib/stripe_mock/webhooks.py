"""Webhook endpoints, and the index of them events read (delivery happens in ``StripeBase._emit``).

Every event needs the user's endpoints. A query for them costs more than a get, so an index
item holds what delivery needs of each live endpoint, and events read it with one get. It is
never stale once a change has answered: a change (create, update, delete) stores its endpoint,
then rebuilds the index from a query, with writes that go out at once (a delete, then a
conditional put), and checks with a second query that no other change slipped in between;
if one did, it rebuilds again. A put of a stale index can only succeed where the index was
deleted, i.e. while a change is still rebuilding it, and that change then rebuilds it again.
Without an index (a user who never made an endpoint, an older store, a change that failed
midway) events query, and store what they found the same conditional way; endpoints too many
for one item get an index that says so, and events query.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from mocklib_plugin_sdk import ConflictError, Request, Response, endpoint

from .base import StripeBase
from .errors import invalid
from .params import check_unknown, merge_metadata, to_bool, to_str
from .resources import public

INDEX = ("webhook_index", "endpoints")  # (collection, key) of the index item
INDEXED = ("id", "url", "enabled_events", "status", "_secret")  # what delivery needs
MAX_INDEX_CHARS = 300_000  # the SDK stores documents up to 350 KB


class WebhookEndpointsMixin(StripeBase):
    # --- the index events read -------------------------------------------------------------------------
    def _webhook_endpoints(self) -> list[dict[str, Any]]:
        """The user's live webhook endpoints (the fields delivery needs), for an event."""
        index = self.sdk.storage.get(*INDEX)
        if index is not None and index.get("endpoints") is not None:
            return list(index["endpoints"])
        found = self._indexable_endpoints()
        if index is None:
            self._store_index(found)
        return found

    def _indexable_endpoints(self) -> list[dict[str, Any]]:
        # The query also sends this invocation's waiting writes first, so it sees its own endpoint.
        return [{k: we.get(k) for k in INDEXED} for we in self.sdk.storage.query("webhook_endpoints", limit=None)
                if not we.get("deleted")]

    def _store_index(self, endpoints: list[dict[str, Any]]) -> bool:
        """Put the index where there is none (False if one is there). Endpoints too many for one
        item get an index that says so (events then query), which still keeps stale puts out."""
        fits = len(json.dumps(endpoints)) <= MAX_INDEX_CHARS
        try:
            self.sdk.storage.put(*INDEX, {"endpoints": endpoints if fits else None}, if_absent=True)
            return True
        except ConflictError:
            return False

    def _reindex_webhook_endpoints(self) -> None:
        """After a change to an endpoint: rebuild the index until it matches what is stored."""
        for _ in range(20):
            found = self._indexable_endpoints()
            self.sdk.storage.delete(*INDEX)
            if self._store_index(found) and self._indexable_endpoints() == found:
                return
        raise ConflictError("webhook endpoints are being changed concurrently")  # 409: the client retries

    # --- webhook endpoints ---------------------------------------------------------------------------------
    def _webhook_fields(self, params: Mapping[str, Any], endpoint_obj: dict[str, Any]) -> None:
        if "url" in params:
            url = to_str(params, "url", required=True) or ""
            if not re.match(r"^https?://[^\s/]+", url):
                raise invalid(f"Invalid URL: {url}", "url", "url_invalid")
            endpoint_obj["url"] = url
        if "enabled_events" in params:
            events = params["enabled_events"]
            if isinstance(events, dict):
                events = list(events.values())
            if isinstance(events, str):
                events = [events]
            if not events or not all(isinstance(e, str) and e for e in events):
                raise invalid("Invalid array", "enabled_events")
            for event in events:
                if event != "*" and not re.match(r"^[a-z_]+(\.[a-z_]+)+$", event):
                    raise invalid(f"Invalid enabled_events: {event}", "enabled_events")
            endpoint_obj["enabled_events"] = list(events)
        if "description" in params:
            endpoint_obj["description"] = to_str(params, "description")
        if "disabled" in params:
            endpoint_obj["status"] = "disabled" if to_bool(params, "disabled") else "enabled"
        endpoint_obj["metadata"] = merge_metadata(endpoint_obj.get("metadata"), params.get("metadata"))

    @endpoint("POST", "/webhook_endpoints")
    def create_webhook_endpoint(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, {"url", "enabled_events", "description", "metadata", "api_version", "connect"})
        to_str(params, "url", required=True)
        if not params.get("enabled_events"):
            raise invalid("Missing required param: enabled_events.", "enabled_events", "parameter_missing")
        secret = "whsec_" + self.sdk.random_string(32, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        hook = self._new_object(request, "webhook_endpoints", {
            "api_version": to_str(params, "api_version"), "application": None, "description": None,
            "enabled_events": [], "status": "enabled", "url": None, "_secret": secret,
        })
        self._webhook_fields(params, hook)
        self._save("webhook_endpoints", hook)
        self._reindex_webhook_endpoints()
        body = self._expand(public(hook), self._expand_list(params))
        body["secret"] = secret  # as Stripe: only in the create response
        return Response.json(body)

    @endpoint("GET", "/webhook_endpoints/{we_id}")
    def retrieve_webhook_endpoint(self, request: Request, we_id: str) -> Response:
        return self._render(self._load("webhook_endpoints", we_id, "webhook_endpoint"), self._params(request))

    @endpoint("POST", "/webhook_endpoints/{we_id}")
    def update_webhook_endpoint(self, request: Request, we_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"url", "enabled_events", "description", "metadata", "disabled"})
        hook = self._load("webhook_endpoints", we_id, "webhook_endpoint")
        self._webhook_fields(params, hook)
        self._save("webhook_endpoints", hook)
        self._reindex_webhook_endpoints()
        return self._render(hook, params)

    @endpoint("DELETE", "/webhook_endpoints/{we_id}")
    def delete_webhook_endpoint(self, request: Request, we_id: str) -> Response:
        hook = self._load("webhook_endpoints", we_id, "webhook_endpoint")
        self._save("webhook_endpoints", {"id": we_id, "object": "webhook_endpoint", "deleted": True,
                                         "_seq": hook["_seq"], "created": hook["created"]})
        self._reindex_webhook_endpoints()
        return Response.json({"id": we_id, "object": "webhook_endpoint", "deleted": True})

    @endpoint("GET", "/webhook_endpoints")
    def list_webhook_endpoints(self, request: Request) -> Response:
        return self._list(request, "webhook_endpoints", self._params(request))
