"""Invoices, invoice items, drafts, finalize / void / pay."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .errors import invalid
from .params import check_unknown, merge_metadata, to_bool, to_int, to_str
from .resources import public
from .shapes import shaped


class InvoicesMixin(StripeBase):
    @endpoint("GET", "/invoices/search")
    def search_invoices(self, request: Request) -> Response:
        return self._search(request, "invoices")

    @endpoint("GET", "/invoices/{invoice_id}")
    def retrieve_invoice(self, request: Request, invoice_id: str) -> Response:
        return self._render(self._load("invoices", invoice_id), self._params(request))

    @endpoint("GET", "/invoices/{invoice_id}/lines")
    def list_invoice_lines(self, request: Request, invoice_id: str) -> Response:
        invoice = self._load("invoices", invoice_id)
        return Response.json({**invoice["lines"], "total_count": None} | {"url": f"/v1/invoices/{invoice_id}/lines"})

    @endpoint("GET", "/invoices")
    def list_invoices(self, request: Request) -> Response:
        params = self._params(request)
        customer = to_str(params, "customer")
        subscription = to_str(params, "subscription")
        status = to_str(params, "status", choices=("draft", "open", "paid", "uncollectible", "void"))
        return self._list(request, "invoices", params,
                          lambda i: (customer is None or i["customer"] == customer)
                          and (subscription is None or i.get("subscription") == subscription)
                          and (status is None or i["status"] == status),
                          filters=("customer", "subscription", "status", "collection_method", "due_date"))

    @endpoint("POST", "/invoices/{invoice_id}/pay")
    def pay_invoice(self, request: Request, invoice_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"payment_method", "off_session", "paid_out_of_band", "forgive", "source",
                               "mandate"})
        invoice = self._load("invoices", invoice_id)
        if invoice["status"] == "draft":
            self._finalize_invoice(request, invoice)
            if invoice["status"] == "paid":
                return self._render(invoice, params)
        if invoice["status"] != "open":
            raise invalid(f"Invoice is already {invoice['status']}" if invoice["status"] == "paid" else
                          f"You can only pay an open invoice; this invoice is {invoice['status']}.",
                          None, "invoice_not_open" if invoice["status"] != "paid" else None)
        subscription = self.sdk.storage.get("subscriptions", invoice["subscription"]) \
            if invoice.get("subscription") else None
        if to_bool(params, "paid_out_of_band"):
            invoice["paid_out_of_band"] = True
            self._mark_invoice_paid(request, invoice)
            error = None
        else:
            pm_id = to_str(params, "payment_method")
            if pm_id:
                pm = self._resolve_payment_method(request, pm_id, "payment_method")
                if not pm.get("customer"):
                    pm["customer"] = invoice["customer"]
                    self._save("payment_methods", pm)
                pm_id = pm["id"]
            elif invoice.get("default_payment_method"):
                pm_id = invoice["default_payment_method"]
            else:
                pm_id = self._default_pm(subscription) if subscription else (
                    (self.sdk.storage.get("customers", invoice["customer"]) or {}).get("invoice_settings")
                    or {}).get("default_payment_method")
            error = self._attempt_invoice(request, invoice, pm_id)
        if error is not None:
            raise error
        if subscription and subscription["status"] in ("incomplete", "past_due"):
            self._set_sub_status(request, subscription, "active")
        return self._render(invoice, params)


    # --- one-off invoices: invoice items, drafts, finalize / void / delete -------------------------------
    def _invoiceitem_line(self, item: Mapping[str, Any]) -> dict[str, Any]:
        price = item.get("price")
        return shaped({"id": f"il_{item['id'][3:]}", "object": "line_item", "amount": item["amount"],
                "currency": item["currency"], "description": item.get("description"),
                "invoice": item.get("invoice"), "invoice_item": item["id"], "livemode": item["livemode"],
                "metadata": dict(item.get("metadata") or {}), "period": item["period"], "price": price,
                "quantity": item["quantity"], "subscription": None, "type": "invoiceitem"})

    def _recompute_invoice(self, invoice: dict[str, Any]) -> None:
        items = [i for i in self.sdk.storage.query("invoiceitems", limit=None)
                 if i.get("invoice") == invoice["id"] and not i.get("deleted")]
        items.sort(key=lambda i: i.get("_seq", 0))
        lines = [self._invoiceitem_line(i) for i in items]
        total = sum(line["amount"] for line in lines)
        invoice["lines"] = {"object": "list", "data": lines, "has_more": False,
                            "url": f"/v1/invoices/{invoice['id']}/lines", "total_count": len(lines)}
        invoice.update({"amount_due": total, "amount_remaining": total, "subtotal": total, "total": total,
                        "subtotal_excluding_tax": total, "total_excluding_tax": total})

    INVOICEITEM_FIELDS = {"customer", "price", "amount", "currency", "quantity", "description", "invoice",
                          "metadata", "period", "pricing", "unit_amount_decimal", "discountable", "tax_rates",
                          "subscription"}

    @endpoint("POST", "/invoiceitems")
    def create_invoiceitem(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, self.INVOICEITEM_FIELDS)
        customer_id = to_str(params, "customer", required=True)
        self._load("customers", customer_id, "customer")
        quantity = to_int(params, "quantity", minimum=1, default=1) or 1
        pricing = params["pricing"] if isinstance(params.get("pricing"), dict) else {}
        price_id = to_str(params, "price") or pricing.get("price")
        price = None
        if price_id:
            price = public(self._load("prices", price_id, "price"))
            if price["type"] != "one_time":
                raise invalid("The price specified is set to `type=recurring` but this field only accepts prices "
                              "with `type=one_time`.", "price")
            currency, amount = price["currency"], price["unit_amount"] * quantity
        else:
            currency = (to_str(params, "currency", required=True) or "").lower()
            amount = to_int(params, "amount", required=True, minimum=-99999999, maximum=99999999) or 0
        invoice_id = to_str(params, "invoice")
        if invoice_id:
            invoice = self._load("invoices", invoice_id, "invoice")
            if invoice["status"] != "draft" or invoice["customer"] != customer_id:
                raise invalid(f"You can only add invoice items to draft invoices of this customer; {invoice_id} "
                              f"is {invoice['status']}.", "invoice")
        now = self._timestamp()
        item = self._new_object(request, "invoiceitems", {
            "amount": amount, "currency": currency, "customer": customer_id, "date": now,
            "description": to_str(params, "description") or (
                (self.sdk.storage.get("products", price["product"]) or {}).get("name") if price else None),
            "discountable": True, "invoice": invoice_id, "period": {"start": now, "end": now},
            "price": price, "proration": False, "quantity": quantity, "subscription": None,
            "unit_amount": amount // quantity if price is None else price["unit_amount"],
            "metadata": merge_metadata({}, params.get("metadata"))})
        item.pop("created", None)
        self._save("invoiceitems", item)
        if invoice_id:
            self._recompute_invoice(invoice)
            self._save("invoices", invoice)
        self._emit(request, "invoiceitem.created", item)
        return self._render(item, params)

    @endpoint("GET", "/invoiceitems/{item_id}")
    def retrieve_invoiceitem(self, request: Request, item_id: str) -> Response:
        return self._render(self._load("invoiceitems", item_id), self._params(request))

    @endpoint("DELETE", "/invoiceitems/{item_id}")
    def delete_invoiceitem(self, request: Request, item_id: str) -> Response:
        item = self._load("invoiceitems", item_id)
        invoice = self.sdk.storage.get("invoices", item["invoice"]) if item.get("invoice") else None
        if invoice and invoice["status"] != "draft":
            raise invalid("Invoice items on finalized invoices cannot be deleted.")
        item["deleted"] = True
        self._save("invoiceitems", item)
        if invoice:
            self._recompute_invoice(invoice)
            self._save("invoices", invoice)
        self._emit(request, "invoiceitem.deleted", item)
        return Response.json({"id": item_id, "object": "invoiceitem", "deleted": True})

    @endpoint("GET", "/invoiceitems")
    def list_invoiceitems(self, request: Request) -> Response:
        params = self._params(request)
        customer = to_str(params, "customer")
        invoice = to_str(params, "invoice")
        pending = to_bool(params, "pending") if "pending" in params else None
        return self._list(request, "invoiceitems", params,
                          lambda i: (customer is None or i["customer"] == customer)
                          and (invoice is None or i.get("invoice") == invoice)
                          and (pending is None or (i.get("invoice") is None) == pending),
                          filters=("customer", "invoice", "pending"))

    INVOICE_FIELDS = {"customer", "auto_advance", "collection_method", "days_until_due", "description",
                      "metadata", "pending_invoice_items_behavior", "default_payment_method", "due_date",
                      "footer", "currency", "subscription", "automatic_tax"}

    @endpoint("POST", "/invoices")
    def create_invoice(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, self.INVOICE_FIELDS)
        customer_id = to_str(params, "customer", required=True)
        customer = self._load("customers", customer_id, "customer")
        collection = to_str(params, "collection_method", choices=("charge_automatically", "send_invoice")) \
            or "charge_automatically"
        days = to_int(params, "days_until_due", minimum=0)
        if collection == "send_invoice" and days is None and not params.get("due_date"):
            raise invalid("Invoices with `collection_method=send_invoice` require `days_until_due` or "
                          "`due_date`.", "days_until_due")
        behaviour = to_str(params, "pending_invoice_items_behavior", choices=("include", "exclude")) or "exclude"
        pm_id = to_str(params, "default_payment_method")
        if pm_id:
            self._load("payment_methods", pm_id, "default_payment_method")
        now = self._timestamp()
        invoice = self._new_object(request, "invoices", {
            "account_country": "US", "account_name": None, "amount_due": 0, "amount_paid": 0,
            "amount_remaining": 0, "amount_overpaid": 0, "attempt_count": 0, "attempted": False,
            "auto_advance": to_bool(params, "auto_advance", collection == "charge_automatically"),
            "billing_reason": "manual", "collection_method": collection,
            "currency": (to_str(params, "currency") or "usd").lower(), "customer": customer_id,
            "customer_email": customer.get("email"), "default_payment_method": pm_id,
            "description": to_str(params, "description"),
            "due_date": to_int(params, "due_date") or (now + days * 86400 if days is not None else None),
            "ending_balance": None, "hosted_invoice_url": None, "invoice_pdf": None,
            "last_finalization_error": None, "lines": None, "next_payment_attempt": None, "number": None,
            "paid": False, "paid_out_of_band": False, "payment_intent": None, "confirmation_secret": None,
            "period_start": now,
            "period_end": now, "parent": None, "starting_balance": 0, "status": "draft",
            "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None, "paid_at": None,
                                   "voided_at": None},
            "subscription": None, "subtotal": 0, "test_clock": customer.get("test_clock"), "total": 0,
            "webhooks_delivered_at": None,
            "metadata": merge_metadata({}, params.get("metadata"))})
        self._save("invoices", invoice)
        if behaviour == "include":
            for item in self.sdk.storage.query("invoiceitems", limit=None):
                if item["customer"] == customer_id and item.get("invoice") is None and not item.get("deleted"):
                    item["invoice"] = invoice["id"]
                    self._save("invoiceitems", item)
        self._recompute_invoice(invoice)
        if invoice["lines"]["data"]:
            invoice["currency"] = invoice["lines"]["data"][0]["currency"]
        self._save("invoices", invoice)
        self._emit(request, "invoice.created", invoice)
        return self._render(invoice, params)

    @endpoint("POST", "/invoices/{invoice_id}")
    def update_invoice(self, request: Request, invoice_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"auto_advance", "collection_method", "days_until_due", "description", "metadata",
                               "default_payment_method", "due_date", "footer"})
        invoice = self._load("invoices", invoice_id)
        if invoice["status"] != "draft" and set(params) - {"metadata", "expand"}:
            raise invalid(f"You can only update metadata on a finalized invoice; {invoice_id} is "
                          f"{invoice['status']}.", sorted(set(params) - {"metadata", "expand"})[0])
        previous: dict[str, Any] = {}
        for name in ("description", "collection_method", "default_payment_method"):
            if name in params:
                previous[name] = invoice[name]
                invoice[name] = to_str(params, name)
        if "auto_advance" in params:
            previous["auto_advance"] = invoice["auto_advance"]
            invoice["auto_advance"] = to_bool(params, "auto_advance")
        if "days_until_due" in params:
            invoice["due_date"] = invoice["created"] + (to_int(params, "days_until_due", minimum=0) or 0) * 86400
        if "metadata" in params:
            previous["metadata"] = dict(invoice["metadata"])
            invoice["metadata"] = merge_metadata(invoice["metadata"], params["metadata"])
        self._save("invoices", invoice)
        self._emit(request, "invoice.updated", invoice, previous)
        return self._render(invoice, params)

    @endpoint("DELETE", "/invoices/{invoice_id}")
    def delete_invoice(self, request: Request, invoice_id: str) -> Response:
        invoice = self._load("invoices", invoice_id)
        if invoice["status"] != "draft":
            raise invalid("You can only delete draft invoices.", None, "invoice_not_editable")
        for item in self.sdk.storage.query("invoiceitems", limit=None):
            if item.get("invoice") == invoice_id:
                item["invoice"] = None  # back to pending, as Stripe does
                self._save("invoiceitems", item)
        invoice["deleted"] = True
        self._save("invoices", invoice)
        self._emit(request, "invoice.deleted", invoice)
        return Response.json({"id": invoice_id, "object": "invoice", "deleted": True})

    @endpoint("POST", "/invoices/{invoice_id}/finalize")
    def finalize_invoice(self, request: Request, invoice_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"auto_advance"})
        invoice = self._load("invoices", invoice_id)
        if invoice["status"] != "draft":
            raise invalid("This invoice is already finalized, you can't re-finalize a non-draft invoice.")
        self._finalize_invoice(request, invoice)
        if invoice["amount_due"] == 0:
            self._mark_invoice_paid(request, invoice)
        return self._render(invoice, params)

    @endpoint("POST", "/invoices/{invoice_id}/void")
    def void_invoice(self, request: Request, invoice_id: str) -> Response:
        params = self._params(request)
        invoice = self._load("invoices", invoice_id)
        if invoice["status"] not in ("open", "uncollectible"):
            raise invalid(f"You can only pass in open invoices. This invoice isn't open, it is {invoice['status']}.",
                          None, "invoice_not_open")
        invoice["status"] = "void"
        invoice["amount_remaining"] = 0
        invoice["status_transitions"]["voided_at"] = self._timestamp()
        self._save("invoices", invoice)
        self._emit(request, "invoice.voided", invoice)
        return self._render(invoice, params)
