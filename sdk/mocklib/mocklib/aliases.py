"""Resource aliases a plugin's manifest declares for this client (``client.resources``).

The resources ``mf.<plugin>.<resource>`` finds by itself come from the manifest's paths
(:mod:`mocklib.resources`); a vendor API whose paths do not read that way declares aliases, so
the vendor's own idiom works here too::

    "client": {"resources": {
      "messages": {"collection": "/2010-04-01/Accounts/{account_sid}/Messages.json",
                   "item": "/2010-04-01/Accounts/{account_sid}/Messages/{sid}",
                   "body": "form", "param_case": "pascal",
                   "defaults": {"account_sid": "AC00000000000000000000000000000000"},
                   "basic_user": "account_sid"},
      "metrics": {"operations": {"send": {"method": "POST", "path": "/api/v1/series", "wrap": "series"}}}
    }}

* ``collection`` answers ``create`` (POST) and ``list`` (GET); ``item`` (its last parameter is the
  id) answers ``get``, ``update`` (PATCH, PUT or POST, as declared) and ``delete``;
* ``body``: ``json`` (default), ``form`` (``a[b]=c`` for objects, a repeated key per list item:
  Twilio's) or ``form_indexed`` (lists indexed, ``a[0]=x``, ``items[0][price]=p``: Stripe's);
* ``param_case``: ``pascal`` turns ``from_`` into ``From`` and ``status_callback`` into
  ``StatusCallback`` (Twilio's parameters), ``as_is`` (default) leaves names alone;
* ``defaults``: values of path parameters a call does not give;
* ``basic_user``: send the key as HTTP Basic password, with this path parameter as the user
  (Twilio's AccountSid);
* ``headers``: sent with every call (Datadog's reads want a ``DD-APPLICATION-KEY``; never the
  marketplace key, which always goes in ``Authorization``);
* ``operations``: named calls, ``mf.datadog.metrics.send([...])``: ``method``, ``path`` and
  ``wrap`` (the positional argument is sent as ``{wrap: argument}``).

``mf.twilio.messages.create(to="+1555...", from_="+1500...", body="Hi")`` is then Twilio's call,
and ``mf.stripe.charges.create(amount=2000, currency="usd", source="tok_visa")`` Stripe's, through
``"charges": {"collection": "/charges", "item": "/charges/{charge_id}", "body": "form_indexed"}``.
"""
from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from mocklib.errors import InvalidRequestError
from mocklib.objects import MockObject
from mocklib.resources import Endpoint, fill_path, path_parameters

if TYPE_CHECKING:
    from mocklib.client import PluginClient

__all__ = ["Alias", "AliasClient", "Operation", "form_encode", "parse_aliases", "pascal"]

_UPDATE_METHODS = ("PATCH", "PUT", "POST")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    wrap: str | None = None


@dataclass(frozen=True)
class Alias:
    name: str
    collection: str | None = None
    item: str | None = None
    body: str = "json"
    param_case: str = "as_is"
    defaults: Mapping[str, str] = field(default_factory=dict)
    basic_user: str | None = None
    operations: Mapping[str, Operation] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # sent with every call (Datadog's app key)
    methods: Mapping[str, frozenset[str]] = field(default_factory=dict)  # declared methods by path


def pascal(name: str) -> str:
    """Twilio's parameter names: ``from_`` -> ``From``, ``status_callback`` -> ``StatusCallback``."""
    return "".join(part[:1].upper() + part[1:] for part in name.rstrip("_").split("_") if part)


def form_encode(params: Mapping[str, Any], *, indexed: bool = False) -> bytes:
    """``application/x-www-form-urlencoded``: objects as ``a[b]=c``, lists as repeated keys, or
    ``indexed`` as ``a[0]=c`` (what Stripe's libraries send, objects in lists included)."""
    pairs: list[tuple[str, str]] = []

    def add(key: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for sub, inner in value.items():
                add(f"{key}[{sub}]", inner)
        elif isinstance(value, (list, tuple)):
            for index, inner in enumerate(value):
                add(f"{key}[{index}]" if indexed else key, inner)
        elif isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        elif value is not None:
            pairs.append((key, str(value)))

    for name, value in params.items():
        add(name, value)
    return urlencode(pairs).encode("ascii")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.startswith("/") else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def parse_aliases(document: Any, endpoints: tuple[Endpoint, ...]) -> dict[str, Alias]:
    """The manifest's ``client.resources`` whose paths the installed version declares; anything
    else (a malformed entry, a path the version does not serve) is left out."""
    resources = (document or {}).get("resources") if isinstance(document, Mapping) else None
    if not isinstance(resources, Mapping):
        return {}
    declared: dict[str, set[str]] = {}
    for endpoint in endpoints:
        declared.setdefault(endpoint.path, set()).add(endpoint.method)
    aliases = {}
    for name, spec in resources.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or not isinstance(spec, Mapping):
            continue
        operations = {}
        for op_name, op in (spec.get("operations") or {}).items():
            if (isinstance(op, Mapping) and _text(op.get("path")) in declared
                    and str(op.get("method", "")).upper() in declared[str(op["path"])]):
                wrap = op.get("wrap") if isinstance(op.get("wrap"), str) else None
                operations[str(op_name)] = Operation(str(op["method"]).upper(), str(op["path"]), wrap)
        collection, item = _text(spec.get("collection")), _text(spec.get("item"))
        collection = collection if collection in declared else None
        item = item if item in declared else None
        if collection is None and item is None and not operations:
            continue
        defaults = _mapping(spec.get("defaults"))
        headers = _mapping(spec.get("headers"))
        aliases[name] = Alias(
            name=name, collection=collection, item=item,
            body=spec["body"] if spec.get("body") in ("form", "form_indexed") else "json",
            param_case="pascal" if spec.get("param_case") == "pascal" else "as_is",
            defaults={str(k): str(v) for k, v in defaults.items()},
            basic_user=spec.get("basic_user") if isinstance(spec.get("basic_user"), str) else None,
            operations=operations,
            headers={str(k): str(v) for k, v in headers.items() if str(k).lower() != "authorization"},
            methods={path: frozenset(declared[path]) for path in (collection, item) if path is not None})
    return aliases


class AliasClient:
    """``mf.<plugin>.<alias>``: create / list / get / update / delete, plus its named operations."""

    def __init__(self, plugin: PluginClient, alias: Alias) -> None:
        self._plugin = plugin
        self._alias = alias

    def __repr__(self) -> str:
        return f"<AliasClient {self._alias.name}>"

    @property
    def operations(self) -> list[str]:
        alias, found = self._alias, []
        collection = alias.methods.get(alias.collection or "", frozenset())
        item = alias.methods.get(alias.item or "", frozenset())
        for name, present in (("create", "POST" in collection), ("list", "GET" in collection),
                              ("get", "GET" in item), ("update", any(m in item for m in _UPDATE_METHODS)),
                              ("delete", "DELETE" in item)):
            if present:
                found.append(name)
        return found + sorted(alias.operations)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._alias.operations:
            raise AttributeError(name)
        operation = self._alias.operations[name]

        def call(payload: Any = None, /, **params: Any) -> MockObject:
            path_values, rest = self._split(operation.path, dict(params))
            if operation.wrap is not None:
                body: Any = {operation.wrap: payload, **self._names(rest)}
            elif payload is not None:
                body = payload
            else:
                body = self._names(rest)
            return self._send(operation.method, operation.path, path_values, body)

        return call

    def _names(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if self._alias.param_case == "pascal":
            return {pascal(k): v for k, v in params.items()}
        return dict(params)

    def _send(self, method: str, template: str, values: dict[str, Any], body: Any, *,
              query: bool = False) -> MockObject:
        from mocklib.client import _as_object

        values = {**self._alias.defaults, **values}
        user = str(values.get(self._alias.basic_user, "")) if self._alias.basic_user else ""
        try:
            path = fill_path(template, dict(values))  # fill_path takes what it fills out of its dict
        except KeyError as missing:
            raise InvalidRequestError(f"{template} needs the path parameter {missing.args[0]}=...",
                                      code="missing_path_parameter") from None
        headers: dict[str, str] = dict(self._alias.headers)
        if self._alias.basic_user:
            key = self._plugin._client.api_key or ""
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode("ascii")
        if query or method in ("GET", "DELETE"):
            return _as_object(self._plugin.request(method, path, params=body or None, headers=headers))
        if self._alias.body in ("form", "form_indexed"):
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            data = form_encode(body or {}, indexed=self._alias.body == "form_indexed")
            return _as_object(self._plugin.request(method, path, data=data, headers=headers))
        return _as_object(self._plugin.request(method, path, json=body, headers=headers))

    def _split(self, template: str | None, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        names = set(path_parameters(template or "")) | set(self._alias.defaults)
        path_values = {k: params.pop(k) for k in list(params) if k in names}
        return path_values, params

    def _need(self, operation: str, template: str | None, method: str | None) -> str:
        if template is None or method is None:
            raise InvalidRequestError(f"'{self._alias.name}' has no {operation}; it supports "
                                      f"{', '.join(self.operations) or 'nothing'}", code="operation_not_declared")
        return template

    def _item_values(self, id: str, params: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
        template = self._alias.item or ""
        values, rest = self._split(template, dict(params))
        values[path_parameters(template)[-1]] = id
        return template, values, rest

    def create(self, **params: Any) -> MockObject:
        methods = self._alias.methods.get(self._alias.collection or "", frozenset())
        template = self._need("create", self._alias.collection, "POST" if "POST" in methods else None)
        values, rest = self._split(template, dict(params))
        return self._send("POST", template, values, self._names(rest))

    def list(self, **query: Any) -> MockObject:
        methods = self._alias.methods.get(self._alias.collection or "", frozenset())
        template = self._need("list", self._alias.collection, "GET" if "GET" in methods else None)
        values, rest = self._split(template, dict(query))
        return self._send("GET", template, values, self._names(rest), query=True)

    def get(self, id: str, **query: Any) -> MockObject:
        methods = self._alias.methods.get(self._alias.item or "", frozenset())
        self._need("get", self._alias.item, "GET" if "GET" in methods else None)
        template, values, rest = self._item_values(id, query)
        return self._send("GET", template, values, self._names(rest), query=True)

    def update(self, id: str, **params: Any) -> MockObject:
        methods = self._alias.methods.get(self._alias.item or "", frozenset())
        method = next((m for m in _UPDATE_METHODS if m in methods), None)
        self._need("update", self._alias.item, method)
        template, values, rest = self._item_values(id, params)
        return self._send(str(method), template, values, self._names(rest))

    def delete(self, id: str, **query: Any) -> MockObject:
        methods = self._alias.methods.get(self._alias.item or "", frozenset())
        self._need("delete", self._alias.item, "DELETE" if "DELETE" in methods else None)
        template, values, rest = self._item_values(id, query)
        return self._send("DELETE", template, values, self._names(rest), query=True)
