"""Pure rating: which of a user's monthly calls are free and what the rest cost.

Free calls are the first ``allowance`` billable calls of each (user, plugin, UTC month),
used up in call order. Knowing the month's billable calls per payout half is enough:
the first half uses the allowance first, and the two halves together always pay
exactly ``max(0, calls - allowance)``, so a month settled in one period or two is
charged the same.
"""
from __future__ import annotations

from dataclasses import dataclass

UNLIMITED = -1


@dataclass(frozen=True)
class Rate:
    """How a (user, plugin) month is charged: ``allowance`` free calls (or UNLIMITED),
    then ``unit_price_micros`` per billable call."""

    allowance: int
    unit_price_micros: int
    plan: str = "usage"

    def paid_calls(self, billable: int) -> int:
        if self.allowance == UNLIMITED:
            return 0
        return max(0, billable - self.allowance)


def paid_by_half(rate: Rate, first_half: int, second_half: int) -> tuple[int, int]:
    """Paid calls in each half of a month, given its billable calls per half."""
    first = rate.paid_calls(first_half)
    return first, rate.paid_calls(first_half + second_half) - first
