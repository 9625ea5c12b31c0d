"""The payout plan: pure, deterministic, property-tested.

Input: each plugin's revenue not yet settled (per payout period, in micro-dollars), the
developer share of each plugin, the share remainder carried from earlier settlements,
and each developer's balance and payout readiness. Output: what to credit to whom and
what to pay.

Rounding: a share of ``revenue * bps / 10_000`` micro-dollars leaves a remainder below
one micro-dollar; it is carried (per plugin) into the next settlement instead of being
dropped, and the platform gets exactly ``revenue - developer share``, so the two always
add up to the revenue. Balances are kept in micro-dollars and paid in whole cents; the
sub-cent rest stays in the balance. Below the minimum the balance rolls over.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MICROS_PER_CENT = 10_000
BPS = 10_000
MINIMUM_PAYOUT_CENTS = 5_000  # $50
WIRE_MINIMUM_CENTS = 500_000  # $5,000
REFERRAL_BONUS_BPS = 500  # 5 % of the referred developer's revenue, to both developers
REFERRAL_MONTHS = 6
MANUAL_RAILS = ("paypal", "wire", "usdc")


@dataclass(frozen=True)
class RevenueLine:
    plugin: str
    developer: str
    period: str
    revenue_micros: int  # the period's revenue so far
    settled_micros: int  # what earlier runs already settled of it
    share_bps: int

    @property
    def unsettled_micros(self) -> int:
        return self.revenue_micros - self.settled_micros


@dataclass(frozen=True)
class Payee:
    developer: str
    balance_micros: int  # available: credited, not yet paid nor reserved for a payout
    rail: str = "stripe"
    tax_form: bool = False
    account_ready: bool = False  # Stripe: connected account with payouts enabled; manual rails: details given
    referred_by: str | None = None
    referral_ends: str | None = None  # first period no longer paying the referral bonus


@dataclass(frozen=True)
class Settlement:
    plugin: str
    developer: str
    period: str
    revenue_micros: int  # settled now (the unsettled part)
    developer_micros: int
    platform_micros: int
    carry_in: int
    carry_out: int
    settled_to: int  # the period's settled total after this


@dataclass(frozen=True)
class Credit:
    developer: str
    kind: str  # referral | milestone
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
    settlements: tuple[Settlement, ...]
    credits: tuple[Credit, ...]
    payouts: tuple[PayoutLine, ...]

    def totals(self) -> dict[str, int]:
        return {
            "revenue_micros": sum(s.revenue_micros for s in self.settlements),
            "developer_micros": sum(s.developer_micros for s in self.settlements),
            "platform_micros": sum(s.platform_micros for s in self.settlements),
            "credits_micros": sum(c.amount_micros for c in self.credits),
            "payout_cents": sum(p.amount_cents for p in self.payouts if p.moves_money),
        }


def split(revenue_micros: int, share_bps: int, carry: int) -> tuple[int, int, int]:
    """(developer, platform, carry out): developer + platform == revenue, always."""
    numerator = revenue_micros * share_bps + carry
    developer, carry_out = divmod(numerator, BPS)
    return developer, revenue_micros - developer, carry_out


def payout_status(payee: Payee, available_micros: int) -> PayoutLine:
    cents = available_micros // MICROS_PER_CENT
    line = PayoutLine(payee.developer, "below_minimum", cents, payee.rail,
                      reason=f"balance below the ${MINIMUM_PAYOUT_CENTS // 100} minimum: it rolls over")
    if cents < MINIMUM_PAYOUT_CENTS:
        return line
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


def plan_payouts(period: str, revenue: Iterable[RevenueLine], payees: Mapping[str, Payee],
                 carries: Mapping[str, int], credits: Iterable[Credit] = ()) -> Plan:
    """Settle every unsettled revenue line up to ``period`` and decide each developer's payout."""
    carry = dict(carries)
    settlements: list[Settlement] = []
    all_credits = list(credits)
    credited: dict[str, int] = {}
    for line in sorted(revenue, key=lambda r: (r.plugin, r.period)):
        if line.period > period or line.unsettled_micros == 0:
            continue
        carry_in = carry.get(line.plugin, 0)
        developer, platform, carry_out = split(line.unsettled_micros, line.share_bps, carry_in)
        carry[line.plugin] = carry_out
        settlements.append(Settlement(line.plugin, line.developer, line.period, line.unsettled_micros, developer,
                                      platform, carry_in, carry_out, line.revenue_micros))
        credited[line.developer] = credited.get(line.developer, 0) + developer
        payee = payees.get(line.developer)
        if payee and payee.referred_by and payee.referral_ends and line.period < payee.referral_ends:
            bonus = line.unsettled_micros * REFERRAL_BONUS_BPS // BPS
            ref = f"{line.plugin}:{line.period}:{line.revenue_micros}"
            if bonus > 0:
                all_credits.append(Credit(line.developer, "referral", ref, bonus))
                all_credits.append(Credit(payee.referred_by, "referral", f"{line.developer}:{ref}", bonus))
    for credit in all_credits:
        credited[credit.developer] = credited.get(credit.developer, 0) + credit.amount_micros
    developers = sorted(set(payees) | set(credited))
    payouts = []
    for dev in developers:
        payee = payees.get(dev) or Payee(dev, 0)
        payouts.append(payout_status(payee, payee.balance_micros + credited.get(dev, 0)))
    return Plan(period, tuple(settlements), tuple(all_credits), tuple(payouts))
