"""The ``catalog`` table: one META item per plugin and one item per version.

GSIs, each for one access pattern:
* ``by_author``: a developer's own plugins.
* ``listing``: every plugin change stamps ``listing_ts``; search indexes pull the delta.
* ``review_queue``: sparse; only versions waiting for review carry ``review_state``.
"""
from __future__ import annotations

from pynamodb.attributes import (DiscriminatorAttribute, JSONAttribute, ListAttribute, MapAttribute,
                                 NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

LISTING_PARTITION = "ALL"


class ByAuthorIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_author"
        projection = AllProjection()

    author_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)


class ListingIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "listing"
        projection = AllProjection()

    listing_pk = UnicodeAttribute(hash_key=True)
    listing_ts = NumberAttribute(range_key=True)


class ReviewQueueIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "review_queue"
        projection = AllProjection()

    review_state = UnicodeAttribute(hash_key=True)
    submitted_at = UTCDateTimeAttribute(range_key=True)


class CatalogTable(Model):
    class Meta:
        base_name = "catalog"
        table_name = "catalog"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()
    by_author = ByAuthorIndex()
    listing = ListingIndex()
    review_queue = ReviewQueueIndex()


class PluginRecord(CatalogTable, discriminator="plugin"):
    name = UnicodeAttribute()
    author_id = UnicodeAttribute()
    author_name = UnicodeAttribute()
    display_name = UnicodeAttribute()
    description = UnicodeAttribute()
    category = UnicodeAttribute()
    tags = ListAttribute(of=UnicodeAttribute, default=list)
    icon = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # draft | pending_review | active | suspended
    status_reason = UnicodeAttribute(null=True)
    tier = UnicodeAttribute()
    per_call_price_micros = NumberAttribute()
    free_tier_calls = NumberAttribute()
    revenue_share_bps = NumberAttribute()
    latest_version = UnicodeAttribute(null=True)  # newest published
    latest_by_major: MapAttribute[str, str] = MapAttribute(default=dict)  # "1" -> "1.4.2", published only
    max_version = UnicodeAttribute()  # newest ever proposed; new versions must exceed it
    install_count = NumberAttribute(default=0)
    rating_sum = NumberAttribute(default=0)
    rating_count = NumberAttribute(default=0)
    verified = UnicodeAttribute(default="listed")  # listed | verified | premier
    created_at = UTCDateTimeAttribute()
    published_at = UTCDateTimeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()
    auth_header = UnicodeAttribute(null=True)
    calls_7d = NumberAttribute(default=0)  # written only by the hourly job (CatalogRepository.set_calls_7d)
    fidelity = JSONAttribute(null=True)  # the latest published version's fidelity figures, for the card
    listing_pk = UnicodeAttribute(default=LISTING_PARTITION)
    listing_ts = NumberAttribute()

    @staticmethod
    def key(name: str) -> tuple[str, str]:
        return f"PLUGIN#{name}", "META"


class VersionRecord(CatalogTable, discriminator="version"):
    name = UnicodeAttribute()
    version = UnicodeAttribute()
    major = NumberAttribute()
    manifest = JSONAttribute()
    status = UnicodeAttribute()  # draft | pending_review | published | rejected
    created_at = UTCDateTimeAttribute()
    submitted_at = UTCDateTimeAttribute(null=True)
    review_state = UnicodeAttribute(null=True)  # "PENDING" while in the review queue
    reviewed_by = UnicodeAttribute(null=True)
    review_reason = UnicodeAttribute(null=True)
    published_at = UTCDateTimeAttribute(null=True)
    submission_id = UnicodeAttribute(null=True)  # set when the version came from a package submission
    documents = JSONAttribute(null=True)  # {readme, fidelity} of its package (catalog/documents.py)

    @staticmethod
    def key(name: str, version: str) -> tuple[str, str]:
        return f"PLUGIN#{name}", f"VERSION#{version}"
