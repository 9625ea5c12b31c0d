"""DynamoDB persistence for identity. Every multi-item change is one transaction."""
from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DoesNotExist, PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.auth.model import ApiKey, KeyOwner, User
from chalicelib.auth.records import ApiKeyRecord, AuthTable, EmailRecord, KeyLookupRecord, UserRecord
from chalicelib.core.dynamo import run_transaction
from chalicelib.core.errors import ConflictError, NotFoundError


def _user(rec: UserRecord) -> User:
    return User(user_id=rec.user_id, email=rec.email, role=rec.role,
                password_hash=rec.password_hash, created_at=rec.created_at)


def _key(rec: ApiKeyRecord) -> ApiKey:
    return ApiKey(key_id=rec.key_id, user_id=rec.user_id, name=rec.name, prefix=rec.prefix,
                  mode=rec.mode, key_hash=rec.key_hash, created_at=rec.created_at,
                  last_used_at=rec.last_used_at, revoked_at=rec.revoked_at)


def _key_records(key: ApiKey) -> tuple[ApiKeyRecord, KeyLookupRecord]:
    pk, sk = ApiKeyRecord.key(key.user_id, key.key_id)
    record = ApiKeyRecord(pk, sk, key_id=key.key_id, user_id=key.user_id, name=key.name,
                          prefix=key.prefix, mode=key.mode, key_hash=key.key_hash,
                          created_at=key.created_at)
    lpk, lsk = KeyLookupRecord.key(key.key_hash)
    lookup = KeyLookupRecord(lpk, lsk, user_id=key.user_id, key_id=key.key_id, mode=key.mode)
    return record, lookup


class AuthRepository:
    def create_user(self, user: User) -> None:
        epk, esk = EmailRecord.key(user.email)
        upk, usk = UserRecord.key(user.user_id)
        def build(tx: TransactWrite) -> None:
            tx.save(EmailRecord(epk, esk, user_id=user.user_id), condition=EmailRecord.pk.does_not_exist())
            tx.save(UserRecord(upk, usk, user_id=user.user_id, email=user.email, role=user.role,
                               password_hash=user.password_hash, created_at=user.created_at),
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

    def set_role(self, user_id: str, role: str) -> None:
        UserRecord(*UserRecord.key(user_id)).update(
            actions=[UserRecord.role.set(role)], condition=UserRecord.pk.exists())

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
        record = ApiKeyRecord(*ApiKeyRecord.key(key.user_id, key.key_id))
        lookup = KeyLookupRecord(*KeyLookupRecord.key(key.key_hash))
        def build(tx: TransactWrite) -> None:
            tx.update(record, actions=[ApiKeyRecord.revoked_at.set(now)],
                      condition=ApiKeyRecord.pk.exists() & ApiKeyRecord.revoked_at.does_not_exist())
            tx.delete(lookup)
            if replacement is not None:
                new_record, new_lookup = _key_records(replacement)
                tx.save(new_record, condition=ApiKeyRecord.pk.does_not_exist())
                tx.save(new_lookup, condition=KeyLookupRecord.pk.does_not_exist())

        try:
            run_transaction(AuthTable, build)
        except TransactWriteError as exc:
            raise ConflictError(f"API key {key.key_id} is already revoked", code="key_revoked") from exc

    def lookup_key(self, key_hash: str) -> KeyOwner | None:
        try:
            rec = KeyLookupRecord.get(*KeyLookupRecord.key(key_hash))
        except DoesNotExist:
            return None
        return KeyOwner(user_id=rec.user_id, key_id=rec.key_id, mode=rec.mode)

    def touch_key(self, user_id: str, key_id: str, now: datetime) -> None:
        record = ApiKeyRecord(*ApiKeyRecord.key(user_id, key_id))
        try:
            record.update(actions=[ApiKeyRecord.last_used_at.set(now)], condition=ApiKeyRecord.pk.exists())
        except PynamoDBException:
            pass  # bookkeeping only: never fail an authenticated call over it
