"""The services a plugin reaches through ``self.sdk``: storage, webhooks,
metrics, logger and licence.

Every call first checks the manifest (``dependencies.mockfactory_apis`` and
``permissions``) so a plugin cannot use more than it declared and reviewers
approved, then finds the calling user through the current invocation.
"""
from __future__ import annotations

import base64
import functools
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import BadRequestError, ServiceNotDeclaredError, StorageError
from .invocation import Invocation, current_invocation, require_invocation
from .manifest import PluginManifest
from .state import StateStore, StoredItem

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger


def require_declared(manifest: PluginManifest, action: str, service: str, permission: str | None = None) -> None:
    missing = []
    if service not in manifest.services:
        missing.append(f'"{service}" in dependencies.mockfactory_apis')
    if permission is not None and permission not in manifest.permissions:
        missing.append(f'"{permission}" in permissions')
    if missing:
        raise ServiceNotDeclaredError(
            f"{action} needs {' and '.join(missing)} in the manifest of plugin {manifest.name!r}")


COLLECTION_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_KEY_CHARS = 512
# DynamoDB items are capped at 400 KB; leave room for keys and attributes.
MAX_DOC_BYTES = 350_000


class Storage:
    """Key-value documents scoped to this plugin, live/sandbox and the calling user.

    The partition key is built from the manifest's plugin name, never from the
    event, so the IAM ``dynamodb:LeadingKeys`` condition always holds.
    """

    def __init__(self, manifest: PluginManifest, store: Callable[[], StateStore]) -> None:
        self._manifest = manifest
        self._store = store

    def _scope(self, action: str, permission: str) -> tuple[str, StateStore]:
        require_declared(self._manifest, f"storage.{action}", "storage", permission)
        invocation = require_invocation(f"storage.{action}")
        return self.partition_key(invocation), self._store()

    def partition_key(self, invocation: Invocation) -> str:
        return f"{self._manifest.name}#{invocation.mode}#{invocation.user_id}"

    @staticmethod
    def _check_collection(collection: str) -> None:
        # No '#' in collections: begins_with("coll#") must never reach "coll#x#..." of another one.
        if not isinstance(collection, str) or not COLLECTION_PATTERN.match(collection):
            raise StorageError(f"collection {collection!r} must match {COLLECTION_PATTERN.pattern}")

    @classmethod
    def _sort_key(cls, collection: str, key: str) -> str:
        cls._check_collection(collection)
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
            raise StorageError(f"key must be a non-empty string of at most {MAX_KEY_CHARS} characters")
        return f"{collection}#{key}"

    @staticmethod
    def _alive(item: StoredItem, now_s: float) -> bool:
        # DynamoDB deletes expired items lazily (up to days later), so reads filter them.
        return item.expires_at is None or item.expires_at > now_s

    def put(self, collection: str, key: str, value: Any, *, ttl_seconds: int | None = None,
            if_absent: bool = False) -> None:
        """Store a JSON-able value. ``if_absent`` raises ConflictError (409) if the
        key exists (uniqueness, idempotency keys); ``ttl_seconds`` expires it."""
        pk, store = self._scope("put", "storage:write")
        sk = self._sort_key(collection, key)
        try:
            doc = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise StorageError(f"value for {collection}/{key} is not JSON-serializable: {exc}") from exc
        if len(doc.encode("utf-8")) > MAX_DOC_BYTES:
            raise StorageError(f"value for {collection}/{key} exceeds {MAX_DOC_BYTES} bytes of JSON")
        expires_at = int(time.time()) + int(ttl_seconds) if ttl_seconds is not None else None
        # ``if_absent``: the store's conditional write treats an expired-but-not-yet-deleted item as absent.
        store.put(StoredItem(pk, sk, doc, datetime.now(timezone.utc), expires_at), if_absent=if_absent)

    def get(self, collection: str, key: str, default: Any = None) -> Any:
        pk, store = self._scope("get", "storage:read")
        item = store.get(pk, self._sort_key(collection, key))
        if item is None or not self._alive(item, time.time()):
            return default
        return json.loads(item.doc)

    def items(self, collection: str, filters: Mapping[str, Any] | Callable[[Any], bool] | None = None,
              limit: int | None = 100, *, start_after: str | None = None,
              descending: bool = False) -> list[tuple[str, Any]]:
        """``(key, value)`` pairs in key order. ``filters`` is a dict of top-level
        field equalities or a predicate; it is applied after the key query, so
        it narrows results but does not make a query cheaper."""
        pk, store = self._scope("query", "storage:read")
        self._check_collection(collection)
        prefix = f"{collection}#"
        predicate: Callable[[Any], bool]
        if isinstance(filters, Mapping):
            wanted = dict(filters)
            predicate = lambda doc: isinstance(doc, Mapping) and all(  # noqa: E731
                doc.get(k) == v for k, v in wanted.items())
        else:
            predicate = filters or (lambda doc: True)
        page_size = 100 if filters or limit is None else max(1, min(limit, 100))
        start_sk = prefix + start_after if start_after is not None else None
        results: list[tuple[str, Any]] = []
        now_s = time.time()
        for item in store.query(pk, prefix, start_after_sk=start_sk, descending=descending, page_size=page_size):
            if limit is not None and len(results) >= limit:
                break
            if not self._alive(item, now_s):
                continue
            doc = json.loads(item.doc)
            if predicate(doc):
                results.append((item.sk[len(prefix):], doc))
        return results

    def query(self, collection: str, filters: Mapping[str, Any] | Callable[[Any], bool] | None = None,
              limit: int | None = 100, *, start_after: str | None = None, descending: bool = False) -> list[Any]:
        """Values of a collection (see ``items``)."""
        return [doc for _, doc in self.items(collection, filters, limit, start_after=start_after,
                                              descending=descending)]

    def delete(self, collection: str, key: str) -> bool:
        pk, store = self._scope("delete", "storage:write")
        return store.delete(pk, self._sort_key(collection, key))

    def clear(self, collection: str | None = None) -> int:
        """Delete the calling user's items (one collection or all), e.g. on uninstall."""
        pk, store = self._scope("clear", "storage:write")
        if collection is not None:
            self._check_collection(collection)
        prefix = f"{collection}#" if collection is not None else ""
        keys = [item.sk for item in store.query(pk, prefix)]
        return sum(1 for sk in keys if store.delete(pk, sk))


MAX_WEBHOOKS = 100
MAX_WEBHOOK_BYTES = 256 * 1024
EVENT_TYPE_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


class Webhooks:
    """The outbox: plugins never open sockets; entries travel in the result and
    the gateway (or serve mode's deliverer) signs, sends, retries and logs."""

    def __init__(self, manifest: PluginManifest) -> None:
        self._manifest = manifest

    def _outbox(self, action: str) -> list[dict[str, Any]]:
        require_declared(self._manifest, f"webhooks.{action}", "webhooks", "webhooks:send")
        outbox = require_invocation(f"webhooks.{action}").outbox
        if len(outbox) >= MAX_WEBHOOKS:
            raise BadRequestError(f"at most {MAX_WEBHOOKS} webhooks per invocation", code="too_many_webhooks")
        return outbox

    def send(self, event_type: str, payload: Any) -> None:
        """Queue an event for the endpoint the user configured on the install."""
        outbox = self._outbox("send")
        if not isinstance(event_type, str) or not EVENT_TYPE_PATTERN.match(event_type):
            raise BadRequestError(f"event type {event_type!r} must match {EVENT_TYPE_PATTERN.pattern}")
        try:
            size = len(json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8"))
        except (TypeError, ValueError) as exc:
            raise BadRequestError(f"webhook payload is not JSON-serializable: {exc}") from exc
        if size > MAX_WEBHOOK_BYTES:
            raise BadRequestError(f"webhook payload exceeds {MAX_WEBHOOK_BYTES} bytes")
        # Round-trip so later mutation of the caller's dict cannot change what was queued.
        outbox.append({"kind": "event", "event_type": event_type, "payload": json.loads(json.dumps(payload))})

    def deliver(self, url: str, body: bytes | str, headers: Mapping[str, str] | None = None) -> None:
        """Queue a request the plugin built itself (vendor-signed webhooks)."""
        outbox = self._outbox("deliver")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise BadRequestError(f"webhook url {url!r} must be an absolute http(s) URL")
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        if len(raw) > MAX_WEBHOOK_BYTES:
            raise BadRequestError(f"webhook body exceeds {MAX_WEBHOOK_BYTES} bytes")
        outbox.append({"kind": "raw", "url": url, "headers": {str(k): str(v) for k, v in (headers or {}).items()},
                       "body_b64": base64.b64encode(raw).decode("ascii")})

    def pending(self) -> list[dict[str, Any]]:
        """What this invocation has queued so far (a copy)."""
        invocation = current_invocation()
        return [dict(entry) for entry in invocation.outbox] if invocation else []


@functools.cache
def _units() -> frozenset[str]:
    from aws_lambda_powertools.metrics import MetricUnit  # powertools loads on first use, not at import

    return frozenset(unit.value for unit in MetricUnit)

METRIC_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.:/#-]{1,255}$")


class Metrics:
    """Custom metrics. Recorded per invocation; the host returns them in the
    result and, on Lambda, emits them through Powertools as CloudWatch EMF."""

    def __init__(self, manifest: PluginManifest) -> None:
        self._manifest = manifest

    def _record(self, kind: str, name: str, value: float, unit: str) -> None:
        require_declared(self._manifest, f"metrics.{kind}", "metrics", "metrics:write")
        invocation = require_invocation(f"metrics.{kind}")
        if not isinstance(name, str) or not METRIC_NAME_PATTERN.match(name):
            raise BadRequestError(f"metric name {name!r} must match {METRIC_NAME_PATTERN.pattern}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise BadRequestError(f"metric {name} needs a finite number, got {value!r}")
        if unit not in _units():
            raise BadRequestError(f"unknown metric unit {unit!r}; use a CloudWatch unit such as Count")
        invocation.metrics.append({"name": name, "kind": kind, "value": value, "unit": unit})

    def counter(self, name: str, value: float = 1, unit: str = "Count") -> None:
        self._record("counter", name, value, unit)

    def histogram(self, name: str, value: float, unit: str = "None") -> None:
        self._record("histogram", name, value, unit)


class PluginLogger:
    """Powertools Logger for the plugin, with the caller's request id attached.

    Keys are passed per call instead of ``append_keys`` because one logger
    serves concurrent invocations in serve mode.
    """

    def __init__(self, manifest: PluginManifest, stream: IO[str] | None = None) -> None:
        self._manifest = manifest
        self._stream = stream
        self._logger: Logger | None = None  # made on first use: powertools costs ~40 ms to import
        self._lock = threading.Lock()

    @property
    def powertools(self) -> Logger:
        require_declared(self._manifest, "logger", "logger")
        with self._lock:
            if self._logger is None:
                from aws_lambda_powertools import Logger

                self._logger = Logger(service=self._manifest.name, stream=self._stream)
            return self._logger

    def _log(self, level: str, msg: object, *args: object, **kwargs: Any) -> None:
        logger = self.powertools
        invocation = current_invocation()
        if invocation is not None:
            kwargs.setdefault("request_id", invocation.request_id)
            kwargs.setdefault("sandbox", invocation.sandbox)
            kwargs.setdefault("user_id", invocation.user_id)
        kwargs.setdefault("stacklevel", 4)  # report the plugin's line, not this wrapper's
        getattr(logger, level)(msg, *args, **kwargs)

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log("debug", msg, *args, **kwargs)

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log("info", msg, *args, **kwargs)

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log("warning", msg, *args, **kwargs)

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log("error", msg, *args, **kwargs)

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log("exception", msg, *args, **kwargs)

    def critical(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log("critical", msg, *args, **kwargs)


class Licence:
    """The caller's licence for this plugin, as resolved by the gateway."""

    def __init__(self, manifest: PluginManifest) -> None:
        self._manifest = manifest

    def _info(self, action: str) -> Any:
        require_declared(self._manifest, f"licence.{action}", "licensing", "licensing:read")
        return require_invocation(f"licence.{action}").licence

    def has_feature(self, name: str) -> bool:
        info = self._info("has_feature")
        return info is not None and name in info.features

    @property
    def tier(self) -> str | None:
        info = self._info("tier")
        return info.tier if info is not None else None

    @property
    def features(self) -> frozenset[str]:
        info = self._info("features")
        return info.features if info is not None else frozenset()

    @property
    def active(self) -> bool:
        return self._info("active") is not None
