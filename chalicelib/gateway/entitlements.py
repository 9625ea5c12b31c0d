"""Who may call which plugin, resolved once per (user, plugin) and cached for a few seconds.

The cache is what keeps the warm path free of reads; its TTL (5 s by default) bounds how
long an uninstall, a disable or a suspension takes to reach every container. The
container that made the change forgets its entry at once.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.billing.customers import Standing
from chalicelib.billing.holding import Holding
from chalicelib.catalog.model import Plugin, Version
from chalicelib.catalog.service import CatalogService
from chalicelib.core.cache import TtlCache
from chalicelib.core.errors import NotFoundError, PermissionDeniedError
from chalicelib.installs.model import Install, InstallChange
from chalicelib.installs.repository import InstallRepository
from chalicelib.limits.service import Limit
from chalicelib.runtime.port import PluginFunction

DEFAULT_RATE_LIMIT = Limit(6_000, 60)


@dataclass(frozen=True)
class Entitlement:
    plugin: Plugin
    install: Install
    version: Version
    function: PluginFunction
    rate_limit: Limit
    holding: Holding  # the caller's plan on the plugin: licence tier, features, quota, concurrency
    standing: Standing = Standing()  # the caller's payments: card on file, overdue invoices, spending cap


class FunctionLocator:
    """Where a plugin version runs: its Lambda name and, for the local runtime, its code."""

    def __init__(self, *, function_template: str, stage: str, source_root: str | None,
                 deployed_root: str | None = None) -> None:
        self._template = function_template
        self._stage = stage
        self._source_root = source_root
        self._deployed_root = deployed_root

    def locate(self, version: Version) -> PluginFunction:
        runtime = version.manifest["runtime"]
        # <project>/chalicelib/: Chalice ships only that folder with the function. First-party
        # plugins live in plugin_functions/<name>/; submitted packages are deployed per version.
        if version.submission_id:
            root = f"{self._deployed_root}/{version.name}/{version.version}" if self._deployed_root else None
        else:
            root = f"{self._source_root}/{version.name}" if self._source_root else None
        source = f"{root}/chalicelib" if root else None
        return PluginFunction(
            plugin=version.name, version=version.version, major=version.major,
            memory_limit_mb=int(runtime["memory_limit_mb"]), timeout_seconds=int(runtime["timeout_seconds"]),
            function_name=self._template.format(name=version.name, major=version.major, stage=self._stage),
            source_dir=source, handler=runtime.get("handler", "plugin:Plugin"))


class EntitlementResolver:
    def __init__(self, installs: InstallRepository, catalog: CatalogService, functions: FunctionLocator,
                 ttl_seconds: float, holding: Callable[[str, str], Holding],
                 standing: Callable[[str], Standing] = lambda user_id: Standing()) -> None:
        self._installs = installs
        self._holding = holding
        self._standing = standing
        self._catalog = catalog
        self.functions = functions
        self._entitlements: TtlCache[Entitlement] = TtlCache(ttl_seconds)
        self._versions: TtlCache[Version] = TtlCache(ttl_seconds)
        self._plugins: TtlCache[Plugin] = TtlCache(ttl_seconds)

    def plugin(self, name: str) -> Plugin:
        return self._plugins.get(name, lambda: self._catalog.get_listed_plugin(name))

    def resolve(self, user_id: str, name: str, major: int) -> Entitlement:
        return self._entitlements.get((user_id, name, major), lambda: self._load(user_id, name, major))

    def forget_install(self, change: InstallChange) -> None:
        """Hears this container's own install changes, so they apply at once here."""
        self.forget(change.install.user_id, change.install.plugin)

    def forget(self, user_id: str, name: str) -> None:
        """This container's own changes (install, plan, trial) apply here at once."""
        self._entitlements.forget(lambda key: key[:2] == (user_id, name))  # type: ignore[index]

    def forget_user(self, user_id: str) -> None:
        """A change of the user's payments (a card, an invoice paid or overdue) applies here at once."""
        self._entitlements.forget(lambda key: key[0] == user_id)  # type: ignore[index]

    def _load(self, user_id: str, name: str, major: int) -> Entitlement:
        plugin = self._catalog.get_listed_plugin(name)
        install = self._installs.get(user_id, name)
        if install is None:
            raise PermissionDeniedError(f"plugin '{name}' is not installed on your account; install it with "
                                        f"POST /plugins/install", code="plugin_not_installed")
        if plugin.status == "suspended":
            raise PermissionDeniedError(f"plugin '{name}' is suspended: {plugin.status_reason}",
                                        code="plugin_suspended")
        if not install.enabled:
            raise PermissionDeniedError(f"plugin '{name}' is disabled on your account; enable it with "
                                        f"POST /plugins/installed/{name}/enable", code="plugin_disabled")
        if install.major != major:
            raise NotFoundError(f"you have {name} v{install.major} installed, not v{major}; call "
                                f"/plugins/{name}/v{install.major}/... or upgrade", code="version_not_installed")
        current = plugin.latest_by_major[str(major)]
        version = self._versions.get((name, current), lambda: self._catalog.get_version(name, current))
        limits = version.manifest.get("rate_limit")
        rate_limit = Limit(limits["requests"], limits["window_seconds"]) if limits else DEFAULT_RATE_LIMIT
        return Entitlement(plugin=plugin, install=install, version=version,
                           function=self.functions.locate(version), rate_limit=rate_limit,
                           holding=self._holding(user_id, name), standing=self._standing(user_id))
