"""Conformance: a plugin's answers checked against its vendor's own OpenAPI document.

* :mod:`.spec`: the document a plugin ships in ``spec/`` (declared in ``spec/spec.json``) and
  its operations;
* :mod:`.measure`: coverage (operations implemented / in the spec, per resource) and conformance
  (valid answers / answers), the fidelity report;
* :mod:`.pytest_plugin`: records every answer a plugin's tests get (``pytest --conformance``);
* :mod:`.subset`: cuts a vendor document down to what a plugin needs, keeping every operation
  (so coverage still counts the whole API).

Validation needs ``openapi-schema-validator`` (``pip install 'mocklib-plugin-sdk[checks]'``).
"""
from __future__ import annotations

from .measure import (ResponseRecord, ResponseValidator, Verdict, clean_report, conformance, coverage, format_fidelity,
                      measure, summary)
from .spec import OpenApiSpec, Operation, SpecDeclaration, SpecError, find_declaration

__all__ = ["OpenApiSpec", "Operation", "ResponseRecord", "ResponseValidator", "SpecDeclaration", "SpecError",
           "Verdict", "clean_report", "conformance", "coverage", "find_declaration", "format_fidelity", "measure", "summary"]
