"""Charges and refunds."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .cards import DECLINE_MESSAGES, TEST_CARDS
from .errors import StripeError, invalid
from .params import check_unknown, merge_metadata, money, to_bool, to_int, to_str
from .resources import ZERO_DECIMAL, public

CHARGE_FIELDS = {"amount", "currency", "source", "customer", "capture", "description", "metadata", "receipt_email",
                 "statement_descriptor", "statement_descriptor_suffix", "shipping", "transfer_group", "on_behalf_of",
                 "application_fee_amount", "transfer_data", "radar_options"}


class ChargesMixin(StripeBase):
    # --- charges -----------------------------------------------------------------------------------------
    @endpoint("POST", "/charges")
    def create_charge(self, request: Request) -> Response:
        """The Charges API: ``source`` (a token, a card or a source) or the customer's default source;
        ``capture=false`` authorises only (capture with ``POST /charges/{id}/capture``)."""
        params = self._params(request)
        check_unknown(params, CHARGE_FIELDS)
        currency = (to_str(params, "currency", required=True) or "").lower()
        amount = cast(int, to_int(params, "amount", required=True, minimum=1, maximum=99999999))
        if currency not in ZERO_DECIMAL and amount < 50:
            raise invalid("Amount must be at least $0.50 usd", "amount", "amount_too_small")
        customer_id = to_str(params, "customer")
        customer = self._load("customers", customer_id, "customer") if customer_id else None
        source_id = to_str(params, "source")
        if not source_id and customer is not None:
            source_id = customer.get("default_source")
            if not source_id:
                raise invalid("Cannot charge a customer that has no active card", "card", "missing")
        if not source_id:
            raise invalid("Must provide source or customer.", None, "parameter_missing")
        owned = customer if customer is not None and not source_id.startswith("tok_") else None
        card = self._resolve_source(request, source_id, "source", owned)
        payment = self._card_payment(card)
        details = {"id": None, "amount": amount, "currency": currency, "customer": customer_id,
                   "description": to_str(params, "description"), "receipt_email": to_str(params, "receipt_email"),
                   "shipping": params.get("shipping") or None,
                   "statement_descriptor": to_str(params, "statement_descriptor"),
                   "statement_descriptor_suffix": to_str(params, "statement_descriptor_suffix"),
                   "metadata": merge_metadata({}, params.get("metadata"))}
        behaviour = TEST_CARDS.get(payment["_number_class"], {})
        decline = behaviour.get("decline") or ("authentication_required" if behaviour.get("three_d_secure") else None)
        if decline:
            code = behaviour.get("code", "card_declined")
            message = DECLINE_MESSAGES.get(decline, "Your card was declined.")
            charge = self._new_charge(request, details, payment, status="failed", captured=False,
                                      failure=(code, message, decline))
            charge.update({"source": public(card), "transfer_group": to_str(params, "transfer_group")})
            self._save("charges", charge)
            self._emit(request, "charge.failed", charge)
            raise StripeError(402, message, type="card_error", code=code, decline_code=decline, charge=charge["id"])
        charge = self._new_charge(request, details, payment, status="succeeded",
                                  captured=to_bool(params, "capture", default=True))
        charge.update({"source": public(card), "transfer_group": to_str(params, "transfer_group")})
        self._save("charges", charge)
        self._emit(request, "charge.succeeded", charge)
        return self._render(charge, params)

    @endpoint("POST", "/charges/{charge_id}/capture")
    def capture_charge(self, request: Request, charge_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"amount", "receipt_email", "statement_descriptor", "statement_descriptor_suffix",
                               "application_fee_amount", "transfer_data", "transfer_group"})
        charge = self._load("charges", charge_id, "charge")
        if charge["captured"]:
            raise invalid(f"Charge {charge_id} has already been captured.", None, "charge_already_captured")
        if charge["status"] != "succeeded":
            raise invalid(f"Charge {charge_id} has failed and cannot be captured.", None, "charge_not_capturable")
        amount = cast(int, to_int(params, "amount", minimum=1, default=charge["amount"]))
        if amount > charge["amount"]:
            raise invalid(f"Amount must be no more than {money(charge['amount'], charge['currency'])}", "amount",
                          "amount_too_large")
        charge.update({"captured": True, "amount_captured": amount,
                       "balance_transaction": self._charge_funds(request, charge, amount)})
        if amount < charge["amount"]:
            charge["amount_refunded"] = charge["amount"] - amount  # the uncaptured rest is released
        self._save("charges", charge)
        self._emit(request, "charge.captured", charge)
        return self._render(charge, params)

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
            raise invalid(f"Refund amount ({money(amount, charge['currency'])}) is greater than unrefunded "
                          f"amount on charge ({money(refundable, charge['currency'])})", "amount",
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
