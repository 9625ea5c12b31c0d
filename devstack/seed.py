"""Idempotent demo data for the dev stack, written through the services in-process.

Run it any number of times against the same tables: what exists is kept (ConflictError
means "already there"), what is missing is created. The demo API key and the JWT signing
secret live in ``<state-dir>/dev-secrets.json`` so they stay the same across restarts.
"""
from __future__ import annotations

import json
import os
import secrets as _secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import REPO_ROOT

SECRETS_FILE = "dev-secrets.json"
# MF_DEVSTACK_PLUGINS_DIR: publish the manifests of another folder (experiments, tests).
PLUGINS_DIR = Path(os.environ.get("MF_DEVSTACK_PLUGINS_DIR") or REPO_ROOT / "plugin_functions")
# Local accounts only (the dev stack listens on 127.0.0.1); printed in dev.json.
DEMO_PASSWORD = "mockfactory-demo"
DEMO_USER = "demo@mockfactory.local"
DEMO_DEVELOPER = "dev@mockfactory.local"
DEMO_ADMIN = "admin@mockfactory.local"
ACCOUNTS = ((DEMO_USER, "user"), (DEMO_DEVELOPER, "developer"), (DEMO_ADMIN, "admin"))
DEMO_INSTALLS = ("echo",)


def log(message: str) -> None:
    print(f"[seed] {message}", flush=True)


# --- secrets ---------------------------------------------------------------------------
def load_secrets(state_dir: Path) -> dict[str, Any]:
    """The stored secrets, with the JWT, licence and webhook signing keys generated on first use (and kept)."""
    path = Path(state_dir) / SECRETS_FILE
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    missing = [name for name in ("jwt_keys", "licence_keys", "webhook_signing_key") if not data.get(name)]
    if "jwt_keys" in missing:
        data["jwt_keys"] = f"dev-{_secrets.token_hex(4)}:{_secrets.token_urlsafe(48)}"
    if "licence_keys" in missing:  # MF_LICENSE_KEYS: one RSA key (added to older state dirs too)
        data["licence_keys"] = _new_licence_key()
    if "webhook_signing_key" in missing:
        data["webhook_signing_key"] = _secrets.token_hex(32)
    if missing:
        save_secrets(state_dir, data)
    return data


def _new_licence_key() -> str:
    """One RSA key in MF_LICENSE_KEYS form: ``kid:<base64 of the PEM private key>``."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return f"lic-dev-{_secrets.token_hex(4)}:{base64.b64encode(pem).decode('ascii')}"


def save_secrets(state_dir: Path, data: dict[str, Any]) -> None:
    path = Path(state_dir) / SECRETS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)


# --- seeding ---------------------------------------------------------------------------
@dataclass
class Account:
    email: str
    role: str
    user_id: str
    token: str


@dataclass
class SeedResult:
    accounts: dict[str, Account]
    demo_api_key: str
    plugins: list[str] = field(default_factory=list)
    installed: list[str] = field(default_factory=list)


def _conflict(action: Any) -> str | None:
    """Run ``action``; None when it did something, the error code when it already was done."""
    from chalicelib.core.errors import ConflictError

    try:
        action()
    except ConflictError as exc:
        return exc.code
    return None


def ensure_account(container: Any, email: str, role: str, password: str = DEMO_PASSWORD) -> Account:
    from chalicelib.core.errors import UnauthenticatedError

    skipped = _conflict(lambda: container.auth.create_user(email=email, password=password, role=role))
    log(f"{role:<9} {email}: {'exists' if skipped else 'created'}")
    try:
        session = container.auth.log_in(email=email, password=password)
    except UnauthenticatedError as exc:
        raise RuntimeError(f"{email} exists but its password is not the dev password; "
                           "delete the dev state dir (.local/) to start over") from exc
    return Account(email=email, role=session["user"]["role"], user_id=session["user"]["user_id"],
                   token=session["access_token"])


def manifest_path(plugin_dir: Path) -> Path | None:
    """A plugin's manifest: ``chalicelib/manifest.json`` (Chalice ships only app.py and
    chalicelib/, so that is where the plugin's Lambda reads it) or ``manifest.json``."""
    for candidate in (plugin_dir / "manifest.json", plugin_dir / "chalicelib" / "manifest.json"):
        if candidate.is_file():
            return candidate
    return None


def manifests(plugins_dir: Path = PLUGINS_DIR) -> list[dict[str, Any]]:
    found = [manifest_path(d) for d in sorted(Path(plugins_dir).iterdir()) if d.is_dir()] \
        if Path(plugins_dir).is_dir() else []
    return [json.loads(path.read_text()) for path in found if path is not None]


def publish(container: Any, developer: Any, admin: Any, manifest: dict[str, Any]) -> str:
    """create (or add the version) -> submit -> approve; each step skipped if already done."""
    catalog = container.catalog
    name, version = manifest["name"], manifest["version"]
    steps = [
        ("created", lambda: catalog.create_plugin(developer, manifest)),
        ("submitted", lambda: catalog.submit_version(developer, name, version)),
        ("approved", lambda: catalog.approve_version(admin, name, version)),
    ]
    done = []
    for label, action in steps:
        skipped = _conflict(action)
        if skipped is None:
            done.append(label)
        elif label == "created":
            # The plugin exists: a newer manifest version is added, an equal one is kept.
            if _conflict(lambda: catalog.add_version(developer, name, manifest)) is None:
                done.append("version added")
    log(f"plugin    {name}@{version}: {', '.join(done) if done else 'already published'}")
    return str(name)


def ensure_install(container: Any, principal: Any, manifest: dict[str, Any]) -> None:
    name = manifest["name"]
    outcome: list[Any] = []
    skipped = _conflict(lambda: outcome.append(container.installs.install(
        principal, plugin=name, version="latest",
        accept_permissions=list(manifest.get("permissions", [])))))
    created = not skipped and getattr(outcome[0], "created", True)  # install() is idempotent
    log(f"install   {name} for {DEMO_USER}: {'installed' if created else 'exists'}")


def ensure_demo_key(container: Any, principal: Any, stored: str | None) -> str:
    from chalicelib.core.errors import UnauthenticatedError

    if stored:
        try:
            if container.auth.authenticate_key(stored).user_id == principal.user_id:
                log("api key   demo key: still valid, reused")
                return stored
        except UnauthenticatedError:
            pass
    created = container.auth.create_key(principal, name="devstack demo key", mode="test")
    log("api key   demo key: created")
    return str(created["api_key"])


def seed(container: Any, state_dir: Path, *, plugins_dir: Path = PLUGINS_DIR) -> SeedResult:
    from chalicelib.auth.principal import Principal

    # A state dir from before the admins' user directory (a GSI of the auth table) gets it here.
    added = container.auth.ensure_user_directory()
    if added:
        log(f"users     {added} added to the user directory")
    accounts = {role: ensure_account(container, email, role) for email, role in ACCOUNTS}
    principals = {role: Principal(user_id=a.user_id, role=a.role, via="jwt") for role, a in accounts.items()}

    published, installed = [], []
    documents = manifests(plugins_dir)
    if not documents:
        log(f"no plugin manifests under {plugins_dir}")
    for manifest in documents:
        published.append(publish(container, principals["developer"], principals["admin"], manifest))
    for manifest in documents:
        if manifest["name"] in DEMO_INSTALLS:
            ensure_install(container, principals["user"], manifest)
            installed.append(manifest["name"])

    stored = load_secrets(state_dir)
    key = ensure_demo_key(container, principals["user"], stored.get("demo_api_key"))
    if key != stored.get("demo_api_key"):
        stored["demo_api_key"] = key
        save_secrets(state_dir, stored)
    return SeedResult(accounts=accounts, demo_api_key=key, plugins=published, installed=installed)
