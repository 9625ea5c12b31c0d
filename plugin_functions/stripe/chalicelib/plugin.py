"""Stripe: a stateful mock of Stripe's v1 API that the official ``stripe`` library talks to.

Point the SDK at the gateway with ``stripe.api_base = <api_url> + "/plugins/stripe"``:
the SDK's own ``/v1`` prefix is the marketplace major segment, so this plugin sees
``/customers``, ``/payment_intents/...``. Standalone (``serve`` mode) the plugin
sees ``/v1/...`` and strips the prefix itself, so both setups work.

Core covered here: customers, payment methods (test tokens and test card
numbers), payment intents (manual/automatic capture, 3-D Secure, declines),
setup intents, charges, refunds, balance and balance transactions, events,
Connect accounts / account links / transfers / reversals, products, prices, subscriptions
(plan changes with proration, cancel at period end and resume), invoices and invoice items,
Checkout Sessions (payment, subscription and setup mode), disputes, webhook endpoints with
Stripe-signed delivery (``Stripe-Signature``) through ``sdk.webhooks.deliver``, search, Stripe list pagination, ``expand``, idempotency keys and Stripe's error
shape.

Layout, so later resources slot in: every resource is a storage collection
named in ``RESOURCES`` (prefix + object name + list URL), objects are built with
``_new_object``, stored with ``_save`` (which keeps a per-user sequence number
for newest-first lists), listed with ``_list`` (pagination + filters + expand)
and announced with ``_emit`` (an Event object, delivered to matching webhook endpoints).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, cast

from mocklib_plugin_sdk import (ConflictError, MethodNotAllowedError, NotFoundError, Plugin,
                                PluginError, Request, Response, endpoint)

API_VERSION = "2025-09-30.clover"
IDEMPOTENCY_TTL_S = 24 * 3600
IN_FLIGHT_TTL_S = 60
INTERNAL_PREFIX = "_"  # stored-only fields (sequence numbers); never sent to clients

# collection -> (id prefix, object name, list url, human name for "No such ..." messages)
RESOURCES: dict[str, tuple[str, str, str, str]] = {
    "customers": ("cus_", "customer", "/v1/customers", "customer"),
    "payment_methods": ("pm_", "payment_method", "/v1/payment_methods", "PaymentMethod"),
    "payment_intents": ("pi_", "payment_intent", "/v1/payment_intents", "payment_intent"),
    "charges": ("ch_", "charge", "/v1/charges", "charge"),
    "refunds": ("re_", "refund", "/v1/refunds", "refund"),
    "events": ("evt_", "event", "/v1/events", "event"),
    "setup_intents": ("seti_", "setup_intent", "/v1/setup_intents", "setup_intent"),
    "balance_transactions": ("txn_", "balance_transaction", "/v1/balance_transactions", "balance transaction"),
    "accounts": ("acct_", "account", "/v1/accounts", "account"),
    "transfers": ("tr_", "transfer", "/v1/transfers", "transfer"),
    "transfer_reversals": ("trr_", "transfer_reversal", "/v1/transfers", "transfer reversal"),
    "webhook_endpoints": ("we_", "webhook_endpoint", "/v1/webhook_endpoints", "webhook endpoint"),
    "products": ("prod_", "product", "/v1/products", "product"),
    "prices": ("price_", "price", "/v1/prices", "price"),
    "subscriptions": ("sub_", "subscription", "/v1/subscriptions", "subscription"),
    "subscription_items": ("si_", "subscription_item", "/v1/subscription_items", "subscription item"),
    "invoices": ("in_", "invoice", "/v1/invoices", "invoice"),
    "invoice_line_items": ("il_", "line_item", "/v1/invoices", "invoice line item"),
    "checkout_sessions": ("cs_", "checkout.session", "/v1/checkout/sessions", "checkout.session"),
    "invoiceitems": ("ii_", "invoiceitem", "/v1/invoiceitems", "invoiceitem"),
    "disputes": ("dp_", "dispute", "/v1/disputes", "dispute"),
}
PREFIX_TO_COLLECTION = {prefix: name for name, (prefix, *_rest) in RESOURCES.items()}

# Test card numbers -> behaviour. "decline" gives a 402 card_error at confirmation,
# "3ds" a PaymentIntent in requires_action.
TEST_CARDS: dict[str, dict[str, Any]] = {
    "4242424242424242": {"brand": "visa", "funding": "credit"},
    "4000056655665556": {"brand": "visa", "funding": "debit"},
    "5555555555554444": {"brand": "mastercard", "funding": "credit"},
    "378282246310005": {"brand": "amex", "funding": "credit"},
    "4000000000000002": {"brand": "visa", "funding": "credit", "decline": "generic_decline"},
    "4000000000009995": {"brand": "visa", "funding": "credit", "decline": "insufficient_funds"},
    "4000000000009987": {"brand": "visa", "funding": "credit", "decline": "lost_card"},
    "4000000000009979": {"brand": "visa", "funding": "credit", "decline": "stolen_card"},
    "4000000000000069": {"brand": "visa", "funding": "credit", "decline": "expired_card",
                         "code": "expired_card"},
    "4000000000000127": {"brand": "visa", "funding": "credit", "decline": "incorrect_cvc",
                         "code": "incorrect_cvc"},
    "4000002500003155": {"brand": "visa", "funding": "credit", "three_d_secure": True},
    "4000002760003184": {"brand": "visa", "funding": "credit", "three_d_secure": True},
}
TEST_PAYMENT_METHODS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_visa_debit": "4000056655665556",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_chargeDeclinedStolenCard": "4000000000009979",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_threeDSecure2Required": "4000002500003155",
}
TEST_TOKENS = {"tok_visa": "4242424242424242", "tok_mastercard": "5555555555554444",
               "tok_amex": "378282246310005", "tok_chargeDeclined": "4000000000000002",
               "tok_chargeDeclinedInsufficientFunds": "4000000000009995"}
DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "lost_card": "Your card was declined.",
    "stolen_card": "Your card was declined.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
}
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
                "xaf", "xof", "xpf"}
CANCELABLE = {"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture",
              "processing"}


class StripeError(Exception):
    """Becomes ``{"error": {...}}`` with Stripe's fields and HTTP status."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type, "message": message}
        if code is not None:
            self.body["code"] = code
        if param is not None:
            self.body["param"] = param
        self.body.update({k: v for k, v in extra.items() if v is not None})
        if code:
            self.body.setdefault("doc_url", f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}")


def missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    name = RESOURCES[kind][3]
    return StripeError(404, f"No such {name}: '{object_id}'", code="resource_missing", param=param)


def invalid(message: str, param: str | None = None, code: str | None = None, **extra: Any) -> StripeError:
    return StripeError(400, message, code=code, param=param, **extra)


# --- parameter parsing --------------------------------------------------------------------------
def to_int(params: Mapping[str, Any], name: str, *, required: bool = False, minimum: int | None = None,
           maximum: int | None = None, default: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise invalid(f"Missing required param: {name}.", name, "parameter_missing")
        return default
    try:
        number = int(str(value))
    except ValueError:
        raise invalid(f"Invalid integer: {value}", name, "parameter_invalid_integer") from None
    if minimum is not None and number < minimum:
        raise invalid(f"This value must be greater than or equal to {minimum}.", name, "parameter_invalid_integer")
    if maximum is not None and number > maximum:
        raise invalid(f"This value must be less than or equal to {maximum}.", name, "parameter_invalid_integer")
    return number


def to_bool(params: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    text = str(value).lower()
    if text not in ("true", "false"):
        raise invalid(f"Invalid boolean: {value}", name)
    return text == "true"


def to_str(params: Mapping[str, Any], name: str, *, required: bool = False,
           choices: tuple[str, ...] | None = None) -> str | None:
    value = params.get(name)
    if isinstance(value, (dict, list)):
        raise invalid(f"Invalid string: {name} must be a string", name)
    if value is None or value == "":
        if required:
            raise invalid(f"Missing required param: {name}.", name, "parameter_missing")
        return None
    if choices is not None and value not in choices:
        raise invalid(f"Invalid {name}: must be one of {', '.join(choices)}", name)
    return str(value)


def check_unknown(params: Mapping[str, Any], allowed: set[str]) -> None:
    for name in params:
        if name not in allowed and name != "expand":
            raise invalid(f"Received unknown parameter: {name}", name, "parameter_unknown")


def merge_metadata(current: dict[str, str] | None, update: Any) -> dict[str, str]:
    """Stripe semantics: keys merge, ``key=""`` removes a key, ``metadata=""`` clears all."""
    merged = dict(current or {})
    if update is None:
        return merged
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise invalid("Invalid object", "metadata")
    for key, value in update.items():
        if isinstance(value, (dict, list)):
            raise invalid(f"Invalid value for metadata[{key}]", f"metadata[{key}]")
        if len(str(key)) > 40:
            raise invalid("Metadata keys can be at most 40 characters long.", f"metadata[{key}]")
        if len(str(value)) > 500:
            raise invalid("Metadata values can be at most 500 characters long.", f"metadata[{key}]")
        if value == "":
            merged.pop(key, None)
        else:
            merged[str(key)] = str(value)
    if len(merged) > 50:
        raise invalid("Metadata can have at most 50 keys.", "metadata")
    return merged


SEARCH_CLAUSE = re.compile(
    r"""^\s*(?P<neg>-)?(?P<field>[a-z_.]+(?:\[['"](?P<meta>[^'"]+)['"]\])?)\s*(?P<op>:|~|>=|<=|>|<)\s*"""
    r"""(?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|(?P<bare>[^\s'"]+))\s*$""")
SEARCH_FIELDS = {
    "customers": {"email", "name", "phone", "created", "metadata", "description"},
    "payment_intents": {"amount", "currency", "customer", "status", "created", "metadata", "description"},
    "charges": {"amount", "currency", "customer", "status", "created", "metadata", "refunded", "disputed",
                "payment_method_details.card.last4", "payment_intent", "description"},
    "invoices": {"customer", "status", "total", "created", "metadata", "subscription", "number", "currency"},
}
DISPUTE_FEE = 1500  # Stripe's dispute fee in cents (USD)


def compile_search(kind: str, query: str) -> Callable[[Mapping[str, Any]], bool]:
    """A subset of Stripe's search query language: ``field:'v'``, ``field~'sub'``, ``amount>100``,
    ``metadata['k']:'v'``, ``-field:'v'``, clauses joined by all-AND or all-OR."""
    if not query or not query.strip():
        raise invalid("Missing required param: query.", "query", "parameter_missing")
    has_and, has_or = " AND " in query, " OR " in query
    if has_and and has_or:
        raise invalid("Search queries cannot mix AND and OR.", "query")
    parts = query.split(" OR " if has_or else " AND ")
    tests = []
    for part in parts:
        match = SEARCH_CLAUSE.match(part)
        if match is None:
            raise invalid(f"Invalid search query: could not parse '{part.strip()}'.", "query")
        field_name = match["field"].split("[", 1)[0]
        if field_name not in SEARCH_FIELDS[kind]:
            raise invalid(f"Field '{field_name}' is an unsupported search field for {RESOURCES[kind][1]}.", "query")
        value = next(v for v in (match["sq"], match["dq"], match["bare"]) if v is not None)
        tests.append((bool(match["neg"]), field_name, match["meta"], match["op"], value))

    def lookup(doc: Mapping[str, Any], field_name: str, meta: str | None) -> Any:
        if field_name == "metadata":
            return (doc.get("metadata") or {}).get(meta or "")
        node: Any = doc
        for piece in field_name.split("."):
            node = node.get(piece) if isinstance(node, Mapping) else None
        return node

    def clause(doc: Mapping[str, Any], neg: bool, field_name: str, meta: str | None, op: str, value: str) -> bool:
        actual = lookup(doc, field_name, meta)
        if op in (">", "<", ">=", "<="):
            try:
                left, right = float(actual), float(value)
            except (TypeError, ValueError):
                return False
            result = {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[op]
        elif op == "~":
            result = actual is not None and value.lower() in str(actual).lower()
        elif isinstance(actual, bool):
            result = str(actual).lower() == value.lower()
        else:
            result = actual is not None and str(actual).lower() == value.lower() if field_name == "email" \
                else actual is not None and str(actual) == value
        return result != neg

    combine = any if has_or else all
    return lambda doc: combine(clause(doc, *test) for test in tests)


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def card_brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or "2221" <= number[:4] <= "2720":
        return "mastercard"
    if number[:2] in {"34", "37"}:
        return "amex"
    if number.startswith("6011") or number.startswith("65"):
        return "discover"
    return "unknown"


def stripe_signature(secret: str, body: str, timestamp: int) -> str:
    """Stripe's ``Stripe-Signature``: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``."""
    signed = hmac.new(secret.encode("utf-8"), f"{timestamp}.{body}".encode("utf-8"), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signed}"


def datetime_text(ts: int) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%d %b %Y")


def public(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: public(v) for k, v in obj.items() if not k.startswith(INTERNAL_PREFIX)}
    if isinstance(obj, list):
        return [public(v) for v in obj]
    return obj


class StripePlugin(Plugin):
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
            response = Response.json({"error": exc.body}, status=exc.status)
        response.headers.update(headers)
        return response

    def _dispatch(self, request: Request) -> Response:
        try:
            return super().handle_request(request)
        except StripeError:
            raise
        except (NotFoundError, MethodNotAllowedError):
            raise StripeError(404, f"Unrecognized request URL ({request.method}: /v1{request.path}). "
                                   "Please see https://stripe.com/docs or we can help at "
                                   "https://support.stripe.com/.") from None
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
            response = Response.json({"error": exc.body}, status=exc.status)
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

    def _timestamp(self) -> int:
        return int(self.sdk.now().timestamp())

    def _new_object(self, request: Request, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        prefix, object_name, _url, _name = RESOURCES[kind]
        obj: dict[str, Any] = {"id": self.sdk.generate_id(prefix), "object": object_name}
        obj.update(fields)
        obj.setdefault("created", self._timestamp())
        obj["livemode"] = self._livemode(request)
        if kind != "events":
            obj.setdefault("metadata", {})
        return obj

    def _next_seq(self) -> int:
        counter = int(self.sdk.storage.get("counters", "seq", {"value": 0})["value"]) + 1
        self.sdk.storage.put("counters", "seq", {"value": counter})
        return counter

    def _save(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        if "_seq" not in obj:
            obj["_seq"] = self._next_seq()
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
              filters: tuple[str, ...] = ()) -> Response:
        check_unknown(params, {"limit", "starting_after", "ending_before", "created", *filters})
        limit = to_int(params, "limit", minimum=1, maximum=100, default=10)
        starting_after = to_str(params, "starting_after")
        ending_before = to_str(params, "ending_before")
        if starting_after and ending_before:
            raise invalid("You may only specify one of these parameters: ending_before, starting_after.",
                          "ending_before")
        created = params.get("created")
        items = [doc for doc in self.sdk.storage.query(kind, limit=None)
                 if not doc.get("deleted") and (predicate is None or predicate(doc))
                 and self._created_matches(doc, created)]
        items.sort(key=lambda doc: (doc.get("created", 0), doc.get("_seq", 0)), reverse=True)
        ids = [doc["id"] for doc in items]
        if starting_after:
            if starting_after not in ids:
                cursor = self.sdk.storage.get(kind, starting_after)
                if cursor is None:
                    raise missing(kind, starting_after, "starting_after")
                items = [d for d in items if (d.get("created", 0), d.get("_seq", 0)) <
                         (cursor.get("created", 0), cursor.get("_seq", 0))]
            else:
                items = items[ids.index(starting_after) + 1:]
            page, has_more = items[:limit], len(items) > limit
        elif ending_before:
            if ending_before not in ids:
                cursor = self.sdk.storage.get(kind, ending_before)
                if cursor is None:
                    raise missing(kind, ending_before, "ending_before")
                before = [d for d in items if (d.get("created", 0), d.get("_seq", 0)) >
                          (cursor.get("created", 0), cursor.get("_seq", 0))]
            else:
                before = items[:ids.index(ending_before)]
            page, has_more = before[-limit:], len(before) > limit
        else:
            page, has_more = items[:limit], len(items) > limit
        expand = [p[len("data."):] for p in self._expand_list(params) if p.startswith("data.")]
        return Response.json({
            "object": "list", "url": url or RESOURCES[kind][2], "has_more": has_more,
            "data": [self._expand(public(doc), expand) for doc in page],
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
        items.sort(key=lambda doc: (doc.get("created", 0), doc.get("_seq", 0)), reverse=True)
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
        endpoints = [we for we in self.sdk.storage.query("webhook_endpoints", limit=None)
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
                        "Stripe-Signature": stripe_signature(we["_secret"], body, self._timestamp())})
                except PluginError:
                    pass  # e.g. an event over the outbox size limit: the API call itself still succeeds
        return event

    # --- customers -----------------------------------------------------------------------------------
    CUSTOMER_FIELDS = {"email", "name", "description", "phone", "metadata", "address", "shipping",
                       "invoice_settings", "preferred_locales", "payment_method", "balance", "tax_exempt",
                       "invoice_prefix", "next_invoice_sequence", "source", "test_clock"}

    def _customer_fields(self, params: Mapping[str, Any], customer: dict[str, Any]) -> None:
        for name in ("email", "name", "description", "phone"):
            if name in params:
                customer[name] = to_str(params, name)
        for name in ("address", "shipping"):
            if name in params:
                customer[name] = params[name] or None
        if "preferred_locales" in params:
            locales = params["preferred_locales"]
            customer["preferred_locales"] = locales if isinstance(locales, list) else []
        if "tax_exempt" in params:
            customer["tax_exempt"] = to_str(params, "tax_exempt", choices=("none", "exempt", "reverse"))
        if "balance" in params:
            customer["balance"] = to_int(params, "balance")
        if "invoice_settings" in params:
            settings = params["invoice_settings"] or {}
            if not isinstance(settings, dict):
                raise invalid("Invalid object", "invoice_settings")
            merged = dict(customer["invoice_settings"])
            if "default_payment_method" in settings:
                pm_id = settings["default_payment_method"] or None
                if pm_id is not None:
                    pm = self._load("payment_methods", pm_id, "invoice_settings[default_payment_method]")
                    if pm.get("customer") != customer["id"]:
                        raise invalid(f"The customer does not have a payment method with the ID {pm_id}. The "
                                      "payment method must be attached to the customer.",
                                      "invoice_settings[default_payment_method]", "resource_missing")
                merged["default_payment_method"] = pm_id
            for name in ("footer", "custom_fields", "rendering_options"):
                if name in settings:
                    merged[name] = settings[name] or None
            customer["invoice_settings"] = merged
        customer["metadata"] = merge_metadata(customer.get("metadata"), params.get("metadata"))

    @endpoint("POST", "/customers")
    def create_customer(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, self.CUSTOMER_FIELDS)
        customer = self._new_object(request, "customers", {
            "address": None, "balance": 0, "currency": None, "default_source": None, "delinquent": False,
            "description": None, "discount": None, "email": None,
            "invoice_prefix": self.sdk.random_string(8, "ABCDEF0123456789"),
            "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                                 "rendering_options": None},
            "name": None, "next_invoice_sequence": 1, "phone": None, "preferred_locales": [],
            "shipping": None, "tax_exempt": "none", "test_clock": None,
        })
        pm_id = to_str(params, "payment_method")
        if pm_id:
            pm = self._resolve_payment_method(request, pm_id, "payment_method")
            pm["customer"] = customer["id"]
            self._save("payment_methods", pm)
        invoice_settings = params.get("invoice_settings")
        params = {k: v for k, v in params.items() if k != "invoice_settings"}
        self._customer_fields(params, customer)
        self._save("customers", customer)
        if invoice_settings:
            self._customer_fields({"invoice_settings": invoice_settings}, customer)
            self._save("customers", customer)
        self._emit(request, "customer.created", customer)
        return self._render(customer, params)

    @endpoint("GET", "/customers/{customer_id}")
    def retrieve_customer(self, request: Request, customer_id: str) -> Response:
        customer = self.sdk.storage.get("customers", customer_id)
        if customer is None:
            raise missing("customers", customer_id)
        if customer.get("deleted"):
            return Response.json({"id": customer_id, "object": "customer", "deleted": True})
        return self._render(customer, self._params(request))

    @endpoint("POST", "/customers/{customer_id}")
    def update_customer(self, request: Request, customer_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, self.CUSTOMER_FIELDS - {"payment_method"} | {"default_source"})
        customer = self._load("customers", customer_id)
        before = public(customer)
        self._customer_fields(params, customer)
        self._save("customers", customer)
        changed = {k: before.get(k) for k in public(customer) if before.get(k) != customer.get(k)}
        self._emit(request, "customer.updated", customer, changed)
        return self._render(customer, params)

    @endpoint("DELETE", "/customers/{customer_id}")
    def delete_customer(self, request: Request, customer_id: str) -> Response:
        customer = self._load("customers", customer_id)
        for pm in self.sdk.storage.query("payment_methods", {"customer": customer_id}, limit=None):
            pm["customer"] = None
            self._save("payment_methods", pm)
        self._emit(request, "customer.deleted", customer)
        self._save("customers", {"id": customer_id, "object": "customer", "deleted": True,
                                 "_seq": customer["_seq"], "created": customer["created"]})
        return Response.json({"id": customer_id, "object": "customer", "deleted": True})

    @endpoint("GET", "/customers")
    def list_customers(self, request: Request) -> Response:
        params = self._params(request)
        email = to_str(params, "email")
        return self._list(request, "customers", params,
                          (lambda c: c.get("email") == email) if email else None, filters=("email", "test_clock"))

    @endpoint("GET", "/customers/search")
    def search_customers(self, request: Request) -> Response:
        return self._search(request, "customers")

    @endpoint("GET", "/customers/{customer_id}/payment_methods")
    def list_customer_payment_methods(self, request: Request, customer_id: str) -> Response:
        params = self._params(request)
        self._load("customers", customer_id, "customer")
        kind = to_str(params, "type")
        return self._list(request, "payment_methods", params,
                          lambda pm: pm.get("customer") == customer_id and (kind is None or pm["type"] == kind),
                          url=f"/v1/customers/{customer_id}/payment_methods",
                          filters=("type", "allow_redisplay"))

    @endpoint("GET", "/customers/{customer_id}/payment_methods/{pm_id}")
    def retrieve_customer_payment_method(self, request: Request, customer_id: str, pm_id: str) -> Response:
        self._load("customers", customer_id, "customer")
        pm = self._load("payment_methods", pm_id, "payment_method")
        if pm.get("customer") != customer_id:
            raise missing("payment_methods", pm_id, "payment_method")
        return self._render(pm, self._params(request))

    # --- payment methods -----------------------------------------------------------------------------
    def _card_payment_method(self, request: Request, number: str, exp_month: int = 12, exp_year: int | None = None,
                             billing_details: Any = None, metadata: Any = None) -> dict[str, Any]:
        info = TEST_CARDS.get(number, {"brand": card_brand(number), "funding": "credit"})
        year = exp_year or self.sdk.now().year + 3
        fingerprint = hashlib.sha256(("fp" + number).encode()).hexdigest()[:16]
        details = billing_details if isinstance(billing_details, dict) else {}
        return self._new_object(request, "payment_methods", {
            "type": "card", "customer": None, "allow_redisplay": "unspecified",
            "billing_details": {"address": details.get("address") or {
                "city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None},
                "email": details.get("email"), "name": details.get("name"), "phone": details.get("phone")},
            "card": {"brand": info["brand"], "checks": {"address_line1_check": None,
                                                        "address_postal_code_check": None,
                                                        "cvc_check": "pass"},
                     "country": "US", "display_brand": info["brand"], "exp_month": exp_month, "exp_year": year,
                     "fingerprint": fingerprint, "funding": info["funding"], "last4": number[-4:],
                     "networks": {"available": [info["brand"]], "preferred": None},
                     "three_d_secure_usage": {"supported": True}, "wallet": None},
            "metadata": merge_metadata({}, metadata),
            "_number_class": number if number in TEST_CARDS else "",
        })

    def _resolve_payment_method(self, request: Request, pm_id: str, param: str) -> dict[str, Any]:
        """A stored PaymentMethod, or a fresh one for a test token like ``pm_card_visa``."""
        if pm_id in TEST_PAYMENT_METHODS:
            return self._save("payment_methods", self._card_payment_method(request, TEST_PAYMENT_METHODS[pm_id]))
        return self._load("payment_methods", pm_id, param)

    @endpoint("POST", "/payment_methods")
    def create_payment_method(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, {"type", "card", "billing_details", "metadata", "customer", "payment_method",
                               "allow_redisplay"})
        kind = to_str(params, "type", required=True)
        if kind != "card":
            raise invalid(f"The payment method type '{kind}' is not supported by this mock; use 'card'.",
                          "type", "payment_method_invalid_parameter")
        card = params.get("card")
        if not isinstance(card, dict):
            raise invalid("Missing required param: card.", "card", "parameter_missing")
        if card.get("token"):
            number = TEST_TOKENS.get(card["token"])
            if number is None:
                raise invalid(f"No such token: '{card['token']}'", "card[token]", "resource_missing")
            exp_month, exp_year = 12, None
        else:
            number = str(card.get("number") or "").replace(" ", "")
            if not number:
                raise invalid("Missing required param: card[number].", "card[number]", "parameter_missing")
            if not number.isdigit() or not 13 <= len(number) <= 19 or not luhn_ok(number):
                raise StripeError(402, "Your card number is incorrect.", type="card_error", code="incorrect_number",
                                  param="number")
            exp_month = to_int(card, "exp_month", required=True) or 0
            exp_year = to_int(card, "exp_year", required=True) or 0
            if exp_year < 100:
                exp_year += 2000
            if not 1 <= exp_month <= 12:
                raise StripeError(402, "Your card's expiration month is invalid.", type="card_error",
                                  code="invalid_expiry_month", param="exp_month")
            today = self.sdk.now()
            if (exp_year, exp_month) < (today.year, today.month):
                raise StripeError(402, "Your card's expiration year is invalid.", type="card_error",
                                  code="invalid_expiry_year", param="exp_year")
        pm = self._card_payment_method(request, number, exp_month, exp_year, params.get("billing_details"),
                                       params.get("metadata"))
        self._save("payment_methods", pm)
        return self._render(pm, params)

    @endpoint("GET", "/payment_methods/{pm_id}")
    def retrieve_payment_method(self, request: Request, pm_id: str) -> Response:
        params = self._params(request)
        if pm_id in TEST_PAYMENT_METHODS:
            return self._render(self._resolve_payment_method(request, pm_id, "payment_method"), params)
        return self._render(self._load("payment_methods", pm_id, "payment_method"), params)

    @endpoint("POST", "/payment_methods/{pm_id}")
    def update_payment_method(self, request: Request, pm_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"metadata", "billing_details", "card", "allow_redisplay"})
        pm = self._load("payment_methods", pm_id, "payment_method")
        if isinstance(params.get("billing_details"), dict):
            pm["billing_details"].update({k: v for k, v in params["billing_details"].items()
                                          if k in ("address", "email", "name", "phone")})
        if isinstance(params.get("card"), dict):
            for name in ("exp_month", "exp_year"):
                if name in params["card"]:
                    pm["card"][name] = to_int(params["card"], name)
        pm["metadata"] = merge_metadata(pm.get("metadata"), params.get("metadata"))
        self._save("payment_methods", pm)
        self._emit(request, "payment_method.updated", pm)
        return self._render(pm, params)

    @endpoint("GET", "/payment_methods")
    def list_payment_methods(self, request: Request) -> Response:
        params = self._params(request)
        customer = to_str(params, "customer")
        kind = to_str(params, "type")
        if customer:
            self._load("customers", customer, "customer")
        return self._list(request, "payment_methods", params,
                          lambda pm: (customer is None or pm.get("customer") == customer)
                          and (kind is None or pm["type"] == kind), filters=("customer", "type", "allow_redisplay"))

    @endpoint("POST", "/payment_methods/{pm_id}/attach")
    def attach_payment_method(self, request: Request, pm_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"customer"})
        customer_id = to_str(params, "customer", required=True)
        self._load("customers", customer_id, "customer")
        pm = self._resolve_payment_method(request, pm_id, "payment_method")
        if pm.get("customer") and pm["customer"] != customer_id:
            raise invalid("The payment method you provided has already been attached to a customer.",
                          "payment_method", "payment_method_unexpected_state")
        pm["customer"] = customer_id
        self._save("payment_methods", pm)
        self._emit(request, "payment_method.attached", pm)
        return self._render(pm, params)

    @endpoint("POST", "/payment_methods/{pm_id}/detach")
    def detach_payment_method(self, request: Request, pm_id: str) -> Response:
        params = self._params(request)
        pm = self._load("payment_methods", pm_id, "payment_method")
        customer_id = pm.get("customer")
        if not customer_id:
            raise invalid("The payment method you provided is not attached to a customer so detachment is "
                          "impossible.", "payment_method", "payment_method_unexpected_state")
        pm["customer"] = None
        self._save("payment_methods", pm)
        customer = self.sdk.storage.get("customers", customer_id)
        if customer and customer.get("invoice_settings", {}).get("default_payment_method") == pm_id:
            customer["invoice_settings"]["default_payment_method"] = None
            self._save("customers", customer)
        self._emit(request, "payment_method.detached", pm, {"customer": customer_id})
        return self._render(pm, params)

    # --- payment intents -------------------------------------------------------------------------------
    PI_FIELDS = {"amount", "currency", "customer", "payment_method", "confirm", "capture_method", "description",
                 "metadata", "payment_method_types", "receipt_email", "setup_future_usage", "statement_descriptor",
                 "statement_descriptor_suffix", "return_url", "off_session", "confirmation_method",
                 "automatic_payment_methods", "shipping", "error_on_requires_action", "use_stripe_sdk",
                 "payment_method_options"}

    def _amount(self, params: Mapping[str, Any], currency: str | None, required: bool) -> int | None:
        amount = to_int(params, "amount", required=required, minimum=1, maximum=99999999)
        if amount is not None and currency and currency not in ZERO_DECIMAL and amount < 50:
            raise invalid("Amount must be at least $0.50 usd", "amount", "amount_too_small")
        return amount

    @endpoint("POST", "/payment_intents")
    def create_payment_intent(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, self.PI_FIELDS)
        currency = (to_str(params, "currency", required=True) or "").lower()
        amount = self._amount(params, currency, required=True)
        customer_id = to_str(params, "customer")
        if customer_id:
            self._load("customers", customer_id, "customer")
        capture_method = to_str(params, "capture_method",
                                choices=("automatic", "automatic_async", "manual")) or "automatic_async"
        pm_id = to_str(params, "payment_method")
        pm = self._resolve_payment_method(request, pm_id, "payment_method") if pm_id else None
        types = params.get("payment_method_types") or ["card"]
        intent = self._new_object(request, "payment_intents", {
            "amount": amount, "amount_capturable": 0, "amount_details": {"tip": {}}, "amount_received": 0,
            "application": None, "application_fee_amount": None,
            "automatic_payment_methods": None if params.get("payment_method_types") else
            {"allow_redirects": "always", "enabled": True},
            "canceled_at": None, "cancellation_reason": None, "capture_method": capture_method,
            "client_secret": None, "confirmation_method": to_str(params, "confirmation_method") or "automatic",
            "currency": currency, "customer": customer_id, "description": to_str(params, "description"),
            "last_payment_error": None, "latest_charge": None, "next_action": None, "on_behalf_of": None,
            "payment_method": pm["id"] if pm else None, "payment_method_options": {},
            "payment_method_types": types if isinstance(types, list) else ["card"], "processing": None,
            "receipt_email": to_str(params, "receipt_email"), "review": None,
            "setup_future_usage": to_str(params, "setup_future_usage"), "shipping": params.get("shipping") or None,
            "source": None, "statement_descriptor": to_str(params, "statement_descriptor"),
            "statement_descriptor_suffix": to_str(params, "statement_descriptor_suffix"),
            "status": "requires_confirmation" if pm else "requires_payment_method",
            "transfer_data": None, "transfer_group": None,
            "metadata": merge_metadata({}, params.get("metadata")),
        })
        intent["client_secret"] = f"{intent['id']}_secret_{self.sdk.random_string(24)}"
        self._save("payment_intents", intent)
        self._emit(request, "payment_intent.created", intent)
        if to_bool(params, "confirm"):
            return self._confirm(request, intent, params)
        return self._render(intent, params)

    @endpoint("GET", "/payment_intents/search")
    def search_payment_intents(self, request: Request) -> Response:
        return self._search(request, "payment_intents")

    @endpoint("GET", "/payment_intents/{pi_id}")
    def retrieve_payment_intent(self, request: Request, pi_id: str) -> Response:
        return self._render(self._load("payment_intents", pi_id, "intent"), self._params(request))

    @endpoint("POST", "/payment_intents/{pi_id}")
    def update_payment_intent(self, request: Request, pi_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, self.PI_FIELDS - {"confirm", "confirmation_method", "off_session",
                                                "error_on_requires_action", "return_url", "use_stripe_sdk"})
        intent = self._load("payment_intents", pi_id, "intent")
        changing_money = {"amount", "currency", "payment_method", "customer", "capture_method"} & set(params)
        if changing_money and intent["status"] in ("succeeded", "canceled", "requires_capture", "processing"):
            raise invalid(f"This PaymentIntent's {sorted(changing_money)[0]} could not be updated because it has "
                          f"a status of {intent['status']}.", sorted(changing_money)[0],
                          "payment_intent_unexpected_state")
        if "currency" in params:
            intent["currency"] = (to_str(params, "currency") or intent["currency"]).lower()
        if "amount" in params:
            intent["amount"] = self._amount(params, intent["currency"], required=True)
        if "customer" in params:
            customer_id = to_str(params, "customer")
            if customer_id:
                self._load("customers", customer_id, "customer")
            intent["customer"] = customer_id
        if "payment_method" in params:
            pm_id = to_str(params, "payment_method")
            intent["payment_method"] = self._resolve_payment_method(request, pm_id, "payment_method")["id"] \
                if pm_id else None
            intent["status"] = "requires_confirmation" if intent["payment_method"] else "requires_payment_method"
        if "capture_method" in params:
            intent["capture_method"] = to_str(params, "capture_method",
                                              choices=("automatic", "automatic_async", "manual"))
        for name in ("description", "receipt_email", "setup_future_usage", "statement_descriptor",
                     "statement_descriptor_suffix"):
            if name in params:
                intent[name] = to_str(params, name)
        intent["metadata"] = merge_metadata(intent.get("metadata"), params.get("metadata"))
        self._save("payment_intents", intent)
        return self._render(intent, params)

    @endpoint("POST", "/payment_intents/{pi_id}/confirm")
    def confirm_payment_intent(self, request: Request, pi_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"payment_method", "return_url", "off_session", "capture_method", "receipt_email",
                               "setup_future_usage", "shipping", "error_on_requires_action", "use_stripe_sdk",
                               "payment_method_options", "payment_method_types", "mandate_data"})
        intent = self._load("payment_intents", pi_id, "intent")
        return self._confirm(request, intent, params)

    def _confirm(self, request: Request, intent: dict[str, Any], params: Mapping[str, Any]) -> Response:
        status = intent["status"]
        if status not in ("requires_payment_method", "requires_confirmation", "requires_action"):
            raise invalid(f"This PaymentIntent's status is {status}, but it must be one of requires_payment_method, "
                          "requires_confirmation, requires_action to be confirmed.", None,
                          "payment_intent_unexpected_state", payment_intent=public(intent))
        pm_id = to_str(params, "payment_method")
        if pm_id:
            intent["payment_method"] = self._resolve_payment_method(request, pm_id, "payment_method")["id"]
        if "capture_method" in params:
            intent["capture_method"] = to_str(params, "capture_method",
                                              choices=("automatic", "automatic_async", "manual"))
        if not intent["payment_method"]:
            raise invalid("You cannot confirm this PaymentIntent because it's missing a payment method. To confirm "
                          "the PaymentIntent with cus_xxx, specify a payment method attached to this customer "
                          "along with the customer ID.", "payment_method", "payment_intent_unexpected_state",
                          payment_intent=public(intent))
        pm = self._load("payment_methods", intent["payment_method"], "payment_method")
        if intent.get("customer") and pm.get("customer") not in (None, intent["customer"]):
            raise invalid(f"The provided PaymentMethod {pm['id']} was previously used with a PaymentIntent without "
                          "Customer attachment, or was detached from a Customer, and may not be used again.",
                          "payment_method", "payment_method_unexpected_state")
        behaviour = TEST_CARDS.get(pm.get("_number_class", ""), {})
        # 3-D Secure: the first confirmation asks for authentication; confirming again (the mock's
        # stand-in for the customer completing the challenge) proceeds to the charge.
        if behaviour.get("three_d_secure") and status != "requires_action":
            if to_bool(params, "off_session") or to_bool(params, "error_on_requires_action"):
                return self._decline(request, intent, pm, "authentication_required",
                                     "Your card was declined. This transaction requires authentication.",
                                     code="authentication_required")
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {
                "type": "three_d_secure_redirect", "stripe_js": f"https://hooks.stripe.com/3d_secure/{intent['id']}",
                "source": pm["id"]}}
            self._save("payment_intents", intent)
            self._emit(request, "payment_intent.requires_action", intent)
            return self._render(intent, params)
        intent["next_action"] = None
        decline = behaviour.get("decline")
        if decline:
            return self._decline(request, intent, pm, decline, DECLINE_MESSAGES.get(decline, "Your card was declined."),
                                 code=behaviour.get("code", "card_declined"))
        manual = intent["capture_method"] == "manual"
        charge = self._new_charge(request, intent, pm, status="succeeded", captured=not manual)
        intent["latest_charge"] = charge["id"]
        intent["last_payment_error"] = None
        if manual:
            intent["status"] = "requires_capture"
            intent["amount_capturable"] = intent["amount"]
        else:
            intent["status"] = "succeeded"
            intent["amount_received"] = intent["amount"]
        self._save("payment_intents", intent)
        self._emit(request, "charge.succeeded", charge)
        self._emit(request, "payment_intent.amount_capturable_updated" if manual else "payment_intent.succeeded",
                   intent)
        if intent.get("_invoice") and intent["status"] == "succeeded":
            self._settle_invoice_intent(request, intent)
        return self._render(intent, params)

    def _decline(self, request: Request, intent: dict[str, Any], pm: dict[str, Any], decline_code: str,
                 message: str, code: str = "card_declined") -> Response:
        charge = self._new_charge(request, intent, pm, status="failed", captured=False,
                                  failure=(code, message, decline_code))
        error = {"type": "card_error", "code": code, "decline_code": decline_code, "message": message,
                 "charge": charge["id"], "payment_method": public(pm),
                 "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"}
        if code == "authentication_required":
            error.pop("decline_code")
        intent.update({"status": "requires_payment_method", "latest_charge": charge["id"],
                       "last_payment_error": error, "payment_method": None, "next_action": None})
        self._save("payment_intents", intent)
        self._emit(request, "charge.failed", charge)
        self._emit(request, "payment_intent.payment_failed", intent)
        raise StripeError(402, message, type="card_error", code=code,
                          decline_code=error.get("decline_code"), charge=charge["id"],
                          payment_intent=public(intent), payment_method=public(pm),
                          request_log_url=None)

    def _new_charge(self, request: Request, intent: dict[str, Any], pm: dict[str, Any], *, status: str,
                    captured: bool, failure: tuple[str, str, str] | None = None) -> dict[str, Any]:
        amount = intent["amount"]
        card = pm.get("card", {})
        charge = self._new_object(request, "charges", {
            "amount": amount, "amount_captured": amount if captured else 0, "amount_refunded": 0,
            "application": None, "application_fee": None, "application_fee_amount": None,
            "balance_transaction": None,
            "billing_details": pm.get("billing_details"), "calculated_statement_descriptor": "MOCKFACTORY",
            "captured": captured, "currency": intent["currency"], "customer": intent.get("customer"),
            "description": intent.get("description"), "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": failure[0] if failure else None, "failure_message": failure[1] if failure else None,
            "fraud_details": {}, "on_behalf_of": None,
            "outcome": {"network_status": "declined_by_network" if failure else "approved_by_network",
                        "reason": failure[2] if failure else None, "risk_level": "normal", "risk_score": 20,
                        "seller_message": "The bank did not return any further details with this decline."
                        if failure else "Payment complete.",
                        "type": "issuer_declined" if failure else "authorized"},
            "paid": status == "succeeded", "payment_intent": intent["id"], "payment_method": pm["id"],
            "payment_method_details": {"type": "card", "card": {
                "brand": card.get("brand"), "country": card.get("country"), "exp_month": card.get("exp_month"),
                "exp_year": card.get("exp_year"), "fingerprint": card.get("fingerprint"),
                "funding": card.get("funding"), "last4": card.get("last4"), "network": card.get("brand"),
                "checks": card.get("checks"), "three_d_secure": None}},
            "receipt_email": intent.get("receipt_email"), "receipt_number": None,
            "receipt_url": None, "refunded": False, "review": None, "shipping": intent.get("shipping"),
            "source_transfer": None, "statement_descriptor": intent.get("statement_descriptor"),
            "statement_descriptor_suffix": intent.get("statement_descriptor_suffix"), "status": status,
            "transfer_data": None, "transfer_group": None,
            "metadata": dict(intent.get("metadata") or {}),
        })
        if captured:
            charge["balance_transaction"] = self._balance_transaction(request, charge["id"], amount,
                                                                      intent["currency"], "charge")
        return self._save("charges", charge)

    def _balance_transaction(self, request: Request, source: str, amount: int, currency: str, kind: str,
                             description: str | None = None) -> str:
        """A ``txn_`` ledger entry (no fees in this mock: net == amount); the balance sums them."""
        txn = self._new_object(request, "balance_transactions", {
            "amount": amount, "currency": currency, "description": description, "exchange_rate": None,
            "fee": 0, "fee_details": [], "net": amount, "reporting_category": kind, "source": source,
            "status": "available", "type": kind,
        })
        txn["available_on"] = txn["created"]
        txn.pop("metadata", None)
        self._save("balance_transactions", txn)
        return txn["id"]

    @endpoint("POST", "/payment_intents/{pi_id}/capture")
    def capture_payment_intent(self, request: Request, pi_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"amount_to_capture", "metadata", "statement_descriptor",
                               "statement_descriptor_suffix", "final_capture", "application_fee_amount"})
        intent = self._load("payment_intents", pi_id, "intent")
        if intent["status"] != "requires_capture":
            raise invalid(f"This PaymentIntent could not be captured because it has a status of {intent['status']}. "
                          "Only a PaymentIntent with one of the following statuses may be captured: "
                          "requires_capture.", None, "payment_intent_unexpected_state",
                          payment_intent=public(intent))
        amount = cast(int, to_int(params, "amount_to_capture", minimum=1, default=intent["amount_capturable"]))
        if amount > intent["amount_capturable"]:
            raise invalid(f"The amount to capture ({amount}) is greater than the capturable amount "
                          f"({intent['amount_capturable']}).", "amount_to_capture", "amount_too_large")
        charge = self._load("charges", intent["latest_charge"], "charge")
        charge.update({"captured": True, "amount_captured": amount,
                       "balance_transaction": self._balance_transaction(request, charge["id"], amount,
                                                                        charge["currency"], "charge")})
        if amount < charge["amount"]:
            charge["amount_refunded"] = charge["amount"] - amount  # the uncaptured rest is released
            charge["refunded"] = False
        self._save("charges", charge)
        intent.update({"status": "succeeded", "amount_received": amount, "amount_capturable": 0})
        intent["metadata"] = merge_metadata(intent.get("metadata"), params.get("metadata"))
        self._save("payment_intents", intent)
        self._emit(request, "charge.captured", charge)
        self._emit(request, "payment_intent.succeeded", intent)
        return self._render(intent, params)

    @endpoint("POST", "/payment_intents/{pi_id}/cancel")
    def cancel_payment_intent(self, request: Request, pi_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"cancellation_reason"})
        intent = self._load("payment_intents", pi_id, "intent")
        if intent["status"] not in CANCELABLE:
            raise invalid("You cannot cancel this PaymentIntent because it has a status of "
                          f"{intent['status']}. Only a PaymentIntent with one of the following statuses may be "
                          f"canceled: {', '.join(sorted(CANCELABLE))}.", None, "payment_intent_unexpected_state",
                          payment_intent=public(intent))
        reason = to_str(params, "cancellation_reason", choices=("duplicate", "fraudulent", "requested_by_customer",
                                                                "abandoned"))
        if intent["status"] == "requires_capture" and intent.get("latest_charge"):
            charge = self._load("charges", intent["latest_charge"], "charge")
            charge.update({"refunded": True, "amount_refunded": charge["amount"]})  # authorization released
            self._save("charges", charge)
        intent.update({"status": "canceled", "canceled_at": self._timestamp(), "cancellation_reason": reason,
                       "amount_capturable": 0, "next_action": None})
        self._save("payment_intents", intent)
        self._emit(request, "payment_intent.canceled", intent)
        return self._render(intent, params)

    @endpoint("GET", "/payment_intents")
    def list_payment_intents(self, request: Request) -> Response:
        params = self._params(request)
        customer = to_str(params, "customer")
        return self._list(request, "payment_intents", params,
                          (lambda pi: pi.get("customer") == customer) if customer else None,
                          filters=("customer",))

    # --- setup intents ---------------------------------------------------------------------------------------
    SI_FIELDS = {"customer", "payment_method", "confirm", "usage", "metadata", "description", "payment_method_types",
                 "return_url", "automatic_payment_methods", "payment_method_options", "use_stripe_sdk",
                 "mandate_data", "single_use", "attach_to_self", "flow_directions"}

    @endpoint("POST", "/setup_intents")
    def create_setup_intent(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, self.SI_FIELDS)
        customer_id = to_str(params, "customer")
        if customer_id:
            self._load("customers", customer_id, "customer")
        pm_id = to_str(params, "payment_method")
        pm = self._resolve_payment_method(request, pm_id, "payment_method") if pm_id else None
        types = params.get("payment_method_types") or ["card"]
        intent = self._new_object(request, "setup_intents", {
            "application": None, "automatic_payment_methods": None, "cancellation_reason": None,
            "client_secret": None, "customer": customer_id, "description": to_str(params, "description"),
            "flow_directions": None, "last_setup_error": None, "latest_attempt": None, "mandate": None,
            "next_action": None, "on_behalf_of": None, "payment_method": pm["id"] if pm else None,
            "payment_method_options": {}, "payment_method_types": types if isinstance(types, list) else ["card"],
            "single_use_mandate": None,
            "status": "requires_confirmation" if pm else "requires_payment_method",
            "usage": to_str(params, "usage", choices=("on_session", "off_session")) or "off_session",
            "metadata": merge_metadata({}, params.get("metadata")),
        })
        intent["client_secret"] = f"{intent['id']}_secret_{self.sdk.random_string(24)}"
        self._save("setup_intents", intent)
        self._emit(request, "setup_intent.created", intent)
        if to_bool(params, "confirm"):
            return self._confirm_setup(request, intent, params)
        return self._render(intent, params)

    @endpoint("GET", "/setup_intents/{seti_id}")
    def retrieve_setup_intent(self, request: Request, seti_id: str) -> Response:
        return self._render(self._load("setup_intents", seti_id, "intent"), self._params(request))

    @endpoint("POST", "/setup_intents/{seti_id}")
    def update_setup_intent(self, request: Request, seti_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"customer", "payment_method", "metadata", "description", "payment_method_types",
                               "payment_method_options", "flow_directions", "attach_to_self"})
        intent = self._load("setup_intents", seti_id, "intent")
        if intent["status"] in ("succeeded", "canceled") and ({"customer", "payment_method"} & set(params)):
            raise invalid(f"This SetupIntent could not be updated because it has a status of {intent['status']}.",
                          None, "setup_intent_unexpected_state")
        if "customer" in params:
            customer_id = to_str(params, "customer")
            if customer_id:
                self._load("customers", customer_id, "customer")
            intent["customer"] = customer_id
        if "payment_method" in params:
            pm_id = to_str(params, "payment_method")
            intent["payment_method"] = self._resolve_payment_method(request, pm_id, "payment_method")["id"] \
                if pm_id else None
            intent["status"] = "requires_confirmation" if intent["payment_method"] else "requires_payment_method"
        if "description" in params:
            intent["description"] = to_str(params, "description")
        intent["metadata"] = merge_metadata(intent.get("metadata"), params.get("metadata"))
        self._save("setup_intents", intent)
        return self._render(intent, params)

    @endpoint("POST", "/setup_intents/{seti_id}/confirm")
    def confirm_setup_intent(self, request: Request, seti_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"payment_method", "return_url", "mandate_data", "payment_method_options",
                               "use_stripe_sdk"})
        return self._confirm_setup(request, self._load("setup_intents", seti_id, "intent"), params)

    def _confirm_setup(self, request: Request, intent: dict[str, Any], params: Mapping[str, Any]) -> Response:
        status = intent["status"]
        if status not in ("requires_payment_method", "requires_confirmation", "requires_action"):
            raise invalid(f"This SetupIntent's status is {status}, but it must be one of requires_payment_method, "
                          "requires_confirmation, requires_action to be confirmed.", None,
                          "setup_intent_unexpected_state", setup_intent=public(intent))
        pm_id = to_str(params, "payment_method")
        if pm_id:
            intent["payment_method"] = self._resolve_payment_method(request, pm_id, "payment_method")["id"]
        if not intent["payment_method"]:
            raise invalid("You cannot confirm this SetupIntent because it's missing a payment method.",
                          "payment_method", "setup_intent_unexpected_state", setup_intent=public(intent))
        pm = self._load("payment_methods", intent["payment_method"], "payment_method")
        behaviour = TEST_CARDS.get(pm.get("_number_class", ""), {})
        if behaviour.get("three_d_secure") and status != "requires_action":
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {
                "type": "three_d_secure_redirect", "source": pm["id"]}}
            self._save("setup_intents", intent)
            self._emit(request, "setup_intent.requires_action", intent)
            return self._render(intent, params)
        intent["next_action"] = None
        decline = behaviour.get("decline")
        if decline:
            message = DECLINE_MESSAGES.get(decline, "Your card was declined.")
            code = behaviour.get("code", "card_declined")
            error = {"type": "card_error", "code": code, "decline_code": decline, "message": message,
                     "payment_method": public(pm)}
            intent.update({"status": "requires_payment_method", "last_setup_error": error, "payment_method": None})
            self._save("setup_intents", intent)
            self._emit(request, "setup_intent.setup_failed", intent)
            raise StripeError(402, message, type="card_error", code=code, decline_code=decline,
                              setup_intent=public(intent), payment_method=public(pm))
        if intent.get("customer") and not pm.get("customer"):
            pm["customer"] = intent["customer"]
            self._save("payment_methods", pm)
            self._emit(request, "payment_method.attached", pm)
        intent.update({"status": "succeeded", "last_setup_error": None})
        self._save("setup_intents", intent)
        self._emit(request, "setup_intent.succeeded", intent)
        return self._render(intent, params)

    @endpoint("POST", "/setup_intents/{seti_id}/cancel")
    def cancel_setup_intent(self, request: Request, seti_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"cancellation_reason"})
        intent = self._load("setup_intents", seti_id, "intent")
        if intent["status"] in ("succeeded", "canceled"):
            raise invalid(f"You cannot cancel this SetupIntent because it has a status of {intent['status']}.",
                          None, "setup_intent_unexpected_state", setup_intent=public(intent))
        intent.update({"status": "canceled", "next_action": None,
                       "cancellation_reason": to_str(params, "cancellation_reason",
                                                     choices=("abandoned", "duplicate", "requested_by_customer"))})
        self._save("setup_intents", intent)
        self._emit(request, "setup_intent.canceled", intent)
        return self._render(intent, params)

    @endpoint("GET", "/setup_intents")
    def list_setup_intents(self, request: Request) -> Response:
        params = self._params(request)
        customer = to_str(params, "customer")
        pm = to_str(params, "payment_method")
        return self._list(request, "setup_intents", params,
                          lambda si: (customer is None or si.get("customer") == customer)
                          and (pm is None or si.get("payment_method") == pm),
                          filters=("customer", "payment_method", "attach_to_self"))

    # --- charges -----------------------------------------------------------------------------------------
    @endpoint("GET", "/charges/search")
    def search_charges(self, request: Request) -> Response:
        return self._search(request, "charges")

    @endpoint("GET", "/charges/{charge_id}")
    def retrieve_charge(self, request: Request, charge_id: str) -> Response:
        return self._render(self._load("charges", charge_id, "charge"), self._params(request))

    @endpoint("POST", "/charges/{charge_id}")
    def update_charge(self, request: Request, charge_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"metadata", "description", "receipt_email", "shipping", "fraud_details",
                               "transfer_group"})
        charge = self._load("charges", charge_id, "charge")
        for name in ("description", "receipt_email"):
            if name in params:
                charge[name] = to_str(params, name)
        charge["metadata"] = merge_metadata(charge.get("metadata"), params.get("metadata"))
        self._save("charges", charge)
        self._emit(request, "charge.updated", charge)
        return self._render(charge, params)

    @endpoint("GET", "/charges")
    def list_charges(self, request: Request) -> Response:
        params = self._params(request)
        customer = to_str(params, "customer")
        intent = to_str(params, "payment_intent")
        return self._list(request, "charges", params,
                          lambda ch: (customer is None or ch.get("customer") == customer)
                          and (intent is None or ch.get("payment_intent") == intent),
                          filters=("customer", "payment_intent", "transfer_group"))

    # --- refunds -------------------------------------------------------------------------------------------
    @endpoint("POST", "/refunds")
    def create_refund(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, {"charge", "payment_intent", "amount", "reason", "metadata", "instructions_email",
                               "refund_application_fee", "reverse_transfer", "currency", "customer", "origin"})
        charge_id = to_str(params, "charge")
        intent_id = to_str(params, "payment_intent")
        if not charge_id and not intent_id:
            raise invalid("One of the following params should be provided for this request: payment_intent or "
                          "charge.", "charge", "parameter_missing")
        if intent_id:
            intent = self._load("payment_intents", intent_id, "payment_intent")
            if charge_id and intent.get("latest_charge") != charge_id:
                raise invalid(f"Charge {charge_id} does not belong to PaymentIntent {intent_id}.", "charge")
            if intent["status"] != "succeeded" or not intent.get("latest_charge"):
                raise invalid(f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                              "payment_intent", "charge_not_refundable")
            charge_id = intent["latest_charge"]
        charge = self._load("charges", charge_id, "charge")
        if charge["status"] != "succeeded" or not charge["captured"]:
            raise invalid(f"Charge {charge_id} has not been captured or did not succeed, so it cannot be refunded.",
                          "charge", "charge_not_refundable")
        if charge.get("disputed"):
            raise invalid(f"Charge {charge_id} has been charged back; cannot issue a refund.", "charge",
                          "charge_disputed")
        refundable = charge["amount_captured"] - self._refunded_amount(charge)
        if refundable <= 0:
            raise invalid(f"Charge {charge_id} has already been refunded.", "charge", "charge_already_refunded")
        amount = cast(int, to_int(params, "amount", minimum=1, default=refundable))
        if amount > refundable:
            raise invalid(f"Refund amount ({self._money(amount, charge['currency'])}) is greater than unrefunded "
                          f"amount on charge ({self._money(refundable, charge['currency'])})", "amount",
                          "amount_too_large")
        reason = to_str(params, "reason", choices=("duplicate", "fraudulent", "requested_by_customer"))
        refund = self._new_object(request, "refunds", {
            "amount": amount, "balance_transaction": None, "charge": charge_id,
            "currency": charge["currency"],
            "destination_details": {"type": "card", "card": {"reference_status": "pending", "type": "refund",
                                                             "reference_type": "acquirer_reference_number"}},
            "payment_intent": charge.get("payment_intent"), "reason": reason, "receipt_number": None,
            "source_transfer_reversal": None, "status": "succeeded", "transfer_reversal": None,
            "metadata": merge_metadata({}, params.get("metadata")),
        })
        refund["balance_transaction"] = self._balance_transaction(request, refund["id"], -amount,
                                                                  charge["currency"], "refund")
        self._save("refunds", refund)
        charge["amount_refunded"] = charge.get("amount_refunded", 0) + amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self._save("charges", charge)
        self._emit(request, "refund.created", refund)
        self._emit(request, "charge.refunded", charge)
        return self._render(refund, params)

    def _refunded_amount(self, charge: Mapping[str, Any]) -> int:
        refunds = self.sdk.storage.query("refunds", {"charge": charge["id"]}, limit=None)
        return sum(r["amount"] for r in refunds if r["status"] in ("succeeded", "pending"))

    @staticmethod
    def _money(amount: int, currency: str) -> str:
        if currency in ZERO_DECIMAL:
            return f"{amount} {currency}"
        symbol = "$" if currency in ("usd", "cad", "aud") else ""
        return f"{symbol}{amount / 100:.2f}" + ("" if symbol else f" {currency}")

    @endpoint("GET", "/refunds/{refund_id}")
    def retrieve_refund(self, request: Request, refund_id: str) -> Response:
        return self._render(self._load("refunds", refund_id, "refund"), self._params(request))

    @endpoint("POST", "/refunds/{refund_id}")
    def update_refund(self, request: Request, refund_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"metadata"})
        refund = self._load("refunds", refund_id, "refund")
        refund["metadata"] = merge_metadata(refund.get("metadata"), params.get("metadata"))
        self._save("refunds", refund)
        self._emit(request, "refund.updated", refund)
        return self._render(refund, params)

    @endpoint("GET", "/refunds")
    def list_refunds(self, request: Request) -> Response:
        params = self._params(request)
        charge = to_str(params, "charge")
        intent = to_str(params, "payment_intent")
        return self._list(request, "refunds", params,
                          lambda re: (charge is None or re.get("charge") == charge)
                          and (intent is None or re.get("payment_intent") == intent),
                          filters=("charge", "payment_intent"))

    # --- disputes ----------------------------------------------------------------------------------------
    @endpoint("POST", "/test_helpers/charges/{charge_id}/dispute")
    def dispute_charge(self, request: Request, charge_id: str) -> Response:
        """Mock-only: the card holder disputes a charge (Stripe's test cards 4000000000000259 and friends do
        this by themselves). The amount and Stripe's fee leave the balance at once; ``charge.dispute.created``."""
        params = self._params(request)
        check_unknown(params, {"amount", "reason"})
        charge = self._load("charges", charge_id, "charge")
        if charge["status"] != "succeeded" or charge.get("disputed"):
            raise invalid(f"Charge {charge_id} cannot be disputed.", "charge", "charge_already_disputed"
                          if charge.get("disputed") else "charge_not_disputable")
        disputable = charge["amount_captured"] - self._refunded_amount(charge)
        amount = cast(int, to_int(params, "amount", minimum=1, default=disputable))
        if amount > disputable:
            raise invalid("The dispute amount is greater than the charge's unrefunded amount.", "amount",
                          "amount_too_large")
        dispute = self._new_object(request, "disputes", {
            "amount": amount, "charge": charge_id, "currency": charge["currency"], "evidence": {},
            "evidence_details": {"due_by": self._timestamp() + 7 * 86400, "has_evidence": False,
                                 "past_due": False, "submission_count": 0},
            "is_charge_refundable": False, "payment_intent": charge.get("payment_intent"),
            "reason": to_str(params, "reason", choices=("fraudulent", "duplicate", "product_not_received",
                                                        "subscription_canceled", "general")) or "general",
            "status": "needs_response", "balance_transactions": []})
        withdrawn = self._balance_transaction(request, dispute["id"], -amount, charge["currency"], "adjustment",
                                              "Chargeback withdrawal")
        fee = self._balance_transaction(request, dispute["id"], -DISPUTE_FEE, charge["currency"], "adjustment",
                                        "Dispute fee")
        dispute["balance_transactions"] = [{"id": withdrawn, "amount": -amount, "fee": DISPUTE_FEE,
                                            "net": -amount - DISPUTE_FEE, "type": "adjustment"}]
        dispute["_fee_transaction"] = fee
        self._save("disputes", dispute)
        charge["disputed"] = True
        self._save("charges", charge)
        self._emit(request, "charge.dispute.created", dispute)
        return self._render(dispute, params)

    @endpoint("GET", "/disputes/{dispute_id}")
    def retrieve_dispute(self, request: Request, dispute_id: str) -> Response:
        return self._render(self._load("disputes", dispute_id, "dispute"), self._params(request))

    @endpoint("GET", "/disputes")
    def list_disputes(self, request: Request) -> Response:
        params = self._params(request)
        charge, intent = to_str(params, "charge"), to_str(params, "payment_intent")
        return self._list(request, "disputes", params,
                          lambda d: (charge is None or d["charge"] == charge)
                          and (intent is None or d.get("payment_intent") == intent),
                          filters=("charge", "payment_intent"))

    @endpoint("POST", "/disputes/{dispute_id}")
    def update_dispute(self, request: Request, dispute_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"metadata", "evidence", "submit"})
        dispute = self._load("disputes", dispute_id, "dispute")
        if dispute["status"] in ("won", "lost"):
            raise invalid(f"This dispute is already closed ({dispute['status']}).", None, "dispute_already_closed")
        if isinstance(params.get("evidence"), dict):
            dispute["evidence"] = {**dispute["evidence"], **params["evidence"]}
            dispute["evidence_details"]["has_evidence"] = True
        if to_bool(params, "submit"):
            dispute["status"] = "under_review"
            dispute["evidence_details"]["submission_count"] += 1
        dispute["metadata"] = merge_metadata(dispute.get("metadata"), params.get("metadata"))
        self._save("disputes", dispute)
        self._emit(request, "charge.dispute.updated", dispute)
        return self._render(dispute, params)

    @endpoint("POST", "/disputes/{dispute_id}/close")
    def close_dispute(self, request: Request, dispute_id: str) -> Response:
        """Accept the dispute: it is lost, the money stays with the card holder."""
        return self._close_dispute(request, dispute_id, "lost")

    @endpoint("POST", "/test_helpers/disputes/{dispute_id}/close")
    def decide_dispute(self, request: Request, dispute_id: str) -> Response:
        """Mock-only: the card network decides (``status`` won or lost). Won: the amount comes back."""
        params = self._params(request)
        check_unknown(params, {"status"})
        status = to_str(params, "status", required=True, choices=("won", "lost")) or "lost"
        return self._close_dispute(request, dispute_id, status)

    def _close_dispute(self, request: Request, dispute_id: str, status: str) -> Response:
        dispute = self._load("disputes", dispute_id, "dispute")
        if dispute["status"] in ("won", "lost"):
            raise invalid(f"This dispute is already closed ({dispute['status']}).", None, "dispute_already_closed")
        if status == "won":
            back = self._balance_transaction(request, dispute["id"], dispute["amount"], dispute["currency"],
                                             "adjustment", "Chargeback reversal")
            dispute["balance_transactions"].append({"id": back, "amount": dispute["amount"], "fee": 0,
                                                    "net": dispute["amount"], "type": "adjustment"})
        dispute["status"] = status
        self._save("disputes", dispute)
        self._emit(request, "charge.dispute.closed", dispute)
        return self._render(dispute, {})

    # --- idempotency, for tests --------------------------------------------------------------------------
    @endpoint("POST", "/test_helpers/idempotency_keys/expire")
    def expire_idempotency_keys(self, request: Request) -> Response:
        """Mock-only: what 24 hours do to idempotency keys (Stripe forgets them), now."""
        expired = self.sdk.storage.clear("idempotency")
        return Response.json({"object": "idempotency_keys", "expired": expired})

    # --- balance and events --------------------------------------------------------------------------------
    @endpoint("GET", "/balance")
    def retrieve_balance(self, request: Request) -> Response:
        totals: dict[str, int] = {}
        for txn in self.sdk.storage.query("balance_transactions", limit=None):
            totals[txn["currency"]] = totals.get(txn["currency"], 0) + txn["net"]
        currencies = sorted(totals) or ["usd"]
        return Response.json({
            "object": "balance", "livemode": self._livemode(request),
            "available": [{"amount": totals.get(c, 0), "currency": c, "source_types": {"card": totals.get(c, 0)}}
                          for c in currencies],
            "pending": [{"amount": 0, "currency": c, "source_types": {"card": 0}} for c in currencies],
            "connect_reserved": [{"amount": 0, "currency": c} for c in currencies],
        })

    @endpoint("GET", "/balance_transactions/{txn_id}")
    @endpoint("GET", "/balance/history/{txn_id}")
    def retrieve_balance_transaction(self, request: Request, txn_id: str) -> Response:
        return self._render(self._load("balance_transactions", txn_id, "id"), self._params(request))

    @endpoint("GET", "/balance_transactions")
    @endpoint("GET", "/balance/history")
    def list_balance_transactions(self, request: Request) -> Response:
        params = self._params(request)
        kind, source, currency = to_str(params, "type"), to_str(params, "source"), to_str(params, "currency")
        return self._list(request, "balance_transactions", params,
                          lambda t: (kind is None or t["type"] == kind) and (source is None or t["source"] == source)
                          and (currency is None or t["currency"] == currency),
                          filters=("type", "source", "currency", "payout"))

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

    # --- Connect: accounts and account links -------------------------------------------------------------
    ACCOUNT_FIELDS = {"type", "email", "country", "capabilities", "metadata", "business_type", "business_profile",
                      "company", "individual", "tos_acceptance", "default_currency", "settings",
                      "external_account", "controller"}
    COUNTRY_CURRENCY = {"US": "usd", "GB": "gbp", "CA": "cad", "AU": "aud", "JP": "jpy", "CH": "chf", "IN": "inr"}
    ONBOARDING_FIELDS = ["business_profile.url", "business_type", "external_account", "tos_acceptance.date",
                         "tos_acceptance.ip"]

    def _account_fields(self, params: Mapping[str, Any], account: dict[str, Any]) -> None:
        if "email" in params:
            account["email"] = to_str(params, "email")
        if "business_type" in params:
            account["business_type"] = to_str(params, "business_type",
                                              choices=("individual", "company", "non_profit", "government_entity"))
        if "default_currency" in params:
            account["default_currency"] = (to_str(params, "default_currency") or "").lower() or None
        for name in ("business_profile", "tos_acceptance", "company", "individual", "settings"):
            if name in params:
                value = params[name] or {}
                if not isinstance(value, dict):
                    raise invalid("Invalid object", name)
                merged = dict(account.get(name) or {})
                merged.update(value)
                account[name] = merged
        if "external_account" in params:
            account["_external_account"] = bool(params["external_account"])
        capabilities = params.get("capabilities")
        if capabilities:
            if not isinstance(capabilities, dict):
                raise invalid("Invalid object", "capabilities")
            caps = dict(account.get("capabilities") or {})
            for name, spec in capabilities.items():
                requested = to_bool(spec, "requested") if isinstance(spec, dict) else False
                if requested:
                    caps.setdefault(name, "inactive")
                else:
                    caps.pop(name, None)
            account["capabilities"] = caps
        account["metadata"] = merge_metadata(account.get("metadata"), params.get("metadata"))

    def _refresh_account(self, account: dict[str, Any]) -> None:
        """Custom accounts are enabled as soon as the onboarding fields are all present; express and
        standard accounts only through ``POST /v1/test_helpers/accounts/{id}/onboard`` (mock-only)."""
        due = self._account_due(account)
        if account["type"] == "custom" and not due:
            account["_onboarded"] = True
        onboarded = bool(account.get("_onboarded"))
        account["details_submitted"] = onboarded
        account["charges_enabled"] = onboarded
        account["payouts_enabled"] = onboarded
        account["capabilities"] = {name: "active" if onboarded else "inactive"
                                   for name in (account.get("capabilities") or {})}
        currently_due = [] if onboarded else due
        account["requirements"] = {"alternatives": [], "current_deadline": None, "currently_due": currently_due,
                                   "disabled_reason": None if onboarded else "requirements.past_due",
                                   "errors": [], "eventually_due": currently_due, "past_due": currently_due,
                                   "pending_verification": []}

    def _account_due(self, account: Mapping[str, Any]) -> list[str]:
        due = []
        for field in self.ONBOARDING_FIELDS:
            if field == "external_account":
                present = account.get("_external_account")
            else:
                head, _, rest = field.partition(".")
                value = account.get(head)
                present = (value or {}).get(rest) if rest else value
            if not present:
                due.append(field)
        return due

    @endpoint("POST", "/accounts")
    def create_account(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, self.ACCOUNT_FIELDS)
        kind = to_str(params, "type", choices=("express", "standard", "custom"))
        if kind is None:
            if params.get("controller"):
                kind = "standard"
            else:
                raise invalid("Missing required param: type.", "type", "parameter_missing")
        country = (to_str(params, "country") or "US").upper()
        account = self._new_object(request, "accounts", {
            "business_profile": {"mcc": None, "name": None, "url": None, "support_email": None},
            "business_type": None, "capabilities": {}, "charges_enabled": False, "country": country,
            "default_currency": self.COUNTRY_CURRENCY.get(country, "usd"), "details_submitted": False,
            "email": None, "external_accounts": {"object": "list", "data": [], "has_more": False, "total_count": 0},
            "payouts_enabled": False, "settings": {}, "tos_acceptance": {"date": None, "ip": None},
            "type": kind, "controller": {"type": "application", "is_controller": True},
        })
        account["external_accounts"]["url"] = f"/v1/accounts/{account['id']}/external_accounts"
        account.pop("livemode", None)  # Stripe's Account has no livemode
        self._account_fields(params, account)
        self._refresh_account(account)
        self._save("accounts", account)
        self._emit(request, "account.updated", account)
        return self._render(account, params)

    @endpoint("GET", "/accounts/{account_id}")
    def retrieve_account(self, request: Request, account_id: str) -> Response:
        return self._render(self._load("accounts", account_id, "account"), self._params(request))

    @endpoint("POST", "/accounts/{account_id}")
    def update_account(self, request: Request, account_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, self.ACCOUNT_FIELDS - {"type", "country", "controller"})
        account = self._load("accounts", account_id, "account")
        before = public(account)
        self._account_fields(params, account)
        self._refresh_account(account)
        self._save("accounts", account)
        changed = {k: before.get(k) for k in public(account) if before.get(k) != account.get(k)}
        self._emit(request, "account.updated", account, changed)
        return self._render(account, params)

    @endpoint("DELETE", "/accounts/{account_id}")
    def delete_account(self, request: Request, account_id: str) -> Response:
        account = self._load("accounts", account_id, "account")
        self._save("accounts", {"id": account_id, "object": "account", "deleted": True,
                                "_seq": account["_seq"], "created": account["created"]})
        return Response.json({"id": account_id, "object": "account", "deleted": True})

    @endpoint("GET", "/accounts")
    def list_accounts(self, request: Request) -> Response:
        return self._list(request, "accounts", self._params(request))

    @endpoint("POST", "/account_links")
    def create_account_link(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, {"account", "refresh_url", "return_url", "type", "collect", "collection_options"})
        account_id = to_str(params, "account", required=True)
        kind = to_str(params, "type", required=True, choices=("account_onboarding", "account_update"))
        for name in ("refresh_url", "return_url"):  # validated only: onboarding is the test helper below
            to_str(params, name, required=kind == "account_onboarding")
        self._load("accounts", account_id, "account")
        created = self._timestamp()
        token = self.sdk.random_string(12, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return Response.json({"object": "account_link", "created": created, "expires_at": created + 300,
                              "url": f"https://connect.stripe.com/setup/e/{account_id}/{token}"})

    @endpoint("POST", "/test_helpers/accounts/{account_id}/onboard")
    def onboard_account(self, request: Request, account_id: str) -> Response:
        """Mock-only: stands in for the user finishing the hosted onboarding behind an account link."""
        params = self._params(request)
        check_unknown(params, set())
        account = self._load("accounts", account_id, "account")
        before = public(account)
        account["_onboarded"] = True
        account["tos_acceptance"] = {**(account.get("tos_acceptance") or {}),
                                     "date": (account.get("tos_acceptance") or {}).get("date") or self._timestamp()}
        self._refresh_account(account)
        self._save("accounts", account)
        changed = {k: before.get(k) for k in public(account) if before.get(k) != account.get(k)}
        self._emit(request, "account.updated", account, changed)
        return self._render(account, params)

    # --- Connect: transfers and reversals ---------------------------------------------------------------
    def _available(self, currency: str) -> int:
        return sum(t["net"] for t in self.sdk.storage.query("balance_transactions", limit=None)
                   if t["currency"] == currency)

    def _transfer_reversals_list(self, transfer: Mapping[str, Any]) -> dict[str, Any]:
        reversals = sorted(self.sdk.storage.query("transfer_reversals", {"transfer": transfer["id"]}, limit=None),
                           key=lambda r: (r.get("created", 0), r.get("_seq", 0)), reverse=True)
        return {"object": "list", "data": [public(r) for r in reversals[:10]], "has_more": len(reversals) > 10,
                "total_count": len(reversals), "url": f"/v1/transfers/{transfer['id']}/reversals"}

    @endpoint("POST", "/transfers")
    def create_transfer(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, {"amount", "currency", "destination", "transfer_group", "metadata", "description",
                               "source_transaction", "source_type"})
        amount = cast(int, to_int(params, "amount", required=True, minimum=1))  # required: never None
        currency = (to_str(params, "currency", required=True) or "").lower()
        destination = cast(str, to_str(params, "destination", required=True))
        account = self.sdk.storage.get("accounts", destination)
        if account is None or account.get("deleted"):
            raise StripeError(404, f"No such destination: '{destination}'", code="resource_missing",
                              param="destination")
        available = self._available(currency)
        if amount > available:
            raise invalid("You have insufficient available funds in your Stripe account. Try adding funds directly "
                          "to your available balance by creating Charges using the 4000000000000077 test card. See: "
                          "https://stripe.com/docs/testing#available-balance", None, "balance_insufficient")
        transfer = self._new_object(request, "transfers", {
            "amount": amount, "amount_reversed": 0, "balance_transaction": None, "currency": currency,
            "description": to_str(params, "description"), "destination": destination,
            "destination_payment": self.sdk.generate_id("py_"), "reversed": False,
            "source_transaction": to_str(params, "source_transaction"),
            "source_type": to_str(params, "source_type") or "card",
            "transfer_group": to_str(params, "transfer_group"),
            "metadata": merge_metadata({}, params.get("metadata")),
        })
        transfer["reversals"] = self._transfer_reversals_list(transfer)
        transfer["balance_transaction"] = self._balance_transaction(request, transfer["id"], -amount, currency,
                                                                    "transfer")
        self._save("transfers", transfer)
        self._emit(request, "transfer.created", transfer)
        return self._render(transfer, params)

    @endpoint("GET", "/transfers/{transfer_id}")
    def retrieve_transfer(self, request: Request, transfer_id: str) -> Response:
        return self._render(self._load("transfers", transfer_id, "transfer"), self._params(request))

    @endpoint("POST", "/transfers/{transfer_id}")
    def update_transfer(self, request: Request, transfer_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"metadata", "description"})
        transfer = self._load("transfers", transfer_id, "transfer")
        before = public(transfer)
        if "description" in params:
            transfer["description"] = to_str(params, "description")
        transfer["metadata"] = merge_metadata(transfer.get("metadata"), params.get("metadata"))
        self._save("transfers", transfer)
        changed = {k: before.get(k) for k in ("metadata", "description") if before.get(k) != transfer.get(k)}
        self._emit(request, "transfer.updated", transfer, changed)
        return self._render(transfer, params)

    @endpoint("GET", "/transfers")
    def list_transfers(self, request: Request) -> Response:
        params = self._params(request)
        destination, group = to_str(params, "destination"), to_str(params, "transfer_group")
        return self._list(request, "transfers", params,
                          lambda t: (destination is None or t["destination"] == destination)
                          and (group is None or t.get("transfer_group") == group),
                          filters=("destination", "transfer_group"))

    @endpoint("POST", "/transfers/{transfer_id}/reversals")
    def create_transfer_reversal(self, request: Request, transfer_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"amount", "description", "metadata", "refund_application_fee"})
        transfer = self._load("transfers", transfer_id, "id")
        remaining = transfer["amount"] - transfer["amount_reversed"]
        if remaining <= 0:
            raise invalid(f"Transfer {transfer_id} has already been fully reversed.", "amount")
        amount = cast(int, to_int(params, "amount", minimum=1, default=remaining))
        if amount > remaining:
            raise invalid(f"Reversal amount ({self._money(amount, transfer['currency'])}) is greater than "
                          f"unreversed amount on transfer ({self._money(remaining, transfer['currency'])})",
                          "amount", "amount_too_large")
        reversal = self._new_object(request, "transfer_reversals", {
            "amount": amount, "balance_transaction": None, "currency": transfer["currency"],
            "destination_payment_refund": self.sdk.generate_id("pyr_"), "source_refund": None,
            "transfer": transfer_id, "metadata": merge_metadata({}, params.get("metadata")),
        })
        reversal.pop("livemode", None)
        reversal["balance_transaction"] = self._balance_transaction(request, reversal["id"], amount,
                                                                    transfer["currency"], "transfer_refund")
        self._save("transfer_reversals", reversal)
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] >= transfer["amount"]
        transfer["reversals"] = self._transfer_reversals_list(transfer)
        self._save("transfers", transfer)
        self._emit(request, "transfer.reversed", transfer, {"amount_reversed": transfer["amount_reversed"] - amount})
        return self._render(reversal, params)

    @endpoint("GET", "/transfers/{transfer_id}/reversals")
    def list_transfer_reversals(self, request: Request, transfer_id: str) -> Response:
        self._load("transfers", transfer_id, "id")
        return self._list(request, "transfer_reversals", self._params(request),
                          lambda r: r["transfer"] == transfer_id, url=f"/v1/transfers/{transfer_id}/reversals")

    @endpoint("GET", "/transfers/{transfer_id}/reversals/{reversal_id}")
    def retrieve_transfer_reversal(self, request: Request, transfer_id: str, reversal_id: str) -> Response:
        reversal = self._load("transfer_reversals", reversal_id, "id")
        if reversal["transfer"] != transfer_id:
            raise missing("transfer_reversals", reversal_id)
        return self._render(reversal, self._params(request))

    @endpoint("POST", "/transfers/{transfer_id}/reversals/{reversal_id}")
    def update_transfer_reversal(self, request: Request, transfer_id: str, reversal_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"metadata"})
        reversal = self._load("transfer_reversals", reversal_id, "id")
        if reversal["transfer"] != transfer_id:
            raise missing("transfer_reversals", reversal_id)
        reversal["metadata"] = merge_metadata(reversal.get("metadata"), params.get("metadata"))
        self._save("transfer_reversals", reversal)
        return self._render(reversal, params)

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

    # --- billing: products, prices, subscriptions, invoices, checkout ------------------------------
    @staticmethod
    def _as_list(value: Any, param: str) -> list[Any]:
        if value is None or value == "":
            return []
        if isinstance(value, list):
            return value
        if isinstance(value, dict):
            return [value[k] for k in sorted(value, key=lambda k: int(k) if str(k).isdigit() else 0)]
        raise invalid(f"Invalid array: {param}", param)

    PRODUCT_FIELDS = {"name", "active", "description", "metadata", "images", "url", "statement_descriptor",
                      "unit_label", "tax_code", "shippable", "default_price_data", "id", "marketing_features"}

    def _product_fields(self, params: Mapping[str, Any], product: dict[str, Any]) -> None:
        for name in ("name", "description", "url", "statement_descriptor", "unit_label", "tax_code"):
            if name in params:
                product[name] = to_str(params, name)
        if "active" in params:
            product["active"] = to_bool(params, "active", True)
        if "shippable" in params:
            product["shippable"] = to_bool(params, "shippable")
        if "images" in params:
            product["images"] = self._as_list(params["images"], "images")
        product["metadata"] = merge_metadata(product.get("metadata"), params.get("metadata"))

    def _create_product(self, request: Request, params: Mapping[str, Any]) -> dict[str, Any]:
        if not to_str(params, "name"):
            raise invalid("Missing required param: name.", "name", "parameter_missing")
        product = self._new_object(request, "products", {
            "active": True, "default_price": None, "description": None, "images": [], "marketing_features": [],
            "package_dimensions": None, "shippable": None, "statement_descriptor": None, "tax_code": None,
            "type": "service", "unit_label": None, "url": None, "updated": self._timestamp()})
        if to_str(params, "id"):
            if self.sdk.storage.get("products", str(params["id"])):
                raise invalid("Product already exists.", "id", "resource_already_exists")
            product["id"] = str(params["id"])
        self._product_fields(params, product)
        self._save("products", product)
        self._emit(request, "product.created", product)
        return product

    @endpoint("POST", "/products")
    def create_product(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, self.PRODUCT_FIELDS)
        product = self._create_product(request, params)
        data = params.get("default_price_data")
        if isinstance(data, dict):
            price = self._create_price(request, {**data, "product": product["id"]})
            product["default_price"] = price["id"]
            self._save("products", product)
        return self._render(product, params)

    @endpoint("GET", "/products/{product_id}")
    def retrieve_product(self, request: Request, product_id: str) -> Response:
        return self._render(self._load("products", product_id), self._params(request))

    @endpoint("POST", "/products/{product_id}")
    def update_product(self, request: Request, product_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, (self.PRODUCT_FIELDS - {"id", "default_price_data"}) | {"default_price"})
        product = self._load("products", product_id)
        before = public(dict(product))
        self._product_fields(params, product)
        if "default_price" in params:
            price_id = to_str(params, "default_price")
            if price_id and self._load("prices", price_id, "default_price")["product"] != product_id:
                raise invalid("The default price must belong to this product.", "default_price")
            product["default_price"] = price_id
        product["updated"] = self._timestamp()
        self._save("products", product)
        self._emit(request, "product.updated", product,
                   {k: v for k, v in before.items() if product.get(k) != v and k != "updated"})
        return self._render(product, params)

    @endpoint("DELETE", "/products/{product_id}")
    def delete_product(self, request: Request, product_id: str) -> Response:
        product = self._load("products", product_id)
        if any(p.get("product") == product_id for p in self.sdk.storage.query("prices", limit=None)):
            raise invalid("This product cannot be deleted because it has one or more user-created prices.")
        product["deleted"] = True
        self._save("products", product)
        self._emit(request, "product.deleted", product)
        return Response.json({"id": product_id, "object": "product", "deleted": True})

    @endpoint("GET", "/products")
    def list_products(self, request: Request) -> Response:
        params = self._params(request)
        active = to_bool(params, "active") if "active" in params else None
        ids = self._as_list(params.get("ids"), "ids")
        return self._list(request, "products", params,
                          lambda p: (active is None or p["active"] == active) and (not ids or p["id"] in ids),
                          filters=("active", "ids", "shippable", "url"))

    PRICE_FIELDS = {"unit_amount", "currency", "product", "product_data", "recurring", "active", "nickname",
                    "metadata", "lookup_key", "billing_scheme", "tax_behavior", "unit_amount_decimal",
                    "transfer_lookup_key"}

    def _create_price(self, request: Request, params: Mapping[str, Any]) -> dict[str, Any]:
        currency = (to_str(params, "currency", required=True) or "").lower()
        unit_amount = to_int(params, "unit_amount", minimum=0, maximum=99999999)
        if unit_amount is None:
            if params.get("unit_amount_decimal") not in (None, ""):
                unit_amount = int(float(str(params["unit_amount_decimal"])))
            else:
                raise invalid("Missing required param: unit_amount.", "unit_amount", "parameter_missing")
        product_id = to_str(params, "product")
        if product_id:
            self._load("products", product_id, "product")
        elif isinstance(params.get("product_data"), dict):
            product_id = self._create_product(request, params["product_data"])["id"]
        else:
            raise invalid("You must specify either `product` or `product_data` when creating a price.",
                          "product", "parameter_missing")
        recurring = None
        if params.get("recurring") not in (None, ""):
            spec = params["recurring"]
            if not isinstance(spec, dict):
                raise invalid("Invalid object", "recurring")
            interval = to_str(spec, "interval", required=True)
            if interval not in ("day", "week", "month", "year"):
                raise invalid("Invalid recurring[interval]: must be one of day, week, month, or year",
                              "recurring[interval]")
            recurring = {"interval": interval,
                         "interval_count": to_int(spec, "interval_count", minimum=1, default=1),
                         "meter": None, "trial_period_days": None,
                         "usage_type": to_str(spec, "usage_type") or "licensed"}
        price = self._new_object(request, "prices", {
            "active": to_bool(params, "active", True), "billing_scheme": "per_unit", "currency": currency,
            "custom_unit_amount": None, "lookup_key": to_str(params, "lookup_key"),
            "nickname": to_str(params, "nickname"), "product": product_id, "recurring": recurring,
            "tax_behavior": to_str(params, "tax_behavior") or "unspecified", "tiers_mode": None,
            "transform_quantity": None, "type": "recurring" if recurring else "one_time",
            "unit_amount": unit_amount, "unit_amount_decimal": str(unit_amount),
            "metadata": merge_metadata({}, params.get("metadata"))})
        self._save("prices", price)
        self._emit(request, "price.created", price)
        return price

    @endpoint("POST", "/prices")
    def create_price(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, self.PRICE_FIELDS)
        return self._render(self._create_price(request, params), params)

    @endpoint("GET", "/prices/{price_id}")
    def retrieve_price(self, request: Request, price_id: str) -> Response:
        return self._render(self._load("prices", price_id), self._params(request))

    @endpoint("POST", "/prices/{price_id}")
    def update_price(self, request: Request, price_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"active", "nickname", "metadata", "lookup_key", "tax_behavior",
                               "transfer_lookup_key"})
        price = self._load("prices", price_id)
        before = public(dict(price))
        if "active" in params:
            price["active"] = to_bool(params, "active", True)
        for name in ("nickname", "lookup_key", "tax_behavior"):
            if name in params:
                price[name] = to_str(params, name)
        price["metadata"] = merge_metadata(price.get("metadata"), params.get("metadata"))
        self._save("prices", price)
        self._emit(request, "price.updated", price, {k: v for k, v in before.items() if price.get(k) != v})
        return self._render(price, params)

    @endpoint("GET", "/prices")
    def list_prices(self, request: Request) -> Response:
        params = self._params(request)
        product = to_str(params, "product")
        active = to_bool(params, "active") if "active" in params else None
        kind = to_str(params, "type", choices=("one_time", "recurring"))
        currency = (to_str(params, "currency") or "").lower() or None
        lookup_keys = self._as_list(params.get("lookup_keys"), "lookup_keys")
        return self._list(request, "prices", params,
                          lambda p: (product is None or p["product"] == product)
                          and (active is None or p["active"] == active) and (kind is None or p["type"] == kind)
                          and (currency is None or p["currency"] == currency)
                          and (not lookup_keys or p.get("lookup_key") in lookup_keys),
                          filters=("product", "active", "type", "currency", "lookup_keys", "recurring"))

    # --- subscriptions & invoices ----------------------------------------------------------------------
    @staticmethod
    def _add_interval(ts: int, interval: str, count: int) -> int:
        import calendar
        from datetime import datetime, timezone
        if interval == "day":
            return ts + 86400 * count
        if interval == "week":
            return ts + 7 * 86400 * count
        start = datetime.fromtimestamp(ts, tz=timezone.utc)
        months = count * (12 if interval == "year" else 1)
        month_index = start.month - 1 + months
        year, month = start.year + month_index // 12, month_index % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return int(start.replace(year=year, month=month, day=day).timestamp())

    SUBSCRIPTION_FIELDS = {"customer", "items", "default_payment_method", "trial_period_days", "trial_end",
                           "metadata", "description", "cancel_at_period_end", "payment_behavior", "currency",
                           "collection_method", "days_until_due", "off_session", "payment_settings",
                           "proration_behavior", "expand", "coupon", "discounts", "automatic_tax",
                           "billing_cycle_anchor"}

    def _subscription_items(self, request: Request, sub_id: str, items: list[Any]) -> list[dict[str, Any]]:
        if not items:
            raise invalid("Missing required param: items.", "items", "parameter_missing")
        built = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise invalid("Invalid object", f"items[{index}]")
            price_id = to_str(item, "price")
            if price_id:
                price = self._load("prices", price_id, f"items[{index}][price]")
            elif isinstance(item.get("price_data"), dict):
                price = self._create_price(request, item["price_data"])
            else:
                raise invalid("Missing required param: items[0][price].", f"items[{index}][price]",
                              "parameter_missing")
            if price["type"] != "recurring":
                raise invalid("The price specified is set to `type=one_time` but this field only accepts prices "
                              "with `type=recurring`.", f"items[{index}][price]")
            built.append(public(self._new_object(request, "subscription_items", {
                "price": public(price), "plan": None, "quantity": to_int(item, "quantity", minimum=1, default=1),
                "subscription": sub_id, "discounts": [], "tax_rates": [],
                "metadata": merge_metadata({}, item.get("metadata"))})))
        currencies = {i["price"]["currency"] for i in built}
        if len(currencies) > 1:
            raise invalid("All prices on a subscription must have the same currency.", "items")
        return built

    def _default_pm(self, subscription: Mapping[str, Any]) -> str | None:
        if subscription.get("default_payment_method"):
            return subscription["default_payment_method"]
        customer = self.sdk.storage.get("customers", subscription["customer"]) or {}
        return (customer.get("invoice_settings") or {}).get("default_payment_method")

    def _new_invoice(self, request: Request, subscription: dict[str, Any], reason: str,
                     prorations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """A subscription's invoice: its items for the period, or (``prorations``) the lines of a plan
        change; a renewal also bills the prorations a ``create_prorations`` change left pending."""
        start, end = subscription["current_period_start"], subscription["current_period_end"]
        trialing = subscription["status"] == "trialing"
        invoice = self._new_object(request, "invoices", {
            "account_country": "US", "account_name": None, "amount_due": 0, "amount_paid": 0,
            "amount_remaining": 0, "amount_overpaid": 0, "attempt_count": 0, "attempted": False,
            "auto_advance": False, "billing_reason": reason, "collection_method": "charge_automatically",
            "currency": subscription["currency"], "customer": subscription["customer"],
            "customer_email": (self.sdk.storage.get("customers", subscription["customer"]) or {}).get("email"),
            "default_payment_method": None, "description": None, "due_date": None, "ending_balance": 0,
            "hosted_invoice_url": None, "invoice_pdf": None, "last_finalization_error": None,
            "lines": None, "next_payment_attempt": None, "number": None, "paid": False,
            "paid_out_of_band": False, "payment_intent": None, "confirmation_secret": None,
            "period_start": start, "period_end": end,
            "parent": {"type": "subscription_details", "quote_details": None,
                       "subscription_details": {"metadata": dict(subscription.get("metadata") or {}),
                                                "subscription": subscription["id"]}},
            "starting_balance": 0, "status": "draft", "status_transitions": {
                "finalized_at": None, "marked_uncollectible_at": None, "paid_at": None, "voided_at": None},
            "subscription": subscription["id"], "subtotal": 0, "total": 0, "webhooks_delivered_at": None})
        lines = []
        for proration in self._pending_prorations(subscription, reason) if prorations is None else prorations:
            line = public(self._new_object(request, "invoice_line_items", {
                "amount": proration["amount"], "currency": subscription["currency"],
                "description": proration["description"], "invoice": invoice["id"],
                "period": {"start": proration["start"], "end": end}, "price": proration["price"],
                "pricing": {"price_details": {"price": proration["price"]["id"],
                                              "product": proration["price"]["product"]},
                            "type": "price_details",
                            "unit_amount_decimal": proration["price"]["unit_amount_decimal"]},
                "proration": True, "quantity": proration["quantity"], "subscription": subscription["id"],
                "subscription_item": proration["item"], "type": "subscription"}))
            line.pop("created", None)
            lines.append(line)
        for item in ([] if prorations is not None else subscription["items"]["data"]):
            price = item["price"]
            amount = 0 if trialing else price["unit_amount"] * item["quantity"]
            line = public(self._new_object(request, "invoice_line_items", {
                "amount": amount, "currency": price["currency"], "description":
                f"{'Trial period for ' if trialing else ''}{item['quantity']} × "
                f"{(self.sdk.storage.get('products', price['product']) or {}).get('name', price['product'])}",
                "invoice": invoice["id"], "period": {"start": start, "end": end}, "price": price,
                "pricing": {"price_details": {"price": price["id"], "product": price["product"]},
                            "type": "price_details", "unit_amount_decimal": price["unit_amount_decimal"]},
                "quantity": item["quantity"], "subscription": subscription["id"], "subscription_item": item["id"],
                "type": "subscription"}))
            line.pop("created", None)
            lines.append(line)
        total = sum(line["amount"] for line in lines)
        invoice["lines"] = {"object": "list", "data": lines, "has_more": False,
                            "url": f"/v1/invoices/{invoice['id']}/lines", "total_count": len(lines)}
        due = max(0, total)  # a credit (a downgrade prorated) goes to the customer's balance
        if total < 0:
            customer = self.sdk.storage.get("customers", subscription["customer"])
            if customer is not None:
                customer["balance"] = int(customer.get("balance") or 0) + total
                self._save("customers", customer)
            invoice["ending_balance"] = total
        invoice.update({"amount_due": due, "amount_remaining": due, "subtotal": total, "total": total,
                        "subtotal_excluding_tax": total, "total_excluding_tax": total})
        self._save("invoices", invoice)
        self._emit(request, "invoice.created", invoice)
        # finalize at once (Stripe finalizes a subscription's first invoice immediately)
        return self._finalize_invoice(request, invoice)

    def _pending_prorations(self, subscription: dict[str, Any], reason: str) -> list[dict[str, Any]]:
        """The prorations a ``create_prorations`` change left for the next renewal (taken once)."""
        if reason != "subscription_cycle":
            return []
        pending = subscription.pop("_pending_prorations", None) or []
        return list(pending)

    def _prorations(self, subscription: dict[str, Any], changes: list[tuple[dict[str, Any], dict[str, Any], int, str]]
                    ) -> list[dict[str, Any]]:
        """What a price change is worth for the rest of the period: the unused time of the old price
        credited, the remaining time of the new one charged (integer cents, rounded down)."""
        now = self._timestamp()
        start, end = subscription["current_period_start"], subscription["current_period_end"]
        period = max(1, end - start)
        remaining = min(period, max(0, end - now))  # a period advanced past now (test helper): all of it
        when = datetime_text(now)
        out = []
        for old, new, quantity, item in changes:
            name = lambda price: (self.sdk.storage.get("products", price["product"]) or {}).get(  # noqa: E731
                "name", price["product"])
            out.append({"amount": -(old["unit_amount"] * quantity * remaining // period), "price": old,
                        "quantity": quantity, "item": item, "start": now,
                        "description": f"Unused time on {quantity} × {name(old)} after {when}"})
            out.append({"amount": new["unit_amount"] * quantity * remaining // period, "price": new,
                        "quantity": quantity, "item": item, "start": now,
                        "description": f"Remaining time on {quantity} × {name(new)} after {when}"})
        return out

    def _finalize_invoice(self, request: Request, invoice: dict[str, Any]) -> dict[str, Any]:
        invoice["status"] = "open"
        invoice["number"] = f"{invoice['id'][3:11].upper()}-{self._next_seq():04d}"
        invoice["status_transitions"]["finalized_at"] = self._timestamp()
        invoice["hosted_invoice_url"] = f"https://invoice.stripe.com/i/{invoice['id']}"
        invoice["invoice_pdf"] = f"https://pay.stripe.com/invoice/{invoice['id']}/pdf"
        self._save("invoices", invoice)
        self._emit(request, "invoice.finalized", invoice)
        return invoice

    def _mark_invoice_paid(self, request: Request, invoice: dict[str, Any]) -> None:
        invoice.update({"status": "paid", "paid": True, "amount_paid": invoice["amount_due"],
                        "amount_remaining": 0})
        invoice["status_transitions"]["paid_at"] = self._timestamp()
        self._save("invoices", invoice)
        self._emit(request, "invoice.paid", invoice)
        self._emit(request, "invoice.payment_succeeded", invoice)

    def _attempt_invoice(self, request: Request, invoice: dict[str, Any], pm_id: str | None) -> StripeError | None:
        """Try to pay an open invoice. Returns the card error on failure (the invoice stays open)."""
        if invoice["amount_due"] == 0:
            self._mark_invoice_paid(request, invoice)
            return None
        invoice["attempted"] = True
        invoice["attempt_count"] += 1
        if not pm_id:
            self._save("invoices", invoice)
            self._emit(request, "invoice.payment_failed", invoice)
            return invalid("This customer has no attached payment source or default payment method. Please "
                           "consider adding a default payment method.")
        intent = self._invoice_intent(request, invoice)
        intent.pop("_invoice", None)  # paid here, not through the confirm hook
        try:
            self._confirm(request, intent, {"payment_method": pm_id, "off_session": "true"})
        except StripeError as exc:
            self._save("invoices", invoice)
            self._emit(request, "invoice.payment_failed", invoice)
            return exc
        intent = self.sdk.storage.get("payment_intents", intent["id"])
        charge = self.sdk.storage.get("charges", intent["latest_charge"]) if intent else None
        if charge is not None:
            charge["invoice"] = invoice["id"]
            self._save("charges", charge)
        invoice["charge"] = intent["latest_charge"] if intent else None
        invoice["default_payment_method"] = None
        self._mark_invoice_paid(request, invoice)
        return None

    def _invoice_intent(self, request: Request, invoice: dict[str, Any]) -> dict[str, Any]:
        """The invoice's PaymentIntent (created on first use)."""
        intent = self.sdk.storage.get("payment_intents", invoice["payment_intent"]) \
            if invoice.get("payment_intent") else None
        if not intent:
            intent = self._new_object(request, "payment_intents", {
                "amount": invoice["amount_due"], "amount_capturable": 0, "amount_details": {"tip": {}},
                "amount_received": 0, "application": None, "application_fee_amount": None,
                "automatic_payment_methods": None, "canceled_at": None, "cancellation_reason": None,
                "capture_method": "automatic", "client_secret": None, "confirmation_method": "automatic",
                "currency": invoice["currency"], "customer": invoice["customer"],
                "description": {"subscription_create": "Subscription creation", "manual": invoice.get(
                    "description")}.get(invoice["billing_reason"], "Subscription update"),
                "last_payment_error": None, "latest_charge": None,
                "next_action": None, "on_behalf_of": None, "payment_method": None, "payment_method_options": {},
                "payment_method_types": ["card"], "processing": None, "receipt_email": None, "review": None,
                "setup_future_usage": "off_session", "shipping": None, "source": None,
                "statement_descriptor": None, "statement_descriptor_suffix": None,
                "status": "requires_payment_method", "transfer_data": None, "transfer_group": None})
            intent["client_secret"] = f"{intent['id']}_secret_{self.sdk.random_string(24)}"
            self._save("payment_intents", intent)
            self._emit(request, "payment_intent.created", intent)
            invoice["payment_intent"] = intent["id"]
            invoice["confirmation_secret"] = {"client_secret": intent["client_secret"], "type": "payment_intent"}
        return intent

    def _settle_invoice_intent(self, request: Request, intent: dict[str, Any]) -> None:
        invoice = self.sdk.storage.get("invoices", intent["_invoice"])
        if invoice is None or invoice["status"] != "open":
            return
        charge = self.sdk.storage.get("charges", intent["latest_charge"])
        if charge is not None:
            charge["invoice"] = invoice["id"]
            self._save("charges", charge)
        invoice["charge"] = intent["latest_charge"]
        invoice["attempted"], invoice["attempt_count"] = True, invoice["attempt_count"] + 1
        self._mark_invoice_paid(request, invoice)
        subscription = self.sdk.storage.get("subscriptions", invoice["subscription"]) \
            if invoice.get("subscription") else None
        if subscription and subscription["status"] in ("incomplete", "past_due"):
            self._set_sub_status(request, subscription, "active")

    def _set_sub_status(self, request: Request, subscription: dict[str, Any], status: str) -> None:
        if subscription["status"] != status:
            previous = {"status": subscription["status"]}
            subscription["status"] = status
            self._save("subscriptions", subscription)
            self._emit(request, "customer.subscription.updated", subscription, previous)

    def _create_subscription(self, request: Request, params: Mapping[str, Any]) -> dict[str, Any]:
        customer_id = to_str(params, "customer", required=True)
        customer = self._load("customers", customer_id, "customer")
        pm_id = to_str(params, "default_payment_method")
        if pm_id:
            pm = self._resolve_payment_method(request, pm_id, "default_payment_method")
            if pm.get("customer") not in (None, customer_id):
                raise invalid(f"The customer does not have a payment method with the ID {pm['id']}. The payment "
                              "method must be attached to the customer.", "default_payment_method",
                              "resource_missing")
            if not pm.get("customer"):
                pm["customer"] = customer_id
                self._save("payment_methods", pm)
                self._emit(request, "payment_method.attached", pm)
            pm_id = pm["id"]
        trial_days = to_int(params, "trial_period_days", minimum=0, maximum=730)
        now = self._timestamp()
        sub_id = self.sdk.generate_id("sub_")
        items = self._subscription_items(request, sub_id, self._as_list(params.get("items"), "items"))
        recurring = items[0]["price"]["recurring"]
        trial_end = to_int(params, "trial_end") if str(params.get("trial_end", "")) not in ("", "now") else None
        if trial_days:
            trial_end = now + trial_days * 86400
        period_end = trial_end or self._add_interval(now, recurring["interval"], recurring["interval_count"])
        for item in items:
            item["current_period_start"], item["current_period_end"] = now, period_end
        subscription = self._new_object(request, "subscriptions", {
            "application": None, "application_fee_percent": None, "automatic_tax": {"enabled": False},
            "billing_cycle_anchor": period_end if trial_end else now, "billing_thresholds": None, "cancel_at": None,
            "cancel_at_period_end": to_bool(params, "cancel_at_period_end"), "canceled_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "collection_method": "charge_automatically", "currency": items[0]["price"]["currency"],
            "current_period_start": now, "current_period_end": period_end, "customer": customer["id"],
            "days_until_due": None, "default_payment_method": pm_id, "description": to_str(params, "description"),
            "discounts": [], "ended_at": None,
            "items": {"object": "list", "data": items, "has_more": False, "total_count": len(items),
                      "url": f"/v1/subscription_items?subscription={sub_id}"},
            "latest_invoice": None, "pause_collection": None, "pending_setup_intent": None,
            "pending_update": None, "start_date": now, "status": "trialing" if trial_end else "incomplete",
            "trial_end": trial_end, "trial_start": now if trial_end else None,
            "metadata": merge_metadata({}, params.get("metadata"))})
        subscription["id"] = sub_id
        self._save("subscriptions", subscription)
        self._emit(request, "customer.subscription.created", subscription)
        invoice = self._new_invoice(request, subscription, "subscription_create")
        subscription["latest_invoice"] = invoice["id"]
        self._save("subscriptions", subscription)
        behavior = to_str(params, "payment_behavior",
                          choices=("allow_incomplete", "default_incomplete", "error_if_incomplete",
                                   "pending_if_incomplete")) or "allow_incomplete"
        if behavior == "default_incomplete" and invoice["amount_due"] > 0:
            # Stripe's recommended flow: the client confirms latest_invoice's PaymentIntent itself
            # (confirmation_secret); its success pays the invoice and activates the subscription.
            intent = self._invoice_intent(request, invoice)
            intent["_invoice"] = invoice["id"]
            if self._default_pm(subscription):
                intent["payment_method"] = self._default_pm(subscription)
                intent["status"] = "requires_confirmation"
            self._save("payment_intents", intent)
            self._save("invoices", invoice)
            return subscription
        error = self._attempt_invoice(request, invoice, self._default_pm(subscription))
        if error is None:
            if subscription["status"] == "incomplete":
                self._set_sub_status(request, subscription, "active")
        elif behavior == "error_if_incomplete":
            raise error
        return subscription

    @endpoint("POST", "/subscriptions")
    def create_subscription(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, self.SUBSCRIPTION_FIELDS)
        return self._render(self._create_subscription(request, params), params)

    @endpoint("GET", "/subscriptions/{sub_id}")
    def retrieve_subscription(self, request: Request, sub_id: str) -> Response:
        return self._render(self._load("subscriptions", sub_id), self._params(request))

    @endpoint("POST", "/subscriptions/{sub_id}")
    def update_subscription(self, request: Request, sub_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"cancel_at_period_end", "metadata", "description", "default_payment_method",
                               "proration_behavior", "payment_behavior", "cancel_at", "cancellation_details",
                               "items", "expand"})
        subscription = self._load("subscriptions", sub_id)
        if subscription["status"] in ("canceled", "incomplete_expired"):
            raise invalid("A canceled subscription can only update its cancellation_details and metadata.")
        previous: dict[str, Any] = {}
        if "items" in params:
            self._change_items(request, subscription, params, previous)
        if "cancel_at_period_end" in params:
            flag = to_bool(params, "cancel_at_period_end")
            if flag != subscription["cancel_at_period_end"]:
                previous["cancel_at_period_end"] = subscription["cancel_at_period_end"]
                previous["cancel_at"] = subscription["cancel_at"]
                subscription["cancel_at_period_end"] = flag
                subscription["cancel_at"] = subscription["current_period_end"] if flag else None
                subscription["canceled_at"] = self._timestamp() if flag else None
        if "description" in params:
            previous["description"] = subscription["description"]
            subscription["description"] = to_str(params, "description")
        if "default_payment_method" in params:
            pm_id = to_str(params, "default_payment_method")
            if pm_id:
                pm = self._load("payment_methods", pm_id, "default_payment_method")
                if pm.get("customer") != subscription["customer"]:
                    raise invalid(f"The customer does not have a payment method with the ID {pm_id}. The "
                                  "payment method must be attached to the customer.", "default_payment_method",
                                  "resource_missing")
            previous["default_payment_method"] = subscription["default_payment_method"]
            subscription["default_payment_method"] = pm_id
        if "metadata" in params:
            previous["metadata"] = dict(subscription["metadata"])
            subscription["metadata"] = merge_metadata(subscription["metadata"], params["metadata"])
        self._save("subscriptions", subscription)
        self._emit(request, "customer.subscription.updated", subscription, previous)
        return self._render(subscription, params)

    def _change_items(self, request: Request, subscription: dict[str, Any], params: Mapping[str, Any],
                      previous: dict[str, Any]) -> None:
        """``items[n][id]`` + ``items[n][price]`` / ``[quantity]``: a plan change. ``proration_behavior``:
        ``create_prorations`` (default: billed at the next renewal), ``always_invoice`` (invoiced and
        charged now) or ``none``. With ``payment_behavior=error_if_incomplete`` a declined proration
        changes nothing and raises the card error."""
        behaviour = to_str(params, "proration_behavior", choices=("create_prorations", "none", "always_invoice")) \
            or "create_prorations"
        payment = to_str(params, "payment_behavior", choices=("allow_incomplete", "default_incomplete",
                                                              "error_if_incomplete", "pending_if_incomplete")) \
            or "allow_incomplete"
        items = subscription["items"]["data"]
        before = json.loads(json.dumps(items))
        changes: list[tuple[dict[str, Any], dict[str, Any], int, str]] = []
        for index, change in enumerate(self._as_list(params.get("items"), "items")):
            if not isinstance(change, dict):
                raise invalid("Invalid object", f"items[{index}]")
            item = next((i for i in items if i["id"] == change.get("id")), None)
            if item is None:
                raise invalid(f"No such subscription item: '{change.get('id')}'", f"items[{index}][id]",
                              "resource_missing")
            old, quantity = item["price"], to_int(change, "quantity", minimum=1, default=item["quantity"]) or 1
            new = old
            if to_str(change, "price"):
                new = public(self._load("prices", to_str(change, "price"), f"items[{index}][price]"))
                if new["type"] != "recurring" or new["currency"] != old["currency"]:
                    raise invalid("The price must be recurring and in the subscription's currency.",
                                  f"items[{index}][price]")
            if new["id"] != old["id"] or quantity != item["quantity"]:
                changes.append((old, new, quantity, item["id"]))
                item["price"], item["quantity"] = new, quantity
                item["metadata"] = merge_metadata(item.get("metadata"), change.get("metadata"))
        if not changes:
            return
        previous["items"] = {"object": "list", "data": before}
        if behaviour == "none" or subscription["status"] == "trialing":
            return
        prorations = self._prorations(subscription, [(o, n, q, i) for o, n, q, i in changes])
        if behaviour == "create_prorations":
            subscription["_pending_prorations"] = [*(subscription.get("_pending_prorations") or []), *prorations]
            return
        invoice = self._new_invoice(request, subscription, "subscription_update", prorations)
        error = self._attempt_invoice(request, invoice, self._default_pm(subscription))
        if error is not None and payment == "error_if_incomplete":
            subscription["items"]["data"] = before  # nothing changes: the proration could not be paid
            self._void(request, invoice)
            raise error
        subscription["latest_invoice"] = invoice["id"]
        if error is not None:
            subscription["status"] = "past_due"

    def _void(self, request: Request, invoice: dict[str, Any]) -> None:
        invoice.update({"status": "void", "amount_remaining": 0})
        invoice["status_transitions"]["voided_at"] = self._timestamp()
        self._save("invoices", invoice)
        self._emit(request, "invoice.voided", invoice)

    @endpoint("DELETE", "/subscriptions/{sub_id}")
    def cancel_subscription(self, request: Request, sub_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"invoice_now", "prorate", "cancellation_details"})
        subscription = self._load("subscriptions", sub_id)
        if subscription["status"] == "canceled":
            raise invalid("A canceled subscription can only update its cancellation_details and metadata.")
        now = self._timestamp()
        subscription.update({"status": "canceled", "canceled_at": now, "ended_at": now,
                             "cancellation_details": {"comment": None, "feedback": None,
                                                      "reason": "cancellation_requested"}})
        self._save("subscriptions", subscription)
        self._emit(request, "customer.subscription.deleted", subscription)
        return self._render(subscription, params)

    @endpoint("GET", "/subscriptions")
    def list_subscriptions(self, request: Request) -> Response:
        params = self._params(request)
        customer = to_str(params, "customer")
        price = to_str(params, "price")
        status = to_str(params, "status") or None
        return self._list(request, "subscriptions", params,
                          lambda s: (customer is None or s["customer"] == customer)
                          and (price is None or any(i["price"]["id"] == price for i in s["items"]["data"]))
                          and (status == "all" or (s["status"] != "canceled" if status is None
                                                   else s["status"] == status)),
                          filters=("customer", "price", "status", "collection_method", "current_period_end",
                                   "current_period_start"))

    @endpoint("GET", "/invoices/search")
    def search_invoices(self, request: Request) -> Response:
        return self._search(request, "invoices")

    @endpoint("GET", "/invoices/{invoice_id}")
    def retrieve_invoice(self, request: Request, invoice_id: str) -> Response:
        return self._render(self._load("invoices", invoice_id), self._params(request))

    @endpoint("GET", "/invoices/{invoice_id}/lines")
    def list_invoice_lines(self, request: Request, invoice_id: str) -> Response:
        invoice = self._load("invoices", invoice_id)
        return Response.json({**invoice["lines"], "total_count": None} | {"url": f"/v1/invoices/{invoice_id}/lines"})

    @endpoint("GET", "/invoices")
    def list_invoices(self, request: Request) -> Response:
        params = self._params(request)
        customer = to_str(params, "customer")
        subscription = to_str(params, "subscription")
        status = to_str(params, "status", choices=("draft", "open", "paid", "uncollectible", "void"))
        return self._list(request, "invoices", params,
                          lambda i: (customer is None or i["customer"] == customer)
                          and (subscription is None or i.get("subscription") == subscription)
                          and (status is None or i["status"] == status),
                          filters=("customer", "subscription", "status", "collection_method", "due_date"))

    @endpoint("POST", "/invoices/{invoice_id}/pay")
    def pay_invoice(self, request: Request, invoice_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"payment_method", "off_session", "paid_out_of_band", "forgive", "source",
                               "mandate"})
        invoice = self._load("invoices", invoice_id)
        if invoice["status"] == "draft":
            self._finalize_invoice(request, invoice)
            if invoice["status"] == "paid":
                return self._render(invoice, params)
        if invoice["status"] != "open":
            raise invalid(f"Invoice is already {invoice['status']}" if invoice["status"] == "paid" else
                          f"You can only pay an open invoice; this invoice is {invoice['status']}.",
                          None, "invoice_not_open" if invoice["status"] != "paid" else None)
        subscription = self.sdk.storage.get("subscriptions", invoice["subscription"]) \
            if invoice.get("subscription") else None
        if to_bool(params, "paid_out_of_band"):
            invoice["paid_out_of_band"] = True
            self._mark_invoice_paid(request, invoice)
            error = None
        else:
            pm_id = to_str(params, "payment_method")
            if pm_id:
                pm = self._resolve_payment_method(request, pm_id, "payment_method")
                if not pm.get("customer"):
                    pm["customer"] = invoice["customer"]
                    self._save("payment_methods", pm)
                pm_id = pm["id"]
            elif invoice.get("default_payment_method"):
                pm_id = invoice["default_payment_method"]
            else:
                pm_id = self._default_pm(subscription) if subscription else (
                    (self.sdk.storage.get("customers", invoice["customer"]) or {}).get("invoice_settings")
                    or {}).get("default_payment_method")
            error = self._attempt_invoice(request, invoice, pm_id)
        if error is not None:
            raise error
        if subscription and subscription["status"] in ("incomplete", "past_due"):
            self._set_sub_status(request, subscription, "active")
        return self._render(invoice, params)

    # --- checkout sessions ------------------------------------------------------------------------------
    CHECKOUT_FIELDS = {"mode", "line_items", "success_url", "cancel_url", "customer", "customer_email",
                       "client_reference_id", "metadata", "payment_method_types", "subscription_data",
                       "payment_intent_data", "allow_promotion_codes", "expires_at", "ui_mode", "return_url",
                       "customer_creation", "locale", "billing_address_collection", "currency", "setup_intent_data"}

    @endpoint("POST", "/checkout/sessions")
    def create_checkout_session(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, self.CHECKOUT_FIELDS)
        mode = to_str(params, "mode", required=True, choices=("payment", "subscription", "setup"))
        ui_mode = to_str(params, "ui_mode") or "hosted"
        if ui_mode == "hosted" and not to_str(params, "success_url"):
            raise invalid("Missing required param: success_url.", "success_url", "parameter_missing")
        customer_id = to_str(params, "customer")
        if customer_id:
            self._load("customers", customer_id, "customer")
        raw_items = self._as_list(params.get("line_items"), "line_items")
        if mode == "setup" and raw_items:
            raise invalid("You cannot pass `line_items` in `setup` mode.", "line_items")
        if mode == "setup" and not (to_str(params, "currency") or params.get("payment_method_types")):
            raise invalid("Missing required param: currency.", "currency", "parameter_missing")
        if not raw_items and mode != "setup":
            raise invalid("Missing required param: line_items.", "line_items", "parameter_missing")
        lines = []
        for index, item in enumerate(raw_items):
            if not isinstance(item, dict):
                raise invalid("Invalid object", f"line_items[{index}]")
            price_id = to_str(item, "price")
            if price_id:
                price = self._load("prices", price_id, f"line_items[{index}][price]")
            elif isinstance(item.get("price_data"), dict):
                price = self._create_price(request, item["price_data"])
            else:
                raise invalid(f"Missing required param: line_items[{index}][price].",
                              f"line_items[{index}][price]", "parameter_missing")
            quantity = to_int(item, "quantity", minimum=1, maximum=999999)
            if quantity is None:
                raise invalid(f"Missing required param: line_items[{index}][quantity].",
                              f"line_items[{index}][quantity]", "parameter_missing")
            if mode == "payment" and price["type"] == "recurring":
                raise invalid("You must be in `subscription` mode to use recurring prices.",
                              f"line_items[{index}][price]")
            if mode == "subscription" and price["type"] != "recurring":
                pass  # one-time prices are added to the first invoice by Stripe; the mock ignores that nuance
            lines.append({"price": public(price), "quantity": quantity})
        if mode == "subscription" and not any(line["price"]["type"] == "recurring" for line in lines):
            raise invalid("You must specify at least one recurring price in `subscription` mode.", "line_items")
        currency = lines[0]["price"]["currency"] if lines else (to_str(params, "currency") or "usd").lower()
        total = sum(line["price"]["unit_amount"] * line["quantity"] for line in lines)
        now = self._timestamp()
        session = self._new_object(request, "checkout_sessions", {
            "after_expiration": None, "allow_promotion_codes": to_bool(params, "allow_promotion_codes"),
            "amount_subtotal": total, "amount_total": total, "billing_address_collection": None,
            "cancel_url": to_str(params, "cancel_url"), "client_reference_id": to_str(params, "client_reference_id"),
            "client_secret": None, "currency": currency, "customer": customer_id,
            "customer_creation": None if customer_id or mode == "subscription" else "if_required",
            "customer_details": None, "customer_email": to_str(params, "customer_email"),
            "expires_at": to_int(params, "expires_at") or now + 86400, "invoice": None, "locale": None,
            "mode": mode, "payment_intent": None, "payment_link": None, "payment_method_collection": "always",
            "payment_method_types": self._as_list(params.get("payment_method_types"), "payment_method_types")
            or ["card"], "payment_status": "unpaid", "return_url": to_str(params, "return_url"),
            "setup_intent": None, "status": "open", "subscription": None,
            "success_url": to_str(params, "success_url"), "total_details": {
                "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": ui_mode, "url": None, "metadata": merge_metadata({}, params.get("metadata")),
            "_line_items": lines,
            "_subscription_data": params.get("subscription_data") if isinstance(
                params.get("subscription_data"), dict) else {},
            "_payment_intent_data": params.get("payment_intent_data") if isinstance(
                params.get("payment_intent_data"), dict) else {},
            "_setup_intent_data": params.get("setup_intent_data") if isinstance(
                params.get("setup_intent_data"), dict) else {}})
        if mode == "setup":
            session.update({"amount_subtotal": None, "amount_total": None, "payment_status": "no_payment_required"})
        session["id"] = self.sdk.generate_id("cs_test_" if request.sandbox else "cs_live_")
        if ui_mode == "hosted":
            session["url"] = f"https://checkout.stripe.com/c/pay/{session['id']}"
        else:
            session["client_secret"] = f"{session['id']}_secret_{self.sdk.random_string(24)}"
        self._save("checkout_sessions", session)
        return self._render(session, params)

    @endpoint("GET", "/checkout/sessions/{session_id}")
    def retrieve_checkout_session(self, request: Request, session_id: str) -> Response:
        return self._render(self._load("checkout_sessions", session_id, "session"), self._params(request))

    @endpoint("GET", "/checkout/sessions/{session_id}/line_items")
    def list_checkout_line_items(self, request: Request, session_id: str) -> Response:
        session = self._load("checkout_sessions", session_id, "session")
        data = []
        for index, line in enumerate(session["_line_items"]):
            price, amount = line["price"], line["price"]["unit_amount"] * line["quantity"]
            product = self.sdk.storage.get("products", price["product"]) or {}
            data.append({"id": f"li_{session['id'][-16:]}{index:02d}", "object": "item",
                         "amount_discount": 0, "amount_subtotal": amount, "amount_tax": 0, "amount_total": amount,
                         "currency": price["currency"], "description": product.get("name"), "price": price,
                         "quantity": line["quantity"]})
        return Response.json({"object": "list", "data": data, "has_more": False,
                              "url": f"/v1/checkout/sessions/{session_id}/line_items"})

    @endpoint("GET", "/checkout/sessions")
    def list_checkout_sessions(self, request: Request) -> Response:
        params = self._params(request)
        customer = to_str(params, "customer")
        status = to_str(params, "status", choices=("open", "complete", "expired"))
        payment_intent = to_str(params, "payment_intent")
        subscription = to_str(params, "subscription")
        return self._list(request, "checkout_sessions", params,
                          lambda s: (customer is None or s["customer"] == customer)
                          and (status is None or s["status"] == status)
                          and (payment_intent is None or s["payment_intent"] == payment_intent)
                          and (subscription is None or s["subscription"] == subscription),
                          filters=("customer", "status", "payment_intent", "subscription", "customer_details",
                                   "payment_link"))

    @endpoint("POST", "/checkout/sessions/{session_id}/expire")
    def expire_checkout_session(self, request: Request, session_id: str) -> Response:
        params = self._params(request)
        session = self._load("checkout_sessions", session_id, "session")
        if session["status"] != "open":
            raise invalid(f"Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout "
                          f"Session has a status of \"{session['status']}\".")
        session.update({"status": "expired", "url": None})
        self._save("checkout_sessions", session)
        self._emit(request, "checkout.session.expired", session)
        return self._render(session, params)

    @endpoint("POST", "/test_helpers/checkout/sessions/{session_id}/complete")
    def complete_checkout_session(self, request: Request, session_id: str) -> Response:
        """Mock-only: stands in for the customer paying on the hosted page."""
        params = self._params(request)
        check_unknown(params, {"payment_method", "email", "name"})
        session = self._load("checkout_sessions", session_id, "session")
        if session["status"] != "open":
            raise invalid(f"This Checkout Session is {session['status']} and can no longer be completed.",
                          None, "checkout_session_unexpected_state")
        pm = self._resolve_payment_method(request, to_str(params, "payment_method") or "pm_card_visa",
                                          "payment_method")
        email = to_str(params, "email") or session["customer_email"]
        customer_id = session["customer"]
        if not customer_id and session["mode"] == "subscription":
            customer = self._new_object(request, "customers", {
                "address": None, "balance": 0, "currency": None, "default_source": None, "delinquent": False,
                "description": None, "discount": None, "email": email, "invoice_prefix": None,
                "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                                     "rendering_options": None},
                "name": to_str(params, "name"), "next_invoice_sequence": 1, "phone": None,
                "preferred_locales": [], "shipping": None, "tax_exempt": "none", "test_clock": None})
            self._save("customers", customer)
            self._emit(request, "customer.created", customer)
            customer_id = customer["id"]
        if customer_id and not pm.get("customer"):
            pm["customer"] = customer_id
            self._save("payment_methods", pm)
            self._emit(request, "payment_method.attached", pm)
        if session["mode"] == "setup":
            self._checkout_setup(request, session, pm, customer_id)
        elif session["mode"] == "payment":
            data = session["_payment_intent_data"]
            intent_params: dict[str, Any] = {
                "amount": str(session["amount_total"]), "currency": session["currency"],
                "payment_method": pm["id"], "metadata": data.get("metadata") or {}}
            if customer_id:
                intent_params["customer"] = customer_id
            if data.get("capture_method"):
                intent_params["capture_method"] = data["capture_method"]
            if data.get("description"):
                intent_params["description"] = data["description"]
            intent = self._checkout_intent(request, intent_params)
            session["payment_intent"] = intent["id"]
            self._save("checkout_sessions", session)
            self._confirm(request, intent, {})  # raises the card error; the session stays open
            session["payment_status"] = "paid"
        else:
            sub_data = session["_subscription_data"]
            items = [{"price": line["price"]["id"], "quantity": str(line["quantity"])}
                     for line in session["_line_items"] if line["price"]["type"] == "recurring"]
            sub_params: dict[str, Any] = {"customer": customer_id, "items": items,
                                          "default_payment_method": pm["id"],
                                          "payment_behavior": "error_if_incomplete",
                                          "metadata": sub_data.get("metadata") or {}}
            if sub_data.get("trial_period_days"):
                sub_params["trial_period_days"] = sub_data["trial_period_days"]
            subscription = self._create_subscription(request, sub_params)
            session["subscription"] = subscription["id"]
            session["invoice"] = subscription["latest_invoice"]
            session["payment_status"] = "no_payment_required" if subscription["status"] == "trialing" else "paid"
        session.update({"status": "complete", "customer": customer_id, "url": None, "customer_details": {
            "address": None, "email": email, "name": to_str(params, "name"), "phone": None,
            "tax_exempt": "none", "tax_ids": []}})
        self._save("checkout_sessions", session)
        self._emit(request, "checkout.session.completed", session)
        return self._render(session, params)

    def _checkout_setup(self, request: Request, session: dict[str, Any], pm: dict[str, Any],
                        customer_id: str | None) -> None:
        """Setup mode: the card is saved (a succeeded SetupIntent), nothing is charged."""
        data = session.get("_setup_intent_data") or {}
        intent = self._new_object(request, "setup_intents", {
            "application": None, "automatic_payment_methods": None, "cancellation_reason": None,
            "client_secret": None, "customer": customer_id, "description": data.get("description"),
            "flow_directions": None, "last_setup_error": None, "latest_attempt": None, "mandate": None,
            "next_action": None, "on_behalf_of": None, "payment_method": pm["id"], "payment_method_options": {},
            "payment_method_types": ["card"], "single_use_mandate": None, "status": "succeeded",
            "usage": "off_session", "metadata": merge_metadata({}, data.get("metadata"))})
        intent["client_secret"] = f"{intent['id']}_secret_{self.sdk.random_string(24)}"
        self._save("setup_intents", intent)
        self._emit(request, "setup_intent.created", intent)
        self._emit(request, "setup_intent.succeeded", intent)
        session["setup_intent"] = intent["id"]
        session["payment_status"] = "no_payment_required"

    def _checkout_intent(self, request: Request, params: Mapping[str, Any]) -> dict[str, Any]:
        intent = self._new_object(request, "payment_intents", {
            "amount": int(params["amount"]), "amount_capturable": 0, "amount_details": {"tip": {}},
            "amount_received": 0, "application": None, "application_fee_amount": None,
            "automatic_payment_methods": None, "canceled_at": None, "cancellation_reason": None,
            "capture_method": params.get("capture_method") or "automatic_async", "client_secret": None,
            "confirmation_method": "automatic", "currency": params["currency"],
            "customer": params.get("customer"), "description": params.get("description"),
            "last_payment_error": None, "latest_charge": None, "next_action": None, "on_behalf_of": None,
            "payment_method": params["payment_method"], "payment_method_options": {},
            "payment_method_types": ["card"], "processing": None, "receipt_email": None, "review": None,
            "setup_future_usage": None, "shipping": None, "source": None, "statement_descriptor": None,
            "statement_descriptor_suffix": None, "status": "requires_confirmation", "transfer_data": None,
            "transfer_group": None, "metadata": merge_metadata({}, params.get("metadata"))})
        intent["client_secret"] = f"{intent['id']}_secret_{self.sdk.random_string(24)}"
        self._save("payment_intents", intent)
        self._emit(request, "payment_intent.created", intent)
        return intent

    # --- one-off invoices: invoice items, drafts, finalize / void / delete -------------------------------
    def _invoiceitem_line(self, item: Mapping[str, Any]) -> dict[str, Any]:
        price = item.get("price")
        return {"id": f"il_{item['id'][3:]}", "object": "line_item", "amount": item["amount"],
                "currency": item["currency"], "description": item.get("description"),
                "invoice": item.get("invoice"), "invoice_item": item["id"], "livemode": item["livemode"],
                "metadata": dict(item.get("metadata") or {}), "period": item["period"], "price": price,
                "quantity": item["quantity"], "subscription": None, "type": "invoiceitem"}

    def _recompute_invoice(self, invoice: dict[str, Any]) -> None:
        items = [i for i in self.sdk.storage.query("invoiceitems", limit=None)
                 if i.get("invoice") == invoice["id"] and not i.get("deleted")]
        items.sort(key=lambda i: i.get("_seq", 0))
        lines = [self._invoiceitem_line(i) for i in items]
        total = sum(line["amount"] for line in lines)
        invoice["lines"] = {"object": "list", "data": lines, "has_more": False,
                            "url": f"/v1/invoices/{invoice['id']}/lines", "total_count": len(lines)}
        invoice.update({"amount_due": total, "amount_remaining": total, "subtotal": total, "total": total,
                        "subtotal_excluding_tax": total, "total_excluding_tax": total})

    INVOICEITEM_FIELDS = {"customer", "price", "amount", "currency", "quantity", "description", "invoice",
                          "metadata", "period", "pricing", "unit_amount_decimal", "discountable", "tax_rates",
                          "subscription"}

    @endpoint("POST", "/invoiceitems")
    def create_invoiceitem(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, self.INVOICEITEM_FIELDS)
        customer_id = to_str(params, "customer", required=True)
        self._load("customers", customer_id, "customer")
        quantity = to_int(params, "quantity", minimum=1, default=1) or 1
        pricing = params.get("pricing") if isinstance(params.get("pricing"), dict) else {}
        price_id = to_str(params, "price") or pricing.get("price")
        price = None
        if price_id:
            price = public(self._load("prices", price_id, "price"))
            if price["type"] != "one_time":
                raise invalid("The price specified is set to `type=recurring` but this field only accepts prices "
                              "with `type=one_time`.", "price")
            currency, amount = price["currency"], price["unit_amount"] * quantity
        else:
            currency = (to_str(params, "currency", required=True) or "").lower()
            amount = to_int(params, "amount", required=True, minimum=-99999999, maximum=99999999) or 0
        invoice_id = to_str(params, "invoice")
        if invoice_id:
            invoice = self._load("invoices", invoice_id, "invoice")
            if invoice["status"] != "draft" or invoice["customer"] != customer_id:
                raise invalid(f"You can only add invoice items to draft invoices of this customer; {invoice_id} "
                              f"is {invoice['status']}.", "invoice")
        now = self._timestamp()
        item = self._new_object(request, "invoiceitems", {
            "amount": amount, "currency": currency, "customer": customer_id, "date": now,
            "description": to_str(params, "description") or (
                (self.sdk.storage.get("products", price["product"]) or {}).get("name") if price else None),
            "discountable": True, "invoice": invoice_id, "period": {"start": now, "end": now},
            "price": price, "proration": False, "quantity": quantity, "subscription": None,
            "unit_amount": amount // quantity if price is None else price["unit_amount"],
            "metadata": merge_metadata({}, params.get("metadata"))})
        item.pop("created", None)
        self._save("invoiceitems", item)
        if invoice_id:
            self._recompute_invoice(invoice)
            self._save("invoices", invoice)
        self._emit(request, "invoiceitem.created", item)
        return self._render(item, params)

    @endpoint("GET", "/invoiceitems/{item_id}")
    def retrieve_invoiceitem(self, request: Request, item_id: str) -> Response:
        return self._render(self._load("invoiceitems", item_id), self._params(request))

    @endpoint("DELETE", "/invoiceitems/{item_id}")
    def delete_invoiceitem(self, request: Request, item_id: str) -> Response:
        item = self._load("invoiceitems", item_id)
        invoice = self.sdk.storage.get("invoices", item["invoice"]) if item.get("invoice") else None
        if invoice and invoice["status"] != "draft":
            raise invalid("Invoice items on finalized invoices cannot be deleted.")
        item["deleted"] = True
        self._save("invoiceitems", item)
        if invoice:
            self._recompute_invoice(invoice)
            self._save("invoices", invoice)
        self._emit(request, "invoiceitem.deleted", item)
        return Response.json({"id": item_id, "object": "invoiceitem", "deleted": True})

    @endpoint("GET", "/invoiceitems")
    def list_invoiceitems(self, request: Request) -> Response:
        params = self._params(request)
        customer = to_str(params, "customer")
        invoice = to_str(params, "invoice")
        pending = to_bool(params, "pending") if "pending" in params else None
        return self._list(request, "invoiceitems", params,
                          lambda i: (customer is None or i["customer"] == customer)
                          and (invoice is None or i.get("invoice") == invoice)
                          and (pending is None or (i.get("invoice") is None) == pending),
                          filters=("customer", "invoice", "pending"))

    INVOICE_FIELDS = {"customer", "auto_advance", "collection_method", "days_until_due", "description",
                      "metadata", "pending_invoice_items_behavior", "default_payment_method", "due_date",
                      "footer", "currency", "subscription", "automatic_tax"}

    @endpoint("POST", "/invoices")
    def create_invoice(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, self.INVOICE_FIELDS)
        customer_id = to_str(params, "customer", required=True)
        customer = self._load("customers", customer_id, "customer")
        collection = to_str(params, "collection_method", choices=("charge_automatically", "send_invoice")) \
            or "charge_automatically"
        days = to_int(params, "days_until_due", minimum=0)
        if collection == "send_invoice" and days is None and not params.get("due_date"):
            raise invalid("Invoices with `collection_method=send_invoice` require `days_until_due` or "
                          "`due_date`.", "days_until_due")
        behaviour = to_str(params, "pending_invoice_items_behavior", choices=("include", "exclude")) or "exclude"
        pm_id = to_str(params, "default_payment_method")
        if pm_id:
            self._load("payment_methods", pm_id, "default_payment_method")
        now = self._timestamp()
        invoice = self._new_object(request, "invoices", {
            "account_country": "US", "account_name": None, "amount_due": 0, "amount_paid": 0,
            "amount_remaining": 0, "amount_overpaid": 0, "attempt_count": 0, "attempted": False,
            "auto_advance": to_bool(params, "auto_advance", collection == "charge_automatically"),
            "billing_reason": "manual", "collection_method": collection,
            "currency": (to_str(params, "currency") or "usd").lower(), "customer": customer_id,
            "customer_email": customer.get("email"), "default_payment_method": pm_id,
            "description": to_str(params, "description"),
            "due_date": to_int(params, "due_date") or (now + days * 86400 if days is not None else None),
            "ending_balance": None, "hosted_invoice_url": None, "invoice_pdf": None,
            "last_finalization_error": None, "lines": None, "next_payment_attempt": None, "number": None,
            "paid": False, "paid_out_of_band": False, "payment_intent": None, "confirmation_secret": None,
            "period_start": now,
            "period_end": now, "parent": None, "starting_balance": 0, "status": "draft",
            "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None, "paid_at": None,
                                   "voided_at": None},
            "subscription": None, "subtotal": 0, "total": 0, "webhooks_delivered_at": None,
            "metadata": merge_metadata({}, params.get("metadata"))})
        self._save("invoices", invoice)
        if behaviour == "include":
            for item in self.sdk.storage.query("invoiceitems", limit=None):
                if item["customer"] == customer_id and item.get("invoice") is None and not item.get("deleted"):
                    item["invoice"] = invoice["id"]
                    self._save("invoiceitems", item)
        self._recompute_invoice(invoice)
        if invoice["lines"]["data"]:
            invoice["currency"] = invoice["lines"]["data"][0]["currency"]
        self._save("invoices", invoice)
        self._emit(request, "invoice.created", invoice)
        return self._render(invoice, params)

    @endpoint("POST", "/invoices/{invoice_id}")
    def update_invoice(self, request: Request, invoice_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"auto_advance", "collection_method", "days_until_due", "description", "metadata",
                               "default_payment_method", "due_date", "footer"})
        invoice = self._load("invoices", invoice_id)
        if invoice["status"] != "draft" and set(params) - {"metadata", "expand"}:
            raise invalid(f"You can only update metadata on a finalized invoice; {invoice_id} is "
                          f"{invoice['status']}.", sorted(set(params) - {"metadata", "expand"})[0])
        previous: dict[str, Any] = {}
        for name in ("description", "collection_method", "default_payment_method"):
            if name in params:
                previous[name] = invoice[name]
                invoice[name] = to_str(params, name)
        if "auto_advance" in params:
            previous["auto_advance"] = invoice["auto_advance"]
            invoice["auto_advance"] = to_bool(params, "auto_advance")
        if "days_until_due" in params:
            invoice["due_date"] = invoice["created"] + (to_int(params, "days_until_due", minimum=0) or 0) * 86400
        if "metadata" in params:
            previous["metadata"] = dict(invoice["metadata"])
            invoice["metadata"] = merge_metadata(invoice["metadata"], params["metadata"])
        self._save("invoices", invoice)
        self._emit(request, "invoice.updated", invoice, previous)
        return self._render(invoice, params)

    @endpoint("DELETE", "/invoices/{invoice_id}")
    def delete_invoice(self, request: Request, invoice_id: str) -> Response:
        invoice = self._load("invoices", invoice_id)
        if invoice["status"] != "draft":
            raise invalid("You can only delete draft invoices.", None, "invoice_not_editable")
        for item in self.sdk.storage.query("invoiceitems", limit=None):
            if item.get("invoice") == invoice_id:
                item["invoice"] = None  # back to pending, as Stripe does
                self._save("invoiceitems", item)
        invoice["deleted"] = True
        self._save("invoices", invoice)
        self._emit(request, "invoice.deleted", invoice)
        return Response.json({"id": invoice_id, "object": "invoice", "deleted": True})

    @endpoint("POST", "/invoices/{invoice_id}/finalize")
    def finalize_invoice(self, request: Request, invoice_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"auto_advance"})
        invoice = self._load("invoices", invoice_id)
        if invoice["status"] != "draft":
            raise invalid("This invoice is already finalized, you can't re-finalize a non-draft invoice.")
        self._finalize_invoice(request, invoice)
        if invoice["amount_due"] == 0:
            self._mark_invoice_paid(request, invoice)
        return self._render(invoice, params)

    @endpoint("POST", "/invoices/{invoice_id}/void")
    def void_invoice(self, request: Request, invoice_id: str) -> Response:
        params = self._params(request)
        invoice = self._load("invoices", invoice_id)
        if invoice["status"] not in ("open", "uncollectible"):
            raise invalid(f"You can only pass in open invoices. This invoice isn't open, it is {invoice['status']}.",
                          None, "invoice_not_open")
        invoice["status"] = "void"
        invoice["amount_remaining"] = 0
        invoice["status_transitions"]["voided_at"] = self._timestamp()
        self._save("invoices", invoice)
        self._emit(request, "invoice.voided", invoice)
        return self._render(invoice, params)

    @endpoint("POST", "/test_helpers/subscriptions/{sub_id}/advance")
    def advance_subscription(self, request: Request, sub_id: str) -> Response:
        """Mock-only: the current period ends now (no test clocks here). Renews: a new period, a
        ``subscription_cycle`` invoice charged to the default payment method (``past_due`` on a
        decline), the end of a trial, or the cancellation requested with ``cancel_at_period_end``."""
        params = self._params(request)
        check_unknown(params, set())
        subscription = self._load("subscriptions", sub_id)
        if subscription["status"] not in ("active", "trialing", "past_due"):
            raise invalid(f"Only active, trialing or past_due subscriptions can be advanced; {sub_id} is "
                          f"{subscription['status']}.")
        previous = {"status": subscription["status"],
                    "current_period_start": subscription["current_period_start"],
                    "current_period_end": subscription["current_period_end"]}
        if subscription["cancel_at_period_end"]:
            subscription.update({"status": "canceled", "ended_at": subscription["current_period_end"],
                                 "cancellation_details": {"comment": None, "feedback": None,
                                                          "reason": "cancellation_requested"}})
            self._save("subscriptions", subscription)
            self._emit(request, "customer.subscription.deleted", subscription)
            return self._render(subscription, params)
        recurring = subscription["items"]["data"][0]["price"]["recurring"]
        start = subscription["current_period_end"]
        end = self._add_interval(start, recurring["interval"], recurring["interval_count"])
        subscription.update({"current_period_start": start, "current_period_end": end,
                             "status": "active" if subscription["status"] == "trialing" else subscription["status"]})
        for item in subscription["items"]["data"]:
            item["current_period_start"], item["current_period_end"] = start, end
        invoice = self._new_invoice(request, subscription, "subscription_cycle")
        subscription["latest_invoice"] = invoice["id"]
        error = self._attempt_invoice(request, invoice, self._default_pm(subscription))
        subscription["status"] = "active" if error is None else "past_due"
        self._save("subscriptions", subscription)
        self._emit(request, "customer.subscription.updated", subscription,
                   {k: v for k, v in previous.items() if subscription[k] != v})
        return self._render(subscription, params)
