"""Monthly call quotas and concurrency limits, exact across any number of containers.

A quota admission is one conditional ``ADD`` (``used < limit``): DynamoDB applies them one at
a time, so N racing callers against a limit of L admit exactly min(N, L). A concurrency slot
is an item per slot number, taken with a conditional put and deleted when the call ends; a
slot whose holder died frees itself at its deadline.
"""
from __future__ import annotations

import random
import threading
from datetime import datetime

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.core.clock import Clock
from chalicelib.core.dynamo import condition_failed, find
from chalicelib.limits.records import QuotaRecord, SlotRecord, SpendRecord


class QuotaStore:
    def admit(self, user_id: str, plugin: str, month: str, limit: int) -> int | None:
        """The count including this call, or None when the quota is used up."""
        record = QuotaRecord(*QuotaRecord.key(user_id, plugin, month))
        try:
            record.update(actions=[QuotaRecord.used.add(1)],
                          condition=QuotaRecord.used.does_not_exist() | (QuotaRecord.used < limit))
        except UpdateError as exc:
            if condition_failed(exc):
                return None
            raise
        return int(record.used)

    def lease(self, user_id: str, plugin: str, month: str, wanted: int, limit: int) -> int:
        """Up to ``wanted`` admissions at once, never past ``limit``: how many were granted."""
        record = QuotaRecord(*QuotaRecord.key(user_id, plugin, month))
        while wanted > 0:
            try:
                record.update(actions=[QuotaRecord.used.add(wanted)],
                              condition=QuotaRecord.used.does_not_exist() | (QuotaRecord.used <= limit - wanted))
                return wanted
            except UpdateError as exc:
                if not condition_failed(exc):
                    raise
            current = find(QuotaRecord, QuotaRecord.key(user_id, plugin, month))
            wanted = min(wanted, limit - (int(current.used) if current else 0))
        return 0

    def refund(self, user_id: str, plugin: str, month: str) -> None:
        QuotaRecord(*QuotaRecord.key(user_id, plugin, month)).update(actions=[QuotaRecord.used.add(-1)])

    def used(self, user_id: str, plugin: str, month: str) -> int:
        record = find(QuotaRecord, QuotaRecord.key(user_id, plugin, month))
        return int(record.used) if record else 0


class LeasedQuota:
    """A monthly volume with no write per call, for limits that carry no money (a sandbox key's
    calls): a container admits from a lease it took from the month's counter with one
    conditional ``ADD`` of a batch (1/1000 of the limit; near the limit, what is left). Every
    admission was leased first, so the limit is never passed; leases left unused only
    under-admit (by at most a batch per container), and with a limit under 2,000 the batch is
    one call, which is exact. The counter holds admissions leased, not calls made (metering
    counts those), and nothing is given back, so a month found used up is not asked again."""

    def __init__(self, store: QuotaStore, fraction: int = 1000) -> None:
        self._store = store
        self._fraction = fraction
        self._leases: dict[tuple[str, str, str], list[int]] = {}  # key -> [granted, used]
        self._lock = threading.Lock()

    def admit(self, user_id: str, plugin: str, month: str, limit: int) -> bool:
        key = (user_id, plugin, month)
        with self._lock:
            lease = self._leases.get(key)
            if lease is not None and lease[1] < lease[0]:
                lease[1] += 1
                return True
            if lease is not None and lease[0] < 0:
                return False
        granted = self._store.lease(user_id, plugin, month, max(1, limit // self._fraction), limit)
        if granted == 0:
            with self._lock:  # nothing is ever given back: used up stays used up this month
                self._leases[key] = [-1, 0]
            return False
        with self._lock:
            if len(self._leases) > 100_000:
                self._leases.clear()
            lease = self._leases.get(key)
            if lease is None or lease[0] < 0:
                lease = self._leases[key] = [0, 0]
            lease[0] += granted
            lease[1] += 1
        return True


class SpendStore:
    """A user's per-call charges this month against their spending cap: one conditional ``ADD`` per
    paid call (``spent + price <= cap``), so racing calls never take the spend past the cap."""

    def charge(self, user_id: str, month: str, micros: int, cap_micros: int) -> int | None:
        """The month's spend including this call, or None when it would pass the cap."""
        if micros > cap_micros:
            return None
        record = SpendRecord(*SpendRecord.key(user_id, month))
        try:
            record.update(actions=[SpendRecord.spent_micros.add(micros)],
                          condition=SpendRecord.spent_micros.does_not_exist()
                          | (SpendRecord.spent_micros <= cap_micros - micros))
        except UpdateError as exc:
            if condition_failed(exc):
                return None
            raise
        return int(record.spent_micros)

    def refund(self, user_id: str, month: str, micros: int) -> None:
        SpendRecord(*SpendRecord.key(user_id, month)).update(actions=[SpendRecord.spent_micros.add(-micros)])


class SlotStore:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def acquire(self, user_id: str, plugin: str, limit: int, deadline: datetime) -> int | None:
        """A free slot number (held until ``deadline`` at the latest), or None when all are taken."""
        now, until = int(self._clock.now().timestamp()), int(deadline.timestamp())
        for slot in random.sample(range(limit), limit):
            record = SlotRecord(*SlotRecord.key(user_id, plugin, slot), held_until=until, expires_at=deadline)
            try:
                record.save(condition=SlotRecord.pk.does_not_exist() | (SlotRecord.held_until < now))
                return slot
            except PutError as exc:
                if not condition_failed(exc):
                    raise
        return None

    def release(self, user_id: str, plugin: str, slot: int) -> None:
        SlotRecord(*SlotRecord.key(user_id, plugin, slot)).delete()
