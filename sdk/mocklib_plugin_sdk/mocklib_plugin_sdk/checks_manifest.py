"""The ``manifest`` check's rules: what makes ``chalicelib/manifest.json`` publishable, on top
of what the SDK itself refuses at runtime (``PluginManifest.from_document``)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .errors import ConfigurationError
from .manifest import PluginManifest
from .routing import METHODS, RoutePattern

MANIFEST_FILE = "chalicelib/manifest.json"
REQUIRED_FIELDS = ("name", "display_name", "version", "author", "description", "category", "license",
                   "pricing", "api", "runtime")
NAME_CHARS = re.compile(r"^[a-z0-9-]+$")
NAME_LENGTH = (3, 40)
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
                    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")
LICENSES = ("MIT", "Apache-2.0", "Proprietary")
HANDLER = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def manifest_problems(document: dict[str, Any], project: Path) -> list[dict[str, str]]:
    """What is wrong with a manifest, as ``{"field", "message"}``; empty when it is valid."""
    problems: list[dict[str, str]] = []

    def problem(field_name: str, message: str) -> None:
        problems.append({"field": field_name, "message": message})

    missing = [name for name in REQUIRED_FIELDS if name not in document]
    if missing:
        problem(missing[0], f"required field(s) missing: {', '.join(missing)}")
    sdk_refused = ""
    try:
        # What the SDK itself refuses at runtime (name pattern, version, declared services).
        PluginManifest.from_document(document)
    except ConfigurationError as exc:
        sdk_refused = next((f for f in ("name", "version") if exc.message.startswith(f"manifest {f} ")),
                           "dependencies")
        problem(sdk_refused, exc.message)
    name = document.get("name")
    if sdk_refused != "name" and isinstance(name, str) and not (NAME_CHARS.match(name) and NAME_LENGTH[0] <= len(name) <= NAME_LENGTH[1]):
        problem("name", f"name {name!r} must match ^[a-z0-9-]+$ and be {NAME_LENGTH[0]}-{NAME_LENGTH[1]} "
                        "characters long")
    version = document.get("version")
    if sdk_refused != "version" and "version" in document and not (isinstance(version, str) and SEMVER.match(version)):
        problem("version", f"version {version!r} is not semver (MAJOR.MINOR.PATCH)")
    if "license" in document and document.get("license") not in LICENSES:
        problem("license", f"license {document.get('license')!r} is not one of {', '.join(LICENSES)}")
    for text_field in ("display_name", "description"):
        if text_field in document and not (isinstance(document[text_field], str) and document[text_field].strip()):
            problem(text_field, f"{text_field} must be a non-empty string")
    author = document.get("author")
    if "author" in document and not (isinstance(author, dict) and isinstance(author.get("name"), str)
                                     and author["name"].strip()):
        problem("author", "author must be an object with a non-empty name")
    runtime = document.get("runtime")
    if "runtime" in document and not isinstance(runtime, dict):
        problem("runtime", "runtime must be an object")
    elif isinstance(runtime, dict):
        if runtime.get("language", "python") != "python":
            problem("runtime.language", "runtime.language must be \"python\"")
        handler = runtime.get("handler")
        if not isinstance(handler, str) or not HANDLER.match(handler):
            problem("runtime.handler", f"runtime.handler {handler!r} must look like \"module:Class\"")
        else:
            module = handler.partition(":")[0].replace(".", "/")
            source = project / "chalicelib"
            if not ((source / f"{module}.py").is_file() or (source / module / "__init__.py").is_file()):
                problem("runtime.handler", f"runtime.handler names chalicelib/{module}.py, which does not exist")
    api = document.get("api")
    endpoints = api.get("endpoints") if isinstance(api, dict) else None
    if "api" in document and (not isinstance(endpoints, list) or not endpoints):
        problem("api.endpoints", "api.endpoints must list at least one endpoint")
    elif isinstance(endpoints, list):
        for index, item in enumerate(endpoints):
            where = f"api.endpoints[{index}]"
            if not isinstance(item, dict):
                problem(where, f"{where} must be an object")
                continue
            if str(item.get("method", "")).upper() not in METHODS:
                problem(where, f"{where}.method {item.get('method')!r} is not one of {', '.join(METHODS)}")
            path = item.get("path")
            try:
                RoutePattern.compile(path if isinstance(path, str) else "")
            except ValueError as exc:
                problem(where, f"{where}.path: {exc}")
    return problems
