"""Package the API and every plugin for AWS, offline, with zips that start fast.

    python -m infra.package [--stage prod] [--out out] [--online] [api] [PLUGIN ...]

For each project (``api``: the repository root; a plugin: ``plugin_functions/<name>``) this
runs ``chalice package --pkg-format cloudformation --stage <stage>`` (plugins with their
generated ``--merge-template``) into ``<out>/<stage>/<project>/`` (``sam.json`` +
``deployment.zip``), then rewrites the zip (:func:`optimize_zip`):

* **bytecode**: Chalice zips ship ``.py`` only and Lambda's ``/var/task`` is read-only, so
  every cold start compiles every imported module again. Each ``.py`` gets its
  ``__pycache__/<name>.cpython-311.pyc``, compiled by this (3.11) interpreter as
  *unchecked-hash* pycs (PEP 552): valid whatever the files' mtimes after unzipping, never
  re-checked against the source. Tracebacks show ``/var/task/...`` paths.
* **no botocore**: ``pynamodb`` pulls ``botocore`` into the zip (16 MB of the 30 MB), while
  ``boto3`` is not shipped (requirements.txt: the Lambda runtime provides both). The runtime's
  ``boto3`` pins its own ``botocore`` release; a shipped ``botocore`` would shadow it (``/var/task``
  comes first on ``sys.path``) with a pairing neither library was released with.

Every project ships the plugin SDK in ``vendor/`` (not committed; refreshed here): the
plugins run on it and the API's publishing pipeline reads packages with it.

``plugin-sdk`` is not a Chalice project: it is the Lambda layer every approved third-party plugin
runs on (``chalicelib/publishing/bundle.py``): ``<out>/<stage>/plugin-sdk/layer.zip`` holds
``python/`` with the SDK and its pinned dependencies (sdk/mocklib_plugin_sdk/pyproject.toml)
for Lambda's platform, with bytecode and without botocore, published as ``mf-<stage>-plugin-sdk``
(docs/DEPLOY.md). A plugin's own zip then holds only its own code.

pip runs offline: ``PIP_NO_INDEX=1`` and ``PIP_FIND_LINKS=.tools/wheels`` (filled by
``scripts/bootstrap.sh``, step 5); Chalice's pip subprocesses inherit the environment.
``--online`` lets pip use its index (for a machine without the wheel cache).

Then deploy ``sam.json`` with ``aws cloudformation package`` + ``deploy`` (docs/DEPLOY.md).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import marshal
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from infra import plugin_config

REPO_ROOT = Path(__file__).resolve().parent.parent
WHEELS = REPO_ROOT / ".tools" / "wheels"
PYTHON = (3, 11)  # the Lambda runtime every project declares (python3.11)
PYC_TAG = f"cpython-{PYTHON[0]}{PYTHON[1]}"
LAMBDA_TASK_ROOT = "/var/task"
# Top-level zip entries provided by the Lambda runtime and dropped from every package.
RUNTIME_PROVIDED = ("botocore",)
CHALICE = [sys.executable, "-c", "import sys; from chalice.cli import main; sys.exit(main())"]


class PackagingError(RuntimeError):
    pass


@dataclass(frozen=True)
class Project:
    name: str  # "api" or the plugin's name
    directory: Path
    is_plugin: bool

    def merge_template(self, stage: str) -> str:
        return f".chalice/merge-template-{stage}.json"  # plugins: infra.plugin_config; the API: infra.template


@dataclass(frozen=True)
class ZipReport:
    bytes_before: int
    bytes_after: int
    unzipped_bytes: int
    sources: int
    pycs: int
    dropped_entries: int


@dataclass(frozen=True)
class Packaged:
    project: Project
    stage: str
    directory: Path
    seconds: float
    report: ZipReport

    @property
    def template(self) -> Path:
        return self.directory / "sam.json"

    @property
    def zip(self) -> Path:
        return self.directory / "deployment.zip"


def projects(names: Sequence[str] = (), plugin_root: Path = plugin_config.DEFAULT_ROOT) -> list[Project]:
    plugins = [Project(p.name, p, True) for p in plugin_config.discover(plugin_root)]
    found = [Project("api", REPO_ROOT, False), *plugins]
    if not names:
        return found
    by_name = {p.name: p for p in found}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise PackagingError(f"unknown project(s) {', '.join(missing)}; known: {', '.join(by_name)}")
    return [by_name[n] for n in names]


def packaging_env(environ: Mapping[str, str] = os.environ, *, online: bool = False) -> dict[str, str]:
    env = dict(environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no .pyc in vendor/: Chalice hashes and ships it as is
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # chalice wants a region even offline
    if not online:
        if not any(WHEELS.glob("*.whl")):
            raise PackagingError(f"no wheel cache in {WHEELS}: run `make bootstrap` (or pass --online)")
        env["PIP_NO_INDEX"] = "1"
        env["PIP_FIND_LINKS"] = str(WHEELS)
    return env


# -- bytecode and runtime-provided packages ------------------------------------------------

def _dropped(name: str) -> bool:
    top = name.split("/", 1)[0]
    return any(top == p or (top.startswith(p + "-") and top.endswith(".dist-info")) for p in RUNTIME_PROVIDED)


def _pyc_name(source: str) -> str:
    folder, _, file = source.rpartition("/")
    cached = f"__pycache__/{file[:-3]}.{PYC_TAG}.pyc"
    return f"{folder}/{cached}" if folder else cached


def pyc_bytes(source: bytes, filename: str) -> bytes:
    """An unchecked-hash pyc (PEP 552) of ``source``: magic, flags=0b01 (hash-based, unchecked),
    the source hash, the marshalled code object; what py_compile writes with UNCHECKED_HASH."""
    code = compile(source, filename, "exec", dont_inherit=True)
    return (importlib.util.MAGIC_NUMBER + (1).to_bytes(4, "little") + importlib.util.source_hash(source)
            + marshal.dumps(code))


def optimize_zip(path: Path, *, root: str = LAMBDA_TASK_ROOT) -> ZipReport:
    """Rewrite ``path`` in place: runtime-provided packages dropped, unchecked-hash .pyc added
    (their code objects name ``root/<entry>``: where Lambda unzips it, /opt for a layer)."""
    if sys.version_info[:2] != PYTHON:
        raise PackagingError(f"bytecode must be compiled by Python {PYTHON[0]}.{PYTHON[1]}, "
                             f"this is {sys.version_info[0]}.{sys.version_info[1]}")
    before = path.stat().st_size
    unzipped = pycs = sources = 0
    rewritten = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as archive, \
            zipfile.ZipFile(rewritten, "w", compression=zipfile.ZIP_DEFLATED) as out:
        entries = [i for i in archive.infolist() if not _dropped(i.filename)]
        dropped = len(archive.infolist()) - len(entries)
        if any(i.filename.endswith(".pyc") for i in entries):
            raise PackagingError(f"{path} already holds .pyc files: optimize a fresh `chalice package` zip")
        compiled: list[tuple[zipfile.ZipInfo, bytes]] = []
        for info in entries:
            data = archive.read(info)
            out.writestr(info, data)
            unzipped += info.file_size
            if info.filename.endswith(".py") and not info.is_dir():
                sources += 1
                try:
                    # Code objects (tracebacks) name /var/task/..., where Lambda unzips.
                    compiled.append((info, pyc_bytes(data, f"{root}/{info.filename}")))
                except (SyntaxError, ValueError):
                    continue  # not valid 3.11 source (e.g. a py2-only file nothing imports)
        # Bytecode after the sources: a reader that stops early still finds every module.
        for info, data in compiled:
            pyc = zipfile.ZipInfo(_pyc_name(info.filename), date_time=info.date_time)
            pyc.external_attr = info.external_attr
            pyc.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(pyc, data)
            unzipped += len(data)
            pycs += 1
    rewritten.replace(path)
    return ZipReport(bytes_before=before, bytes_after=path.stat().st_size, unzipped_bytes=unzipped,
                     sources=sources, pycs=pycs, dropped_entries=dropped)


# -- chalice package -----------------------------------------------------------------------

def package(project: Project, stage: str, out: Path, env: Mapping[str, str], *, optimize: bool = True) -> Packaged:
    target = out / stage / project.name
    if target.exists():
        shutil.rmtree(target)
    plugin_config.vendor_sdk(project.directory)  # vendor/ is not committed (the API imports the SDK too)
    command = [*CHALICE, "package", "--pkg-format", "cloudformation", "--stage", stage]
    command += ["--merge-template", project.merge_template(stage)]
    started = time.monotonic()
    result = subprocess.run([*command, str(target)], cwd=project.directory, env=dict(env),
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise PackagingError(f"chalice package ({project.name}, {stage}) failed:\n{result.stdout}\n{result.stderr}")
    resources = json.loads((target / "sam.json").read_text())["Resources"].values()
    runtimes = {r["Properties"].get("Runtime") for r in resources if r["Type"] == "AWS::Serverless::Function"}
    if runtimes != {f"python{PYTHON[0]}.{PYTHON[1]}"}:
        raise PackagingError(f"{project.name}: packaged for {runtimes}; package with Python {PYTHON[0]}.{PYTHON[1]}")
    report = optimize_zip(target / "deployment.zip") if optimize else _plain_report(target / "deployment.zip")
    return Packaged(project, stage, target, time.monotonic() - started, report)


def _plain_report(path: Path) -> ZipReport:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    size = path.stat().st_size
    return ZipReport(size, size, sum(i.file_size for i in infos), sum(i.filename.endswith(".py") for i in infos),
                     0, 0)


# -- the plugin SDK layer -------------------------------------------------------------------

SDK_LAYER = "plugin-sdk"
LAYER_PLATFORM = ("--platform", "manylinux2014_x86_64", "--python-version", f"{PYTHON[0]}.{PYTHON[1]}",
                  "--implementation", "cp", "--only-binary=:all:")
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def build_sdk_layer(stage: str, out: Path, env: Mapping[str, str]) -> Path:
    """``<out>/<stage>/plugin-sdk/layer.zip``: the SDK and its pinned dependencies for Lambda's
    platform under ``python/`` (what Lambda puts on ``sys.path`` from a layer)."""
    target = out / stage / SDK_LAYER
    if target.exists():
        shutil.rmtree(target)
    site = target / "build" / "python"
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(site),
               *LAYER_PLATFORM, *plugin_config.sdk_requirements()]
    result = subprocess.run(command, env=dict(env), capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise PackagingError(f"pip could not build the plugin SDK layer:\n{result.stdout}\n{result.stderr}")
    shutil.copytree(plugin_config.SDK_PACKAGE, site / plugin_config.SDK_PACKAGE.name,
                    ignore=shutil.ignore_patterns(*plugin_config.VENDOR_IGNORE))
    layer = target / "layer.zip"
    with zipfile.ZipFile(layer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(site.rglob("*")):
            relative = path.relative_to(site.parent).as_posix()
            top = path.relative_to(site).parts[0]
            if not path.is_file() or "__pycache__" in path.parts or top == "bin" or _dropped(top):
                continue
            info = zipfile.ZipInfo(relative, date_time=_FIXED_DATE)
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    shutil.rmtree(target / "build")
    optimize_zip(layer, root="/opt")
    return layer


def package_all(stages: Iterable[str], out: Path, env: Mapping[str, str], *, names: Sequence[str] = (),
                workers: int = 2, optimize: bool = True) -> list[Packaged]:
    """Every project for every stage. Projects run in parallel; one project's stages in turn
    (they share its .chalice/deployments/ dependency cache)."""
    stages = list(stages)

    def one(project: Project) -> list[Packaged]:
        return [package(project, stage, out, env, optimize=optimize) for stage in stages]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [p for batch in pool.map(one, projects(names)) for p in batch]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.package", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="api and/or plugin names (default: all)")
    parser.add_argument("--stage", action="append", choices=plugin_config.STAGES, help="default: prod")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "out")
    parser.add_argument("--online", action="store_true", help="let pip use its index instead of .tools/wheels")
    parser.add_argument("--no-optimize", action="store_true", help="leave Chalice's zips as they are")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--vendor-only", action="store_true",
                        help="only refresh each project's vendor/ (the plugin SDK), e.g. before `chalice deploy`")
    args = parser.parse_args(argv)
    if SDK_LAYER in args.names:
        try:
            env = packaging_env(online=args.online)
            for stage in args.stage or ["prod"]:
                print(f"{stage:5} {SDK_LAYER:10} {build_sdk_layer(stage, args.out, env)}")
        except PackagingError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        args.names = [n for n in args.names if n != SDK_LAYER]
        if not args.names:
            return 0
    if args.vendor_only:
        for project in projects(args.names):
            changed = plugin_config.vendor_sdk(project.directory)
            print(f"{project.name}: vendor/{plugin_config.SDK_PACKAGE.name} {'refreshed' if changed else 'up to date'}")
        return 0
    try:
        env = packaging_env(online=args.online)
        done = package_all(args.stage or ["prod"], args.out, env, names=args.names, workers=args.workers,
                           optimize=not args.no_optimize)
    except (PackagingError, plugin_config.ManifestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for p in done:
        r = p.report
        print(f"{p.stage:5} {p.project.name:10} {p.zip}  {r.bytes_after / 1e6:6.2f} MB zip "
              f"({r.bytes_before / 1e6:.2f} MB from chalice), {r.unzipped_bytes / 1e6:6.2f} MB unzipped, "
              f"{r.pycs}/{r.sources} .pyc, {p.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
