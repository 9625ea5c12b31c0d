"""docs/SECURITY.md shows every attack of the suite with what a run observed."""
from __future__ import annotations

from tests.hostile.attacks import ATTACKS
from tests.hostile.report import BEGIN, DOC, END


def test_the_security_page_has_a_row_for_every_attack_observed_both_ways():
    text = DOC.read_text()
    table = text[text.index(BEGIN):text.index(END)]
    for attack in ATTACKS:
        row = next((line for line in table.splitlines() if line.startswith(f"| **{attack.name}**")), None)
        assert row is not None, f"{attack.name} is not in docs/SECURITY.md: run python -m tests.hostile.report"
        assert "(not run)" not in row, attack.name
