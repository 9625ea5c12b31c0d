from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest

from mocklib_plugin_sdk import (InMemoryStateStore, Plugin, Request, Response, decode_result, endpoint,
                                load_plugin_dir, make_lambda_handler, make_request_event)
from tests.sdk.support import ECHO_DIR, manifest

EVERY_BYTE = bytes(range(256)) + os.urandom(4096) + b"\r\n\x00"


class Mirror(Plugin):
    @endpoint("POST", "/mirror")
    def mirror(self, request: Request) -> Response:
        return Response(201, request.body, {"Content-Type": request.headers.get("content-type", ""),
                                            "X-Length": str(len(request.body))})

    @endpoint("POST", "/metrics")
    def metrics(self, request: Request) -> dict[str, bool]:
        self.sdk.metrics.counter("mirrored", 3)
        return {"ok": True}


def over_the_wire(handler: Any, event: dict[str, Any]) -> dict[str, Any]:
    """Lambda moves events and results as JSON text: do the same."""
    return json.loads(json.dumps(handler(json.loads(json.dumps(event)), None)))


def test_binary_bodies_round_trip_byte_exact_both_ways():
    handler = make_lambda_handler(Mirror, manifest("mirror"), emit_emf=False)
    event = make_request_event("POST", "/mirror", plugin="mirror", user_id="u1", body=EVERY_BYTE,
                               headers={"Content-Type": "application/octet-stream"})
    assert base64.b64decode(event["request"]["body_b64"]) == EVERY_BYTE
    result = decode_result(over_the_wire(handler, event))
    assert result.status == 201
    assert result.body == EVERY_BYTE
    assert result.headers["X-Length"] == str(len(EVERY_BYTE))
    assert result.headers["Content-Type"] == "application/octet-stream"


def test_the_echo_example_answers_through_the_lambda_handler_with_its_manifest_found_by_path():
    plugin_class, _ = load_plugin_dir(ECHO_DIR)
    # A relative manifest path is resolved next to the plugin module, whatever the cwd.
    handler = make_lambda_handler(plugin_class, "manifest.json", store=InMemoryStateStore(), emit_emf=False)
    event = make_request_event("POST", "/echo/deep/path", plugin="echo", user_id="u1",
                               query={"expand[]": ["a", "b"], "limit": ["3"]},
                               headers={"Content-Type": "text/plain", "X-Trace": "t1"}, body="héllo".encode())
    first = decode_result(over_the_wire(handler, event)).json()
    assert first["method"] == "POST"
    assert first["path"] == "/echo/deep/path"
    assert first["query"] == {"expand[]": ["a", "b"], "limit": ["3"]}
    assert first["headers"]["x-trace"] == "t1"
    assert first["body"] == "héllo"
    assert first["calls"] == 1
    assert decode_result(over_the_wire(handler, event)).json()["calls"] == 2


def test_metrics_are_printed_as_cloudwatch_emf_on_lambda(capsys: pytest.CaptureFixture[str]):
    handler = make_lambda_handler(Mirror, manifest("mirror", ("metrics",), ("metrics:write",)))
    result = decode_result(handler(make_request_event("POST", "/metrics", plugin="mirror", user_id="u1"), None))
    assert result.metrics == [{"name": "mirrored", "kind": "counter", "value": 3, "unit": "Count"}]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert len(emf) == 1
    directive = emf[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "MockFactory/Plugins"
    assert emf[0]["mirrored"] in (3.0, [3.0])  # Powertools writes one value or a list
    assert emf[0]["service"] == "mirror"


@pytest.mark.parametrize("event", [
    "not json",
    ["a", "list"],
    {"protocol": 2, "type": "request"},
    {"protocol": 1, "type": "teleport", "context": {"plugin": "mirror", "user_id": "u1"}},
    {"protocol": 1, "type": "request", "context": {"plugin": "mirror", "user_id": "u1"},
     "request": {"method": "GET", "path": "/mirror", "body_b64": "%%%not-base64"}},
    {"protocol": 1, "type": "request", "context": {"plugin": "mirror"},
     "request": {"method": "GET", "path": "/mirror"}},
    {"protocol": 1, "type": "request", "context": {"plugin": "mirror", "user_id": "u1"},
     "request": {"method": "GET", "path": "no-slash"}},
])
def test_malformed_events_become_protocol_error_results(event: Any):
    handler = make_lambda_handler(Mirror, manifest("mirror"), emit_emf=False)
    result = decode_result(handler(event, None))
    assert result.status == 500
    assert result.json()["error"]["code"] == "protocol_error"


def test_a_missing_manifest_is_a_500_result_not_an_import_error(tmp_path):
    handler = make_lambda_handler(Mirror, str(tmp_path / "nope.json"))
    result = decode_result(handler(make_request_event("GET", "/", plugin="mirror", user_id="u1"), None))
    assert (result.status, result.json()["error"]["code"]) == (500, "configuration_error")


def test_an_event_for_another_plugin_is_refused():
    handler = make_lambda_handler(Mirror, manifest("mirror"), emit_emf=False)
    result = decode_result(handler(make_request_event("POST", "/mirror", plugin="stripe", user_id="u1"), None))
    assert (result.status, result.json()["error"]["code"]) == (500, "plugin_mismatch")
