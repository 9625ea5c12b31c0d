"""`chalice package` of the API and of every plugin, offline: the templates pass cfn-lint,
functions carry the configured memory/timeout and schedules, roles carry only the
generated policies, and the zips ship bytecode and import on their own."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from infra import package as packaging
from tests.deploy.conftest import API_STAGES, REPO, cfn_lint, functions_of, load_template

SCHEDULES = {  # app.py, what the issue requires to be in the packaged template
    "WebhookRetries": "rate(1 minute)",
    "PluginPipeline": "rate(1 minute)",
    "HourlyAggregation": "cron(5 * * * ? *)",
    "Payouts": "cron(0 0 1,15 * ? *)",
    "UsageInvoices": "cron(0 2 1 * ? *)",
    "LedgerCheck": "cron(0 3 * * ? *)",
}
LOGICAL_IDS = {"api_handler": "APIHandler", "webhook_dispatcher": "WebhookDispatcher",
               "submission_checks": "SubmissionChecks", "webhook_retries": "WebhookRetries",
               "hourly_aggregation": "HourlyAggregation", "payouts": "Payouts", "usage_invoices": "UsageInvoices",
               "plugin_pipeline": "PluginPipeline", "ledger_check": "LedgerCheck"}


def _plugins(packages: dict[str, Any]) -> list[dict[str, Any]]:
    found = [e for e in packages.values() if e["plugin"]]
    assert found, "no plugin was packaged"
    return found


def test_every_packaged_template_passes_cfn_lint(packages):
    # No rule is ignored: Chalice's SAM output and the merge templates lint clean (cfn-lint
    # expands the Serverless transform itself).
    result = cfn_lint(*[e["template"] for e in packages.values()])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("stage", API_STAGES)
def test_api_functions_have_the_configured_memory_and_timeout(packages, stage):
    config = json.loads((REPO / ".chalice" / "config.json").read_text())["stages"][stage]["lambda_functions"]
    functions = functions_of(load_template(packages[f"api/{stage}"]))
    assert set(functions) == {LOGICAL_IDS[name] for name in config}, "every function needs explicit memory/timeout"
    for name, limits in config.items():
        function = functions[LOGICAL_IDS[name]]
        assert (function["MemorySize"], function["Timeout"]) == \
            (limits["lambda_memory_size"], limits["lambda_timeout"]), name


@pytest.mark.parametrize("stage", API_STAGES)
def test_the_rest_api_passes_every_body_as_binary(packages, stage):
    """binaryMediaTypes */*: API Gateway hands the gateway exact bytes and returns the plugin's."""
    template = load_template(packages[f"api/{stage}"])
    apis = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Api"]
    assert len(apis) == 1
    assert apis[0]["Properties"]["DefinitionBody"]["x-amazon-apigateway-binary-media-types"] == ["*/*"]


@pytest.mark.parametrize("stage", API_STAGES)
def test_api_gateways_own_answers_have_the_apis_error_shape(packages, stage):
    """A path no route matches is a 404 route_not_found, as on the local server; API Gateway's
    other refusals (throttling, payload too large, timeouts) keep their status in the same shape."""
    template = load_template(packages[f"api/{stage}"])
    (api,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Api"]
    responses = api["Properties"]["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["statusCode"] == 404
    for kind, response in responses.items():
        rendered = (response["responseTemplates"]["application/json"]
                    .replace("$context.error.messageString", '"Too Many Requests"')
                    .replace("$context.requestId", "r-1").replace("$context.httpMethod", "GET")
                    .replace("$context.path", "/nowhere"))
        body = json.loads(rendered)
        assert set(body) == {"code", "message", "request_id"}, kind
        assert response["responseParameters"] == {"gatewayresponse.header.X-Request-Id": "context.requestId"}
    assert json.loads(responses["MISSING_AUTHENTICATION_TOKEN"]["responseTemplates"]["application/json"]
                      .replace("$context.", ""))["code"] == "route_not_found"


@pytest.mark.parametrize("stage", API_STAGES)
def test_api_template_has_the_schedules(packages, stage):
    functions = functions_of(load_template(packages[f"api/{stage}"]))
    found = {name: event["Properties"]["Schedule"] for name, f in functions.items()
             for event in f.get("Events", {}).values() if event["Type"] == "Schedule"}
    assert found == SCHEDULES


@pytest.mark.parametrize("stage", API_STAGES)
def test_api_role_has_only_the_committed_policy(packages, stage):
    template = load_template(packages[f"api/{stage}"])
    roles = {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == "AWS::IAM::Role"}
    functions = functions_of(template)
    # With autogen_policy off Chalice gives each function its own role, all with the committed policy
    # but the checks function's, which runs submitted code: its own (tests/deploy/test_boundary.py).
    assert {f["Role"]["Fn::GetAtt"][0] for f in functions.values()} == set(roles)
    committed = json.loads((REPO / ".chalice" / f"policy-{stage}.json").read_text())
    checks = json.loads((REPO / ".chalice" / f"policy-checks-{stage}.json").read_text())
    for logical, function in functions.items():
        name = function["Role"]["Fn::GetAtt"][0]
        expected = checks if logical == "SubmissionChecks" else committed
        assert [p["PolicyDocument"] for p in roles[name]["Policies"]] == [expected], f"{name}: autogen_policy stays off"
        assert "ManagedPolicyArns" not in roles[name]
    environment = functions["APIHandler"]["Environment"]["Variables"]
    assert environment["MF_STAGE"] == stage
    assert environment["MF_JWT_KEYS_SECRET"] == f"mf/{stage}/jwt-keys"
    assert "MF_JWT_KEYS" not in environment


def test_each_plugin_function_has_its_manifests_memory_timeout_and_own_role(packages):
    for entry in _plugins(packages):
        manifest = json.loads((Path(entry["directory"]) / "chalicelib" / "manifest.json").read_text())
        template = load_template(entry)
        functions = functions_of(template)
        assert list(functions) == ["Handler"], entry["name"]
        function = functions["Handler"]
        runtime = manifest["runtime"]
        assert function["MemorySize"] == runtime["memory_limit_mb"], entry["name"]
        assert function["Timeout"] == runtime["timeout_seconds"], entry["name"]
        major = manifest["version"].split(".")[0]
        assert function["FunctionName"] == f"mf-plugin-{entry['name']}-v{major}-{entry['stage']}-handler"
        roles = [v for v in template["Resources"].values() if v["Type"] == "AWS::IAM::Role"]
        assert len(roles) == 1
        generated = json.loads((Path(entry["directory"]) / ".chalice" / f"policy-{entry['stage']}.json").read_text())
        assert [p["PolicyDocument"] for p in roles[0]["Properties"]["Policies"]] == [generated]
        for statement in generated["Statement"]:
            if statement["Action"][0].startswith("dynamodb:"):
                assert statement["Condition"] == {
                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{entry['name']}#*"]}}


def test_every_zip_ships_bytecode_for_every_module_and_no_botocore(packages):
    for entry in packages.values():
        if not entry["optimized"]:
            continue
        with zipfile.ZipFile(entry["zip"]) as archive:
            names = set(archive.namelist())
        sources = {n for n in names if n.endswith(".py")}
        missing = [s for s in sources if packaging._pyc_name(s) not in names]
        assert not missing, f"{entry['name']}: no .pyc for {missing[:5]}"
        assert not any(n.startswith("botocore/") for n in names), entry["name"]
        assert "app.py" in names and "mocklib_plugin_sdk/__init__.py" in names


def test_the_api_ships_what_the_submission_checks_run(packages):
    """submission_checks runs a package's tests and bandit from the API's own zip (/var/task)."""
    with zipfile.ZipFile(packages["api/prod"]["zip"]) as archive:
        names = set(archive.namelist())
    for module in ("pytest/__init__.py", "_pytest/main.py", "bandit/__init__.py", "bandit/__main__.py",
                   "mocklib_plugin_sdk/checks.py", "mocklib_plugin_sdk/testing.py"):
        assert module in names, module


def test_bytecode_is_unchecked_hash_for_python_311(packages):
    import importlib.util

    with zipfile.ZipFile(packages["api/prod"]["zip"]) as archive:
        pyc = archive.read("__pycache__/app.cpython-311.pyc")
        source = archive.read("app.py")
    assert pyc[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(pyc[4:8], "little") == 0b01  # hash-based, not checked against the source
    assert pyc[8:16] == importlib.util.source_hash(source)


def _runtime_standin(directory: Path) -> Path:
    # What the Lambda runtime adds after /var/task: boto3 and its botocore.
    import botocore

    site = Path(botocore.__file__).resolve().parent.parent
    directory.mkdir()
    for name in ("boto3", "botocore", "s3transfer"):
        (directory / name).symlink_to(site / name)
    return directory


@pytest.mark.parametrize("project", ["api", "echo"])
def test_the_packaged_handler_imports_from_its_zip_alone(packages, project, tmp_path: Path):
    entry = packages[f"{project}/prod"]
    task = tmp_path / "task"
    with zipfile.ZipFile(entry["zip"]) as archive:
        archive.extractall(task)
    runtime = _runtime_standin(tmp_path / "runtime")
    handler = "app.app" if project == "api" else "app.handler"
    script = f"import app, sys; assert callable({handler}); print(app.__cached__ or '')"
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": f"{task}{os.pathsep}{runtime}",
           "PYTHONDONTWRITEBYTECODE": "1", "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run([sys.executable, "-S", "-c", script], cwd=task, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
