"""Package everything once per test run, offline, shared by pytest-xdist workers.

`chalice package` of the API (dev, prod) and of every plugin (prod), through
``infra.package`` (offline pip from .tools/wheels, bytecode, no botocore). Under xdist
every worker has its own session: the first to take the lock packages into the run's
shared temp folder and writes an index; the others wait and read it.
"""
from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra import package as packaging

REPO = Path(__file__).resolve().parents[2]
API_STAGES = ("dev", "prod")
PLUGIN_STAGE = "prod"


def _package_everything(out: Path) -> dict[str, Any]:
    env = packaging.packaging_env()
    index: dict[str, Any] = {}
    api = packaging.projects(["api"])
    plugins = [p for p in packaging.projects() if p.is_plugin]
    from concurrent.futures import ThreadPoolExecutor

    # Two lanes (2 cores): the API's stages in turn (they share its dependency cache) beside the plugins.
    def api_lane() -> list[packaging.Packaged]:
        # The Chalice zip does not depend on the stage: bytecode is added (and checked) once.
        return [packaging.package(api[0], stage, out, env, optimize=stage == "prod") for stage in API_STAGES]

    def plugin_lane() -> list[packaging.Packaged]:
        return [packaging.package(p, PLUGIN_STAGE, out, env) for p in plugins]

    with ThreadPoolExecutor(max_workers=2) as pool:
        lanes = [pool.submit(api_lane), pool.submit(plugin_lane)]
        done = [p for lane in lanes for p in lane.result()]
    for p in done:
        index[f"{p.project.name}/{p.stage}"] = {
            "name": p.project.name, "stage": p.stage, "plugin": p.project.is_plugin,
            "directory": str(p.project.directory), "template": str(p.template), "zip": str(p.zip),
            "seconds": round(p.seconds, 1), "optimized": p.report.pycs > 0,
            "zip_bytes": p.report.bytes_after, "chalice_zip_bytes": p.report.bytes_before,
        }
    return index


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> dict[str, Any]:
    if worker_id == "master":
        shared = tmp_path_factory.getbasetemp()
    else:
        shared = tmp_path_factory.getbasetemp().parent  # the same folder for every worker of this run
    index_file = shared / "mf-packages.json"
    with open(shared / "mf-packages.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if index_file.is_file():
                return json.loads(index_file.read_text())
            index = _package_everything(shared / "mf-packages")
            index_file.write_text(json.dumps(index, indent=2))
            return index
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load_template(entry: dict[str, Any]) -> dict[str, Any]:
    return json.loads(Path(entry["template"]).read_text())


def functions_of(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def cfn_lint(*paths: Path | str, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """cfn-lint with its default rules (errors and warnings; informational checks off)."""
    command = [str(Path(sys.executable).with_name("cfn-lint")), "--format", "parseable", *extra, "--", *map(str, paths)]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
