"""Small helpers for API tests: accounts, auth headers, manifests."""
from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

_seq = itertools.count(1)
# The shipped echo plugin's real manifest (ECHO_MANIFEST below is a test-shaped variant).
ECHO_PLUGIN: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "plugin_functions/echo/chalicelib/manifest.json").read_text())
PASSWORD = "correct horse battery"

ECHO_MANIFEST: dict[str, Any] = {
    "name": "echo",
    "display_name": "Echo",
    "version": "1.0.0",
    "author": {"name": "MockFactory Team", "email": "team@mockfactory.io"},
    "description": "Echoes requests back; handy to debug clients.",
    "category": "devops",
    "tags": ["echo", "debug"],
    "license": "MIT",
    "pricing": {"tier": "standard", "free_tier_calls": 1000},
    "api": {"base_path": "/plugins/echo/v1",
            "endpoints": [{"method": "GET", "path": "/echo", "description": "Echo"}]},
    "runtime": {"language": "python", "version": "3.11", "memory_limit_mb": 128, "timeout_seconds": 10},
    "dependencies": {"mockfactory_apis": ["storage"]},
    "permissions": ["storage:read", "storage:write"],
}


def manifest(**overrides: Any) -> dict[str, Any]:
    """A valid manifest; ``name``/``version`` overrides keep ``api.base_path`` consistent."""
    doc = copy.deepcopy(ECHO_MANIFEST)
    doc.update(overrides)
    major = doc["version"].split(".")[0]
    if "api" not in overrides:
        doc["api"]["base_path"] = f"/plugins/{doc['name']}/v{major}"
    return doc


def post(client: Any, path: str, body: Any = None, token: str | None = None, **headers: str) -> Any:
    hdrs = {"Content-Type": "application/json", **headers}
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body if body is not None else {})
    return client.http.post(path, body=raw, headers=hdrs)


def put(client: Any, path: str, body: Any, token: str) -> Any:
    return client.http.put(path, body=json.dumps(body),
                           headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})


def get(client: Any, path: str, token: str | None = None) -> Any:
    return client.http.get(path, headers={"Authorization": f"Bearer {token}"} if token else {})


def delete(client: Any, path: str, token: str) -> Any:
    return client.http.delete(path, headers={"Authorization": f"Bearer {token}"})


def sign_up(client: Any, role: str = "user", email: str | None = None) -> dict[str, Any]:
    email = email or f"{role}{next(_seq)}@example.com"
    response = post(client, "/auth/signup", {"email": email, "password": PASSWORD, "role": role})
    assert response.status_code == 201, response.body
    return response.json_body


def make_admin(container: Any) -> str:
    """Admins are never self-service: create one the way the dev seed does."""
    user = container.auth.create_user(email=f"admin{next(_seq)}@example.com", password=PASSWORD, role="admin")
    return container.auth.issue_token(user)


def publish(client: Any, dev_token: str, admin_token: str, doc: dict[str, Any]) -> None:
    """Create (or add a version), submit and approve: the plugin is then in the marketplace."""
    created = post(client, "/developer/plugins", doc, dev_token)
    if created.status_code == 409:
        created = post(client, f"/developer/plugins/{doc['name']}/versions", doc, dev_token)
    assert created.status_code == 201, created.body
    submitted = post(client, f"/developer/plugins/{doc['name']}/versions/{doc['version']}/submit", None, dev_token)
    assert submitted.status_code == 200, submitted.body
    approved = post(client, f"/admin/plugins/{doc['name']}/versions/{doc['version']}/approve", None, admin_token)
    assert approved.status_code == 200, approved.body


def expect_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """An error reply: this status, a stable machine ``code``, a human message, no internals."""
    assert response.status_code == status, response.body
    body = response.json_body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"].strip(), body
    assert body["request_id"].startswith("req_"), body
    assert response.headers.get("X-Request-Id") == body["request_id"]
    assert "Traceback" not in response.body.decode("utf-8"), body
    return body
