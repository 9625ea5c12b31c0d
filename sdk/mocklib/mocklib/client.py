"""The MockFactory client.

    from mocklib import MockFactory

    mf = MockFactory("mf_test_...", token=session_token)   # or MOCKFACTORY_API_KEY / _TOKEN / _API_URL
    mf.plugins.install("stripe")                     # accepts the permissions stripe declares
    customer = mf.stripe.customers.create(email="a@example.com", name="A")
    assert mf.stripe.customers.get(customer.id).email == "a@example.com"
    mf.echo.request("GET", "/echo/a/b", params={"x": 1})   # any endpoint, raw

Management calls (``/plugins/...``, ``/keys``, ``/usage``, ``/developer/...``) carry ``token``
when given (a session: from ``mf.auth.login``), else ``api_key``. A key does only what its
scopes allow: a default sandbox key calls plugins and reads usage, a live key only calls
plugins, and managing installs takes a session or a key created with ``installs:write``;
keys, billing, developer and admin calls always take a session. Plugin calls through the
gateway always carry ``api_key``: the gateway only takes API keys.
"""
from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from importlib import metadata
from typing import Any
from urllib.parse import quote

import requests  # type: ignore[import-untyped, unused-ignore]

from mocklib._http import RetryPolicy, Transport
from mocklib.aliases import Alias, AliasClient, parse_aliases
from mocklib.errors import (AuthenticationError, InsufficientScopeError, InvalidRequestError, MockFactoryError,
                            UnknownResourceError)
from mocklib.objects import MockObject, wrap
from mocklib.resources import Endpoint, Resource, build_resources, fill_path, parse_endpoints, path_parameters

__all__ = ["MockFactory", "DEFAULT_API_URL", "PluginSpec", "PluginClient", "ResourceClient", "__version__"]

DEFAULT_API_URL = "http://127.0.0.1:8000"

try:
    __version__ = metadata.version("mocklib")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"


def _segment(value: str) -> str:
    return quote(str(value), safe="")


def _as_object(value: Any) -> MockObject:
    """Resource methods always give a MockObject: a JSON list becomes ``{"data": [...]}``,
    a non-JSON answer ``{"body": text}``, an empty one ``{}``."""
    wrapped = wrap(value)
    if isinstance(wrapped, MockObject):
        return wrapped
    if value is None:
        return MockObject()
    if isinstance(wrapped, list):
        return MockObject(data=wrapped)
    return MockObject(body=wrapped)


@dataclass(frozen=True)
class PluginSpec:
    """What the client needs to call one installed plugin: where it answers and its resources."""

    name: str
    version: str | None
    base_path: str
    endpoints: tuple[Endpoint, ...]
    resources: Mapping[str, Resource]
    aliases: Mapping[str, Alias] = field(default_factory=dict)  # the manifest's client.resources


class MockFactory:
    """A client for the MockFactory Marketplace API.

    ``timeout`` (seconds) applies to each HTTP request; ``max_retries`` (0 disables) bounds the
    retries of 429s, connection failures and (idempotent methods only) 5xx answers. ``session``
    lets you bring your own ``requests.Session`` (proxies, adapters, test doubles).
    """

    def __init__(self, api_key: str | None = None, *, api_url: str | None = None, token: str | None = None,
                 timeout: float = 30.0, max_retries: int = 3, session: Any = None) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.api_key = api_key if api_key is not None else (os.environ.get("MOCKFACTORY_API_KEY") or None)
        self.token = token if token is not None else (os.environ.get("MOCKFACTORY_TOKEN") or None)
        self.api_url = (api_url or os.environ.get("MOCKFACTORY_API_URL") or DEFAULT_API_URL).rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self._owns_session = session is None
        self._transport = Transport(session=session if session is not None else requests.Session(),
                                    user_agent=f"mocklib/{__version__}", timeout=timeout,
                                    policy=RetryPolicy(max_retries=max_retries))
        self._specs: dict[str, PluginSpec] = {}
        self._specs_lock = threading.Lock()
        self.plugins = Plugins(self)
        self.marketplace = Marketplace(self)
        self.keys = Keys(self)
        self.usage = Usage(self)
        self.developer = Developer(self)
        self.auth = Auth(self)
        self.admin = Admin(self)

    # --- lifecycle ------------------------------------------------------------
    def close(self) -> None:
        if self._owns_session:
            self._transport.session.close()

    def __enter__(self) -> MockFactory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def with_options(self, *, timeout: float | None = None, max_retries: int | None = None) -> MockFactory:
        """A client with other defaults, sharing this one's session, credentials and plugin cache."""
        clone = MockFactory(self.api_key, api_url=self.api_url, token=self.token,
                            timeout=self.timeout if timeout is None else timeout,
                            max_retries=self.max_retries if max_retries is None else max_retries,
                            session=self._transport.session)
        clone._specs = self._specs
        clone._specs_lock = self._specs_lock
        clone._transport.sleep = self._transport.sleep
        return clone

    # --- raw calls --------------------------------------------------------------
    @property
    def management_credential(self) -> str | None:
        return self.token or self.api_key

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None,
                timeout: float | None = None) -> Any:
        """One management call (``path`` like ``/plugins/installed``); the decoded JSON answer with
        objects as :class:`MockObject`. Errors raise the matching :class:`MockFactoryError`."""
        try:
            response = self._transport.request(method, self.api_url + path, credential=self.management_credential,
                                               json_body=json, params=params, timeout=timeout)
        except InsufficientScopeError as exc:
            if self.token:
                raise
            raise _scope_hint(exc) from None
        return wrap(response.decoded())

    def _plugin_request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None,
                        headers: Mapping[str, str] | None = None, data: bytes | None = None,
                        timeout: float | None = None) -> Any:
        if not self.api_key:
            raise AuthenticationError("calling a plugin needs a marketplace API key (mf_test_... or "
                                      "mf_live_...): pass api_key= or set MOCKFACTORY_API_KEY",
                                      code="missing_api_key")
        response = self._transport.request(method, self.api_url + path, credential=self.api_key,
                                           json_body=json, params=params, headers=headers, data=data,
                                           timeout=timeout)
        return wrap(response.decoded())

    # --- dynamic plugin access ------------------------------------------------
    def plugin(self, name: str) -> PluginClient:
        """``mf.plugin("sendgrid")`` is ``mf.sendgrid``; use it for names that are not Python names."""
        return PluginClient(self, name)

    def __getattr__(self, name: str) -> PluginClient:
        if name.startswith("_"):
            raise AttributeError(name)
        return PluginClient(self, name.replace("_", "-"))

    def plugin_spec(self, name: str, *, refresh: bool = False) -> PluginSpec:
        """The installed major version's base path and the manifest's resources, fetched once."""
        with self._specs_lock:
            cached = self._specs.get(name)
        if cached is not None and not refresh:
            return cached
        try:
            installed = self.request("GET", f"/plugins/installed/{_segment(name)}")
        except InsufficientScopeError:
            # A key that may call plugins but not read installs: the catalog's newest version
            # (give the key installs:read, or use a session, to follow an older installed major).
            api = self.request("GET", f"/marketplace/plugins/{_segment(name)}").get("api") or {}
            installed = wrap({"version": None, "base_path": api.get("base_path"), "endpoints": api.get("endpoints"),
                              "major": 1})
        declared = installed.get("endpoints")  # the installed version's endpoints
        if declared is None:  # an older API: the catalog's newest version
            declared = (self.request("GET", f"/marketplace/plugins/{_segment(name)}").get("api") or {}).get("endpoints")
        endpoints = parse_endpoints(declared or [])
        spec = PluginSpec(name=name, version=installed.get("version"),
                          base_path=str(installed.get("base_path") or f"/plugins/{name}/v{installed['major']}"),
                          endpoints=endpoints, resources=build_resources(endpoints),
                          aliases=self._aliases(name, endpoints))
        with self._specs_lock:
            self._specs[name] = spec
        return spec

    def _aliases(self, name: str, endpoints: tuple[Endpoint, ...]) -> dict[str, Alias]:
        """The catalog's ``client.resources`` of the plugin, kept where the installed version
        serves their paths (mocklib.aliases); none when the catalog cannot be read."""
        try:
            detail = self.request("GET", f"/marketplace/plugins/{_segment(name)}")
        except MockFactoryError:
            return {}
        client = detail.get("client") if hasattr(detail, "get") else None
        return parse_aliases(client.to_dict() if isinstance(client, MockObject) else client, endpoints)

    def forget_plugin(self, name: str) -> None:
        with self._specs_lock:
            self._specs.pop(name, None)


class PluginClient:
    """``mf.<plugin>``: its resources as attributes, and :meth:`request` for anything else."""

    def __init__(self, client: MockFactory, name: str) -> None:
        self._client = client
        self._name = name

    def __repr__(self) -> str:
        return f"<PluginClient {self._name}>"

    @property
    def spec(self) -> PluginSpec:
        return self._client.plugin_spec(self._name)

    def resources(self) -> list[str]:
        return sorted(set(self.spec.resources) | set(self.spec.aliases))

    def __getattr__(self, name: str) -> ResourceClient | AliasClient:
        if name.startswith("_"):
            raise AttributeError(name)
        spec = self.spec
        alias = spec.aliases.get(name)  # what the manifest declares wins over what its paths suggest
        if alias is not None:
            return AliasClient(self, alias)
        resource = spec.resources.get(name)
        if resource is None:
            raise UnknownResourceError(
                f"plugin '{self._name}' declares no resource '{name}'; available: "
                f"{', '.join(self.resources()) or '(none)'} (or use .request(method, path))",
                code="unknown_resource", details={"available": self.resources()})
        return ResourceClient(self, resource)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.resources()))

    def request(self, method: str, path: str, json: Any = None, params: Mapping[str, Any] | None = None, *,
                headers: Mapping[str, str] | None = None, data: bytes | None = None,
                timeout: float | None = None) -> Any:
        """Any endpoint of the plugin, ``path`` relative to its base (``/customers/cus_1``)."""
        if not path.startswith("/"):
            path = "/" + path
        return self._client._plugin_request(method, self.spec.base_path + path, json=json, params=params,
                                            headers=headers, data=data, timeout=timeout)


class ResourceClient:
    """``mf.<plugin>.<resource>``: create / get / list / update / delete over the manifest's paths.
    Path parameters of nested collections (``{transfer_id}``) are taken from the keyword arguments."""

    def __init__(self, plugin: PluginClient, resource: Resource) -> None:
        self._plugin = plugin
        self._resource = resource

    def __repr__(self) -> str:
        return f"<ResourceClient {self._resource.name} {self._resource.collection}>"

    @property
    def operations(self) -> list[str]:
        return self._resource.operations()

    def _unsupported(self, operation: str, method: str, path: str | None) -> MockFactoryError:
        where = f"{method} {path}" if path else f"an item path under {self._resource.collection}"
        return InvalidRequestError(
            f"'{self._resource.name}' has no {operation}: the manifest declares no {where}; "
            f"it supports {', '.join(self.operations) or 'nothing'}", code="operation_not_declared")

    def _path(self, template: str, values: dict[str, Any]) -> str:
        try:
            return fill_path(template, values)
        except KeyError as missing:
            raise InvalidRequestError(f"{template} needs the path parameter {missing.args[0]}=...",
                                      code="missing_path_parameter") from None

    def _call(self, method: str, template: str, values: dict[str, Any], *, body: bool) -> MockObject:
        params = dict(values)
        path = self._path(template, params)
        if body:
            return _as_object(self._plugin.request(method, path, json=params))
        return _as_object(self._plugin.request(method, path, params=params or None))

    def _item_values(self, id: str, params: dict[str, Any]) -> dict[str, Any]:
        item = self._resource.item
        assert item is not None
        names = path_parameters(item)
        return {**params, names[-1]: id}

    def create(self, **params: Any) -> MockObject:
        if "POST" not in self._resource.collection_methods:
            raise self._unsupported("create", "POST", self._resource.collection)
        return self._call("POST", self._resource.collection, params, body=True)

    def list(self, **query: Any) -> MockObject:
        if "GET" not in self._resource.collection_methods:
            raise self._unsupported("list", "GET", self._resource.collection)
        return self._call("GET", self._resource.collection, query, body=False)

    def get(self, id: str | None = None, **query: Any) -> MockObject:
        """The item ``id``; without one, the collection path itself (singletons like ``balance``)."""
        if id is None:
            if "GET" not in self._resource.collection_methods:
                raise self._unsupported("get", "GET", self._resource.collection)
            return self._call("GET", self._resource.collection, query, body=False)
        if self._resource.item is None or "GET" not in self._resource.item_methods:
            raise self._unsupported("get", "GET", self._resource.item)
        return self._call("GET", self._resource.item, self._item_values(id, query), body=False)

    def update(self, id: str, **params: Any) -> MockObject:
        method = self._resource.update_method
        if self._resource.item is None or method is None:
            raise self._unsupported("update", "PATCH/PUT/POST", self._resource.item)
        return self._call(method, self._resource.item, self._item_values(id, params), body=True)

    def delete(self, id: str | None = None, **query: Any) -> MockObject:
        if id is None:
            if "DELETE" not in self._resource.collection_methods:
                raise self._unsupported("delete", "DELETE", self._resource.collection)
            return self._call("DELETE", self._resource.collection, query, body=False)
        if self._resource.item is None or "DELETE" not in self._resource.item_methods:
            raise self._unsupported("delete", "DELETE", self._resource.item)
        return self._call("DELETE", self._resource.item, self._item_values(id, query), body=False)


# --- management namespaces -------------------------------------------------------------
class _Namespace:
    def __init__(self, client: MockFactory) -> None:
        self._client = client

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._client.request("GET", path, params=params)

    def _post(self, path: str, body: Any = None) -> Any:
        return self._client.request("POST", path, json=body if body is not None else {})


class Plugins(_Namespace):
    """Installing and finding plugins."""

    def install(self, name: str, version: str | None = None, config: Mapping[str, Any] | None = None,
                accept_permissions: list[str] | None = None) -> MockObject:
        """Install ``name`` (``version``: "latest", "2", "2.x" or an exact published version).
        Without ``accept_permissions`` the permissions the plugin declares are accepted."""
        body: dict[str, Any] = {"plugin": name}
        if version is not None:
            body["version"] = version
        if config is not None:
            body["config"] = dict(config)
        implicit = accept_permissions is None
        body["accept_permissions"] = (list(self.info(name).get("permissions") or []) if implicit
                                      else list(accept_permissions or []))
        try:
            result = self._post("/plugins/install", body)
        except InvalidRequestError as exc:
            # An older version may declare other permissions than the newest one (the catalog's).
            required = exc.details.get("required_permissions") if isinstance(exc.details, dict) else None
            if not (implicit and exc.code == "consent_required" and isinstance(required, list)):
                raise
            body["accept_permissions"] = required
            result = self._post("/plugins/install", body)
        self._client.forget_plugin(name)
        return _as_object(result)

    def uninstall(self, name: str) -> MockObject:
        result = self._post("/plugins/uninstall", {"plugin": name})
        self._client.forget_plugin(name)
        return _as_object(result)

    def upgrade(self, name: str, version: str, accept_permissions: list[str] | None = None) -> MockObject:
        body: dict[str, Any] = {"version": version}
        body["accept_permissions"] = (accept_permissions if accept_permissions is not None
                                      else list(self.info(name).get("permissions") or []))
        result = self._post(f"/plugins/installed/{_segment(name)}/upgrade", body)
        self._client.forget_plugin(name)
        return _as_object(result)

    def list_installed(self) -> list[MockObject]:
        return list(self._get("/plugins/installed").get("installs") or [])

    def get_installed(self, name: str) -> MockObject:
        return _as_object(self._get(f"/plugins/installed/{_segment(name)}"))

    def list_available(self, q: str | None = None, category: str | None = None, sort: str | None = None,
                       *, page: int | None = None, limit: int | None = None) -> list[MockObject]:
        return list(self._client.marketplace.search(q, category=category, sort=sort, page=page,
                                                    limit=limit).get("plugins") or [])

    def info(self, name: str) -> MockObject:
        return _as_object(self._get(f"/marketplace/plugins/{_segment(name)}"))


class Marketplace(_Namespace):
    SORTS = ("popular", "rating", "newest", "price", "name")

    def search(self, q: str | None = None, *, category: str | None = None, sort: str | None = None,
               tags: list[str] | None = None, tier: str | None = None, page: int | None = None,
               limit: int | None = None) -> MockObject:
        """One page: ``{"plugins": [...], "pagination": {...}}``."""
        params = {"q": q, "category": category, "sort": sort, "tier": tier, "page": page, "limit": limit,
                  "tags": ",".join(tags) if tags else None}
        return _as_object(self._get("/marketplace/plugins", params))

    def categories(self) -> list[MockObject]:
        return list(self._get("/marketplace/categories").get("categories") or [])

    def detail(self, name: str) -> MockObject:
        return _as_object(self._get(f"/marketplace/plugins/{_segment(name)}"))


def _scope_hint(error: InsufficientScopeError) -> InsufficientScopeError:
    """The API's refusal of a key, with what to do about it."""
    scope = error.required_scope
    hint = (f"use a key with the '{scope}' scope (mf.keys.create(..., scopes=[{scope!r}])) or a signed-in session"
            if scope else "this call needs a signed-in session")
    hinted = InsufficientScopeError(f"{error.message} [{hint}: MockFactory(token=...) or mf.auth.login(email, "
                                    "password)]", code=error.code, status=error.status, request_id=error.request_id,
                                    details=error.details, headers=error.headers)
    hinted.api_message = error.message
    return hinted


def _moment(value: datetime | date | timedelta | str) -> str:
    """An expiry as the API takes it: ISO 8601, UTC when no offset is given."""
    if isinstance(value, timedelta):
        value = datetime.now(timezone.utc) + value
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return value.isoformat() if isinstance(value, date) else str(value)


class Keys(_Namespace):
    def create(self, name: str = "default", mode: str = "test", *, scopes: builtins.list[str] | None = None,
               plugins: builtins.list[str] | None = None,
               expires: datetime | date | timedelta | str | None = None) -> MockObject:
        """The new key; ``api_key`` holds the secret, shown this once. Without ``scopes`` the mode's
        defaults (test: gateway, usage:read; live: gateway); with them a restricted key, optionally
        limited to ``plugins`` and expiring at ``expires`` (a moment, a date, or a timedelta from now)."""
        body: dict[str, Any] = {"name": name, "mode": mode}
        if scopes is not None:
            body["scopes"] = builtins.list(scopes)
        if plugins is not None:
            body["plugins"] = builtins.list(plugins)
        if expires is not None:
            body["expires_at"] = _moment(expires)
        return _as_object(self._post("/keys", body))

    def scopes(self) -> dict[str, str]:
        """Every scope a key may carry, with what it allows."""
        return dict(self._get("/keys").get("scopes") or {})

    def list(self) -> builtins.list[MockObject]:
        return builtins.list(self._get("/keys").get("keys") or [])

    def rotate(self, key_id: str) -> MockObject:
        return _as_object(self._post(f"/keys/{_segment(key_id)}/rotate"))

    def revoke(self, key_id: str) -> MockObject:
        return _as_object(self._client.request("DELETE", f"/keys/{_segment(key_id)}"))


class Usage(_Namespace):
    def get(self, month: str | None = None) -> MockObject:
        """Calls per installed plugin for ``month`` (YYYY-MM, default this month)."""
        return _as_object(self._get("/usage", {"month": month}))

    def stats(self, period: str | None = None) -> MockObject:
        """Usage against each plan's quota for ``period`` (YYYY-MM, default this month)."""
        return _as_object(self._get("/usage/stats", {"period": period}))


class Developer(_Namespace):
    def earnings(self) -> MockObject:
        return _as_object(self._get("/developer/earnings"))

    def plugins(self) -> MockObject:
        return _as_object(self._get("/developer/plugins"))

    def validate_manifest(self, manifest: Mapping[str, Any]) -> MockObject:
        """``{"valid": bool, "problems": [{"path", "message"}]}``."""
        return _as_object(self._post("/developer/validate-manifest", dict(manifest)))

    def submit(self, package_b64: str) -> MockObject:
        """Upload a built package (base64); the answer's ``submission`` is queued for checks."""
        return _as_object(self._post("/developer/submissions", {"package": package_b64}))

    def submissions(self, plugin: str | None = None) -> list[MockObject]:
        return list(self._get("/developer/submissions", {"plugin": plugin}).get("submissions") or [])

    def submission(self, submission_id: str) -> MockObject:
        found = _as_object(self._get(f"/developer/submissions/{_segment(submission_id)}"))
        inner = found.get("submission")
        return inner if isinstance(inner, MockObject) else found


class Auth(_Namespace):
    def login(self, email: str, password: str) -> MockObject:
        """``{"user", "access_token", "token_type", "expires_in"}``; the client then uses the token."""
        result = _as_object(self._client.request("POST", "/auth/login",
                                                 json={"email": email, "password": password}))
        token = result.get("access_token")
        if isinstance(token, str):
            self._client.token = token
        return result

    def me(self) -> MockObject:
        return _as_object(self._get("/auth/me"))

    def become_developer(self) -> MockObject:
        """The self-service step from user to developer (needs a session); the client then uses the
        fresh token, which carries the new role."""
        result = _as_object(self._post("/account/developer"))
        token = result.get("access_token")
        if isinstance(token, str):
            self._client.token = token
        return result


class Admin(_Namespace):
    """User management; admin sessions only (every change is audited)."""

    def users(self, email: str | None = None, *, limit: int | None = None, cursor: str | None = None) -> MockObject:
        """One page: ``{"users": [...], "next_cursor"}``; ``email`` is a prefix of the address."""
        return _as_object(self._get("/admin/users", {"email": email, "limit": limit, "cursor": cursor}))

    def all_users(self, email: str | None = None) -> builtins.list[MockObject]:
        found: builtins.list[MockObject] = []
        cursor: str | None = None
        while True:
            page = self.users(email, limit=100, cursor=cursor)
            found.extend(page.get("users") or [])
            cursor = page.get("next_cursor")
            if not cursor:
                return found

    def user(self, user_id: str) -> MockObject:
        """``{"user", "keys"}``."""
        return _as_object(self._get(f"/admin/users/{_segment(user_id)}"))

    def disable_user(self, user_id: str, reason: str) -> MockObject:
        return _as_object(self._post(f"/admin/users/{_segment(user_id)}/disable", {"reason": reason}))

    def enable_user(self, user_id: str, reason: str | None = None) -> MockObject:
        return _as_object(self._post(f"/admin/users/{_segment(user_id)}/enable", {"reason": reason} if reason else {}))

    def revoke_keys(self, user_id: str, reason: str | None = None) -> MockObject:
        return _as_object(self._post(f"/admin/users/{_segment(user_id)}/revoke-keys",
                                     {"reason": reason} if reason else {}))

    def set_role(self, user_id: str, role: str, reason: str | None = None) -> MockObject:
        body = {"role": role, **({"reason": reason} if reason else {})}
        return _as_object(self._client.request("PUT", f"/admin/users/{_segment(user_id)}/role", json=body))
