"""DynamoDB persistence for the catalog. State changes are conditional on the state
the service read, so two racing reviewers or publishers cannot both win."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from chalicelib.catalog.model import Plugin, Version
from chalicelib.catalog.records import LISTING_PARTITION, CatalogTable, PluginRecord, VersionRecord
from chalicelib.core.dynamo import run_transaction
from chalicelib.core.errors import ConflictError

PENDING = "PENDING"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_plugin(rec: PluginRecord) -> Plugin:
    return Plugin(
        name=rec.name, author_id=rec.author_id, author_name=rec.author_name,
        display_name=rec.display_name, description=rec.description, category=rec.category,
        tags=tuple(str(tag) for tag in rec.tags or ()), icon=rec.icon, status=rec.status, status_reason=rec.status_reason,
        tier=rec.tier, per_call_price_micros=int(rec.per_call_price_micros),
        free_tier_calls=int(rec.free_tier_calls), revenue_share_bps=int(rec.revenue_share_bps),
        latest_version=rec.latest_version, latest_by_major=dict(rec.latest_by_major.as_dict()
                                                                if rec.latest_by_major else {}),
        max_version=rec.max_version, install_count=int(rec.install_count or 0),
        rating_sum=int(rec.rating_sum or 0), rating_count=int(rec.rating_count or 0),
        verified=rec.verified, created_at=rec.created_at, published_at=rec.published_at,
        updated_at=rec.updated_at, auth_header=rec.auth_header, calls_7d=int(rec.calls_7d or 0),
        fidelity=rec.fidelity,
    )


def to_version(rec: VersionRecord) -> Version:
    return Version(name=rec.name, version=rec.version, major=int(rec.major), manifest=rec.manifest,
                   status=rec.status, created_at=rec.created_at, submitted_at=rec.submitted_at,
                   published_at=rec.published_at, reviewed_by=rec.reviewed_by,
                   review_reason=rec.review_reason, submission_id=rec.submission_id, documents=rec.documents)


def plugin_record(plugin: Plugin) -> PluginRecord:
    return PluginRecord(
        *PluginRecord.key(plugin.name), name=plugin.name, author_id=plugin.author_id,
        author_name=plugin.author_name, display_name=plugin.display_name,
        description=plugin.description, category=plugin.category, tags=list(plugin.tags),
        icon=plugin.icon, status=plugin.status, status_reason=plugin.status_reason, tier=plugin.tier,
        per_call_price_micros=plugin.per_call_price_micros, free_tier_calls=plugin.free_tier_calls,
        revenue_share_bps=plugin.revenue_share_bps, latest_version=plugin.latest_version,
        latest_by_major=plugin.latest_by_major, max_version=plugin.max_version,
        install_count=plugin.install_count, rating_sum=plugin.rating_sum,
        rating_count=plugin.rating_count, verified=plugin.verified, created_at=plugin.created_at,
        published_at=plugin.published_at, updated_at=plugin.updated_at, auth_header=plugin.auth_header,
        fidelity=plugin.fidelity, listing_pk=LISTING_PARTITION, listing_ts=now_ms(),
    )


def version_record(version: Version) -> VersionRecord:
    return VersionRecord(
        *VersionRecord.key(version.name, version.version), name=version.name,
        version=version.version, major=version.major, manifest=version.manifest,
        status=version.status, created_at=version.created_at, submitted_at=version.submitted_at,
        published_at=version.published_at, reviewed_by=version.reviewed_by,
        review_reason=version.review_reason, submission_id=version.submission_id, documents=version.documents,
        review_state=PENDING if version.status == "pending_review" else None,
    )


class StaleStateError(ConflictError):
    code = "concurrent_modification"


class CatalogRepository:
    def create_plugin(self, plugin: Plugin, version: Version) -> None:
        def build(tx: TransactWrite) -> None:
            tx.save(plugin_record(plugin), condition=PluginRecord.pk.does_not_exist())
            tx.save(version_record(version), condition=VersionRecord.pk.does_not_exist())

        try:
            run_transaction(CatalogTable, build)
        except TransactWriteError as exc:
            raise ConflictError(f"a plugin named '{plugin.name}' already exists",
                                code="plugin_name_taken") from exc

    def get_plugin(self, name: str) -> Plugin | None:
        try:
            return to_plugin(PluginRecord.get(*PluginRecord.key(name), consistent_read=True))
        except DoesNotExist:
            return None

    def list_by_author(self, author_id: str) -> list[Plugin]:
        return [to_plugin(r) for r in PluginRecord.by_author.query(author_id)
                if isinstance(r, PluginRecord)]

    def get_version(self, name: str, version: str) -> Version | None:
        try:
            return to_version(VersionRecord.get(*VersionRecord.key(name, version), consistent_read=True))
        except DoesNotExist:
            return None

    def list_versions(self, name: str) -> list[Version]:
        pk, _ = VersionRecord.key(name, "")
        rows = VersionRecord.query(pk, VersionRecord.sk.startswith("VERSION#"), consistent_read=True)
        return [to_version(r) for r in rows]

    def review_queue(self) -> list[Version]:
        return [to_version(r) for r in VersionRecord.review_queue.query(PENDING)
                if isinstance(r, VersionRecord)]

    def save_plugin(self, plugin: Plugin, *, expected_status: str) -> None:
        """Overwrite the META item, provided nobody changed its status meanwhile. Counters
        (installs, ratings) are kept as stored: they are only ever changed atomically."""
        actions = _mutable_actions(plugin)
        condition = PluginRecord.status == expected_status
        try:
            PluginRecord(*PluginRecord.key(plugin.name)).update(actions=actions, condition=condition)
        except UpdateError as exc:
            raise StaleStateError(f"plugin '{plugin.name}' changed meanwhile; retry") from exc

    def add_version(self, version: Version, *, expected_max: str, new_max: str) -> None:
        meta = PluginRecord(*PluginRecord.key(version.name))
        def build(tx: TransactWrite) -> None:
            tx.update(meta, actions=[PluginRecord.max_version.set(new_max),
                                     PluginRecord.listing_ts.set(now_ms())],
                      condition=PluginRecord.max_version == expected_max)
            tx.save(version_record(version), condition=VersionRecord.pk.does_not_exist())

        try:
            run_transaction(CatalogTable, build)
        except TransactWriteError as exc:
            raise StaleStateError(f"another version of '{version.name}' was added meanwhile; retry") from exc

    def save_version(self, version: Version, *, expected_status: str) -> None:
        try:
            version_record(version).save(condition=VersionRecord.status == expected_status)
        except PutError as exc:
            raise StaleStateError(f"version {version.version} changed meanwhile; retry") from exc

    def save_version_and_plugin(self, version: Version, plugin: Plugin, *, expected_version_status: str,
                                expected_plugin_status: str) -> None:
        actions = _mutable_actions(plugin)
        def build(tx: TransactWrite) -> None:
            tx.save(version_record(version), condition=VersionRecord.status == expected_version_status)
            tx.update(PluginRecord(*PluginRecord.key(plugin.name)), actions=actions,
                      condition=PluginRecord.status == expected_plugin_status)

        try:
            run_transaction(CatalogTable, build)
        except TransactWriteError as exc:
            raise StaleStateError(f"plugin '{plugin.name}' changed meanwhile; retry") from exc

    def listing_changes(self, since_ms: int) -> Iterator[Plugin]:
        condition: Condition = PluginRecord.listing_ts >= since_ms
        for rec in PluginRecord.listing.query(LISTING_PARTITION, condition):
            if isinstance(rec, PluginRecord):
                yield to_plugin(rec)


    @staticmethod
    def set_calls_7d(name: str, calls: int) -> None:
        PluginRecord(*PluginRecord.key(name)).update(
            actions=[PluginRecord.calls_7d.set(calls), PluginRecord.listing_ts.set(now_ms())],
            condition=PluginRecord.pk.exists())

    @staticmethod
    def count_install(tx: TransactWrite, name: str, delta: int) -> None:
        """Join an installs transaction: the count moves iff the install row does."""
        tx.update(PluginRecord(*PluginRecord.key(name)),
                  actions=[PluginRecord.install_count.add(delta), PluginRecord.listing_ts.set(now_ms())],
                  condition=PluginRecord.pk.exists())


# Everything but the atomic counters and creation facts.
# Not here: the certification tier and its share (``verified``, ``revenue_share_bps``), which only
# chalicelib.trust writes, so an approval racing a tier change cannot write the old tier back.
_PLUGIN_MUTABLE = ("display_name", "description", "category", "tags", "icon", "status", "status_reason",
                   "tier", "per_call_price_micros", "free_tier_calls", "latest_version", "latest_by_major",
                   "max_version", "published_at", "updated_at", "auth_header", "fidelity", "listing_ts")


def _mutable_actions(plugin: Plugin) -> list[Any]:
    record = plugin_record(plugin)
    actions = []
    for name in _PLUGIN_MUTABLE:
        attribute, value = getattr(PluginRecord, name), getattr(record, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    return actions
