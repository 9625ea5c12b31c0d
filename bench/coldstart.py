"""Cold start of the packaged Lambdas: import time of the handler module, and zip sizes.

    .venv/bin/python bench/coldstart.py [--runs 9] [--plugin echo] [--no-write]

Packages the API and one plugin with `chalice package` (offline, .tools/wheels), then
measures two variants of each zip, unzipped the way Lambda does (/var/task):

* ``chalice``: the zip as Chalice makes it (no bytecode, botocore inside);
* ``optimized``: after ``infra.package.optimize_zip`` (unchecked-hash .pyc, no botocore).

Each run is a fresh ``python -S -X importtime -c "import app"`` with the unzipped
package first on ``sys.path`` and, after it, a stand-in for the runtime's ``/var/runtime``
(boto3, botocore, s3transfer, ... linked from the venv, compiled as they are on Lambda).
``-S``: no venv site-packages, only what the Lambda would have. PYTHONDONTWRITEBYTECODE: the
task root is read-only on Lambda, nothing is cached between cold starts. Median of --runs.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import write_section  # noqa: E402
from infra import package as packaging  # noqa: E402

TARGET_MS = {"api": 200.0, "plugin": 100.0}
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")
IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)$")


def runtime_standin(directory: Path) -> Path:
    import botocore

    site = Path(botocore.__file__).resolve().parent.parent
    directory.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        if (site / name).exists():
            (directory / name).symlink_to(site / name)
    return directory


def import_once(task_root: Path, runtime: Path, module: str = "app") -> tuple[float, list[tuple[int, str]]]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": f"{task_root}{os.pathsep}{runtime}",
           "PYTHONDONTWRITEBYTECODE": "1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
           "POWERTOOLS_SERVICE_NAME": "bench", "LAMBDA_TASK_ROOT": str(task_root)}
    result = subprocess.run([sys.executable, "-S", "-X", "importtime", "-c", f"import {module}"],
                            cwd=task_root, env=env, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"import {module} failed in {task_root}:\n{result.stderr[-3000:]}")
    total = None
    selfs = []
    for line in result.stderr.splitlines():
        match = IMPORTTIME.match(line)
        if match:
            selfs.append((int(match.group(1)), match.group(4)))
            if match.group(4) == module and not match.group(3).strip(" ") and len(match.group(3)) <= 1:
                total = int(match.group(2)) / 1000
    if total is None:
        raise RuntimeError(f"no importtime line for {module}")
    return total, selfs


def measure(task_root: Path, runtime: Path, runs: int) -> tuple[list[float], list[tuple[int, str]]]:
    import_once(task_root, runtime)  # warm the page cache; not counted
    samples = []
    offenders: list[tuple[int, str]] = []
    for _ in range(runs):
        total, selfs = import_once(task_root, runtime)
        samples.append(total)
        if total == max(samples) or not offenders:
            offenders = selfs
    return samples, sorted(offenders, reverse=True)[:8]


def unzipped_size(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        return sum(i.file_size for i in archive.infolist())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--plugin", default="echo")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = parser.parse_args(argv)

    env = packaging.packaging_env(online=not any(packaging.WHEELS.glob("*.whl")))
    rows = []
    offenders_text: list[str] = []
    floor_text: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mf-coldstart-") as scratch:
        base = Path(scratch)
        runtime = runtime_standin(base / "runtime")
        for kind, name in (("api", "api"), ("plugin", args.plugin)):
            project = packaging.projects([name])[0]
            built = packaging.package(project, "prod", base / "out", env, optimize=False)
            plain_zip = built.zip
            optimized_zip = built.directory / "optimized.zip"
            shutil.copyfile(plain_zip, optimized_zip)
            report = packaging.optimize_zip(optimized_zip)
            results = {}
            for variant, zip_path in (("chalice", plain_zip), ("optimized", optimized_zip)):
                root = base / f"{name}-{variant}"
                with zipfile.ZipFile(zip_path) as archive:
                    archive.extractall(root)
                samples, offenders = measure(root, runtime, args.runs)
                results[variant] = samples
                rows.append((kind, name, variant, statistics.median(samples), min(samples), max(samples),
                             zip_path.stat().st_size, unzipped_size(zip_path)))
                print(f"{name:8} {variant:9} import app: median {statistics.median(samples):7.1f} ms "
                      f"(min {min(samples):.1f}, max {max(samples):.1f}) zip {zip_path.stat().st_size / 1e6:.2f} MB")
                if variant == "optimized" and kind == "api":
                    floor = statistics.median(import_once(root, runtime, "pynamodb.connection")[0]
                                              for _ in range(args.runs))
                    floor_text.append(
                        f"- Of the `api` figure, `import pynamodb.connection` alone (pynamodb + botocore) takes "
                        f"median {floor:.1f} ms in the same setup. Every API route reads or writes DynamoDB, so "
                        "deferring it past import would move that cost into the first request, not remove it; "
                        f"the other {statistics.median(samples) - floor:.0f} ms are Chalice, "
                        "the routes and their services.")
                if variant == "optimized":
                    offenders_text.append(f"- `{name}` (optimized), largest self times in its slowest run: " + ", ".join(
                        f"`{module}` {us / 1000:.1f} ms" for us, module in offenders[:6]))
            ratio = statistics.median(results["chalice"]) / statistics.median(results["optimized"])
            print(f"{name:8} speed-up from bytecode (+ runtime botocore): {ratio:.2f}x; "
                  f"{report.pycs} .pyc for {report.sources} .py, {report.dropped_entries} entries dropped")

    table = ["| package | variant | import `app` median ms | min | max | zip MB | unzipped MB |",
             "|---|---|---|---|---|---|---|"]
    for kind, name, variant, median, low, high, zipped, unzipped in rows:
        table.append(f"| {name} ({kind}) | {variant} | {median:.1f} | {low:.1f} | {high:.1f} | "
                     f"{zipped / 1e6:.2f} | {unzipped / 1e6:.2f} |")
    verdicts = []
    for kind, name, variant, median, *_ in rows:
        if variant == "optimized":
            target = TARGET_MS[kind]
            verdicts.append(f"- `{name}` handler import: median {median:.1f} ms against a target of <= {target:.0f} ms: "
                            f"**{'met' if median <= target else 'not met'}**.")
    body = "\n".join([
        f"Command: `.venv/bin/python bench/coldstart.py --runs {args.runs} --plugin {args.plugin}`",
        "",
        "`chalice package` (prod) of the API and of a plugin, unzipped as on Lambda; each figure is a fresh",
        "`python -S -X importtime -c \"import app\"` (cumulative time of `app`), the package first on",
        "`sys.path`, then a stand-in for the runtime's boto3/botocore; no bytecode written between runs",
        "(Lambda's task root is read-only). `chalice` = the zip as Chalice makes it (no `.pyc`, botocore",
        "inside); `optimized` = after `python -m infra.package` (unchecked-hash `.pyc` for every `.py`,",
        "botocore left to the runtime, see infra/package.py).",
        "",
        *table,
        "",
        *verdicts,
        *floor_text,
        *offenders_text,
    ])
    print(body)
    if not args.no_write:
        write_section("Cold start: handler import and package size", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
