"""Request bodies and schemas from strangers: JSON Schema patterns behave as ECMA-262 says, a
user's schema never makes the API fetch anything, and text that cannot be encoded is refused."""
from __future__ import annotations

import pytest

from chalicelib.core.errors import InvalidInputError
from chalicelib.core.jsonutil import SCHEMA_PATH, parse_json, validation_errors

PERIOD = {"type": "string", "pattern": r"^\d{4}-\d{2}-(01|15)$"}


@pytest.mark.parametrize("value, valid", [("2026-11-01", True), ("2026-11-01\n", False), ("٢٠٢٦-11-01", False),
                                          ("x2026-11-01", False)])
def test_patterns_match_as_ecma_262_says(value, valid):
    assert (validation_errors(PERIOD, value) == []) is valid


def test_a_ref_outside_the_schema_is_a_problem_of_the_schema_and_nothing_is_fetched():
    # No socket is opened (the unit tier runs without them): the registry is empty.
    problems = validation_errors({"$ref": "http://169.254.169.254/latest/meta-data/"}, {})
    assert [p["path"] for p in problems] == [SCHEMA_PATH] and "cannot be resolved" in problems[0]["message"]


def test_a_schema_referring_to_itself_without_end_is_a_problem_not_a_crash():
    endless = {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}
    assert validation_errors(endless, 1)[0]["path"] == SCHEMA_PATH
    assert validation_errors({"$defs": {"n": {"type": "integer"}}, "$ref": "#/$defs/n"}, "x") != []


@pytest.mark.parametrize("raw", [b'{"password": "\\ud800"}', b'{"n": ' + b"9" * 5000 + b"}", b"[" * 100_000])
def test_json_no_code_could_use_is_malformed(raw):
    with pytest.raises(InvalidInputError) as caught:
        parse_json(raw, max_bytes=1_000_000)
    assert caught.value.code == "malformed_json"
