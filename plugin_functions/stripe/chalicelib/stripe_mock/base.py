"""Plumbing shared by every resource: routing, errors, idempotency, the object store, lists, expand, events."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from mocklib_plugin_sdk import (
    ConflictError,
    MethodNotAllowedError,
    NotFoundError,
    Plugin,
    PluginError,
    Request,
    Response,
    endpoint,
)

from .errors import StripeError, invalid, missing, request_log_url, unrecognized
from .params import check_unknown, to_int, to_str
from .resources import (
    API_VERSION,
    IDEMPOTENCY_TTL_S,
    IN_FLIGHT_TTL_S,
    PREFIX_TO_COLLECTION,
    RESOURCES,
    public,
)
from .search import compile_search
from .sequence import creation_seq, list_order
from .shapes import shaped
from .signing import stripe_signature


class StripeBase(Plugin):
    if TYPE_CHECKING:
        # Operations one resource module offers the others (the owner module implements them;
        # ``StripePlugin`` composes all mixins). Declared here so each mixin type-checks alone.
        def _resolve_payment_method(self, request: Request, pm_id: str, param: str) -> dict[str, Any]: ...
        def _update_intent_owner(self, request: Request, intent: dict[str, Any],
                                 params: Mapping[str, Any]) -> None: ...
        def _confirm(self, request: Request, intent: dict[str, Any], params: Mapping[str, Any]) -> Response: ...
        def _balance_transaction(self, request: Request, source: str, amount: int, currency: str, kind: str,
                                 description: str | None = None, available_on: int | None = None) -> str: ...
        def _charge_funds(self, request: Request, charge: dict[str, Any], amount: int) -> str: ...
        def _balance_totals(self) -> dict[str, dict[str, int]]: ...
        def _new_charge(self, request: Request, intent: dict[str, Any], pm: dict[str, Any], *, status: str,
                        captured: bool, failure: tuple[str, str, str] | None = None) -> dict[str, Any]: ...
        def _resolve_source(self, request: Request, source_id: str, param: str,
                            customer: dict[str, Any] | None = None) -> dict[str, Any]: ...
        def _card_payment(self, card: dict[str, Any]) -> dict[str, Any]: ...
        def _attach_card(self, request: Request, customer: dict[str, Any], source_id: str,
                         param: str) -> dict[str, Any]: ...
        def _new_discount(self, request: Request, params: Mapping[str, Any], *, customer: str | None = None,
                          subscription: str | None = None) -> dict[str, Any]: ...
        def _apply_discount(self, invoice: dict[str, Any], discount: dict[str, Any] | None) -> None: ...
        def _new_tax_id(self, request: Request, customer_id: str, params: Mapping[str, Any]) -> dict[str, Any]: ...
        @staticmethod
        def _add_interval(ts: int, interval: str, count: int) -> int: ...
        def _refunded_amount(self, charge: Mapping[str, Any]) -> int: ...
        def _create_price(self, request: Request, params: Mapping[str, Any], *,
                          price_id: str | None = None) -> dict[str, Any]: ...
        def _create_subscription(self, request: Request, params: Mapping[str, Any]) -> dict[str, Any]: ...
        def _default_pm(self, subscription: Mapping[str, Any]) -> str | None: ...
        def _set_sub_status(self, request: Request, subscription: dict[str, Any], status: str) -> None: ...
        def _finalize_invoice(self, request: Request, invoice: dict[str, Any]) -> dict[str, Any]: ...
        def _mark_invoice_paid(self, request: Request, invoice: dict[str, Any]) -> None: ...
        def _attempt_invoice(self, request: Request, invoice: dict[str, Any],
                             pm_id: str | None) -> StripeError | None: ...
        def _settle_invoice_intent(self, request: Request, intent: dict[str, Any]) -> None: ...
        def _end_period(self, request: Request, subscription: dict[str, Any]) -> None: ...
        def cancel_subscription(self, request: Request, sub_id: str) -> Response: ...
        def delete_customer(self, request: Request, customer_id: str) -> Response: ...
        def _customer_clock(self, params: Mapping[str, Any]) -> str | None: ...
        def _webhook_endpoints(self) -> list[dict[str, Any]]: ...

    # --- plumbing: routing, errors, idempotency --------------------------------------------------
    def handle_request(self, request: Request) -> Response:
        if request.path == "/v1" or request.path.startswith("/v1/"):
            request.path = request.path[3:] or "/"  # standalone serve mode: the SDK's /v1 reaches us
        request_id = request.request_id or self.sdk.generate_id("req_", 14)
        version = request.headers.get("stripe-version") or API_VERSION
        headers = {"Request-Id": request_id, "Stripe-Version": version}
        key = request.headers.get("idempotency-key") if request.method == "POST" else None
        try:
            if key:
                return self._idempotent(request, key, headers)
            response = self._dispatch(request)
        except StripeError as exc:
            response = self._error_response(request, exc, request_id)
        response.headers.update(headers)
        return response

    def _error_response(self, request: Request, exc: StripeError, request_id: str) -> Response:
        body = dict(exc.body)
        if "code" in body:
            body["request_log_url"] = request_log_url(request_id, self._livemode(request), self._timestamp())
        return Response.json({"error": body}, status=exc.status)

    def _literal_segments(self) -> frozenset[str]:
        """Every fixed path word of the routes (``search``, ``upcoming``, ``confirm``, ...)."""
        cached: frozenset[str] | None = type(self).__dict__.get("_mf_literals")
        if cached is None:
            cached = frozenset(s.literal for r in type(self).router().routes for s in r.pattern.segments
                               if s.literal is not None)
            type(self)._mf_literals = cached  # type: ignore[attr-defined]
        return cached

    def _check_route(self, request: Request) -> None:
        """Stripe's ids never collide with its path words, so ``GET /invoices/create_preview``
        (a POST-only route) is an unknown URL, not "No such invoice: 'create_preview'"."""
        match = type(self).router().resolve(request.method, request.path)
        if any(value in self._literal_segments() for value in match.params.values()):
            raise unrecognized(request.method, request.path)

    def _dispatch(self, request: Request) -> Response:
        try:
            self._check_route(request)
            return super().handle_request(request)
        except StripeError:
            raise
        except (NotFoundError, MethodNotAllowedError):
            raise unrecognized(request.method, request.path) from None
        except ConflictError as exc:
            raise StripeError(409, str(exc), type="api_error", code="lock_timeout") from None
        except PluginError as exc:
            if 400 <= exc.STATUS_CODE < 500:
                raise StripeError(400, exc.message) from None
            raise StripeError(500, "An unknown error occurred", type="api_error") from None

    def _fingerprint(self, request: Request) -> str:
        pairs = sorted(request.form_pairs()) if request.body else []
        return hashlib.sha256(json.dumps([request.path, pairs]).encode()).hexdigest()

    def _idempotent(self, request: Request, key: str, headers: dict[str, str]) -> Response:
        if len(key) > 255:
            raise invalid("Idempotency-Key must be at most 255 characters long.", code="idempotency_key_in_use")
        storage_key = hashlib.sha256(key.encode()).hexdigest()
        fingerprint = self._fingerprint(request)
        endpoint_name = f"POST /v1{request.path}"
        pending = {"state": "pending", "fingerprint": fingerprint, "endpoint": endpoint_name}
        try:
            self.sdk.storage.put("idempotency", storage_key, pending, ttl_seconds=IN_FLIGHT_TTL_S,
                                 if_absent=True)
        except ConflictError:
            saved = self.sdk.storage.get("idempotency", storage_key)
            if saved is None:
                raise StripeError(409, "Please retry the request.", type="api_error", code="lock_timeout") from None
            if saved["endpoint"] != endpoint_name:
                raise StripeError(400, "Keys for idempotent requests can only be used for the same endpoint they "
                                       f"were first used for ('{saved['endpoint']}' vs '{endpoint_name}'). Try "
                                       f"using a key other than '{key}' if you meant to execute a different "
                                       "request.", type="idempotency_error") from None
            if saved["fingerprint"] != fingerprint:
                raise StripeError(400, "Keys for idempotent requests can only be used with the same parameters "
                                       f"they were first used with. Try using a key other than '{key}' if you "
                                       "meant to execute a different request.", type="idempotency_error") from None
            if saved["state"] == "pending":
                raise StripeError(409, "There is currently another in-progress request using this Idempotent "
                                       "Key (that probably means you submitted twice, and the other request is "
                                       "still going through): " + key + ". Please try again later.",
                                  type="idempotency_error") from None
            replay = Response(saved["status"], saved["body"].encode("utf-8"),
                              {"Content-Type": "application/json"})
            replay.headers.update(headers)
            replay.headers["Request-Id"] = saved.get("request_id") or headers["Request-Id"]
            replay.headers["Idempotent-Replayed"] = "true"
            replay.headers["Original-Request"] = saved.get("request_id") or headers["Request-Id"]
            return replay
        try:
            response = self._dispatch(request)
        except StripeError as exc:
            response = self._error_response(request, exc, headers["Request-Id"])
        except Exception:
            self.sdk.storage.delete("idempotency", storage_key)
            raise
        if response.status_code >= 500 or response.status_code == 409:
            self.sdk.storage.delete("idempotency", storage_key)  # not saved: the caller may retry
        else:
            self.sdk.storage.put("idempotency", storage_key, {
                "state": "done", "fingerprint": fingerprint, "endpoint": endpoint_name,
                "status": response.status_code, "body": response.body.decode("utf-8"),
                "request_id": headers["Request-Id"]}, ttl_seconds=IDEMPOTENCY_TTL_S)
        response.headers.update(headers)
        response.headers["Idempotency-Key"] = key
        response.headers["Original-Request"] = headers["Request-Id"]
        return response

    # --- generic resource helpers --------------------------------------------------------------------
    def _livemode(self, request: Request) -> bool:
        return not request.sandbox

    def _timestamp(self, test_clock: str | None = None) -> int:
        """"Now" for every object of the store, in unix seconds. Objects that belong to a test clock
        pass its id: a clock module overrides ``_clock_time``; without one there is a single clock,
        the SDK's (deterministic under ``MF_PLUGIN_DETERMINISTIC``)."""
        if test_clock:
            frozen = self._clock_time(test_clock)
            if frozen is not None:
                return frozen
        return int(self.sdk.now().timestamp())

    def _clock_time(self, test_clock: str) -> int | None:
        """The frozen time of ``test_clock``; the seam the ``clocks`` module fills in."""
        return None

    def _new_object(self, request: Request, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        prefix, object_name, _url, _name = RESOURCES[kind]
        obj: dict[str, Any] = {"id": self.sdk.generate_id(prefix), "object": object_name}
        obj.update(fields)
        obj.setdefault("created", self._timestamp())
        obj["livemode"] = self._livemode(request)
        if kind != "events":
            obj.setdefault("metadata", {})
        return shaped(obj)

    def _next_number(self) -> int:
        """The user's next number (invoice numbers): a read and a write, so only where a number
        must count up by one; creation order is ``creation_seq``, which needs no storage."""
        counter = int(self.sdk.storage.get("counters", "seq", {"value": 0})["value"]) + 1
        self.sdk.storage.put("counters", "seq", {"value": counter})
        return counter

    def _save(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        if "_seq" not in obj:
            obj["_seq"] = creation_seq()
        self.sdk.storage.put(kind, obj["id"], obj)
        return obj

    def _load(self, kind: str, object_id: Any, param: str = "id") -> dict[str, Any]:
        obj = self.sdk.storage.get(kind, str(object_id)) if isinstance(object_id, str) and object_id else None
        if obj is None or obj.get("deleted"):
            raise missing(kind, str(object_id), param)
        return obj

    def _find(self, object_id: str) -> dict[str, Any] | None:
        for prefix, kind in PREFIX_TO_COLLECTION.items():
            if object_id.startswith(prefix):
                return self.sdk.storage.get(kind, object_id)
        return None

    def _params(self, request: Request) -> dict[str, Any]:
        if request.method in ("GET", "DELETE"):
            return request.query.nested()
        if request.body and request.content_type == "application/json":
            data = request.json()
            if not isinstance(data, dict):
                raise invalid("Request body must be an object")
            return data
        return request.form() if request.body else request.query.nested()

    @staticmethod
    def _expand_list(params: Mapping[str, Any]) -> list[str]:
        expand = params.get("expand", [])
        if isinstance(expand, str):
            return [expand]
        if isinstance(expand, dict):
            return [str(v) for v in expand.values()]
        return [str(v) for v in expand]

    def _expand(self, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        for path in paths:
            head, _, rest = path.partition(".")
            value = obj.get(head)
            if isinstance(value, str):
                target = self._find(value)
                if target is not None:
                    obj[head] = self._expand(public(target), [rest]) if rest else public(target)
            elif isinstance(value, dict) and rest:
                obj[head] = self._expand(value, [rest])
            elif isinstance(value, list) and rest:
                obj[head] = [self._expand(v, [rest]) if isinstance(v, dict) else v for v in value]
        return obj

    def _render(self, obj: dict[str, Any], params: Mapping[str, Any], status: int = 200) -> Response:
        return Response.json(self._expand(public(obj), self._expand_list(params)), status=status)

    def _list(self, request: Request, kind: str, params: Mapping[str, Any],
              predicate: Callable[[dict[str, Any]], bool] | None = None, url: str | None = None,
              filters: tuple[str, ...] = (),
              view: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Response:
        """A page of ``kind``; ``view`` answers each object in another shape (prices as plans)."""
        check_unknown(params, {"limit", "starting_after", "ending_before", "created", *filters})
        limit = to_int(params, "limit", minimum=1, maximum=100, default=10) or 10
        starting_after = to_str(params, "starting_after")
        ending_before = to_str(params, "ending_before")
        if starting_after and ending_before:
            raise invalid("You may only specify one of these parameters: ending_before, starting_after.",
                          "ending_before")
        created = params.get("created")
        items = [doc for doc in self.sdk.storage.query(kind, limit=None)
                 if not doc.get("deleted") and (predicate is None or predicate(doc))
                 and self._created_matches(doc, created)]
        items.sort(key=list_order, reverse=True)
        ids = [doc["id"] for doc in items]
        if starting_after:
            if starting_after not in ids:
                cursor = self.sdk.storage.get(kind, starting_after)
                if cursor is None:
                    raise missing(kind, starting_after, "starting_after")
                items = [d for d in items if list_order(d) < list_order(cursor)]
            else:
                items = items[ids.index(starting_after) + 1:]
            page, has_more = items[:limit], len(items) > limit
        elif ending_before:
            if ending_before not in ids:
                cursor = self.sdk.storage.get(kind, ending_before)
                if cursor is None:
                    raise missing(kind, ending_before, "ending_before")
                before = [d for d in items if list_order(d) > list_order(cursor)]
            else:
                before = items[:ids.index(ending_before)]
            page, has_more = before[-limit:], len(before) > limit
        else:
            page, has_more = items[:limit], len(items) > limit
        expand = [p[len("data."):] for p in self._expand_list(params) if p.startswith("data.")]
        return Response.json({
            "object": "list", "url": url or RESOURCES[kind][2], "has_more": has_more,
            "data": [self._expand((view or dict)(public(doc)), expand) for doc in page],
        })

    def _search(self, request: Request, kind: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"query", "limit", "page"})
        predicate = compile_search(kind, to_str(params, "query", required=True) or "")
        limit = to_int(params, "limit", minimum=1, maximum=100, default=10) or 10
        page = to_str(params, "page")
        offset = 0
        if page:
            if not page.startswith("page_") or not page[5:].isdigit():
                raise invalid(f"Invalid page: {page}", "page")
            offset = int(page[5:])
        items = [doc for doc in self.sdk.storage.query(kind, limit=None)
                 if not doc.get("deleted") and predicate(doc)]
        items.sort(key=list_order, reverse=True)
        chunk = items[offset:offset + limit]
        has_more = len(items) > offset + limit
        expand = [p[len("data."):] for p in self._expand_list(params) if p.startswith("data.")]
        body: dict[str, Any] = {
            "object": "search_result", "url": f"{RESOURCES[kind][2]}/search", "has_more": has_more,
            "next_page": f"page_{offset + limit}" if has_more else None,
            "data": [self._expand(public(doc), expand) for doc in chunk]}
        if "total_count" in self._expand_list(params):
            body["total_count"] = len(items)
        return Response.json(body)

    @staticmethod
    def _created_matches(doc: Mapping[str, Any], created: Any) -> bool:
        if created is None or created == "":
            return True
        value = int(doc.get("created", 0))
        checks = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
                  "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}
        try:
            if not isinstance(created, dict):
                return value == int(created)
            for op in created:
                if op not in checks:
                    raise invalid(f"Received unknown parameter: created[{op}]", f"created[{op}]", "parameter_unknown")
            return all(checks[op](value, int(bound)) for op, bound in created.items())
        except (TypeError, ValueError):
            raise invalid(f"Invalid integer: {created}", "created", "parameter_invalid_integer") from None

    def _emit(self, request: Request, event_type: str, obj: dict[str, Any],
              previous_attributes: dict[str, Any] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"object": public(obj)}
        if previous_attributes:
            data["previous_attributes"] = previous_attributes
        event = self._new_object(request, "events", {
            "type": event_type, "api_version": request.headers.get("stripe-version") or API_VERSION,
            "data": data, "pending_webhooks": 0,
            "request": {"id": request.request_id or None,
                        "idempotency_key": request.headers.get("idempotency-key")},
        })
        endpoints = [we for we in self._webhook_endpoints()
                     if not we.get("deleted") and we.get("status") == "enabled"
                     and ("*" in we.get("enabled_events", []) or event_type in we.get("enabled_events", []))]
        event["pending_webhooks"] = len(endpoints)
        self._save("events", event)
        if endpoints:
            body = json.dumps(public(event), indent=2)
            for we in endpoints:
                try:
                    self.sdk.webhooks.deliver(we["url"], body, {
                        "Content-Type": "application/json; charset=utf-8",
                        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                        # signed when sent: real time, also for the events of a test clock
                        "Stripe-Signature": stripe_signature(we["_secret"], body, int(self.sdk.now().timestamp()))})
                except PluginError:
                    pass  # e.g. an event over the outbox size limit: the API call itself still succeeds
        return event

    # --- idempotency, for tests --------------------------------------------------------------------------
    @endpoint("POST", "/test_helpers/idempotency_keys/expire")
    def expire_idempotency_keys(self, request: Request) -> Response:
        """Mock-only: what 24 hours do to idempotency keys (Stripe forgets them), now."""
        expired = self.sdk.storage.clear("idempotency")
        return Response.json({"object": "idempotency_keys", "expired": expired})
