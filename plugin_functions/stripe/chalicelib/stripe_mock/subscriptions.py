"""Subscriptions, their invoices and the advance test helper."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .errors import StripeError, invalid
from .params import as_list, check_unknown, merge_metadata, to_bool, to_int, to_str
from .plans import plan_view
from .resources import datetime_text, public


class SubscriptionsMixin(StripeBase):
    # --- subscriptions & invoices ----------------------------------------------------------------------
    @staticmethod
    def _add_interval(ts: int, interval: str, count: int) -> int:
        import calendar
        from datetime import datetime, timezone
        if interval == "day":
            return ts + 86400 * count
        if interval == "week":
            return ts + 7 * 86400 * count
        start = datetime.fromtimestamp(ts, tz=timezone.utc)
        months = count * (12 if interval == "year" else 1)
        month_index = start.month - 1 + months
        year, month = start.year + month_index // 12, month_index % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return int(start.replace(year=year, month=month, day=day).timestamp())

    SUBSCRIPTION_FIELDS = {"customer", "items", "default_payment_method", "trial_period_days", "trial_end",
                           "metadata", "description", "cancel_at_period_end", "payment_behavior", "currency",
                           "collection_method", "days_until_due", "off_session", "payment_settings",
                           "proration_behavior", "expand", "coupon", "discounts", "automatic_tax", "promotion_code",
                           "billing_cycle_anchor"}

    def _subscription_items(self, request: Request, sub_id: str, items: list[Any]) -> list[dict[str, Any]]:
        if not items:
            raise invalid("Missing required param: items.", "items", "parameter_missing")
        built = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise invalid("Invalid object", f"items[{index}]")
            price_id = to_str(item, "price") or to_str(item, "plan")  # a plan's id is its price's
            if price_id:
                price = self._load("prices", price_id, f"items[{index}][price]")
            elif isinstance(item.get("price_data"), dict):
                price = self._create_price(request, item["price_data"])
            else:
                raise invalid("Missing required param: items[0][price].", f"items[{index}][price]",
                              "parameter_missing")
            if price["type"] != "recurring":
                raise invalid("The price specified is set to `type=one_time` but this field only accepts prices "
                              "with `type=recurring`.", f"items[{index}][price]")
            built.append(public(self._new_object(request, "subscription_items", {
                "price": public(price), "plan": plan_view(public(price)),
                "quantity": to_int(item, "quantity", minimum=1, default=1),
                "subscription": sub_id, "discounts": [], "tax_rates": [],
                "metadata": merge_metadata({}, item.get("metadata"))})))
        currencies = {i["price"]["currency"] for i in built}
        if len(currencies) > 1:
            raise invalid("All prices on a subscription must have the same currency.", "items")
        return built

    def _default_pm(self, subscription: Mapping[str, Any]) -> str | None:
        if subscription.get("default_payment_method"):
            return subscription["default_payment_method"]
        customer = self.sdk.storage.get("customers", subscription["customer"]) or {}
        return (customer.get("invoice_settings") or {}).get("default_payment_method")

    def _new_invoice(self, request: Request, subscription: dict[str, Any], reason: str,
                     prorations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """A subscription's invoice: its items for the period, or (``prorations``) the lines of a plan
        change; a renewal also bills the prorations a ``create_prorations`` change left pending."""
        start, end = subscription["current_period_start"], subscription["current_period_end"]
        trialing = subscription["status"] == "trialing"
        invoice = self._new_object(request, "invoices", {
            "account_country": "US", "account_name": None, "amount_due": 0, "amount_paid": 0,
            "amount_remaining": 0, "amount_overpaid": 0, "attempt_count": 0, "attempted": False,
            "auto_advance": False, "billing_reason": reason, "collection_method": "charge_automatically",
            "currency": subscription["currency"], "customer": subscription["customer"],
            "customer_email": (self.sdk.storage.get("customers", subscription["customer"]) or {}).get("email"),
            "default_payment_method": None, "description": None, "due_date": None, "ending_balance": 0,
            "hosted_invoice_url": None, "invoice_pdf": None, "last_finalization_error": None,
            "lines": None, "next_payment_attempt": None, "number": None, "paid": False,
            "paid_out_of_band": False, "payment_intent": None, "confirmation_secret": None,
            "period_start": start, "period_end": end,
            "parent": {"type": "subscription_details", "quote_details": None,
                       "subscription_details": {"metadata": dict(subscription.get("metadata") or {}),
                                                "subscription": subscription["id"]}},
            "starting_balance": 0, "status": "draft", "status_transitions": {
                "finalized_at": None, "marked_uncollectible_at": None, "paid_at": None, "voided_at": None},
            "subscription": subscription["id"], "subtotal": 0, "test_clock": subscription.get("test_clock"),
            "total": 0, "webhooks_delivered_at": None})
        lines = []
        for proration in self._pending_prorations(subscription, reason) if prorations is None else prorations:
            line = public(self._new_object(request, "invoice_line_items", {
                "amount": proration["amount"], "currency": subscription["currency"],
                "description": proration["description"], "invoice": invoice["id"],
                "period": {"start": proration["start"], "end": end}, "price": proration["price"],
                "pricing": {"price_details": {"price": proration["price"]["id"],
                                              "product": proration["price"]["product"]},
                            "type": "price_details",
                            "unit_amount_decimal": proration["price"]["unit_amount_decimal"]},
                "proration": True, "quantity": proration["quantity"], "subscription": subscription["id"],
                "subscription_item": proration["item"], "type": "subscription"}))
            line.pop("created", None)
            lines.append(line)
        for item in ([] if prorations is not None else subscription["items"]["data"]):
            price = item["price"]
            amount = 0 if trialing else price["unit_amount"] * item["quantity"]
            line = public(self._new_object(request, "invoice_line_items", {
                "amount": amount, "currency": price["currency"], "description":
                f"{'Trial period for ' if trialing else ''}{item['quantity']} × "
                f"{(self.sdk.storage.get('products', price['product']) or {}).get('name', price['product'])}",
                "invoice": invoice["id"], "period": {"start": start, "end": end}, "price": price,
                "pricing": {"price_details": {"price": price["id"], "product": price["product"]},
                            "type": "price_details", "unit_amount_decimal": price["unit_amount_decimal"]},
                "quantity": item["quantity"], "subscription": subscription["id"], "subscription_item": item["id"],
                "type": "subscription"}))
            line.pop("created", None)
            lines.append(line)
        total = sum(line["amount"] for line in lines)
        invoice["lines"] = {"object": "list", "data": lines, "has_more": False,
                            "url": f"/v1/invoices/{invoice['id']}/lines", "total_count": len(lines)}
        due = max(0, total)  # a credit (a downgrade prorated) goes to the customer's balance
        if total < 0:
            customer = self.sdk.storage.get("customers", subscription["customer"])
            if customer is not None:
                customer["balance"] = int(customer.get("balance") or 0) + total
                self._save("customers", customer)
            invoice["ending_balance"] = total
        invoice.update({"amount_due": due, "amount_remaining": due, "subtotal": total, "total": total,
                        "subtotal_excluding_tax": total, "total_excluding_tax": total})
        customer_discount = (self.sdk.storage.get("customers", subscription["customer"]) or {}).get("discount")
        self._apply_discount(invoice, subscription.get("discount") or customer_discount)
        self._save("invoices", invoice)
        self._emit(request, "invoice.created", invoice)
        # finalize at once (Stripe finalizes a subscription's first invoice immediately)
        return self._finalize_invoice(request, invoice)

    def _pending_prorations(self, subscription: dict[str, Any], reason: str) -> list[dict[str, Any]]:
        """The prorations a ``create_prorations`` change left for the next renewal (taken once)."""
        if reason != "subscription_cycle":
            return []
        pending = subscription.pop("_pending_prorations", None) or []
        return list(pending)

    def _prorations(self, subscription: dict[str, Any], changes: list[tuple[dict[str, Any], dict[str, Any], int, str]]
                    ) -> list[dict[str, Any]]:
        """What a price change is worth for the rest of the period: the unused time of the old price
        credited, the remaining time of the new one charged (integer cents, rounded down)."""
        now = self._timestamp()
        start, end = subscription["current_period_start"], subscription["current_period_end"]
        period = max(1, end - start)
        remaining = min(period, max(0, end - now))  # a period advanced past now (test helper): all of it
        when = datetime_text(now)
        out = []
        for old, new, quantity, item in changes:
            name = lambda price: (self.sdk.storage.get("products", price["product"]) or {}).get(  # noqa: E731
                "name", price["product"])
            out.append({"amount": -(old["unit_amount"] * quantity * remaining // period), "price": old,
                        "quantity": quantity, "item": item, "start": now,
                        "description": f"Unused time on {quantity} × {name(old)} after {when}"})
            out.append({"amount": new["unit_amount"] * quantity * remaining // period, "price": new,
                        "quantity": quantity, "item": item, "start": now,
                        "description": f"Remaining time on {quantity} × {name(new)} after {when}"})
        return out

    def _finalize_invoice(self, request: Request, invoice: dict[str, Any]) -> dict[str, Any]:
        invoice["status"] = "open"
        invoice["number"] = f"{invoice['id'][3:11].upper()}-{self._next_number():04d}"
        invoice["status_transitions"]["finalized_at"] = self._timestamp()
        invoice["hosted_invoice_url"] = f"https://invoice.stripe.com/i/{invoice['id']}"
        invoice["invoice_pdf"] = f"https://pay.stripe.com/invoice/{invoice['id']}/pdf"
        self._save("invoices", invoice)
        self._emit(request, "invoice.finalized", invoice)
        return invoice

    def _mark_invoice_paid(self, request: Request, invoice: dict[str, Any]) -> None:
        invoice.update({"status": "paid", "paid": True, "amount_paid": invoice["amount_due"],
                        "amount_remaining": 0})
        invoice["status_transitions"]["paid_at"] = self._timestamp()
        self._save("invoices", invoice)
        self._emit(request, "invoice.paid", invoice)
        self._emit(request, "invoice.payment_succeeded", invoice)

    def _attempt_invoice(self, request: Request, invoice: dict[str, Any], pm_id: str | None) -> StripeError | None:
        """Try to pay an open invoice. Returns the card error on failure (the invoice stays open)."""
        if invoice["amount_due"] == 0:
            self._mark_invoice_paid(request, invoice)
            return None
        invoice["attempted"] = True
        invoice["attempt_count"] += 1
        if not pm_id:
            self._save("invoices", invoice)
            self._emit(request, "invoice.payment_failed", invoice)
            return invalid("This customer has no attached payment source or default payment method. Please "
                           "consider adding a default payment method.")
        intent = self._invoice_intent(request, invoice)
        intent.pop("_invoice", None)  # paid here, not through the confirm hook
        try:
            self._confirm(request, intent, {"payment_method": pm_id, "off_session": "true"})
        except StripeError as exc:
            self._save("invoices", invoice)
            self._emit(request, "invoice.payment_failed", invoice)
            return exc
        intent = self.sdk.storage.get("payment_intents", intent["id"])
        charge = self.sdk.storage.get("charges", intent["latest_charge"]) if intent else None
        if charge is not None:
            charge["invoice"] = invoice["id"]
            self._save("charges", charge)
        invoice["charge"] = intent["latest_charge"] if intent else None
        invoice["default_payment_method"] = None
        self._mark_invoice_paid(request, invoice)
        return None

    def _invoice_intent(self, request: Request, invoice: dict[str, Any]) -> dict[str, Any]:
        """The invoice's PaymentIntent (created on first use)."""
        intent = self.sdk.storage.get("payment_intents", invoice["payment_intent"]) \
            if invoice.get("payment_intent") else None
        if not intent:
            intent = self._new_object(request, "payment_intents", {
                "amount": invoice["amount_due"], "amount_capturable": 0, "amount_details": {"tip": {}},
                "amount_received": 0, "application": None, "application_fee_amount": None,
                "automatic_payment_methods": None, "canceled_at": None, "cancellation_reason": None,
                "capture_method": "automatic", "client_secret": None, "confirmation_method": "automatic",
                "currency": invoice["currency"], "customer": invoice["customer"],
                "description": {"subscription_create": "Subscription creation", "manual": invoice.get(
                    "description")}.get(invoice["billing_reason"], "Subscription update"),
                "last_payment_error": None, "latest_charge": None,
                "next_action": None, "on_behalf_of": None, "payment_method": None, "payment_method_options": {},
                "payment_method_types": ["card"], "processing": None, "receipt_email": None, "review": None,
                "setup_future_usage": "off_session", "shipping": None, "source": None,
                "statement_descriptor": None, "statement_descriptor_suffix": None,
                "status": "requires_payment_method", "transfer_data": None, "transfer_group": None})
            intent["client_secret"] = f"{intent['id']}_secret_{self.sdk.random_string(24)}"
            self._save("payment_intents", intent)
            self._emit(request, "payment_intent.created", intent)
            invoice["payment_intent"] = intent["id"]
            invoice["confirmation_secret"] = {"client_secret": intent["client_secret"], "type": "payment_intent"}
        return intent

    def _settle_invoice_intent(self, request: Request, intent: dict[str, Any]) -> None:
        invoice = self.sdk.storage.get("invoices", intent["_invoice"])
        if invoice is None or invoice["status"] != "open":
            return
        charge = self.sdk.storage.get("charges", intent["latest_charge"])
        if charge is not None:
            charge["invoice"] = invoice["id"]
            self._save("charges", charge)
        invoice["charge"] = intent["latest_charge"]
        invoice["attempted"], invoice["attempt_count"] = True, invoice["attempt_count"] + 1
        self._mark_invoice_paid(request, invoice)
        subscription = self.sdk.storage.get("subscriptions", invoice["subscription"]) \
            if invoice.get("subscription") else None
        if subscription and subscription["status"] in ("incomplete", "past_due"):
            self._set_sub_status(request, subscription, "active")

    def _set_sub_status(self, request: Request, subscription: dict[str, Any], status: str) -> None:
        if subscription["status"] != status:
            previous = {"status": subscription["status"]}
            subscription["status"] = status
            self._save("subscriptions", subscription)
            self._emit(request, "customer.subscription.updated", subscription, previous)

    def _create_subscription(self, request: Request, params: Mapping[str, Any]) -> dict[str, Any]:
        customer_id = to_str(params, "customer", required=True)
        customer = self._load("customers", customer_id, "customer")
        pm_id = to_str(params, "default_payment_method")
        if pm_id:
            pm = self._resolve_payment_method(request, pm_id, "default_payment_method")
            if pm.get("customer") not in (None, customer_id):
                raise invalid(f"The customer does not have a payment method with the ID {pm['id']}. The payment "
                              "method must be attached to the customer.", "default_payment_method",
                              "resource_missing")
            if not pm.get("customer"):
                pm["customer"] = customer_id
                self._save("payment_methods", pm)
                self._emit(request, "payment_method.attached", pm)
            pm_id = pm["id"]
        trial_days = to_int(params, "trial_period_days", minimum=0, maximum=730)
        now = self._timestamp()
        sub_id = self.sdk.generate_id("sub_")
        items = self._subscription_items(request, sub_id, as_list(params.get("items"), "items"))
        recurring = items[0]["price"]["recurring"]
        trial_end = to_int(params, "trial_end") if str(params.get("trial_end", "")) not in ("", "now") else None
        if trial_days:
            trial_end = now + trial_days * 86400
        period_end = trial_end or self._add_interval(now, recurring["interval"], recurring["interval_count"])
        for item in items:
            item["current_period_start"], item["current_period_end"] = now, period_end
        subscription = self._new_object(request, "subscriptions", {
            "application": None, "application_fee_percent": None, "automatic_tax": {"enabled": False},
            "billing_cycle_anchor": period_end if trial_end else now, "billing_thresholds": None, "cancel_at": None,
            "cancel_at_period_end": to_bool(params, "cancel_at_period_end"), "canceled_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "collection_method": "charge_automatically", "currency": items[0]["price"]["currency"],
            "current_period_start": now, "current_period_end": period_end, "customer": customer["id"],
            "days_until_due": None, "default_payment_method": pm_id, "description": to_str(params, "description"),
            "discounts": [], "ended_at": None,
            "items": {"object": "list", "data": items, "has_more": False, "total_count": len(items),
                      "url": f"/v1/subscription_items?subscription={sub_id}"},
            "latest_invoice": None, "pause_collection": None, "pending_setup_intent": None,
            "pending_update": None, "start_date": now, "status": "trialing" if trial_end else "incomplete",
            "trial_end": trial_end, "trial_start": now if trial_end else None,
            "metadata": merge_metadata({}, params.get("metadata"))})
        subscription["id"] = sub_id
        subscription["discount"] = None
        subscription["test_clock"] = customer.get("test_clock")
        if params.get("coupon") or params.get("promotion_code") or params.get("discounts"):
            subscription["discount"] = self._new_discount(request, params, customer=customer["id"],
                                                          subscription=sub_id)
            subscription["discounts"] = [subscription["discount"]["id"]]
        self._save("subscriptions", subscription)
        self._emit(request, "customer.subscription.created", subscription)
        invoice = self._new_invoice(request, subscription, "subscription_create")
        subscription["latest_invoice"] = invoice["id"]
        self._save("subscriptions", subscription)
        behavior = to_str(params, "payment_behavior",
                          choices=("allow_incomplete", "default_incomplete", "error_if_incomplete",
                                   "pending_if_incomplete")) or "allow_incomplete"
        if behavior == "default_incomplete" and invoice["amount_due"] > 0:
            # Stripe's recommended flow: the client confirms latest_invoice's PaymentIntent itself
            # (confirmation_secret); its success pays the invoice and activates the subscription.
            intent = self._invoice_intent(request, invoice)
            intent["_invoice"] = invoice["id"]
            if self._default_pm(subscription):
                intent["payment_method"] = self._default_pm(subscription)
                intent["status"] = "requires_confirmation"
            self._save("payment_intents", intent)
            self._save("invoices", invoice)
            return subscription
        error = self._attempt_invoice(request, invoice, self._default_pm(subscription))
        if error is None:
            if subscription["status"] == "incomplete":
                self._set_sub_status(request, subscription, "active")
        elif behavior == "error_if_incomplete":
            raise error
        return subscription

    @endpoint("POST", "/subscriptions")
    def create_subscription(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, self.SUBSCRIPTION_FIELDS)
        return self._render(self._create_subscription(request, params), params)

    @endpoint("GET", "/subscriptions/{sub_id}")
    def retrieve_subscription(self, request: Request, sub_id: str) -> Response:
        return self._render(self._load("subscriptions", sub_id), self._params(request))

    @endpoint("POST", "/subscriptions/{sub_id}")
    def update_subscription(self, request: Request, sub_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"cancel_at_period_end", "metadata", "description", "default_payment_method",
                               "proration_behavior", "payment_behavior", "cancel_at", "cancellation_details",
                               "items", "expand"})
        subscription = self._load("subscriptions", sub_id)
        if subscription["status"] in ("canceled", "incomplete_expired"):
            raise invalid("A canceled subscription can only update its cancellation_details and metadata.")
        previous: dict[str, Any] = {}
        if "items" in params:
            self._change_items(request, subscription, params, previous)
        if "cancel_at_period_end" in params:
            flag = to_bool(params, "cancel_at_period_end")
            if flag != subscription["cancel_at_period_end"]:
                previous["cancel_at_period_end"] = subscription["cancel_at_period_end"]
                previous["cancel_at"] = subscription["cancel_at"]
                subscription["cancel_at_period_end"] = flag
                subscription["cancel_at"] = subscription["current_period_end"] if flag else None
                subscription["canceled_at"] = self._timestamp() if flag else None
        if "description" in params:
            previous["description"] = subscription["description"]
            subscription["description"] = to_str(params, "description")
        if "default_payment_method" in params:
            pm_id = to_str(params, "default_payment_method")
            if pm_id:
                pm = self._load("payment_methods", pm_id, "default_payment_method")
                if pm.get("customer") != subscription["customer"]:
                    raise invalid(f"The customer does not have a payment method with the ID {pm_id}. The "
                                  "payment method must be attached to the customer.", "default_payment_method",
                                  "resource_missing")
            previous["default_payment_method"] = subscription["default_payment_method"]
            subscription["default_payment_method"] = pm_id
        if "metadata" in params:
            previous["metadata"] = dict(subscription["metadata"])
            subscription["metadata"] = merge_metadata(subscription["metadata"], params["metadata"])
        self._save("subscriptions", subscription)
        self._emit(request, "customer.subscription.updated", subscription, previous)
        return self._render(subscription, params)

    def _change_items(self, request: Request, subscription: dict[str, Any], params: Mapping[str, Any],
                      previous: dict[str, Any]) -> None:
        """``items[n][id]`` + ``items[n][price]`` / ``[quantity]``: a plan change. ``proration_behavior``:
        ``create_prorations`` (default: billed at the next renewal), ``always_invoice`` (invoiced and
        charged now) or ``none``. With ``payment_behavior=error_if_incomplete`` a declined proration
        changes nothing and raises the card error."""
        behaviour = to_str(params, "proration_behavior", choices=("create_prorations", "none", "always_invoice")) \
            or "create_prorations"
        payment = to_str(params, "payment_behavior", choices=("allow_incomplete", "default_incomplete",
                                                              "error_if_incomplete", "pending_if_incomplete")) \
            or "allow_incomplete"
        items = subscription["items"]["data"]
        before = json.loads(json.dumps(items))
        changes: list[tuple[dict[str, Any], dict[str, Any], int, str]] = []
        for index, change in enumerate(as_list(params.get("items"), "items")):
            if not isinstance(change, dict):
                raise invalid("Invalid object", f"items[{index}]")
            item = next((i for i in items if i["id"] == change.get("id")), None)
            if item is None:
                raise invalid(f"No such subscription item: '{change.get('id')}'", f"items[{index}][id]",
                              "resource_missing")
            old, quantity = item["price"], to_int(change, "quantity", minimum=1, default=item["quantity"]) or 1
            new = old
            new_id = to_str(change, "price") or to_str(change, "plan")
            if new_id:
                new = public(self._load("prices", new_id, f"items[{index}][price]"))
                if new["type"] != "recurring" or new["currency"] != old["currency"]:
                    raise invalid("The price must be recurring and in the subscription's currency.",
                                  f"items[{index}][price]")
            if new["id"] != old["id"] or quantity != item["quantity"]:
                changes.append((old, new, quantity, item["id"]))
                item["price"], item["plan"], item["quantity"] = new, plan_view(new), quantity
                item["metadata"] = merge_metadata(item.get("metadata"), change.get("metadata"))
        if not changes:
            return
        previous["items"] = {"object": "list", "data": before}
        if behaviour == "none" or subscription["status"] == "trialing":
            return
        prorations = self._prorations(subscription, [(o, n, q, i) for o, n, q, i in changes])
        if behaviour == "create_prorations":
            subscription["_pending_prorations"] = [*(subscription.get("_pending_prorations") or []), *prorations]
            return
        invoice = self._new_invoice(request, subscription, "subscription_update", prorations)
        error = self._attempt_invoice(request, invoice, self._default_pm(subscription))
        if error is not None and payment == "error_if_incomplete":
            subscription["items"]["data"] = before  # nothing changes: the proration could not be paid
            self._void(request, invoice)
            raise error
        subscription["latest_invoice"] = invoice["id"]
        if error is not None:
            subscription["status"] = "past_due"

    def _void(self, request: Request, invoice: dict[str, Any]) -> None:
        invoice.update({"status": "void", "amount_remaining": 0})
        invoice["status_transitions"]["voided_at"] = self._timestamp()
        self._save("invoices", invoice)
        self._emit(request, "invoice.voided", invoice)

    @endpoint("DELETE", "/subscriptions/{sub_id}")
    def cancel_subscription(self, request: Request, sub_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"invoice_now", "prorate", "cancellation_details"})
        subscription = self._load("subscriptions", sub_id)
        if subscription["status"] == "canceled":
            raise invalid("A canceled subscription can only update its cancellation_details and metadata.")
        now = self._timestamp()
        subscription.update({"status": "canceled", "canceled_at": now, "ended_at": now,
                             "cancellation_details": {"comment": None, "feedback": None,
                                                      "reason": "cancellation_requested"}})
        self._save("subscriptions", subscription)
        self._emit(request, "customer.subscription.deleted", subscription)
        return self._render(subscription, params)

    @endpoint("GET", "/subscriptions")
    def list_subscriptions(self, request: Request) -> Response:
        params = self._params(request)
        customer = to_str(params, "customer")
        price = to_str(params, "price")
        status = to_str(params, "status") or None
        return self._list(request, "subscriptions", params,
                          lambda s: (customer is None or s["customer"] == customer)
                          and (price is None or any(i["price"]["id"] == price for i in s["items"]["data"]))
                          and (status == "all" or (s["status"] != "canceled" if status is None
                                                   else s["status"] == status)),
                          filters=("customer", "price", "status", "collection_method", "current_period_end",
                                   "current_period_start"))



    @endpoint("POST", "/test_helpers/subscriptions/{sub_id}/advance")
    def advance_subscription(self, request: Request, sub_id: str) -> Response:
        """Mock-only: the current period ends now (a test clock moves time itself). Renews: a new period, a
        ``subscription_cycle`` invoice charged to the default payment method (``past_due`` on a
        decline), the end of a trial, or the cancellation requested with ``cancel_at_period_end``."""
        params = self._params(request)
        check_unknown(params, set())
        subscription = self._load("subscriptions", sub_id)
        if subscription["status"] not in ("active", "trialing", "past_due"):
            raise invalid(f"Only active, trialing or past_due subscriptions can be advanced; {sub_id} is "
                          f"{subscription['status']}.")
        self._end_period(request, subscription)
        return self._render(subscription, params)

    def _end_period(self, request: Request, subscription: dict[str, Any]) -> None:
        """The current period ends: for the helper above and for a test clock reaching it."""
        previous = {"status": subscription["status"],
                    "current_period_start": subscription["current_period_start"],
                    "current_period_end": subscription["current_period_end"]}
        if subscription["cancel_at_period_end"]:
            subscription.update({"status": "canceled", "ended_at": subscription["current_period_end"],
                                 "cancellation_details": {"comment": None, "feedback": None,
                                                          "reason": "cancellation_requested"}})
            self._save("subscriptions", subscription)
            self._emit(request, "customer.subscription.deleted", subscription)
            return
        recurring = subscription["items"]["data"][0]["price"]["recurring"]
        start = subscription["current_period_end"]
        end = self._add_interval(start, recurring["interval"], recurring["interval_count"])
        subscription.update({"current_period_start": start, "current_period_end": end,
                             "status": "active" if subscription["status"] == "trialing" else subscription["status"]})
        for item in subscription["items"]["data"]:
            item["current_period_start"], item["current_period_end"] = start, end
        invoice = self._new_invoice(request, subscription, "subscription_cycle")
        subscription["latest_invoice"] = invoice["id"]
        error = self._attempt_invoice(request, invoice, self._default_pm(subscription))
        subscription["status"] = "active" if error is None else "past_due"
        self._save("subscriptions", subscription)
        self._emit(request, "customer.subscription.updated", subscription,
                   {k: v for k, v in previous.items() if subscription[k] != v})
