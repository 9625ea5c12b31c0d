"""The ``webhooks`` table: one item per delivery, under (user, plugin) for the user's log.

``due`` is sparse: only deliveries waiting for an attempt carry ``due_state``, so the
retry sweeper queries exactly the work it has to do.
"""
from __future__ import annotations

from pynamodb.attributes import (BooleanAttribute, JSONAttribute, ListAttribute, MapAttribute, NumberAttribute,
                                 UnicodeAttribute, UTCDateTimeAttribute, VersionAttribute)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


class DueIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "due"
        projection = AllProjection()

    due_state = UnicodeAttribute(hash_key=True)
    due_at = UTCDateTimeAttribute(range_key=True)


class WebhooksTable(Model):
    class Meta:
        base_name = "webhooks"
        table_name = "webhooks"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    due = DueIndex()


class AttemptMap(MapAttribute):
    number = NumberAttribute()
    at = UTCDateTimeAttribute()
    status = NumberAttribute(null=True)
    error = UnicodeAttribute(null=True)


class DeliveryRecord(WebhooksTable):
    delivery_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    plugin = UnicodeAttribute()
    kind = UnicodeAttribute()  # event | raw
    event_type = UnicodeAttribute(null=True)
    url = UnicodeAttribute(null=True)
    headers = JSONAttribute(default=dict)
    body_b64 = UnicodeAttribute()
    # event kind: which of the install's signing secrets signs every attempt; the secret itself
    # is derived when it is needed (webhooks.signing), never stored
    secret_version = NumberAttribute(null=True)
    reason = UnicodeAttribute(null=True)  # why a delivery failed without an attempt (its URL, say)
    sandbox = BooleanAttribute(default=False)
    state = UnicodeAttribute()  # pending | delivered | failed | skipped
    attempts = ListAttribute(of=AttemptMap, default=list)
    created_at = UTCDateTimeAttribute()
    due_state = UnicodeAttribute(null=True)
    due_at = UTCDateTimeAttribute(null=True)
    version = VersionAttribute()  # two attempts at once (timer and sweeper): one write wins, the log stays whole

    @staticmethod
    def key(user_id: str, plugin: str, created_iso: str, delivery_id: str) -> tuple[str, str]:
        return f"{user_id}#{plugin}", f"{created_iso}#{delivery_id}"
