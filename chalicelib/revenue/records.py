"""The ``revenue`` table: journals, their entries per account, and each account's balance.

* ``J#<journal id>`` / ``HEAD``: the journal (kind, refs, postings); its existence makes a replay a no-op;
* ``A#<account>`` / ``E#<posted at>#<journal id>``: an entry, so an account's history is one query;
* ``A#<account>`` / ``BALANCE``: the running balance, moved by ``ADD`` in the journal's transaction,
  indexed by the account's group (``by_group``) so every developer's payable is one query.
"""
from __future__ import annotations

from pynamodb.attributes import (DiscriminatorAttribute, JSONAttribute, NumberAttribute, UnicodeAttribute,
                                 UTCDateTimeAttribute)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


class ByGroupIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_group"
        projection = AllProjection()

    group = UnicodeAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


class RevenueTable(Model):
    class Meta:
        base_name = "revenue"
        table_name = "revenue"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()
    by_group = ByGroupIndex()


class JournalRecord(RevenueTable, discriminator="journal"):
    journal_kind = UnicodeAttribute()
    postings = JSONAttribute()  # [[account, amount_micros], ...]
    refs = UnicodeAttribute()  # canonical JSON
    memo = UnicodeAttribute(null=True)
    posted_at = UTCDateTimeAttribute()

    @staticmethod
    def key(journal_id: str) -> tuple[str, str]:
        return f"J#{journal_id}", "HEAD"


class EntryRecord(RevenueTable, discriminator="entry"):
    account = UnicodeAttribute()
    journal_id = UnicodeAttribute()
    journal_kind = UnicodeAttribute()
    amount_micros = NumberAttribute()
    posted_at = UTCDateTimeAttribute()

    @staticmethod
    def key(account: str, posted_at: str, journal_id: str) -> tuple[str, str]:
        return f"A#{account}", f"E#{posted_at}#{journal_id}"


class BalanceRecord(RevenueTable, discriminator="balance"):
    account = UnicodeAttribute()
    group = UnicodeAttribute()
    balance_micros = NumberAttribute(default=0)
    entries = NumberAttribute(default=0)

    @staticmethod
    def key(account: str) -> tuple[str, str]:
        return f"A#{account}", "BALANCE"
