"""PaymentMethods: test tokens, card numbers, attach/detach."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .cards import TEST_CARDS, TEST_PAYMENT_METHODS, TEST_TOKENS, card_brand, luhn_ok
from .errors import StripeError, invalid
from .params import check_unknown, merge_metadata, to_int, to_str


class PaymentMethodsMixin(StripeBase):
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
            "card": {"brand": info["brand"], "checks": {"address_line1_check": info.get("address_check"),
                                                        "address_postal_code_check": info.get("address_check"),
                                                        "cvc_check": info.get("cvc_check", "pass")},
                     "country": info.get("country", "US"), "display_brand": info["brand"], "exp_month": exp_month,
                     "exp_year": year,
                     "fingerprint": fingerprint, "funding": info["funding"], "last4": number[-4:],
                     "networks": {"available": [info["brand"]], "preferred": None},
                     "three_d_secure_usage": {"supported": True}, "wallet": None},
            "metadata": merge_metadata({}, metadata),
            "_number_class": number if number in TEST_CARDS else "",
        })

    def _update_intent_owner(self, request: Request, intent: dict[str, Any], params: Mapping[str, Any]) -> None:
        """An update of a payment or setup intent's ``customer`` / ``payment_method`` (a new method
        makes it wait for confirmation again, none for a method)."""
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
