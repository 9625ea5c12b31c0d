"""Notifications: one record per (recipient, what happened), shown on dashboards.

The caller names what happened with a ``dedupe_key`` (``payout.paid:2026-11-01``), so a
job that runs twice notifies once.
"""
from __future__ import annotations

from typing import Any

from pynamodb.exceptions import PutError

from chalicelib.core.clock import Clock, iso
from chalicelib.core.dynamo import condition_failed, find
from chalicelib.core.errors import NotFoundError
from chalicelib.notifications.records import NotificationRecord

_PAGE = 100


class NotificationService:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def notify(self, user_id: str, dedupe_key: str, topic: str, message: str,
               data: dict[str, Any] | None = None) -> bool:
        """False when this was already said."""
        record = NotificationRecord(*NotificationRecord.key(user_id, dedupe_key), notification_id=dedupe_key,
                                    topic=topic, message=message, data=data, created_at=self._clock.now())
        try:
            record.save(condition=NotificationRecord.pk.does_not_exist())
            return True
        except PutError as exc:
            if condition_failed(exc):
                return False
            raise

    def list(self, user_id: str, *, unread_only: bool = False) -> dict[str, Any]:
        rows = [r for r in NotificationRecord.query(f"N#{user_id}", limit=1000)
                if not (unread_only and r.read)]
        rows.sort(key=lambda r: r.created_at, reverse=True)
        return {"notifications": [{"id": r.notification_id, "topic": r.topic, "message": r.message,
                                   "data": r.data or {}, "read": bool(r.read), "created_at": iso(r.created_at)}
                                  for r in rows[:_PAGE]],
                "unread": sum(1 for r in rows if not r.read)}

    def mark_read(self, user_id: str, notification_id: str) -> dict[str, Any]:
        record = find(NotificationRecord, NotificationRecord.key(user_id, notification_id), consistent=False)
        if record is None:
            raise NotFoundError("no such notification", code="notification_not_found")
        record.update(actions=[NotificationRecord.read.set(True)])
        return {"id": notification_id, "read": True}
