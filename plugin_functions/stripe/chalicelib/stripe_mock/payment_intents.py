"""PaymentIntents: confirmation, card outcomes, capture, cancel."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .cards import DECLINE_MESSAGES, TEST_CARDS
from .errors import StripeError, invalid
from .params import check_unknown, merge_metadata, to_bool, to_int, to_str
from .resources import CANCELABLE, ZERO_DECIMAL, public


class PaymentIntentsMixin(StripeBase):
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
        self._update_intent_owner(request, intent, params)
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
            "_bypass_pending": bool(TEST_CARDS.get(pm.get("_number_class", ""), {}).get("bypass_pending")),
        })
        if captured:
            charge["balance_transaction"] = self._charge_funds(request, charge, amount)
        return self._save("charges", charge)

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
                       "balance_transaction": self._charge_funds(request, charge, amount)})
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
