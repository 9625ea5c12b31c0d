"""Fixed-window rate limits that stay exact across containers without a write per call.

A container admits calls locally from a *lease*: a batch of admissions it took from the
window's shared counter with one conditional ``ADD`` (``leased + n <= limit``). Every
admission ever granted was leased first, so the limit is never exceeded; a lease left
unused when its window ends only under-admits. Batches are 1/20 of the limit, so a
busy key costs one extra write per 5 % of its limit, and near the limit the lease
shrinks to what is left.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.exceptions import UpdateError

from chalicelib.core.clock import Clock
from chalicelib.core.dynamo import condition_failed, find
from chalicelib.limits.records import WindowRecord

LEASE_FRACTION = 20


@dataclass(frozen=True)
class Limit:
    requests: int
    window_seconds: int

    @classmethod
    def parse(cls, text: str) -> Limit:
        """``"100/900"`` = 100 requests per 900 s."""
        requests, _, seconds = text.partition("/")
        return cls(int(requests), int(seconds))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # epoch seconds when the window ends

    def headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Reset": str(self.reset_at)}


class WindowStore:
    """DynamoDB side: hand out up to ``wanted`` admissions of a window, never past ``limit``."""

    def lease(self, key: str, window_start: int, wanted: int, limit: int, expires: datetime) -> tuple[int, int]:
        """Returns (granted, leased_total_after)."""
        record = WindowRecord(*WindowRecord.key(key, window_start))
        while wanted > 0:
            try:
                record.update(
                    actions=[WindowRecord.leased.add(wanted), WindowRecord.expires_at.set(expires)],
                    condition=WindowRecord.leased.does_not_exist() | (WindowRecord.leased <= limit - wanted))
                return wanted, int(record.leased)
            except UpdateError as exc:
                if not condition_failed(exc):
                    raise
            current = find(WindowRecord, WindowRecord.key(key, window_start))
            leased = int(current.leased) if current else 0
            wanted = min(wanted, limit - leased)
        return 0, limit


@dataclass
class _Lease:
    window_start: int
    granted: int = 0
    used: int = 0
    shared_leased: int = 0


class RateLimiter:
    def __init__(self, store: WindowStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._leases: dict[str, _Lease] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            if len(self._locks) > 100_000:
                self._locks.clear()
                self._leases.clear()
            return self._locks.setdefault(key, threading.Lock())

    def check(self, key: str, limit: Limit) -> Decision:
        now = self._clock.now()
        epoch = int(now.timestamp())
        window_start = epoch - epoch % limit.window_seconds
        reset_at = window_start + limit.window_seconds
        with self._lock(key):
            lease = self._leases.get(key)
            if lease is None or lease.window_start != window_start:
                lease = self._leases[key] = _Lease(window_start)
            if lease.used >= lease.granted:
                wanted = max(1, limit.requests // LEASE_FRACTION)
                expires = datetime.fromtimestamp(reset_at, now.tzinfo) + timedelta(hours=1)
                granted, shared = self._store.lease(key, window_start, wanted, limit.requests, expires)
                lease.granted += granted
                lease.shared_leased = shared
            allowed = lease.used < lease.granted
            if allowed:
                lease.used += 1
            remaining = max(0, limit.requests - lease.shared_leased + (lease.granted - lease.used))
        return Decision(allowed=allowed, limit=limit.requests, remaining=remaining, reset_at=reset_at)
