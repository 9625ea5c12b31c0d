"""``PluginHost``: runs one plugin class against protocol events.

The Lambda adapter, serve mode and the gateway's local workers all call
``PluginHost.invoke(event) -> result``; it never raises, so a plugin bug can
only ever turn into an error *result*, never a crashed runtime.
"""
from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import IO, Any

from .errors import MethodNotAllowedError, PluginError, PluginMismatchError
from .http import Response, coerce_response
from .invocation import Entropy, Invocation, SystemEntropy, activate, deactivate, deterministic_entropy
from .manifest import PluginManifest
from .plugin import LifecycleEvent, Plugin
from .protocol import InvocationEvent, build_result, parse_event
from .sdk import PluginSDK
from .settings import SdkSettings
from .state import StateStore

log = logging.getLogger("mocklib_plugin_sdk")
METRICS_NAMESPACE = "MockFactory/Plugins"


class PluginHost:
    def __init__(self, plugin_class: type[Plugin], manifest: PluginManifest | Mapping[str, Any] | str, *,
                 settings: SdkSettings | None = None,
                 store: StateStore | Callable[[], StateStore] | None = None,
                 emit_emf: bool = False, log_stream: IO[str] | None = None) -> None:
        self.plugin_class = plugin_class
        self.manifest = PluginManifest.load(manifest)
        self.settings = settings if settings is not None else SdkSettings.from_env()
        self.emit_emf = emit_emf
        self.sdk = PluginSDK(self.manifest, settings=self.settings, store=store, log_stream=log_stream)
        self._plugin: Plugin | None = None
        self._init_lock = threading.Lock()

    # -- lifecycle of the host itself -------------------------------------------------

    def plugin(self) -> Plugin:
        """The initialized plugin; initialization is retried until it succeeds."""
        with self._init_lock:
            if self._plugin is None:
                plugin = self.plugin_class()
                plugin.sdk = self.sdk
                plugin.initialize(self.sdk)
                self._plugin = plugin
            return self._plugin

    def close(self) -> None:
        with self._init_lock:
            plugin, self._plugin = self._plugin, None
        if plugin is not None:
            try:
                plugin.cleanup()
            except Exception:  # noqa: BLE001 - shutdown must finish whatever a plugin does
                log.exception("plugin %s cleanup failed", self.manifest.name)

    def health(self) -> bool:
        try:
            return bool(self.plugin().health())
        except Exception:  # noqa: BLE001 - an exception is an unhealthy answer, not a crash
            log.exception("plugin %s health check failed", self.manifest.name)
            return False

    # -- invocations -------------------------------------------------------------------

    def _entropy(self, user_id: str, sandbox: bool) -> Entropy:
        if not self.settings.deterministic:
            return SystemEntropy()
        mode = "sandbox" if sandbox else "live"
        return deterministic_entropy(self.settings.seed, self.manifest.name, mode, user_id, self.settings.epoch)

    def invoke(self, event: Any) -> dict[str, Any]:
        request_id = ""
        try:
            parsed = parse_event(event)
            if parsed.request is not None:
                request_id = parsed.request.request_id
            if parsed.context.plugin != self.manifest.name:
                # Storage keys come from our manifest, but refusing early also
                # stops a misrouted call from running code on someone's behalf.
                raise PluginMismatchError(
                    f"this function is plugin {self.manifest.name!r}, the event is for {parsed.context.plugin!r}")
        except PluginError as exc:
            return self._error_result(exc, request_id, [])
        if parsed.type == "health":
            healthy = self.health()
            return build_result(Response.json({"healthy": healthy}, status=200 if healthy else 503))

        try:
            # Outside the invocation on purpose: initialize() runs once per
            # process, not on behalf of whichever user happened to call first.
            plugin = self.plugin()
        except PluginError as exc:
            return self._error_result(exc, request_id, [])
        except Exception as exc:  # noqa: BLE001 - a failed cold start is a 500 result, retried next call
            log.error("plugin %s failed to initialize\n%s", self.manifest.name, traceback.format_exc())
            return build_result(Response.error(500, "plugin_initialization_failed",
                                               "the plugin failed to start", request_id=request_id),
                                error=self._error_summary(exc))

        context = parsed.context
        invocation = Invocation(
            plugin=self.manifest.name, version=context.version or self.manifest.version,
            user_id=context.user_id, sandbox=context.sandbox, request_id=request_id,
            authenticated=context.authenticated, config=context.config, licence=context.licence,
            deadline_ms=context.deadline_ms, entropy=self._entropy(context.user_id, context.sandbox))
        token = activate(invocation)
        try:
            response = self._dispatch(plugin, parsed)
        except PluginError as exc:
            return self._finish(invocation, self._error_response(exc, request_id), exc)
        except Exception as exc:  # noqa: BLE001 - the whole point: plugin bugs become 500 results
            log.error("plugin %s raised %s (request %s)\n%s", self.manifest.name, type(exc).__name__,
                      request_id, traceback.format_exc())
            return self._finish(invocation, Response.error(500, "plugin_exception",
                                                           "the plugin failed to handle this request",
                                                           request_id=request_id), exc)
        finally:
            deactivate(token)
        return self._finish(invocation, response, None)

    def _dispatch(self, plugin: Plugin, parsed: InvocationEvent) -> Response:
        if parsed.type == "lifecycle":
            event = LifecycleEvent(event=parsed.lifecycle_event or "", user_id=parsed.context.user_id,
                                   config=parsed.context.config, previous_config=parsed.previous_config,
                                   sandbox=parsed.context.sandbox)
            return plugin.handle_lifecycle(event) or Response(204)
        assert parsed.request is not None
        response = coerce_response(plugin.handle_request(parsed.request))
        if parsed.request.method == "HEAD":
            response.body = b""
        return response

    @staticmethod
    def _error_response(exc: PluginError, request_id: str) -> Response:
        response = Response.error(exc.STATUS_CODE, exc.code, exc.message, request_id=request_id,
                                  details=exc.details)
        if isinstance(exc, MethodNotAllowedError):
            response.headers["Allow"] = ", ".join(exc.allowed)
        return response

    def _error_result(self, exc: PluginError, request_id: str, metrics: list[dict[str, Any]]) -> dict[str, Any]:
        return build_result(self._error_response(exc, request_id), metrics=metrics,
                            error=self._error_summary(exc))

    @staticmethod
    def _error_summary(exc: BaseException) -> dict[str, Any]:
        code = exc.code if isinstance(exc, PluginError) else "plugin_exception"
        return {"code": code, "message": str(exc)[:1000], "exception": type(exc).__name__}

    def _finish(self, invocation: Invocation, response: Response, exc: BaseException | None) -> dict[str, Any]:
        failed = response.status_code >= 500 and exc is not None
        # No webhooks for work that failed: receivers would see events for
        # objects the caller was told were never created.
        webhooks = [] if failed else invocation.outbox
        self._emit_emf(invocation.metrics)
        error = self._error_summary(exc) if exc is not None and response.status_code >= 500 else None
        return build_result(response, webhooks=webhooks, metrics=invocation.metrics, error=error)

    def _emit_emf(self, metrics: list[dict[str, Any]]) -> None:
        if not self.emit_emf or not metrics:
            return
        try:
            from aws_lambda_powertools.metrics import EphemeralMetrics  # only plugins that emit metrics

            emf = EphemeralMetrics(namespace=METRICS_NAMESPACE, service=self.manifest.name)
            for metric in metrics:
                emf.add_metric(name=metric["name"], unit=metric["unit"], value=metric["value"])
            emf.flush_metrics()
        except Exception:  # noqa: BLE001 - losing a metric must not lose the response
            log.exception("could not emit metrics for plugin %s", self.manifest.name)

