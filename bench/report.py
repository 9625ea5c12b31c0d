"""Shared by the benchmarks: percentiles and writing one section of docs/BENCHMARKS.md."""
from __future__ import annotations

import platform
import re
from datetime import datetime, timezone
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"
TITLE = "# Benchmarks\n\nEvery figure here is printed by a script under `bench/` and written by it.\n"


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_section(heading: str, body: str) -> None:
    """Replace (or append) the ``## heading`` section, keeping every other section."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = f"## {heading}\n\n_Measured {stamp} on {machine()}._\n\n{body.strip()}\n"
    text = DOC.read_text() if DOC.exists() else TITLE
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text.rstrip("\n") + "\n")
