"""``python -m devstack`` (what ``make dev`` runs): the whole marketplace on 127.0.0.1.

The stack is a list of services started in order and stopped in reverse. A later service
(frontend, plugin runtime, ...) is one more class in ``SERVICES``: ``start(stack)``
publishes its URLs into ``stack.info`` (written to dev.json), ``stop()`` undoes it,
``alive()`` reports whether it still runs.

Services: DynamoDB Local, the Stripe stand-in (``devstack.stripe_standin``), the data
(tables, seed), the API, the frontend (``devstack.frontend``: a fresh build of frontend/src
against the local API, served on ``--frontend-port``), the scheduler (``devstack.scheduler``:
the app's ``@app.schedule`` jobs at their times). Besides dev.json, ``<state-dir>/dev.env`` holds the environment the
API runs with, so the jobs can be run by hand against the running stack:

    python -m devstack --run-job payouts [--period 2026-11-01] [--dry-run]
    python -m devstack --run-job hourly | invoices [--month 2026-10] | aggregate --hour 2026-11-22T13
    # the same thing by hand:  (. .local/dev.env && python -m chalicelib.jobs payouts)
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from devstack.dynamodb import DynamoDBLocal, free_port, port_is_open
from devstack.seed import (DEMO_ADMIN, DEMO_DEVELOPER, DEMO_PASSWORD, DEMO_USER, PLUGINS_DIR,
                           load_secrets, save_secrets, seed)
from devstack.server import HOST, ApiServer

STAGE = "dev"


def log(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


class Stack:
    """What the services share: options, the state dir, and the facts for dev.json."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.state_dir = Path(args.state_dir).resolve()
        self.info: dict[str, Any] = {}


class Service(Protocol):
    name: str

    def start(self, stack: Stack) -> None: ...

    def stop(self) -> None: ...

    def alive(self) -> bool: ...


class ServerService:
    """A service that owns one server (process or thread): stopping the service stops it."""

    server: Any = None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def alive(self) -> bool:
        return self.server is not None and self.server.running()


class DynamoDBService(ServerService):
    name = "dynamodb"

    def __init__(self) -> None:
        self.server: DynamoDBLocal | None = None

    def start(self, stack: Stack) -> None:
        self.server = DynamoDBLocal(stack.args.dynamodb_port, db_path=stack.state_dir / "dynamodb",
                                    log_path=stack.state_dir / "logs" / "dynamodb.log")
        self.server.start()
        stack.info["dynamodb_url"] = self.server.endpoint
        stack.info["dynamodb_data"] = str(stack.state_dir / "dynamodb")
        where = "127.0.0.1 only" if self.server.loopback_only else \
            "WARNING: all interfaces, no JDK to build the loopback launcher"
        log(f"DynamoDB Local on {self.server.endpoint} (pid {self.server.pid}, {where})")


class StripeService(ServerService):
    """The Stripe stand-in, its webhook endpoint for the API, and the MF_STRIPE_* settings.

    Starts before the data service so the settings are in the environment when the API's
    container is built; the endpoint URL comes from ``--api-port`` (fixed before anything starts)."""

    name = "stripe"

    def __init__(self) -> None:
        self.server: Any = None

    def start(self, stack: Stack) -> None:
        from devstack.stripe_standin import (WEBHOOK_PATH, StandInClient, StripeStandInProcess,
                                             ensure_webhook_endpoint, new_api_key)

        secrets = load_secrets(stack.state_dir)
        if not str(secrets.get("stripe_secret_key", "")).startswith("mf_test_"):
            secrets["stripe_secret_key"] = new_api_key()  # kept: the stand-in keys its state by it
            save_secrets(stack.state_dir, secrets)
        api_key = secrets["stripe_secret_key"]
        persistent = stack.args.stripe_state == "dynamodb"
        table = f"mf-{STAGE}-stripe-standin-state"
        self.server = StripeStandInProcess(
            port=stack.args.stripe_port, state=stack.args.stripe_state,
            state_table=table if persistent else None,
            dynamodb_endpoint=stack.info["dynamodb_url"] if persistent else None,
            log_path=stack.state_dir / "logs" / "stripe.log")
        self.server.create_state_table()
        self.server.start()
        webhook_url = f"http://{HOST}:{stack.args.api_port}{WEBHOOK_PATH}"
        client = StandInClient(self.server.url, api_key)
        endpoint, deleted = ensure_webhook_endpoint(client, webhook_url, secrets.get("stripe_webhook_endpoint"))
        if secrets.get("stripe_webhook_endpoint") != endpoint:
            secrets["stripe_webhook_endpoint"] = endpoint
            save_secrets(stack.state_dir, secrets)
        os.environ.update({"MF_STRIPE_SECRET_KEY": api_key, "MF_STRIPE_API_BASE": self.server.url,
                           "MF_STRIPE_WEBHOOK_SECRET": endpoint["secret"]})
        stack.info.update({
            "stripe_api_base": self.server.url,
            "stripe_api_key": api_key,
            "stripe_webhook_endpoint": {"id": endpoint["id"], "url": endpoint["url"]},
            "stripe_webhook_secret": endpoint["secret"],
            "stripe_state": f"dynamodb table {table}" if persistent else "memory (lost on stop)",
        })
        stale = f", deleted stale endpoints {', '.join(deleted)}" if deleted else ""
        log(f"Stripe stand-in on {self.server.url} (pid {self.server.pid}, state "
            f"{stack.info['stripe_state']}); webhook endpoint {endpoint['id']} -> {webhook_url}{stale}")


class MarketplaceData:
    """Settings from the environment, the container, the tables, and the seed data."""

    name = "data"

    def __init__(self) -> None:
        self.container: Any = None

    def start(self, stack: Stack) -> None:
        secrets = load_secrets(stack.state_dir)
        os.environ.update({
            "MF_STAGE": STAGE,
            "MF_JWT_KEYS": secrets["jwt_keys"],
            "MF_LICENSE_KEYS": secrets["licence_keys"],  # written to dev.env with the other MF_* settings
            "MF_WEBHOOK_SIGNING_KEY": secrets["webhook_signing_key"],
            "MF_DYNAMODB_ENDPOINT": stack.info["dynamodb_url"],
            "AWS_ACCESS_KEY_ID": "devstack",  # DynamoDB Local accepts any credentials
            "AWS_SECRET_ACCESS_KEY": "devstack",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
        })
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("MF_TABLE_PREFIX", None)
        for name, value in {  # the embedded defaults; a developer's shell may override them
            "MF_PLUGIN_RUNTIME": "local",  # plugin handlers in local worker processes
            "MF_PLUGIN_SOURCE_ROOT": str(PLUGINS_DIR),
            "MF_WEBHOOK_DISPATCH": "thread",
            "MF_WEBHOOKS_ALLOW_PRIVATE": "1",  # webhook receivers on localhost
            # submitted plugin packages, and the approved ones the local runtime runs
            "MF_ARTIFACT_STORE": f"dir:{(stack.state_dir / 'artifacts').resolve()}",
            "MF_CHECKS_DISPATCH": "thread",  # a submission's checks run on a worker thread
        }.items():
            os.environ.setdefault(name, value)
        from chalicelib.core.dynamo import create_tables
        from chalicelib.core.settings import Settings
        from chalicelib.tables import TABLES
        from chalicelib.wiring import Container, set_container

        container = self.container = Container(Settings.from_env(os.environ))
        set_container(container)
        created = create_tables(TABLES)
        if container.settings.plugin_runtime == "local":
            container.plugin_state.create_table()  # the plugin SDK's own table; no-op if present
        log(f"tables: {', '.join(created) if created else 'all present'} "
            f"(prefix {container.settings.table_prefix})")
        report_sandbox(stack)
        result = seed(container, stack.state_dir)
        accounts = result.accounts
        stack.info.update({
            "demo_api_key": result.demo_api_key,
            "demo_user_token": accounts["user"].token,
            "developer_token": accounts["developer"].token,
            "admin_token": accounts["admin"].token,
            "demo_email": DEMO_USER,
            "developer_email": DEMO_DEVELOPER,
            "admin_email": DEMO_ADMIN,
            "demo_password": DEMO_PASSWORD,
            "plugins": result.plugins,
        })

    def stop(self) -> None:
        from chalicelib.wiring import set_container

        built = vars(self.container) if self.container is not None else {}
        runtime = built.get("runtime")  # a cached_property: present only if it was built
        if runtime is not None and hasattr(runtime, "close"):
            runtime.close()  # the local runtime's worker processes
        set_container(None)

    def alive(self) -> bool:
        return True


def report_sandbox(stack: Stack) -> None:
    """Say, loudly when it is missing, whether plugin code runs sandboxed on this machine."""
    from mocklib_plugin_sdk.sandbox import process_limit, unavailable_reason

    problem = unavailable_reason()
    if problem is None:
        stack.info["plugin_sandbox"] = f"bubblewrap, processes bounded by a {process_limit()}"
        log(f"plugin sandbox: {stack.info['plugin_sandbox']}")
        return
    stack.info["plugin_sandbox"] = f"NONE: {problem}"
    for line in ("!" * 78, f"NO PLUGIN SANDBOX ON THIS MACHINE: {problem}",
                 "Only the platform's own plugins run (unsandboxed); third-party submissions are refused.",
                 "!" * 78):
        log(line)


class ApiService(ServerService):
    name = "api"

    def __init__(self) -> None:
        self.server: ApiServer | None = None

    def start(self, stack: Stack) -> None:
        from app import app

        self.server = ApiServer(app, port=stack.args.api_port, stage=STAGE).start()
        stack.info["api_url"] = self.server.url
        log(f"API on {self.server.url}")

    def alive(self) -> bool:
        return self.server is not None


class FrontendService(ServerService):
    """A fresh build of the frontend (config.json -> the local API), served on 127.0.0.1."""

    name = "frontend"

    def __init__(self) -> None:
        self.server: Any = None

    def start(self, stack: Stack) -> None:
        from devstack.frontend import FrontendServer, build_for_stack

        result = build_for_stack(stack.state_dir, stack.info["api_url"])
        (stack.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.server = FrontendServer(result.out_dir, port=stack.args.frontend_port,
                                     log_file=stack.state_dir / "logs" / "frontend.log").start()
        stack.info["frontend_url"] = self.server.url
        log(f"frontend on {self.server.url} (build {result.out_dir}, {len(result.files)} files, "
            f"api_url {result.api_url})")


class SchedulerService:
    """The app's ``@app.schedule`` functions at their times (``devstack.scheduler``)."""

    name = "scheduler"

    def __init__(self) -> None:
        self.scheduler: Any = None

    def start(self, stack: Stack) -> None:
        if stack.args.no_scheduler:
            stack.info["scheduled_jobs"] = "off (--no-scheduler); run them with python -m devstack --run-job"
            log("scheduler off (--no-scheduler)")
            return
        from app import app
        from devstack.scheduler import Scheduler, scheduled_jobs

        jobs = scheduled_jobs(app, lambda line: print(f"[scheduler] {line}", flush=True))
        self.scheduler = Scheduler(jobs, app_name=app.app_name,
                                   log=lambda line: print(f"[scheduler] {line}", flush=True),
                                   error_log=stack.state_dir / "logs" / "scheduler.log").start()
        stack.info["scheduled_jobs"] = {job.name: job.expression for job in jobs}
        log("scheduler: " + "; ".join(
            f"{job.name} {job.expression} next {job.next_run:%Y-%m-%d %H:%M:%S}Z" for job in jobs
            if job.next_run is not None))

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None

    def alive(self) -> bool:
        return self.scheduler is None or self.scheduler.alive()


# Started top to bottom, stopped bottom to top.
SERVICES: list[type[Service]] = [DynamoDBService, StripeService, MarketplaceData, ApiService, FrontendService,
                                 SchedulerService]
JOBS = ("hourly", "aggregate", "payouts", "invoices")  # python -m chalicelib.jobs commands


class _Stop(BaseException):
    """Raised by the SIGINT/SIGTERM handler to unwind start-up or the wait loop."""


def _on_signal(signum: int, frame: Any) -> None:
    raise _Stop(signal.Signals(signum).name)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.splitlines()[0], allow_abbrev=False,
                                     epilog="With --run-job, the remaining arguments go to "
                                            "python -m chalicelib.jobs (e.g. --period, --dry-run, --month).")
    parser.add_argument("--api-port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--dynamodb-port", type=int, default=8100)
    parser.add_argument("--frontend-port", type=int, default=8080,
                        help="the web frontend's port (default 8080; 0 picks a free port, see frontend_url in dev.json)")
    parser.add_argument("--stripe-port", type=int, default=0,
                        help="the Stripe stand-in's port (default 0: a free one, see stripe_api_base in dev.json)")
    parser.add_argument("--stripe-state", choices=("dynamodb", "memory"), default="dynamodb",
                        help="where the Stripe stand-in keeps its objects (default: DynamoDB Local, kept)")
    parser.add_argument("--no-scheduler", action="store_true", help="do not run the scheduled jobs")
    parser.add_argument("--state-dir", default=".local",
                        help="secrets, DynamoDB data, logs, dev.json and dev.env (default .local)")
    parser.add_argument("--run-job", choices=JOBS,
                        help="run one scheduled job once against the running stack (reads <state-dir>/dev.env) "
                             "and exit")
    args, rest = parser.parse_known_args(argv)
    if rest and not args.run_job:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.job_args = rest
    return args


# What dev.env carries besides every MF_* variable: DynamoDB Local's stand-in credentials.
ENV_EXTRA = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION")


def write_dev_env(stack: Stack) -> Path:
    """The environment the API's container was built from, as ``export K='v'`` lines (sourceable)."""
    env = {k: v for k, v in os.environ.items() if k.startswith("MF_") or k in ENV_EXTRA}
    lines = ["# The dev stack's environment (written by python -m devstack, removed when it stops).",
             "# python -m devstack --run-job JOB, or: (. .local/dev.env && python -m chalicelib.jobs JOB)"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    return write_private(stack.state_dir / "dev.env", "\n".join(lines) + "\n")


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically, readable by this user only from the first byte."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return path


def read_dev_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, _, value = words[1].partition("=")
            env[key] = value
    return env


def run_job(args: argparse.Namespace) -> int:
    """``--run-job``: one scheduled job, in this process, against the running stack's data and Stripe."""
    state_dir = Path(args.state_dir).resolve()
    env_file = state_dir / "dev.env"
    if not env_file.is_file():
        log(f"{env_file} not found: is the dev stack running (make dev, same --state-dir)?")
        return 2
    try:
        os.kill(int(json.loads((state_dir / "dev.json").read_text())["pid"]), 0)
    except (OSError, ValueError, KeyError):  # no dev.json, or its process is gone (killed: files left)
        log(f"the dev stack of {state_dir} is not running; start it first (make dev)")
        return 2
    os.environ.update(read_dev_env(env_file))
    os.environ.pop("AWS_SESSION_TOKEN", None)
    from chalicelib import jobs

    return int(jobs.main([args.run_job, *args.job_args]))


def write_dev_json(stack: Stack) -> Path:
    return write_private(stack.state_dir / "dev.json", json.dumps(ordered(stack.info), indent=2) + "\n")


FIRST_KEYS = ("api_url", "frontend_url", "dynamodb_url", "demo_api_key", "demo_user_token", "developer_token",
              "admin_token")


def ordered(info: dict[str, Any]) -> dict[str, Any]:
    return {**{k: info[k] for k in FIRST_KEYS if k in info}, **info}


# Credentials in dev.json: shown once on a terminal, never written to a log.
SECRET_KEYS = ("demo_api_key", "demo_user_token", "developer_token", "admin_token", "demo_password",
               "stripe_api_key", "stripe_webhook_secret")


def banner(stack: Stack, path: Path, *, show_secrets: bool) -> str:
    info = ordered(stack.info)
    width = max(len(k) for k in info)
    lines = ["", "MockFactory Marketplace dev stack is up"]
    for key, value in info.items():
        if key in SECRET_KEYS and not show_secrets:
            value = f"(not printed to a log: see {path.name})"
        lines.append(f"  {key:<{width}}  {value if isinstance(value, (str, int)) else json.dumps(value)}")
    lines += [f"  (all of this is in {path}, readable by you only)", "Ctrl-C stops everything.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.run_job:
        return run_job(args)
    if args.api_port == 0:
        args.api_port = free_port()  # known up front: the Stripe webhook endpoint points at it
    # Everything the stack writes (secrets, DynamoDB Local's data, logs, artifacts) is this
    # user's alone: the umask holds for the servers it starts too.
    os.umask(0o077)
    stack = Stack(args)
    stack.state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(stack.state_dir, 0o700)
    (stack.state_dir / "dev.json").unlink(missing_ok=True)
    (stack.state_dir / "dev.env").unlink(missing_ok=True)
    if port_is_open(args.api_port):
        log(f"port {args.api_port} is already in use; pick another --api-port")
        return 2
    if args.frontend_port and port_is_open(args.frontend_port):
        log(f"port {args.frontend_port} is already in use; pick another --frontend-port")
        return 2
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    started: list[Service] = []
    code = 0
    try:
        for service_cls in SERVICES:
            service = service_cls()
            started.append(service)
            service.start(stack)
        stack.info["state_dir"] = str(stack.state_dir)
        stack.info["pid"] = os.getpid()
        stack.info["started_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_dev_env(stack)
        path = write_dev_json(stack)
        print(banner(stack, path, show_secrets=sys.stdout.isatty()), flush=True)
        while True:
            time.sleep(0.5)
            dead = [s.name for s in started if not s.alive()]
            if dead:
                log(f"stopped unexpectedly: {', '.join(dead)}")
                code = 1
                break
    except _Stop as stop:
        log(f"{stop} received, shutting down")
    except Exception as exc:  # noqa: BLE001 - report, clean up, fail
        log(f"failed: {type(exc).__name__}: {exc}")
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for service in reversed(started):
            try:
                service.stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                log(f"stopping {service.name} failed: {exc}")
        (stack.state_dir / "dev.json").unlink(missing_ok=True)
        (stack.state_dir / "dev.env").unlink(missing_ok=True)
        log("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
