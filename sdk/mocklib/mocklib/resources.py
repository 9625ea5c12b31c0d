"""From a plugin manifest's ``api.endpoints`` to the resources ``mf.<plugin>.<resource>`` offers.

Pure functions over the manifest (no HTTP), so the mapping is easy to test and to reason about:

* a *collection* is a path whose last segment is static (``/customers``, ``/checkout/sessions``);
* its *item* is the collection plus one parameter segment (``/customers/{customer_id}``);
* a resource is named after the collection's last static segment (``customers``, ``sessions``)
  and also after all its static segments joined (``checkout_sessions``); ``-`` and other
  characters Python names cannot hold become ``_``. When several collections share a name,
  the one with the fewest path parameters (then the shortest) wins: ``payment_methods`` is
  ``/payment_methods``, not ``/customers/{customer_id}/payment_methods``.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

__all__ = ["Endpoint", "Resource", "parse_endpoints", "build_resources", "fill_path", "attribute_name",
           "path_parameters"]

_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}$")
_NOT_IDENT = re.compile(r"[^0-9A-Za-z_]")
UPDATE_METHODS = ("PATCH", "PUT", "POST")  # preference order for update()


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    description: str = ""


@dataclass(frozen=True)
class Resource:
    name: str
    collection: str
    item: str | None
    collection_methods: frozenset[str] = field(default_factory=frozenset)
    item_methods: frozenset[str] = field(default_factory=frozenset)

    @property
    def update_method(self) -> str | None:
        return next((m for m in UPDATE_METHODS if m in self.item_methods), None)

    def operations(self) -> list[str]:
        ops = []
        if "POST" in self.collection_methods:
            ops.append("create")
        if "GET" in self.collection_methods:
            ops.append("list")
        if "GET" in self.item_methods or "GET" in self.collection_methods:
            ops.append("get")
        if self.update_method:
            ops.append("update")
        if "DELETE" in self.item_methods or "DELETE" in self.collection_methods:
            ops.append("delete")
        return ops


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _is_param(segment: str) -> bool:
    return _PARAM.match(segment) is not None


def attribute_name(segment: str) -> str:
    """The Python attribute a static path segment is reached by."""
    name = _NOT_IDENT.sub("_", segment)
    return f"_{name}" if name[:1].isdigit() else name


def path_parameters(template: str) -> list[str]:
    names = []
    for segment in _segments(template):
        match = _PARAM.match(segment)
        if match:
            names.append(match.group(1))
    return names


def parse_endpoints(raw: Iterable[Mapping[str, Any]]) -> tuple[Endpoint, ...]:
    return tuple(Endpoint(method=str(e.get("method", "GET")).upper(), path="/" + "/".join(_segments(str(e["path"]))),
                          description=str(e.get("description") or "")) for e in raw if e.get("path"))


def build_resources(endpoints: Iterable[Endpoint]) -> dict[str, Resource]:
    methods: dict[str, set[str]] = {}
    for endpoint in endpoints:
        methods.setdefault(endpoint.path, set()).add(endpoint.method)
    # Collections: static-ended paths, plus the parents of parameter-ended paths (an item
    # may be declared without its collection: GET /users/{id} alone).
    collections: set[str] = set()
    for path in methods:
        segs = _segments(path)
        if segs and not _is_param(segs[-1]):
            collections.add(path)
        elif len(segs) >= 2 and _is_param(segs[-1]) and not _is_param(segs[-2]):
            collections.add("/" + "/".join(segs[:-1]))
    candidates: dict[str, list[Resource]] = {}
    for collection in sorted(collections):
        items = sorted(p for p in methods if p.startswith(collection + "/")
                       and len(_segments(p)) == len(_segments(collection)) + 1 and _is_param(_segments(p)[-1]))
        item = items[0] if items else None
        statics = [s for s in _segments(collection) if not _is_param(s)]
        names = {attribute_name(statics[-1]), "_".join(attribute_name(s) for s in statics)}
        for name in names:
            candidates.setdefault(name, []).append(Resource(
                name=name, collection=collection, item=item,
                collection_methods=frozenset(methods.get(collection, set())),
                item_methods=frozenset(methods.get(item, set()) if item else set())))

    def rank(resource: Resource) -> tuple[int, int, str]:
        return len(path_parameters(resource.collection)), len(_segments(resource.collection)), resource.collection

    return {name: min(found, key=rank) for name, found in sorted(candidates.items())}


def fill_path(template: str, values: dict[str, Any]) -> str:
    """``/customers/{customer_id}`` with ``values["customer_id"]``, URL-quoted (a greedy
    ``{rest+}`` keeps its slashes). Used values are popped; a missing one is a KeyError."""
    out = []
    for segment in _segments(template):
        match = _PARAM.match(segment)
        if match is None:
            out.append(segment)
            continue
        name, greedy = match.group(1), bool(match.group(2))
        if name not in values:
            raise KeyError(name)
        value = str(values.pop(name))
        out.append(quote(value, safe="/" if greedy else ""))
    return "/" + "/".join(out)
