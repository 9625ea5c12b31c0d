"""Load a plugin from its folder (``manifest.json`` + the module named by
``runtime.handler``, e.g. ``"plugin:EchoPlugin"``)."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from .errors import ConfigurationError
from .manifest import PluginManifest
from .plugin import Plugin


def load_plugin_dir(path: str | Path) -> tuple[type[Plugin], PluginManifest]:
    directory = Path(path).resolve()
    manifest = PluginManifest.load(directory / "manifest.json")
    handler = manifest.handler or "plugin:Plugin"
    module_name, _, class_name = handler.partition(":")
    if not module_name or not class_name:
        raise ConfigurationError(f"runtime.handler {handler!r} must look like 'module:Class'")
    # The plugin's own helper modules import relative to its folder.
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    module_file = directory / (module_name.replace(".", "/") + ".py")
    if module_file.exists():
        # A unique module name, so two plugins that both ship "plugin.py" can
        # be loaded in one process (tests, dev stack).
        unique = f"mf_plugin_{manifest.name.replace('-', '_')}_{module_name.replace('.', '_')}"
        spec = importlib.util.spec_from_file_location(unique, module_file)
        if spec is None or spec.loader is None:
            raise ConfigurationError(f"cannot load {module_file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    plugin_class = getattr(module, class_name, None)
    if not isinstance(plugin_class, type) or not issubclass(plugin_class, Plugin):
        raise ConfigurationError(f"{handler} is not a mocklib_plugin_sdk.Plugin subclass")
    return plugin_class, manifest
