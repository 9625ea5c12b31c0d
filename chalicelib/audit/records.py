"""The ``audit`` table: one item per action, partitioned by UTC month, newest read first."""
from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


class ByActorIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_actor"
        projection = AllProjection()

    actor_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class AuditTable(Model):
    class Meta:
        base_name = "audit"
        table_name = "audit"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    by_actor = ByActorIndex()


class AuditRecord(AuditTable):
    entry_id = UnicodeAttribute()
    actor_id = UnicodeAttribute()  # the admin's user id, or "system" for scheduled jobs
    action = UnicodeAttribute()  # e.g. "POST /admin/plugins/{name}/suspend" or "plugin.auto_disabled"
    target = UnicodeAttribute(null=True)  # what it acted on, e.g. "plugin:echo"
    reason = UnicodeAttribute(null=True)  # why: the reason/notes the admin gave
    details = JSONAttribute(null=True)
    status = NumberAttribute(null=True)  # the HTTP status the action answered
    request_id = UnicodeAttribute(null=True)
    at = UTCDateTimeAttribute()

    @staticmethod
    def key(month: str, at_iso: str, entry_id: str) -> tuple[str, str]:
        return f"AUDIT#{month}", f"{at_iso}#{entry_id}"
