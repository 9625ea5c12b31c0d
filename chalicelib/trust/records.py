"""The ``trust`` table: reviews of plugins, helpful votes on them, and certification changes.

Keys (one function per record):
* review: ``PR#{plugin}`` / ``R#{review_id}``: a plugin's reviews are one key-condition query.
* helpful vote: ``PR#{plugin}`` / ``V#{review_id}#{edition}#{voter}``: its existence is the
  "one vote per user" rule; ``edition`` changes when a review is deleted and written again,
  so old votes never count for (nor block votes on) the new review.
* certification change: ``PC#{plugin}`` / ``C#{when}#{event_id}``: a plugin's tier history.
"""
from __future__ import annotations

from datetime import datetime, timezone

from pynamodb.attributes import DiscriminatorAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

REVIEW_PREFIX = "R#"
VOTE_PREFIX = "V#"


class TrustTable(Model):
    class Meta:
        base_name = "trust"
        table_name = "trust"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()


class ReviewRecord(TrustTable, discriminator="review"):
    """One user's review of one plugin. ``version`` moves on every edit by its author (the
    condition of the next edit); ``helpful`` and the reply change without touching it."""

    plugin = UnicodeAttribute()
    review_id = UnicodeAttribute()
    user_id = UnicodeAttribute()  # never shown publicly
    author_label = UnicodeAttribute()
    stars = NumberAttribute()
    comment = UnicodeAttribute(default="")
    helpful = NumberAttribute(default=0)
    edition = UnicodeAttribute()  # new for each (re)creation of the review
    version = NumberAttribute(default=1)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    reply_text = UnicodeAttribute(null=True)
    reply_at = UTCDateTimeAttribute(null=True)
    reply_updated_at = UTCDateTimeAttribute(null=True)

    @staticmethod
    def key(plugin: str, review_id: str) -> tuple[str, str]:
        return f"PR#{plugin}", f"{REVIEW_PREFIX}{review_id}"


class HelpfulVoteRecord(TrustTable, discriminator="helpful_vote"):
    voted_at = UTCDateTimeAttribute()

    @staticmethod
    def key(plugin: str, review_id: str, edition: str, voter_id: str) -> tuple[str, str]:
        return f"PR#{plugin}", f"{VOTE_PREFIX}{review_id}#{edition}#{voter_id}"


class CertificationRecord(TrustTable, discriminator="certification"):
    """One tier change, written in the same transaction as the plugin's tier and share."""

    plugin = UnicodeAttribute()
    event_id = UnicodeAttribute()
    from_tier = UnicodeAttribute()
    to_tier = UnicodeAttribute()
    share_bps = NumberAttribute()
    reason = UnicodeAttribute()
    granted_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()

    @staticmethod
    def partition(plugin: str) -> str:
        return f"PC#{plugin}"

    @staticmethod
    def key(plugin: str, created_at: datetime, event_id: str) -> tuple[str, str]:
        moment = created_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # sorts like the time
        return CertificationRecord.partition(plugin), f"C#{moment}#{event_id}"
