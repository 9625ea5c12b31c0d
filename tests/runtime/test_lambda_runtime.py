"""LambdaRuntime with a real boto3 lambda client under botocore's Stubber: the
exact request sent, and every way an invoke can fail mapped to the port's errors.
No network: the Stubber (or a before-send hook) answers every call."""
from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from chalicelib.runtime.lambda_runtime import LambdaRuntime, lambda_client_config
from chalicelib.runtime.port import (PluginFailure, PluginFunction, PluginOutOfMemory, PluginTimedOut,
                                     PluginUnavailable)

FUNCTION = PluginFunction(plugin="stripe", version="1.2.0", major=1, memory_limit_mb=256, timeout_seconds=10,
                          function_name="mf-prod-plugin-stripe-v1", source_dir=None, handler="plugin:StripePlugin")
EVENT = {"protocol": 1, "type": "request",
         "request": {"method": "POST", "path": "/v1/customers", "query": {}, "headers": {},
                     "body_b64": "ZW1haWw9YSU0MGIuY29t", "request_id": "req_1"},
         "context": {"plugin": "stripe", "version": "1.2.0", "user_id": "usr_42", "sandbox": True,
                     "config": {}, "licence": None, "deadline_ms": 1767225610000}}
EXPECTED_REQUEST = {
    "FunctionName": "mf-prod-plugin-stripe-v1",
    "InvocationType": "RequestResponse",
    "Payload": json.dumps(EVENT, separators=(",", ":")).encode("utf-8"),
}
RESULT = {"protocol": 1, "status": 201, "headers": {"content-type": "application/json"},
          "body_b64": "e30=", "webhooks": [], "metrics": []}


def payload(data: Any) -> StreamingBody:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


@pytest.fixture
def client() -> Any:
    return boto3.client("lambda", region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=lambda_client_config(29))


@pytest.fixture
def stubber(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def respond(stubber: Stubber, body: Any, function_error: str | None = None) -> None:
    response: dict[str, Any] = {"StatusCode": 200, "Payload": payload(body), "ExecutedVersion": "$LATEST"}
    if function_error:
        response["FunctionError"] = function_error
    stubber.add_response("invoke", response, expected_params=EXPECTED_REQUEST)


def test_client_config_never_retries_and_outwaits_the_slowest_plugin() -> None:
    config = lambda_client_config(29)

    assert config.retries == {"total_max_attempts": 1}
    assert config.read_timeout == 34


def test_max_attempts_1_would_have_invoked_the_plugin_twice() -> None:
    # Why the config says total_max_attempts: botocore's max_attempts counts retries.
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))
    sent = _fail_before_send(client, ReadTimeoutError(endpoint_url="https://lambda.us-east-1.amazonaws.com"))

    with pytest.raises(PluginTimedOut):
        LambdaRuntime(client).invoke(FUNCTION, EVENT)
    assert len(sent) == 2


def test_invoke_sends_the_event_and_returns_the_result(client: Any, stubber: Stubber) -> None:
    respond(stubber, RESULT)

    assert LambdaRuntime(client).invoke(FUNCTION, EVENT) == RESULT


@pytest.mark.parametrize("error, expected", [
    ({"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 10.00 seconds"}, PluginTimedOut),
    ({"errorMessage": "2026-01-01T00:00:10.000Z 1f2e Task timed out after 10.01 seconds"}, PluginTimedOut),
    ({"errorType": "Runtime.OutOfMemory", "errorMessage": "Runtime exited with error: signal: killed"},
     PluginOutOfMemory),
    ({"errorType": "Runtime.ImportModuleError", "errorMessage": "Unable to import module 'app'"}, PluginFailure),
    ({"errorType": "Function.ResponseSizeTooLarge", "errorMessage": "Response payload size exceeded"},
     PluginFailure),
    (b"not json at all", PluginFailure),
])
def test_function_errors_map_to_runtime_failures(client: Any, stubber: Stubber, error: Any,
                                                 expected: type[PluginFailure]) -> None:
    respond(stubber, error, function_error="Unhandled")

    with pytest.raises(PluginFailure) as caught:
        LambdaRuntime(client).invoke(FUNCTION, EVENT)

    assert type(caught.value) is expected
    if expected is PluginFailure:
        assert "malformed result" in caught.value.message


@pytest.mark.parametrize("body", [b"not json", b"null", b"[1, 2]", {"protocol": 1, "headers": {}},
                                  {"status": "200"}, {"status": True}])
def test_result_without_an_integer_status_is_malformed(client: Any, stubber: Stubber, body: Any) -> None:
    respond(stubber, body)

    with pytest.raises(PluginFailure) as caught:
        LambdaRuntime(client).invoke(FUNCTION, EVENT)

    assert type(caught.value) is PluginFailure
    assert "malformed result" in caught.value.message


@pytest.mark.parametrize("code, status, expected", [
    ("ResourceNotFoundException", 404, PluginUnavailable),
    ("TooManyRequestsException", 429, PluginUnavailable),
    ("ServiceException", 500, PluginUnavailable),
    ("RequestTooLargeException", 413, PluginFailure),
])
def test_client_errors_become_runtime_errors_chained_to_the_vendor_error(
        client: Any, stubber: Stubber, code: str, status: int, expected: type[PluginFailure]) -> None:
    stubber.add_client_error("invoke", service_error_code=code, http_status_code=status,
                             expected_params=EXPECTED_REQUEST)

    with pytest.raises(PluginFailure) as caught:
        LambdaRuntime(client).invoke(FUNCTION, EVENT)

    assert type(caught.value) is expected
    assert code in caught.value.message
    assert isinstance(caught.value.__cause__, ClientError)


def _fail_before_send(client: Any, exc: Exception) -> list[Any]:
    """Make the real client raise ``exc`` where the HTTP call would happen,
    recording the request it was about to send."""
    sent: list[Any] = []

    def raise_instead(request: Any, **_: Any) -> None:
        sent.append(request)
        raise exc

    client.meta.events.register("before-send.lambda.Invoke", raise_instead)
    return sent


def test_read_timeout_is_a_timeout_and_is_not_retried(client: Any) -> None:
    sent = _fail_before_send(client, ReadTimeoutError(endpoint_url="https://lambda.us-east-1.amazonaws.com"))

    with pytest.raises(PluginTimedOut) as caught:
        LambdaRuntime(client).invoke(FUNCTION, EVENT)

    assert isinstance(caught.value.__cause__, ReadTimeoutError)
    [request] = sent  # exactly one attempt: a retry would run the plugin twice
    assert request.url.endswith("/2015-03-31/functions/mf-prod-plugin-stripe-v1/invocations")
    assert request.headers["X-Amz-Invocation-Type"] == b"RequestResponse"
    assert request.body == EXPECTED_REQUEST["Payload"]


def test_unreachable_lambda_service_is_unavailable(client: Any) -> None:
    sent = _fail_before_send(client, EndpointConnectionError(endpoint_url="https://lambda.us-east-1.amazonaws.com"))

    with pytest.raises(PluginUnavailable):
        LambdaRuntime(client).invoke(FUNCTION, EVENT)
    assert len(sent) == 1
