"""``make_lambda_handler``: the plugin's Lambda entry point.

In a plugin's function (``plugin_functions/<name>/app.py``)::

    from mocklib_plugin_sdk import make_lambda_handler
    from plugin import StripePlugin  # the plugin's own module, shipped with its function
    handler = make_lambda_handler(StripePlugin, "manifest.json")
"""
from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .errors import PluginError
from .host import PluginHost
from .http import Response
from .manifest import PluginManifest
from .plugin import Plugin
from .protocol import build_result
from .state import StateStore

LambdaHandler = Callable[[Any, Any], dict[str, Any]]


def make_lambda_handler(plugin_class: type[Plugin],
                        manifest_path: str | Path | Mapping[str, Any] | PluginManifest = "manifest.json", *,
                        store: StateStore | Callable[[], StateStore] | None = None,
                        emit_emf: bool = True) -> LambdaHandler:
    """Return ``handler(event, context)`` implementing docs/PLUGIN_PROTOCOL.md.

    Nothing happens at import time (no env reads, no clients): the host is
    built on the first invocation and reused while the container is warm.
    A relative manifest path is tried from the working directory, then next
    to the module defining ``plugin_class``.
    """
    try:
        module_dir: Path | None = Path(inspect.getfile(plugin_class)).resolve().parent
    except (TypeError, OSError):
        module_dir = None
    host: PluginHost | None = None
    lock = threading.Lock()

    def get_host() -> PluginHost:
        nonlocal host
        with lock:
            if host is None:
                manifest = PluginManifest.load(manifest_path, relative_to=module_dir)
                host = PluginHost(plugin_class, manifest, store=store, emit_emf=emit_emf)
            return host

    def handler(event: Any, context: Any = None) -> dict[str, Any]:
        try:
            current = get_host()
        except PluginError as exc:
            # A broken deployment still answers with a protocol result, so the
            # gateway reports a clear 500 instead of an opaque Lambda error.
            return build_result(Response.error(500, exc.code, exc.message),
                                error={"code": exc.code, "message": exc.message, "exception": type(exc).__name__})
        return current.invoke(event)

    handler.get_host = get_host  # type: ignore[attr-defined]
    return handler
