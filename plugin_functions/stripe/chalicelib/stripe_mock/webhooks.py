"""Webhook endpoints (delivery happens in ``StripeBase._emit``)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .errors import invalid
from .params import check_unknown, merge_metadata, to_bool, to_str
from .resources import public


class WebhookEndpointsMixin(StripeBase):
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
        return self._render(hook, params)

    @endpoint("DELETE", "/webhook_endpoints/{we_id}")
    def delete_webhook_endpoint(self, request: Request, we_id: str) -> Response:
        hook = self._load("webhook_endpoints", we_id, "webhook_endpoint")
        self._save("webhook_endpoints", {"id": we_id, "object": "webhook_endpoint", "deleted": True,
                                         "_seq": hook["_seq"], "created": hook["created"]})
        return Response.json({"id": we_id, "object": "webhook_endpoint", "deleted": True})

    @endpoint("GET", "/webhook_endpoints")
    def list_webhook_endpoints(self, request: Request) -> Response:
        return self._list(request, "webhook_endpoints", self._params(request))
