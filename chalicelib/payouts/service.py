"""Payout runs: gather the plan's inputs, plan (pure), then execute it idempotently.

Execution order: settle revenue into balances, apply bonus credits, retry payouts still in
flight from earlier runs, then pay each developer from the fresh balance. A transfer's
idempotency key and transfer group are ``payout-<developer>-<period>``: a run killed
after a transfer and run again finds that transfer instead of making a second one. A
provider error leaves the payout pending with its amount reserved (the balance itself
untouched) and the next run retries it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from typing import Any

from chalicelib.catalog.model import Plugin
from chalicelib.core.clock import Clock, iso
from chalicelib.core.dynamo import find
from chalicelib.core.errors import ConflictError, NotFoundError
from chalicelib.core.periods import month_key, period_end, period_of, period_start, previous_period
from chalicelib.metering.records import PluginPeriodRecord, PluginTotalsRecord
from chalicelib.notifications.service import NotificationService
from chalicelib.payments.port import PaymentsError, PaymentsPort
from chalicelib.payouts.plan import (MICROS_PER_CENT, REFERRAL_MONTHS, Credit, Payee, Plan, RevenueLine,
                                     payout_status, plan_payouts)
from chalicelib.payouts.records import AccountRecord, PayoutRecord
from chalicelib.payouts.repository import PayoutRepository

log = logging.getLogger(__name__)

USER_MILESTONES = ((100, 500_00), (1_000, 2_000_00), (10_000, 10_000_00))  # users -> bonus cents
MONTHLY_CALLS_MILESTONE = (1_000_000, 5_000_00)


def referral_ends(referred_at: date) -> str:
    """The first payout period after the referral's six months."""
    months = referred_at.year * 12 + referred_at.month - 1 + REFERRAL_MONTHS
    return period_of(date(months // 12, months % 12 + 1, min(referred_at.day, 28)))


def payee_of(developer: str, account: AccountRecord | None, available_micros: int) -> Payee:
    if account is None:
        return Payee(developer, available_micros)
    rail = account.rail or "stripe"
    ready = bool(account.payouts_enabled and account.stripe_account_id) if rail == "stripe" \
        else bool(account.rail_details)
    ends = referral_ends(account.referred_at.date()) if account.referred_by and account.referred_at else None
    return Payee(developer, available_micros, rail=rail, tax_form=bool(account.tax_form), account_ready=ready,
                 referred_by=account.referred_by, referral_ends=ends)


def payout_view(record: PayoutRecord) -> dict[str, Any]:
    return {"developer_id": record.developer_id, "period": record.period, "status": record.status,
            "amount_cents": int(record.amount_cents), "rail": record.rail, "reason": record.reason,
            "transfer_id": record.transfer_id, "instructions": record.instructions, "reference": record.reference,
            "attempts": int(record.attempts or 0), "last_error": record.last_error,
            "created_at": iso(record.created_at), "paid_at": iso(record.paid_at) if record.paid_at else None}


class PayoutService:
    def __init__(self, repository: PayoutRepository, plugin_of: Callable[[str], Plugin], payments: PaymentsPort,
                 notifications: NotificationService, clock: Clock) -> None:
        self._repo = repository
        self._plugin_of = plugin_of
        self._payments = payments
        self._notify = notifications
        self._clock = clock

    # --- planning ------------------------------------------------------------------------------
    def plan(self, period: str) -> Plan:
        period_start(period)  # validates
        plugins: dict[str, Plugin] = {}
        revenue: list[RevenueLine] = []
        credits: list[Credit] = []
        for closing in (previous_period(period), period):
            for rec in PluginPeriodRecord.by_period.query(closing):
                if not isinstance(rec, PluginPeriodRecord):
                    continue
                plugin = plugins.get(rec.plugin) or plugins.setdefault(rec.plugin, self._plugin_of(rec.plugin))
                settled = self._repo.settled(rec.plugin, closing)
                if int(rec.revenue_micros or 0) != settled:
                    revenue.append(RevenueLine(rec.plugin, plugin.author_id, closing, int(rec.revenue_micros or 0),
                                               settled, plugin.revenue_share_bps))
        for plugin in plugins.values():
            credits.extend(self._milestones(plugin, period))
        developers = {line.developer for line in revenue} | {c.developer for c in credits}
        balances = {b.developer_id: b for b in self._repo.balances()}
        payees = {}
        for developer in developers | set(balances):
            balance = balances.get(developer)
            available = int(balance.balance_micros) - int(balance.reserved_micros) if balance else 0
            payees[developer] = payee_of(developer, self._repo.account(developer), available)
        carries = {plugin: self._repo.carry(plugin) for plugin in {line.plugin for line in revenue}}
        return plan_payouts(period, revenue, payees, carries, credits)

    def _milestones(self, plugin: Plugin, period: str) -> list[Credit]:
        totals = find(PluginTotalsRecord, PluginTotalsRecord.key(plugin.name), consistent=False)
        users = int(totals.users) if totals else 0
        reached = [(f"{plugin.name}:users-{n}", cents) for n, cents in USER_MILESTONES if users >= n]
        month = month_key(period_start(period))
        halves = (find(PluginPeriodRecord, PluginPeriodRecord.key(plugin.name, half), consistent=False)
                  for half in (f"{month}-01", f"{month}-15"))
        billable = sum(int(rec.billable) for rec in halves if rec)
        calls, cents = MONTHLY_CALLS_MILESTONE
        if billable >= calls:
            reached.append((f"{plugin.name}:calls-1m-month", cents))
        return [Credit(plugin.author_id, "milestone", ref, cents * MICROS_PER_CENT) for ref, cents in reached
                if not self._repo.has_entry(plugin.author_id, f"C#milestone#{ref}")]

    # --- execution -----------------------------------------------------------------------------
    def run(self, period: str, *, dry_run: bool = False) -> dict[str, Any]:
        if not dry_run and period_end(period) > self._clock.now().date():
            raise ConflictError(f"the period {period} ends on {period_end(period)}: it can be planned (dry run) "
                                "but not paid before", code="period_not_closed")
        plan = self.plan(period)
        report: dict[str, Any] = {"period": period, "dry_run": dry_run, "totals": plan.totals(),
                                  "settlements": [asdict(s) for s in plan.settlements],
                                  "credits": [asdict(c) for c in plan.credits]}
        if dry_run:
            report["payouts"] = [asdict(p) for p in plan.payouts]
            return report
        now = self._clock.now()
        applied = sum(self._repo.settle(s, now) for s in plan.settlements)
        credited = sum(self._repo.credit(c, period, now) for c in plan.credits)
        retried = [payout_view(self._transfer(r)) for r in self._repo.open_payouts()
                   if r.status == "pending" and r.period != period]
        payouts = [payout_view(self._pay(period, line.developer)) for line in plan.payouts]
        report.update(applied_settlements=applied, applied_credits=credited, retried=retried, payouts=payouts)
        return report

    def _pay(self, period: str, developer: str) -> PayoutRecord:
        existing = self._repo.payout(developer, period)
        if existing is not None and existing.status in ("pending", "manual", "paid"):
            return self._transfer(existing) if existing.status == "pending" else existing
        balance = self._repo.balance(developer)
        account = self._repo.account(developer)
        available = int(balance.balance_micros or 0) - int(balance.reserved_micros or 0)
        line = payout_status(payee_of(developer, account, available), available)
        record = PayoutRecord(*PayoutRecord.key(developer, period), developer_id=developer, period=period,
                              status=line.status, amount_cents=line.amount_cents, rail=line.rail, reason=line.reason,
                              created_at=self._clock.now())
        if not line.moves_money:
            self._repo.note(record)
            if line.status == "held":
                self._notify.notify(developer, f"payout.held:{period}", "payout.held",
                                    f"Your ${line.amount_cents / 100:,.2f} payout for {period} is {line.reason}.",
                                    {"period": period, "amount_cents": line.amount_cents})
            return record
        record.status = "pending" if line.status == "pay" else "manual"
        record.listing = "open"
        if line.status == "manual":
            record.instructions = {"rail": line.rail, "amount_cents": line.amount_cents, "currency": "usd",
                                   "details": account.rail_details if account else None,
                                   "memo": f"MockFactory payout {developer} {period}"}
        if not self._repo.reserve(record, int(balance.version or 0)):
            raise ConflictError(f"another payout run is paying {developer} for {period}", code="payout_in_progress")
        return self._transfer(record, account) if record.status == "pending" else record

    def _transfer(self, record: PayoutRecord, account: AccountRecord | None = None) -> PayoutRecord:
        """``account``: the developer's, when the caller has just read it."""
        group = f"payout-{record.developer_id}-{record.period}"
        account = account or self._repo.account(record.developer_id)
        try:
            if account is None or not account.stripe_account_id:
                raise PaymentsError("no connected Stripe account", code="no_connected_account", retryable=False)
            transfer_id = self._payments.find_transfer(group) if record.attempts else None
            if transfer_id is None:
                transfer_id = self._payments.create_transfer(
                    account_id=account.stripe_account_id, amount_cents=int(record.amount_cents),
                    description=f"MockFactory payout for {record.period}",
                    metadata={"developer_id": record.developer_id, "period": record.period}, idempotency_key=group)
        except PaymentsError as exc:
            log.warning("payout %s failed: %s", group, exc)
            self._repo.failed(record, f"{exc.code}: {exc}")
            return self._repo.payout(record.developer_id, record.period) or record
        self._repo.complete(record, self._clock.now(), transfer_id=transfer_id)
        self._notify.notify(record.developer_id, f"payout.paid:{record.period}", "payout.paid",
                            f"${int(record.amount_cents) / 100:,.2f} is on its way to your Stripe account.",
                            {"period": record.period, "amount_cents": int(record.amount_cents),
                             "transfer_id": transfer_id})
        return self._repo.payout(record.developer_id, record.period) or record

    def mark_paid(self, admin_id: str, developer: str, period: str, reference: str) -> dict[str, Any]:
        """Manual rails (PayPal, wire, USDC): an admin records the settlement."""
        record = self._repo.payout(developer, period)
        if record is None:
            raise NotFoundError(f"no payout for {developer} in {period}", code="payout_not_found")
        if record.status != "manual":
            raise ConflictError(f"this payout is {record.status}, not awaiting manual settlement",
                                code="payout_not_manual")
        if not self._repo.complete(record, self._clock.now(), reference=reference, paid_by=admin_id):
            raise ConflictError("this payout was settled meanwhile", code="payout_not_manual")
        return payout_view(self._repo.payout(developer, period) or record)

    def list_period(self, period: str) -> dict[str, Any]:
        period_start(period)
        return {"period": period, "payouts": [payout_view(r) for r in self._repo.payouts_in(period)]}
