"""The fidelity figures the catalog shows for the platform's own plugins are what their tests measure.

``plugin_functions/<name>/spec/fidelity.json`` is written by ``bench/fidelity.py`` (each plugin's
own suite with the SDK's conformance plugin); the catalog reads it for first-party plugins. This
runs every suite again, in one pytest process, and compares the figures plugin by plugin (one
test each, so ``-k`` can pick one while another plugin is being reworked).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.fidelity import figures, spec_plugins
from tests.sdk.support import REPO_ROOT

PLUGIN_ARG = "mocklib_plugin_sdk.conformance.pytest_plugin"
PROJECTS = [p for p in spec_plugins([]) if (p / "spec" / "fidelity.json").is_file()]


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> dict[str, Any]:
    """One run of the selected plugins' suites (only those the collected tests ask for)."""
    wanted = {item.callspec.params["project"].name for item in request.session.items
              if item.module is request.module and hasattr(item, "callspec")}
    projects = [p for p in PROJECTS if p.name in wanted]
    out = tmp_path_factory.mktemp("fidelity") / "fidelity.json"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", PLUGIN_ARG,
                          "--conformance-report", str(out), *(str(p.relative_to(REPO_ROOT)) for p in projects)],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=540, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return dict(json.loads(out.read_text())["plugins"])


def test_every_reference_plugin_with_a_vendor_spec_has_its_fidelity_committed() -> None:
    assert {p.name for p in PROJECTS} >= {"twilio", "sendgrid", "datadog", "github", "stripe"}


@pytest.mark.parametrize("project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_the_committed_fidelity_of_the_reference_plugin_is_what_its_tests_measure_now(
        project: Path, measured: dict[str, Any]) -> None:
    committed = json.loads((project / "spec" / "fidelity.json").read_text())
    fresh = measured[committed["plugin"]]
    assert figures(committed) == figures(fresh), (
        f"stale fidelity figures of {project.name}; run `.venv/bin/python bench/fidelity.py {project.name}`")
