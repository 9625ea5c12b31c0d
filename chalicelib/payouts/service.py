"""Payout runs: plan from the ledger (pure), then execute, idempotently and safe to kill anywhere.

What a developer is paid is their ``dev:<id>:payable`` balance in the ledger: shares of money
users actually paid (usage invoices, subscriptions, purchases), plus bonuses, less refunds and
lost disputes, less earlier payouts. Execution order:

1. bonus credits (milestones) into the ledger, once each;
2. payouts still pending from earlier runs, retried;
3. per developer: the payout is created and its amount set aside (one in flight per developer),
   on the condition that none exists for the period; then the transfer.

Every transfer attempt first looks for a transfer in the payout's transfer group
(``payout-<developer>-<period>``), whatever the local record says, so a run killed after Stripe
accepted a transfer never pays again, however much later it is retried. An attempt is claimed
(a lease, so two runs never race on one payout) and numbered before the call; the number is in
the idempotency key, so a transfer refused for a cause since fixed is retried with a new key
instead of replaying the refusal for 24 hours. The ledger's payout journal is posted before the
payout is marked paid: a crash between the two is finished by the next run.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

from chalicelib.catalog.model import Plugin
from chalicelib.core.clock import Clock, iso
from chalicelib.core.dynamo import find
from chalicelib.core.errors import ConflictError, NotFoundError
from chalicelib.core.periods import month_key, period_end, period_of, period_start, previous_period
from chalicelib.metering.records import PluginPeriodRecord, PluginTotalsRecord
from chalicelib.notifications.service import NotificationService
from chalicelib.payments.port import PaymentsError, PaymentsPort
from chalicelib.payouts.plan import MICROS_PER_CENT, REFERRAL_MONTHS, Credit, Payee, Plan, payout_status, plan_payouts
from chalicelib.payouts.records import AccountRecord, PayoutRecord
from chalicelib.payouts.repository import PayoutRepository
from chalicelib.revenue.service import RevenueService

log = logging.getLogger(__name__)

USER_MILESTONES = ((100, 500_00), (1_000, 2_000_00), (10_000, 10_000_00))  # users -> bonus cents
MONTHLY_CALLS_MILESTONE = (1_000_000, 5_000_00)
CLAIM_LEASE = timedelta(minutes=10)  # a transfer attempt is one run's for this long
NEGATIVE_BALANCE_MODES = ("carry", "reverse_transfer")


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
    return Payee(developer, available_micros, rail=rail, tax_form=bool(account.tax_form), account_ready=ready)


def transfer_group(developer: str, period: str) -> str:
    return f"payout-{developer}-{period}"


def payout_view(record: PayoutRecord) -> dict[str, Any]:
    return {"developer_id": record.developer_id, "period": record.period, "status": record.status,
            "amount_cents": int(record.amount_cents), "rail": record.rail, "reason": record.reason,
            "transfer_id": record.transfer_id, "instructions": record.instructions, "reference": record.reference,
            "attempts": int(record.attempts or 0), "last_error": record.last_error,
            "created_at": iso(record.created_at), "paid_at": iso(record.paid_at) if record.paid_at else None}


class PayoutService:
    def __init__(self, repository: PayoutRepository, plugin_of: Callable[[str], Plugin], payments: PaymentsPort,
                 notifications: NotificationService, clock: Clock, revenue: RevenueService,
                 negative_balances: str = "carry") -> None:
        self._repo = repository
        self._plugin_of = plugin_of
        self._payments = payments
        self._notify = notifications
        self._clock = clock
        self._revenue = revenue
        self._negative = negative_balances

    # --- planning ------------------------------------------------------------------------------
    def _reserved(self, developer: str, except_period: str | None = None) -> int:
        """What the developer's payout in flight sets aside (µ$)."""
        inflight = self._repo.inflight(developer)
        if inflight is None or inflight.period == except_period:
            return 0
        record = self._repo.payout(developer, inflight.period)
        return int(record.amount_cents) * MICROS_PER_CENT if record is not None and record.status != "paid" else 0

    def available(self, developer: str, except_period: str | None = None) -> int:
        return self._revenue.owed(developer) - self._reserved(developer, except_period)

    def plan(self, period: str) -> Plan:
        period_start(period)  # validates
        credits = [c for plugin in self._plugins_with_usage(period) for c in self._milestones(plugin, period)]
        developers = set(self._revenue.payables()) | {c.developer for c in credits}
        payees = {dev: payee_of(dev, self._repo.account(dev), self.available(dev, period)) for dev in developers}
        return plan_payouts(period, payees, credits)

    def _plugins_with_usage(self, period: str) -> list[Plugin]:
        names = {rec.plugin for closing in (previous_period(period), period)
                 for rec in PluginPeriodRecord.by_period.query(closing) if isinstance(rec, PluginPeriodRecord)}
        found = []
        for name in sorted(names):
            try:
                found.append(self._plugin_of(name))
            except NotFoundError:
                continue
        return found

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
            reached.append((f"{plugin.name}:calls-1m-{month}", cents))
        return [Credit(plugin.author_id, "milestone", ref, cents * MICROS_PER_CENT) for ref, cents in reached
                if not self._revenue.has_journal(f"bonus:milestone:{ref}")]

    # --- execution -----------------------------------------------------------------------------
    def run(self, period: str, *, dry_run: bool = False) -> dict[str, Any]:
        if not dry_run and period_end(period) > self._clock.now().date():
            raise ConflictError(f"the period {period} ends on {period_end(period)}: it can be planned (dry run) "
                                "but not paid before", code="period_not_closed")
        plan = self.plan(period)
        report: dict[str, Any] = {"period": period, "dry_run": dry_run, "totals": plan.totals(),
                                  "credits": [asdict(c) for c in plan.credits]}
        if dry_run:
            report["payouts"] = [asdict(p) for p in plan.payouts]
            return report
        credited = sum(self._revenue.bonus(c.developer, c.kind, c.ref, c.amount_micros) for c in plan.credits)
        retried = self.retry_open(except_period=period)
        clawed = self._clawbacks(period) if self._negative == "reverse_transfer" else []
        payouts = [payout_view(self._pay(period, line.developer)) for line in plan.payouts]
        report.update(applied_credits=credited, retried=retried, clawbacks=clawed, payouts=payouts)
        return report

    def retry_open(self, except_period: str | None = None) -> list[dict[str, Any]]:
        """Payouts still pending from earlier runs (the hourly job runs this too)."""
        return [payout_view(self._transfer(r)) for r in self._repo.open_payouts()
                if r.status == "pending" and r.period != except_period]

    def _pay(self, period: str, developer: str) -> PayoutRecord:
        existing = self._repo.payout(developer, period)
        if existing is not None and existing.status in ("pending", "manual", "paid"):
            return self._transfer(existing) if existing.status == "pending" else existing
        account = self._repo.account(developer)
        available = self.available(developer, period)
        line = payout_status(payee_of(developer, account, available), available)
        record = PayoutRecord(*PayoutRecord.key(developer, period), developer_id=developer, period=period,
                              status=line.status, amount_cents=line.amount_cents, rail=line.rail, reason=line.reason,
                              transfer_group=transfer_group(developer, period), created_at=self._clock.now())
        inflight = self._repo.inflight(developer)
        if line.moves_money and inflight is not None and inflight.period != period:
            record.status, record.reason = "held", f"waiting for the payout of {inflight.period} to go through"
        if record.status in ("held", "below_minimum"):
            self._repo.note(record)
            if record.status == "held":
                self._notify.notify(developer, f"payout.held:{period}", "payout.held",
                                    f"Your ${int(record.amount_cents) / 100:,.2f} payout for {period} is "
                                    f"{record.reason}.",
                                    {"period": period, "amount_cents": int(record.amount_cents)})
            return self._repo.payout(developer, period) or record
        record.status = "pending" if line.status == "pay" else "manual"
        record.listing = "open"
        if line.status == "manual":
            record.instructions = {"rail": line.rail, "amount_cents": line.amount_cents, "currency": "usd",
                                   "details": account.rail_details if account else None,
                                   "memo": f"MockFactory payout {developer} {period}"}
        if not self._repo.reserve(record):
            raise ConflictError(f"another payout run is paying {developer} for {period}", code="payout_in_progress")
        return self._transfer(record, account) if record.status == "pending" else record

    def _transfer(self, record: PayoutRecord, account: AccountRecord | None = None) -> PayoutRecord:
        """One attempt at a pending payout's transfer; ``account``: the developer's, when just read."""
        group = record.transfer_group or transfer_group(record.developer_id, record.period)
        claimed = self._repo.claim(record, self._clock.now(), CLAIM_LEASE)
        if claimed is None:
            return self._repo.payout(record.developer_id, record.period) or record  # another run is on it
        attempt = int(claimed.attempts)
        try:
            transfer_id = self._payments.find_transfer(group)  # always first: the record may not know
            if transfer_id is None:
                account = account or self._repo.account(record.developer_id)
                if account is None or not account.stripe_account_id:
                    raise PaymentsError("no connected Stripe account", code="no_connected_account", retryable=False)
                transfer_id = self._payments.create_transfer(
                    account_id=account.stripe_account_id, amount_cents=int(record.amount_cents),
                    description=f"MockFactory payout for {record.period}",
                    metadata={"developer_id": record.developer_id, "period": record.period},
                    transfer_group=group, idempotency_key=f"{group}-a{attempt}")
        except PaymentsError as exc:
            log.warning("payout %s attempt %s failed: %s", group, attempt, exc)
            self._repo.failed(record, f"{exc.code}: {exc}")
            return self._repo.payout(record.developer_id, record.period) or record
        self._finish(record, transfer_id=transfer_id)
        self._notify.notify(record.developer_id, f"payout.paid:{record.period}", "payout.paid",
                            f"${int(record.amount_cents) / 100:,.2f} is on its way to your Stripe account.",
                            {"period": record.period, "amount_cents": int(record.amount_cents),
                             "transfer_id": transfer_id})
        return self._repo.payout(record.developer_id, record.period) or record

    def _finish(self, record: PayoutRecord, *, transfer_id: str | None = None, reference: str | None = None,
                paid_by: str | None = None) -> bool:
        """The ledger first (its journal id makes it once), then the record: a crash between is finished later."""
        self._revenue.payout(record.developer_id, record.period, int(record.amount_cents), transfer_id or reference)
        return self._repo.complete(record, self._clock.now(), transfer_id=transfer_id, reference=reference,
                                   paid_by=paid_by)

    def _clawbacks(self, period: str) -> list[dict[str, Any]]:
        """Negative balances recovered from the last transfer paid (``MF_NEGATIVE_BALANCES=reverse_transfer``)."""
        done = []
        for developer, owed in sorted(self._revenue.payables().items()):
            owed = self._revenue.owed(developer)
            if owed >= 0 or self._revenue.has_journal(f"clawback:{developer}:{period}"):
                continue
            paid = [p for p in self._repo.payouts_of(developer) if p.status == "paid" and p.transfer_id]
            if not paid:
                continue
            last = paid[0]
            cents = min(-owed // MICROS_PER_CENT + (1 if -owed % MICROS_PER_CENT else 0), int(last.amount_cents))
            try:
                self._payments.reverse_transfer(transfer_id=str(last.transfer_id), amount_cents=cents,
                                                metadata={"mf_clawback": f"{developer}:{period}"},
                                                idempotency_key=f"clawback-{developer}-{period}")
            except PaymentsError as exc:  # the negative balance is carried instead
                log.warning("clawback of %s for %s failed: %s", developer, period, exc)
                continue
            self._revenue.clawback(developer, period, cents, str(last.transfer_id))
            done.append({"developer_id": developer, "amount_cents": cents, "transfer_id": last.transfer_id})
        return done

    def mark_paid(self, admin_id: str, developer: str, period: str, reference: str) -> dict[str, Any]:
        """Manual rails (PayPal, wire, USDC): an admin records the settlement."""
        record = self._repo.payout(developer, period)
        if record is None:
            raise NotFoundError(f"no payout for {developer} in {period}", code="payout_not_found")
        if record.status != "manual":
            raise ConflictError(f"this payout is {record.status}, not awaiting manual settlement",
                                code="payout_not_manual")
        if not self._finish(record, reference=reference, paid_by=admin_id):
            raise ConflictError("this payout was settled meanwhile", code="payout_not_manual")
        return payout_view(self._repo.payout(developer, period) or record)

    def list_period(self, period: str) -> dict[str, Any]:
        period_start(period)
        return {"period": period, "payouts": [payout_view(r) for r in self._repo.payouts_in(period)]}

    def paid_totals(self) -> dict[str, int]:
        """What the payouts context paid each developer with a payable account, ever (cents)."""
        return {developer: self._repo.paid_cents(developer) for developer in self._revenue.payables()}
