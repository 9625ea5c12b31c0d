from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


def epoch_seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def monotonic() -> float:
    return time.monotonic()


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class FixedClock:
    """A clock that always says ``moment`` (tests, benchmarks, deterministic jobs)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    @classmethod
    def at(cls, iso_moment: str) -> FixedClock:
        return cls(datetime.fromisoformat(iso_moment.replace("Z", "+00:00")))

    def now(self) -> datetime:
        return self.moment
