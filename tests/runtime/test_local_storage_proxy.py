"""The parent side of a worker's storage calls, as pure functions: which
partition an invocation may touch, and how each storage frame is answered."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from mocklib_plugin_sdk import InMemoryStateStore, make_health_event, make_lifecycle_event
from mocklib_plugin_sdk.state import StoredItem

from chalicelib.runtime.local import address_space_limit_bytes
from chalicelib.runtime.storage import execute_storage, storage_scope
from chalicelib.runtime.worker import QUERY_PAGE_MAX_BYTES, item_to_wire
from tests.runtime.support import function, request

FN = function("healthy")
SCOPE = "rt-healthy#live#usr_1"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def item(pk: str = SCOPE, sk: str = "c#k", doc: str = '{"a":1}') -> StoredItem:
    return StoredItem(pk, sk, doc, NOW)


def test_scope_is_plugin_mode_and_user_of_the_event() -> None:
    assert storage_scope(FN, request(FN, "GET", "/x", user_id="usr_1")) == "rt-healthy#live#usr_1"
    assert storage_scope(FN, request(FN, "GET", "/x", user_id="usr_1", sandbox=True)) == "rt-healthy#sandbox#usr_1"
    lifecycle = make_lifecycle_event("installed", plugin="rt-healthy", user_id="usr_9")
    assert storage_scope(FN, lifecycle) == "rt-healthy#live#usr_9"


def test_scope_takes_the_plugin_from_the_function_never_from_the_event() -> None:
    forged = request(FN, "GET", "/x", user_id="usr_1")
    forged["context"]["plugin"] = "stripe"

    assert storage_scope(FN, forged) == "rt-healthy#live#usr_1"


@pytest.mark.parametrize("event", [
    make_health_event("rt-healthy"),
    {"protocol": 1, "type": "request", "context": {"plugin": "rt-healthy"}},
    {"protocol": 1, "type": "request", "context": {"plugin": "rt-healthy", "user_id": 42}},
    {"protocol": 1, "type": "request", "context": "usr_1"},
    "not an event",
])
def test_events_without_a_user_get_no_storage(event: object) -> None:
    assert storage_scope(FN, event) is None


def test_calls_inside_the_scope_run_on_the_store() -> None:
    store = InMemoryStateStore()

    assert execute_storage({"call": "put", "item": item_to_wire(item())}, SCOPE, store)["ok"] is True
    got = execute_storage({"call": "get", "pk": SCOPE, "sk": "c#k"}, SCOPE, store)
    assert got == {"op": "storage_result", "ok": True, "value": item_to_wire(item())}
    assert execute_storage({"call": "delete", "pk": SCOPE, "sk": "c#k"}, SCOPE, store)["value"] is True
    assert execute_storage({"call": "get", "pk": SCOPE, "sk": "c#k"}, SCOPE, store)["value"] is None


@pytest.mark.parametrize("frame", [
    {"call": "get", "pk": "rt-healthy#live#usr_2", "sk": "c#k"},
    {"call": "get", "pk": "rt-healthy#sandbox#usr_1", "sk": "c#k"},
    {"call": "get", "pk": "stripe#live#usr_1", "sk": "c#k"},
    {"call": "query", "pk": "rt-healthy#live#usr_", "sk_prefix": ""},
    {"call": "delete", "pk": "rt-healthy#live#usr_2", "sk": "c#k"},
    {"call": "put", "item": item_to_wire(item(pk="rt-healthy#live#usr_2"))},
])
def test_calls_outside_the_scope_are_refused_and_touch_nothing(frame: dict[str, object]) -> None:
    store = InMemoryStateStore()
    store.put(item(pk="rt-healthy#live#usr_2"))

    reply = execute_storage(frame, SCOPE, store)

    assert reply["ok"] is False and reply["kind"] == "permission"
    assert store.get("rt-healthy#live#usr_2", "c#k") == item(pk="rt-healthy#live#usr_2")


def test_no_scope_means_no_storage() -> None:
    reply = execute_storage({"call": "get", "pk": SCOPE, "sk": "c#k"}, None, InMemoryStateStore())
    assert reply["kind"] == "permission"


def test_if_absent_conflict_comes_back_as_exists() -> None:
    store = InMemoryStateStore()
    store.put(item())

    reply = execute_storage({"call": "put", "item": item_to_wire(item()), "if_absent": True}, SCOPE, store)

    assert reply["kind"] == "exists"


@pytest.mark.parametrize("frame", [
    {"call": "scan", "pk": SCOPE},
    {"call": "get", "pk": SCOPE},
    {"call": "put", "item": {"pk": SCOPE}},
    {"call": "put", "item": item_to_wire(item(doc="x" * 400_001))},
    {"call": "query", "pk": SCOPE, "sk_prefix": "", "page_size": "all"},
])
def test_malformed_calls_are_refused(frame: dict[str, object]) -> None:
    assert execute_storage(frame, SCOPE, InMemoryStateStore())["kind"] == "invalid"


def test_queries_come_back_in_pages_bounded_by_count_and_bytes() -> None:
    store = InMemoryStateStore()
    for n in range(150):
        store.put(item(sk=f"c#{n:03d}"))
    big = "x" * 300_000
    for n in range(30):
        store.put(item(sk=f"big#{n:03d}", doc=big))

    first = execute_storage({"call": "query", "pk": SCOPE, "sk_prefix": "c#", "page_size": 100}, SCOPE, store)
    rest = execute_storage({"call": "query", "pk": SCOPE, "sk_prefix": "c#", "page_size": 100,
                            "start_after_sk": "c#099"}, SCOPE, store)
    bigs = execute_storage({"call": "query", "pk": SCOPE, "sk_prefix": "big#", "page_size": 100}, SCOPE, store)

    assert len(first["value"]["items"]) == 100 and first["value"]["done"] is False
    assert len(rest["value"]["items"]) == 50 and rest["value"]["done"] is True
    assert bigs["value"]["done"] is False
    assert len(bigs["value"]["items"]) == QUERY_PAGE_MAX_BYTES // 300_000 + 1


def test_address_space_limit_is_the_manifest_memory_unless_python_could_not_start() -> None:
    assert address_space_limit_bytes(128) == 128 * 1024 * 1024
    assert address_space_limit_bytes(1024) == 1024 * 1024 * 1024
    assert address_space_limit_bytes(64) == (64 + 48) * 1024 * 1024
