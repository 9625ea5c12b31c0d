"""Plugins hear about installs through the same handler as calls (protocol ``lifecycle``
events): installed, uninstalled, configuration changed. A plugin's failure to handle one
is logged; it never undoes the user's action."""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from mocklib_plugin_sdk.protocol import decode_result

from chalicelib.catalog.service import CatalogService
from chalicelib.gateway.entitlements import FunctionLocator
from chalicelib.gateway.service import invocation_context
from chalicelib.installs.model import InstallChange
from chalicelib.runtime.port import PluginRuntime
from chalicelib.webhooks.service import Target, WebhookService

logger = Logger(service="marketplace")
PLUGIN_EVENTS = {"installed", "uninstalled", "configuration_changed"}


class LifecycleNotifier:
    def __init__(self, catalog: CatalogService, functions: FunctionLocator, runtime: PluginRuntime,
                 webhooks: WebhookService) -> None:
        self._catalog = catalog
        self._functions = functions
        self._runtime = runtime
        self._webhooks = webhooks

    def __call__(self, change: InstallChange) -> None:
        if change.event not in PLUGIN_EVENTS:
            return
        install = change.install
        try:
            plugin = self._catalog.get_plugin(install.plugin)
            version = self._catalog.get_version(install.plugin, plugin.latest_by_major[str(install.major)])
            function = self._functions.locate(version)
            event: dict[str, Any] = {
                "protocol": 1, "type": "lifecycle",
                "context": invocation_context(install, version.version, function, sandbox=False),
                "lifecycle": {"event": change.event,
                              "previous_config": change.before.config if change.before else {}},
            }
            result = decode_result(self._runtime.invoke(function, event))
        except Exception:  # noqa: BLE001 - a plugin's trouble never undoes the user's action
            logger.exception("lifecycle event not delivered", extra={"plugin": install.plugin,
                                                                      "event": change.event})
            return
        if not 200 <= result.status < 300:
            logger.warning("plugin refused a lifecycle event", extra={"plugin": install.plugin,
                                                                       "event": change.event,
                                                                       "status": result.status})
        if result.webhooks:
            self._webhooks.enqueue(Target.of(install, sandbox=False), result.webhooks)
