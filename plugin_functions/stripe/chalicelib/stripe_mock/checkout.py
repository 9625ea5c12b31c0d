"""Checkout Sessions and the completion test helper."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .errors import invalid
from .params import as_list, check_unknown, merge_metadata, to_bool, to_int, to_str
from .resources import public
from .shapes import shaped


class CheckoutMixin(StripeBase):
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
        raw_items = as_list(params.get("line_items"), "line_items")
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
            "payment_method_types": as_list(params.get("payment_method_types"), "payment_method_types")
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
            data.append(shaped({"id": f"li_{session['id'][-16:]}{index:02d}", "object": "item",
                         "amount_discount": 0, "amount_subtotal": amount, "amount_tax": 0, "amount_total": amount,
                         "currency": price["currency"], "description": product.get("name"), "price": price,
                         "quantity": line["quantity"]}))
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
