"""What a call costs in storage: each call below is a database round trip behind the gateway,
so a create must not read a counter, and an event must not query webhook endpoints a user
never made. Also the creation order that replaced the counter."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from mocklib_plugin_sdk import InMemoryStateStore
from mocklib_plugin_sdk.state import StoredItem

STRIPE_MOCK = Path(__file__).resolve().parents[1] / "chalicelib" / "stripe_mock"


def _load_sequence() -> Any:
    """``stripe_mock/sequence.py`` alone, by path (the plugin's package is not importable here)."""
    spec = importlib.util.spec_from_file_location("_stripe_sequence", STRIPE_MOCK / "sequence.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


sequence = _load_sequence()
FORM = {"content-type": "application/x-www-form-urlencoded"}


class CountingStore(InMemoryStateStore):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def get(self, pk: str, sk: str) -> StoredItem | None:
        self.calls.append(("get", sk))
        return super().get(pk, sk)

    def put(self, item: StoredItem, *, if_absent: bool = False) -> None:
        self.calls.append(("put_if_absent" if if_absent else "put", item.sk))
        super().put(item, if_absent=if_absent)

    def query(self, pk: str, sk_prefix: str, **kwargs: Any) -> Any:
        self.calls.append(("query", sk_prefix))
        return super().query(pk, sk_prefix, **kwargs)


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


def create_customer(call: Any, key: str) -> Any:
    return call("POST", "/customers", headers={**FORM, "idempotency-key": key}, body=b"email=a%40example.com",
                sandbox=True)


def test_a_customer_create_reads_the_endpoint_index_and_no_counter(call: Any, store: CountingStore) -> None:
    assert create_customer(call, "k0").status == 200  # the user's first event builds the index
    store.calls.clear()
    assert create_customer(call, "k1").status == 200

    reads = [(op, sk) for op, sk in store.calls if op in ("get", "query")]
    assert reads == [("get", "webhook_index#endpoints")]
    assert [op for op, _ in store.calls].count("put_if_absent") == 1  # the idempotency key's claim
    assert not any(sk.startswith("counters#") for _, sk in store.calls)


def test_events_find_a_new_endpoint_through_the_index(call: Any, store: CountingStore) -> None:
    assert create_customer(call, "k0").status == 200  # an index of no endpoints
    made = call("POST", "/webhook_endpoints", headers=FORM, sandbox=True,
                body=b"url=https%3A%2F%2Fexample.com%2Fhook&enabled_events[0]=customer.created")
    assert made.status == 200
    store.calls.clear()
    assert create_customer(call, "k2").status == 200

    assert [(op, sk) for op, sk in store.calls if op in ("get", "query")] == [("get", "webhook_index#endpoints")]
    events = json.loads(call("GET", "/events", sandbox=True).body)["data"]
    assert events[0]["type"] == "customer.created" and events[0]["pending_webhooks"] == 1
    hook = json.loads(made.body)["id"]
    assert call("DELETE", f"/webhook_endpoints/{hook}", sandbox=True).status == 200
    assert create_customer(call, "k3").status == 200
    events = json.loads(call("GET", "/events", sandbox=True).body)["data"]
    assert events[0]["pending_webhooks"] == 0


def test_lists_stay_newest_first_and_page_without_a_counter(call: Any) -> None:
    made = [json.loads(create_customer(call, f"p{n}").body)["id"] for n in range(7)]
    seen, after = [], None
    while True:
        query = {"limit": ["3"], **({"starting_after": [after]} if after else {})}
        page = json.loads(call("GET", "/customers", query=query, sandbox=True).body)
        seen += [c["id"] for c in page["data"]]
        if not page["has_more"]:
            break
        after = seen[-1]
    assert seen == made[::-1]


def test_creation_seq_only_grows_even_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sequence.time, "time_ns", lambda: 2_000_000_000_000_000_000)
    first = [sequence.creation_seq() for _ in range(1000)]  # far more than one millisecond's ticks
    monkeypatch.setattr(sequence.time, "time_ns", lambda: 1_000_000_000_000_000_000)
    later = sequence.creation_seq()

    assert first == sorted(first) and len(set(first)) == len(first) and later > first[-1]


def test_list_order_breaks_a_tie_by_id() -> None:
    a = {"id": "cus_a", "created": 5, "_seq": 7}
    b = {"id": "cus_b", "created": 5, "_seq": 7}
    older = {"id": "cus_z", "created": 4, "_seq": 99}
    assert sorted([older, b, a], key=sequence.list_order, reverse=True) == [b, a, older]
