"""Disputes (created through a test helper)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .errors import invalid
from .params import check_unknown, merge_metadata, to_bool, to_int, to_str
from .resources import DISPUTE_FEE, public


class DisputesMixin(StripeBase):
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
            "payment_method_details": _payment_method_details(charge),
            "reason": to_str(params, "reason", choices=("fraudulent", "duplicate", "product_not_received",
                                                        "subscription_canceled", "general")) or "general",
            "status": "needs_response", "balance_transactions": []})
        dispute["balance_transactions"] = [self._dispute_transaction(request, dispute, -amount, DISPUTE_FEE,
                                                                     "Chargeback withdrawal", "dispute")]
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
            dispute["balance_transactions"].append(self._dispute_transaction(
                request, dispute, dispute["amount"], 0, "Chargeback reversal", "dispute_reversal"))
        dispute["status"] = status
        self._save("disputes", dispute)
        self._emit(request, "charge.dispute.closed", dispute)
        return self._render(dispute, {})

    def _dispute_transaction(self, request: Request, dispute: dict[str, Any], amount: int, fee: int,
                             description: str, category: str) -> dict[str, Any]:
        """One ledger entry per dispute movement, Stripe's fee on it (``fee_details``), as Stripe's
        dispute lists it: the whole balance transaction, not its id."""
        txn = self._load("balance_transactions", self._balance_transaction(
            request, dispute["id"], amount, dispute["currency"], "adjustment", description))
        txn["reporting_category"] = category
        if fee:
            txn.update({"fee": fee, "net": amount - fee, "fee_details": [
                {"amount": fee, "application": None, "currency": dispute["currency"], "description": "Dispute fee",
                 "type": "stripe_fee"}]})
        self._save("balance_transactions", txn)
        return public(txn)


def _payment_method_details(charge: Mapping[str, Any]) -> dict[str, Any]:
    """The disputed card as the dispute shows it (a card dispute: the only kind this mock makes)."""
    card = ((charge.get("payment_method_details") or {}).get("card") or (charge.get("source") or {}))
    brand = str(card.get("brand") or "visa").lower().replace(" ", "_")
    return {"card": {"brand": brand, "case_type": "chargeback", "network_reason_code": None}, "type": "card"}
