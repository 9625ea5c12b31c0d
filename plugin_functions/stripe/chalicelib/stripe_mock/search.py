"""A subset of Stripe's search query language."""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import invalid
from .resources import RESOURCES

SEARCH_CLAUSE = re.compile(
    r"""^\s*(?P<neg>-)?(?P<field>[a-z_.]+(?:\[['"](?P<meta>[^'"]+)['"]\])?)\s*(?P<op>:|~|>=|<=|>|<)\s*"""
    r"""(?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|(?P<bare>[^\s'"]+))\s*$""")
SEARCH_FIELDS = {
    "customers": {"email", "name", "phone", "created", "metadata", "description"},
    "payment_intents": {"amount", "currency", "customer", "status", "created", "metadata", "description"},
    "charges": {"amount", "currency", "customer", "status", "created", "metadata", "refunded", "disputed",
                "payment_method_details.card.last4", "payment_intent", "description"},
    "invoices": {"customer", "status", "total", "created", "metadata", "subscription", "number", "currency"},
}


def compile_search(kind: str, query: str) -> Callable[[Mapping[str, Any]], bool]:
    """A subset of Stripe's search query language: ``field:'v'``, ``field~'sub'``, ``amount>100``,
    ``metadata['k']:'v'``, ``-field:'v'``, clauses joined by all-AND or all-OR."""
    if not query or not query.strip():
        raise invalid("Missing required param: query.", "query", "parameter_missing")
    has_and, has_or = " AND " in query, " OR " in query
    if has_and and has_or:
        raise invalid("Search queries cannot mix AND and OR.", "query")
    parts = query.split(" OR " if has_or else " AND ")
    tests = []
    for part in parts:
        match = SEARCH_CLAUSE.match(part)
        if match is None:
            raise invalid(f"Invalid search query: could not parse '{part.strip()}'.", "query")
        field_name = match["field"].split("[", 1)[0]
        if field_name not in SEARCH_FIELDS[kind]:
            raise invalid(f"Field '{field_name}' is an unsupported search field for {RESOURCES[kind][1]}.", "query")
        value = next(v for v in (match["sq"], match["dq"], match["bare"]) if v is not None)
        tests.append((bool(match["neg"]), field_name, match["meta"], match["op"], value))

    def lookup(doc: Mapping[str, Any], field_name: str, meta: str | None) -> Any:
        if field_name == "metadata":
            return (doc.get("metadata") or {}).get(meta or "")
        node: Any = doc
        for piece in field_name.split("."):
            node = node.get(piece) if isinstance(node, Mapping) else None
        return node

    def clause(doc: Mapping[str, Any], neg: bool, field_name: str, meta: str | None, op: str, value: str) -> bool:
        actual = lookup(doc, field_name, meta)
        if op in (">", "<", ">=", "<="):
            try:
                left, right = float(actual), float(value)
            except (TypeError, ValueError):
                return False
            result = {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[op]
        elif op == "~":
            result = actual is not None and value.lower() in str(actual).lower()
        elif isinstance(actual, bool):
            result = str(actual).lower() == value.lower()
        else:
            result = actual is not None and str(actual).lower() == value.lower() if field_name == "email" \
                else actual is not None and str(actual) == value
        return result != neg

    combine = any if has_or else all
    return lambda doc: combine(clause(doc, *test) for test in tests)
