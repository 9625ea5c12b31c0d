"""The legacy card APIs integrations still use: tokens (``tok_*``), sources and customer cards.

A card behind a token, a source or ``/customers/{id}/sources`` behaves like the same number as a
PaymentMethod (declines, bypass-pending): every card object keeps its test number class.
"""
from __future__ import annotations

import hashlib
from typing import Any

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .cards import BRAND_NAMES, TEST_CARDS, TEST_TOKENS, card_brand, luhn_ok
from .errors import StripeError, invalid
from .params import check_unknown, merge_metadata, to_int, to_str
from .resources import public

CARD_PARAMS = {"number", "exp_month", "exp_year", "cvc", "name", "address_line1", "address_line2", "address_city",
               "address_state", "address_zip", "address_country", "currency", "metadata"}


class SourcesMixin(StripeBase):
    def _card_number(self, card: dict[str, Any], param: str = "card") -> tuple[str, int, int]:
        """A raw card's number and expiry, checked as Stripe checks them (402 ``card_error``)."""
        number = str(card.get("number") or "").replace(" ", "")
        if not number:
            raise invalid(f"Missing required param: {param}[number].", f"{param}[number]", "parameter_missing")
        if not number.isdigit() or not 13 <= len(number) <= 19 or not luhn_ok(number):
            raise StripeError(402, "Your card number is incorrect.", type="card_error", code="incorrect_number",
                              param="number")
        exp_month = to_int(card, "exp_month", required=True) or 0
        exp_year = to_int(card, "exp_year", required=True) or 0
        exp_year += 2000 if exp_year < 100 else 0
        if not 1 <= exp_month <= 12:
            raise StripeError(402, "Your card's expiration month is invalid.", type="card_error",
                              code="invalid_expiry_month", param="exp_month")
        today = self.sdk.now()
        if (exp_year, exp_month) < (today.year, today.month):
            raise StripeError(402, "Your card's expiration year is invalid.", type="card_error",
                              code="invalid_expiry_year", param="exp_year")
        return number, exp_month, exp_year

    def _new_card(self, request: Request, number: str, exp_month: int = 12, exp_year: int | None = None,
                  details: dict[str, Any] | None = None) -> dict[str, Any]:
        """A ``card_`` object (Stripe's legacy card shape: capitalised brand, flat address fields)."""
        info = TEST_CARDS.get(number, {"brand": card_brand(number), "funding": "credit"})
        details = details or {}
        card = self._new_object(request, "cards", {
            "address_city": details.get("address_city"), "address_country": details.get("address_country"),
            "address_line1": details.get("address_line1"), "address_line1_check": info.get("address_check"),
            "address_line2": details.get("address_line2"), "address_state": details.get("address_state"),
            "address_zip": details.get("address_zip"), "address_zip_check": info.get("address_check"),
            "brand": BRAND_NAMES.get(info["brand"], "Unknown"), "country": info.get("country", "US"),
            "customer": None, "cvc_check": info.get("cvc_check", "pass"), "dynamic_last4": None,
            "exp_month": exp_month, "exp_year": exp_year or self.sdk.now().year + 3,
            "fingerprint": hashlib.sha256(("fp" + number).encode()).hexdigest()[:16], "funding": info["funding"],
            "last4": number[-4:], "name": details.get("name"), "tokenization_method": None, "wallet": None,
            "_number_class": number if number in TEST_CARDS else "",
        })
        card.pop("created", None)  # card objects carry no `created`, as on Stripe
        card["metadata"] = merge_metadata({}, details.get("metadata"))
        return card

    def _new_token(self, request: Request, card: dict[str, Any]) -> dict[str, Any]:
        token = self._new_object(request, "tokens", {"card": card, "client_ip": None, "type": "card",
                                                     "used": False})
        token.pop("metadata", None)
        return self._save("tokens", token)

    def _use_token(self, request: Request, token_id: str, param: str) -> dict[str, Any]:
        """The card a token stands for, the token spent (Stripe's tokens are single-use);
        a ``tok_visa``-style test token is a fresh token each time."""
        if token_id in TEST_TOKENS:
            return self._new_card(request, TEST_TOKENS[token_id])
        token = self.sdk.storage.get("tokens", token_id)
        if token is None:
            raise invalid(f"No such token: '{token_id}'", param, "resource_missing")
        if token["used"]:
            raise invalid(f"You cannot use a Stripe token more than once: {token_id}.", param, "token_already_used")
        token["used"] = True
        self._save("tokens", token)
        return dict(token["card"])

    def _resolve_source(self, request: Request, source_id: str, param: str,
                        customer: dict[str, Any] | None = None) -> dict[str, Any]:
        """What ``source=`` names: a token, a customer's card or a ``src_`` source."""
        if source_id.startswith("tok_"):
            return self._use_token(request, source_id, param)
        if source_id.startswith("src_"):
            return self._load("sources", source_id, param)
        card = self.sdk.storage.get("cards", source_id)
        if card is None or card.get("deleted") or (customer is not None and card.get("customer") != customer["id"]):
            if customer is not None:
                raise invalid(f"Customer {customer['id']} does not have a linked source with ID {source_id}.",
                              param, "missing")
            raise invalid(f"No such source: '{source_id}'", param, "resource_missing")
        return card

    def _attach_card(self, request: Request, customer: dict[str, Any], source_id: str, param: str) -> dict[str, Any]:
        card = self._resolve_source(request, source_id, param)
        if card.get("object") == "source":
            card["customer"] = customer["id"]
            self._save("sources", card)
        else:
            card["customer"] = customer["id"]
            self._save("cards", card)
        if not customer.get("default_source"):
            customer["default_source"] = card["id"]
            self._save("customers", customer)
        return card

    def _card_payment(self, card: dict[str, Any]) -> dict[str, Any]:
        """A card object in the PaymentMethod-like shape ``_new_charge`` reads."""
        body = card.get("card") if card.get("object") == "source" else card
        body = body or {}
        return {"id": card["id"], "_number_class": card.get("_number_class", ""),
                "billing_details": {"address": {"city": body.get("address_city"),
                                                "country": body.get("address_country"),
                                                "line1": body.get("address_line1"),
                                                "line2": body.get("address_line2"),
                                                "postal_code": body.get("address_zip"),
                                                "state": body.get("address_state")},
                                    "email": None, "name": body.get("name"), "phone": None},
                "card": {"brand": str(body.get("brand", "")).lower().replace("american express", "amex"),
                         "checks": {"address_line1_check": body.get("address_line1_check"),
                                    "address_postal_code_check": body.get("address_zip_check"),
                                    "cvc_check": body.get("cvc_check")},
                         "country": body.get("country"), "exp_month": body.get("exp_month"),
                         "exp_year": body.get("exp_year"), "fingerprint": body.get("fingerprint"),
                         "funding": body.get("funding"), "last4": body.get("last4")}}

    # --- tokens ----------------------------------------------------------------------------------------
    @endpoint("POST", "/tokens")
    def create_token(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, {"card", "customer"})
        card_params = params.get("card")
        if isinstance(card_params, str):  # a card id of a customer (Connect token sharing)
            card = dict(self._load("cards", card_params, "card"))
        elif isinstance(card_params, dict):
            check_unknown(card_params, CARD_PARAMS)
            number, exp_month, exp_year = self._card_number(card_params)
            card = self._new_card(request, number, exp_month, exp_year, card_params)
        else:
            raise invalid("Missing required param: card.", "card", "parameter_missing")
        return self._render(self._new_token(request, card), params)

    @endpoint("GET", "/tokens/{token_id}")
    def retrieve_token(self, request: Request, token_id: str) -> Response:
        return self._render(self._load("tokens", token_id, "token"), self._params(request))

    # --- sources (minimal: card sources) -----------------------------------------------------------------
    @endpoint("POST", "/sources")
    def create_source(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, {"type", "token", "card", "owner", "usage", "metadata", "amount", "currency",
                               "customer", "original_source", "flow"})
        kind = to_str(params, "type") or ("card" if params.get("token") or params.get("card") else None)
        if kind != "card":
            raise invalid("Missing required param: type. This mock supports card sources.", "type",
                          "parameter_missing")
        if params.get("token"):
            card = self._use_token(request, str(params["token"]), "token")
        elif isinstance(params.get("card"), dict):
            number, exp_month, exp_year = self._card_number(params["card"])
            card = self._new_card(request, number, exp_month, exp_year)
        else:
            raise invalid("Missing required param: card.", "card", "parameter_missing")
        owner: dict[str, Any] = params["owner"] if isinstance(params.get("owner"), dict) else {}
        source = self._new_object(request, "sources", {
            "amount": to_int(params, "amount"), "client_secret": f"src_client_secret_{self.sdk.random_string(24)}",
            # no ``customer`` until attached: Stripe's Source leaves it out rather than null
            "currency": to_str(params, "currency"), "flow": "none", "type": "card",
            "card": {k: v for k, v in public(card).items() if k not in ("id", "object", "customer", "metadata",
                                                                        "livemode", "name")},
            "owner": {"address": owner.get("address"), "email": owner.get("email"), "name": owner.get("name"),
                      "phone": owner.get("phone"), "verified_address": None, "verified_email": None,
                      "verified_name": None, "verified_phone": None},
            "statement_descriptor": None, "status": "chargeable", "usage": to_str(params, "usage") or "reusable",
            "_number_class": card.get("_number_class", ""),
        })
        source["metadata"] = merge_metadata({}, params.get("metadata"))
        return self._render(self._save("sources", source), params)

    @endpoint("GET", "/sources/{source_id}")
    def retrieve_source(self, request: Request, source_id: str) -> Response:
        return self._render(self._load("sources", source_id, "source"), self._params(request))

    # --- customer sources ----------------------------------------------------------------------------------
    @endpoint("POST", "/customers/{customer_id}/sources")
    def create_customer_source(self, request: Request, customer_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"source", "metadata", "validate"})
        customer = self._load("customers", customer_id, "customer")
        source_id = to_str(params, "source", required=True) or ""
        card = self._attach_card(request, customer, source_id, "source")
        if params.get("metadata") is not None:
            card["metadata"] = merge_metadata(card.get("metadata"), params.get("metadata"))
            self._save("sources" if card["object"] == "source" else "cards", card)
        self._emit(request, "customer.source.created", card)
        return self._render(card, params)

    @endpoint("GET", "/customers/{customer_id}/sources")
    def list_customer_sources(self, request: Request, customer_id: str) -> Response:
        params = self._params(request)
        self._load("customers", customer_id, "customer")
        wanted = to_str(params, "object")
        if wanted not in (None, "card"):
            return self._list(request, "sources", params,
                              lambda s: s.get("customer") == customer_id,
                              url=f"/v1/customers/{customer_id}/sources", filters=("object",))
        return self._list(request, "cards", params, lambda c: c.get("customer") == customer_id,
                          url=f"/v1/customers/{customer_id}/sources", filters=("object",))

    def _customer_card(self, customer_id: str, source_id: str) -> tuple[str, dict[str, Any]]:
        kind = "sources" if source_id.startswith("src_") else "cards"
        card = self.sdk.storage.get(kind, source_id)
        if card is None or card.get("deleted") or card.get("customer") != customer_id:
            raise invalid(f"Customer {customer_id} does not have a linked source with ID {source_id}.", "source",
                          "missing")
        return kind, card

    @endpoint("GET", "/customers/{customer_id}/sources/{source_id}")
    def retrieve_customer_source(self, request: Request, customer_id: str, source_id: str) -> Response:
        self._load("customers", customer_id, "customer")
        return self._render(self._customer_card(customer_id, source_id)[1], self._params(request))

    @endpoint("POST", "/customers/{customer_id}/sources/{source_id}")
    def update_customer_source(self, request: Request, customer_id: str, source_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"metadata", "name", "exp_month", "exp_year", "address_line1", "address_line2",
                               "address_city", "address_state", "address_zip", "address_country"})
        self._load("customers", customer_id, "customer")
        kind, card = self._customer_card(customer_id, source_id)
        for name in ("name", "address_line1", "address_line2", "address_city", "address_state", "address_zip",
                     "address_country"):
            if name in params:
                card[name] = to_str(params, name)
        for name in ("exp_month", "exp_year"):
            if name in params:
                card[name] = to_int(params, name)
        card["metadata"] = merge_metadata(card.get("metadata"), params.get("metadata"))
        self._save(kind, card)
        self._emit(request, "customer.source.updated", card)
        return self._render(card, params)

    @endpoint("DELETE", "/customers/{customer_id}/sources/{source_id}")
    def delete_customer_source(self, request: Request, customer_id: str, source_id: str) -> Response:
        customer = self._load("customers", customer_id, "customer")
        kind, card = self._customer_card(customer_id, source_id)
        if kind == "sources":
            card.pop("customer", None)  # a detached Source has no customer field, never a null one
        else:
            card["customer"] = None
        self._save(kind, card)
        if customer.get("default_source") == source_id:
            remaining = [c for c in self.sdk.storage.query("cards", limit=None)
                         if c.get("customer") == customer_id and not c.get("deleted")]
            customer["default_source"] = remaining[0]["id"] if remaining else None
            self._save("customers", customer)
        self._emit(request, "customer.source.deleted", card)
        if kind == "sources":
            return self._render(card, {})
        return Response.json({"id": source_id, "object": "card", "deleted": True})
