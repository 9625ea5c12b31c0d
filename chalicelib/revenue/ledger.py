"""The ledger's rules, pure: accounts, journals that always balance, and the journal of each money flow.

A journal is a set of postings (account, signed amount in µ$: debit positive, credit negative)
that sum to zero, under an id derived from what caused it (``rating:<plugin>:<user>:<month>:<from>``,
``invoice:<id>:line:<n>``, ``payment:<payment intent>``, ``payout:<developer>:<period>``...): posting
the same journal twice is a no-op, so every flow can be retried from anywhere.

Accounts (balance = debits − credits):

* ``user:<id>:unbilled``   rated per-call charges not yet invoiced (the user's sub-cent carry stays here)
* ``user:<id>:receivable`` invoiced, not yet paid
* ``accrued:<plugin>``     rated revenue not yet invoiced (credit)
* ``dev:<id>:pending``     a developer's share of invoiced revenue not yet collected (credit)
* ``dev:<id>:payable``     a developer's share of collected money: what payouts pay (credit; a debit
                           balance is a negative balance carried into the next payout)
* ``platform:pending`` / ``platform:fees``   the platform's share, invoiced / collected (credit)
* ``platform:incentives``  milestone and referral bonuses the platform funds (debit)
* ``stripe:cash``          money at Stripe: in with payments, out with refunds, disputes and payouts
* ``clearing:<payment>``   a refund or lost dispute on its way to the shares it reverses; always 0 after
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MICROS_PER_CENT = 10_000
BPS = 10_000
MAX_ACCOUNTS = 12  # 1 head + 2 items per account: DynamoDB Local's 25 items per transaction
MAX_ID_LENGTH = 400

CASH = "stripe:cash"
PLATFORM_PENDING = "platform:pending"
PLATFORM_FEES = "platform:fees"
PLATFORM_INCENTIVES = "platform:incentives"
REFERRAL_BONUS_BPS = 500  # 5 % of the referred developer's revenue, to both developers


def unbilled(user: str) -> str:
    return f"user:{user}:unbilled"


def receivable(user: str) -> str:
    return f"user:{user}:receivable"


def accrued(plugin: str) -> str:
    return f"accrued:{plugin}"


def pending(developer: str) -> str:
    return f"dev:{developer}:pending"


def payable(developer: str) -> str:
    return f"dev:{developer}:payable"


def clearing(payment: str) -> str:
    return f"clearing:{payment}"


GROUPS = ("user-unbilled", "user-receivable", "accrued", "dev-pending", "dev-payable", "platform", "stripe",
          "clearing")


def group_of(account: str) -> str:
    """The family an account belongs to (listed together by the repository)."""
    head, _, rest = account.partition(":")
    if head in ("user", "dev"):
        return f"{head}-{rest.rsplit(':', 1)[-1]}"
    if head in ("accrued", "platform", "stripe", "clearing"):
        return head
    raise ValueError(f"not a ledger account: {account!r}")


def owner_of(account: str) -> str:
    """The user, developer, plugin or payment an account is about (``platform:fees`` -> ``fees``)."""
    parts = account.split(":")
    return parts[1] if len(parts) > 1 else account


def share(amount_micros: int, share_bps: int) -> tuple[int, int]:
    """(developer, platform): the developer's share floored, the rest to the platform; they add up."""
    developer = amount_micros * share_bps // BPS
    return developer, amount_micros - developer


def prorate(part: int, whole: int, before: int, after: int) -> int:
    """The slice of ``part`` that goes with moving a cumulative amount from ``before`` to ``after``
    out of ``whole``: floors of cumulative fractions, so slices of any sequence add up to
    ``part * last // whole`` and never exceed ``part``."""
    if whole <= 0:
        return 0
    return part * after // whole - part * before // whole


@dataclass(frozen=True)
class Posting:
    account: str
    amount_micros: int  # debit positive, credit negative


class UnbalancedJournal(ValueError):
    pass


@dataclass(frozen=True)
class Journal:
    id: str
    kind: str
    postings: tuple[Posting, ...]
    refs_json: str = "{}"
    memo: str = ""

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > MAX_ID_LENGTH:
            raise UnbalancedJournal(f"journal id must be 1-{MAX_ID_LENGTH} characters")
        if sum(p.amount_micros for p in self.postings) != 0:
            raise UnbalancedJournal(f"journal {self.id} does not balance: {self.postings}")
        accounts = [p.account for p in self.postings]
        if len(set(accounts)) != len(accounts):
            raise UnbalancedJournal(f"journal {self.id} names an account twice")
        if len(accounts) > MAX_ACCOUNTS:
            raise UnbalancedJournal(f"journal {self.id} moves {len(accounts)} accounts, at most {MAX_ACCOUNTS}")
        for account in accounts:
            group_of(account)

    @property
    def refs(self) -> dict[str, Any]:
        return dict(json.loads(self.refs_json))

    def amount(self, account: str) -> int:
        return sum(p.amount_micros for p in self.postings if p.account == account)

    @property
    def total_micros(self) -> int:
        """What the journal moves: the sum of its debits."""
        return sum(p.amount_micros for p in self.postings if p.amount_micros > 0)


def journal(journal_id: str, kind: str, postings: Iterable[tuple[str, int]],
            refs: Mapping[str, Any] | None = None, memo: str = "") -> Journal:
    """A journal with postings merged per account (zeros dropped), in a stable order."""
    merged: dict[str, int] = {}
    for account, amount in postings:
        merged[account] = merged.get(account, 0) + int(amount)
    return Journal(journal_id, kind,
                   tuple(Posting(a, v) for a, v in sorted(merged.items()) if v != 0),
                   json.dumps(dict(refs or {}), sort_keys=True, separators=(",", ":")), memo)


# --- the flows ----------------------------------------------------------------------------------
def rating(plugin: str, user: str, month: str, from_micros: int, to_micros: int) -> Journal:
    """Calls rated by the hourly aggregation: the (user, plugin, month) charges from ``from`` to ``to``."""
    delta = to_micros - from_micros
    return journal(f"rating:{plugin}:{user}:{month}:{from_micros}", "rating",
                   [(unbilled(user), delta), (accrued(plugin), -delta)],
                   {"plugin": plugin, "user": user, "month": month, "from": from_micros, "to": to_micros},
                   f"{plugin} calls of {month} rated")


def invoice_line(invoice_id: str, n: int, user: str, plugin: str, month: str, developer: str, cents: int,
                 share_bps: int) -> Journal:
    """A usage invoice line: receivable from unbilled, and its accrued revenue split into the
    developer's and the platform's pending shares."""
    amount = cents * MICROS_PER_CENT
    developer_micros, platform_micros = share(amount, share_bps)
    return journal(f"invoice:{invoice_id}:line:{n}", "invoice_line",
                   [(receivable(user), amount), (unbilled(user), -amount), (accrued(plugin), amount),
                    (pending(developer), -developer_micros), (PLATFORM_PENDING, -platform_micros)],
                   {"invoice": invoice_id, "line": n, "user": user, "plugin": plugin, "month": month,
                    "developer": developer, "share_bps": share_bps},
                   f"{plugin} calls of {month} invoiced")


@dataclass(frozen=True)
class Referral:
    referrer: str  # the developer who referred the one earning


def _referral(developer: str, gross_micros: int, referral: Referral | None) -> list[tuple[str, int]]:
    if referral is None:
        return []
    bonus = gross_micros * REFERRAL_BONUS_BPS // BPS
    return [(PLATFORM_INCENTIVES, 2 * bonus), (payable(developer), -bonus), (payable(referral.referrer), -bonus)]


def usage_payment(payment: str, invoice_id: str, user: str, amount_cents: int,
                  allocations: Mapping[str, tuple[int, int]], platform_micros: int) -> Journal:
    """A usage invoice paid: cash in, the receivable settled. ``allocations`` is per developer
    (share, gross) of the invoice; the shares move to payable in :func:`usage_share`."""
    amount = amount_cents * MICROS_PER_CENT
    return journal(f"payment:{payment}", "usage_payment", [(CASH, amount), (receivable(user), -amount)],
                   {"invoice": invoice_id, "user": user, "paid": amount, "platform": platform_micros,
                    "allocations": {d: list(v) for d, v in sorted(allocations.items())}, "kind": "usage"},
                   f"usage invoice {invoice_id} paid")


def usage_share(payment: str, developer: str, share_micros: int, gross_micros: int,
                referral: Referral | None) -> Journal:
    """A developer's share of a paid usage invoice becomes payable."""
    return journal(f"payment:{payment}:dev:{developer}", "collected_share",
                   [(pending(developer), share_micros), (payable(developer), -share_micros),
                    *_referral(developer, gross_micros, referral)],
                   {"payment": payment, "developer": developer, "gross": gross_micros})


def usage_platform(payment: str, platform_micros: int) -> Journal:
    return journal(f"payment:{payment}:platform", "collected_fee",
                   [(PLATFORM_PENDING, platform_micros), (PLATFORM_FEES, -platform_micros)], {"payment": payment})


def plan_payment(payment: str, user: str, plugin: str, developer: str, amount_cents: int, share_bps: int,
                 referral: Referral | None, source: str) -> Journal:
    """A subscription, add-on or one-time purchase paid: straight to payable and fees."""
    amount = amount_cents * MICROS_PER_CENT
    developer_micros, platform_micros = share(amount, share_bps)
    return journal(f"payment:{payment}", "plan_payment",
                   [(CASH, amount), (payable(developer), -developer_micros), (PLATFORM_FEES, -platform_micros),
                    *_referral(developer, amount, referral)],
                   {"user": user, "plugin": plugin, "paid": amount, "platform": platform_micros, "source": source,
                    "allocations": {developer: [developer_micros, amount]}, "kind": "plan"},
                   f"{plugin} {source} paid")


def reversal_link(kind: str, payment: str, from_micros: int, to_micros: int, reason: str) -> Journal:
    """One step of a payment's refunds (``kind`` refund) or lost disputes (``dispute``): the money
    goes back out of Stripe into the payment's clearing account, from where
    :func:`reversal_shares` takes it out of the shares."""
    delta = to_micros - from_micros
    return journal(f"{kind}:{payment}:from:{from_micros}", kind, [(clearing(payment), delta), (CASH, -delta)],
                   {"payment": payment, "from": from_micros, "to": to_micros, "reason": reason})


def early_reversal(kind: str, payment: str, from_micros: int, to_micros: int, reason: str) -> Journal:
    """A refund or lost dispute Stripe told of before the payment it reverses reached the ledger
    (events come in any order): a note that moves nothing, replayed when the payment is posted."""
    return journal(f"early:{kind}:{payment}:from:{from_micros}", "early_reversal", [],
                   {"payment": payment, "from": from_micros, "to": to_micros, "reason": reason})


def reversal_shares(link: Journal, paid_micros: int, allocations: Mapping[str, int]) -> list[Journal]:
    """The shares a reversal link takes back, pro rata of what was paid: each developer's
    payable (it may go negative: carried into the next payout) and the platform's fees."""
    refs = link.refs
    before, after, payment = int(refs["from"]), int(refs["to"]), str(refs["payment"])
    out, taken = [], 0
    for developer, part in sorted(allocations.items()):
        amount = prorate(part, paid_micros, before, after)
        taken += amount
        out.append(journal(f"{link.id}:dev:{developer}", f"{link.kind}_share",
                           [(payable(developer), amount), (clearing(payment), -amount)],
                           {"link": link.id, "developer": developer}))
    out.append(journal(f"{link.id}:platform", f"{link.kind}_fee",
                       [(PLATFORM_FEES, after - before - taken), (clearing(payment), -(after - before - taken))],
                       {"link": link.id}))
    return out


def dispute_fee(dispute: str, fee_cents: int) -> Journal:
    """Stripe's fee for a lost dispute: the platform's."""
    amount = fee_cents * MICROS_PER_CENT
    return journal(f"dispute:{dispute}:fee", "dispute_fee", [(PLATFORM_FEES, amount), (CASH, -amount)],
                   {"dispute": dispute})


def payout(developer: str, period: str, amount_cents: int, reference: str | None) -> Journal:
    amount = amount_cents * MICROS_PER_CENT
    return journal(f"payout:{developer}:{period}", "payout", [(payable(developer), amount), (CASH, -amount)],
                   {"developer": developer, "period": period, "reference": reference})


def clawback(developer: str, period: str, amount_cents: int, transfer: str) -> Journal:
    """A negative balance recovered by reversing (part of) a transfer already paid."""
    amount = amount_cents * MICROS_PER_CENT
    return journal(f"clawback:{developer}:{period}", "clawback", [(CASH, amount), (payable(developer), -amount)],
                   {"developer": developer, "period": period, "transfer": transfer})


def bonus(developer: str, kind: str, ref: str, amount_micros: int) -> Journal:
    return journal(f"bonus:{kind}:{ref}", "bonus",
                   [(PLATFORM_INCENTIVES, amount_micros), (payable(developer), -amount_micros)],
                   {"developer": developer, "bonus": kind, "ref": ref})
