"""The ``licensing`` table: the licences issued (listed per user) and the revocation list."""
from __future__ import annotations

from datetime import datetime, timezone

from pynamodb.attributes import DiscriminatorAttribute, JSONAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


class ByOwnerIndex(GlobalSecondaryIndex):
    """A user's licences, per plugin then oldest first (``owner_sort`` = plugin#issued#id)."""

    class Meta:
        index_name = "by_owner"
        projection = AllProjection()

    owner = UnicodeAttribute(hash_key=True)
    owner_sort = UnicodeAttribute(range_key=True)


class LicensingTable(Model):
    class Meta:
        base_name = "licensing"
        table_name = "licensing"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()
    owner = UnicodeAttribute(null=True)  # sparse: licences only
    owner_sort = UnicodeAttribute(null=True)
    by_owner = ByOwnerIndex()


class LicenceRecord(LicensingTable, discriminator="licence"):
    """A licence as issued: its claims, and whether (and why) it was revoked since."""

    license_id = UnicodeAttribute()  # the token's jti
    user_id = UnicodeAttribute()
    plugin = UnicodeAttribute()
    tier = UnicodeAttribute()
    plan = UnicodeAttribute()
    source = UnicodeAttribute()  # default | subscription | purchase | trial
    reason = UnicodeAttribute()  # purchase | trial | renewal | request
    kid = UnicodeAttribute()
    token = UnicodeAttribute()  # the signed licence, handed out again while it states the holding
    claims = JSONAttribute()
    issued_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    revoked_at = UTCDateTimeAttribute(null=True)
    revoke_reason = UnicodeAttribute(null=True)

    @staticmethod
    def key(license_id: str) -> tuple[str, str]:
        return f"LIC#{license_id}", "LICENCE"

    @staticmethod
    def owner_sort_key(plugin: str, issued_at: datetime, license_id: str) -> str:
        """Fixed width (microseconds always written), so the text sorts like the time."""
        moment = issued_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return f"{plugin}#{moment}#{license_id}"


class RevocationRecord(LicensingTable, discriminator="revocation"):
    """One entry of the revocation list: verification reads it with a consistent read."""

    license_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    revoked_by = UnicodeAttribute()
    reason = UnicodeAttribute()
    revoked_at = UTCDateTimeAttribute()

    @staticmethod
    def key(license_id: str) -> tuple[str, str]:
        return f"LIC#{license_id}", "REVOKED"
