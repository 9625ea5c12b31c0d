"""Balance and balance transactions."""
from __future__ import annotations

from typing import Any

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .params import to_str

PENDING_DAYS = 2  # card funds in test mode become available two days later (00:00 UTC)


class BalanceMixin(StripeBase):
    """The ledger: every money movement is a ``txn_``; the balance is their sum per currency and status."""

    def _balance_transaction(self, request: Request, source: str, amount: int, currency: str, kind: str,
                             description: str | None = None, available_on: int | None = None) -> str:
        """A ``txn_`` ledger entry (no fees in this mock: net == amount). ``available_on`` in the future
        makes it pending until then; debits (refunds, transfers) are available at once."""
        txn = self._new_object(request, "balance_transactions", {
            "amount": amount, "currency": currency, "description": description, "exchange_rate": None,
            "fee": 0, "fee_details": [], "net": amount, "reporting_category": kind, "source": source,
            "status": "available", "type": kind,
        })
        txn["available_on"] = txn["created"] if available_on is None else available_on
        if txn["available_on"] > txn["created"]:
            txn["status"] = "pending"
        txn.pop("metadata", None)
        self._save("balance_transactions", txn)
        return txn["id"]

    def _charge_funds(self, request: Request, charge: dict[str, Any], amount: int) -> str:
        """The ledger entry of a captured charge: pending for two days, except the cards that
        bypass the pending balance (``4000000000000077``, ``pm_card_bypassPending``)."""
        now = self._timestamp()
        available_on = None if charge.get("_bypass_pending") else (now // 86400 + PENDING_DAYS) * 86400
        return self._balance_transaction(request, charge["id"], amount, charge["currency"], "charge",
                                         available_on=available_on)

    def _settle_pending(self) -> None:
        """Pending entries whose ``available_on`` has come become available (read time, so a moved
        clock settles them too)."""
        now = self._timestamp()
        for txn in self.sdk.storage.query("balance_transactions", limit=None):
            if txn["status"] == "pending" and txn["available_on"] <= now:
                txn["status"] = "available"
                self._save("balance_transactions", txn)

    def _balance_totals(self) -> dict[str, dict[str, int]]:
        """Per currency, the ``available`` and ``pending`` sums."""
        self._settle_pending()
        totals: dict[str, dict[str, int]] = {}
        for txn in self.sdk.storage.query("balance_transactions", limit=None):
            bucket = totals.setdefault(txn["currency"], {"available": 0, "pending": 0})
            bucket["pending" if txn["status"] == "pending" else "available"] += txn["net"]
        return totals

    # --- balance and events --------------------------------------------------------------------------------
    @endpoint("GET", "/balance")
    def retrieve_balance(self, request: Request) -> Response:
        totals = self._balance_totals()
        currencies = sorted(totals) or ["usd"]

        def amounts(status: str) -> list[dict[str, Any]]:
            return [{"amount": totals.get(c, {}).get(status, 0), "currency": c,
                     "source_types": {"card": totals.get(c, {}).get(status, 0)}} for c in currencies]

        return Response.json({
            "object": "balance", "livemode": self._livemode(request), "available": amounts("available"),
            "pending": amounts("pending"), "connect_reserved": [{"amount": 0, "currency": c} for c in currencies],
        })

    @endpoint("GET", "/balance_transactions/{txn_id}")
    @endpoint("GET", "/balance/history/{txn_id}")
    def retrieve_balance_transaction(self, request: Request, txn_id: str) -> Response:
        self._settle_pending()
        return self._render(self._load("balance_transactions", txn_id, "id"), self._params(request))

    @endpoint("GET", "/balance_transactions")
    @endpoint("GET", "/balance/history")
    def list_balance_transactions(self, request: Request) -> Response:
        params = self._params(request)
        self._settle_pending()
        kind, source, currency = to_str(params, "type"), to_str(params, "source"), to_str(params, "currency")
        return self._list(request, "balance_transactions", params,
                          lambda t: (kind is None or t["type"] == kind) and (source is None or t["source"] == source)
                          and (currency is None or t["currency"] == currency),
                          filters=("type", "source", "currency", "payout"))
