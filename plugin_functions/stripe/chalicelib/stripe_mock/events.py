"""Events (recorded by ``StripeBase._emit``)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .params import to_str


class EventsMixin(StripeBase):

    @endpoint("GET", "/events/{event_id}")
    def retrieve_event(self, request: Request, event_id: str) -> Response:
        return self._render(self._load("events", event_id, "id"), self._params(request))

    @endpoint("GET", "/events")
    def list_events(self, request: Request) -> Response:
        params = self._params(request)
        kind = to_str(params, "type")
        types = params.get("types")
        wanted = set(types if isinstance(types, list) else [types]) if types else None

        def matches(event: Mapping[str, Any]) -> bool:
            if kind:
                if kind.endswith(".*"):
                    if not event["type"].startswith(kind[:-1]):
                        return False
                elif event["type"] != kind:
                    return False
            return wanted is None or event["type"] in wanted

        return self._list(request, "events", params, matches,
                          filters=("type", "types", "delivery_success"))
