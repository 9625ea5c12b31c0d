"""Usage invoices: the month close, what Stripe says of their payment, dunning, refunds.

The month close (plan, then execute) never drops a call and never bills one twice:

1. It refuses a month that has not ended.
2. For each user with due charges (rated into the ledger, not yet invoiced; late calls of earlier
   months included), a pure plan (``invoicing.plan_invoice``) is stored with the invoice, together
   with the user's new carries, on the condition that neither exists yet: the plan is the invoice.
3. The plan is carried out step by step, each step idempotent: the months' charges are taken
   (conditionally, from where the plan found them), each line posted to the ledger, the Stripe
   invoice made (found again by its metadata if it exists, however old), its payment tried.
   A run killed anywhere is finished by the next one from the stored plan.

A failed payment starts dunning: notices (in the app), retries on days 1, 3 and 5, and after
the grace (``MF_DUNNING_GRACE_DAYS``, 7 by default) the user's live calls are refused with
``402 payment_overdue`` until the invoice is paid.
"""
from __future__ import annotations

import logging
import re
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.billing.context import BillingContext
from chalicelib.billing.customers import Customers
from chalicelib.billing.invoicing import InvoicePlan, Share, Take, invoice_id_of, plan_invoice
from chalicelib.billing.outcome import Outcome
from chalicelib.billing.records import DUNNING, INVOICING, BillingTable, CustomerRecord, InvoiceRecord
from chalicelib.core.clock import iso
from chalicelib.core.dynamo import condition_failed, failed_conditions, find, run_transaction
from chalicelib.core.errors import ConflictError, InvalidInputError, NotFoundError
from chalicelib.metering.charges import DueCharge
from chalicelib.payments.port import CardDeclinedError, Invoice, InvoiceLine, PaymentsError
from chalicelib.revenue.ledger import MICROS_PER_CENT
from chalicelib.revenue.service import UsageShare

log = logging.getLogger(__name__)
PAYABLE_FROM = ("planned", "open", "failed")
REFUND = {"type": "object", "additionalProperties": False, "required": ["reason"],
          "properties": {"amount_cents": {"type": "integer", "minimum": 1, "maximum": 100_000_000},
                         "reason": {"type": "string", "minLength": 3, "maxLength": 300}}}


def month_end(month: str) -> datetime:
    """The first moment after ``month`` (YYYY-MM)."""
    year, number = int(month[:4]), int(month[5:7])
    return datetime(year + number // 12, number % 12 + 1, 1, tzinfo=timezone.utc)


def plan_of(rec: InvoiceRecord) -> InvoicePlan:
    return InvoicePlan.from_record(rec.invoice_id or invoice_id_of(rec.user_id, rec.month), rec.user_id, rec.month,
                                   int(rec.amount_cents), int(rec.amount_cents) == 0,  # charged: at least 50 cents
                                   rec.lines or [], rec.takes or [], rec.carry_in or {}, rec.carry_out or {})


def invoice_view(rec: InvoiceRecord) -> dict[str, Any]:
    return {"invoice_id": rec.invoice_id or invoice_id_of(rec.user_id, rec.month), "month": rec.month,
            "status": rec.status, "amount_cents": int(rec.amount_cents), "lines": rec.lines,
            "stripe_invoice_id": rec.stripe_invoice_id, "pay_url": rec.hosted_url,
            "failed_at": iso(rec.failed_at) if rec.failed_at else None, "refunded_cents": int(rec.refunded_cents or 0),
            "carry_out_micros": {k: int(v) for k, v in (rec.carry_out or {}).items()}}


class UsageInvoices:
    def __init__(self, ctx: BillingContext, customers: Customers) -> None:
        self._ctx = ctx
        self._customers = customers

    @staticmethod
    def record(user: str, month: str) -> InvoiceRecord | None:
        return find(InvoiceRecord, InvoiceRecord.key(user, month))

    # --- the month close -----------------------------------------------------------------------------
    def close(self, month: str, *, dry_run: bool = False) -> dict[str, Any]:
        now = self._ctx.clock.now()
        if now < month_end(month):
            raise ConflictError(f"{month} is not over until {iso(month_end(month))}: its invoices can be planned "
                                "(dry run) but not made before", code="month_not_closed")
        resumed = [] if dry_run else [self._execute(rec) for rec in self._unfinished()]
        per_user: dict[str, list[DueCharge]] = defaultdict(list)
        for charge in self._ctx.charges.due(month, sync=not dry_run):
            per_user[charge.user_id].append(charge)
        invoices = []
        for user, charges in sorted(per_user.items()):
            existing = self.record(user, month)
            if existing is not None:  # made by an earlier run; late calls wait for the next month's
                continue
            plan = self._plan(user, month, charges)
            if dry_run:
                invoices.append(self._report(plan, "would be " + ("carried" if plan.carried else "charged")))
                continue
            rec = self._persist(plan)
            invoices.append(self._execute(rec) if rec is not None else {"user_id": user, "status": "raced"})
        return {"month": month, "dry_run": dry_run, "closed_at": iso(month_end(month)), "resumed": resumed,
                "invoices": invoices, "totals": self._totals(invoices)}

    @staticmethod
    def _totals(invoices: list[dict[str, Any]]) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for inv in invoices:
            totals["invoices"] += 1
            totals["amount_cents"] += int(inv.get("amount_cents") or 0)
            totals[f"status_{inv.get('status')}"] += 1
            totals["late_lines"] += sum(1 for line in inv.get("lines", []) if line.get("late"))
            totals["late_cents"] += sum(int(line["amount_cents"]) for line in inv.get("lines", []) if line.get("late"))
        return dict(totals)

    def _unfinished(self) -> list[InvoiceRecord]:
        return [rec for rec in InvoiceRecord.work_index.query(INVOICING) if isinstance(rec, InvoiceRecord)]

    def _plan(self, user: str, month: str, charges: list[DueCharge]) -> InvoicePlan:
        customer = self._customers.find(user)
        carries = {k: int(v) for k, v in ((customer.carries if customer else None) or {}).items()}
        takes = [Take(c.plugin, c.month, c.invoiced_micros, c.rated_micros) for c in charges]
        shares = {}
        for plugin in {c.plugin for c in charges} | {p for p, v in carries.items() if v}:
            developer, share_bps = self._ctx.owner_of(plugin)
            shares[plugin] = Share(developer, share_bps)
        return plan_invoice(user, month, takes, carries, shares)

    def _persist(self, plan: InvoicePlan) -> InvoiceRecord | None:
        """The plan and the user's new carries, in one transaction that happens once."""
        customer = self._customers.customer(plan.user)
        record = InvoiceRecord(*InvoiceRecord.key(plan.user, plan.month), user_id=plan.user, month=plan.month,
                               invoice_id=plan.invoice_id, status="planned", amount_cents=plan.amount_cents,
                               work=INVOICING, created_at=self._ctx.clock.now(), **plan.to_record())
        seen = customer.carried_by

        def build(tx: TransactWrite) -> None:
            tx.save(record, condition=InvoiceRecord.pk.does_not_exist())
            # the carries the plan started from are still there: no other invoice moved them since
            tx.update(CustomerRecord(*CustomerRecord.key(plan.user)),
                      actions=[CustomerRecord.carries.set(dict(plan.carry_out)),
                               CustomerRecord.carried_by.set(plan.invoice_id)],
                      condition=(CustomerRecord.carried_by.does_not_exist() if seen is None
                                 else CustomerRecord.carried_by == seen))

        try:
            run_transaction(BillingTable, build, client_request_token=plan.invoice_id[-36:])
        except TransactWriteError as exc:
            if any(failed_conditions(exc)):
                return self.record(plan.user, plan.month)  # another run planned it (or is planning)
            raise
        return record

    def _execute(self, rec: InvoiceRecord) -> dict[str, Any]:
        """Carry out a stored plan; every step may have happened already."""
        plan = plan_of(rec)
        for take in plan.takes:
            self._ctx.charges.take(take.plugin, plan.user, take.month, take.from_micros, take.to_micros)
        if rec.status == "planned" and plan.carried:
            self._transition(rec, "carried", ("planned",), [InvoiceRecord.work.remove()])
        elif rec.status == "planned":
            for line in plan.lines:
                if line.amount_cents:
                    self._ctx.revenue.invoice_line(plan.invoice_id, line.n, user=plan.user, plugin=line.plugin,
                                                   month=line.month, developer=line.developer,
                                                   cents=line.amount_cents, share_bps=line.share_bps)
            customer = self._customers.customer(plan.user)
            invoice = self._ctx.payments.charge_invoice(
                customer_id=customer.stripe_customer_id,
                lines=[InvoiceLine(line.description, line.amount_cents) for line in plan.lines if line.amount_cents],
                metadata={"kind": "usage", "user_id": plan.user, "month": plan.month, "mf_invoice": plan.invoice_id},
                idempotency_key=plan.invoice_id)
            self._charged(rec, invoice)
        return self._report(plan, (self.record(plan.user, plan.month) or rec).status)

    def _report(self, plan: InvoicePlan, status: str) -> dict[str, Any]:
        rec = self.record(plan.user, plan.month)
        return {"user_id": plan.user, "invoice_id": plan.invoice_id, "month": plan.month, "status": status,
                "amount_cents": plan.amount_cents, "carry_out_micros": dict(plan.carry_out),
                "lines": [{"plugin": line.plugin, "month": line.month, "late": line.late, "micros": line.micros,
                           "amount_cents": line.amount_cents} for line in plan.lines],
                "stripe_invoice_id": rec.stripe_invoice_id if rec else None, "pay_url": rec.hosted_url if rec else None}

    def _charged(self, rec: InvoiceRecord, invoice: Invoice) -> None:
        ids: list[Any] = [InvoiceRecord.stripe_invoice_id.set(invoice.id)]
        if invoice.hosted_url:
            ids.append(InvoiceRecord.hosted_url.set(invoice.hosted_url))
        if invoice.payment_intent:
            ids.append(InvoiceRecord.payment_intent.set(invoice.payment_intent))
        if invoice.status == "paid":
            self._paid(rec.user_id, rec.month, invoice.id, invoice.payment_intent, ids)
        elif not self._transition(rec, "open", ("planned",), [*ids, InvoiceRecord.work.remove()]):
            InvoiceRecord(rec.pk, rec.sk).update(actions=ids)  # the webhook said paid or failed first
        if invoice.status == "open" and invoice.amount_due_cents > 0:
            self._failed(rec.user_id, rec.month, invoice.id, invoice.hosted_url)

    @staticmethod
    def _transition(rec: InvoiceRecord, status: str, allowed: tuple[str, ...], actions: list[Any]) -> bool:
        try:
            InvoiceRecord(rec.pk, rec.sk).update(actions=[InvoiceRecord.status.set(status), *actions],
                                                 condition=InvoiceRecord.status.is_in(*allowed))
            return True
        except UpdateError as exc:
            if not condition_failed(exc):
                raise
            return False

    # --- payment outcomes ----------------------------------------------------------------------------
    def _paid(self, user: str, month: str, stripe_id: str | None, payment: str | None, extra: list[Any]) -> None:
        rec = self.record(user, month)
        if rec is None:
            return
        plan = plan_of(rec)
        key = payment or f"invoice-{stripe_id}"
        self._ctx.revenue.usage_paid(key, plan.invoice_id, user, plan.amount_cents,
                                     [UsageShare(line.developer, line.developer_micros, line.platform_micros)
                                      for line in plan.lines if line.amount_cents], self._ctx.referral_of)
        now = self._ctx.clock.now()
        self._transition(rec, "paid", PAYABLE_FROM,
                         [*extra, InvoiceRecord.work.remove(), InvoiceRecord.paid_at.set(now)])
        customer = self._customers.find(user)
        if customer is not None and plan.invoice_id in (customer.unpaid or set()):
            others = [r.failed_at for r in InvoiceRecord.work_index.query(DUNNING)
                      if isinstance(r, InvoiceRecord) and r.user_id == user and r.month != month and r.failed_at]
            self._customers.mark_paid(user, plan.invoice_id, min(others) if others else None)
            self._ctx.notifications.notify(user, f"billing.paid:{plan.invoice_id}", "billing.invoice_paid",
                                           f"Your usage invoice for {month} is paid. Thank you.",
                                           {"invoice": plan.invoice_id})

    def _failed(self, user: str, month: str, stripe_id: str | None, pay_url: str | None) -> None:
        rec = self.record(user, month)
        if rec is None or rec.status == "paid":
            return
        now = self._ctx.clock.now()
        failed_at = rec.failed_at or now
        actions: list[Any] = [InvoiceRecord.work.set(DUNNING), InvoiceRecord.failed_at.set(failed_at)]
        if pay_url:
            actions.append(InvoiceRecord.hosted_url.set(pay_url))
        self._transition(rec, "failed", ("planned", "open", "failed"), actions)
        plan = plan_of(rec)
        self._customers.mark_unpaid(user, plan.invoice_id, failed_at)
        until = failed_at + timedelta(days=self._ctx.grace_days)
        self._ctx.notifications.notify(
            user, f"billing.payment_failed:{plan.invoice_id}", "billing.payment_failed",
            f"The payment of your ${plan.amount_cents / 100:,.2f} usage invoice for {month} failed. Pay it at "
            f"{pay_url or rec.hosted_url or 'POST /billing/invoices/' + month + '/pay'} or add a card "
            f"(POST /billing/setup); it is retried on days {', '.join(map(str, self._ctx.retry_days))}. "
            f"From {iso(until)[:10]} live calls are refused until it is paid.",
            {"invoice": plan.invoice_id, "pay_url": pay_url or rec.hosted_url, "overdue_from": iso(until)})

    def on_paid(self, meta: dict[str, Any], invoice: dict[str, Any]) -> Outcome:
        out = Outcome()
        user, month = meta.get("user_id"), meta.get("month")
        if user and month:
            payment = invoice.get("payment_intent")
            out.always.append(lambda: self._paid(user, month, str(invoice["id"]), str(payment) if payment else None,
                                                 [InvoiceRecord.stripe_invoice_id.set(str(invoice["id"]))]))
        return out

    def on_failed(self, meta: dict[str, Any], invoice: dict[str, Any]) -> Outcome:
        out = Outcome()
        user, month = meta.get("user_id"), meta.get("month")
        if user and month:
            out.always.append(lambda: self._failed(user, month, str(invoice["id"]), invoice.get("hosted_invoice_url")))
        return out

    # --- the user pays now; dunning -----------------------------------------------------------------------
    def pay_now(self, user: str, month: str) -> dict[str, Any]:
        rec = self.record(user, month)
        if rec is None or rec.status in ("planned", "carried"):
            raise NotFoundError(f"no usage invoice to pay for {month}", code="invoice_not_found")
        if rec.status == "paid":
            raise ConflictError(f"the invoice for {month} is paid", code="invoice_already_paid")
        attempt = self._next_attempt(rec)
        invoice = self._ctx.payments.pay_invoice(str(rec.stripe_invoice_id),
                                                 idempotency_key=f"pay-{rec.invoice_id}-{attempt}")
        if invoice.status == "paid":
            self._paid(user, month, invoice.id, invoice.payment_intent, [])
            return invoice_view(self.record(user, month) or rec)
        raise CardDeclinedError(f"the payment of your invoice for {month} did not go through: add another card "
                                f"(POST /billing/setup) or pay at {rec.hosted_url}")

    @staticmethod
    def _next_attempt(rec: InvoiceRecord) -> int:
        """Count an attempt before making it: its idempotency key is new, however often we crash."""
        n = int(rec.retries or 0) + 1
        InvoiceRecord(rec.pk, rec.sk).update(actions=[InvoiceRecord.retries.set(n)])
        return n

    def dunning(self) -> list[dict[str, Any]]:
        """Failed usage invoices: retry on the schedule's days, say when live calls stop."""
        now, moved = self._ctx.clock.now(), []
        for rec in [r for r in InvoiceRecord.work_index.query(DUNNING) if isinstance(r, InvoiceRecord)]:
            rec = self.record(rec.user_id, rec.month) or rec
            if rec.status == "paid" or rec.failed_at is None or not rec.stripe_invoice_id:
                continue
            days = (now - rec.failed_at).days
            due = sum(1 for d in self._ctx.retry_days if d <= days)
            row = {"user_id": rec.user_id, "month": rec.month, "retries": int(rec.retries or 0)}
            if int(rec.retries or 0) < due:
                try:
                    rec.update(actions=[InvoiceRecord.retries.set(due)],
                               condition=InvoiceRecord.retries == int(rec.retries or 0))
                except UpdateError as exc:
                    if not condition_failed(exc):
                        raise
                    continue  # another run retries it
                invoice = self._ctx.payments.pay_invoice(rec.stripe_invoice_id,
                                                         idempotency_key=f"dunning-{rec.invoice_id}-{due}")
                row["retried"], row["retries"] = invoice.status, due
                if invoice.status == "paid":
                    self._paid(rec.user_id, rec.month, invoice.id, invoice.payment_intent, [])
                    moved.append(row)
                    continue
            if days >= self._ctx.grace_days:
                row["overdue"] = True
                self._ctx.notifications.notify(
                    rec.user_id, f"billing.overdue:{rec.invoice_id}", "billing.overdue",
                    f"Your usage invoice for {rec.month} is {days} days overdue: live calls answer 402 "
                    "payment_overdue until it is paid "
                    f"({rec.hosted_url or 'POST /billing/invoices/' + rec.month + '/pay'}).",
                    {"invoice": rec.invoice_id, "pay_url": rec.hosted_url})
            moved.append(row)
        return moved

    # --- refunds ---------------------------------------------------------------------------------------
    def refunded(self, payment: str, cumulative_micros: int) -> None:
        """A payment's refunds so far (from ``charge.refunded``, or our own refund): shares reversed."""
        self._ctx.revenue.reverse("refund", payment, cumulative_micros, "refund")
        head = self._ctx.revenue.journal(f"payment:{payment}")
        refs = head.refs if head is not None else {}
        if refs.get("kind") == "usage":
            month = str(refs["invoice"])[-7:]
            rec = self.record(str(refs["user"]), month)
            cents = cumulative_micros // MICROS_PER_CENT
            if rec is not None and int(rec.refunded_cents or 0) < cents:
                try:
                    rec.update(actions=[InvoiceRecord.refunded_cents.set(cents)],
                               condition=InvoiceRecord.refunded_cents < cents)
                except UpdateError as exc:
                    if not condition_failed(exc):
                        raise

    def refund(self, admin: str, stripe_invoice_id: str, amount_cents: int | None, reason: str) -> dict[str, Any]:
        """An admin gives back (part of) a paid invoice of a user: usage, subscription or purchase."""
        if not re.fullmatch(r"in_[A-Za-z0-9_]{1,120}", stripe_invoice_id):
            raise NotFoundError(f"no invoice {stripe_invoice_id}", code="invoice_not_found")
        try:
            invoice = self._ctx.payments.retrieve_invoice(stripe_invoice_id)
        except PaymentsError as exc:
            if exc.code == "resource_missing":
                raise NotFoundError(f"no invoice {stripe_invoice_id}", code="invoice_not_found") from None
            raise
        meta = dict(invoice.metadata or {})
        if not meta.get("user_id") and not invoice.payment_intent:
            raise NotFoundError(f"no marketplace invoice {stripe_invoice_id}", code="invoice_not_found")
        if invoice.status != "paid" or not invoice.payment_intent:
            raise ConflictError(f"invoice {stripe_invoice_id} is {invoice.status}: only a paid invoice is refunded",
                                code="invoice_not_paid")
        head = self._ctx.revenue.journal(f"payment:{invoice.payment_intent}")
        refunded_before = self._refunded_so_far(invoice.payment_intent)
        left = invoice.amount_paid_cents - refunded_before // MICROS_PER_CENT
        if left <= 0:
            raise ConflictError(f"invoice {stripe_invoice_id} is refunded in full already", code="already_refunded")
        if amount_cents is not None and amount_cents > left:
            raise InvalidInputError(f"at most ${left / 100:,.2f} of this invoice is left to refund",
                                    code="refund_too_large", details=[{"path": "amount_cents",
                                                                       "message": f"at most {left}"}])
        try:
            refund = self._ctx.payments.refund(
                payment_intent=invoice.payment_intent, amount_cents=amount_cents, reason=reason,
                metadata={"mf_invoice": stripe_invoice_id, "mf_admin": admin},
                idempotency_key=f"refund-{stripe_invoice_id}-{refunded_before}-{amount_cents or 'all'}")
        except PaymentsError as exc:
            if exc.code in ("charge_disputed", "charge_already_refunded", "charge_not_refundable"):
                raise ConflictError(f"Stripe will not refund this invoice: {exc.message}", code=exc.code) from None
            raise
        self.refunded(invoice.payment_intent, refund.refunded_total_cents * MICROS_PER_CENT)
        user = meta.get("user_id") or (head.refs.get("user") if head is not None else None)
        if user:
            self._ctx.notifications.notify(
                str(user), f"billing.refund:{refund.id}", "billing.refunded",
                f"${refund.amount_cents / 100:,.2f} of your invoice {stripe_invoice_id} was refunded: {reason}",
                {"invoice": stripe_invoice_id, "amount_cents": refund.amount_cents, "refund": refund.id})
        return {"refund_id": refund.id, "invoice": stripe_invoice_id, "amount_cents": refund.amount_cents,
                "refunded_total_cents": refund.refunded_total_cents, "reason": reason,
                "reversed_micros": self._refunded_so_far(invoice.payment_intent)}

    def _refunded_so_far(self, payment: str) -> int:
        """How much of a payment the ledger has reversed as refunds (µ$)."""
        return self._ctx.revenue.reverse("refund", payment, 0, "refund")
