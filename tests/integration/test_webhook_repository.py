"""The webhooks table's port: one contract, run against the in-memory fake, the DynamoDB
adapter on moto and the DynamoDB adapter on DynamoDB Local, so the fake cannot drift."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.webhooks.repository import Attempt, Delivery, DynamoDeliveryRepository
from tests.fakes import InMemoryDeliveryRepository

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["memory", "moto", "dynamodb-local"])
def repository(request):
    if request.param == "memory":
        return InMemoryDeliveryRepository()
    request.getfixturevalue("container" if request.param == "moto" else "local_container")
    return DynamoDeliveryRepository()


def delivery(n: int, *, user: str = "usr_1", plugin: str = "hooky", minutes: int = 0, **changes) -> Delivery:
    made = Delivery(delivery_id=f"whd_{n:04d}", user_id=user, plugin=plugin, kind="event",
                    url="https://example.com/hooks", headers={"Content-Type": "application/json"},
                    body=b'{"n": %d}' % n, sandbox=False, state="pending", created_at=NOW + timedelta(minutes=minutes),
                    event_type="thing.created", secret_version=1, due_at=NOW + timedelta(minutes=minutes))
    return replace(made, **changes)


def test_a_delivery_reads_back_as_it_was_added(repository):
    added = delivery(1, body=bytes(range(256)))
    repository.add(added)
    assert repository.get(added.key) == replace(added, revision=1)
    assert repository.get(delivery(2).key) is None


def test_an_update_lands_only_over_the_revision_it_read(repository):
    repository.add(delivery(1))
    first = repository.get(delivery(1).key)
    second = repository.get(delivery(1).key)
    attempt = Attempt(number=1, at=NOW, status=500, error=None)
    assert repository.update(replace(first, attempts=(attempt,), due_at=NOW + timedelta(seconds=1)))
    assert not repository.update(second.settled("delivered"))  # raced: the first write stands
    stored = repository.get(delivery(1).key)
    assert (stored.state, stored.attempts, stored.revision) == ("pending", (attempt,), 2)


def test_due_holds_exactly_the_pending_deliveries_whose_time_has_come(repository):
    for n, minutes in ((1, 0), (2, 5), (3, 10)):
        repository.add(delivery(n, minutes=minutes))
    repository.add(delivery(4, minutes=1).settled("failed", reason="bad URL"))
    assert [d.delivery_id for d in repository.due(NOW + timedelta(minutes=5))] == ["whd_0001", "whd_0002"]
    settled = repository.get(delivery(1).key).settled("delivered")
    assert repository.update(settled)
    assert [d.delivery_id for d in repository.due(NOW + timedelta(minutes=5))] == ["whd_0002"]


def test_recent_is_one_users_log_of_one_plugin_newest_first(repository):
    for n in range(1, 5):
        repository.add(delivery(n, minutes=n))
    repository.add(delivery(9, user="usr_2"))
    repository.add(delivery(8, plugin="other"))
    assert [d.delivery_id for d in repository.recent("usr_1", "hooky", limit=3)] == ["whd_0004", "whd_0003",
                                                                                      "whd_0002"]
