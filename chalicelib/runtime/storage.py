"""A plugin worker's storage, served by the runtime on its behalf.

A worker has no storage of its own: its ``StateStore`` is an IPC proxy, and the runtime runs
each call on the real store after checking that the partition is the one of the invocation
in flight, computed from the event the runtime sent (``storage_scope``), never from anything
the worker says.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from itertools import islice
from typing import Any

from mocklib_plugin_sdk.errors import PluginError
from mocklib_plugin_sdk.state import ItemExistsError, StateStore, StoredItem

from chalicelib.runtime.port import PluginFunction
from chalicelib.runtime.worker import QUERY_PAGE_MAX_BYTES, item_from_wire, item_to_wire

log = logging.getLogger(__name__)

# DynamoDB's item limit; the SDK's own cap (350 KB) is stricter, this holds
# even for a plugin that talks to its IPC store directly.
MAX_ITEM_DOC_BYTES = 400_000
# Items of one put_many frame (the worker sends its waiting writes past 4 MB of documents anyway).
MAX_PUT_MANY = 1000


def storage_scope(function: PluginFunction, event: Any) -> str | None:
    """The only partition key the invocation of ``event`` may touch, or None
    (health probes and malformed events get no storage at all)."""
    if not isinstance(event, dict) or event.get("type") not in ("request", "lifecycle"):
        return None
    context = event.get("context")
    if not isinstance(context, dict):
        return None
    user_id = context.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        return None
    mode = "sandbox" if bool(context.get("sandbox", False)) else "live"
    return f"{function.plugin}#{mode}#{user_id}"


def _deny(kind: str, message: str) -> dict[str, Any]:
    return {"op": "storage_result", "ok": False, "kind": kind, "message": message}


def execute_storage(request: Mapping[str, Any], scope: str | None, store: StateStore) -> dict[str, Any]:
    """Run one storage frame from a worker on the real store, if its partition
    is ``scope``. Returns the reply frame; never raises."""
    call = request.get("call")
    try:
        if call == "put_many":  # the writes an invocation kept until its end, all in its partition or none
            raw = request.get("items")
            if not isinstance(raw, list) or len(raw) > MAX_PUT_MANY:
                raise TypeError(f"items must be a list of at most {MAX_PUT_MANY}")
            items = [_checked(item_from_wire(entry)) for entry in raw]
            if scope is None or any(item.pk != scope for item in items):
                return _deny("permission", "storage is limited to the calling user's partition of this plugin")
            store.put_many(items)
            return {"op": "storage_result", "ok": True, "value": None}
        item = _checked(item_from_wire(request.get("item"))) if call == "put" else None
        pk = item.pk if item is not None else request.get("pk")
        if call not in ("get", "put", "delete", "query") or not isinstance(pk, str):
            return _deny("invalid", f"unknown storage call {call!r}")
        if scope is None or pk != scope:
            return _deny("permission", "storage is limited to the calling user's partition of this plugin")
        value: Any = None
        if call == "get":
            found = store.get(pk, _text(request, "sk"))
            value = item_to_wire(found) if found is not None else None
        elif call == "put":
            assert item is not None
            store.put(item, if_absent=bool(request.get("if_absent")))
        elif call == "delete":
            value = bool(store.delete(pk, _text(request, "sk")))
        else:
            value = _query_page(store, pk, request)
        return {"op": "storage_result", "ok": True, "value": value}
    except ItemExistsError as exc:
        return _deny("exists", exc.message)
    except (ValueError, TypeError) as exc:
        return _deny("invalid", f"malformed storage call: {exc}")
    except PluginError as exc:  # StorageError from the real store
        return _deny("error", exc.message)
    except Exception:  # noqa: BLE001 - a store bug becomes the plugin's StorageError, not a gateway crash
        log.exception("storage call %s failed", call)
        return _deny("error", "storage call failed")


def _checked(item: StoredItem) -> StoredItem:
    if len(item.doc.encode("utf-8")) > MAX_ITEM_DOC_BYTES:
        raise ValueError(f"documents are limited to {MAX_ITEM_DOC_BYTES} bytes")
    return item


def _text(request: Mapping[str, Any], name: str, *, optional: bool = False) -> Any:
    value = request.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


def _query_page(store: StateStore, pk: str, request: Mapping[str, Any]) -> dict[str, Any]:
    page_size = request.get("page_size", 100)
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise ValueError("page_size must be an integer")
    page_size = max(1, min(page_size, 100))
    iterator = store.query(pk, _text(request, "sk_prefix"),
                           start_after_sk=_text(request, "start_after_sk", optional=True),
                           descending=bool(request.get("descending")), page_size=page_size)
    items: list[dict[str, Any]] = []
    size = 0
    for found in islice(iterator, page_size + 1):
        if len(items) == page_size or size > QUERY_PAGE_MAX_BYTES:
            return {"items": items, "done": False}
        items.append(item_to_wire(found))
        size += len(found.doc)
    return {"items": items, "done": True}
