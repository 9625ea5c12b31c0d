"""The ``usage`` table: hour counters, one item per (plugin, user, mode, UTC hour).

Counters only ever move by ``ADD``, so concurrent calls from any number of containers
are counted exactly. ``by_hour`` lets the hourly aggregation find every counter of an
hour without scanning.
"""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

# Upper bounds (ms) of the latency histogram buckets; the last one is open-ended.
LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000)


class ByHourIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_hour"
        projection = AllProjection()

    hour = UnicodeAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


class UsageTable(Model):
    class Meta:
        base_name = "usage"
        table_name = "usage"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    by_hour = ByHourIndex()


class UsageHourRecord(UsageTable):
    plugin = UnicodeAttribute()
    user_id = UnicodeAttribute()
    mode = UnicodeAttribute()  # live | sandbox
    hour = UnicodeAttribute()  # 2026-11-22T13
    calls = NumberAttribute(default=0)
    billable = NumberAttribute(default=0)
    non_billable = NumberAttribute(default=0)
    errors = NumberAttribute(default=0)
    latency_ms_sum = NumberAttribute(default=0)
    for _i in range(len(LATENCY_BUCKETS_MS)):
        locals()[f"lat{_i}"] = NumberAttribute(default=0)
    del _i

    @staticmethod
    def key(plugin: str, user_id: str, mode: str, hour: str) -> tuple[str, str]:
        return f"{plugin}#{user_id}#{mode}", f"H#{hour}"
