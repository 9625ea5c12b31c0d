"""Where the CLI finds the API and the caller's credentials.

Order: ``--api-url``, then ``MOCKFACTORY_API_URL``, then the config file, then
``http://127.0.0.1:8000``. Credentials: ``MOCKFACTORY_API_KEY`` / ``MOCKFACTORY_TOKEN``, else
the access token ``mocklib login`` stored in the config file
(``$MOCKFACTORY_CONFIG``, else ``$XDG_CONFIG_HOME/mockfactory/config.json``, else
``~/.config/mockfactory/config.json``), written with mode 0600: it holds a bearer token,
which is only sent to the API URL it was issued by.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mocklib.client import DEFAULT_API_URL

__all__ = ["CliConfig", "ConfigError", "config_path", "read_config_file", "write_config_file",
           "remove_config_file", "resolve"]


class ConfigError(Exception):
    """The config file exists but cannot be read or written."""


@dataclass(frozen=True)
class CliConfig:
    api_url: str
    api_key: str | None
    token: str | None
    email: str | None
    source: str  # where the credential came from: "env", "config file" or "none"

    @property
    def has_credentials(self) -> bool:
        return bool(self.api_key or self.token)


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("MOCKFACTORY_CONFIG"):
        return Path(env["MOCKFACTORY_CONFIG"]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "mockfactory" / "config.json"


def read_config_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}; fix it or run `mocklib logout`") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"{path} does not hold a JSON object; fix it or run `mocklib logout`")
    return document


def write_config_file(path: Path, document: Mapping[str, Any]) -> None:
    """Atomically, readable by the owner only (0600) from the first byte on."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(dict(document), handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.chmod(temporary, 0o600)  # O_CREAT's mode is ignored when the file already existed
        os.replace(temporary, path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc}") from exc


def remove_config_file(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise ConfigError(f"cannot remove {path}: {exc}") from exc
    return True


def resolve(api_url: str | None, environ: Mapping[str, str] | None = None) -> CliConfig:
    env = os.environ if environ is None else environ
    stored = read_config_file(config_path(env))
    url = api_url or env.get("MOCKFACTORY_API_URL") or stored.get("api_url") or DEFAULT_API_URL
    api_key = env.get("MOCKFACTORY_API_KEY") or None
    token = env.get("MOCKFACTORY_TOKEN") or None
    if api_key or token:
        return CliConfig(str(url).rstrip("/"), api_key, token, None, "env")
    stored_token = stored.get("access_token")
    stored_url = str(stored.get("api_url") or DEFAULT_API_URL).rstrip("/")
    # A token is only ever sent to the API that issued it, never to another --api-url.
    if isinstance(stored_token, str) and stored_token and stored_url == str(url).rstrip("/"):
        email = stored.get("email")
        return CliConfig(str(url).rstrip("/"), None, stored_token, email if isinstance(email, str) else None,
                         "config file")
    return CliConfig(str(url).rstrip("/"), None, None, None, "none")
