"""Fidelity of the reference plugins to their vendors' OpenAPI documents.

For every plugin under plugin_functions/ that ships a spec (``spec/spec.json``), runs its own
test suite with the SDK's conformance plugin (``python -m mocklib_plugin_sdk fidelity``): every
answer the tests get is validated against the vendor document's schema for its operation and
status. Writes each plugin's report to ``spec/fidelity.json`` (what the catalog shows for the
platform's own plugins; tests/sdk/test_reference_fidelity.py keeps it equal to a fresh run) and
rewrites its section of docs/BENCHMARKS.md. Naming plugins re-measures only those; the section
still lists every plugin, the others from their stored ``spec/fidelity.json`` (marked so).

    .venv/bin/python bench/fidelity.py [--no-write] [plugin ...]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import write_section  # noqa: E402

PLUGINS = ROOT / "plugin_functions"
HEADING = "Plugin fidelity to the vendors' OpenAPI documents"


def spec_plugins(names: list[str]) -> list[Path]:
    found = sorted(p for p in PLUGINS.iterdir() if (p / "spec" / "spec.json").is_file())
    return [p for p in found if not names or p.name in names]


def figures(report: dict[str, Any]) -> dict[str, Any]:
    """What must not change without the plugin or its tests changing (no timings, no paths)."""
    conf = report.get("conformance") or {}
    return {"plugin_version": report["plugin_version"], "spec_sha256": report["spec"]["sha256"],
            "implemented": report["coverage"]["implemented"], "operations": report["coverage"]["total"],
            "resources": [(r["resource"], r["implemented"], r["total"]) for r in report["coverage"]["resources"]],
            "valid": conf.get("valid"), "answers": conf.get("total")}


def stored_reports(measured: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every spec plugin's report: the fresh ones, the others as their ``spec/fidelity.json`` holds."""
    from mocklib_plugin_sdk.conformance.run import FIDELITY_FILE

    reports = {}
    for project in spec_plugins([]):
        stored = project / "spec" / FIDELITY_FILE
        if project.name in measured:
            reports[project.name] = measured[project.name]
        elif stored.is_file():
            reports[project.name] = json.loads(stored.read_text(encoding="utf-8"))
    return reports


def body(reports: dict[str, dict[str, Any]], seconds: dict[str, float]) -> str:
    """The section; a plugin with no entry in ``seconds`` was not re-run (its stored report)."""
    rows = []

    def took(name: str) -> str:
        return f"{seconds[name]:.1f}" if name in seconds else "not re-run"

    for name, report in reports.items():
        spec, cov, conf = report["spec"], report["coverage"], report["conformance"] or {}
        touched = ", ".join(f"{r['resource']} {r['implemented']}/{r['total']}" for r in cov["resources"][:8])
        more = len(cov["resources"]) - 8
        touched += f", +{more} more" if more > 0 else ""
        apart = []
        if conf.get("outside_spec"):
            apart.append(f"{conf['outside_spec']} outside the spec")
        if conf.get("not_implemented"):
            apart.append(f"{conf['not_implemented']} to unimplemented operations")
        if conf.get("undocumented_errors"):
            apart.append(f"{conf['undocumented_errors']} errors the spec documents none of")
        rows.append(f"| {name} | {spec['title']} {spec['version']} | {cov['implemented']}/{cov['total']} "
                    f"({cov['percent']} %) | {touched} | **{conf.get('valid')}/{conf.get('total')} "
                    f"({conf.get('percent')} %)** | {'; '.join(apart) or '-'} | {took(name)} |")
    notes = []
    stale = [f"{name} {reports[name]['plugin_version']}" for name in reports if name not in seconds]
    if stale:
        notes.append(f"- Not re-run this time, as stored in their `spec/fidelity.json`: {', '.join(stale)}.")
    for name, report in reports.items():
        spec = report["spec"]
        if spec.get("note"):
            notes.append(f"- **{name}**: {spec['note']}.")
        failures = (report["conformance"] or {}).get("failures") or []
        if failures:
            listed = "; ".join(f"`{f['operation']} {f['status']}` x{f['count']}: {f['problem']}" for f in failures[:4])
            notes.append(f"- {name}, answers that do not validate: {listed}")
        if report["coverage"]["outside_spec"]:
            notes.append(f"- {name}, endpoints the spec does not have: "
                         + ", ".join(f"`{e}`" for e in report["coverage"]["outside_spec"]))
    return f"""Command: `.venv/bin/python bench/fidelity.py [plugin ...]` (each plugin's own tests, `--conformance`)

Coverage: the spec's operations the plugin's manifest implements. Conformance: the answers the
plugin's tests got for those operations that are valid against the spec's schema for their
operation and status (`openapi-schema-validator`; `nullable: true` read as the vendors wrote it,
see `mocklib_plugin_sdk.conformance.measure`). The specs are the vendors' own documents,
subsets kept under `plugin_functions/<name>/spec/` (SOURCE.md there: source, version, licence).

| plugin | spec | coverage | resources implemented | conformance | answers counted apart | tests s |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

{chr(10).join(notes)}
"""


def main() -> int:
    from mocklib_plugin_sdk.conformance.run import FIDELITY_FILE, FidelityError, measure_project

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plugins", nargs="*", help="only these plugins (the section lists what was measured)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    reports: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    for project in spec_plugins(args.plugins):
        started = time.monotonic()
        try:
            report = measure_project(project)
        except FidelityError as exc:
            print(f"{project.name}: {exc}", file=sys.stderr)
            return 1
        seconds[project.name] = time.monotonic() - started
        reports[project.name] = report
        print(f"{project.name}: {report['coverage']['implemented']}/{report['coverage']['total']} operations, "
              f"{(report['conformance'] or {}).get('valid')}/{(report['conformance'] or {}).get('total')} answers valid")
        if not args.no_write:
            (project / "spec" / FIDELITY_FILE).write_text(json.dumps(report, indent=1, sort_keys=True) + "\n",
                                                          encoding="utf-8")
    if not args.no_write:
        write_section(HEADING, body(stored_reports(reports), seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
