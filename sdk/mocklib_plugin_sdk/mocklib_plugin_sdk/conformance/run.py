"""Measure a plugin project's fidelity: its own tests, run with the conformance plugin.

``measure_project(project)`` runs ``python -m pytest tests`` in the project with
``--conformance-report`` and returns the project's fidelity report (``measured_by: "tests"``);
``python -m mocklib_plugin_sdk fidelity DIR --write`` stores it as ``spec/fidelity.json``, the
figure a plugin whose tests cannot run in the publishing checks (the marketplace's own reference
plugins, whose suites need the marketplace) ships with its package.
"""
from __future__ import annotations

import json
import os
import subprocess  # nosec B404 - runs the developer's own tests, as the developer
import sys
import tempfile
from pathlib import Path
from typing import Any

from .spec import SpecError, find_declaration

FIDELITY_FILE = "fidelity.json"
PLUGIN_ARG = "mocklib_plugin_sdk.conformance.pytest_plugin"


class FidelityError(Exception):
    pass


def measure_project(project: Path, *, timeout_s: int = 600) -> dict[str, Any]:
    project = Path(project).resolve()
    try:
        if find_declaration(project) is None:
            raise FidelityError(f"{project} ships no spec/spec.json")
    except SpecError as exc:
        raise FidelityError(str(exc)) from exc
    manifest = json.loads((project / "chalicelib" / "manifest.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="mf-fidelity-") as tmp:
        out = Path(tmp) / "fidelity.json"
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", PLUGIN_ARG,
                "--conformance-report", str(out), "tests"]
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        done = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True,  # nosec B603
                              timeout=timeout_s, check=False)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr)[-3000:]
            raise FidelityError(f"the tests of {project.name} failed (exit {done.returncode}):\n{tail}")
        try:
            reports = json.loads(out.read_text(encoding="utf-8"))["plugins"]
        except (OSError, ValueError, KeyError) as exc:
            raise FidelityError(f"the tests of {project.name} wrote no fidelity report ({exc})") from exc
    report = reports.get(manifest["name"])
    if report is None:
        raise FidelityError(f"the tests of {project.name} never called the plugin")
    if "error" in report:
        raise FidelityError(str(report["error"]))
    return dict(report)


MAX_ANSWERS = 20_000
MAX_ANSWERS_BYTES = 64 * 1024 * 1024
CHECKS_MEASURED = "the publishing checks (the plugin's tests, each answer validated by the checks)"
DECLARED_MEASURED = "the developer's run of the plugin's tests (spec/fidelity.json; not re-run by the checks)"


def checks_fidelity(project: Path, answers: Path | None) -> dict[str, Any] | None:
    """The publishing checks' fidelity figure of a project (None: it ships no spec).

    ``answers``: the JSON lines the conformance plugin wrote while the checks ran the project's
    tests (written by untrusted code: read bounded, each record checked, validated here). When
    the tests did not run there, the package's ``spec/fidelity.json`` gives the conformance,
    labelled as the developer's; coverage is always computed here from the manifest and the spec.
    """
    from .measure import ResponseRecord, clean_report, measure

    project = Path(project)
    try:
        if find_declaration(project) is None:
            return None
        if answers is not None:
            records = []
            if answers.is_file() and answers.stat().st_size <= MAX_ANSWERS_BYTES:
                with answers.open(encoding="utf-8", errors="replace") as lines:
                    for number, line in enumerate(lines):
                        if number >= MAX_ANSWERS:
                            break
                        try:
                            records.append(ResponseRecord.from_dict(json.loads(line)))
                        except (ValueError, TypeError, AttributeError):
                            continue
            return measure(project, records, measured_by=CHECKS_MEASURED)
        report = measure(project, None)
        shipped = project / "spec" / FIDELITY_FILE
        if shipped.is_file() and shipped.stat().st_size <= 1024 * 1024:
            declared = clean_report(json.loads(shipped.read_text(encoding="utf-8")))
            if declared is not None and declared["conformance"] is not None:
                report["conformance"] = declared["conformance"]
                report["measured_by"] = DECLARED_MEASURED
        return report
    except (SpecError, OSError, ValueError) as exc:
        return {"error": f"the fidelity could not be measured: {exc}"[:500]}
