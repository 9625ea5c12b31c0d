"""Install use cases. An install pins a major version and follows the newest published
version within it; moving to another major is an explicit upgrade with fresh consent."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.auth.principal import Principal
from chalicelib.catalog.model import Plugin, Version
from chalicelib.catalog.service import CatalogService, card
from chalicelib.core.clock import Clock, iso
from chalicelib.core.errors import ConflictError, InvalidInputError, NotFoundError
from chalicelib.core.jsonutil import validation_errors
from chalicelib.installs.model import Install, InstallChange
from chalicelib.installs.repository import AlreadyInstalledError, InstallRepository


@dataclass(frozen=True)
class InstallOutcome:
    view: dict[str, Any]
    created: bool


def _requested_major(plugin: Plugin, requested: str) -> int:
    if requested == "latest":
        if plugin.latest_version is None:
            raise NotFoundError(f"plugin '{plugin.name}' has no published version", code="version_not_found")
        return int(plugin.latest_version.split(".")[0])
    major = int(requested.split(".")[0])
    if str(major) not in plugin.latest_by_major:
        raise NotFoundError(f"plugin '{plugin.name}' has no published {major}.x version",
                            code="version_not_found")
    return major


class InstallService:
    def __init__(self, repository: InstallRepository, catalog: CatalogService, clock: Clock,
                 webhook_secret: Callable[[str, str, int | None], str | None],
                 listeners: tuple[Callable[[InstallChange], None], ...] = ()) -> None:
        self._repo = repository
        self._catalog = catalog
        self._clock = clock
        self._webhook_secret = webhook_secret  # the webhooks context derives it; nothing stores it
        self._listeners = listeners  # e.g. the gateway's entitlement cache, plugin lifecycle events

    def _changed(self, event: str, before: Install | None, after: Install | None) -> None:
        for listener in self._listeners:
            listener(InstallChange(event, before, after))

    # --- helpers -------------------------------------------------------------
    def _installable(self, name: str) -> Plugin:
        plugin = self._catalog.get_listed_plugin(name)
        if plugin.status == "suspended":
            raise ConflictError(f"plugin '{name}' is suspended: {plugin.status_reason}", code="plugin_suspended")
        return plugin

    def _target(self, plugin: Plugin, requested: str) -> Version:
        major = _requested_major(plugin, requested)
        if requested not in ("latest",) and requested.count(".") == 2:
            pinned = self._catalog.get_version(plugin.name, requested)
            if pinned.status != "published":
                raise NotFoundError(f"version {requested} of '{plugin.name}' is not published",
                                    code="version_not_found")
        return self._catalog.get_version(plugin.name, plugin.latest_by_major[str(major)])

    @staticmethod
    def _check_consent(version: Version, accepted: list[str] | None) -> tuple[str, ...]:
        required = list(version.manifest.get("permissions", []))
        missing = sorted(set(required) - set(accepted or []))
        if missing:
            raise InvalidInputError(
                f"installing {version.name} {version.version} needs your consent to: {', '.join(missing)}; "
                "repeat the request with accept_permissions", code="consent_required",
                details={"required_permissions": required, "missing": missing})
        return tuple(sorted(required))

    @staticmethod
    def _validated_config(version: Version, given: dict[str, Any] | None) -> dict[str, Any]:
        settings = version.manifest.get("config", {})
        config = {**settings.get("default", {}), **(given or {})}
        schema = settings.get("schema")
        if schema is not None:
            problems = validation_errors(schema, config)
            if problems:
                raise InvalidInputError(f"configuration does not match {version.name}'s schema",
                                        code="invalid_config", details=problems)
        elif given:
            raise InvalidInputError(f"{version.name} takes no configuration", code="invalid_config")
        return config

    def _view(self, install: Install, plugin: Plugin | None = None) -> dict[str, Any]:
        plugin = plugin or self._catalog.get_plugin(install.plugin)
        current = plugin.latest_by_major.get(str(install.major))
        newest_major = int(plugin.latest_version.split(".")[0]) if plugin.latest_version else install.major
        return {
            "plugin": install.plugin, "display_name": plugin.display_name, "major": install.major,
            "version": current, "base_path": f"/plugins/{install.plugin}/v{install.major}",
            "enabled": install.enabled, "config": install.config,
            "granted_permissions": list(install.granted_permissions),
            "plugin_status": plugin.status,
            "update_available": plugin.latest_version if newest_major > install.major else None,
            "pricing": card(plugin)["pricing"],
            "installed_at": iso(install.installed_at), "updated_at": iso(install.updated_at),
            "webhook": {"url": install.webhook_url,
                        "secret": self._webhook_secret(install.user_id, install.plugin, install.webhook_secret_version)},
        }

    def _mine(self, principal: Principal, name: str) -> Install:
        install = self._repo.get(principal.user_id, name)
        if install is None:
            raise NotFoundError(f"plugin '{name}' is not installed", code="plugin_not_installed")
        return install

    # --- use cases -------------------------------------------------------------
    def install(self, principal: Principal, *, plugin: str, version: str = "latest",
                accept_permissions: list[str] | None = None,
                config: dict[str, Any] | None = None) -> InstallOutcome:
        listed = self._installable(plugin)
        target = self._target(listed, version)
        granted = self._check_consent(target, accept_permissions)
        config = self._validated_config(target, config)
        for _ in range(3):  # an uninstall racing with this install may delete what we just saw
            existing = self._repo.get(principal.user_id, plugin)
            if existing is not None:
                if existing.major != target.major:
                    raise ConflictError(
                        f"{plugin} {existing.major}.x is installed; moving to {target.major}.x is an explicit "
                        f"upgrade (POST /plugins/installed/{plugin}/upgrade)", code="major_upgrade_required")
                return InstallOutcome(self._view(existing, listed), created=False)
            now = self._clock.now()
            install = Install(user_id=principal.user_id, plugin=plugin, major=target.major, enabled=True,
                              config=config, granted_permissions=granted, installed_at=now, updated_at=now)
            try:
                self._repo.create(install)
            except AlreadyInstalledError:
                continue
            self._changed("installed", None, install)
            return InstallOutcome(self._view(install, self._catalog.get_plugin(plugin)), created=True)
        raise ConflictError(f"installs of '{plugin}' are changing concurrently; retry", code="install_contended")

    def uninstall(self, principal: Principal, plugin: str) -> dict[str, Any]:
        install = self._mine(principal, plugin)
        self._repo.delete(principal.user_id, plugin)
        self._changed("uninstalled", install, None)
        return {"plugin": plugin, "uninstalled": True}

    def list_installed(self, principal: Principal) -> dict[str, Any]:
        installs = sorted(self._repo.list_for_user(principal.user_id), key=lambda i: i.plugin)
        return {"installs": [self._view(i) for i in installs]}

    def get_installed(self, principal: Principal, plugin: str) -> dict[str, Any]:
        install = self._mine(principal, plugin)
        view = self._view(install)
        # What the installed version answers, so clients build their calls from it, not from the newest.
        if view["version"]:
            view["endpoints"] = self._catalog.get_version(plugin, view["version"]).manifest["api"]["endpoints"]
        return view

    def set_enabled(self, principal: Principal, plugin: str, enabled: bool) -> dict[str, Any]:
        before = self._mine(principal, plugin)
        updated = self._repo.update(principal.user_id, plugin, self._clock.now(), enabled=enabled)
        self._changed("enabled" if enabled else "disabled", before, updated)
        return self._view(updated)

    def configure(self, principal: Principal, plugin: str, config: dict[str, Any]) -> dict[str, Any]:
        install = self._mine(principal, plugin)
        listed = self._catalog.get_plugin(plugin)
        current = self._catalog.get_version(plugin, listed.latest_by_major[str(install.major)])
        validated = self._validated_config(current, config)
        updated = self._repo.update(principal.user_id, plugin, self._clock.now(), config=validated)
        self._changed("configuration_changed", install, updated)
        return self._view(updated, listed)

    def upgrade(self, principal: Principal, plugin: str, *, version: str,
                accept_permissions: list[str] | None, config: dict[str, Any] | None) -> dict[str, Any]:
        install = self._mine(principal, plugin)
        listed = self._installable(plugin)
        target = self._target(listed, version)
        if target.major == install.major:
            raise ConflictError(f"{plugin} {install.major}.x is already installed and follows "
                                f"{target.version}", code="already_on_major")
        granted = self._check_consent(target, accept_permissions)
        new_config = self._validated_config(target, install.config if config is None else config)
        updated = self._repo.update(principal.user_id, plugin, self._clock.now(), major=target.major,
                                    config=new_config, granted_permissions=granted)
        self._changed("upgraded", install, updated)
        return self._view(updated, listed)

    def set_webhook(self, principal: Principal, plugin: str, *, url: str | None,
                    rotate_secret: bool = False) -> dict[str, Any]:
        """Where the plugin's ``event`` webhooks go; the signing secret is made once (or rotated)."""
        before = self._mine(principal, plugin)
        updated = self._repo.set_webhook(principal.user_id, plugin, self._clock.now(), url,
                                         new_secret=rotate_secret or before.webhook_secret_version is None)
        self._changed("webhook", before, updated)
        return self._view(updated)

    def webhook_target(self, principal: Principal, plugin: str) -> tuple[Install, str]:
        """The install and its current version, for the webhook tester."""
        install = self._mine(principal, plugin)
        return install, self._catalog.get_plugin(plugin).latest_by_major.get(str(install.major), "")
