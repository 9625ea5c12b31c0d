"""DynamoDB persistence for identity. Every multi-item change is one transaction."""
from __future__ import annotations

import base64
import json
import re
import time
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, PynamoDBException, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.auth.model import ApiKey, KeyOwner, User, UserPage
from chalicelib.auth.records import (DIRECTORY_PARTITION, ApiKeyRecord, AuthTable, EmailRecord, KeyLookupRecord,
                                     UserRecord)
from chalicelib.auth.scopes import DEFAULT_SCOPES
from chalicelib.core.dynamo import condition_failed, run_transaction
from chalicelib.core.errors import ConflictError, InvalidInputError, NotFoundError

_USER_ID = re.compile(r"^usr_[A-Za-z0-9]{1,64}$")


def _user(rec: UserRecord) -> User:
    return User(user_id=rec.user_id, email=rec.email, role=rec.role,
                password_hash=rec.password_hash, created_at=rec.created_at, disabled_at=rec.disabled_at,
                disabled_reason=rec.disabled_reason, not_valid_before=rec.not_valid_before)


def _scopes(stored: Any, mode: str) -> tuple[str, ...]:
    return tuple(str(scope) for scope in stored) if stored is not None else DEFAULT_SCOPES[mode]


def _plugins(stored: Any) -> tuple[str, ...] | None:
    return tuple(str(plugin) for plugin in stored) if stored is not None else None


def _key(rec: ApiKeyRecord) -> ApiKey:
    return ApiKey(key_id=rec.key_id, user_id=rec.user_id, name=rec.name, prefix=rec.prefix,
                  mode=rec.mode, key_hash=rec.key_hash, created_at=rec.created_at,
                  last_used_at=rec.last_used_at, revoked_at=rec.revoked_at, scopes=_scopes(rec.scopes, rec.mode),
                  plugins=_plugins(rec.plugins), expires_at=rec.expires_at)


def _key_records(key: ApiKey) -> tuple[ApiKeyRecord, KeyLookupRecord]:
    plugins = list(key.plugins) if key.plugins is not None else None
    pk, sk = ApiKeyRecord.key(key.user_id, key.key_id)
    record = ApiKeyRecord(pk, sk, key_id=key.key_id, user_id=key.user_id, name=key.name,
                          prefix=key.prefix, mode=key.mode, key_hash=key.key_hash,
                          created_at=key.created_at, scopes=list(key.scopes), plugins=plugins,
                          expires_at=key.expires_at)
    lpk, lsk = KeyLookupRecord.key(key.key_hash)
    lookup = KeyLookupRecord(lpk, lsk, user_id=key.user_id, key_id=key.key_id, mode=key.mode,
                             scopes=list(key.scopes), plugins=plugins, expires_at=key.expires_at)
    return record, lookup


def encode_cursor(user: User) -> str:
    raw = json.dumps({"e": user.email, "u": user.user_id}, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _start_key(cursor: str, prefix: str) -> dict[str, Any]:
    """The query's exclusive start key from a cursor this API gave out; anything else is a 400."""
    invalid = InvalidInputError("cursor is not one this API gave out; start again without it", code="invalid_cursor")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid from exc
    if not isinstance(data, dict) or set(data) != {"e", "u"}:
        raise invalid
    email, user_id = data["e"], data["u"]
    # DynamoDB refuses a start key outside the key condition: such a cursor is the caller's mistake.
    if not (isinstance(email, str) and isinstance(user_id, str) and 0 < len(email) <= 320
            and email.startswith(prefix) and _USER_ID.match(user_id)):
        raise invalid
    pk, sk = UserRecord.key(user_id)
    return {"pk": {"S": pk}, "sk": {"S": sk}, "dir_pk": {"S": DIRECTORY_PARTITION}, "dir_sk": {"S": email}}


class AuthRepository:
    def create_user(self, user: User) -> None:
        epk, esk = EmailRecord.key(user.email)
        upk, usk = UserRecord.key(user.user_id)
        def build(tx: TransactWrite) -> None:
            tx.save(EmailRecord(epk, esk, user_id=user.user_id), condition=EmailRecord.pk.does_not_exist())
            tx.save(UserRecord(upk, usk, user_id=user.user_id, email=user.email, role=user.role,
                               password_hash=user.password_hash, created_at=user.created_at,
                               dir_pk=DIRECTORY_PARTITION, dir_sk=user.email),
                    condition=UserRecord.pk.does_not_exist())

        try:
            run_transaction(AuthTable, build)
        except TransactWriteError as exc:
            raise ConflictError("an account with this e-mail already exists", code="email_taken") from exc

    def get_user(self, user_id: str) -> User | None:
        try:
            return _user(UserRecord.get(*UserRecord.key(user_id), consistent_read=True))
        except DoesNotExist:
            return None

    def find_user_by_email(self, email: str) -> User | None:
        try:
            guard = EmailRecord.get(*EmailRecord.key(email), consistent_read=True)
        except DoesNotExist:
            return None
        return self.get_user(guard.user_id)

    def list_users(self, *, prefix: str, limit: int, cursor: str | None) -> UserPage:
        """Users by e-mail, from the ``user_directory`` index: one key-condition query per page."""
        start = _start_key(cursor, prefix) if cursor else None
        condition = UserRecord.dir_sk.startswith(prefix) if prefix else None
        rows = UserRecord.user_directory.query(DIRECTORY_PARTITION, condition, limit=limit + 1,
                                               last_evaluated_key=start)
        users = [_user(row) for row in rows if isinstance(row, UserRecord)]
        more = len(users) > limit
        users = users[:limit]
        return UserPage(users=users, next_cursor=encode_cursor(users[-1]) if more else None)

    def _update_user(self, user_id: str, actions: list[Any], condition: Any = None) -> User:
        record = UserRecord(*UserRecord.key(user_id))
        guard = UserRecord.pk.exists() if condition is None else UserRecord.pk.exists() & condition
        try:
            record.update(actions=actions, condition=guard)
        except UpdateError as exc:
            if not condition_failed(exc):
                raise
            if self.get_user(user_id) is None:
                raise NotFoundError(f"no user '{user_id}'", code="user_not_found") from exc
            raise ConflictError("the account changed meanwhile; read it again", code="user_changed") from exc
        updated = self.get_user(user_id)
        assert updated is not None
        return updated

    def set_role(self, user_id: str, role: str, *, expected: str | None = None) -> User:
        """``expected``: change it only from that role (a self-service step racing an admin's change)."""
        condition = UserRecord.role == expected if expected is not None else None
        return self._update_user(user_id, [UserRecord.role.set(role)], condition)

    def disable_user(self, user_id: str, *, at: datetime, reason: str | None) -> User:
        actions = [UserRecord.disabled_at.set(at), UserRecord.not_valid_before.set(at)]
        actions.append(UserRecord.disabled_reason.set(reason) if reason else UserRecord.disabled_reason.remove())
        return self._update_user(user_id, actions)

    def enable_user(self, user_id: str) -> User:
        # not_valid_before stays: sessions from before the disable remain refused.
        return self._update_user(user_id, [UserRecord.disabled_at.remove(), UserRecord.disabled_reason.remove()])

    def add_key(self, key: ApiKey) -> None:
        record, lookup = _key_records(key)

        def build(tx: TransactWrite) -> None:
            tx.save(record, condition=ApiKeyRecord.pk.does_not_exist())
            tx.save(lookup, condition=KeyLookupRecord.pk.does_not_exist())

        run_transaction(AuthTable, build)

    def list_keys(self, user_id: str) -> list[ApiKey]:
        pk, _ = ApiKeyRecord.key(user_id, "")
        rows = ApiKeyRecord.query(pk, ApiKeyRecord.sk.startswith("KEY#"), consistent_read=True)
        return [_key(r) for r in rows]

    def get_key(self, user_id: str, key_id: str) -> ApiKey:
        try:
            return _key(ApiKeyRecord.get(*ApiKeyRecord.key(user_id, key_id), consistent_read=True))
        except DoesNotExist as exc:
            raise NotFoundError(f"no API key {key_id}", code="key_not_found") from exc

    def revoke_key(self, key: ApiKey, *, now: datetime, replacement: ApiKey | None = None) -> None:
        """Revoke ``key`` (and add ``replacement`` when rotating) atomically."""
        try:
            self.revoke_keys([key], now=now, replacement=replacement)
        except ConflictError as exc:
            raise ConflictError(f"API key {key.key_id} is already revoked", code="key_revoked") from exc

    def revoke_keys(self, keys: list[ApiKey], *, now: datetime, replacement: ApiKey | None = None) -> None:
        """Revoke every one of ``keys`` in one transaction: all of them, or (409) none."""
        def build(tx: TransactWrite) -> None:
            for key in keys:
                record = ApiKeyRecord(*ApiKeyRecord.key(key.user_id, key.key_id))
                tx.update(record, actions=[ApiKeyRecord.revoked_at.set(now)],
                          condition=ApiKeyRecord.pk.exists() & ApiKeyRecord.revoked_at.does_not_exist())
                tx.delete(KeyLookupRecord(*KeyLookupRecord.key(key.key_hash)))
            if replacement is not None:
                new_record, new_lookup = _key_records(replacement)
                tx.save(new_record, condition=ApiKeyRecord.pk.does_not_exist())
                tx.save(new_lookup, condition=KeyLookupRecord.pk.does_not_exist())

        if not keys and replacement is None:
            return
        try:
            run_transaction(AuthTable, build)
        except TransactWriteError as exc:
            raise ConflictError("a key was revoked meanwhile; nothing was changed", code="key_revoked") from exc

    def lookup_key(self, key_hash: str) -> KeyOwner | None:
        try:
            rec = KeyLookupRecord.get(*KeyLookupRecord.key(key_hash))
        except DoesNotExist:
            return None
        return KeyOwner(user_id=rec.user_id, key_id=rec.key_id, mode=rec.mode, scopes=_scopes(rec.scopes, rec.mode),
                        plugins=_plugins(rec.plugins), expires_at=rec.expires_at)

    def touch_key(self, user_id: str, key_id: str, now: datetime) -> None:
        record = ApiKeyRecord(*ApiKeyRecord.key(user_id, key_id))
        try:
            record.update(actions=[ApiKeyRecord.last_used_at.set(now)], condition=ApiKeyRecord.pk.exists())
        except PynamoDBException:
            pass  # bookkeeping only: never fail an authenticated call over it

    def ensure_directory(self, *, wait_seconds: float = 120.0) -> int:
        """Bring a table made before the ``user_directory`` index up to date: add the index and
        put the users written before it into it. Idempotent; the dev stack runs it at start-up
        (a one-off migration, hence the scan). The number of users added."""
        client = AuthTable._get_connection().connection.client
        table = AuthTable.Meta.table_name
        described = client.describe_table(TableName=table)["Table"]
        if not any(i["IndexName"] == "user_directory" for i in described.get("GlobalSecondaryIndexes") or []):
            client.update_table(
                TableName=table,
                AttributeDefinitions=[{"AttributeName": "dir_pk", "AttributeType": "S"},
                                      {"AttributeName": "dir_sk", "AttributeType": "S"}],
                GlobalSecondaryIndexUpdates=[{"Create": {
                    "IndexName": "user_directory",
                    "KeySchema": [{"AttributeName": "dir_pk", "KeyType": "HASH"},
                                  {"AttributeName": "dir_sk", "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "ALL"}}}])
            deadline = time.monotonic() + wait_seconds
            while time.monotonic() < deadline:
                indexes = client.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes") or []
                if all(i.get("IndexStatus", "ACTIVE") == "ACTIVE" for i in indexes):
                    break
                time.sleep(0.5)
        added = 0
        for row in UserRecord.scan(UserRecord.dir_pk.does_not_exist()):
            row.update(actions=[UserRecord.dir_pk.set(DIRECTORY_PARTITION), UserRecord.dir_sk.set(row.email)])
            added += 1
        return added
