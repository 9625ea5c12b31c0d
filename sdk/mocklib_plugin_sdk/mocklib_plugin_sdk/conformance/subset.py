"""Cut a vendor's OpenAPI document down to what a plugin needs, without changing its figures.

    python -m mocklib_plugin_sdk spec-subset VENDOR_DOC [VENDOR_DOC ...] --project DIR \\
        --out DIR/spec/NAME.json.gz [--title T --version V --source S --license L --note N]

The rule (what :func:`subset` keeps):

* **every operation** of every document given (method, path, ``operationId``, first tag,
  ``summary``), so coverage still counts the whole API;
* **the documented answers** (status codes, media types and schemas) of the operations the
  plugin's manifest declares, and of every other operation of the same paths;
* the ``components`` those answers reference, transitively; nothing else (request bodies,
  parameters, examples, descriptions and vendor extensions are dropped: conformance checks
  answers only).

Several documents (SendGrid publishes one per product) are merged into one; a component name two
of them define differently is prefixed with the document's file stem. The output is gzipped JSON
with a fixed timestamp, so the same inputs always give the same bytes. With ``--title`` and the
rest, ``spec/spec.json`` is written too.
"""
from __future__ import annotations

import copy
import gzip
import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from .spec import DECLARATION, DROPPED, HTTP_METHODS, OpenApiSpec, SpecDeclaration, read_document

_KEPT_RESPONSE = ("description", "content", "$ref")
_KEPT_MEDIA = ("schema",)
_REF = re.compile(r"^#/components/([^/]+)/([^/]+)$")
_DROPPED_SCHEMA_KEYS = ("example", "examples", "x-stripeBypassValidation", "externalDocs")


def _refs(node: Any) -> Iterable[str]:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            ref = current.get("$ref")
            if isinstance(ref, str):
                yield ref
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)


def _rewrite_refs(node: Any, renames: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value in renames:
                out[key] = renames[value]
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, renames) for item in node]
    return node


def _strip(node: Any) -> Any:
    """Examples and descriptions out of schemas: they do not validate anything."""
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items()
                if k not in _DROPPED_SCHEMA_KEYS and not (k == "description" and isinstance(v, str))}
    if isinstance(node, list):
        return [_strip(item) for item in node]
    return node


def merge(documents: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Several OpenAPI documents as one (paths and components; colliding names prefixed)."""
    if len(documents) == 1:
        return documents[0][1]
    merged: dict[str, Any] = {"openapi": documents[0][1].get("openapi"), "info": dict(documents[0][1].get("info", {})),
                              "servers": documents[0][1].get("servers", []), "paths": {}, "components": {}}
    for stem, document in documents:
        components = document.get("components") or {}
        renames: dict[str, str] = {}
        for kind, entries in components.items():
            for name, value in (entries or {}).items():
                existing = merged["components"].get(kind, {}).get(name)
                if existing is not None and existing != value:
                    renames[f"#/components/{kind}/{name}"] = f"#/components/{kind}/{stem}.{name}"
        document = _rewrite_refs(document, renames)
        for kind, entries in (document.get("components") or {}).items():
            for name, value in (entries or {}).items():
                target = name if f"#/components/{kind}/{name}" not in renames else f"{stem}.{name}"
                merged["components"].setdefault(kind, {})[target] = value
        for path, item in document.get("paths", {}).items():
            merged["paths"].setdefault(path, {}).update(item)
    return merged


def subset(document: dict[str, Any], endpoints: Iterable[Mapping[str, Any]], path_prefix: str = "") -> dict[str, Any]:
    """``document`` reduced by the rule of this module's docstring, for the declared ``endpoints``."""
    index = OpenApiSpec(document, path_prefix=path_prefix)
    kept_paths = {op.path for op in (index.implementing(str(e.get("method", "")), str(e.get("path", "")))
                                     for e in endpoints) if op is not None}
    paths: dict[str, Any] = {}
    for path, item in document["paths"].items():
        if not isinstance(item, dict):
            continue
        item = index.resolve(item)
        out: dict[str, Any] = {}
        for method in HTTP_METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            slim: dict[str, Any] = {k: op[k] for k in ("operationId", "summary") if k in op}
            if op.get("tags"):
                slim["tags"] = op["tags"][:1]
            responses = {}
            for status, response in (op.get("responses") or {}).items():
                if path in kept_paths:
                    response = {k: v for k, v in response.items() if k in _KEPT_RESPONSE}
                    if "content" in response:
                        response["content"] = {media: {k: v for k, v in (body or {}).items() if k in _KEPT_MEDIA}
                                               for media, body in response["content"].items()}
                    responses[str(status)] = _strip(response) if "$ref" not in response else response
                else:
                    responses[str(status)] = {"description": "(answer not kept in this subset)"}
            slim["responses"] = responses or {"default": {"description": "(none documented)"}}
            if path not in kept_paths:
                slim[DROPPED] = True  # answers to it are not checked, never counted as valid
            out[method] = slim
        if out:
            paths[path] = out
    components: dict[str, dict[str, Any]] = {}
    pending = list(_refs(paths))
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        match = _REF.match(ref)
        if not match:
            continue
        kind, name = match.groups()
        value = ((document.get("components") or {}).get(kind) or {}).get(name.replace("~1", "/").replace("~0", "~"))
        if value is None:
            continue
        value = _strip(copy.deepcopy(value)) if kind == "schemas" else copy.deepcopy(value)
        components.setdefault(kind, {})[name] = value
        pending.extend(_refs(value))
    result: dict[str, Any] = {"openapi": document.get("openapi"), "info": document.get("info", {}),
                              "servers": document.get("servers", []), "paths": paths}
    if components:
        result["components"] = {kind: dict(sorted(entries.items())) for kind, entries in sorted(components.items())}
    return result


def write_gzip_json(document: Any, out: Path) -> None:
    data = json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(data)


def run(sources: list[Path], project: Path, out: Path, declaration: SpecDeclaration | None) -> dict[str, Any]:
    documents = []
    for source in sources:
        stem = source.name.split(".")[0]
        documents.append((stem, read_document(source)))
    manifest = json.loads((project / "chalicelib" / "manifest.json").read_text(encoding="utf-8"))
    endpoints = (manifest.get("api") or {}).get("endpoints") or []
    reduced = subset(merge(documents), endpoints, declaration.path_prefix if declaration is not None else "")
    write_gzip_json(reduced, out)
    if declaration is not None:
        (out.parent / DECLARATION).write_text(json.dumps(declaration.to_dict(), indent=2) + "\n", encoding="utf-8")
    spec = OpenApiSpec(reduced)
    return {"operations": len(spec.operations), "bytes": out.stat().st_size,
            "kept_paths": sum(1 for item in reduced["paths"].values() for op in item.values()
                              if any("content" in r for r in op["responses"].values()))}
