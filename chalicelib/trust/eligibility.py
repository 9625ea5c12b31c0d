"""Certification tiers and who qualifies for them: pure functions over measured evidence.

Tiers and the developer's revenue share (DESIGN.md money rules, seeds 000 and 004):

========  =========  =====================================================================
tier      share_bps  requirements (over the last :data:`WINDOW_DAYS` UTC days, today included)
========  =========  =====================================================================
listed    7000       none: every published plugin
verified  7500       >= 100 active users (distinct users with live calls in the window);
                     rating >= 4.50 from >= 10 reviews; >= 1 call and error rate < 1 %
premier   8000       every verified requirement, and: currently verified (or premier),
                     error rate < 0.5 %, p99 latency within 500 ms
========  =========  =====================================================================

Every comparison is on integers: ratings in hundredths of a star, error rates in basis
points (both floored: ``floor(x) < n`` exactly when ``x < n`` for an integer ``n``, and
``floor(x) >= n`` exactly when ``x >= n``), latencies in milliseconds.

The p99 comes from the daily latency histograms (:data:`LATENCY_BUCKETS_MS`): it is the
upper bound of the bucket holding the 99th percentile call. The histogram cannot tell 500 ms
from 499 ms, so "under 500 ms" is read as "99 % of calls within the 500 ms bucket".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.metering.repository import latency_percentile_ms

TIERS = ("listed", "verified", "premier")
SHARE_BPS = {"listed": 7000, "verified": 7500, "premier": 8000}

WINDOW_DAYS = 30
VERIFIED_MIN_ACTIVE_USERS = 100
MIN_REVIEWS_FOR_RATING = 10
VERIFIED_MIN_RATING_X100 = 450
MIN_CALLS_FOR_ERROR_RATE = 1
VERIFIED_MAX_ERROR_BPS = 100  # exclusive: below 1 %
PREMIER_MAX_ERROR_BPS = 50  # exclusive: below 0.5 %
PREMIER_MAX_P99_MS = 500  # inclusive bucket bound, see the module docstring
BPS = 10_000


@dataclass(frozen=True)
class Evidence:
    """What eligibility is judged on, measured over the window."""

    tier: str
    active_users: int
    calls: int
    errors: int
    latency_buckets: tuple[int, ...]  # calls per bucket of LATENCY_BUCKETS_MS
    rating_sum: int
    rating_count: int

    @property
    def error_bps(self) -> int | None:
        return self.errors * BPS // self.calls if self.calls else None

    @property
    def rating_x100(self) -> int | None:
        return self.rating_sum * 100 // self.rating_count if self.rating_count else None

    @property
    def p99_ms(self) -> int | None:
        return latency_percentile_ms(self.latency_buckets, 99)


@dataclass(frozen=True)
class Criterion:
    name: str
    comparison: str  # at_least | below | at_most | one_of
    required: Any
    actual: Any
    met: bool

    def view(self) -> dict[str, Any]:
        return {"name": self.name, "comparison": self.comparison, "required": self.required,
                "actual": self.actual, "met": self.met}


@dataclass(frozen=True)
class TierVerdict:
    tier: str
    criteria: tuple[Criterion, ...] = field(default=())

    @property
    def eligible(self) -> bool:
        return all(c.met for c in self.criteria)

    @property
    def unmet(self) -> list[Criterion]:
        return [c for c in self.criteria if not c.met]

    def view(self) -> dict[str, Any]:
        return {"share_bps": SHARE_BPS[self.tier], "eligible": self.eligible,
                "criteria": [c.view() for c in self.criteria]}


def _at_least(name: str, required: int, actual: int | None) -> Criterion:
    return Criterion(name, "at_least", required, actual, actual is not None and actual >= required)


def _below(name: str, required: int, actual: int | None) -> Criterion:
    return Criterion(name, "below", required, actual, actual is not None and actual < required)


def _verified_criteria(ev: Evidence, max_error_bps: int) -> list[Criterion]:
    return [
        _at_least("active_users_30d", VERIFIED_MIN_ACTIVE_USERS, ev.active_users),
        _at_least("review_count", MIN_REVIEWS_FOR_RATING, ev.rating_count),
        Criterion("rating_x100", "at_least", VERIFIED_MIN_RATING_X100, ev.rating_x100,
                  ev.rating_count >= MIN_REVIEWS_FOR_RATING and (ev.rating_x100 or 0) >= VERIFIED_MIN_RATING_X100),
        _at_least("calls_30d", MIN_CALLS_FOR_ERROR_RATE, ev.calls),
        _below("error_rate_bps", max_error_bps, ev.error_bps),
    ]


def evaluate(ev: Evidence) -> dict[str, TierVerdict]:
    """Each tier's criteria, each with what is required, what was measured, and whether it is met."""
    p99 = ev.p99_ms
    premier = [
        Criterion("current_tier", "one_of", ["verified", "premier"], ev.tier, ev.tier in ("verified", "premier")),
        *_verified_criteria(ev, PREMIER_MAX_ERROR_BPS),
        Criterion("p99_latency_ms", "at_most", PREMIER_MAX_P99_MS, p99, p99 is not None and p99 <= PREMIER_MAX_P99_MS),
    ]
    return {"listed": TierVerdict("listed"),
            "verified": TierVerdict("verified", tuple(_verified_criteria(ev, VERIFIED_MAX_ERROR_BPS))),
            "premier": TierVerdict("premier", tuple(premier))}
