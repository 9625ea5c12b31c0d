"""Service declarations, the webhook outbox, metrics, licence and error results."""
from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest

from mocklib_plugin_sdk import (ConflictError, NoActiveInvocationError, Plugin, PluginSDK, Request, Response,
                                decode_result, endpoint, make_request_event, validate_json)
from mocklib_plugin_sdk.errors import InvalidJSONError
from tests.sdk.support import manifest

EVERYTHING = ("storage", "webhooks", "metrics", "logger", "licensing")
ALL_PERMISSIONS = ("storage:read", "storage:write", "webhooks:send", "metrics:write", "licensing:read")


class Kitchen(Plugin):
    """One endpoint per service call, to probe what the manifest allows."""

    @endpoint("POST", "/storage/put")
    def storage_put(self, request: Request) -> dict[str, Any]:
        self.sdk.storage.put("things", "t1", {"ok": True})
        return {"done": True}

    @endpoint("GET", "/storage/get")
    def storage_get(self, request: Request) -> dict[str, Any]:
        return {"value": self.sdk.storage.get("things", "t1")}

    @endpoint("POST", "/webhooks")
    def send_webhooks(self, request: Request) -> dict[str, Any]:
        payload = {"id": "cus_1", "email": "a@b.com"}
        self.sdk.webhooks.send("customer.created", payload)
        payload["email"] = "mutated@after.send"
        self.sdk.webhooks.deliver("https://hooks.example.com/stripe", b'{"id":"evt_1"}\n',
                                  {"Stripe-Signature": "t=1,v1=abc", "Content-Type": "application/json"})
        return {"queued": len(self.sdk.webhooks.pending())}

    @endpoint("POST", "/webhooks/then-fail")
    def webhooks_then_fail(self, request: Request) -> dict[str, Any]:
        self.sdk.webhooks.send("customer.created", {"id": "cus_2"})
        raise RuntimeError("database on fire")

    @endpoint("POST", "/webhooks/then-conflict")
    def webhooks_then_conflict(self, request: Request) -> dict[str, Any]:
        self.sdk.webhooks.send("idempotency.replayed", {"id": "cus_3"})
        raise ConflictError("already done")

    @endpoint("POST", "/metrics")
    def record_metrics(self, request: Request) -> dict[str, Any]:
        self.sdk.metrics.counter("customers_created")
        self.sdk.metrics.histogram("charge_amount", 2000)
        self.sdk.metrics.histogram("charge_amount", 500)
        return {"ok": True}

    @endpoint("GET", "/licence")
    def licence(self, request: Request) -> dict[str, Any]:
        return {"connect": self.sdk.licence.has_feature("connect"), "radar": self.sdk.licence.has_feature("radar"),
                "tier": self.sdk.licence.tier}

    @endpoint("GET", "/log")
    def log(self, request: Request) -> dict[str, Any]:
        self.sdk.logger.info("charge created", charge_id="ch_1")
        return {"ok": True}

    @endpoint("GET", "/config")
    def config(self, request: Request) -> dict[str, Any]:
        return {"config": dict(self.sdk.config), "same": request.config == self.sdk.config}

    @endpoint("POST", "/validate")
    def validate(self, request: Request) -> dict[str, Any]:
        schema = {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "integer"}}}
        return validate_json(request.json(), schema)


def invoke(host, method: str, path: str, *, body: bytes = b"", **context: Any):
    event = make_request_event(method, path, plugin="kitchen", user_id=context.pop("user_id", "u1"),
                               body=body, **context)
    return decode_result(host.invoke(event))


def kitchen(make_host, services=EVERYTHING, permissions=ALL_PERMISSIONS, **kwargs: Any):
    return make_host(Kitchen, manifest("kitchen", services, permissions), **kwargs)


@pytest.mark.parametrize("path, method, services, permissions, missing", [
    ("/storage/put", "POST", (), ALL_PERMISSIONS, '"storage" in dependencies.mockfactory_apis'),
    ("/storage/put", "POST", EVERYTHING, ("storage:read",), '"storage:write" in permissions'),
    ("/storage/get", "GET", EVERYTHING, ("storage:write",), '"storage:read" in permissions'),
    ("/webhooks", "POST", ("storage",), ALL_PERMISSIONS, '"webhooks" in dependencies.mockfactory_apis'),
    ("/webhooks", "POST", EVERYTHING, ("storage:read",), '"webhooks:send" in permissions'),
    ("/metrics", "POST", ("storage",), ("metrics:write",), '"metrics" in dependencies.mockfactory_apis'),
    ("/licence", "GET", ("licensing",), (), '"licensing:read" in permissions'),
    ("/log", "GET", ("storage",), ALL_PERMISSIONS, '"logger" in dependencies.mockfactory_apis'),
])
def test_an_undeclared_service_is_refused_with_a_clear_500(make_host, path, method, services, permissions, missing):
    result = invoke(kitchen(make_host, services, permissions), method, path)
    assert result.status == 500
    error = result.json()["error"]
    assert error["code"] == "service_not_declared"
    assert missing in error["message"]
    assert result.error is not None and result.error["exception"] == "ServiceNotDeclaredError"


def test_declared_storage_works_through_the_same_endpoints(make_host):
    host = kitchen(make_host)
    assert invoke(host, "POST", "/storage/put").status == 200
    assert invoke(host, "GET", "/storage/get").json() == {"value": {"ok": True}}


def test_webhooks_are_queued_in_the_result_outbox_in_order(make_host):
    result = invoke(kitchen(make_host), "POST", "/webhooks")
    assert result.json() == {"queued": 2}
    event, raw = result.webhooks
    # The payload is copied when queued: later mutation by the plugin does not leak in.
    assert event == {"kind": "event", "event_type": "customer.created",
                     "payload": {"id": "cus_1", "email": "a@b.com"}}
    assert raw["kind"] == "raw"
    assert raw["url"] == "https://hooks.example.com/stripe"
    assert raw["headers"] == {"Stripe-Signature": "t=1,v1=abc", "Content-Type": "application/json"}
    assert base64.b64decode(raw["body_b64"]) == b'{"id":"evt_1"}\n'


def test_a_crash_becomes_a_json_500_and_drops_the_outbox(make_host):
    result = invoke(kitchen(make_host), "POST", "/webhooks/then-fail", request_id="req_9")
    assert result.status == 500
    assert result.headers["Content-Type"] == "application/json"
    assert result.json() == {"error": {"code": "plugin_exception", "request_id": "req_9",
                                       "message": "the plugin failed to handle this request"}}
    assert b"database on fire" not in result.body and b"Traceback" not in result.body
    assert result.webhooks == []
    assert result.error == {"code": "plugin_exception", "message": "database on fire", "exception": "RuntimeError"}


def test_an_sdk_error_keeps_its_status_and_a_4xx_keeps_the_outbox(make_host):
    result = invoke(kitchen(make_host), "POST", "/webhooks/then-conflict")
    assert result.status == 409
    assert result.json()["error"]["code"] == "conflict"
    assert [w["event_type"] for w in result.webhooks] == ["idempotency.replayed"]


def test_metrics_are_returned_in_the_result(make_host):
    result = invoke(kitchen(make_host), "POST", "/metrics")
    assert result.metrics == [
        {"name": "customers_created", "kind": "counter", "value": 1, "unit": "Count"},
        {"name": "charge_amount", "kind": "histogram", "value": 2000, "unit": "None"},
        {"name": "charge_amount", "kind": "histogram", "value": 500, "unit": "None"},
    ]


def test_licence_features_come_from_the_invocation_context(make_host):
    host = kitchen(make_host)
    licensed = invoke(host, "GET", "/licence", licence={"tier": "pro", "features": ["connect"]})
    assert licensed.json() == {"connect": True, "radar": False, "tier": "pro"}
    unlicensed = invoke(host, "GET", "/licence", licence=None)
    assert unlicensed.json() == {"connect": False, "radar": False, "tier": None}


def test_the_logger_writes_powertools_json_with_the_request_id(make_host):
    stream = io.StringIO()
    invoke(kitchen(make_host, log_stream=stream), "GET", "/log", request_id="req_log")
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["message"] == "charge created"
    assert line["service"] == "kitchen"
    assert (line["charge_id"], line["request_id"], line["user_id"]) == ("ch_1", "req_log", "u1")


def test_install_config_reaches_the_request_and_the_sdk(make_host):
    result = invoke(kitchen(make_host), "GET", "/config", config={"mode": "strict"})
    assert result.json() == {"config": {"mode": "strict"}, "same": True}


def test_validate_json_answers_400_with_every_problem(make_host):
    result = invoke(kitchen(make_host), "POST", "/validate", body=b'{"amount": "12"}')
    assert result.status == 400
    error = result.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"] == [{"path": "amount", "message": "'12' is not of type 'integer'"}]
    with pytest.raises(InvalidJSONError):
        validate_json({}, {"required": ["x"]})


def test_per_user_services_are_refused_outside_an_invocation(make_host):
    seen: dict[str, Exception] = {}

    class Eager(Plugin):
        def initialize(self, sdk: PluginSDK) -> None:
            super().initialize(sdk)
            try:
                sdk.storage.get("things", "t1")
            except NoActiveInvocationError as exc:
                seen["error"] = exc

        @endpoint("GET", "/")
        def root(self, request: Request) -> Response:
            return Response(204)

    host = make_host(Eager, manifest("kitchen"))
    assert invoke(host, "GET", "/").status == 204
    assert "inside a request or lifecycle handler" in str(seen["error"])


def test_a_failing_initialize_is_a_500_result_and_is_retried_on_the_next_call(make_host):
    attempts: list[int] = []

    class Flaky(Plugin):
        def initialize(self, sdk: PluginSDK) -> None:
            attempts.append(1)
            if len(attempts) == 1:
                raise RuntimeError("cold start failed")
            super().initialize(sdk)

        @endpoint("GET", "/")
        def root(self, request: Request) -> dict[str, bool]:
            return {"ok": True}

    host = make_host(Flaky, manifest("kitchen"))
    assert invoke(host, "GET", "/").status == 500
    assert invoke(host, "GET", "/").json() == {"ok": True}
