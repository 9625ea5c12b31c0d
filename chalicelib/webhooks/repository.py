"""The ``webhooks`` table behind a port: one item per delivery, under (user, plugin) for the
user's log, and a sparse ``due`` index holding exactly the deliveries waiting for an attempt.

``DynamoDeliveryRepository`` is the adapter; the tests' in-memory fake implements the same
port, and one contract test runs against both.
"""
from __future__ import annotations

import base64
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from datetime import datetime

from pynamodb.exceptions import PutError

from chalicelib.core.clock import iso
from chalicelib.core.dynamo import condition_failed, find
from chalicelib.webhooks.records import AttemptMap, DeliveryRecord

Key = tuple[str, str]


@dataclass(frozen=True)
class Attempt:
    number: int
    at: datetime
    status: int | None
    error: str | None


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    user_id: str
    plugin: str
    kind: str  # event | raw
    url: str | None
    headers: dict[str, str]
    body: bytes
    sandbox: bool
    state: str  # pending | delivered | failed | skipped
    created_at: datetime
    event_type: str | None = None
    secret_version: int | None = None
    attempts: tuple[Attempt, ...] = ()
    due_at: datetime | None = None  # set while pending
    reason: str | None = None
    revision: int = 0  # bumped by every write: a write over a newer one is refused

    @property
    def key(self) -> Key:
        return DeliveryRecord.key(self.user_id, self.plugin, iso(self.created_at), self.delivery_id)

    def settled(self, state: str, *, reason: str | None = None) -> Delivery:
        return replace(self, state=state, due_at=None, reason=reason or self.reason)


class DeliveryRepository(ABC):
    @abstractmethod
    def add(self, delivery: Delivery) -> None:
        """Store a new delivery."""

    @abstractmethod
    def get(self, key: Key) -> Delivery | None: ...

    @abstractmethod
    def update(self, delivery: Delivery) -> bool:
        """Replace the stored delivery if nobody wrote it since ``delivery`` was read; False if someone did."""

    @abstractmethod
    def due(self, now: datetime, limit: int = 500) -> list[Delivery]:
        """Pending deliveries whose next attempt is due, oldest first."""

    @abstractmethod
    def recent(self, user_id: str, plugin: str, limit: int) -> list[Delivery]:
        """The (user, plugin) log, newest first."""


def _delivery(rec: DeliveryRecord) -> Delivery:
    return Delivery(
        delivery_id=rec.delivery_id, user_id=rec.user_id, plugin=rec.plugin, kind=rec.kind, url=rec.url,
        headers=dict(rec.headers or {}), body=base64.b64decode(rec.body_b64), sandbox=bool(rec.sandbox),
        state=rec.state, created_at=rec.created_at, event_type=rec.event_type,
        secret_version=int(rec.secret_version) if rec.secret_version is not None else None,
        attempts=tuple(Attempt(int(a.number), a.at, int(a.status) if a.status is not None else None, a.error)
                       for a in rec.attempts or []),
        due_at=rec.due_at if rec.state == "pending" else None, reason=rec.reason, revision=int(rec.version or 0))


def _record(delivery: Delivery) -> DeliveryRecord:
    pending = delivery.state == "pending"
    record = DeliveryRecord(
        *delivery.key, delivery_id=delivery.delivery_id, user_id=delivery.user_id, plugin=delivery.plugin,
        kind=delivery.kind, event_type=delivery.event_type, url=delivery.url, headers=delivery.headers,
        body_b64=base64.b64encode(delivery.body).decode("ascii"), secret_version=delivery.secret_version,
        reason=delivery.reason, sandbox=delivery.sandbox, state=delivery.state,
        attempts=[AttemptMap(number=a.number, at=a.at, status=a.status, error=a.error) for a in delivery.attempts],
        created_at=delivery.created_at, due_state="PENDING" if pending else None,
        due_at=delivery.due_at if pending else None)
    if delivery.revision:
        record.version = delivery.revision
    return record


class DynamoDeliveryRepository(DeliveryRepository):
    def add(self, delivery: Delivery) -> None:
        _record(replace(delivery, revision=0)).save()

    def get(self, key: Key) -> Delivery | None:
        found = find(DeliveryRecord, key)
        return _delivery(found) if found is not None else None

    def update(self, delivery: Delivery) -> bool:
        # VersionAttribute: save() is conditional on the version read, so of two attempts
        # racing on one delivery only the first write lands.
        try:
            _record(delivery).save()
        except PutError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def due(self, now: datetime, limit: int = 500) -> list[Delivery]:
        rows = DeliveryRecord.due.query("PENDING", DeliveryRecord.due_at <= now, limit=limit)
        return [_delivery(r) for r in rows]

    def recent(self, user_id: str, plugin: str, limit: int) -> list[Delivery]:
        pk, _ = DeliveryRecord.key(user_id, plugin, "", "")
        rows = DeliveryRecord.query(pk, scan_index_forward=False, limit=limit, consistent_read=True)
        return [_delivery(r) for r in rows]


__all__ = ["Attempt", "Delivery", "DeliveryRepository", "DynamoDeliveryRepository", "Key"]
