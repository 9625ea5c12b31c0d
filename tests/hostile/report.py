"""The hostile-plugin suite's table for docs/SECURITY.md, from what the last run observed.

    .venv/bin/python -m pytest tests/hostile -n 2 && .venv/bin/python -m tests.hostile.report

Rewrites the part of docs/SECURITY.md between its two markers.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.hostile.attacks import ATTACKS
from tests.hostile.conftest import REPO, REPORT_DIR

DOC = REPO / "docs" / "SECURITY.md"
BEGIN, END = "<!-- hostile-suite:begin -->", "<!-- hostile-suite:end -->"


def _observed(row: dict[str, Any] | None, runtime: bool) -> str:
    if row is None:
        return "(not run)"
    seen = row["observed"]
    if runtime:
        detail = seen.get("observed")
        parts = [f"{seen['status']} `{seen['code']}`"]
        if isinstance(detail, dict):
            parts.append(", ".join(f"{k}: {v}" for k, v in detail.items() if k not in ("loot", "own", "environ"))
                         or "")
        parts.append(f"{seen['echo_calls_meanwhile']} echo calls meanwhile, all 200; peak {seen['peak_processes']} "
                     "processes; billed 0")
        return "; ".join(p for p in parts if p)
    detail = seen.get("observed")
    summary = f"tests {seen['tests_check']} ({seen['summary']}), {seen['seconds']} s"
    if isinstance(detail, dict):
        summary += "; " + ", ".join(f"{k}: {v}" for k, v in detail.items() if k not in ("loot", "own", "environ"))
    return summary


def table() -> str:
    rows = ["| attack | expected | observed through the gateway and the runtime | observed through the publishing checks |",
            "|---|---|---|---|"]
    for attack in ATTACKS:
        runtime = _load(f"runtime-{attack.name}.json")
        checks = _load(f"checks-{attack.name}.json")
        cells = [f"**{attack.name}**: {attack.title}", f"{attack.status}: {attack.expected}",
                 _observed(runtime, True), _observed(checks, False)]
        rows.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
    return "\n".join(rows)


def _load(name: str) -> dict[str, Any] | None:
    path = REPORT_DIR / name
    return json.loads(path.read_text()) if path.is_file() else None


def main() -> int:
    text = DOC.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + table() + "\n" + text[end:])
    print(f"{DOC.relative_to(REPO)}: table of {len(ATTACKS)} attacks written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
