"""Generate each plugin's Chalice deployment files from its manifest.

    python -m infra.plugin_config [--check] [--root DIR] [--no-vendor] [names...]

Every ``<root>/<name>/chalicelib/manifest.json`` (root: ``plugin_functions/``)
is one plugin, deployed as its own Lambda by its own Chalice project. From the
manifest this writes, in ``<root>/<name>/``:

* ``.chalice/config.json``: app name ``mf-plugin-<name>-v<major>``, stages
  ``dev`` and ``prod``; per stage the function ``handler`` gets the manifest's
  ``runtime.memory_limit_mb`` / ``runtime.timeout_seconds``, the state table
  in ``MF_PLUGIN_STATE_TABLE`` and a fixed IAM policy (no autogen);
* ``.chalice/policy-<stage>.json``: least privilege: its own log group, and
  (only if the manifest declares ``storage``) the DynamoDB calls its
  ``storage:*`` permissions need, on ``mf-<stage>-plugin-state``, limited to
  partition keys ``<name>#*``;
* ``.chalice/merge-template-<stage>.json``: for ``chalice package
  --merge-template``: CloudFormation would otherwise name the function
  ``<stack>-Handler-<random>``, while the gateway invokes, and the policy's log
  group expects, ``mf-plugin-<name>-v<major>-<stage>-handler`` (the name
  ``chalice deploy`` gives it);
* ``requirements.txt``: the SDK's runtime dependencies, pinned as in
  ``sdk/mocklib_plugin_sdk/pyproject.toml``;
* ``vendor/mocklib_plugin_sdk/``: a copy of the SDK package (gitignored;
  Chalice ships vendor/ as is, so packaging needs no private index).

These files are committed (except vendor/) and never edited by hand.
``--check`` writes nothing and exits 1 listing every plugin whose generated
files are missing or differ from the ones on disk (vendor/ is not checked: it
is not committed; ``write`` and ``vendor_sdk`` refresh it). Both modes also
fail if a plugin's hand-written ``app.py`` disagrees with its manifest (app
name, the ``handler`` function).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mocklib_plugin_sdk.manifest import NAME_PATTERN as SDK_NAME_PATTERN

from chalicelib.publishing import stack as _stack

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = REPO_ROOT / "plugin_functions"
SDK_PROJECT = REPO_ROOT / "sdk" / "mocklib_plugin_sdk"
SDK_PACKAGE = SDK_PROJECT / "mocklib_plugin_sdk"

STAGES = ("dev", "prod")
FUNCTION = "handler"  # @app.lambda_function(name="handler") in every plugin's app.py
CFN_LOGICAL_ID = "Handler"  # what `chalice package` calls that function's resource
STATE_TABLE = "mf-{stage}-plugin-state"
# The SDK's rule: the name is the partition-key prefix and goes into an IAM StringLike pattern
# (so no '#', '*', '?') and into function and role names of at most 64 characters.
NAME_PATTERN = SDK_NAME_PATTERN
LAMBDA_MEMORY_MB = (128, 10240)
LAMBDA_TIMEOUT_S = (1, 900)
# Storage permission -> DynamoDB actions: one table for reference plugins (these files) and for
# approved submissions (their stacks, chalicelib/publishing/stack.py), so both get the same rights.
STORAGE_ACTIONS = _stack.STORAGE_ACTIONS
ACTION_ORDER = _stack.ACTION_ORDER
VENDOR_IGNORE = ("__pycache__", "*.pyc", "*.pyo")


class ManifestError(ValueError):
    pass


@dataclass(frozen=True)
class PluginProject:
    name: str
    major: int
    memory_mb: int
    timeout_s: int
    python: str | None
    services: frozenset[str]
    permissions: frozenset[str]
    directory: Path

    @property
    def app_name(self) -> str:
        return f"mf-plugin-{self.name}-v{self.major}"

    def function_name(self, stage: str) -> str:
        # Chalice names a lambda_function "<app_name>-<stage>-<name>"; the gateway's
        # MF_PLUGIN_FUNCTION_TEMPLATE default is the same string.
        return f"{self.app_name}-{stage}-{FUNCTION}"


def _int_in(runtime: Mapping[str, Any], key: str, bounds: tuple[int, int], where: Path) -> int:
    value = runtime.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not bounds[0] <= value <= bounds[1]:
        raise ManifestError(f"{where}: runtime.{key} must be an integer in {bounds[0]}..{bounds[1]}, got {value!r}")
    return value


def load_project(plugin_dir: Path) -> PluginProject:
    path = plugin_dir / "chalicelib" / "manifest.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: {exc}") from exc
    name = document.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ManifestError(f"{path}: name {name!r} must match {NAME_PATTERN.pattern}")
    if name != plugin_dir.name:
        raise ManifestError(f"{path}: manifest name {name!r} differs from its folder {plugin_dir.name!r}")
    version = document.get("version")
    match = re.match(r"^(\d+)\.\d+\.\d+", version) if isinstance(version, str) else None
    if match is None:
        raise ManifestError(f"{path}: version {version!r} is not semver")
    runtime = document.get("runtime") or {}
    python = runtime.get("version")
    return PluginProject(
        name=name, major=int(match.group(1)),
        memory_mb=_int_in(runtime, "memory_limit_mb", LAMBDA_MEMORY_MB, path),
        timeout_s=_int_in(runtime, "timeout_seconds", LAMBDA_TIMEOUT_S, path),
        python=str(python) if python is not None else None,
        services=frozenset((document.get("dependencies") or {}).get("mockfactory_apis") or []),
        permissions=frozenset(document.get("permissions") or []),
        directory=plugin_dir)


def discover(root: Path, names: Sequence[str] = ()) -> list[Path]:
    found = sorted(p.parent.parent for p in root.glob("*/chalicelib/manifest.json"))
    if not names:
        return found
    by_name = {p.name: p for p in found}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ManifestError(f"no plugin {', '.join(missing)} under {root} (known: {', '.join(by_name) or 'none'})")
    return [by_name[n] for n in names]


# -- generated content ----------------------------------------------------------------

def _json(document: Any) -> str:
    return json.dumps(document, indent=2) + "\n"


def chalice_config(project: PluginProject) -> dict[str, Any]:
    return {
        "version": "2.0",
        "app_name": project.app_name,
        "stages": {
            stage: {
                "autogen_policy": False,
                "iam_policy_file": f"policy-{stage}.json",
                "environment_variables": {"MF_PLUGIN_STATE_TABLE": STATE_TABLE.format(stage=stage)},
                "lambda_functions": {
                    FUNCTION: {"lambda_memory_size": project.memory_mb, "lambda_timeout": project.timeout_s},
                },
            }
            for stage in STAGES
        },
    }


def iam_policy(project: PluginProject, stage: str) -> dict[str, Any]:
    # Region/account are wildcards: the same file serves `chalice deploy` (sent to
    # IAM as is, so no CloudFormation intrinsics) and `chalice package`.
    log_group = f"arn:aws:logs:*:*:log-group:/aws/lambda/{project.function_name(stage)}"
    statements: list[dict[str, Any]] = [{
        "Sid": "OwnLogGroup",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [log_group, f"{log_group}:*"],
    }]
    granted = {a for p in project.permissions if "storage" in project.services for a in STORAGE_ACTIONS.get(p, ())}
    if granted:
        statements.append({
            "Sid": "OwnPluginState",
            "Effect": "Allow",
            "Action": [a for a in ACTION_ORDER if a in granted],
            "Resource": f"arn:aws:dynamodb:*:*:table/{STATE_TABLE.format(stage=stage)}",
            # '#' matters: "echo*" would also admit a plugin named "echo-x".
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{project.name}#*"]}},
        })
    return {"Version": "2012-10-17", "Statement": statements}


def merge_template(project: PluginProject, stage: str) -> dict[str, Any]:
    return {"Resources": {CFN_LOGICAL_ID: {"Properties": {"FunctionName": project.function_name(stage)}}}}


def sdk_requirements(sdk_project: Path = SDK_PROJECT) -> list[str]:
    deps = tomllib.loads((sdk_project / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    unpinned = [d for d in deps if not re.match(r"^[A-Za-z0-9_.\[\],-]+==[^=*,;]+$", d)]
    if unpinned:
        raise ManifestError(f"SDK dependencies must be pinned with '==' for reproducible plugin packages: {unpinned}")
    return list(deps)


def requirements_txt(requirements: Iterable[str]) -> str:
    header = ("# Generated by `python -m infra.plugin_config` from sdk/mocklib_plugin_sdk/pyproject.toml;\n"
              "# do not edit. The SDK itself is vendored into vendor/ (not committed).\n")
    return header + "".join(f"{r}\n" for r in requirements)


def generated_files(project: PluginProject, requirements: Sequence[str]) -> dict[str, str]:
    files = {".chalice/config.json": _json(chalice_config(project))}
    for stage in STAGES:
        files[f".chalice/policy-{stage}.json"] = _json(iam_policy(project, stage))
    for stage in STAGES:
        files[f".chalice/merge-template-{stage}.json"] = _json(merge_template(project, stage))
    files["requirements.txt"] = requirements_txt(requirements)
    return files


# -- hand-written app.py must agree ----------------------------------------------------

def app_problems(project: PluginProject) -> list[str]:
    app = project.directory / "app.py"
    if not app.is_file():
        return ["app.py is missing"]
    source = app.read_text(encoding="utf-8")
    problems = []
    match = re.search(r"Chalice\(\s*app_name\s*=\s*['\"]([^'\"]+)['\"]", source)
    if match is None or match.group(1) != project.app_name:
        problems.append(f"app.py must create Chalice(app_name={project.app_name!r}), "
                        f"found {match.group(1) if match else None!r}")
    if not re.search(r"@app\.lambda_function\(\s*name\s*=\s*['\"]%s['\"]\s*\)" % FUNCTION, source):
        problems.append(f'app.py must expose @app.lambda_function(name="{FUNCTION}")')
    return problems


# -- vendoring -------------------------------------------------------------------------

def _tree(directory: Path) -> dict[str, bytes]:
    if not directory.is_dir():
        return {}
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")}


def vendor_sdk(plugin_dir: Path, sdk_package: Path = SDK_PACKAGE) -> bool:
    """Make ``vendor/mocklib_plugin_sdk`` an exact copy of the SDK package; True if changed.

    Left alone when already identical: Chalice keys its dependency-zip cache on the
    vendor/ contents, and rewriting under a running `chalice package` would race.
    """
    target = plugin_dir / "vendor" / sdk_package.name
    if _tree(target) == _tree(sdk_package) and not any(target.rglob("__pycache__")):
        return False
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(sdk_package, target, ignore=shutil.ignore_patterns(*VENDOR_IGNORE))
    return True


# -- modes -----------------------------------------------------------------------------

def stale_files(project: PluginProject, requirements: Sequence[str]) -> list[str]:
    stale = []
    for relative, content in generated_files(project, requirements).items():
        path = project.directory / relative
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current != content:
            stale.append(relative)
    return stale


def write(project: PluginProject, requirements: Sequence[str], *, vendor: bool = True) -> list[str]:
    changed = []
    for relative, content in generated_files(project, requirements).items():
        path = project.directory / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
            changed.append(relative)
    if vendor and vendor_sdk(project.directory):
        changed.append(f"vendor/{SDK_PACKAGE.name}/")
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.plugin_config", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="plugins to process (default: all)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if any generated file is missing or stale")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT,
                        help=f"folder holding <name>/chalicelib/manifest.json (default: {DEFAULT_ROOT})")
    parser.add_argument("--no-vendor", action="store_true", help="do not refresh vendor/ (write mode)")
    args = parser.parse_args(argv)

    try:
        requirements = sdk_requirements()
        projects = [load_project(d) for d in discover(args.root, args.names)]
    except ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not projects:
        print(f"no plugins under {args.root}", file=sys.stderr)
        return 0

    failed = False
    stale_names = []
    for project in projects:
        label = _label(project.directory)
        for problem in app_problems(project):
            print(f"{label}: {problem}", file=sys.stderr)
            failed = True
        if args.check:
            stale = stale_files(project, requirements)
            if stale:
                print(f"{label}: stale {', '.join(stale)}", file=sys.stderr)
                stale_names.append(project.name)
                failed = True
        else:
            changed = write(project, requirements, vendor=not args.no_vendor)
            print(f"{label}: {'wrote ' + ', '.join(changed) if changed else 'up to date'}")
    if stale_names:
        root = "" if args.root == DEFAULT_ROOT else f" --root {args.root}"
        print(f"regenerate with: python -m infra.plugin_config{root} {' '.join(stale_names)}", file=sys.stderr)
    return 1 if failed else 0


def _label(directory: Path) -> str:
    try:
        return directory.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(directory)


if __name__ == "__main__":
    sys.exit(main())
