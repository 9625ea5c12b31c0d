from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, JSONAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model


class NotificationsTable(Model):
    class Meta:
        base_name = "notifications"
        table_name = "notifications"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class NotificationRecord(NotificationsTable):
    notification_id = UnicodeAttribute()
    topic = UnicodeAttribute()  # plugin.auto_disabled | payout.held | payout.paid | billing.payment_failed | ...
    message = UnicodeAttribute()
    data = JSONAttribute(null=True)
    read = BooleanAttribute(default=False)
    created_at = UTCDateTimeAttribute()

    @staticmethod
    def key(user_id: str, dedupe_key: str) -> tuple[str, str]:
        return f"N#{user_id}", f"K#{dedupe_key}"
