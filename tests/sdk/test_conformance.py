"""Conformance: a plugin's answers checked against the vendor's OpenAPI document it ships.

The project is the SDK's scaffold (an "items" API) and the vendor document a small OpenAPI 3.0
description of it, with operations the scaffold does not implement and a resource it does not
touch; the answers are real ones, from the scaffold's own tests through the SDK's ``call``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mocklib_plugin_sdk.checks import run_checks
from mocklib_plugin_sdk.conformance import (OpenApiSpec, ResponseRecord, ResponseValidator, SpecDeclaration,
                                            SpecError, clean_report, coverage, measure)
from mocklib_plugin_sdk.conformance.subset import subset
from mocklib_plugin_sdk.scaffold import init_project

from tests.sdk.items_spec import DECLARATION, VENDOR, ship_spec

@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = init_project(tmp_path_factory.mktemp("conformance") / "items-api", "items-api", author="Ada")
    ship_spec(built)
    return built


@pytest.fixture(scope="module")
def spec(project: Path) -> OpenApiSpec:
    return OpenApiSpec.load(project)


def answer(method: str, path: str, status: int, body: Any, content_type: str = "application/json") -> ResponseRecord:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return ResponseRecord.of(method, path, status, {"Content-Type": content_type}, raw)


def test_an_answer_the_spec_documents_is_valid_and_one_missing_a_required_field_is_not(spec: OpenApiSpec) -> None:
    validator = ResponseValidator(spec)
    good = {"id": "item_1", "name": "a", "created_at": "2026-01-01T00:00:00+00:00", "data": None}

    assert validator.check(answer("POST", "/items", 201, good)).valid
    missing = validator.check(answer("GET", "/items/item_1", 200, {"id": "item_1", "created_at": "x"}))
    assert not missing.valid and missing.operation is not None and missing.operation.operation_id == "GetItem"
    assert "'name' is a required property" in (missing.problem or "")
    listed = validator.check(answer("GET", "/items", 200, {"items": [good, {"id": "nope", "name": "b",
                                                                             "created_at": "x"}]}))
    assert not listed.valid and "items/1/id" in (listed.problem or "")
    assert not validator.check(answer("POST", "/items", 201, b"<html>", "text/html")).valid
    assert validator.check(answer("DELETE", "/items/item_1", 204, b"", "")).valid


def test_nullable_admits_null_for_the_whole_schema_object_as_the_vendors_wrote_it(spec: OpenApiSpec) -> None:
    # OAS 3.0.3 would refuse null for {"anyOf": [...], "nullable": true}; Stripe and GitHub mean null.
    validator = ResponseValidator(spec)
    base = {"id": "item_1", "name": "a", "created_at": "x"}

    assert validator.check(answer("GET", "/items/item_1", 200, {**base, "archived_by": None})).valid
    assert not validator.check(answer("GET", "/items/item_1", 200, {**base, "archived_by": 7})).valid
    assert not validator.check(answer("GET", "/items/item_1", 200, {**base, "name": None})).valid


def test_statuses_the_operation_does_not_document_are_invalid_and_undocumented_errors_are_counted_apart(
        spec: OpenApiSpec) -> None:
    validator = ResponseValidator(spec)

    not_documented = validator.check(answer("POST", "/items", 200, {}))
    assert not not_documented.valid and "status 200 is not documented" in (not_documented.problem or "")
    assert not validator.check(answer("GET", "/items/x", 500, {})).valid
    # ListItems documents no error at all: its 401 is held to nothing, and counted apart.
    apart = validator.check(answer("GET", "/items", 401, {"error": {"code": "x"}}))
    assert apart.undocumented and not apart.valid
    assert validator.check(answer("GET", "/nowhere", 200, {})).operation is None


def test_coverage_counts_every_operation_of_the_spec_per_resource_and_names_what_is_outside_it(
        spec: OpenApiSpec, project: Path) -> None:
    manifest = json.loads((project / "chalicelib" / "manifest.json").read_text())
    endpoints = [*manifest["api"]["endpoints"], {"method": "GET", "path": "/health"}]

    found = coverage(spec, endpoints)

    assert (found["implemented"], found["total"], found["percent"]) == (4, 6, 66.7)
    # The tags' common prefix ("ItemsApi") is not part of the resource names.
    assert found["resources"] == [{"resource": "Item", "implemented": 4, "total": 5,
                                   "operations": ["CreateItem", "DeleteItem", "GetItem", "ListItems"]}]
    assert found["resources_total"] == 2 and found["outside_spec"] == ["GET /health"]


def test_a_parameter_with_a_suffix_in_the_spec_matches_the_plugins_parameter() -> None:
    document = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": {
        "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json": {"get": {"operationId": "FetchMessage",
                                                                           "responses": {}}},
        "/2010-04-01/Accounts/{AccountSid}/Messages.json": {"get": {"operationId": "ListMessage", "responses": {}}}}}
    twilio = OpenApiSpec(document)

    assert twilio.implementing("GET", "/2010-04-01/Accounts/{account_sid}/Messages/{sid}").operation_id == "FetchMessage"
    assert twilio.find("GET", "/2010-04-01/Accounts/AC1/Messages/SM1.json").operation_id == "FetchMessage"
    assert twilio.find("GET", "/2010-04-01/Accounts/AC1/Messages.json").operation_id == "ListMessage"
    assert twilio.implementing("GET", "/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media") is None


def test_the_plugins_own_tests_measure_its_fidelity_and_a_minimum_fails_the_run(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "fidelity.json"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(project),
                          "--conformance-report", str(out), "--conformance-min", "100", "tests"],
                         cwd=project, capture_output=True, text=True, timeout=120, check=False)

    report = json.loads(out.read_text())["plugins"]["items-api"]
    assert report["coverage"]["implemented"] == 4
    conf = report["conformance"]
    # The scaffold answers its 404s and 400 in the SDK's own error shape, which this spec
    # documents ({"error": {"code"}}): every answer of its tests is valid but the DELETE's 404,
    # a status DeleteItem does not document (it documents other errors, so it is held to them).
    assert conf["total"] >= 10 and conf["valid"] == conf["total"] - 1, conf["failures"]
    assert conf["failures"] == [{"operation": "DeleteItem", "status": 404, "count": 1,
                                 "problem": "status 404 is not documented for DeleteItem"}]
    assert run.returncode == 1, run.stdout  # below --conformance-min 100
    assert "plugin fidelity" in run.stdout and "items-api" in run.stdout


def test_the_publishing_checks_validate_the_answers_themselves_and_report_fidelity(project: Path) -> None:
    report = run_checks(project, only=["manifest", "tests"])

    fidelity = report.fidelity
    assert report.passed and fidelity is not None and "error" not in fidelity
    assert fidelity["measured_by"].startswith("the publishing checks")
    assert fidelity["conformance"]["total"] >= 10
    assert fidelity["spec"]["version"] == "2026-01-01" and fidelity["coverage"]["implemented"] == 4
    # Without the tests, coverage is still computed; conformance only from a shipped report.
    assert run_checks(project, only=["manifest"]).fidelity["conformance"] is None


def test_a_shipped_report_gives_conformance_only_labelled_as_the_developers_and_reduced(
        project: Path, tmp_path: Path) -> None:
    forged = measure(project, [answer("POST", "/items", 201, {"id": "item_1", "name": "a", "created_at": "x"})])
    forged["coverage"]["implemented"] = 6  # coverage is recomputed, never taken from the file
    forged["extra"] = "x" * 10_000
    copy = tmp_path / "items-api"
    import shutil

    shutil.copytree(project, copy)
    (copy / "spec" / "fidelity.json").write_text(json.dumps(forged))

    fidelity = run_checks(copy, only=["manifest"]).fidelity

    assert fidelity["coverage"]["implemented"] == 4
    assert (fidelity["conformance"]["valid"], fidelity["conformance"]["total"]) == (1, 1)
    assert "not re-run by the checks" in fidelity["measured_by"] and "extra" not in fidelity
    assert clean_report({**forged, "conformance": {"valid": 5, "total": 2}})["conformance"] is None


def test_the_subset_keeps_every_operation_and_only_the_answers_the_plugin_needs(project: Path) -> None:
    manifest = json.loads((project / "chalicelib" / "manifest.json").read_text())

    reduced = subset(VENDOR, manifest["api"]["endpoints"], path_prefix="/v1")

    assert len(OpenApiSpec(reduced).operations) == len(OpenApiSpec(VENDOR).operations)
    assert "content" in reduced["paths"]["/v1/items"]["post"]["responses"]["201"]
    assert "content" not in reduced["paths"]["/v1/stats"]["get"]["responses"]["200"]
    assert set(reduced["components"]["schemas"]) == {"Item", "Error"}


def test_a_declaration_that_points_outside_spec_is_refused() -> None:
    with pytest.raises(SpecError):
        SpecDeclaration.from_document({**DECLARATION, "file": "../manifest.json"})
    with pytest.raises(SpecError):
        SpecDeclaration.from_document({**DECLARATION, "path_prefix": "v1 "})
