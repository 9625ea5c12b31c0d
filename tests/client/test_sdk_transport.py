"""Retries, timeouts and error mapping against a tiny scripted HTTP server (no marketplace)."""
from __future__ import annotations

import json
import socket
import time

import pytest

from mocklib import (APIConnectionError, APIError, APITimeoutError, MockFactory, PluginError, RateLimitError)
from mocklib._http import RetryPolicy, retry_delay
from mocklib.errors import InvalidRequestError, error_from_response, parse_retry_after
from tests.client.conftest import Reply


def error(status: int, code: str, **headers: str) -> Reply:
    return Reply(status, {"code": code, "message": f"{code} happened", "request_id": "req_test"}, headers)


def fast(client: MockFactory) -> MockFactory:
    client._transport.policy = RetryPolicy(client.max_retries, base_delay=0.01, max_delay=0.05)
    return client


def test_a_429_is_retried_after_the_time_retry_after_asks_for(scripted):
    script, url = scripted
    script.replies = [error(429, "rate_limited", **{"Retry-After": "1"}), Reply(200, {"installs": []})]
    with MockFactory("mf_test_x", api_url=url) as mf:
        assert mf.plugins.list_installed() == []
    first, second = script.seen
    assert 1.0 <= second.at - first.at < 2.5


def test_a_post_is_retried_on_429_too(scripted):
    script, url = scripted
    script.replies = [error(429, "rate_limited", **{"Retry-After": "0"}), Reply(201, {"key_id": "key_1"})]
    with MockFactory("mf_test_x", api_url=url) as mf:
        assert mf.keys.create("k").key_id == "key_1"
    assert [seen.method for seen in script.seen] == ["POST", "POST"]


def test_a_retry_after_beyond_the_cap_is_raised_at_once(scripted):
    script, url = scripted
    script.replies = [error(429, "rate_limited", **{"Retry-After": "3600"})]
    with MockFactory("mf_test_x", api_url=url) as mf:
        with pytest.raises(RateLimitError) as limited:
            mf.keys.list()
    assert limited.value.retry_after == 3600 and len(script.seen) == 1


def test_retries_stop_after_max_retries(scripted):
    script, url = scripted
    script.replies = [error(429, "rate_limited", **{"Retry-After": "0"})]
    with MockFactory("mf_test_x", api_url=url, max_retries=2) as mf:
        with pytest.raises(RateLimitError):
            mf.keys.list()
    assert len(script.seen) == 3


def test_max_retries_zero_disables_retries(scripted):
    script, url = scripted
    script.replies = [error(503, "upstream_unavailable"), Reply(200, {"keys": []})]
    with MockFactory("mf_test_x", api_url=url, max_retries=0) as mf:
        with pytest.raises(APIError) as failed:
            mf.keys.list()
    assert (failed.value.status, failed.value.code, len(script.seen)) == (503, "upstream_unavailable", 1)


def test_a_get_is_retried_on_5xx_with_backoff(scripted):
    script, url = scripted
    script.replies = [error(502, "plugin_error"), error(504, "plugin_timeout"), Reply(200, {"keys": []})]
    with fast(MockFactory("mf_test_x", api_url=url)) as mf:
        assert mf.keys.list() == []
    assert len(script.seen) == 3


def test_a_post_is_not_retried_on_502_because_the_plugin_may_have_run(scripted):
    script, url = scripted
    script.replies = [error(502, "plugin_error"), Reply(200, {"id": "cus_1"})]
    with fast(MockFactory("mf_test_x", api_url=url)) as mf:
        with pytest.raises(PluginError) as failed:
            mf.keys.create("k")
    assert (failed.value.status, failed.value.code) == (502, "plugin_error")
    assert len(script.seen) == 1


def test_sdk_requests_carry_the_user_agent_and_the_key(scripted):
    script, url = scripted
    script.replies = [Reply(200, {"keys": []})]
    with MockFactory("mf_test_secret", api_url=url) as mf:
        mf.keys.list()
    headers = script.seen[0].headers
    assert headers["User-Agent"].startswith("mocklib/") and headers["Authorization"] == "Bearer mf_test_secret"


def test_a_slow_answer_is_a_timeout_error(scripted):
    script, url = scripted
    script.replies = [Reply(200, {"keys": []}, delay=1.0)]
    with MockFactory("mf_test_x", api_url=url, timeout=0.2, max_retries=0) as mf:
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            mf.keys.list()
        assert time.monotonic() - started < 0.9
        # ... and a per-client override of the timeout
        assert mf.with_options(timeout=5).keys.list() == []


def test_a_read_timeout_on_post_is_not_retried(scripted):
    script, url = scripted
    script.replies = [Reply(200, {}, delay=0.6)]
    with fast(MockFactory("mf_test_x", api_url=url, timeout=0.2)) as mf:
        with pytest.raises(APITimeoutError):
            mf.keys.create("k")
    time.sleep(0.5)
    assert len(script.seen) == 1


def test_a_refused_connection_is_retried_even_for_post_then_raised():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with fast(MockFactory("mf_test_x", api_url=f"http://127.0.0.1:{port}", max_retries=2)) as mf:
        sleeps: list[float] = []
        mf._transport.sleep = sleeps.append
        with pytest.raises(APIConnectionError) as failed:
            mf.keys.create("k")
    assert failed.value.status is None and len(sleeps) == 2


# --- the pure parts -----------------------------------------------------------
def test_retry_decisions():
    policy = RetryPolicy(max_retries=3, base_delay=1.0, max_delay=8.0, max_retry_after=60)

    def decide(method, err, attempt=0, sent=True):
        return retry_delay(policy, method, attempt, err, sent=sent, rand=lambda: 0.5)

    unavailable = error_from_response(503, b'{"code":"plugin_unavailable","message":"busy"}', {})
    assert decide("GET", unavailable) == 0.75 and decide("GET", unavailable, attempt=2) == 3.0
    assert decide("POST", unavailable) is None and decide("PATCH", unavailable) is None
    assert decide("DELETE", unavailable, attempt=3) is None
    limited = error_from_response(429, b"{}", {"Retry-After": "2"})
    assert decide("POST", limited) == pytest.approx(2.1)
    assert decide("GET", error_from_response(400, b"{}", {})) is None
    cut = APIConnectionError("cut")
    assert decide("POST", cut) is None and decide("POST", cut, sent=False) == 0.75 and decide("PUT", cut) == 0.75
    assert retry_delay(RetryPolicy(max_retries=20, max_delay=8.0, base_delay=1.0), "GET", 10, unavailable, rand=lambda: 1.0) == 8.0


def test_error_mapping_follows_status_and_code():
    def cls(status, code):
        body = json.dumps({"code": code, "message": "m", "request_id": "req_1"}).encode()
        return type(error_from_response(status, body, {}))

    from mocklib import errors as e
    assert cls(400, "validation_failed") is e.InvalidRequestError and cls(422, "x") is e.InvalidRequestError
    assert cls(401, "invalid_api_key") is e.AuthenticationError
    assert cls(402, "quota_exceeded") is e.QuotaExceededError and cls(402, "card_declined") is e.PaymentRequiredError
    assert issubclass(e.QuotaExceededError, e.PaymentRequiredError)
    assert cls(403, "insufficient_role") is e.PermissionDeniedError and cls(404, "x") is e.NotFoundError
    assert cls(409, "x") is e.ConflictError and cls(429, "rate_limited") is e.RateLimitError
    assert cls(502, "plugin_error") is e.PluginError and cls(504, "plugin_timeout") is e.PluginError
    assert cls(503, "plugin_unavailable") is e.PluginError and cls(503, "upstream_unavailable") is e.APIError
    assert cls(500, "internal_error") is e.APIError


def test_vendor_error_bodies_keep_their_code_and_message():
    found = error_from_response(404, b'{"error":{"message":"No such customer: cus_x","type":"invalid_request_error",'
                                     b'"code":"resource_missing"}}', {"X-Request-Id": "req_9"})
    assert (found.code, found.message, found.request_id) == ("resource_missing", "No such customer: cus_x", "req_9")
    text = error_from_response(500, b"boom", {})
    assert (type(text), text.code, text.message) == (APIError, "http_500", "boom")
    assert isinstance(error_from_response(418, b"", {}), InvalidRequestError)


def test_retry_after_may_be_seconds_or_an_http_date():
    from datetime import datetime, timezone

    now = datetime(2026, 11, 10, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("7") == 7 and parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Tue, 10 Nov 2026 12:00:30 GMT", now=now) == 30
