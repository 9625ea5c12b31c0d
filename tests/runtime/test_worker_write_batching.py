"""The worker's storage: an invocation's plain writes to its own partition wait in the worker
and reach the store in one ``put_many`` at its end; it reads its own writes meanwhile, and
anything outside its partition or thread goes straight through as before."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from mocklib_plugin_sdk import InMemoryStateStore
from mocklib_plugin_sdk.state import ItemExistsError, StoredItem

from chalicelib.runtime.storage import execute_storage
from chalicelib.runtime.worker import IpcStateStore, StoragePermissionError, invocation_partition, item_to_wire

SCOPE = "stripe#sandbox#usr_1"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Parent:
    """The runtime's end of the channel: every frame answered by ``execute_storage``."""

    def __init__(self, store: InMemoryStateStore) -> None:
        self.store = store
        self.calls: list[str] = []

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(message["call"])
        return execute_storage(message, SCOPE, self.store)


def item(sk: str, doc: str = '{"v":1}', pk: str = SCOPE) -> StoredItem:
    return StoredItem(pk, sk, doc, NOW)


def doc(found: StoredItem | None) -> str | None:
    return found.doc if found is not None else None


@pytest.fixture
def parent() -> Parent:
    return Parent(InMemoryStateStore())


@pytest.fixture
def worker_store(parent: Parent) -> IpcStateStore:
    store = IpcStateStore(parent)  # type: ignore[arg-type]
    store.begin(SCOPE)
    return store


def test_writes_wait_until_the_invocation_ends_and_go_in_one_frame(parent: Parent,
                                                                    worker_store: IpcStateStore) -> None:
    for n in range(4):
        worker_store.put(item(f"customers#cus_{n}"))
    worker_store.put(item("counters#seq", '{"value":1}'))
    worker_store.put(item("counters#seq", '{"value":2}'))

    assert doc(worker_store.get(SCOPE, "counters#seq")) == '{"value":2}'  # its own writes, no frame
    assert parent.calls == [] and parent.store.get(SCOPE, "customers#cus_0") is None
    worker_store.finish()

    assert parent.calls == ["put_many"]
    assert doc(parent.store.get(SCOPE, "counters#seq")) == '{"value":2}'
    assert [i.sk for i in parent.store.query(SCOPE, "customers#")] == [f"customers#cus_{n}" for n in range(4)]


def test_a_query_over_a_waiting_key_sends_the_writes_first(parent: Parent, worker_store: IpcStateStore) -> None:
    worker_store.put(item("events#evt_1"))
    worker_store.put(item("customers#cus_1"))

    assert [i.sk for i in worker_store.query(SCOPE, "webhook_endpoints#")] == []
    assert parent.calls == ["query"]  # nothing waiting under that prefix
    assert [i.sk for i in worker_store.query(SCOPE, "customers#")] == ["customers#cus_1"]
    assert parent.calls == ["query", "put_many", "query"]


def test_a_conditional_put_sees_a_waiting_key_and_goes_straight_to_the_store(
        parent: Parent, worker_store: IpcStateStore) -> None:
    worker_store.put(item("idempotency#k1"))
    with pytest.raises(ItemExistsError):
        worker_store.put(item("idempotency#k1"), if_absent=True)
    worker_store.put(item("idempotency#k2"), if_absent=True)

    assert parent.calls == ["put"] and parent.store.get(SCOPE, "idempotency#k2") is not None


def test_deleting_a_waiting_key_drops_it_and_deletes_the_stored_one(parent: Parent,
                                                                     worker_store: IpcStateStore) -> None:
    parent.store.put(item("customers#cus_1", '{"old":true}'))
    worker_store.put(item("customers#cus_1", '{"new":true}'))
    worker_store.put(item("customers#cus_2"))

    assert worker_store.delete(SCOPE, "customers#cus_1") is True
    assert worker_store.delete(SCOPE, "customers#cus_2") is True  # it existed, for this invocation
    worker_store.finish()

    assert parent.calls == ["delete", "delete"]  # nothing left to write
    assert parent.store.get(SCOPE, "customers#cus_1") is None


def test_writes_outside_the_invocations_partition_are_refused_as_before(parent: Parent,
                                                                         worker_store: IpcStateStore) -> None:
    with pytest.raises(StoragePermissionError):
        worker_store.put(item("customers#cus_1", pk="stripe#sandbox#usr_2"))
    assert parent.calls == ["put"]


def test_writes_from_another_thread_are_not_kept_for_the_invocation(parent: Parent,
                                                                     worker_store: IpcStateStore) -> None:
    import threading

    thread = threading.Thread(target=worker_store.put, args=(item("customers#late"),))
    thread.start()
    thread.join()

    assert parent.calls == ["put"] and parent.store.get(SCOPE, "customers#late") is not None


def test_a_put_many_with_one_item_of_another_partition_is_refused_whole() -> None:
    store = InMemoryStateStore()
    frame = {"call": "put_many", "items": [item_to_wire(item("c#1")), item_to_wire(item("c#2", pk="stripe#live#x"))]}

    assert execute_storage(frame, SCOPE, store)["kind"] == "permission"
    assert store.get(SCOPE, "c#1") is None


def test_put_many_refuses_oversized_documents_and_non_lists() -> None:
    store = InMemoryStateStore()
    big = item_to_wire(item("c#1", doc="x" * 400_001))

    assert execute_storage({"call": "put_many", "items": [big]}, SCOPE, store)["kind"] == "invalid"
    assert execute_storage({"call": "put_many", "items": "c#1"}, SCOPE, store)["kind"] == "invalid"


def test_the_partition_of_an_event_is_the_sdks_partition_key() -> None:
    event = {"context": {"plugin": "stripe", "user_id": "usr_1", "sandbox": True}}

    assert invocation_partition("stripe", event) == SCOPE
    assert invocation_partition("stripe", {"context": {"user_id": 7}}) is None
    assert invocation_partition("stripe", "junk") is None
