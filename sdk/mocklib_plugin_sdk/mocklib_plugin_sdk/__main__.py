"""``python -m mocklib_plugin_sdk serve path/to/plugin_dir --port N``,
``python -m mocklib_plugin_sdk check path/to/project [--json] [--only tests,contract]``,
``python -m mocklib_plugin_sdk fidelity path/to/project [--json] [--write]`` (the project's tests
with ``--conformance``: coverage and conformance against its spec/) and
``python -m mocklib_plugin_sdk spec-subset VENDOR_DOC... --project DIR --out FILE`` (a vendor
document cut down to what the plugin needs, see ``mocklib_plugin_sdk.conformance.subset``)."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from .checks import CHECK_IDS, format_report, run_checks, selected_checks
from .conformance.run import FIDELITY_FILE
from .errors import PluginError
from .loader import load_plugin_dir
from .serve import DEFAULT_RETRY_DELAYS, LOCAL_USER, PluginServer
from .settings import SdkSettings
from .state import InMemoryStateStore, StateStore


def _json_arg(value: str) -> Any:
    text = Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value
    return json.loads(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mocklib_plugin_sdk")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a plugin folder as a local HTTP server")
    serve.add_argument("plugin_dir")
    serve.add_argument("--port", type=int, default=8080, help="0 picks a free port (printed on start)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--config", type=_json_arg, help="install config as JSON, or @file.json")
    serve.add_argument("--licence-tier", help="pretend the caller holds a licence of this tier")
    serve.add_argument("--features", default="", help="comma-separated licence features")
    serve.add_argument("--webhook-url", help="endpoint for webhooks.send events")
    serve.add_argument("--webhook-secret", help="signing secret (random if omitted)")
    serve.add_argument("--state", choices=("auto", "memory", "dynamodb"), default="auto",
                       help="auto: DynamoDB if MF_PLUGIN_STATE_TABLE is set, else memory")
    serve.add_argument("--user", default=LOCAL_USER, help="user id for calls without a credential")
    serve.add_argument("--log-level", default="WARNING")
    check = commands.add_parser("check", help="run the marketplace's publishing checks on a plugin project",
                                description="Exit status: 0 accepted, 1 refused, 2 bad usage.")
    check.add_argument("project_dir")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--only", help="comma-separated check ids: " + ", ".join(CHECK_IDS))
    check.add_argument("--test-timeout", type=int, default=180, help="seconds the tests may take")
    fidelity = commands.add_parser("fidelity", help="run a project's tests and measure its fidelity to spec/",
                                   description="Exit status: 0 measured, 1 the tests failed or no spec, 2 bad usage.")
    fidelity.add_argument("project_dir")
    fidelity.add_argument("--json", action="store_true", help="print the report as JSON")
    fidelity.add_argument("--write", action="store_true", help=f"write it to spec/{FIDELITY_FILE}")
    subset = commands.add_parser("spec-subset", help="cut a vendor OpenAPI document down to what a plugin needs")
    subset.add_argument("sources", nargs="+", help="the vendor's document(s): .json, .yaml, optionally .gz")
    subset.add_argument("--project", required=True, help="the plugin project (its manifest's endpoints)")
    subset.add_argument("--out", required=True, help="the subset to write, e.g. spec/vendor.json.gz")
    for name in ("title", "version", "source", "license", "note", "path-prefix"):
        subset.add_argument(f"--{name}", help=f"spec/spec.json {name.replace('-', '_')} (written with --title)")
    return parser


def _fidelity(args: argparse.Namespace) -> int:
    from .conformance.measure import format_fidelity
    from .conformance.run import FidelityError, measure_project

    try:
        report = measure_project(Path(args.project_dir))
    except FidelityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.write:
        (Path(args.project_dir) / "spec" / FIDELITY_FILE).write_text(
            json.dumps(report, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2) if args.json else format_fidelity(report))
    return 0


def _subset(args: argparse.Namespace) -> int:
    from .conformance.spec import SpecDeclaration, SpecError
    from .conformance.subset import run

    declaration = None
    if args.title:
        declaration = SpecDeclaration.from_document({"file": Path(args.out).name, "title": args.title,
                                                     "version": args.version, "source": args.source,
                                                     "license": args.license, "note": args.note,
                                                     "path_prefix": args.path_prefix})
    try:
        result = run([Path(s) for s in args.sources], Path(args.project), Path(args.out), declaration)
    except (SpecError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: {result['operations']} operations, answers kept for {result['kept_paths']}, "
          f"{result['bytes']} bytes")
    return 0


def _check(args: argparse.Namespace) -> int:
    only = args.only.split(",") if args.only is not None else None
    try:
        selected_checks(only)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not Path(args.project_dir).is_dir():
        print(f"error: {args.project_dir} is not a folder", file=sys.stderr)
        return 2
    report = run_checks(Path(args.project_dir), only=only, test_timeout_s=args.test_timeout,
                        sandbox_required=False)  # a developer's own code, on their own machine
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_report(report))
    return 0 if report.passed else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check":
        return _check(args)
    if args.command == "fidelity":
        return _fidelity(args)
    if args.command == "spec-subset":
        return _subset(args)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    settings = SdkSettings.from_env()
    try:
        plugin_class, manifest = load_plugin_dir(args.plugin_dir)
        store: StateStore | None = None
        if args.state == "memory":
            store = InMemoryStateStore()
        elif args.state == "dynamodb":
            settings.require_state_table()
        licence = None
        if args.licence_tier or args.features:
            licence = {"tier": args.licence_tier or "", "features": [f for f in args.features.split(",") if f]}
        server = PluginServer(plugin_class, manifest, port=args.port, host=args.host, store=store,
                              settings=settings, config=args.config, licence=licence,
                              webhook_url=args.webhook_url, webhook_secret=args.webhook_secret,
                              user_id=args.user, retry_delays=DEFAULT_RETRY_DELAYS)
    except PluginError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2

    def _terminate(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _terminate)
    print(f"mocklib-plugin-sdk: serving {manifest.name} {manifest.version} at "
          f"http://{args.host}:{server.port}", flush=True)
    if args.webhook_url:
        print(f"mocklib-plugin-sdk: webhook secret {server.webhook_secret}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
