"""Plugin test fixtures (plugin_functions/plugin_testing.py), so ``pytest`` also runs from
inside this plugin's folder (pytest looks for conftest.py files only up to its rootdir)."""
import importlib.util
import sys
from pathlib import Path

_NAME = "_mf_plugin_testing"  # loaded by path: plugin_functions/ is never put on sys.path
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).resolve().parents[2] / "plugin_testing.py")
    sys.modules[_NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_NAME])
from _mf_plugin_testing import call, gateway, host, manifest, plugin_dir, store  # noqa: E402,F401
