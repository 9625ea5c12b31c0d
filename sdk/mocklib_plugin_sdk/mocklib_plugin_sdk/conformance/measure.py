"""A plugin's fidelity to its vendor's API: coverage and conformance.

* **coverage**: the spec's operations the plugin implements (its manifest's ``api.endpoints``
  matched to the spec's operations), overall and per resource;
* **conformance**: the plugin's answers that the spec documents: for the operation the request
  was and the status it got, the documented media type and, for JSON, a body valid against the
  documented schema (``openapi-schema-validator``, the OpenAPI dialect of JSON Schema:
  ``nullable``, ``readOnly``/``writeOnly``, OpenAPI formats). An answer whose status the
  operation does not document is not conforming. Answers to requests outside the spec (a
  plugin's own helper endpoints) are counted apart.

The answers come from the plugin's own tests (``mocklib_plugin_sdk.conformance.pytest_plugin``).
"""
from __future__ import annotations

import base64
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from .spec import DROPPED, OpenApiSpec, Operation, SpecDeclaration, SpecError, is_json_media, media_type_for

MAX_RECORD_BODY = 1024 * 1024
MAX_FAILURES = 20
SPEC_URI = "urn:mocklib:vendor-spec"


@dataclass(frozen=True)
class ResponseRecord:
    """One answer the plugin gave, with the request it answered."""

    method: str
    path: str
    status: int
    content_type: str
    body: bytes | None  # None: too large to keep

    @classmethod
    def of(cls, method: str, path: str, status: int, headers: Mapping[str, str], body: bytes) -> ResponseRecord:
        content_type = next((str(v) for k, v in headers.items() if k.lower() == "content-type"), "")
        return cls(method.upper(), path.split("?", 1)[0], int(status), content_type,
                   body if len(body) <= MAX_RECORD_BODY else None)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "status": self.status, "content_type": self.content_type,
                "body_b64": None if self.body is None else base64.b64encode(self.body).decode("ascii")}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResponseRecord:
        """From :meth:`to_dict` output, which may come from untrusted code: checked, bounded."""
        method, path, status = data.get("method"), data.get("path"), data.get("status")
        content_type, body = data.get("content_type", ""), data.get("body_b64")
        if not (isinstance(method, str) and isinstance(path, str) and isinstance(status, int)
                and not isinstance(status, bool) and isinstance(content_type, str)
                and (body is None or isinstance(body, str))):
            raise ValueError("malformed response record")
        raw = None if body is None or len(body) > MAX_RECORD_BODY * 4 // 3 + 4 else base64.b64decode(body)
        return cls(method.upper()[:10], path[:2000], status, content_type[:200], raw)


@dataclass(frozen=True)
class Verdict:
    operation: Operation | None  # None: the request is outside the spec
    valid: bool
    problem: str | None = None
    checked: bool = True  # False: not held to the spec (too large to keep, or undocumented errors)
    undocumented: bool = False  # an error answer where the vendor documents none


class ResponseValidator:
    """Validates answers against one spec; validators are built once per documented schema."""

    def __init__(self, spec: OpenApiSpec) -> None:
        from openapi_schema_validator import (OAS30ReadValidator, OAS31Validator, oas30_format_checker,
                                              oas31_format_checker)
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT4, DRAFT202012

        self.spec = spec
        is_31 = spec.openapi.startswith("3.1")
        self._cls: Any = _nullable_schema_objects(OAS31Validator if is_31 else OAS30ReadValidator)
        self._formats: Any = oas31_format_checker if is_31 else oas30_format_checker
        resource = Resource.from_contents(spec.document, default_specification=DRAFT202012 if is_31 else DRAFT4)
        self._registry: Any = Registry().with_resource(SPEC_URI, resource)
        self._validators: dict[str, Any] = {}

    def _validator(self, pointer: str) -> Any:
        found = self._validators.get(pointer)
        if found is None:
            found = self._cls({"$ref": f"{SPEC_URI}#{pointer}"}, registry=self._registry,
                              format_checker=self._formats)
            self._validators[pointer] = found
        return found

    def check(self, record: ResponseRecord) -> Verdict:
        operation = self.spec.find(record.method, record.path)
        if operation is None:
            return Verdict(None, False, "the request is not an operation of the spec")
        if self.spec.resolve(self.spec.pointer(operation.pointer)).get(DROPPED):
            return Verdict(operation, False, "the spec/ subset does not keep this operation's answers: "
                                             "make it again (spec/SOURCE.md)", checked=False)
        documented = self.spec.response_for(operation, record.status)
        if documented is None:
            if 400 <= record.status < 500 and not self.spec.documents_client_errors(operation):
                # The vendor documents no error answer at all here (Twilio's document has success
                # answers only): nothing to hold this one to; counted apart, never as valid.
                return Verdict(operation, False, "the spec documents no error answers for this operation",
                               checked=False, undocumented=True)
            return Verdict(operation, False, f"status {record.status} is not documented for {operation.operation_id}")
        key, response = documented
        content = response.get("content") or {}
        if record.body is None:
            return Verdict(operation, False, "the body was too large to keep", checked=False)
        if not content:
            return Verdict(operation, True)
        if not record.body:
            return Verdict(operation, False, f"an empty body where {key} documents {', '.join(sorted(content))}")
        media = media_type_for(content, record.content_type or "application/octet-stream")
        if media is None:
            return Verdict(operation, False, f"media type {record.content_type or '(none)'} is not documented "
                                             f"for {key} (documented: {', '.join(sorted(content))})")
        media_object = self.spec.resolve(content[media])
        if not is_json_media(media) or not isinstance(media_object, dict) or "schema" not in media_object:
            return Verdict(operation, True)
        try:
            instance = json.loads(record.body)
        except ValueError:
            return Verdict(operation, False, f"the body is not JSON ({record.content_type})")
        pointer = f"{operation.pointer}/responses/{_escape(key)}"
        if isinstance(self.spec.pointer(pointer), dict) and "$ref" in self.spec.pointer(pointer):
            pointer = self.spec.pointer(pointer)["$ref"].removeprefix("#")
        pointer = f"{pointer}/content/{_escape(media)}/schema"
        return _verdict(operation, self._validator(pointer).iter_errors(instance))


def _nullable_schema_objects(base: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` admitting ``null`` for its whole Schema Object.

    OAS 3.0.3 narrowed ``nullable`` to a ``type`` in the same object, so ``{"anyOf": [...],
    "nullable": true}`` (Stripe) or ``{"type": "string", "enum": [...], "nullable": true}``
    (GitHub) would refuse ``null``. The vendors publish those documents for 3.0.0-3.0.2, where
    it meant "this value may be null", and their own APIs answer ``null`` there; this reads
    them the way they were written (and the way their SDK generators read them). Documents that
    say ``openapi: 3.1.0`` but kept 3.0's ``nullable`` (SendGrid's) are read the same way."""
    from jsonschema.validators import extend

    def tolerant(keyword: str) -> Any:
        original = base.VALIDATORS[keyword]

        def check(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
            if instance is None and isinstance(schema, dict) and schema.get("nullable") is True:
                return iter(())
            return original(validator, value, instance, schema)

        return check

    keywords = [k for k in ("anyOf", "oneOf", "allOf", "enum", "type", "$ref") if k in base.VALIDATORS]
    return extend(base, validators={k: tolerant(k) for k in keywords})


def _verdict(operation: Operation, errors: Iterable[Any]) -> Verdict:
    from jsonschema.exceptions import best_match

    error = best_match(errors)
    if error is None:
        return Verdict(operation, True)
    where = "/".join(str(part) for part in error.absolute_path) or "(body)"
    return Verdict(operation, False, f"{where}: {error.message}"[:300])


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def implemented_operations(spec: OpenApiSpec, endpoints: Iterable[Mapping[str, Any]]) -> dict[str, Operation]:
    """The spec's operations the declared endpoints serve, by ``Operation.key``."""
    found: dict[str, Operation] = {}
    for endpoint in endpoints:
        operation = spec.implementing(str(endpoint.get("method", "")), str(endpoint.get("path", "")))
        if operation is not None:
            found[operation.key] = operation
    return found


def coverage(spec: OpenApiSpec, endpoints: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The spec's operations the declared endpoints implement, overall and per resource."""
    implemented = implemented_operations(spec, endpoints)
    outside = [f"{str(e.get('method', '')).upper()} {e.get('path', '')}" for e in endpoints
               if spec.implementing(str(e.get("method", "")), str(e.get("path", ""))) is None]
    totals = Counter(op.resource for op in spec.operations)
    done: dict[str, list[str]] = defaultdict(list)
    for operation in implemented.values():
        done[operation.resource].append(operation.operation_id)
    resources = [{"resource": name, "implemented": len(done[name]), "total": totals[name],
                  "operations": sorted(done[name])} for name in sorted(done, key=lambda n: (-len(done[n]), n))]
    return {"implemented": len(implemented), "total": len(spec.operations),
            "percent": _percent(len(implemented), len(spec.operations)),
            "resources": resources, "resources_total": len(totals), "outside_spec": outside}


def conformance(validator: ResponseValidator, records: Iterable[ResponseRecord],
                implemented: Iterable[str] | None = None) -> dict[str, Any]:
    """How many of the answers to the implemented operations (``Operation.key``; None: all of
    them) are valid, per operation, with the failures. Answers to requests outside the spec and
    to operations the plugin does not implement (its "not found" for them) are counted apart."""
    per_op: dict[str, dict[str, Any]] = {}
    failures: Counter[tuple[str, int, str]] = Counter()
    outside: Counter[str] = Counter()
    wanted = None if implemented is None else set(implemented)
    unchecked = not_implemented = undocumented = 0
    for record in records:
        verdict = validator.check(record)
        if verdict.operation is None:
            outside[f"{record.method} {record.path}"] += 1
            continue
        if wanted is not None and verdict.operation.key not in wanted:
            not_implemented += 1
            continue
        if verdict.undocumented:
            undocumented += 1
            continue
        if not verdict.checked:
            unchecked += 1
            continue
        entry = per_op.setdefault(verdict.operation.key, {
            "operation": verdict.operation.operation_id, "method": verdict.operation.method,
            "path": verdict.operation.path, "valid": 0, "total": 0})
        entry["total"] += 1
        if verdict.valid:
            entry["valid"] += 1
        else:
            failures[(verdict.operation.operation_id, record.status, verdict.problem or "")] += 1
    valid = sum(e["valid"] for e in per_op.values())
    total = sum(e["total"] for e in per_op.values())
    return {"valid": valid, "total": total, "percent": _percent(valid, total),
            "operations": sorted(per_op.values(), key=lambda e: (e["path"], e["method"])),
            "failures": [{"operation": op, "status": status, "problem": problem, "count": count}
                         for (op, status, problem), count in failures.most_common(MAX_FAILURES)],
            "outside_spec": sum(outside.values()), "not_implemented": not_implemented,
            "undocumented_errors": undocumented, "unchecked": unchecked}


def measure(project: Path, records: Iterable[ResponseRecord] | None, *, manifest: Mapping[str, Any] | None = None,
            declaration: SpecDeclaration | None = None, measured_by: str = "the plugin's tests") -> dict[str, Any]:
    """The fidelity report of a plugin project (``records`` None: coverage only)."""
    project = Path(project)
    if manifest is None:
        manifest = json.loads((project / "chalicelib" / "manifest.json").read_text(encoding="utf-8"))
    spec = OpenApiSpec.load(project, declaration)
    assert spec.declaration is not None
    endpoints = [e for e in ((manifest.get("api") or {}).get("endpoints") or []) if isinstance(e, Mapping)]
    report: dict[str, Any] = {
        "plugin": manifest.get("name"), "plugin_version": manifest.get("version"),
        "spec": {**spec.declaration.to_dict(), "sha256": spec.digest, "openapi": spec.openapi,
                 "operations": len(spec.operations)},
        "coverage": coverage(spec, endpoints),
        "conformance": None,
        "measured_by": measured_by if records is not None else None,
    }
    if records is not None:
        report["conformance"] = conformance(ResponseValidator(spec), records,
                                            implemented_operations(spec, endpoints))
    return report


def summary(report: Mapping[str, Any]) -> dict[str, Any]:
    """What a catalog card shows: the two figures and the spec they are against."""
    cov, conf, spec = report.get("coverage") or {}, report.get("conformance") or {}, report.get("spec") or {}
    return {"spec_title": spec.get("title"), "spec_version": spec.get("version"), "spec_note": spec.get("note"),
            "operations_implemented": cov.get("implemented"), "operations_total": cov.get("total"),
            "coverage_percent": cov.get("percent"),
            "responses_valid": conf.get("valid"), "responses_total": conf.get("total"),
            "conformance_percent": conf.get("percent"), "measured_by": report.get("measured_by")}


def format_fidelity(report: Mapping[str, Any]) -> str:
    """The report as a few lines for a terminal."""
    spec, cov, conf = report["spec"], report["coverage"], report.get("conformance")
    lines = [f"{report.get('plugin')} {report.get('plugin_version')} against {spec['title']} {spec['version']}"
             + (f" ({spec['note']})" if spec.get("note") else "")]
    lines.append(f"  coverage    {cov['implemented']}/{cov['total']} operations ({cov['percent']} %)")
    for resource in cov["resources"]:
        lines.append(f"    {resource['resource']:<28} {resource['implemented']}/{resource['total']}")
    untouched = cov["resources_total"] - len(cov["resources"])
    if untouched:
        lines.append(f"    ({untouched} other resources not implemented)")
    if cov["outside_spec"]:
        lines.append(f"    outside the spec: {', '.join(cov['outside_spec'])}")
    if conf is None:
        lines.append("  conformance not measured (no answers recorded)")
    else:
        lines.append(f"  conformance {conf['valid']}/{conf['total']} answers valid ({conf['percent']} %)"
                     + (f"; {conf['outside_spec']} outside the spec" if conf["outside_spec"] else "")
                     + (f"; {conf['not_implemented']} to operations not implemented" if conf["not_implemented"] else "")
                     + (f"; {conf['undocumented_errors']} errors the spec does not document"
                        if conf["undocumented_errors"] else "")
                     + (f"; {conf['unchecked']} unchecked (answers the spec/ subset does not keep)"
                        if conf["unchecked"] else ""))
        for failure in conf["failures"][:10]:
            lines.append(f"    x {failure['operation']} {failure['status']} ({failure['count']}x): {failure['problem']}")
    return "\n".join(lines)


__all__ = ["ResponseRecord", "ResponseValidator", "SpecError", "Verdict", "clean_report", "coverage", "conformance",
           "format_fidelity", "implemented_operations", "measure", "summary"]


# -- a report that came from elsewhere (a package's spec/fidelity.json, the checks function) ------

def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9 else None


def _str(value: Any, limit: int = 500) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def clean_report(report: Any) -> dict[str, Any] | None:
    """A fidelity report reduced to its known fields, typed and bounded; None when it is not one
    (the figures must add up: valid <= total, implemented <= total)."""
    if not isinstance(report, Mapping):
        return None
    spec, cov, conf = report.get("spec"), report.get("coverage"), report.get("conformance")
    if not isinstance(spec, Mapping) or not isinstance(cov, Mapping):
        return None
    implemented, total = _int(cov.get("implemented")), _int(cov.get("total"))
    if implemented is None or total is None or implemented > total or not _str(spec.get("title")):
        return None
    resources = []
    for item in (cov.get("resources") or [])[:100] if isinstance(cov.get("resources"), list) else []:
        if isinstance(item, Mapping) and _str(item.get("resource")) and _int(item.get("implemented")) is not None \
                and _int(item.get("total")) is not None:
            resources.append({"resource": _str(item["resource"], 100), "implemented": item["implemented"],
                              "total": item["total"],
                              "operations": [o[:200] for o in (item.get("operations") or [])[:50] if isinstance(o, str)]})
    cleaned: dict[str, Any] = {
        "plugin": _str(report.get("plugin"), 64), "plugin_version": _str(report.get("plugin_version"), 64),
        "spec": {key: _str(spec.get(key)) for key in ("title", "version", "source", "license", "note", "file")}
                | {"sha256": _str(spec.get("sha256"), 64), "openapi": _str(spec.get("openapi"), 20),
                   "operations": _int(spec.get("operations"))},
        "coverage": {"implemented": implemented, "total": total, "percent": _percent(implemented, total),
                     "resources": resources, "resources_total": _int(cov.get("resources_total")) or len(resources),
                     "outside_spec": [o[:300] for o in (cov.get("outside_spec") or [])[:100] if isinstance(o, str)]},
        "conformance": None,
        "measured_by": _str(report.get("measured_by"), 200),
    }
    if isinstance(conf, Mapping):
        valid, checked = _int(conf.get("valid")), _int(conf.get("total"))
        if valid is not None and checked is not None and valid <= checked:
            operations = [{"operation": _str(o.get("operation"), 200), "method": _str(o.get("method"), 10),
                           "path": _str(o.get("path"), 300), "valid": o["valid"], "total": o["total"]}
                          for o in (conf.get("operations") or [])[:200] if isinstance(o, Mapping)
                          and _int(o.get("valid")) is not None and _int(o.get("total")) is not None
                          and o["valid"] <= o["total"]]
            failures = [{"operation": _str(f.get("operation"), 200), "status": _int(f.get("status")),
                         "problem": _str(f.get("problem"), 300), "count": _int(f.get("count"))}
                        for f in (conf.get("failures") or [])[:MAX_FAILURES] if isinstance(f, Mapping)]
            cleaned["conformance"] = {
                "valid": valid, "total": checked, "percent": _percent(valid, checked), "operations": operations,
                "failures": failures, **{key: _int(conf.get(key)) or 0 for key in (
                    "outside_spec", "not_implemented", "undocumented_errors", "unchecked")}}
    return cleaned
