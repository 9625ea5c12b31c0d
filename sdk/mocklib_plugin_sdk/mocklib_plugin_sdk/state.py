"""Where plugin state lives: a small port with a DynamoDB and an in-memory adapter.

The port only knows raw keys (``pk``/``sk``) and JSON text; building keys from
the plugin name and the caller, expiry and permission checks all live in
``services.Storage`` so both adapters behave identically (one contract test
suite runs against both).
"""
from __future__ import annotations

import bisect
import functools
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .errors import ConflictError, StorageError
from .settings import SdkSettings


@dataclass(frozen=True)
class StoredItem:
    pk: str
    sk: str
    doc: str
    updated_at: datetime
    expires_at: int | None = None


class ItemExistsError(ConflictError):
    CODE = "already_exists"


class StateStore(ABC):
    @abstractmethod
    def get(self, pk: str, sk: str) -> StoredItem | None: ...

    @abstractmethod
    def put(self, item: StoredItem, *, if_absent: bool = False) -> None:
        """Write ``item``; with ``if_absent`` raise ItemExistsError if the key is taken by an item
        that has not expired (an expired one DynamoDB has not deleted yet is replaced)."""

    def put_many(self, items: list[StoredItem]) -> None:
        """Write every item (plain puts, distinct keys), in as few round trips as the store allows."""
        for item in items:
            self.put(item)

    @abstractmethod
    def delete(self, pk: str, sk: str) -> bool:
        """Delete; True if something was there."""

    @abstractmethod
    def query(self, pk: str, sk_prefix: str, *, start_after_sk: str | None = None,
              descending: bool = False, page_size: int = 100) -> Iterator[StoredItem]:
        """Items of ``pk`` whose ``sk`` starts with ``sk_prefix``, in ``sk`` order, lazily."""


def _alive(item: StoredItem) -> bool:
    return item.expires_at is None or item.expires_at > time.time()


class InMemoryStateStore(StateStore):
    """For plugin unit tests and ``serve`` without DynamoDB. Thread-safe."""

    def __init__(self) -> None:
        self._partitions: dict[str, dict[str, StoredItem]] = {}
        self._sorted: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def get(self, pk: str, sk: str) -> StoredItem | None:
        with self._lock:
            return self._partitions.get(pk, {}).get(sk)

    def put(self, item: StoredItem, *, if_absent: bool = False) -> None:
        with self._lock:
            partition = self._partitions.setdefault(item.pk, {})
            if item.sk in partition:
                if if_absent and _alive(partition[item.sk]):
                    raise ItemExistsError(f"{item.sk} already exists")
            else:
                bisect.insort(self._sorted.setdefault(item.pk, []), item.sk)
            partition[item.sk] = item

    def delete(self, pk: str, sk: str) -> bool:
        with self._lock:
            partition = self._partitions.get(pk, {})
            if sk not in partition:
                return False
            del partition[sk]
            keys = self._sorted[pk]
            keys.pop(bisect.bisect_left(keys, sk))
            return True

    def query(self, pk: str, sk_prefix: str, *, start_after_sk: str | None = None,
              descending: bool = False, page_size: int = 100) -> Iterator[StoredItem]:
        with self._lock:
            keys = [k for k in self._sorted.get(pk, []) if k.startswith(sk_prefix)]
            if descending:
                keys.reverse()
            if start_after_sk is not None:
                keys = [k for k in keys if (k < start_after_sk if descending else k > start_after_sk)]
            items = [self._partitions[pk][k] for k in keys]
        return iter(items)


@functools.cache
def record_base() -> Any:
    """Attributes of a plugin state item; concrete classes get a Meta per table. Made on first
    use, like the store itself: pynamodb and botocore cost ~100 ms to import, which a plugin that
    never touches storage (and every cold start before its first call) should not pay."""
    from pynamodb.attributes import TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
    from pynamodb.models import Model

    class StateRecordBase(Model):
        pk = UnicodeAttribute(hash_key=True)
        sk = UnicodeAttribute(range_key=True)
        doc = UnicodeAttribute()
        updated_at = UTCDateTimeAttribute()
        expires_at = TTLAttribute(null=True)

    return StateRecordBase


_record_classes: dict[tuple[str, str, str | None], Any] = {}
_record_lock = threading.Lock()


def _record_class(table: str, region: str, endpoint: str | None) -> Any:
    """PynamoDB binds the table name at class creation; the name comes from the
    environment, so the class is made at runtime, once per table, which also
    keeps one connection per warm container."""
    key = (table, region, endpoint)
    with _record_lock:
        cls = _record_classes.get(key)
        if cls is None:
            meta_attrs: dict[str, Any] = {"table_name": table, "region": region,
                                          "billing_mode": "PAY_PER_REQUEST"}
            if endpoint:
                meta_attrs["host"] = endpoint
                # DynamoDB Local accepts any credentials but botocore refuses to
                # sign without some; never override real ones.
                if not os.environ.get("AWS_ACCESS_KEY_ID"):
                    meta_attrs["aws_access_key_id"] = "local"
                    meta_attrs["aws_secret_access_key"] = "local"
            meta = type("Meta", (), meta_attrs)
            cls = type("PluginStateRecord", (record_base(),), {"Meta": meta, "__module__": __name__})
            _record_classes[key] = cls
        return cls


def _to_item(record: Any) -> StoredItem:
    expires = record.expires_at
    return StoredItem(pk=record.pk, sk=record.sk, doc=record.doc, updated_at=record.updated_at,
                      expires_at=int(expires.timestamp()) if expires is not None else None)


class DynamoDBStateStore(StateStore):
    """The production adapter (docs/PLUGIN_PROTOCOL.md section 4)."""

    def __init__(self, table: str, *, region: str = "us-east-1", endpoint: str | None = None) -> None:
        from pynamodb import exceptions

        self.table = table
        self._record = _record_class(table, region, endpoint)
        self._failed = exceptions.PynamoDBException
        self._missing = exceptions.DoesNotExist

    @classmethod
    def from_settings(cls, settings: SdkSettings) -> DynamoDBStateStore:
        return cls(settings.require_state_table(), region=settings.region, endpoint=settings.dynamodb_endpoint)

    def create_table(self) -> None:
        """Create the table (and its TTL) if missing: for local stacks and tests."""
        try:
            self._record.create_table(wait=True, billing_mode="PAY_PER_REQUEST", ignore_update_ttl_errors=True)
        except self._failed as exc:
            raise StorageError(f"cannot create table {self.table}: {exc.msg}") from exc

    def get(self, pk: str, sk: str) -> StoredItem | None:
        try:
            return _to_item(self._record.get(pk, sk, consistent_read=True))
        except self._missing:
            return None
        except self._failed as exc:
            raise StorageError(f"storage read failed: {exc.msg}") from exc

    def _to_record(self, item: StoredItem) -> Any:
        record = self._record(item.pk, item.sk, doc=item.doc, updated_at=item.updated_at)
        if item.expires_at is not None:
            record.expires_at = datetime.fromtimestamp(item.expires_at, tz=timezone.utc)
        return record

    def put_many(self, items: list[StoredItem]) -> None:
        # BatchWriteItem, 25 items a request; PynamoDB resends what DynamoDB left unprocessed.
        try:
            with self._record.batch_write() as batch:
                for item in items:
                    batch.save(self._to_record(item))
        except self._failed as exc:
            raise StorageError(f"storage write failed: {exc.msg}") from exc

    def put(self, item: StoredItem, *, if_absent: bool = False) -> None:
        record = self._to_record(item)
        # One conditional write, no read first: an item past its TTL that DynamoDB has not
        # deleted yet counts as absent.
        condition = (self._record.sk.does_not_exist() | (self._record.expires_at < datetime.now(timezone.utc))
                     if if_absent else None)
        try:
            record.save(condition=condition)
        except self._failed as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise ItemExistsError(f"{item.sk} already exists") from exc
            raise StorageError(f"storage write failed: {exc.msg}") from exc

    def delete(self, pk: str, sk: str) -> bool:
        # A conditional delete tells us whether the item existed in one round trip.
        try:
            self._record(pk, sk).delete(condition=self._record.sk.exists())
            return True
        except self._failed as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise StorageError(f"storage delete failed: {exc.msg}") from exc

    def query(self, pk: str, sk_prefix: str, *, start_after_sk: str | None = None,
              descending: bool = False, page_size: int = 100) -> Iterator[StoredItem]:
        last_key = {"pk": {"S": pk}, "sk": {"S": start_after_sk}} if start_after_sk is not None else None
        try:
            # DynamoDB rejects begins_with(sk, ""): no prefix means no range condition.
            condition = self._record.sk.startswith(sk_prefix) if sk_prefix else None
            results = self._record.query(pk, condition, consistent_read=True,
                                         scan_index_forward=not descending, last_evaluated_key=last_key,
                                         page_size=page_size)
            for record in results:
                yield _to_item(record)
        except self._failed as exc:
            raise StorageError(f"storage query failed: {exc.msg}") from exc
