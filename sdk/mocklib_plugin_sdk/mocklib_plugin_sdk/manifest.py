"""The parts of ``manifest.json`` the plugin side needs.

The marketplace validates manifests fully when they are published; the SDK
re-checks only what it relies on (name, version, declared services and
permissions), because a plugin must not be able to widen its own rights by
shipping a different manifest than the one that was reviewed.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigurationError

SDK_SERVICES = ("storage", "webhooks", "metrics", "logger", "licensing")
# At most 32 characters: the name goes into its AWS function and role names
# ("mf-plugin-<name>-v<major>-<stage>-handler"), which IAM and Lambda cap at 64.
NAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")


@dataclass(frozen=True)
class PluginManifest:
    name: str
    version: str
    services: frozenset[str]
    permissions: frozenset[str]
    timeout_seconds: int = 10
    handler: str | None = None
    auth_header: str | None = None
    config_default: Mapping[str, Any] = field(default_factory=dict)
    document: Mapping[str, Any] = field(default_factory=dict)

    @property
    def major(self) -> int:
        return int(self.version.split(".", 1)[0])

    @property
    def base_path(self) -> str:
        return f"/plugins/{self.name}/v{self.major}"

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> PluginManifest:
        name = document.get("name")
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            # The name becomes the storage partition prefix; anything outside the
            # pattern (notably '#') could let one plugin alias another's keys.
            raise ConfigurationError(f"manifest name {name!r} must match {NAME_PATTERN.pattern}")
        version = document.get("version")
        if not isinstance(version, str) or not re.match(r"^\d+\.\d+\.\d+", version):
            raise ConfigurationError(f"manifest version {version!r} is not semver")
        dependencies = document.get("dependencies") or {}
        services = dependencies.get("mockfactory_apis") or []
        unknown = sorted(set(services) - set(SDK_SERVICES))
        if unknown:
            raise ConfigurationError(f"unknown mockfactory_apis {unknown}; known: {list(SDK_SERVICES)}")
        runtime = document.get("runtime") or {}
        auth = document.get("auth") or {}
        return cls(
            name=name,
            version=version,
            services=frozenset(services),
            permissions=frozenset(document.get("permissions") or []),
            timeout_seconds=int(runtime.get("timeout_seconds", 10)),
            handler=runtime.get("handler"),
            auth_header=auth.get("header"),
            config_default=dict((document.get("config") or {}).get("default") or {}),
            document=dict(document),
        )

    @classmethod
    def load(cls, source: str | Path | Mapping[str, Any] | PluginManifest,
             *, relative_to: str | Path | None = None) -> PluginManifest:
        """Accept a manifest object, a dict, or a path (tried as given, then
        next to ``relative_to``, which lets ``make_lambda_handler`` find the
        manifest beside the plugin module whatever the working directory is)."""
        if isinstance(source, PluginManifest):
            return source
        if isinstance(source, Mapping):
            return cls.from_document(source)
        path = Path(source)
        if not path.is_absolute() and not path.exists() and relative_to is not None:
            path = Path(relative_to) / path
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigurationError(f"manifest not found: {path}") from exc
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"manifest {path} is not JSON: {exc}") from exc
        return cls.from_document(document)
