from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model


class LimitsTable(Model):
    class Meta:
        base_name = "limits"
        table_name = "limits"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    expires_at = TTLAttribute(null=True)


class WindowRecord(LimitsTable):
    """How many admissions of one window have been handed out (leased) so far."""

    leased = NumberAttribute(default=0)

    @staticmethod
    def key(limit_key: str, window_start: int) -> tuple[str, str]:
        return f"WINDOW#{limit_key}", f"{window_start}"


class QuotaRecord(LimitsTable):
    """Calls admitted against a user's monthly quota on a plugin (only ever moved by ADD)."""

    used = NumberAttribute(default=0)

    @staticmethod
    def key(user_id: str, plugin: str, month: str) -> tuple[str, str]:
        return f"QUOTA#{user_id}#{plugin}", month


class SlotRecord(LimitsTable):
    """One of a user's concurrent-call slots on a plugin, held until a call ends (or its deadline)."""

    held_until = NumberAttribute()

    @staticmethod
    def key(user_id: str, plugin: str, slot: int) -> tuple[str, str]:
        return f"SLOT#{user_id}#{plugin}", str(slot)


class SpendRecord(LimitsTable):
    """A user's per-call charges admitted this month (µ$), against their spending cap."""

    spent_micros = NumberAttribute(default=0)

    @staticmethod
    def key(user_id: str, month: str) -> tuple[str, str]:
        return f"SPEND#{user_id}", month
