"""Helpers shared by the SDK tests (plain functions; fixtures live in conftest.py)."""
from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SDK_ROOT = REPO_ROOT / "sdk" / "mocklib_plugin_sdk"
ECHO_DIR = REPO_ROOT / "plugin_functions" / "echo" / "chalicelib"  # the reference example


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def manifest(name: str = "demo", services: tuple[str, ...] = ("storage", "logger"),
             permissions: tuple[str, ...] = ("storage:read", "storage:write"), **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": name, "display_name": name.title(), "version": "1.0.0", "author": {"name": "Tests"},
        "description": "test plugin", "category": "devops", "pricing": {"tier": "standard"},
        "api": {"base_path": f"/plugins/{name}/v1", "endpoints": [{"method": "GET", "path": "/x"}]},
        "runtime": {"language": "python", "memory_limit_mb": 128, "timeout_seconds": 5},
        "dependencies": {"mockfactory_apis": list(services)}, "permissions": list(permissions),
    }
    doc.update(extra)
    return doc


def echo_manifest() -> dict[str, Any]:
    return json.loads((ECHO_DIR / "manifest.json").read_text())
