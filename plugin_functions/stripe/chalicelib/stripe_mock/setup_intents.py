"""SetupIntents."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .cards import DECLINE_MESSAGES, TEST_CARDS
from .errors import StripeError, invalid
from .params import check_unknown, merge_metadata, to_bool, to_str
from .resources import public


class SetupIntentsMixin(StripeBase):
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
        self._update_intent_owner(request, intent, params)
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
        decline = None if behaviour.get("attach_ok") else behaviour.get("decline")
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
