"""Monthly call quotas and concurrency limits, exact across any number of containers.

A quota admission is one conditional ``ADD`` (``used < limit``): DynamoDB applies them one at
a time, so N racing callers against a limit of L admit exactly min(N, L). A concurrency slot
is an item per slot number, taken with a conditional put and deleted when the call ends; a
slot whose holder died frees itself at its deadline.
"""
from __future__ import annotations

import random
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

    def refund(self, user_id: str, plugin: str, month: str) -> None:
        QuotaRecord(*QuotaRecord.key(user_id, plugin, month)).update(actions=[QuotaRecord.used.add(-1)])

    def used(self, user_id: str, plugin: str, month: str) -> int:
        record = find(QuotaRecord, QuotaRecord.key(user_id, plugin, month))
        return int(record.used) if record else 0


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
