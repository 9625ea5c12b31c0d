"""The payout plan: pure, deterministic, property-tested.

Input: what the ledger says each developer may be paid (their payable balance: shares of money
users actually paid, less refunds and lost disputes, less earlier payouts, with payouts still in
flight set aside), their payout readiness, and the bonus credits of this run. Output: what to
pay whom.

Balances are kept in micro-dollars and paid in whole cents; the sub-cent rest stays in the
balance. Below the $50 minimum the balance rolls over; a negative balance (a refund of money
already paid out) is carried and nets against the next earnings.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from chalicelib.revenue.ledger import BPS, MICROS_PER_CENT, share

__all__ = ["BPS", "MICROS_PER_CENT", "MINIMUM_PAYOUT_CENTS", "Payee", "Credit", "PayoutLine", "Plan",
           "payout_status", "plan_payouts", "split"]

MINIMUM_PAYOUT_CENTS = 5_000  # $50
WIRE_MINIMUM_CENTS = 500_000  # $5,000
REFERRAL_MONTHS = 6
MANUAL_RAILS = ("paypal", "wire", "usdc")


@dataclass(frozen=True)
class Payee:
    developer: str
    balance_micros: int  # available: payable in the ledger, less payouts in flight (may be negative)
    rail: str = "stripe"
    tax_form: bool = False
    account_ready: bool = False  # Stripe: connected account with payouts enabled; manual rails: details given


@dataclass(frozen=True)
class Credit:
    developer: str
    kind: str  # milestone
    ref: str  # unique per credit: makes it apply once
    amount_micros: int


@dataclass(frozen=True)
class PayoutLine:
    developer: str
    status: str  # pay | manual | below_minimum | held
    amount_cents: int
    rail: str
    reason: str | None = None

    @property
    def moves_money(self) -> bool:
        return self.status in ("pay", "manual")


@dataclass(frozen=True)
class Plan:
    period: str
    credits: tuple[Credit, ...]
    payouts: tuple[PayoutLine, ...]

    def totals(self) -> dict[str, int]:
        return {"credits_micros": sum(c.amount_micros for c in self.credits),
                "payout_cents": sum(p.amount_cents for p in self.payouts if p.moves_money),
                "carried_cents": sum(p.amount_cents for p in self.payouts if not p.moves_money)}


def split(revenue_micros: int, share_bps: int, carry: int = 0) -> tuple[int, int, int]:
    """(developer, platform, 0): the developer's share floored, the rest the platform's (dashboard estimates)."""
    developer, platform = share(revenue_micros, share_bps)
    return developer, platform, 0


def payout_status(payee: Payee, available_micros: int) -> PayoutLine:
    cents = available_micros // MICROS_PER_CENT
    if cents < 0:
        return PayoutLine(payee.developer, "below_minimum", cents, payee.rail,
                          reason="a negative balance (refunds of earnings already paid) nets against the next "
                                 "earnings")
    if cents < MINIMUM_PAYOUT_CENTS:
        return PayoutLine(payee.developer, "below_minimum", cents, payee.rail,
                          reason=f"balance below the ${MINIMUM_PAYOUT_CENTS // 100} minimum: it rolls over")
    if payee.rail == "wire" and cents < WIRE_MINIMUM_CENTS:
        return PayoutLine(payee.developer, "below_minimum", cents, payee.rail,
                          reason=f"wire transfers start at ${WIRE_MINIMUM_CENTS // 100:,}: the balance rolls over")
    if not payee.tax_form:
        return PayoutLine(payee.developer, "held", cents, payee.rail,
                          reason="held: submit a W-9 (US) or W-8BEN (international) tax form")
    if not payee.account_ready:
        why = ("connect a Stripe account and finish onboarding" if payee.rail == "stripe"
               else f"add your {payee.rail} payout details")
        return PayoutLine(payee.developer, "held", cents, payee.rail, reason=f"held: {why}")
    return PayoutLine(payee.developer, "manual" if payee.rail in MANUAL_RAILS else "pay", cents, payee.rail)


def plan_payouts(period: str, payees: Mapping[str, Payee], credits: Iterable[Credit] = ()) -> Plan:
    """Each developer's payout of ``period`` from their available balance plus this run's credits."""
    all_credits = tuple(credits)
    credited: dict[str, int] = {}
    for credit in all_credits:
        credited[credit.developer] = credited.get(credit.developer, 0) + credit.amount_micros
    payouts = []
    for developer in sorted(set(payees) | set(credited)):
        payee = payees.get(developer) or Payee(developer, 0)
        payouts.append(payout_status(payee, payee.balance_micros + credited.get(developer, 0)))
    return Plan(period, all_credits, tuple(payouts))
