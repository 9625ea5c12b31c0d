"""Every attack as a submission's own test, run by the publishing checks: contained in the
checks' sandbox, nothing secret reaches the checks log (which goes back to the developer),
nothing is written or reached outside, nothing outlives the run."""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from mocklib_plugin_sdk.checks import run_checks
from mocklib_plugin_sdk.scaffold import init_project

from tests.hostile.attacks import ATTACKS, Attack, write_test
from tests.hostile.conftest import Canaries, write_report

TIMEOUT_S = 6


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_a_hostile_submission_is_contained_by_the_checks(canaries: Canaries, tmp_path: Path, attack: Attack) -> None:
    project = init_project(tmp_path / "submission", attack.plugin)
    write_test(attack, project, canaries.targets(user_id="usr_checks", own_prefix=f"{attack.plugin}#live#"))
    started = time.monotonic()
    report = run_checks(project, only=["tests"], test_timeout_s=TIMEOUT_S)
    seconds = time.monotonic() - started
    log = report.log
    observed = re.search(r"OBSERVED (\{.*\})", log)

    assert seconds < TIMEOUT_S + 20
    assert canaries.secret not in log
    assert "BEGIN" not in log or "PRIVATE KEY" not in log
    assert canaries.listener.connections == 0
    assert not canaries.write_target.exists()
    assert processes_mentioning(str(project)) == []  # no daemon, no fork bomb left behind
    assert os.environ["MF_HOSTILE_CANARY"] == canaries.secret
    if observed and attack.status == 500:
        assert attack.contained(json.loads(observed.group(1))), observed.group(1)
    (tests,) = report.checks
    write_report("checks", attack.name, {
        "attack": attack.title,
        "observed": {"tests_check": "passed" if tests.passed else "failed", "summary": tests.summary,
                     "seconds": round(seconds, 1),
                     "observed": json.loads(observed.group(1)) if observed else None}})
