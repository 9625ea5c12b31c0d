"""Payouts of the platform's available balance to its bank account (instant in this mock)."""
from __future__ import annotations

from typing import cast

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .errors import invalid
from .params import check_unknown, merge_metadata, to_int, to_str


class PayoutsMixin(StripeBase):
    @endpoint("POST", "/payouts")
    def create_payout(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, {"amount", "currency", "description", "metadata", "method", "destination",
                               "source_type", "statement_descriptor"})
        amount = cast(int, to_int(params, "amount", required=True, minimum=1))
        currency = (to_str(params, "currency", required=True) or "").lower()
        available = self._balance_totals().get(currency, {}).get("available", 0)
        if amount > available:
            # Stripe's wording; pending funds (two days for cards) cannot be paid out yet.
            raise invalid("You have insufficient funds in your Stripe account for this transfer. Your card "
                          "balance is too low. You can use the /v1/balance endpoint to view your Stripe balance "
                          "(for more details, see stripe.com/docs/api#balance).", None, "balance_insufficient")
        now = self._timestamp()
        payout = self._new_object(request, "payouts", {
            "amount": amount, "arrival_date": now, "automatic": False, "balance_transaction": None,
            "currency": currency, "description": to_str(params, "description"),
            "destination": to_str(params, "destination") or "ba_mock_bank_account", "failure_balance_transaction": None,
            "failure_code": None, "failure_message": None, "method": to_str(params, "method") or "standard",
            "original_payout": None, "reversed_by": None, "source_type": to_str(params, "source_type") or "card",
            "statement_descriptor": to_str(params, "statement_descriptor"), "status": "paid", "type": "bank_account"})
        payout["metadata"] = merge_metadata({}, params.get("metadata"))
        payout["balance_transaction"] = self._balance_transaction(request, payout["id"], -amount, currency, "payout",
                                                                  "STRIPE PAYOUT")
        self._save("payouts", payout)
        self._emit(request, "payout.created", payout)
        self._emit(request, "payout.paid", payout)
        return self._render(payout, params)

    @endpoint("GET", "/payouts/{payout_id}")
    def retrieve_payout(self, request: Request, payout_id: str) -> Response:
        return self._render(self._load("payouts", payout_id, "payout"), self._params(request))

    @endpoint("POST", "/payouts/{payout_id}")
    def update_payout(self, request: Request, payout_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"metadata"})
        payout = self._load("payouts", payout_id, "payout")
        payout["metadata"] = merge_metadata(payout.get("metadata"), params.get("metadata"))
        self._save("payouts", payout)
        self._emit(request, "payout.updated", payout)
        return self._render(payout, params)

    @endpoint("GET", "/payouts")
    def list_payouts(self, request: Request) -> Response:
        params = self._params(request)
        status = to_str(params, "status")
        return self._list(request, "payouts", params, lambda p: status is None or p["status"] == status,
                          filters=("status", "destination", "arrival_date"))

    @endpoint("POST", "/payouts/{payout_id}/cancel")
    def cancel_payout(self, request: Request, payout_id: str) -> Response:
        payout = self._load("payouts", payout_id, "payout")
        if payout["status"] != "pending":
            raise invalid("Payouts can only be canceled while they are pending.", None, "payout_not_cancelable")
        return self._render(payout, {})
