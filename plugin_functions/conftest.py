"""Plugin test fixtures (plugin_testing.py) for ``pytest plugin_functions`` from the repo root."""
import importlib.util
import sys
from pathlib import Path

_NAME = "_mf_plugin_testing"  # loaded by path: plugin_functions/ is never put on sys.path
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).resolve().parent / "plugin_testing.py")
    sys.modules[_NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_NAME])
from _mf_plugin_testing import call, gateway, host, manifest, plugin_dir, store  # noqa: E402,F401
