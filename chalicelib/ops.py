"""Operator commands: a production marketplace from zero, with the platform's own code paths.

    python -m chalicelib.ops --stage prod create-admin --email ops@example.com < password.txt
    python -m chalicelib.ops --stage prod create-admin --email ops@example.com --password-secret mf/prod/admin
    python -m chalicelib.ops --stage prod publish-plugins [echo stripe ...]

``--stage`` takes the API's environment for that stage from ``.chalice/config.json`` (table names,
artifact store, the names of the secrets it resolves), so the command acts as the deployed API does,
with the operator's AWS credentials. Both commands are idempotent: run twice, nothing is duplicated.

* ``create-admin``: sign-up never grants the admin role; this does. The password comes from stdin
  (prompted twice on a terminal) or from a Secrets Manager secret, never from the command line. An
  account that exists already is left alone when it is an admin with that password; another
  account of that e-mail becomes an admin only with ``--promote``, and only if the password given
  is its own (nobody is promoted by whoever merely knows an e-mail address).
* ``publish-plugins``: the reference plugins of ``plugin_functions/`` through the real pipeline: a
  platform developer account submits each package, the checks run where the API runs them (the
  ``submission_checks`` function in AWS), the operator approves what passed, the deployer deploys
  it, and the catalog publishes each version once its function is live. Their packages leave out
  ``tests/`` and the checks skip ``tests``: those suites need the repository (the marketplace itself,
  the vendors' SDKs) and run in its own test suite before a release. What the checks refuse is
  reported with their reasons and not approved.
"""
from __future__ import annotations

import argparse
import base64
import getpass
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from chalicelib.auth.principal import Principal
from chalicelib.core.errors import ConflictError, DomainError, NotFoundError, UnauthenticatedError
from chalicelib.wiring import Container, container

REPO_ROOT = Path(__file__).resolve().parent.parent
PLUGINS_DIR = REPO_ROOT / "plugin_functions"
DEFAULT_DEVELOPER = "plugins@mockfactory.io"
OPERATOR = Principal(user_id="ops", role="admin", via="jwt")  # what approvals and audit entries name
MIN_PASSWORD, MAX_PASSWORD = 10, 256  # the sign-up rule (chalicelib/auth/schemas.py)
# Every check but the plugin's own tests (see the module docstring).
REFERENCE_CHECKS = ("manifest", "contract", "security", "network", "resources", "docs")
FINAL = ("live", "superseded", "undeployed", "checks_failed", "deploy_failed", "rejected")
SERVING = ("live", "superseded", "published")  # outcomes that leave the plugin (or a newer version) in the catalog


class OpsError(Exception):
    pass


# -- create-admin ----------------------------------------------------------------------------

def read_password(stream: IO[str], *, secret: str | None, region: str) -> str:
    if secret:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            password = str(boto3.client("secretsmanager", region_name=region).get_secret_value(
                SecretId=secret)["SecretString"])
        except (BotoCoreError, ClientError, KeyError) as exc:
            raise OpsError(f"the secret {secret} could not be read: {exc}") from exc
    elif stream.isatty():
        password = getpass.getpass("admin password: ")
        if getpass.getpass("again: ") != password:
            raise OpsError("the two passwords differ")
    else:
        password = stream.readline().rstrip("\r\n")
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise OpsError(f"the password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def create_admin(c: Container, email: str, password: str, *, promote: bool = False) -> dict[str, Any]:
    try:
        user = c.auth.create_user(email=email, password=password, role="admin")
    except ConflictError:
        pass  # that e-mail has an account: see below
    else:
        c.audit.record(OPERATOR.user_id, "ops.create_admin", target=f"user={user.user_id}", reason="created")
        return {"email": user.email, "user_id": user.user_id, "outcome": "created"}
    try:
        session = c.auth.log_in(email=email, password=password)
    except UnauthenticatedError as exc:
        raise OpsError(f"an account of {email} exists and that is not its password (or it is disabled): "
                       "nothing changed") from exc
    user_id, role = session["user"]["user_id"], session["user"]["role"]
    if role == "admin":
        return {"email": email, "user_id": user_id, "outcome": "exists"}
    if not promote:
        raise OpsError(f"{email} is a {role}, not an admin: pass --promote to make that account an admin")
    c.auth.change_role(OPERATOR, user_id, "admin")  # the one promotion no admin exists yet to make
    c.audit.record(OPERATOR.user_id, "ops.create_admin", target=f"user={user_id}", reason=f"promoted from {role}")
    return {"email": email, "user_id": user_id, "outcome": "promoted"}


# -- publish-plugins ---------------------------------------------------------------------------

def platform_developer(c: Container, email: str) -> Principal:
    """The account the reference plugins belong to. It never logs in: its password is thrown away."""
    try:
        user = c.auth.create_user(email=email, password=secrets.token_urlsafe(32), role="developer")
    except ConflictError:
        found = c.auth.find_user(email)
        if found is None:
            raise OpsError(f"{email} is taken but cannot be read") from None
        user = found
    if user.role not in ("developer", "admin"):
        raise OpsError(f"{email} is a {user.role} account; choose another --developer-email")
    return Principal(user_id=user.user_id, role="developer", via="jwt")


def reference_package(plugin_dir: Path) -> bytes:
    """The plugin's package without its tests (they need the repository: see the module docstring)."""
    from mocklib_plugin_sdk.packaging import build_package

    with tempfile.TemporaryDirectory(prefix="mf-ops-") as tmp:
        staged = Path(tmp) / plugin_dir.name
        shutil.copytree(plugin_dir, staged, ignore=shutil.ignore_patterns("tests", "vendor", "deployments", "venv",
                                                                          "__pycache__", "*.pyc"))
        return build_package(staged)


def _submission_of(c: Container, name: str, version: str) -> dict[str, Any] | None:
    try:
        current = c.catalog.get_version(name, version)
    except NotFoundError:
        return None
    if not current.submission_id:
        return {"status": "published" if current.status == "published" else current.status, "submission_id": None}
    return c.publishing.get_own(OPERATOR, current.submission_id)["submission"]


def publish_plugin(c: Container, developer: Principal, plugin_dir: Path, *, timeout_s: float,
                   sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    document = json.loads((plugin_dir / "chalicelib" / "manifest.json").read_text(encoding="utf-8"))
    name, version = document["name"], document["version"]
    submission = _submission_of(c, name, version)
    if submission is not None and submission["submission_id"] is None:
        return {"plugin": name, "version": version, "outcome": submission["status"],
                "note": "in the catalog without a package (not deployed by the pipeline)"}
    if submission is None or submission["status"] in ("checks_failed", "rejected", "deploy_failed"):
        package = base64.b64encode(reference_package(plugin_dir)).decode("ascii")
        submission = c.publishing.submit(developer, {"package": package}, checks_only=REFERENCE_CHECKS)["submission"]
    deadline = time.monotonic() + timeout_s
    while True:
        status = submission["status"]
        if status == "in_review":
            approved = c.publishing.approve(OPERATOR, name, version, "reference plugin, published by chalicelib.ops")
            c.audit.record(OPERATOR.user_id, "ops.publish_plugin", target=f"name={name}", reason=version,
                           details={"submission_id": submission["submission_id"]})
            submission = approved["submission"]
            continue
        if status in FINAL or time.monotonic() > deadline:
            break
        sleep(5)
        c.publishing.run_pipeline()  # what the scheduled job does every minute, without waiting for it
        submission = c.publishing.get_own(OPERATOR, submission["submission_id"])["submission"]
    outcome = submission["status"] if submission["status"] in FINAL else f"still {submission['status']}"
    result = {"plugin": name, "version": version, "outcome": outcome, "submission_id": submission["submission_id"]}
    if submission["status"] not in SERVING:
        result["reasons"] = submission.get("reasons") or [h["note"] for h in submission["history"][-1:]]
    return result


def publish_plugins(c: Container, names: Sequence[str] = (), *, plugins_dir: Path = PLUGINS_DIR,
                    developer_email: str = DEFAULT_DEVELOPER, timeout_s: float = 1800,
                    sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    found = {d.name: d for d in sorted(plugins_dir.iterdir()) if (d / "chalicelib" / "manifest.json").is_file()}
    unknown = [n for n in names if n not in found]
    if unknown:
        raise OpsError(f"no plugin {', '.join(unknown)} in {plugins_dir} (known: {', '.join(found)})")
    developer = platform_developer(c, developer_email)
    results = []
    for name in names or list(found):
        try:
            results.append(publish_plugin(c, developer, found[name], timeout_s=timeout_s, sleep=sleep))
        except DomainError as exc:
            results.append({"plugin": name, "outcome": "refused", "reasons": [f"{exc.code}: {exc.message}"]})
    return {"developer_id": developer.user_id, "plugins": results}


# -- the command line ---------------------------------------------------------------------------

def stage_environment(stage: str, config: Path = REPO_ROOT / ".chalice" / "config.json") -> dict[str, str]:
    """The environment the deployed API has in ``stage`` (global variables, then the stage's)."""
    document = json.loads(config.read_text(encoding="utf-8"))
    if stage not in document.get("stages", {}):
        raise OpsError(f"no stage {stage!r} in {config}")
    return {**document.get("environment_variables", {}), **document["stages"][stage].get("environment_variables", {})}


def main(argv: Sequence[str] | None = None, *, stdin: IO[str] | None = None, stdout: IO[str] | None = None,
         build: Callable[[], Container] = container) -> int:
    # No abbreviations: "--password x" must be refused, not read as "--password-secret x".
    parser = argparse.ArgumentParser(prog="python -m chalicelib.ops", description=__doc__.split("\n\n")[0],
                                     allow_abbrev=False)
    parser.add_argument("--stage", help="act as the API of this stage of .chalice/config.json (else: the environment)")
    commands = parser.add_subparsers(dest="command", required=True)
    admin = commands.add_parser("create-admin", help="create (or confirm) an admin account; idempotent",
                                allow_abbrev=False)
    admin.add_argument("--email", required=True)
    admin.add_argument("--password-secret", help="a Secrets Manager secret holding the password (else: stdin)")
    admin.add_argument("--promote", action="store_true", help="make an existing account of that e-mail an admin")
    commands.add_parser("index-users", help="put accounts made before the admin's user directory into it; "
                                            "idempotent", allow_abbrev=False)
    plugins = commands.add_parser("publish-plugins", help="publish plugin_functions/ through the pipeline; idempotent",
                                  allow_abbrev=False)
    plugins.add_argument("names", nargs="*", help="plugins to publish (default: all)")
    plugins.add_argument("--developer-email", default=DEFAULT_DEVELOPER)
    plugins.add_argument("--timeout", type=float, default=1800, help="seconds to wait for each plugin")
    args = parser.parse_args(argv)
    out = stdout or sys.stdout
    try:
        if args.stage:
            for key, value in stage_environment(args.stage).items():
                os.environ.setdefault(key, value)
        c = build()
        if args.command == "create-admin":
            password = read_password(stdin or sys.stdin, secret=args.password_secret, region=c.settings.region)
            result = create_admin(c, args.email, password, promote=args.promote)
        elif args.command == "index-users":
            result = {"indexed": c.auth.ensure_user_directory()}
        else:
            result = publish_plugins(c, args.names, developer_email=args.developer_email, timeout_s=args.timeout)
    except OpsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    json.dump(result, out, indent=2, default=str)
    out.write("\n")
    if args.command == "publish-plugins" and any(p["outcome"] not in SERVING for p in result["plugins"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
