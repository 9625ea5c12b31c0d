"""``python -m devstack`` (what ``make dev`` runs): the whole marketplace on 127.0.0.1.

The stack is a list of services started in order and stopped in reverse. A later service
(frontend, scheduler, plugin runtime, Stripe stand-in) is one more class in ``SERVICES``:
``start(stack)`` publishes its URLs into ``stack.info`` (written to dev.json), ``stop()``
undoes it, ``alive()`` reports whether it still runs.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from devstack.dynamodb import DynamoDBLocal, port_is_open
from devstack.seed import (DEMO_ADMIN, DEMO_DEVELOPER, DEMO_PASSWORD, DEMO_USER, PLUGINS_DIR,
                           load_secrets, seed)
from devstack.server import ApiServer

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


class DynamoDBService:
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

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def alive(self) -> bool:
        return self.server is not None and self.server.running()


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


class ApiService:
    name = "api"

    def __init__(self) -> None:
        self.server: ApiServer | None = None

    def start(self, stack: Stack) -> None:
        from app import app

        self.server = ApiServer(app, port=stack.args.api_port, stage=STAGE).start()
        stack.info["api_url"] = self.server.url
        log(f"API on {self.server.url}")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def alive(self) -> bool:
        return self.server is not None


# Started top to bottom, stopped bottom to top.
SERVICES: list[type[Service]] = [DynamoDBService, MarketplaceData, ApiService]


class _Stop(BaseException):
    """Raised by the SIGINT/SIGTERM handler to unwind start-up or the wait loop."""


def _on_signal(signum: int, frame: Any) -> None:
    raise _Stop(signal.Signals(signum).name)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.splitlines()[0])
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--dynamodb-port", type=int, default=8100)
    parser.add_argument("--state-dir", default=".local",
                        help="secrets, DynamoDB data, logs and dev.json (default .local)")
    return parser.parse_args(argv)


def write_dev_json(stack: Stack) -> Path:
    path = stack.state_dir / "dev.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(ordered(stack.info), indent=2) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


FIRST_KEYS = ("api_url", "dynamodb_url", "demo_api_key", "demo_user_token", "developer_token",
              "admin_token")


def ordered(info: dict[str, Any]) -> dict[str, Any]:
    return {**{k: info[k] for k in FIRST_KEYS if k in info}, **info}


def banner(stack: Stack, path: Path) -> str:
    info = ordered(stack.info)
    width = max(len(k) for k in info)
    lines = ["", "MockFactory Marketplace dev stack is up"]
    lines += [f"  {key:<{width}}  {value}" for key, value in info.items()]
    lines += [f"  (all of this is in {path})", "Ctrl-C stops everything.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stack = Stack(args)
    stack.state_dir.mkdir(parents=True, exist_ok=True)
    (stack.state_dir / "dev.json").unlink(missing_ok=True)
    if port_is_open(args.api_port):
        log(f"port {args.api_port} is already in use; pick another --api-port")
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
        path = write_dev_json(stack)
        print(banner(stack, path), flush=True)
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
        log("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
