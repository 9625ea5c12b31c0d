from __future__ import annotations

from typing import Any

from mocklib_plugin_sdk import (LifecycleEvent, Plugin, Request, decode_result, endpoint, make_health_event,
                                make_lifecycle_event)
from tests.sdk.support import manifest


class Tracking(Plugin):
    def __init__(self) -> None:
        self.events: list[LifecycleEvent] = []

    def on_installed(self, event: LifecycleEvent) -> None:
        self.events.append(event)
        self.sdk.storage.put("settings", "welcome", {"config": dict(event.config)})

    def on_configuration_changed(self, event: LifecycleEvent) -> None:
        self.events.append(event)
        self.sdk.webhooks.send("plugin.reconfigured", {"from": dict(event.previous_config),
                                                       "to": dict(event.config)})

    def on_uninstalled(self, event: LifecycleEvent) -> None:
        self.events.append(event)
        self.sdk.storage.clear()

    @endpoint("GET", "/welcome")
    def welcome(self, request: Request) -> Any:
        return self.sdk.storage.get("settings", "welcome")


def lifecycle(host, name: str, **kwargs: Any):
    return decode_result(host.invoke(make_lifecycle_event(name, plugin="track", user_id="u1", **kwargs)))


def test_lifecycle_events_reach_their_hooks_with_configs(make_host):
    host = make_host(Tracking, manifest("track", ("storage", "webhooks"),
                                        ("storage:read", "storage:write", "webhooks:send")))
    assert lifecycle(host, "installed", config={"mode": "lenient"}).status == 204
    changed = lifecycle(host, "configuration_changed", config={"mode": "strict"},
                        previous_config={"mode": "lenient"})
    assert changed.status == 204
    assert changed.webhooks == [{"kind": "event", "event_type": "plugin.reconfigured",
                                 "payload": {"from": {"mode": "lenient"}, "to": {"mode": "strict"}}}]
    assert lifecycle(host, "uninstalled", config={"mode": "strict"}).status == 204
    plugin = host.plugin()
    assert [e.event for e in plugin.events] == ["installed", "configuration_changed", "uninstalled"]
    assert plugin.events[1].previous_config == {"mode": "lenient"}
    assert all(e.user_id == "u1" for e in plugin.events)


def test_hooks_use_the_same_per_user_storage_as_requests(make_host):
    from mocklib_plugin_sdk import make_request_event

    host = make_host(Tracking, manifest("track"))
    lifecycle(host, "installed", config={"mode": "lenient"})
    welcome = decode_result(host.invoke(make_request_event("GET", "/welcome", plugin="track", user_id="u1")))
    assert welcome.json() == {"config": {"mode": "lenient"}}
    lifecycle(host, "uninstalled")
    after = decode_result(host.invoke(make_request_event("GET", "/welcome", plugin="track", user_id="u1")))
    assert after.status == 204


def test_a_failing_hook_is_a_500_result_not_a_crash(make_host):
    class Broken(Plugin):
        def on_installed(self, event: LifecycleEvent) -> None:
            raise KeyError("missing")

    result = lifecycle(make_host(Broken, manifest("track")), "installed")
    assert result.status == 500
    assert result.error is not None and result.error["exception"] == "KeyError"


def test_plugins_without_hooks_accept_every_lifecycle_event(make_host):
    host = make_host(Plugin, manifest("track"))
    for name in ("installed", "configuration_changed", "uninstalled"):
        assert lifecycle(host, name).status == 204


def test_unknown_lifecycle_events_are_protocol_errors(make_host):
    result = lifecycle(make_host(Plugin, manifest("track")), "exploded")
    assert (result.status, result.json()["error"]["code"]) == (500, "protocol_error")


def test_health_events_report_the_plugin_health(make_host):
    class Sick(Plugin):
        def health(self) -> bool:
            return False

    assert decode_result(make_host(Plugin, manifest("track")).invoke(make_health_event("track"))).json() == {
        "healthy": True}
    sick = decode_result(make_host(Sick, manifest("track")).invoke(make_health_event("track")))
    assert (sick.status, sick.json()) == (503, {"healthy": False})
