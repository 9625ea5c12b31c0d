"""The conformance pytest plugin: every answer a plugin's tests get, checked against its vendor's spec.

Loaded wherever the SDK is installed (its ``pytest11`` entry point), inert until asked:

    pytest --conformance                         # print each plugin's fidelity at the end
    pytest --conformance-report fidelity.json    # ... and write the reports ({"plugins": {name: report}})
    pytest --conformance-min 95                  # fail the run when a plugin's conformance is below 95 %
    pytest --conformance-records answers.jsonl   # the raw answers (what the publishing checks read)

The SDK's ``call`` fixture records every answer it returns; anything else that produces answers
(a test driving the plugin through a gateway) records them with the ``conformance`` fixture:
``conformance.record(plugin_dir, method, path, status, headers, body)``. A test may also
assert on one answer: ``assert conformance.check(plugin_dir, "GET", path, result).valid``.
Under pytest-xdist each worker records its own answers and the controller adds them up.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping

import pytest

from .measure import ResponseRecord, ResponseValidator, Verdict, format_fidelity, measure
from .spec import OpenApiSpec, SpecError, find_declaration

RECORDER_KEY = pytest.StashKey["Recorder"]()
WORKER_OUTPUT = "mocklib_conformance"
MAX_RECORDS = 50_000


class Recorder:
    """The answers of one test session, per plugin project."""

    def __init__(self, active: bool) -> None:
        self.active = active
        self.records: dict[str, list[ResponseRecord]] = defaultdict(list)
        self._validators: dict[str, ResponseValidator] = {}

    def record(self, plugin_dir: Path | str, method: str, path: str, status: int,
               headers: Mapping[str, str], body: bytes) -> None:
        if not self.active:
            return
        bucket = self.records[str(Path(plugin_dir).resolve())]
        if len(bucket) < MAX_RECORDS:
            bucket.append(ResponseRecord.of(method, path, status, headers, body))

    def check(self, plugin_dir: Path | str, method: str, path: str, result: Any) -> Verdict:
        """One answer (anything with ``status``, ``headers`` and ``body``) against the plugin's spec."""
        key = str(Path(plugin_dir).resolve())
        validator = self._validators.get(key)
        if validator is None:
            validator = self._validators[key] = ResponseValidator(OpenApiSpec.load(Path(key)))
        return validator.check(ResponseRecord.of(method, path, result.status, result.headers, result.body))

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        return {key: [r.to_dict() for r in records] for key, records in self.records.items()}

    def load(self, dumped: Mapping[str, Any]) -> None:
        for key, records in dumped.items():
            self.records[key].extend(ResponseRecord.from_dict(r) for r in records)

    def reports(self) -> dict[str, dict[str, Any]]:
        """The fidelity report of every plugin that answered and ships a spec, by plugin name."""
        reports: dict[str, dict[str, Any]] = {}
        for key in sorted(self.records):
            project = Path(key)
            try:
                if find_declaration(project) is None:
                    continue
                report = measure(project, self.records[key])
            except (SpecError, OSError, ValueError) as exc:
                report = {"plugin": project.name, "error": str(exc)}
            reports[str(report.get("plugin") or project.name)] = report
        return reports


def recorder_of(config: pytest.Config) -> Recorder | None:
    return config.stash.get(RECORDER_KEY, None)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mocklib-conformance", "plugin answers checked against the vendor's OpenAPI document")
    group.addoption("--conformance", action="store_true", default=False,
                    help="check every recorded plugin answer against its spec/ and print the fidelity")
    group.addoption("--conformance-report", metavar="PATH", default=None,
                    help="write the fidelity reports as JSON (implies --conformance)")
    group.addoption("--conformance-records", metavar="PATH", default=None,
                    help="write every recorded answer as JSON lines (implies --conformance)")
    group.addoption("--conformance-min", metavar="PERCENT", type=float, default=None,
                    help="fail when a plugin's conformance is below PERCENT (implies --conformance)")


def _wanted(config: pytest.Config) -> bool:
    options = ("conformance", "conformance_report", "conformance_records", "conformance_min")
    return any(config.getoption(name, default=None) not in (None, False) for name in options)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RECORDER_KEY] = Recorder(active=_wanted(config))


@pytest.fixture
def conformance(request: pytest.FixtureRequest) -> Recorder:
    """The session's recorder (recording only when the run asked for conformance)."""
    found = recorder_of(request.config)
    return found if found is not None else Recorder(active=False)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist, on the controller: a worker's answers."""
    recorder = recorder_of(node.config)
    output = getattr(node, "workeroutput", {}) or {}
    if recorder is not None and recorder.active and WORKER_OUTPUT in output:
        recorder.load(json.loads(output[WORKER_OUTPUT]))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    recorder = recorder_of(config)
    if recorder is None or not recorder.active:
        return
    if _is_worker(config):
        config.workeroutput[WORKER_OUTPUT] = json.dumps(recorder.dump())  # type: ignore[attr-defined]
        return
    records_path = config.getoption("conformance_records")
    if records_path:
        with open(records_path, "w", encoding="utf-8") as out:
            for key, records in recorder.records.items():
                for record in records:
                    out.write(json.dumps({"project": key, **record.to_dict()}) + "\n")
    if not any(config.getoption(name) not in (None, False)
               for name in ("conformance", "conformance_report", "conformance_min")):
        return  # only the answers were asked for (the publishing checks validate them themselves)
    reports = recorder.reports()
    config.stash[_REPORTS_KEY] = reports
    report_path = config.getoption("conformance_report")
    if report_path:
        Path(report_path).write_text(json.dumps({"plugins": reports}, indent=1, sort_keys=True) + "\n",
                                     encoding="utf-8")
    minimum = config.getoption("conformance_min")
    if minimum is not None and any(_below(report, minimum) for report in reports.values()):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_REPORTS_KEY = pytest.StashKey[dict[str, dict[str, Any]]]()


def _below(report: Mapping[str, Any], minimum: float) -> bool:
    percent = (report.get("conformance") or {}).get("percent")
    return "error" in report or percent is None or percent < minimum


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    reports = config.stash.get(_REPORTS_KEY, None)
    if not reports:
        return
    terminalreporter.section("plugin fidelity (conformance to the vendor's OpenAPI document)")
    for report in reports.values():
        if "error" in report:
            terminalreporter.write_line(f"{report['plugin']}: not measured: {report['error']}")
        else:
            terminalreporter.write_line(format_fidelity(report))
    minimum = config.getoption("conformance_min")
    if minimum is not None:
        below = [name for name, report in reports.items() if _below(report, minimum)]
        if below:
            terminalreporter.write_line(f"conformance below {minimum} %: {', '.join(below)}", red=True)
