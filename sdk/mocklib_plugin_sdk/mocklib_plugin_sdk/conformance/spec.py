"""A vendor's OpenAPI document as a plugin ships it, and the questions conformance asks of it.

A plugin project ships the document in ``spec/``: the (compressed) OpenAPI file and
``spec/spec.json``, its declaration::

    {"file": "twilio_api_v2010.json.gz", "title": "Twilio REST API", "version": "2010-04-01",
     "source": "https://github.com/twilio/twilio-oai (spec/json/twilio_api_v2010.json @ d50069b)",
     "license": "MIT", "note": null}

``file`` is relative to ``spec/`` (``.json``, ``.json.gz``; ``.yaml``/``.yaml.gz`` when PyYAML is
installed); an optional ``path_prefix`` is what the vendor's paths carry before the plugin's (the
gateway's ``/plugins/stripe/v1`` stands for Stripe's ``/v1``: ``"path_prefix": "/v1"``). :class:`OpenApiSpec` indexes its operations (method and path template), names the
resource each belongs to, finds the operation a concrete request path is, and the response schema
documented for a status and media type.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

SPEC_DIR = "spec"
DECLARATION = "spec.json"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_SPEC_BYTES = 64 * 1024 * 1024  # decompressed
DROPPED = "x-mocklib-answers-dropped"  # an operation whose answers a subset did not keep (subset.py)
_PARAM = re.compile(r"\{[^{}/]+\}")
_VERSION_SEGMENT = re.compile(r"^(v\d+(\.\d+)?|\d{4}-\d{2}-\d{2}|api)$")
_DECLARED_FIELDS = ("file", "title", "version", "source", "license")


class SpecError(ValueError):
    """A declaration or document that cannot be used; ``str(exc)`` says why."""


@dataclass(frozen=True)
class SpecDeclaration:
    """What ``spec/spec.json`` says about the vendor document the plugin ships."""

    file: str
    title: str
    version: str
    source: str
    license: str
    note: str | None = None
    path_prefix: str = ""  # what the vendor's paths have before the plugin's (Stripe's "/v1")

    @classmethod
    def from_document(cls, document: Any) -> SpecDeclaration:
        if not isinstance(document, dict):
            raise SpecError(f"{SPEC_DIR}/{DECLARATION} must hold a JSON object")
        missing = [name for name in _DECLARED_FIELDS
                   if not isinstance(document.get(name), str) or not document[name].strip()]
        if missing:
            raise SpecError(f"{SPEC_DIR}/{DECLARATION} needs non-empty strings: {', '.join(missing)}")
        file = document["file"]
        if "/" in file or "\\" in file or file.startswith("."):
            raise SpecError(f"{SPEC_DIR}/{DECLARATION}: file must name a file inside {SPEC_DIR}/")
        note, prefix = document.get("note"), document.get("path_prefix") or ""
        if not isinstance(prefix, str) or (prefix and not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", prefix)):
            raise SpecError(f"{SPEC_DIR}/{DECLARATION}: path_prefix must look like /v1")
        return cls(file=file, title=document["title"], version=document["version"], source=document["source"],
                   license=document["license"], note=note if isinstance(note, str) and note.strip() else None,
                   path_prefix=prefix)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.file, "title": self.title, "version": self.version,
                               "source": self.source, "license": self.license, "note": self.note}
        if self.path_prefix:
            out["path_prefix"] = self.path_prefix
        return out


def find_declaration(project: Path) -> SpecDeclaration | None:
    """The project's ``spec/spec.json``, or None when the plugin ships no vendor document."""
    path = Path(project) / SPEC_DIR / DECLARATION
    if not path.is_file():
        return None
    try:
        return SpecDeclaration.from_document(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError(f"{SPEC_DIR}/{DECLARATION} is not readable JSON ({exc})") from exc


def read_document(path: Path) -> dict[str, Any]:
    """A JSON or YAML OpenAPI document, gzip-compressed or not."""
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as unzipped:
            raw = unzipped.read(MAX_SPEC_BYTES + 1)
        if len(raw) > MAX_SPEC_BYTES:
            raise SpecError(f"{path.name} is over {MAX_SPEC_BYTES // (1024 * 1024)} MiB decompressed")
    stem = path.name[:-3] if path.name.endswith(".gz") else path.name
    if stem.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError as exc:
            raise SpecError("reading a YAML document needs PyYAML (pip install pyyaml)") from exc
        document = yaml.safe_load(raw)
    else:
        document = json.loads(raw)
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        raise SpecError(f"{path.name} is not an OpenAPI document (no paths)")
    if not str(document.get("openapi", "")).startswith("3."):
        raise SpecError(f"{path.name} is not OpenAPI 3.x (openapi: {document.get('openapi')!r})")
    return document


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str  # the spec's template, e.g. /v1/customers/{customer}
    operation_id: str
    resource: str
    pointer: str  # JSON pointer of the operation object in the document

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


def _escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _segment_regex(segment: str) -> str:
    parts, last = [], 0
    for match in _PARAM.finditer(segment):
        parts.append(re.escape(segment[last:match.start()]))
        parts.append("[^/]+")
        last = match.end()
    parts.append(re.escape(segment[last:]))
    return "".join(parts)


def _literal_weight(template: str) -> int:
    """How specific a template is: its characters outside parameters."""
    return len(_PARAM.sub("", template))


class OpenApiSpec:
    """An OpenAPI 3.x document, indexed by operation."""

    def __init__(self, document: dict[str, Any], declaration: SpecDeclaration | None = None,
                 digest: str | None = None, path_prefix: str | None = None) -> None:
        self.document = document
        self.declaration = declaration
        self.digest = digest
        self.path_prefix = path_prefix if path_prefix is not None else (
            declaration.path_prefix if declaration is not None else "")
        self.openapi = str(document.get("openapi", "3.0.0"))
        self.operations: list[Operation] = []
        tagged = untagged = 0
        for path, item in document["paths"].items():
            if not isinstance(item, dict):
                continue
            for method in HTTP_METHODS:
                op = item.get(method)
                if isinstance(op, dict):
                    if op.get("tags"):
                        tagged += 1
                    else:
                        untagged += 1
        use_tags = tagged > 0 and tagged >= untagged
        tags = [str(item[m]["tags"][0]) for item in document["paths"].values() if isinstance(item, dict)
                for m in HTTP_METHODS if isinstance(item.get(m), dict) and item[m].get("tags")]
        prefix = _common_prefix(tags) if use_tags else ""
        self._patterns: list[tuple[re.Pattern[str], int, Operation]] = []
        for path, item in document["paths"].items():
            if not isinstance(item, dict):
                continue
            for method in HTTP_METHODS:
                op = item.get(method)
                if not isinstance(op, dict):
                    continue
                resource = (str(op["tags"][0])[len(prefix):] if use_tags and op.get("tags")
                            else path_resource(path))
                operation = Operation(method=method.upper(), path=path,
                                      operation_id=str(op.get("operationId") or f"{method.upper()} {path}"),
                                      resource=resource or "(root)",
                                      pointer=f"/paths/{_escape_pointer(path)}/{method}")
                self.operations.append(operation)
                regex = "^" + "/".join(_segment_regex(s) for s in path.split("/")) + "/?$"
                self._patterns.append((re.compile(regex), _literal_weight(path), operation))
        # Most specific first: /v1/customers/search before /v1/customers/{customer}.
        self._patterns.sort(key=lambda entry: -entry[1])

    @classmethod
    def load(cls, project: Path, declaration: SpecDeclaration | None = None) -> OpenApiSpec:
        declaration = declaration or find_declaration(project)
        if declaration is None:
            raise SpecError(f"{project} ships no {SPEC_DIR}/{DECLARATION}")
        path = Path(project) / SPEC_DIR / declaration.file
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise SpecError(f"{SPEC_DIR}/{declaration.file} cannot be read ({exc})") from exc
        return cls(read_document(path), declaration, digest)

    def resolve(self, node: Any) -> Any:
        """``node`` with a local ``$ref`` followed (parameters, responses, media types)."""
        seen = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 20:
            node = self.pointer(node["$ref"].removeprefix("#"))
            seen += 1
        return node

    def pointer(self, pointer: str) -> Any:
        node: Any = self.document
        for token in pointer.lstrip("/").split("/") if pointer.strip("/") else []:
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list):
                node = node[int(token)]
            elif isinstance(node, dict):
                node = node[token]
            else:
                raise KeyError(pointer)
        return node

    def find(self, method: str, path: str) -> Operation | None:
        """The operation a concrete request is (``path`` without the query)."""
        method, path = method.upper(), self.path_prefix + path
        for pattern, _weight, operation in self._patterns:
            if operation.method == method and pattern.match(path):
                return operation
        return None

    def implementing(self, method: str, template: str) -> Operation | None:
        """The spec operation a plugin's declared endpoint (``/Messages/{sid}``) serves: a parameter
        of the plugin matches a segment with a parameter in the spec (``{Sid}.json``), a literal
        matches the same literal, or a spec parameter segment it fits."""
        method = method.upper()
        wanted = (self.path_prefix + template).split("/")
        best: tuple[int, Operation] | None = None
        for operation in self.operations:
            if operation.method != method:
                continue
            theirs = operation.path.split("/")
            if len(theirs) != len(wanted) or not all(_segments_match(mine, spec) for mine, spec in zip(wanted, theirs)):
                continue
            weight = _literal_weight(operation.path)
            if best is None or weight > best[0]:
                best = (weight, operation)
        return best[1] if best else None

    def documents_client_errors(self, operation: Operation) -> bool:
        """Whether the operation documents any 4xx answer (or a ``default`` one)."""
        responses = self.resolve(self.pointer(operation.pointer)).get("responses") or {}
        return any(str(key).startswith("4") or key == "default" for key in responses)

    def response_for(self, operation: Operation, status: int) -> tuple[str, dict[str, Any]] | None:
        """The documented response for ``status``: exact code, then ``4XX``, then ``default``."""
        responses = self.resolve(self.pointer(operation.pointer)).get("responses") or {}
        for key in (str(status), f"{status // 100}XX", f"{status // 100}xx", "default"):
            if key in responses:
                return key, self.resolve(responses[key])
        return None


def _segments_match(mine: str, spec: str) -> bool:
    mine_is_param = mine.startswith("{") and mine.endswith("}") or mine.startswith(":")
    spec_has_param = bool(_PARAM.search(spec))
    if mine_is_param:
        return spec_has_param
    if not spec_has_param:
        return mine == spec
    return re.fullmatch(_segment_regex(spec), mine) is not None


def path_resource(path: str) -> str:
    """A resource name from a path: the first literal segment after a version-like prefix."""
    literals = [s for s in path.split("/") if s and not _PARAM.search(s)]
    for segment in literals:
        if not _VERSION_SEGMENT.match(segment):
            return segment.removesuffix(".json")
    return literals[0] if literals else ""


def _common_prefix(names: list[str]) -> str:
    """The prefix every tag shares (Twilio's ``Api20100401``), kept off the resource names."""
    if len(set(names)) < 2:
        return ""
    first, last = min(names), max(names)
    size = 0
    while size < min(len(first), len(last)) and first[size] == last[size]:
        size += 1
    prefix = first[:size]

    def whole_words(candidate: str) -> bool:
        # "Api20100401" of "Api20100401Message" (a CamelCase word follows), never "Me" of "Message"/"Media".
        return candidate[-1] in " _-" or all(len(n) > len(candidate) and n[len(candidate)].isupper() for n in names)

    while prefix and not whole_words(prefix):
        prefix = prefix[:-1]
    return prefix if all(len(n) > len(prefix) for n in names) else ""


def media_type_for(content: Mapping[str, Any], content_type: str) -> str | None:
    """The documented media type an answer's ``Content-Type`` falls under."""
    wanted = content_type.split(";")[0].strip().lower()
    keys = {key.split(";")[0].strip().lower(): key for key in content}
    if wanted in keys:
        return keys[wanted]
    major = wanted.split("/")[0]
    for candidate in (f"{major}/*", "*/*"):
        if candidate in keys:
            return keys[candidate]
    return None


def is_json_media(media: str) -> bool:
    media = media.split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json") or media == "*/*"
