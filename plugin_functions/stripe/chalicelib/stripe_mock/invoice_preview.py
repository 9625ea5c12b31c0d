"""The upcoming invoice: ``POST /invoices/create_preview`` and, for API versions before 2025-03-31
(when Stripe removed it), ``GET /invoices/upcoming``. Nothing is stored: a preview has no id to fetch."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .errors import invalid, unrecognized
from .params import to_str
from .resources import API_VERSION
from .shapes import shaped

UPCOMING_REMOVED_IN = "2025-03-31"  # Stripe's "basil" release replaced it with create_preview


class InvoicePreviewMixin(StripeBase):
    def _preview(self, request: Request, params: Mapping[str, Any]) -> dict[str, Any]:
        customer_id = to_str(params, "customer")
        sub_id = to_str(params, "subscription")
        subscription = self._load("subscriptions", sub_id, "subscription") if sub_id else None
        if subscription is None and customer_id:
            live = [s for s in self.sdk.storage.query("subscriptions", limit=None)
                    if s.get("customer") == customer_id and s.get("status") in ("active", "trialing", "past_due")]
            subscription = min(live, key=lambda s: s.get("_seq", 0)) if live else None
        customer_id = customer_id or (subscription or {}).get("customer")
        if not customer_id:
            raise invalid("Missing required param: customer.", "customer", "parameter_missing")
        customer = self._load("customers", customer_id, "customer")
        lines: list[dict[str, Any]] = []
        start = end = self._timestamp()
        currency = (subscription or {}).get("currency") or "usd"
        if subscription is not None and not subscription.get("cancel_at_period_end"):
            start = subscription["current_period_end"]
            recurring = subscription["items"]["data"][0]["price"]["recurring"]
            end = self._add_interval(start, recurring["interval"], recurring["interval_count"])
            for item in subscription["items"]["data"]:
                price = item["price"]
                lines.append(shaped({"id": f"il_tmp_{item['id'][3:]}", "object": "line_item",
                              "amount": price["unit_amount"] * item["quantity"], "currency": price["currency"],
                              "description": f"{item['quantity']} × {price.get('nickname') or price['product']}",
                              "discountable": True, "livemode": self._livemode(request), "metadata": {},
                              "period": {"start": start, "end": end}, "price": price, "proration": False,
                              "quantity": item["quantity"], "subscription": subscription["id"],
                              "subscription_item": item["id"], "type": "subscription"}))
        for pending in self.sdk.storage.query("invoiceitems", limit=None):
            if pending.get("customer") == customer_id and not pending.get("invoice") and not pending.get("deleted"):
                lines.append(shaped({"id": f"il_tmp_{pending['id'][3:]}", "object": "line_item",
                              "amount": pending["amount"], "currency": pending["currency"],
                              "description": pending.get("description"), "discountable": True,
                              "invoice_item": pending["id"], "livemode": self._livemode(request), "metadata": {},
                              "period": pending.get("period") or {"start": start, "end": start},
                              "price": pending.get("price"), "proration": False,
                              "quantity": pending.get("quantity", 1), "subscription": None,
                              "type": "invoiceitem"}))
        subtotal = sum(line["amount"] for line in lines)
        invoice: dict[str, Any] = {
            "object": "invoice", "account_country": "US", "account_name": None, "amount_due": subtotal,
            "amount_paid": 0, "amount_remaining": subtotal, "amount_shipping": 0, "attempt_count": 0,
            "attempted": False, "auto_advance": False, "automatic_tax": {"enabled": False, "status": None},
            "billing_reason": "upcoming", "collection_method": "charge_automatically",
            "created": start, "currency": currency, "customer": customer_id, "customer_email": customer.get("email"),
            "customer_name": customer.get("name"), "discount": None, "discounts": [],
            "lines": {"object": "list", "data": lines, "has_more": False, "total_count": len(lines),
                      "url": "/v1/invoices/upcoming/lines"},
            "livemode": self._livemode(request), "metadata": {}, "next_payment_attempt": start, "paid": False,
            "period_start": start, "period_end": start, "status": "draft",
            "subscription": subscription["id"] if subscription else None, "subtotal": subtotal,
            "subtotal_excluding_tax": subtotal, "total": subtotal, "total_excluding_tax": subtotal,
            "total_discount_amounts": [], "total_tax_amounts": []}
        self._apply_discount(invoice, (subscription or {}).get("discount") or customer.get("discount"))
        return shaped(invoice)

    @endpoint("POST", "/invoices/create_preview")
    def create_invoice_preview(self, request: Request) -> Response:
        params = self._params(request)
        invoice = self._preview(request, params)
        invoice["id"] = f"upcoming_{self.sdk.generate_id('in_')}"
        return self._render(invoice, params)

    @endpoint("GET", "/invoices/upcoming")
    def retrieve_upcoming_invoice(self, request: Request) -> Response:
        version = request.headers.get("stripe-version") or API_VERSION
        if version >= UPCOMING_REMOVED_IN:
            raise unrecognized(request.method, request.path)
        params = self._params(request)
        return self._render(self._preview(request, params), params)
