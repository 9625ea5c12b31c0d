"""Who did what, when and why. The HTTP layer records every admin call that changes something
(``chalicelib.http``), so no admin action can skip the log; jobs record their own automatic
actions with the actor ``system``. Entries are never changed or deleted."""
from __future__ import annotations

import re
from typing import Any

from chalicelib.audit.records import AuditRecord
from chalicelib.core.clock import Clock, iso
from chalicelib.core.errors import InvalidInputError
from chalicelib.core.ids import new_id
from chalicelib.core.periods import month_key

SYSTEM = "system"
_MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


def _view(rec: AuditRecord) -> dict[str, Any]:
    return {"id": rec.entry_id, "at": iso(rec.at), "actor": rec.actor_id, "action": rec.action,
            "target": rec.target, "reason": rec.reason, "status": int(rec.status) if rec.status else None,
            "details": rec.details or {}, "request_id": rec.request_id}


class AuditLog:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def record(self, actor_id: str, action: str, *, target: str | None = None, reason: str | None = None,
               details: dict[str, Any] | None = None, status: int | None = None,
               request_id: str | None = None) -> str:
        now = self._clock.now()
        entry_id = new_id("aud")
        AuditRecord(*AuditRecord.key(month_key(now), iso(now), entry_id), entry_id=entry_id, actor_id=actor_id,
                    action=action, target=target, reason=(reason or None) and reason[:1000], details=details,
                    status=status, request_id=request_id, at=now).save()
        return entry_id

    def list(self, *, month: str | None = None, actor: str | None = None, target: str | None = None,
             limit: int = 100) -> dict[str, Any]:
        """Newest first, one month at a time (default: this month)."""
        month = month or month_key(self._clock.now())
        if not re.match(_MONTH, month):
            raise InvalidInputError("month must be YYYY-MM", code="invalid_month")
        if actor:
            rows = AuditRecord.by_actor.query(actor, AuditRecord.sk.startswith(month),
                                              scan_index_forward=False)
        else:
            rows = AuditRecord.query(f"AUDIT#{month}", scan_index_forward=False)
        entries = [_view(r) for r in rows if not target or r.target == target]
        return {"month": month, "entries": entries[:max(1, min(limit, 1000))]}
