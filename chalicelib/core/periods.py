"""Calendar arithmetic of the money rules, all UTC.

A payout period is named by its first day: ``2026-11-01`` is [Nov 1, Nov 15) and
``2026-11-15`` is [Nov 15, Dec 1). Hours are ``YYYY-MM-DDTHH`` and months ``YYYY-MM``,
as the metering counters write them.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

SECOND_HALF_DAY = 15


def parse_hour(hour: str) -> datetime:
    return datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=timezone.utc)


def hour_key(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H")


def month_key(moment: datetime | date) -> str:
    return moment.strftime("%Y-%m")


def half_of(day: int) -> int:
    """1 for the period starting on the 1st, 2 for the one starting on the 15th."""
    return 1 if day < SECOND_HALF_DAY else 2


def period_of(moment: datetime | date) -> str:
    return f"{month_key(moment)}-{1 if half_of(moment.day) == 1 else SECOND_HALF_DAY:02d}"


def period_start(period: str) -> date:
    try:
        start = date.fromisoformat(period)
    except ValueError:
        raise ValueError(f"not a payout period: {period!r}") from None
    if start.day not in (1, SECOND_HALF_DAY):
        raise ValueError(f"a payout period starts on the 1st or the 15th: {period!r}")
    return start


def period_end(period: str) -> date:
    """The first day after the period: its payout date."""
    start = period_start(period)
    if start.day == 1:
        return start.replace(day=SECOND_HALF_DAY)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def next_period(period: str) -> str:
    return period_end(period).isoformat()


def previous_period(period: str) -> str:
    start = period_start(period)
    return period_of(start - timedelta(days=1))


def closed_period(now: datetime) -> str:
    """The most recent period that has ended at ``now`` (what a payout run at ``now`` settles)."""
    return previous_period(period_of(now))


def period_hours(period: str) -> tuple[str, str]:
    """First and last hour key of the period, both inclusive."""
    start = datetime.combine(period_start(period), datetime.min.time(), tzinfo=timezone.utc)
    end = datetime.combine(period_end(period), datetime.min.time(), tzinfo=timezone.utc)
    return hour_key(start), hour_key(end - timedelta(hours=1))
