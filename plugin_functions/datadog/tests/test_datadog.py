"""The datadog plugin, driven by the official ``datadog-api-client`` through the marketplace gateway.

The gateway tests start the real marketplace API over HTTP (fixture ``gateway`` of
plugin_functions/plugin_testing.py); the SDK is pointed at ``gateway.base_url`` with the
marketplace key as its Datadog API key (sent as ``DD-API-KEY``, the manifest's
``auth.header``). A few fast checks of parsing details go through ``call`` (no server).
"""
from __future__ import annotations

import gzip
import json
import time

import pytest
from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import ApiException, ForbiddenException, NotFoundException
from datadog_api_client.v1.api.authentication_api import AuthenticationApi
from datadog_api_client.v1.api.events_api import EventsApi
from datadog_api_client.v1.api.metrics_api import MetricsApi as MetricsApiV1
from datadog_api_client.v1.model.event_alert_type import EventAlertType
from datadog_api_client.v1.model.event_create_request import EventCreateRequest
from datadog_api_client.v1.model.event_priority import EventPriority
from datadog_api_client.v1.model.metric_content_encoding import MetricContentEncoding
from datadog_api_client.v1.model.metrics_payload import MetricsPayload
from datadog_api_client.v1.model.point import Point
from datadog_api_client.v1.model.series import Series
from datadog_api_client.v2.api.metrics_api import MetricsApi as MetricsApiV2
from datadog_api_client.v2.model.metric_intake_type import MetricIntakeType
from datadog_api_client.v2.model.metric_payload import MetricPayload
from datadog_api_client.v2.model.metric_point import MetricPoint
from datadog_api_client.v2.model.metric_resource import MetricResource
from datadog_api_client.v2.model.metric_series import MetricSeries


def client(base_url: str, api_key: str, app_key: str | None = "mock-application-key") -> ApiClient:
    """What a user of the official SDK writes to use the marketplace instead of Datadog."""
    configuration = Configuration(host=base_url)  # host= disables the site/server_index URLs
    configuration.api_key["apiKeyAuth"] = api_key  # sent as DD-API-KEY
    if app_key is not None:
        configuration.api_key["appKeyAuth"] = app_key  # sent as DD-APPLICATION-KEY
    return ApiClient(configuration)


def errors_of(exc: ApiException) -> list[str]:
    body = exc.body if isinstance(exc.body, dict) else json.loads(exc.body)  # the SDK parses JSON bodies
    assert set(body) == {"errors"} and body["errors"], body
    return body["errors"]


def submit_v1(api: ApiClient, metric: str, points: list[tuple[int, float]], tags: list[str],
              host: str | None = None) -> None:
    series = Series(metric=metric, type="gauge", tags=tags,
                    points=[Point([float(ts), float(v)]) for ts, v in points])
    if host:
        series.host = host
    response = MetricsApiV1(api).submit_metrics(body=MetricsPayload(series=[series]))
    assert response.status == "ok"


def test_metrics_submitted_with_v1_and_v2_series_are_queried_back_with_tag_scopes_and_groups(gateway):
    now = int(time.time())
    t0, t1, t2 = now - 120, now - 60, now - 30
    with client(gateway.base_url, gateway.live_key) as api:
        assert AuthenticationApi(api).validate().valid is True
    # The manifest also accepts the key as a Bearer token (its other declared carrier).
    import requests
    response = requests.get(f"{gateway.base_url}/api/v1/validate", timeout=30,
                            headers={"Authorization": f"Bearer {gateway.live_key}"})
    assert (response.status_code, response.json()) == (200, {"valid": True})
    with client(gateway.base_url, gateway.live_key) as api:

        submit_v1(api, "shop.orders", [(t0, 1.0), (t1, 3.0)], ["env:prod", "team:a"], host="web-1")
        # gzip, as the SDK sends when asked: the mock decompresses before parsing.
        gz = MetricsApiV1(api).submit_metrics(
            content_encoding=MetricContentEncoding.GZIP,
            body=MetricsPayload(series=[Series(metric="shop.orders", tags=["env:staging"],
                                               points=[Point([float(t0), 10.0])])]))
        assert gz.status == "ok"
        accepted = MetricsApiV2(api).submit_metrics(body=MetricPayload(series=[MetricSeries(
            metric="shop.orders", type=MetricIntakeType.GAUGE, tags=["env:prod", "team:b"],
            resources=[MetricResource(name="web-2", type="host")],
            points=[MetricPoint(timestamp=t0, value=5.0), MetricPoint(timestamp=t2, value=7.0)])]))
        assert accepted.to_dict() == {"errors": []}

        metrics = MetricsApiV1(api)
        everything = metrics.query_metrics(_from=now - 3600, to=now, query="avg:shop.orders{*}")
        assert len(everything.series) == 1
        only = everything.series[0]
        assert only.metric == "shop.orders" and only.scope == "*" and only.length == 3
        assert [list(p.value) for p in only.pointlist] == [
            [t0 * 1000.0, (1.0 + 10.0 + 5.0) / 3], [t1 * 1000.0, 3.0], [t2 * 1000.0, 7.0]]

        prod_sum = metrics.query_metrics(_from=now - 3600, to=now, query="sum:shop.orders{env:prod}")
        assert [list(p.value) for p in prod_sum.series[0].pointlist] == [
            [t0 * 1000.0, 6.0], [t1 * 1000.0, 3.0], [t2 * 1000.0, 7.0]]
        assert prod_sum.series[0].scope == "env:prod"

        one_host = metrics.query_metrics(_from=now - 3600, to=now, query="max:shop.orders{env:prod,host:web-2}")
        assert [list(p.value) for p in one_host.series[0].pointlist] == [[t0 * 1000.0, 5.0], [t2 * 1000.0, 7.0]]

        by_host = metrics.query_metrics(_from=now - 3600, to=now, query="avg:shop.orders{env:prod} by {host}")
        assert [(s.scope, s.tag_set, s.length) for s in by_host.series] == [
            ("env:prod,host:web-1", ["host:web-1"], 2), ("env:prod,host:web-2", ["host:web-2"], 2)]
        assert by_host.group_by == ["host"]

        # The time window applies, and unknown metrics or scopes give no series (not an error).
        recent = metrics.query_metrics(_from=t1, to=now, query="avg:shop.orders{*}")
        assert [p.value[0] for p in recent.series[0].pointlist] == [t1 * 1000.0, t2 * 1000.0]
        assert metrics.query_metrics(_from=now - 3600, to=now, query="avg:shop.orders{env:dev}").series == []
        assert metrics.query_metrics(_from=now - 3600, to=now, query="avg:nope.nothing{*}").series == []

        active = metrics.list_active_metrics(_from=now - 3600)
        assert active.metrics == ["shop.orders"]


def test_events_are_created_fetched_and_listed_with_filters(gateway):
    now = int(time.time())
    with client(gateway.base_url, gateway.live_key) as api:
        events = EventsApi(api)
        deploy = events.create_event(body=EventCreateRequest(
            title="Deployed v42", text="Rolled out to prod", tags=["env:prod", "service:shop"],
            alert_type=EventAlertType.SUCCESS, priority=EventPriority.NORMAL, host="web-1",
            source_type_name="jenkins", date_happened=now - 60))
        assert deploy.status == "ok"
        assert deploy.event.title == "Deployed v42" and deploy.event.id_str == str(deploy.event.id)
        outage = events.create_event(body=EventCreateRequest(title="Disk full", text="/var is at 100%",
                                                             tags=["env:staging"], alert_type=EventAlertType.ERROR))

        fetched = events.get_event(deploy.event.id).event
        assert (fetched.id, fetched.text, fetched.tags, fetched.host, str(fetched.alert_type)) == (
            deploy.event.id, "Rolled out to prod", ["env:prod", "service:shop"], "web-1", "success")

        listed = events.list_events(start=now - 3600, end=now + 60).events
        assert [e.id for e in listed] == [outage.event.id, deploy.event.id]  # newest first
        assert [e.id for e in events.list_events(start=now - 3600, end=now + 60, tags="env:prod").events] == [
            deploy.event.id]
        assert [e.id for e in events.list_events(start=now - 3600, end=now + 60, sources="jenkins").events] == [
            deploy.event.id]
        assert events.list_events(start=now - 30, end=now - 10).events == []


def test_errors_use_datadogs_shape_and_state_is_per_user_and_per_mode(gateway):
    from chalicelib.auth.principal import Principal

    now = int(time.time())
    with client(gateway.base_url, gateway.live_key) as api:
        metrics = MetricsApiV1(api)
        with pytest.raises(ApiException) as bad_query:
            metrics.query_metrics(_from=now - 60, to=now, query="avg:shop.orders")
        assert bad_query.value.status == 400 and "parsing query" in errors_of(bad_query.value)[0]
        with pytest.raises(ApiException) as bad_name:
            MetricsApiV2(api).submit_metrics(body=MetricPayload(series=[MetricSeries(
                metric="9lives", points=[MetricPoint(timestamp=now, value=1.0)])]))
        assert bad_name.value.status == 400 and "metric" in errors_of(bad_name.value)[0]
        with pytest.raises(NotFoundException) as missing:
            EventsApi(api).get_event(12345)
        assert missing.value.status == 404 and errors_of(missing.value) == ["Event not found"]

        submit_v1(api, "live.only", [(now - 10, 1.0)], ["env:prod"])
        event_id = EventsApi(api).create_event(body=EventCreateRequest(title="live", text="x")).event.id

    with client(gateway.base_url, gateway.live_key, app_key=None) as no_app_key:
        with pytest.raises(ForbiddenException) as forbidden:
            MetricsApiV1(no_app_key).query_metrics(_from=now - 60, to=now, query="avg:live.only{*}")
        assert forbidden.value.status == 403 and errors_of(forbidden.value)[0].startswith("Forbidden")

    def sees_live_state(key: str) -> bool:
        with client(gateway.base_url, key) as other:
            series = MetricsApiV1(other).query_metrics(_from=now - 60, to=now, query="avg:live.only{*}").series
            try:
                EventsApi(other).get_event(event_id)
                found_event = True
            except NotFoundException:
                found_event = False
            assert bool(series) == found_event
            return found_event

    assert sees_live_state(gateway.live_key) is True
    assert sees_live_state(gateway.test_key) is False  # the sandbox has its own state

    container = gateway.container
    user = container.auth.create_user(email="second-dd-user@example.com", password="correct horse battery",
                                      role="user")
    principal = Principal(user_id=user.user_id, role="user", via="jwt")
    container.installs.install(principal, plugin="datadog", accept_permissions=["storage:read", "storage:write"])
    other_key = container.auth.create_key(principal, name="live", mode="live")["api_key"]
    assert sees_live_state(other_key) is False

    # A key that is not a marketplace key never reaches the plugin.
    with client(gateway.base_url, "0123456789abcdef0123456789abcdef") as stranger:
        with pytest.raises(ApiException) as refused:
            AuthenticationApi(stranger).validate()
        assert refused.value.status in (401, 403)


# --- fast checks through the plugin host (no server) ----------------------------------------
def test_bodies_are_decoded_from_gzip_and_deflate_and_garbage_is_a_datadog_400(call):
    body = json.dumps({"series": [{"metric": "a.b", "points": [[100, 2.5]], "tags": ["k:v"]}]}).encode()
    assert call("POST", "/api/v1/series", body=gzip.compress(body),
                headers={"Content-Encoding": "gzip"}).status == 202
    import zlib
    assert call("POST", "/api/v1/series", body=zlib.compress(body), headers={"Content-Encoding": "deflate"}).status == 202

    result = call("GET", "/api/v1/query", query={"from": ["0"], "to": ["200"], "query": ["a.b{k:v}"]},
                  headers={"DD-APPLICATION-KEY": "x"})
    assert result.json()["series"][0]["pointlist"] == [[100000.0, 2.5]]

    for bad in (b"not json", b"{}", b'{"series": [{"metric": "a.b", "points": [[1]]}]}'):
        result = call("POST", "/api/v1/series", body=bad)
        assert result.status == 400 and list(result.json()) == ["errors"]
    assert call("POST", "/api/v1/series", body=b"x", headers={"Content-Encoding": "gzip"}).status == 400


def test_query_scopes_support_negation_wildcards_and_reject_bad_parameters(call):
    series = [{"metric": "m.x", "points": [[10, 1.0]], "tags": ["env:prod-eu"]},
              {"metric": "m.x", "points": [[10, 3.0]], "tags": ["env:staging"]}]
    assert call("POST", "/api/v1/series", body=json.dumps({"series": series}).encode()).status == 202
    headers = {"DD-APPLICATION-KEY": "x"}

    def values(query: str) -> list[float]:
        result = call("GET", "/api/v1/query", query={"from": ["0"], "to": ["20"], "query": [query]}, headers=headers)
        assert result.status == 200, result.json()
        return [p[1] for s in result.json()["series"] for p in s["pointlist"]]

    assert values("avg:m.x{env:prod*}") == [1.0]
    assert values("avg:m.x{!env:prod*}") == [3.0]
    assert values("min:m.x{*}") == [1.0]
    for query in ({"to": ["20"], "query": ["m.x{*}"]}, {"from": ["0"], "to": ["20"]},
                  {"from": ["x"], "to": ["20"], "query": ["m.x{*}"]},
                  {"from": ["0"], "to": ["20"], "query": ["median:m.x{*}"]}):
        result = call("GET", "/api/v1/query", query=query, headers=headers)
        assert result.status == 400 and list(result.json()) == ["errors"]
    assert call("GET", "/api/v1/nothing").json() == {"errors": ["no endpoint for GET /api/v1/nothing"]}
    assert call("DELETE", "/api/v1/validate").status == 405


def test_event_ids_and_default_dates_are_reproducible_in_the_sdks_deterministic_mode(plugin_dir):
    from _mf_plugin_testing import load_plugin_class
    from mocklib_plugin_sdk import InMemoryStateStore, PluginHost, SdkSettings, reset_deterministic_state
    from mocklib_plugin_sdk.protocol import decode_result, make_request_event

    plugin_class, manifest = load_plugin_class(plugin_dir)

    def first_event(user: str) -> dict:
        reset_deterministic_state()
        host = PluginHost(plugin_class, manifest, settings=SdkSettings(deterministic=True, seed="42"),
                          store=InMemoryStateStore())
        try:
            event = make_request_event("POST", "/api/v1/events", plugin="datadog", user_id=user,
                                       version=manifest["version"], body=b'{"title": "t", "text": "x"}')
            result = decode_result(host.invoke(event))
            assert result.status == 202
            return result.json()["event"]
        finally:
            host.close()
            reset_deterministic_state()

    first, again, other_user = first_event("usr_a"), first_event("usr_a"), first_event("usr_b")
    assert (first["id"], first["date_happened"]) == (again["id"], again["date_happened"])
    assert other_user["id"] != first["id"]
    assert 0 < first["id"] < 2 ** 63


# --- how the marketplace teaches it: the page's example and mocklib's aliases -------------------
def run_example(gateway, manifest, language="python"):
    """The plugin page's example (manifest client.snippets), filled as the page fills it, run as is."""
    code = manifest["client"]["snippets"][language].replace("{{BASE_URL}}", gateway.base_url)
    exec(compile(code.replace("{{API_KEY}}", gateway.live_key), "example", "exec"), {})  # noqa: S102


def _queried(gateway, query: str, start: int) -> list:
    with client(gateway.base_url, gateway.live_key) as api:
        return MetricsApiV1(api).query_metrics(_from=start, to=int(time.time()) + 60, query=query).series


def test_the_python_example_on_the_plugin_page_submits_a_metric_that_can_be_queried(gateway, manifest):
    start = int(time.time()) - 60
    run_example(gateway, manifest)
    [series] = _queried(gateway, "sum:shop.orders{env:dev}", start)
    assert [list(point.value)[1] for point in series.pointlist] == [1.0]


def test_mocklib_sends_metrics_and_reads_events_through_the_manifests_aliases(gateway):
    from mocklib import MockFactory

    now = int(time.time())
    with MockFactory(gateway.live_key, api_url=gateway.api_url) as mf:
        sent = mf.datadog.metrics.send([{"metric": "checkout.latency", "type": "gauge", "tags": ["env:ci"],
                                        "points": [[now - 30, 120.0], [now - 10, 80.0]]}])
        assert sent.status == "ok"
        created = mf.datadog.events.create(title="Deployed", text="v2 is out", tags=["env:ci"])
        assert mf.datadog.events.get(created.event.id).event.title == "Deployed"
    [series] = _queried(gateway, "avg:checkout.latency{env:ci}", now - 60)
    assert [list(point.value)[1] for point in series.pointlist] == [120.0, 80.0]
