"""The ``installs`` table: one item per (user, plugin). ``by_plugin`` lists a plugin's users."""
from __future__ import annotations

from pynamodb.attributes import (BooleanAttribute, JSONAttribute, ListAttribute, NumberAttribute,
                                 UnicodeAttribute, UTCDateTimeAttribute)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


class ByPluginIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_plugin"
        projection = AllProjection()

    plugin = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)


class InstallTable(Model):
    class Meta:
        base_name = "installs"
        table_name = "installs"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    by_plugin = ByPluginIndex()


class InstallRecord(InstallTable):
    user_id = UnicodeAttribute()
    plugin = UnicodeAttribute()
    major = NumberAttribute()
    enabled = BooleanAttribute(default=True)
    config = JSONAttribute(default=dict)
    granted_permissions = ListAttribute(of=UnicodeAttribute, default=list)
    webhook_url = UnicodeAttribute(null=True)
    webhook_secret_version = NumberAttribute(null=True)  # which derived signing secret is current (webhooks.signing)
    installed_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()

    @staticmethod
    def key(user_id: str, plugin: str) -> tuple[str, str]:
        return f"USER#{user_id}", f"PLUGIN#{plugin}"
