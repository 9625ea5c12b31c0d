"""DynamoDB persistence for installs. Creating or deleting an install moves the plugin's
install count in the same transaction, so the count is exact under any concurrency."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.catalog.repository import CatalogRepository
from chalicelib.core.dynamo import run_transaction
from chalicelib.core.errors import ConflictError, NotFoundError
from chalicelib.installs.model import Install
from chalicelib.installs.records import InstallRecord, InstallTable


def _install(rec: InstallRecord) -> Install:
    return Install(user_id=rec.user_id, plugin=rec.plugin, major=int(rec.major), enabled=rec.enabled,
                   config=dict(rec.config or {}), granted_permissions=tuple(str(p) for p in rec.granted_permissions or ()),
                   installed_at=rec.installed_at, updated_at=rec.updated_at, webhook_url=rec.webhook_url,
                   webhook_secret_version=int(rec.webhook_secret_version) if rec.webhook_secret_version else None)


def _not_installed(plugin: str) -> NotFoundError:
    return NotFoundError(f"plugin '{plugin}' is not installed", code="plugin_not_installed")


class AlreadyInstalledError(ConflictError):
    code = "already_installed"


class InstallRepository:
    def get(self, user_id: str, plugin: str) -> Install | None:
        try:
            return _install(InstallRecord.get(*InstallRecord.key(user_id, plugin), consistent_read=True))
        except DoesNotExist:
            return None

    def list_for_user(self, user_id: str) -> list[Install]:
        pk, _ = InstallRecord.key(user_id, "")
        return [_install(r) for r in InstallRecord.query(pk, InstallRecord.sk.startswith("PLUGIN#"),
                                                         consistent_read=True)]

    def create(self, install: Install) -> None:
        record = InstallRecord(
            *InstallRecord.key(install.user_id, install.plugin), user_id=install.user_id,
            plugin=install.plugin, major=install.major, enabled=install.enabled, config=install.config,
            granted_permissions=list(install.granted_permissions), installed_at=install.installed_at,
            updated_at=install.updated_at)
        def build(tx: TransactWrite) -> None:
            tx.save(record, condition=InstallRecord.pk.does_not_exist())
            CatalogRepository.count_install(tx, install.plugin, +1)

        try:
            run_transaction(InstallTable, build)
        except TransactWriteError as exc:
            raise AlreadyInstalledError(f"plugin '{install.plugin}' is already installed") from exc

    def delete(self, user_id: str, plugin: str) -> None:
        def build(tx: TransactWrite) -> None:
            tx.delete(InstallRecord(*InstallRecord.key(user_id, plugin)), condition=InstallRecord.pk.exists())
            CatalogRepository.count_install(tx, plugin, -1)

        try:
            run_transaction(InstallTable, build)
        except TransactWriteError as exc:
            raise _not_installed(plugin) from exc

    def update(self, user_id: str, plugin: str, now: datetime, **changes: Any) -> Install:
        actions = [getattr(InstallRecord, name).set(list(value) if isinstance(value, tuple) else value)
                   for name, value in changes.items()]
        return self._apply(user_id, plugin, now, actions)

    def set_webhook(self, user_id: str, plugin: str, now: datetime, url: str | None, *,
                    new_secret: bool) -> Install:
        """Set the endpoint; ``new_secret`` moves to the next signing secret (ADD: two rotations
        at once both land on a secret no delivery was signed with before)."""
        actions: list[Any] = [InstallRecord.webhook_url.set(url) if url else InstallRecord.webhook_url.remove()]
        if new_secret:
            actions.append(InstallRecord.webhook_secret_version.add(1))
        return self._apply(user_id, plugin, now, actions)

    def _apply(self, user_id: str, plugin: str, now: datetime, actions: list[Any]) -> Install:
        actions.append(InstallRecord.updated_at.set(now))
        record = InstallRecord(*InstallRecord.key(user_id, plugin))
        try:
            record.update(actions=actions, condition=InstallRecord.pk.exists())
        except UpdateError as exc:
            raise _not_installed(plugin) from exc
        return _install(record)
