"""Request and Response as a plugin sees them, plus form/query parsing.

Bodies are bytes end to end: the protocol carries the exact raw bytes, and
``json()``/``form()``/``text()`` decode only when the plugin asks, so binary
uploads and signed payloads are never altered.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from .errors import BadRequestError


class QueryParams(Mapping[str, str]):
    """A multi-dict: ``q["k"]``/``get`` give the first value, ``getlist`` all of them.

    The first value wins (like werkzeug) because vendor APIs that repeat a key
    mean a list, and then the plugin should be calling ``getlist``.
    """

    def __init__(self, data: Mapping[str, Iterable[str]] | None = None) -> None:
        self._data: dict[str, list[str]] = {k: [str(v) for v in vs] for k, vs in (data or {}).items()}

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> QueryParams:
        data: dict[str, list[str]] = {}
        for key, value in pairs:
            data.setdefault(key, []).append(value)
        return cls(data)

    def __getitem__(self, key: str) -> str:
        values = self._data[key]
        if not values:
            raise KeyError(key)
        return values[0]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def getlist(self, key: str) -> list[str]:
        return list(self._data.get(key, []))

    def pairs(self) -> list[tuple[str, str]]:
        return [(k, v) for k, vs in self._data.items() for v in vs]

    def to_dict(self) -> dict[str, list[str]]:
        return {k: list(vs) for k, vs in self._data.items()}

    def nested(self) -> dict[str, Any]:
        """Stripe-style bracket keys as nested structures (see ``parse_nested``)."""
        return parse_nested(self.pairs())

    def __repr__(self) -> str:
        return f"QueryParams({self._data!r})"


class Headers(Mapping[str, str]):
    """Case-insensitive, single-valued headers (the protocol sends them lower-cased)."""

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        self._data = {str(k).lower(): str(v) for k, v in (data or {}).items()}

    def __getitem__(self, key: str) -> str:
        return self._data[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Headers({self._data!r})"


_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


def _split_key(key: str) -> list[str]:
    """``a[b][0][]`` -> ``["a", "b", "0", ""]``; a key without brackets is one part."""
    head, bracket, _ = key.partition("[")
    if not bracket or not head:
        return [key]
    rest = key[len(head):]
    parts = _BRACKETS.findall(rest)
    # Anything that is not a clean run of [..] groups is kept as a literal key,
    # as Rack and PHP do, rather than guessed at.
    if "".join(f"[{p}]" for p in parts) != rest:
        return [key]
    return [head, *parts]


def _listify(node: Any) -> Any:
    if isinstance(node, list):
        return [_listify(v) for v in node]
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    # Stripe encodes arrays as a[0]=..&a[1]=..; only a dense 0..n-1 run becomes a
    # list, so a metadata dict with a key like "7" stays a dict.
    if converted and all(k.isdigit() for k in converted):
        indices = sorted(int(k) for k in converted)
        if indices == list(range(len(indices))) and all(str(i) in converted for i in indices):
            return [converted[str(i)] for i in indices]
    return converted


def parse_nested(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn ``a[b]=c``, ``a[]=1&a[]=2`` and ``a[0][x]=1`` into nested dicts/lists.

    Plain repeated keys: the last value wins (Rack/PHP semantics); read
    ``QueryParams.getlist`` when repetition is meaningful. A key used both as
    a scalar and as a container is a 400, since either reading would silently
    drop data.
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _split_key(key)
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            next_is_append = not last and parts[index + 1] == ""
            if isinstance(node, list):
                # Only reachable through "[]": each "[]" level appends a fresh element.
                if part != "":
                    raise BadRequestError(f"{key!r} mixes [] with named keys")
                if last:
                    node.append(value)
                    break
                child: Any = [] if next_is_append else {}
                node.append(child)
                node = child
                continue
            if part == "" and index > 0:
                raise BadRequestError(f"unsupported key {key!r}")
            if last:
                if isinstance(node.get(part), (dict, list)):
                    raise BadRequestError(f"{key!r} is used both as a value and as a container")
                node[part] = value
                break
            existing = node.get(part)
            if existing is None:
                existing = [] if next_is_append else {}
                node[part] = existing
            elif not isinstance(existing, (dict, list)):
                raise BadRequestError(f"{key!r} is used both as a value and as a container")
            elif next_is_append and not isinstance(existing, list):
                raise BadRequestError(f"{key!r} mixes [] with named keys")
            node = existing
    result = _listify(root)
    assert isinstance(result, dict)
    return result


def _parse_form_pairs(body: bytes) -> list[tuple[str, str]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequestError("form body is not UTF-8") from exc
    return parse_qsl(text, keep_blank_values=True)


@dataclass
class Request:
    """An end-user HTTP call, as forwarded by the gateway.

    ``path_params`` is filled by the router; ``user_id``/``sandbox``/``config``
    come from the invocation context the gateway resolved.
    """

    method: str
    path: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    query: QueryParams = field(default_factory=QueryParams)
    request_id: str = ""
    user_id: str = ""
    sandbox: bool = False
    authenticated: bool = True
    config: Mapping[str, Any] = field(default_factory=dict)
    path_params: dict[str, str] = field(default_factory=dict)

    def get_header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def text(self, encoding: str = "utf-8") -> str:
        try:
            return self.body.decode(encoding)
        except UnicodeDecodeError as exc:
            raise BadRequestError(f"body is not {encoding}") from exc

    def json(self) -> Any:
        """Parsed JSON body; ``{}`` for an empty body so ``.get`` keeps working."""
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequestError(f"body is not valid JSON: {exc}", code="invalid_json") from exc

    def form(self) -> dict[str, Any]:
        """``application/x-www-form-urlencoded`` body with Stripe-style nesting."""
        return parse_nested(_parse_form_pairs(self.body))

    def form_pairs(self) -> list[tuple[str, str]]:
        return _parse_form_pairs(self.body)


def _encode_body(body: Any) -> tuple[bytes, str | None]:
    if body is None:
        return b"", None
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body), "application/octet-stream"
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain; charset=utf-8"
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"), "application/json"


class Response:
    """What a handler returns. ``body`` may be bytes, str, or anything JSON-able
    (dicts/lists become JSON, as in the seed's ``Response(200, customer)``)."""

    def __init__(self, status_code: int = 200, body: Any = None,
                 headers: Mapping[str, str] | None = None) -> None:
        self.status_code = int(status_code)
        self.body, default_type = _encode_body(body)
        self.headers: dict[str, str] = dict(headers or {})
        if default_type and not any(k.lower() == "content-type" for k in self.headers):
            self.headers["Content-Type"] = default_type

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        merged = {"Content-Type": "application/json"}
        merged.update(headers or {})
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return cls(status, body, merged)

    @classmethod
    def error(cls, status: int, code: str, message: str, *, request_id: str = "",
              details: list[dict[str, Any]] | None = None) -> Response:
        error: dict[str, Any] = {"code": code, "message": message}
        if request_id:
            error["request_id"] = request_id
        if details:
            error["details"] = details
        return cls.json({"error": error}, status=status)

    def __repr__(self) -> str:
        return f"Response({self.status_code}, {len(self.body)} bytes)"


def coerce_response(value: Any) -> Response:
    """Let handlers return a Response, a JSON-able value, or (body, status)."""
    if isinstance(value, Response):
        return value
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int):
        return Response(value[1], value[0])
    if value is None:
        return Response(204)
    return Response(200, value)
