"""Each plugin is its own Lambda: generated Chalice configs are current, and `chalice
package` really produces a function with the manifest's memory and timeout.

`chalice package` runs offline: pip reads the pinned wheels for Lambda's platform from the
bootstrap's wheel cache (.tools/wheels, see infra/package.py), and Chalice keeps its own
dependency zip in plugin_functions/<name>/.chalice/deployments/ (keyed on requirements.txt +
vendor/; gitignored).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from infra import plugin_config
from infra.package import packaging_env

REPO = Path(__file__).resolve().parents[2]
ECHO = REPO / "plugin_functions" / "echo"
STAGE = "prod"
CHALICE = [sys.executable, "-c", "import sys; from chalice.cli import main; sys.exit(main())"]
COPY_IGNORE = shutil.ignore_patterns("vendor", "deployments", "out", "__pycache__", "*.pyc", ".pytest_cache")


def generator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "infra.plugin_config", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def read_manifest(plugin_dir: Path) -> dict[str, Any]:
    return json.loads((plugin_dir / "chalicelib" / "manifest.json").read_text())


# -- the generator ---------------------------------------------------------------------

def test_generated_plugin_configs_are_current():
    result = generator("--check")
    assert result.returncode == 0, (
        "generated plugin files are stale; run `python -m infra.plugin_config` and commit them\n" + result.stderr)


@pytest.fixture
def plugin_copy(tmp_path: Path) -> Path:
    root = tmp_path / "plugin_functions"
    shutil.copytree(ECHO, root / "echo", ignore=COPY_IGNORE)
    return root


def test_check_detects_a_manifest_that_no_longer_matches_the_config(plugin_copy: Path):
    assert generator("--check", "--root", str(plugin_copy)).returncode == 0

    manifest_path = plugin_copy / "echo" / "chalicelib" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["runtime"]["memory_limit_mb"] = manifest["runtime"]["memory_limit_mb"] + 128
    manifest_path.write_text(json.dumps(manifest, indent=2))

    stale = generator("--check", "--root", str(plugin_copy))
    assert stale.returncode == 1
    assert "echo: stale .chalice/config.json" in stale.stderr
    assert "policy" not in stale.stderr  # only what actually changed is listed

    # Regenerating fixes it, and carries the new memory into the config.
    assert generator("--root", str(plugin_copy), "--no-vendor").returncode == 0
    assert generator("--check", "--root", str(plugin_copy)).returncode == 0
    config = json.loads((plugin_copy / "echo" / ".chalice" / "config.json").read_text())
    for stage in plugin_config.STAGES:
        handler = config["stages"][stage]["lambda_functions"]["handler"]
        assert handler["lambda_memory_size"] == manifest["runtime"]["memory_limit_mb"]


def test_check_detects_hand_edits_and_missing_files(plugin_copy: Path):
    config_path = plugin_copy / "echo" / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config["stages"]["prod"]["lambda_functions"]["handler"]["lambda_timeout"] = 900
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    (plugin_copy / "echo" / "requirements.txt").unlink()

    stale = generator("--check", "--root", str(plugin_copy))

    assert stale.returncode == 1
    assert ".chalice/config.json" in stale.stderr and "requirements.txt" in stale.stderr


def test_a_major_version_bump_needs_app_py_to_follow(plugin_copy: Path):
    manifest_path = plugin_copy / "echo" / "chalicelib" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["version"] = "2.0.0"
    manifest_path.write_text(json.dumps(manifest))

    # The config is regenerated, but app.py (hand-written) still says v1: both modes fail.
    written = generator("--root", str(plugin_copy), "--no-vendor")
    assert written.returncode == 1
    assert "Chalice(app_name='mf-plugin-echo-v2')" in written.stderr
    assert json.loads((plugin_copy / "echo" / ".chalice" / "config.json").read_text())["app_name"] == \
        "mf-plugin-echo-v2"
    assert generator("--check", "--root", str(plugin_copy)).returncode == 1


def test_policy_is_least_privilege():
    project = plugin_config.load_project(ECHO)
    policy = plugin_config.iam_policy(project, "prod")
    actions = sorted(a for s in policy["Statement"] for a in s["Action"])
    assert actions == sorted(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                              "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query"])
    state = next(s for s in policy["Statement"] if s["Sid"] == "OwnPluginState")
    assert state["Resource"] == "arn:aws:dynamodb:*:*:table/mf-prod-plugin-state"
    assert state["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["echo#*"]}}
    logs = next(s for s in policy["Statement"] if s["Sid"] == "OwnLogGroup")
    assert all("/aws/lambda/mf-plugin-echo-v1-prod-handler" in r for r in logs["Resource"])

    # A plugin that declares no storage gets no DynamoDB access at all; read-only gets reads.
    no_storage = plugin_config.iam_policy(
        plugin_config.PluginProject(**{**project.__dict__, "services": frozenset({"logger"})}), "prod")
    assert [s["Sid"] for s in no_storage["Statement"]] == ["OwnLogGroup"]
    read_only = plugin_config.iam_policy(
        plugin_config.PluginProject(**{**project.__dict__, "permissions": frozenset({"storage:read"})}), "prod")
    assert read_only["Statement"][1]["Action"] == ["dynamodb:GetItem", "dynamodb:Query"]


# -- chalice package -------------------------------------------------------------------

def _chalice_dependency_zip(plugin_dir: Path) -> Path:
    """The cache file name Chalice 1.34 gives the dependency zip (LambdaDeploymentPackager):
    md5 of requirements.txt then every vendor/ file in os.walk order, plus the Python version."""
    digest = hashlib.md5((plugin_dir / "requirements.txt").read_bytes())
    for root, _, files in os.walk(plugin_dir / "vendor", followlinks=True):
        for name in files:
            digest.update(Path(root, name).read_bytes())
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return plugin_dir / ".chalice" / "deployments" / f"{digest.hexdigest()}-python{version}.zip"


def _prune_chalice_cache(plugin_dir: Path) -> None:
    # Chalice never deletes old dependency zips (~19 MB each, one per SDK edit).
    current = _chalice_dependency_zip(plugin_dir)
    if current.is_file():  # only when we know which one is current
        for old in current.parent.glob("*.zip"):
            if old != current:
                old.unlink()


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    plugin_config.vendor_sdk(ECHO)  # vendor/ is not committed; refresh it like the generator does
    out = tmp_path_factory.mktemp("chalice-package") / "out"
    env = packaging_env()  # offline: pip reads the bootstrap's wheel cache (.tools/wheels), no index
    command = [*CHALICE, "package", "--pkg-format", "cloudformation", "--stage", STAGE,
               "--merge-template", f".chalice/merge-template-{STAGE}.json", str(out)]
    started = time.monotonic()
    result = subprocess.run(command, cwd=ECHO, env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, f"chalice package failed:\n{result.stdout}\n{result.stderr}"
    _prune_chalice_cache(ECHO)
    print(f"\nchalice package (echo, {STAGE}) took {elapsed:.1f} s")
    return {"template": json.loads((out / "sam.json").read_text()), "zip": out / "deployment.zip",
            "seconds": elapsed}


def _function(template: dict[str, Any]) -> dict[str, Any]:
    functions = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    assert list(functions) == ["Handler"], "a plugin project deploys exactly one function, `handler`"
    return functions["Handler"]["Properties"]


def test_packaged_function_has_the_manifests_memory_and_timeout(packaged, record_property):
    record_property("chalice_package_seconds", round(packaged["seconds"], 1))
    runtime = read_manifest(ECHO)["runtime"]
    function = _function(packaged["template"])

    assert function["MemorySize"] == runtime["memory_limit_mb"]
    assert function["Timeout"] == runtime["timeout_seconds"]
    assert function["Handler"] == "app.handler"
    assert function["Runtime"] == f"python{runtime['version']}", \
        "chalice uses the running interpreter's version; package with the manifest's Python"
    # The name the gateway invokes (MF_PLUGIN_FUNCTION_TEMPLATE) and the policy's log group expect.
    assert function["FunctionName"] == f"mf-plugin-echo-v1-{STAGE}-handler"
    assert function["Environment"]["Variables"] == {"MF_PLUGIN_STATE_TABLE": f"mf-{STAGE}-plugin-state"}


def test_packaged_role_uses_only_the_generated_policy(packaged):
    roles = [v for v in packaged["template"]["Resources"].values() if v["Type"] == "AWS::IAM::Role"]
    assert len(roles) == 1
    policies = roles[0]["Properties"]["Policies"]
    generated = json.loads((ECHO / ".chalice" / f"policy-{STAGE}.json").read_text())
    assert [p["PolicyDocument"] for p in policies] == [generated]
    assert "ManagedPolicyArns" not in roles[0]["Properties"]


def test_package_ships_app_chalicelib_vendored_sdk_and_pinned_deps(packaged):
    with zipfile.ZipFile(packaged["zip"]) as archive:
        names = set(archive.namelist())
        assert {"app.py", "chalicelib/plugin.py", "chalicelib/manifest.json",
                "mocklib_plugin_sdk/__init__.py"} <= names
        sdk_host = (plugin_config.SDK_PACKAGE / "host.py").read_bytes()
        assert archive.read("mocklib_plugin_sdk/host.py") == sdk_host
    tops = {n.split("/", 1)[0] for n in names}
    assert {"pynamodb", "aws_lambda_powertools", "jsonschema", "pynamodb-6.1.0.dist-info",
            "aws_lambda_powertools-3.37.0.dist-info", "jsonschema-4.26.0.dist-info"} <= tops
    assert not any(n.startswith("tests/") or n.endswith(".pyc") for n in names)


def test_packaged_zip_answers_the_protocol_on_its_own(packaged, tmp_path: Path):
    # Unzipped and run with no site-packages: only what the Lambda would have.
    with zipfile.ZipFile(packaged["zip"]) as archive:
        archive.extractall(tmp_path)
    script = (
        "import json, app\n"
        "from mocklib_plugin_sdk.protocol import make_health_event, make_request_event\n"
        "health = app.handler(make_health_event('echo'), None)\n"
        "miss = app.handler(make_request_event('GET', '/nope', plugin='echo', user_id='u'), None)\n"
        "other = app.handler(make_health_event('stripe'), None)\n"
        "print(json.dumps([health['status'], miss['status'], other['error']['code']]))\n")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1",
           "POWERTOOLS_METRICS_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run([sys.executable, "-S", "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [200, 404, "plugin_mismatch"]
