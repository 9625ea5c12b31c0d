"""The fidelity figures the catalog shows for the platform's own plugins are what their tests measure.

``plugin_functions/<name>/spec/fidelity.json`` is written by ``bench/fidelity.py`` (each plugin's
own suite with the SDK's conformance plugin); the catalog reads it for first-party plugins. This
runs every suite again, in one pytest process, and compares the figures.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.fidelity import figures, spec_plugins
from tests.sdk.support import REPO_ROOT

PLUGIN_ARG = "mocklib_plugin_sdk.conformance.pytest_plugin"


def test_the_committed_fidelity_of_each_reference_plugin_is_what_its_tests_measure_now(tmp_path: Path) -> None:
    projects = [p for p in spec_plugins([]) if (p / "spec" / "fidelity.json").is_file()]
    assert {p.name for p in projects} >= {"twilio", "sendgrid", "datadog", "github"}
    out = tmp_path / "fidelity.json"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", PLUGIN_ARG,
                          "--conformance-report", str(out), *(str(p.relative_to(REPO_ROOT)) for p in projects)],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=540, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    measured = json.loads(out.read_text())["plugins"]

    stale = []
    for project in projects:
        committed = json.loads((project / "spec" / "fidelity.json").read_text())
        if figures(committed) != figures(measured[committed["plugin"]]):
            stale.append(f"{project.name}: committed {figures(committed)}, measured {figures(measured[committed['plugin']])}")
    assert not stale, "stale fidelity figures; run `.venv/bin/python bench/fidelity.py`:\n" + "\n".join(stale)

