"""The ``auth`` table: users, e-mail uniqueness guards, API keys and their hash lookups."""
from __future__ import annotations

from pynamodb.attributes import DiscriminatorAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model


class AuthTable(Model):
    class Meta:
        base_name = "auth"
        table_name = "auth"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()


class UserRecord(AuthTable, discriminator="user"):
    user_id = UnicodeAttribute()
    email = UnicodeAttribute()
    password_hash = UnicodeAttribute()
    role = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()

    @staticmethod
    def key(user_id: str) -> tuple[str, str]:
        return f"USER#{user_id}", "PROFILE"


class EmailRecord(AuthTable, discriminator="email"):
    """Exists iff the e-mail is taken; written in the same transaction as the user."""

    user_id = UnicodeAttribute()

    @staticmethod
    def key(email: str) -> tuple[str, str]:
        return f"EMAIL#{email}", "EMAIL"


class ApiKeyRecord(AuthTable, discriminator="api_key"):
    key_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    name = UnicodeAttribute()
    prefix = UnicodeAttribute()
    mode = UnicodeAttribute()
    key_hash = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    last_used_at = UTCDateTimeAttribute(null=True)
    revoked_at = UTCDateTimeAttribute(null=True)

    @staticmethod
    def key(user_id: str, key_id: str) -> tuple[str, str]:
        return f"USER#{user_id}", f"KEY#{key_id}"


class KeyLookupRecord(AuthTable, discriminator="key_lookup"):
    """Hash -> owner. Deleted on revocation, so a lookup miss means 'not a live key'."""

    user_id = UnicodeAttribute()
    key_id = UnicodeAttribute()
    mode = UnicodeAttribute()

    @staticmethod
    def key(key_hash: str) -> tuple[str, str]:
        return f"KEYHASH#{key_hash}", "KEY"
