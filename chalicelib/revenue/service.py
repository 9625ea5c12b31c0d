"""Revenue use cases: other contexts move money only through these, never through the table.

Every method posts journals whose ids derive from what caused them, so any of them can be
called again after a crash, a retried request or a duplicated Stripe event and changes nothing
twice. Amounts that grow (a month's rated charges, a payment's refunds) are *chains*: the link
``<prefix>:<from>`` moves the amount from ``from`` to its ``to``; a caller walks the chain from
where it last knew and posts the next link. Two racers post the same id, one wins, the other
continues from the winner's ``to``: the amount moves exactly once, however often it is retried.
"""
from __future__ import annotations

import logging
from functools import partial
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.core.clock import Clock, iso
from chalicelib.revenue import ledger
from chalicelib.revenue.ledger import GROUPS, MICROS_PER_CENT, Journal, Referral
from chalicelib.revenue.repository import Entry, LedgerRepository

log = logging.getLogger(__name__)
ReferralLookup = Callable[[str], "Referral | None"]  # developer -> their referral, while it pays


@dataclass(frozen=True)
class UsageShare:
    """One line of a usage invoice as the ledger sees it."""

    developer: str
    developer_micros: int
    platform_micros: int

    @property
    def gross_micros(self) -> int:
        return self.developer_micros + self.platform_micros


@dataclass
class CheckReport:
    ok: bool = True
    checked_at: str = ""
    accounts: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)

    def fail(self, invariant: str, **details: Any) -> None:
        self.ok = False
        self.failures.append({"invariant": invariant, **details})


class RevenueService:
    def __init__(self, repository: LedgerRepository, clock: Clock) -> None:
        self._repo = repository
        self._clock = clock

    # --- reading ---------------------------------------------------------------------------------
    def journal(self, journal_id: str) -> Journal | None:
        return self._repo.get(journal_id)

    def balance(self, account: str) -> int:
        return self._repo.balance(account)

    def entries(self, account: str) -> list[Entry]:
        return self._repo.entries(account)

    def owed(self, developer: str) -> int:
        """What the marketplace owes a developer now (negative: a balance carried against future earnings)."""
        return -self._repo.balance(ledger.payable(developer))

    def pending(self, developer: str) -> int:
        """The developer's share of invoices not yet paid by their users."""
        return -self._repo.balance(ledger.pending(developer))

    def payables(self) -> dict[str, int]:
        """Every developer with a payable account: what is owed to them."""
        return {ledger.owner_of(account): -amount for account, amount in self._repo.balances("dev-payable").items()}

    def unbilled(self, user: str) -> int:
        return self._repo.balance(ledger.unbilled(user))

    # --- posting -----------------------------------------------------------------------------------
    def post(self, journal: Journal) -> Journal:
        return self._repo.post(journal, self._clock.now())

    def _advance(self, prefix: str, start: int, target: int,
                 build: Callable[[int, int], Journal]) -> tuple[int, list[Journal]]:
        """Walk the chain ``<prefix>:<n>`` from ``start`` (where the caller last knew it was) and
        post the link to ``target`` if the chain ends below it: (where it ends, the links walked)."""
        position, links = start, list[Journal]()
        for _ in range(100_000):
            link = self._repo.get(f"{prefix}:{position}")
            if link is None:
                if target <= position:
                    return position, links
                link = self.post(build(position, target))  # a racer's link, if it got there first
            links.append(link)
            position = int(link.refs["to"])
        raise RuntimeError(f"the chain {prefix} does not end")

    def rate(self, plugin: str, user: str, month: str, known_micros: int, rated_micros: int) -> int:
        """A (user, plugin, month)'s rated charges into the ledger up to ``rated_micros`` (they only
        grow); ``known_micros`` is where the caller last saw the chain. Returns where it ends."""
        end, _ = self._advance(f"rating:{plugin}:{user}:{month}", known_micros, rated_micros,
                               lambda a, b: ledger.rating(plugin, user, month, a, b))
        return end

    def invoice_line(self, invoice_id: str, n: int, *, user: str, plugin: str, month: str, developer: str,
                     cents: int, share_bps: int) -> Journal:
        return self.post(ledger.invoice_line(invoice_id, n, user, plugin, month, developer, cents, share_bps))

    def usage_paid(self, payment: str, invoice_id: str, user: str, amount_cents: int, shares: list[UsageShare],
                   referral_of: ReferralLookup) -> None:
        """A usage invoice collected: cash in, receivable settled, each developer's pending share
        payable and the platform's fees collected. Safe to call again (a duplicate event)."""
        allocations: dict[str, tuple[int, int]] = {}
        for line in shares:
            mine, gross = allocations.get(line.developer, (0, 0))
            allocations[line.developer] = (mine + line.developer_micros, gross + line.gross_micros)
        platform = sum(line.platform_micros for line in shares)
        head = self.post(ledger.usage_payment(payment, invoice_id, user, amount_cents, allocations, platform))
        for developer, (mine, gross) in sorted(head.refs["allocations"].items()):
            self.post(ledger.usage_share(payment, developer, int(mine), int(gross), referral_of(developer)))
        self.post(ledger.usage_platform(payment, int(head.refs["platform"])))
        self._replay_early_reversals(payment)

    def plan_paid(self, payment: str, *, user: str, plugin: str, developer: str, amount_cents: int, share_bps: int,
                  referral: Referral | None, source: str) -> Journal:
        """A subscription, add-on or purchase collected: its share payable at once."""
        head = self.post(ledger.plan_payment(payment, user, plugin, developer, amount_cents, share_bps, referral,
                                             source))
        self._replay_early_reversals(payment)
        return head

    def _replay_early_reversals(self, payment: str) -> None:
        """Refunds and lost disputes of ``payment`` noted before it was posted, reversed now."""
        for kind in ("refund", "dispute"):
            note = partial(ledger.early_reversal, kind, payment, reason="")
            end, links = self._advance(f"early:{kind}:{payment}:from", 0, 0, note)  # a walk: target 0 posts nothing
            if end:
                self.reverse(kind, payment, end, str(links[-1].refs.get("reason") or kind))

    def reverse(self, kind: str, payment: str, cumulative_micros: int, reason: str) -> int:
        """Money given back on a collected payment (``refund``: its refunds so far; ``dispute``: a lost
        dispute's amount), taken pro rata out of the shares it paid. Returns what is reversed so far;
        0 for a payment the ledger has not collected yet: then it is noted, and reversed as soon as
        the payment is posted."""
        head = self._repo.get(f"payment:{payment}")
        if head is None:
            self._advance(f"early:{kind}:{payment}:from", 0, cumulative_micros,
                          lambda a, b: ledger.early_reversal(kind, payment, a, b, reason))
            return 0
        refs = head.refs
        paid = int(refs["paid"])
        allocations = {d: int(v[0]) for d, v in refs["allocations"].items()}
        end, links = self._advance(f"{kind}:{payment}:from", 0, min(cumulative_micros, paid),
                                   lambda a, b: ledger.reversal_link(kind, payment, a, b, reason))
        for link in links:  # again every time: a crash may have come between a link and its shares
            for share in ledger.reversal_shares(link, paid, allocations):
                self.post(share)
        return end

    def dispute_fee(self, dispute: str, fee_cents: int) -> None:
        if fee_cents > 0:
            self.post(ledger.dispute_fee(dispute, fee_cents))

    def payout(self, developer: str, period: str, amount_cents: int, reference: str | None) -> Journal:
        return self.post(ledger.payout(developer, period, amount_cents, reference))

    def clawback(self, developer: str, period: str, amount_cents: int, transfer: str) -> Journal:
        return self.post(ledger.clawback(developer, period, amount_cents, transfer))

    def bonus(self, developer: str, kind: str, ref: str, amount_micros: int) -> bool:
        """A platform-funded bonus credited once per ``ref``; False if it already was."""
        journal = ledger.bonus(developer, kind, ref, amount_micros)
        if self.has_journal(journal.id):
            return False
        self.post(journal)
        return True

    def has_journal(self, journal_id: str) -> bool:
        return self._repo.get(journal_id) is not None

    # --- statements and checks ---------------------------------------------------------------------
    def statement(self, developer: str) -> dict[str, int]:
        """A developer's payable account by kind of movement (µ$, positive amounts)."""
        totals = {"credited_micros": 0, "reversed_micros": 0, "paid_micros": 0, "clawed_back_micros": 0,
                  "bonus_micros": 0}
        for entry in self._repo.entries(ledger.payable(developer)):
            if entry.kind == "payout":
                totals["paid_micros"] += entry.amount_micros
            elif entry.kind == "clawback":
                totals["clawed_back_micros"] -= entry.amount_micros
            elif entry.kind in ("refund_share", "dispute_share"):
                totals["reversed_micros"] += entry.amount_micros
            elif entry.kind == "bonus":
                totals["bonus_micros"] -= entry.amount_micros
            else:
                totals["credited_micros"] -= entry.amount_micros
        totals["owed_micros"] = (totals["credited_micros"] + totals["bonus_micros"] - totals["reversed_micros"]
                                 - totals["paid_micros"] + totals["clawed_back_micros"])
        totals["pending_micros"] = self.pending(developer)
        return totals

    def check(self, paid_payouts: Mapping[str, int]) -> CheckReport:
        """The ledger's invariants. ``paid_payouts``: what the payouts context says it paid each
        developer (cents). Every failure names the invariant it breaks."""
        report = CheckReport(checked_at=iso(self._clock.now()))
        everything: dict[str, int] = {}
        for group in GROUPS:
            everything.update(self._repo.balances(group))
        report.accounts = len(everything)
        total = sum(everything.values())
        report.totals = {group: sum(v for a, v in everything.items() if ledger.group_of(a) == group)
                         for group in GROUPS}
        if total != 0:
            report.fail("entries_sum_to_zero", sum_micros=total)
        for account, balance in sorted(everything.items()):
            entries = self._repo.entries(account)
            if sum(e.amount_micros for e in entries) != balance:
                report.fail("balance_is_its_entries", account=account, balance_micros=balance,
                            entries_micros=sum(e.amount_micros for e in entries))
            group = ledger.group_of(account)
            if group == "clearing" and balance != 0:
                report.fail("clearing_accounts_clear", account=account, balance_micros=balance)
            if group in ("user-unbilled", "user-receivable") and balance < 0:
                report.fail("users_never_owe_negative", account=account, balance_micros=balance)
        developers = {ledger.owner_of(a) for a in everything if ledger.group_of(a) == "dev-payable"}
        for developer in sorted(developers | set(paid_payouts)):
            s = self.statement(developer)
            net_paid = s["paid_micros"] - s["clawed_back_micros"]
            expected = s["credited_micros"] + s["bonus_micros"] - s["reversed_micros"] - s["owed_micros"]
            if net_paid != expected:
                report.fail("payouts_are_shares_less_reversals_less_carry", developer=developer, **s)
            reported = paid_payouts.get(developer, 0) * MICROS_PER_CENT
            if s["paid_micros"] != reported:
                report.fail("payouts_match_the_payouts_context", developer=developer,
                            ledger_micros=s["paid_micros"], payouts_micros=reported)
        if not report.ok:
            log.error("LEDGER INVARIANT FAILED: %s", report.failures)
        return report
