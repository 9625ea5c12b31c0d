"""The whole API fuzzed against its own OpenAPI document on a real dev stack: the plugin gateway
with a user's API key, the rest as that user and as an admin: every operation, a fixed seed and example
count, schemathesis' stateful phase following the document's links. Any 5xx, any answer the
document does not describe (status, media type, body) and any connection dropped without an
answer fails the run.

``make test`` runs a bounded pass; ``make fuzz`` the long one (``MF_FUZZ_EXAMPLES``,
``MF_FUZZ_MAX_TIME`` seconds per run, ``MF_FUZZ_SEED``). Each run leaves its requests (HAR),
schemathesis' report and a summary with the count of every status under ``test-artifacts/fuzz/``.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack import REPO_ROOT
from devstack.dynamodb import free_port
from devstack.seed import PLUGINS_DIR
from tests.e2e.stack import DevStack

ARTIFACTS = REPO_ROOT / "test-artifacts" / "fuzz"
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection,"
          "response_headers_conformance")
GATEWAY = r"^/plugins/\{name\}/\{version\}"
# The test configuration raises the management API's limits (production keeps 100 per 15 min),
# or most fuzzing requests would only ever see a 429.
UNLIMITED = {name: "1000000/60" for name in ("MF_API_RATE_LIMIT", "MF_AUTH_RATE_LIMIT", "MF_PURCHASE_RATE_LIMIT")}
PLUGINS = ("echo", "stripe", "twilio", "sendgrid")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    where = tmp_path_factory.mktemp("fuzz")
    started = DevStack(where / "state", free_port(), free_port(), log=where / "devstack.log", env=UNLIMITED).start()
    try:
        yield started
    finally:
        started.kill()


def fuzz_user(stack: DevStack) -> dict[str, str]:
    """A user of its own (what the fuzzer revokes or changes is nobody else's) with a live key
    and plugins installed, so gateway calls reach plugins."""
    http = requests.Session()
    signed = http.post(f"{stack.url}/auth/signup", json={"email": "fuzz@example.com", "password": "fuzz-password-1"},
                       timeout=10).json()
    auth = {"Authorization": f"Bearer {signed['access_token']}"}
    key = http.post(f"{stack.url}/keys", json={"name": "fuzz", "mode": "live"}, headers=auth, timeout=10).json()
    for plugin in PLUGINS:
        installed = http.post(f"{stack.url}/plugins/install", headers=auth, timeout=10,
                              json={"plugin": plugin, "accept_permissions": manifest(plugin).get("permissions", [])})
        assert installed.status_code == 201, installed.text
    return {"token": signed["access_token"], "key": key["api_key"]}


def manifest(plugin: str) -> dict[str, Any]:
    return json.loads((PLUGINS_DIR / plugin / "chalicelib" / "manifest.json").read_text())


def write_config() -> Path:
    """schemathesis' configuration: credentials from the environment the runs set (MF_FUZZ_TOKEN,
    a session of the identity under test; MF_FUZZ_KEY, the user's API key for the gateway), and
    real plugin names, versions and endpoint paths often enough that calls get past "not found"
    into the code behind it; examples per operation, four times as many for the gateway."""
    endpoints = sorted({re.sub(r"{[^}]+}", "x0", endpoint["path"]).lstrip("/")
                        for plugin in PLUGINS for endpoint in manifest(plugin)["api"]["endpoints"]})
    examples = int(os.environ.get("MF_FUZZ_EXAMPLES", "20"))
    lines = [
        'headers = { Authorization = "Bearer ${MF_FUZZ_TOKEN}" }',
        "request-timeout = 40.0",
        "cache.enabled = false",  # the same seed, the same run: no crashes replayed from earlier runs
        f"generation.max-examples = {examples}",
        f"dictionaries.plugins.values = {json.dumps([*PLUGINS, 'datadog', 'github'])}",
        'dictionaries.majors.values = ["v1"]',
        f"dictionaries.endpoints.values = {json.dumps(endpoints)}",
        'parameters = { "path.name" = { dictionary = "plugins", probability = 0.6 }, '
        '"path.plugin" = { dictionary = "plugins", probability = 0.6 } }',
        "[[operations]]",
        f"include-path-regex = '{GATEWAY}'",
        'headers = { Authorization = "Bearer ${MF_FUZZ_KEY}" }',
        f"generation.max-examples = {examples * 4}",  # few operations, and the one every call goes through
        'parameters = { "path.name" = { dictionary = "plugins", probability = 0.8 }, '
        '"path.version" = { dictionary = "majors", probability = 0.8 }, '
        '"path.proxy" = { dictionary = "endpoints", probability = 0.7 } }',
    ]
    path = ARTIFACTS / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_schemathesis(stack: DevStack, name: str, token: str, key: str, extra: list[str]) -> dict[str, Any]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    har = ARTIFACTS / f"{name}.har.json"
    har.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(write_config()), "run",
            f"{stack.url}/openapi.json", "--checks", CHECKS, "--seed", os.environ.get("MF_FUZZ_SEED", "20261202"),
            "--workers", "2",
            "--phases", "examples,coverage,fuzzing,stateful", "--suppress-health-check", "all",
            "--report", "har", "--report-har-path", str(har), "--output-truncate", "true", *extra]
    if os.environ.get("MF_FUZZ_MAX_TIME"):
        argv += ["--max-time", os.environ["MF_FUZZ_MAX_TIME"]]
    env = {**os.environ, "MF_FUZZ_TOKEN": token, "MF_FUZZ_KEY": key, "NO_COLOR": "1"}
    done = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=3600)
    (ARTIFACTS / f"{name}.log").write_text(done.stdout + done.stderr)
    statuses = Counter(entry["response"]["status"] for entry in json.loads(har.read_text())["log"]["entries"])
    summary = {"identity": name, "requests": sum(statuses.values()), "exit_code": done.returncode,
               "statuses": {str(status): count for status, count in sorted(statuses.items())}}
    (ARTIFACTS / f"{name}.summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    summary["output"] = done.stdout[-12000:] + done.stderr[-3000:]
    return summary


def test_the_api_answers_every_fuzzed_request_as_its_document_says(stack: DevStack) -> None:
    user = fuzz_user(stack)
    # The gateway first, while the user's plugins are installed and enabled: the later runs
    # disable, uninstall and suspend them.
    runs = [run_schemathesis(stack, "gateway", user["token"], user["key"], ["--include-path-regex", GATEWAY]),
            run_schemathesis(stack, "user", user["token"], user["key"],
                             ["--exclude-path-regex", f"{GATEWAY}|^/(admin|developer)/"]),
            run_schemathesis(stack, "admin", stack.info["admin_token"], user["key"], ["--exclude-path-regex", GATEWAY])]
    for run in runs:
        assert run["requests"] > 0
        assert run["exit_code"] == 0, f"{run['identity']}: {run['statuses']}\n{run['output']}"
        assert not [status for status in run["statuses"] if int(status) >= 500 and int(status) not in (502, 503, 504)]
