"""Shared by the benchmarks: a local backend, percentiles, one section of docs/BENCHMARKS.md."""
from __future__ import annotations

import os
import platform
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"
TITLE = "# Benchmarks\n\nEvery figure here is printed by a script under `bench/` and written by it.\n"


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_section(heading: str, body: str) -> None:
    """Replace (or append) the ``## heading`` section, keeping every other section."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    section = (f"## {heading}\n\n_Measured {stamp} on {machine()}, 1-minute load average {load:.1f} "
               f"when written._\n\n{body.strip()}\n")
    text = DOC.read_text() if DOC.exists() else TITLE
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text.rstrip("\n") + "\n")


@contextmanager
def local_backend(**environ: str) -> Iterator[Any]:
    """DynamoDB Local in memory, the settings a stage needs, the container and its tables."""
    from devstack.dynamodb import DynamoDBLocal

    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(name, value)
    with DynamoDBLocal() as ddb:
        os.environ.update({"MF_STAGE": "bench", "MF_JWT_KEYS": "bench:" + "b" * 40, "AWS_REGION": "us-east-1",
                           "MF_DYNAMODB_ENDPOINT": ddb.endpoint, **environ})
        from chalicelib.core.dynamo import create_tables
        from chalicelib.tables import TABLES
        from chalicelib.wiring import container, set_container

        set_container(None)
        built = container()
        create_tables(TABLES)
        yield built
