"""The local Stripe: our Stripe mock plugin (``plugin_functions/stripe``) served standalone.

``python -m mocklib_plugin_sdk serve plugin_functions/stripe/chalicelib --host 127.0.0.1
--port N --state dynamodb`` as a child process, its state in a table of its own on the dev
stack's DynamoDB Local (so customers, accounts, subscriptions... survive a restart), driven
with a fixed ``mf_test_...`` key kept in ``<state-dir>/dev-secrets.json`` (serve mode keys
its state by the credential, and treats only ``mf_test_...`` keys as sandbox).

On every start the stack (re)registers one webhook endpoint for the API's
``/billing/stripe/webhook`` and hands its ``whsec_...`` secret to the API's settings; the
stand-in then delivers every event to it over HTTP, signed with ``Stripe-Signature``.
Stripe shows an endpoint's secret only in the create response, so the stack remembers
``{id, url, secret}`` in dev-secrets.json and re-creates the endpoint when that one is gone
or points elsewhere; endpoints it made earlier for other URLs are deleted.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devstack import REPO_ROOT
from devstack.dynamodb import _die_with_parent

PLUGIN_DIR = REPO_ROOT / "plugin_functions" / "stripe" / "chalicelib"
HOST = "127.0.0.1"
WEBHOOK_PATH = "/billing/stripe/webhook"
ENDPOINT_TAG = "devstack"  # metadata[devstack]=1 on the endpoints the stack creates
_SERVING = re.compile(r"serving \S+ \S+ at (http://\S+)")
# A developer's shell must not make the stand-in deterministic (a fixed clock would make
# webhook signatures look stale to the API) or point its state elsewhere.
_CHILD_ENV_DROP = ("MF_PLUGIN_DETERMINISTIC", "MF_PLUGIN_EPOCH", "MF_PLUGIN_SEED", "MF_PLUGIN_STATE_TABLE",
                   "MF_DYNAMODB_ENDPOINT", "AWS_SESSION_TOKEN", "AWS_PROFILE")


def new_api_key() -> str:
    return "mf_test_devstack_" + secrets.token_hex(12)


class StandInError(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(f"HTTP {status}: {error.get('message') or body}")
        self.status = status
        self.code = error.get("code")


def form_encode(params: Mapping[str, Any]) -> str:
    """Stripe's form encoding: ``metadata[k]=v``, ``enabled_events[0]=*``."""
    pairs: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{prefix}[{key}]", item)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        elif isinstance(value, bool):
            pairs.append((prefix, "true" if value else "false"))
        elif value is not None:
            pairs.append((prefix, str(value)))

    for key, value in params.items():
        walk(key, value)
    return urllib.parse.urlencode(pairs)


class StandInClient:
    """The few calls the stack makes itself (plain urllib: no proxies for 127.0.0.1)."""

    def __init__(self, api_base: str, api_key: str, timeout: float = 10.0) -> None:
        self.api_base = api_base.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def request(self, method: str, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        encoded = form_encode(params or {})
        url = self.api_base + path
        data = None
        if method in ("GET", "DELETE"):
            url += f"?{encoded}" if encoded else ""
        else:
            data = encoded.encode("ascii")
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self.api_key}", "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return dict(json.loads(response.read() or b"{}"))
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            raise StandInError(exc.code, body) from None

    def list_all(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 100}
        while True:
            page = self.request("GET", path, params)
            items += page.get("data", [])
            if not page.get("has_more") or not page.get("data"):
                return items
            params["starting_after"] = page["data"][-1]["id"]


def _ours(endpoint: Mapping[str, Any]) -> bool:
    """Made by a dev stack: tagged, or the API's webhook route on a loopback address."""
    if (endpoint.get("metadata") or {}).get(ENDPOINT_TAG):
        return True
    parts = urllib.parse.urlsplit(str(endpoint.get("url") or ""))
    return parts.hostname in ("127.0.0.1", "localhost") and parts.path == WEBHOOK_PATH


def ensure_webhook_endpoint(client: StandInClient, url: str,
                            stored: Mapping[str, Any] | None) -> tuple[dict[str, str], list[str]]:
    """The endpoint for ``url`` with every event: the stored one if it still exists as is,
    else a new one. Returns ``({id, url, secret}, ids of stale endpoints deleted)``."""
    keep: dict[str, str] | None = None
    deleted = []
    for endpoint in client.list_all("/v1/webhook_endpoints"):
        if (keep is None and stored and endpoint["id"] == stored.get("id") and stored.get("secret")
                and endpoint.get("url") == url and endpoint.get("status") == "enabled"
                and "*" in (endpoint.get("enabled_events") or [])):
            keep = {"id": endpoint["id"], "url": url, "secret": str(stored["secret"])}
        elif _ours(endpoint):
            client.request("DELETE", f"/v1/webhook_endpoints/{endpoint['id']}")
            deleted.append(str(endpoint["id"]))
    if keep is None:
        created = client.request("POST", "/v1/webhook_endpoints", {
            "url": url, "enabled_events": ["*"], "description": "MockFactory dev stack API",
            "metadata": {ENDPOINT_TAG: "1"}})
        keep = {"id": str(created["id"]), "url": url, "secret": str(created["secret"])}
    return keep, deleted


class StripeStandInProcess:
    """``serve`` as a child process in its own process group (stopped with SIGTERM, then
    SIGKILL), which also gets SIGTERM if the dev stack dies (PR_SET_PDEATHSIG)."""

    def __init__(self, *, port: int = 0, state: str = "dynamodb", state_table: str | None = None,
                 dynamodb_endpoint: str | None = None, log_path: Path, startup_timeout: float = 30.0) -> None:
        if state == "dynamodb" and not (state_table and dynamodb_endpoint):
            raise ValueError("state=dynamodb needs state_table and dynamodb_endpoint")
        self.port = port
        self.state = state
        self.state_table = state_table
        self.dynamodb_endpoint = dynamodb_endpoint
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _CHILD_ENV_DROP}
        env["PYTHONUNBUFFERED"] = "1"
        if self.state == "dynamodb":
            assert self.state_table and self.dynamodb_endpoint
            env.update({"MF_PLUGIN_STATE_TABLE": self.state_table, "MF_DYNAMODB_ENDPOINT": self.dynamodb_endpoint,
                        # DynamoDB Local (-sharedDb) takes any credentials; botocore needs some.
                        "AWS_ACCESS_KEY_ID": "devstack", "AWS_SECRET_ACCESS_KEY": "devstack",
                        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"})
        return env

    def create_state_table(self) -> None:
        """Create the stand-in's table up front (serve mode would on first use, which two
        concurrent first requests could race); a no-op when it exists."""
        if self.state != "dynamodb":
            return
        from mocklib_plugin_sdk.state import DynamoDBStateStore

        assert self.state_table and self.dynamodb_endpoint
        DynamoDBStateStore(self.state_table, region="us-east-1", endpoint=self.dynamodb_endpoint).create_table()

    def command(self) -> list[str]:
        return [sys.executable, "-m", "mocklib_plugin_sdk", "serve", str(PLUGIN_DIR), "--host", HOST,
                "--port", str(self.port), "--state", self.state, "--log-level", "WARNING"]

    def start(self) -> StripeStandInProcess:
        if self._process is not None:
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as out:
            self._process = subprocess.Popen(
                self.command(), cwd=REPO_ROOT, env=self.child_env(), stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,  # Ctrl-C goes to the stack, which stops it
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        try:
            self.url = self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _new_output(self) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as handle:
            handle.seek(self._log_offset)
            return handle.read().decode("utf-8", "replace")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self._new_output().splitlines()[-lines:])

    def _wait_ready(self) -> str:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        url = ""
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"the Stripe stand-in exited with code {self._process.returncode}:\n"
                                   f"{self.log_tail()}")
            if not url:
                match = _SERVING.search(self._new_output())
                url = match.group(1) if match else ""
            if url and self._answers(url):
                return url
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Stripe stand-in did not answer within {self.startup_timeout:.0f}s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.05)

    @staticmethod
    def _answers(url: str) -> bool:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(url + "/_mf/health", timeout=1.0) as response:
                return bool(response.status == 200)
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, OSError):
            return False

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            self._signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(process, signal.SIGKILL)
                process.wait(timeout=timeout)
        self._signal_group(process, signal.SIGKILL)  # anything it started

    @staticmethod
    def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        try:
            os.killpg(process.pid, sig)  # the group id is the child's pid (start_new_session)
        except (ProcessLookupError, PermissionError):
            pass
