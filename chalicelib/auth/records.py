"""The ``auth`` table: users, e-mail uniqueness guards, API keys and their hash lookups.

GSI ``user_directory`` (sparse: only user items carry ``dir_pk``): every user by e-mail, for the
admins' list and e-mail prefix search as one key-condition query (``begins_with`` on ``dir_sk``).
"""
from __future__ import annotations

from pynamodb.attributes import (DiscriminatorAttribute, ListAttribute, UnicodeAttribute,
                                 UTCDateTimeAttribute)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

DIRECTORY_PARTITION = "USERS"


class UserDirectoryIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "user_directory"
        projection = AllProjection()

    dir_pk = UnicodeAttribute(hash_key=True)
    dir_sk = UnicodeAttribute(range_key=True)  # the e-mail (lower case)


class AuthTable(Model):
    class Meta:
        base_name = "auth"
        table_name = "auth"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()
    user_directory = UserDirectoryIndex()


class UserRecord(AuthTable, discriminator="user"):
    user_id = UnicodeAttribute()
    email = UnicodeAttribute()
    password_hash = UnicodeAttribute()
    role = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    disabled_at = UTCDateTimeAttribute(null=True)
    disabled_reason = UnicodeAttribute(null=True)
    not_valid_before = UTCDateTimeAttribute(null=True)
    dir_pk = UnicodeAttribute(null=True)  # null only on users written before the directory existed
    dir_sk = UnicodeAttribute(null=True)

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
    # Null on keys made before scopes existed: they carry their mode's default scopes.
    scopes = ListAttribute(of=UnicodeAttribute, null=True)
    plugins = ListAttribute(of=UnicodeAttribute, null=True)
    expires_at = UTCDateTimeAttribute(null=True)

    @staticmethod
    def key(user_id: str, key_id: str) -> tuple[str, str]:
        return f"USER#{user_id}", f"KEY#{key_id}"


class KeyLookupRecord(AuthTable, discriminator="key_lookup"):
    """Hash -> owner and what the key may do (one read per authentication). Deleted on
    revocation, so a lookup miss means 'not a live key'."""

    user_id = UnicodeAttribute()
    key_id = UnicodeAttribute()
    mode = UnicodeAttribute()
    scopes = ListAttribute(of=UnicodeAttribute, null=True)
    plugins = ListAttribute(of=UnicodeAttribute, null=True)
    expires_at = UTCDateTimeAttribute(null=True)

    @staticmethod
    def key(key_hash: str) -> tuple[str, str]:
        return f"KEYHASH#{key_hash}", "KEY"
