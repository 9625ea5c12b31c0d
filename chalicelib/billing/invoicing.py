"""A user's monthly usage invoice, planned by pure code (property-tested in tests/unit/money).

Input: what the month close may take of each due (plugin, month) (rated into the ledger, not yet
invoiced), the sub-cent rest each plugin carried from earlier invoices, and each plugin's
developer and share. Output: the invoice's lines in whole cents, what it takes, what it carries.

* One line per (plugin, month): this month's calls, and the calls that reached an earlier month
  after its invoice (``late``), each its own line.
* Cents per plugin by cumulative rounding from the plugin's carry, so a plugin's lines add up to
  ``(carry + charges) // 1 cent`` exactly and the rest (below a cent) carries to the next invoice.
* Below Stripe's 50-cent minimum nothing is charged: everything carries.
* Nothing is lost or invented: carries in + charges taken == lines + carries out, to the micro-dollar.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from chalicelib.revenue.ledger import MICROS_PER_CENT, share

STRIPE_MINIMUM_CHARGE_CENTS = 50


@dataclass(frozen=True)
class Take:
    """An invoice takes a month's charges from ``from_micros`` to ``to_micros``."""

    plugin: str
    month: str
    from_micros: int
    to_micros: int

    @property
    def micros(self) -> int:
        return self.to_micros - self.from_micros


@dataclass(frozen=True)
class Share:
    developer: str
    share_bps: int


@dataclass(frozen=True)
class Line:
    n: int
    plugin: str
    month: str
    late: bool  # calls of an earlier month, invoiced after it
    micros: int
    amount_cents: int
    developer: str
    share_bps: int
    developer_micros: int
    platform_micros: int

    @property
    def description(self) -> str:
        if self.micros == 0:
            return f"{self.plugin} API calls carried from earlier invoices"
        late = f" (late usage of {self.month})" if self.late else ""
        return f"{self.plugin} API calls, {self.month}{late}"


@dataclass(frozen=True)
class InvoicePlan:
    invoice_id: str
    user: str
    month: str
    lines: tuple[Line, ...]
    takes: tuple[Take, ...]
    carry_in: tuple[tuple[str, int], ...]
    carry_out: tuple[tuple[str, int], ...]
    amount_cents: int
    carried: bool  # below the minimum: nothing charged, everything carried

    def to_record(self) -> dict[str, Any]:
        return {"lines": [asdict(line) | {"description": line.description} for line in self.lines],
                "takes": [[t.plugin, t.month, t.from_micros, t.to_micros] for t in self.takes],
                "carry_in": dict(self.carry_in), "carry_out": dict(self.carry_out)}

    @classmethod
    def from_record(cls, invoice_id: str, user: str, month: str, amount_cents: int, carried: bool,
                    lines: Sequence[Mapping[str, Any]], takes: Sequence[Sequence[Any]],
                    carry_in: Mapping[str, Any], carry_out: Mapping[str, Any]) -> InvoicePlan:
        fields = set(Line.__dataclass_fields__)
        return cls(invoice_id, user, month,
                   tuple(Line(**{k: v for k, v in json.loads(json.dumps(line)).items() if k in fields})
                         for line in lines),
                   tuple(Take(str(p), str(m), int(a), int(b)) for p, m, a, b in takes),
                   tuple(sorted((k, int(v)) for k, v in carry_in.items())),
                   tuple(sorted((k, int(v)) for k, v in carry_out.items())), amount_cents, carried)


def invoice_id_of(user: str, month: str) -> str:
    return f"usage-{user}-{month}"


def plan_invoice(user: str, month: str, takes: Sequence[Take], carries: Mapping[str, int],
                 shares: Mapping[str, Share], minimum_cents: int = STRIPE_MINIMUM_CHARGE_CENTS) -> InvoicePlan:
    ordered = sorted((t for t in takes if t.micros > 0), key=lambda t: (t.plugin, t.month))
    plugins = sorted({t.plugin for t in ordered} | {p for p, v in carries.items() if v})
    lines: list[Line] = []
    carry_out: dict[str, int] = {}
    for plugin in plugins:
        running, billed = int(carries.get(plugin, 0)), 0  # a carry may hold whole cents (carried below $0.50)
        mine = [t for t in ordered if t.plugin == plugin]
        if not mine and running >= MICROS_PER_CENT:  # only what earlier invoices carried: billed now
            mine = [Take(plugin, month, 0, 0)]
        for take in mine:
            running += take.micros
            cents = running // MICROS_PER_CENT - billed
            billed += cents
            owner = shares[plugin]
            developer_micros, platform_micros = share(cents * MICROS_PER_CENT, owner.share_bps)
            lines.append(Line(len(lines), plugin, take.month, take.month < month, take.micros, cents,
                              owner.developer, owner.share_bps, developer_micros, platform_micros))
        carry_out[plugin] = running - billed * MICROS_PER_CENT
    total = sum(line.amount_cents for line in lines)
    carried = total < minimum_cents
    if carried:  # nothing charged: every micro-dollar carries to the next invoice
        carry_out = {p: int(carries.get(p, 0)) + sum(t.micros for t in ordered if t.plugin == p) for p in plugins}
        lines = [Line(line.n, line.plugin, line.month, line.late, line.micros, 0, line.developer, line.share_bps, 0, 0)
                 for line in lines]
        total = 0
    return InvoicePlan(invoice_id_of(user, month), user, month, tuple(lines), tuple(ordered),
                       tuple(sorted((p, int(v)) for p, v in carries.items() if v)),
                       tuple(sorted((p, v) for p, v in carry_out.items() if v)), total, carried)
