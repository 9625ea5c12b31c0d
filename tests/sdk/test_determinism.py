from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from mocklib_plugin_sdk import (Plugin, Request, SdkSettings, decode_result, endpoint, generate_id,
                                make_request_event, now, random_string, reset_deterministic_state)
from tests.sdk.support import manifest


class Minter(Plugin):
    @endpoint("POST", "/mint")
    def mint(self, request: Request) -> dict[str, Any]:
        return {"id": self.sdk.generate_id("cus_"), "token": self.sdk.random_string(12),
                "created": self.sdk.now().isoformat(), "module_id": generate_id("ch_", 10),
                "module_now": now().isoformat()}


def deterministic(seed: str = "42", **extra: str) -> SdkSettings:
    return SdkSettings.from_env({"MF_PLUGIN_DETERMINISTIC": "1", "MF_PLUGIN_SEED": seed, **extra})


def mint(host, user: str, sandbox: bool = False) -> dict[str, Any]:
    event = make_request_event("POST", "/mint", plugin="minter", user_id=user, sandbox=sandbox)
    return decode_result(host.invoke(event)).json()


def run(make_host, calls: list[str], settings: SdkSettings) -> list[dict[str, Any]]:
    """A fresh process's worth of calls: new host, forgotten sequences."""
    reset_deterministic_state()
    host = make_host(Minter, manifest("minter", ()), settings=settings)
    return [mint(host, user) for user in calls]


def test_the_same_calls_from_a_fresh_start_give_the_same_ids_and_times(make_host):
    first = run(make_host, ["u1", "u1", "u2"], deterministic())
    second = run(make_host, ["u1", "u1", "u2"], deterministic())
    assert first == second
    assert first[0]["id"].startswith("cus_") and len(first[0]["id"]) == 4 + 24
    assert first[0]["id"] != first[1]["id"]


def test_each_user_has_its_own_sequence_so_interleaving_does_not_matter(make_host):
    alone = run(make_host, ["u1", "u1"], deterministic())
    interleaved = run(make_host, ["u2", "u1", "u2", "u1"], deterministic())
    assert [interleaved[1], interleaved[3]] == alone


def test_the_clock_starts_at_the_epoch_and_ticks_one_second_per_read(make_host):
    (result,) = run(make_host, ["u1"], deterministic(MF_PLUGIN_EPOCH="2030-05-01T12:00:00Z"))
    assert result["created"] == "2030-05-01T12:00:00+00:00"
    assert result["module_now"] == "2030-05-01T12:00:01+00:00"
    (default_epoch,) = run(make_host, ["u1"], deterministic())
    assert default_epoch["created"] == "2026-01-01T00:00:00+00:00"


def test_a_different_seed_or_mode_gives_a_different_sequence(make_host):
    (base,) = run(make_host, ["u1"], deterministic("42"))
    (other_seed,) = run(make_host, ["u1"], deterministic("43"))
    assert base["id"] != other_seed["id"]
    reset_deterministic_state()
    host = make_host(Minter, manifest("minter", ()), settings=deterministic("42"))
    assert mint(host, "u1", sandbox=True)["id"] != base["id"]


def test_without_deterministic_mode_ids_are_random_and_time_is_real(make_host):
    first = run(make_host, ["u1"], SdkSettings())
    second = run(make_host, ["u1"], SdkSettings())
    assert first[0]["id"] != second[0]["id"]
    created = datetime.fromisoformat(first[0]["created"])
    assert abs((datetime.now(timezone.utc) - created).total_seconds()) < 60
    assert len(random_string(16)) == 16
