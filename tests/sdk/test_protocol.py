"""The result half of the wire protocol: ``decode_result`` accepts exactly what an HTTP client
can receive as given, and names what is wrong with anything else."""
from __future__ import annotations

import pytest

from mocklib_plugin_sdk.errors import ProtocolError
from mocklib_plugin_sdk.protocol import decode_result


def result(**changes):
    return {"protocol": 1, "status": 200, "headers": {"Content-Type": "text/csv"}, "body_b64": "YSxi",
            "webhooks": [], "metrics": [], **changes}


def test_a_well_formed_result_decodes_to_its_status_headers_and_bytes():
    decoded = decode_result(result(headers={"Content-Type": "text/csv", "X-Count": 3, "X-Tab": "a\tb"}))
    assert (decoded.status, decoded.body) == (200, b"a,b")
    assert decoded.headers == {"Content-Type": "text/csv", "X-Count": "3", "X-Tab": "a\tb"}


@pytest.mark.parametrize("status", [200, 204, 304, 418, 599])
def test_every_final_status_is_accepted(status):
    assert decode_result(result(status=status)).status == status


@pytest.mark.parametrize("changes, message", [
    ({"status": 199}, "not a final HTTP status"),
    ({"status": 600}, "not a final HTTP status"),
    ({"status": 0}, "not a final HTTP status"),
    ({"status": 200.0}, "must be an integer"),
    ({"status": False}, "must be an integer"),
    ({"headers": [["a", "b"]]}, "must be an object"),
    ({"headers": {"X-A": "1\r\nX-B: 2"}}, "control character"),
    ({"headers": {"X-A": "nul\x00"}}, "control character"),
    ({"headers": {"Bad Name": "v"}}, "invalid header name"),
    ({"headers": {"": "v"}}, "invalid header name"),
    ({"headers": {"X-A": None}}, "must be a string"),
    ({"headers": {"X-A": "1", "x-a": "2"}}, "repeats"),
    ({"body_b64": "###"}, "not valid base64"),
    ({"body_b64": 5}, "base64 string"),
    ({"webhooks": "hook"}, "list of objects"),
    ({"metrics": [1]}, "list of objects"),
])
def test_a_result_a_client_could_not_receive_is_refused_with_its_reason(changes, message):
    with pytest.raises(ProtocolError) as caught:
        decode_result(result(**changes))
    assert message in caught.value.message


def test_a_result_that_is_not_an_object_is_refused():
    with pytest.raises(ProtocolError):
        decode_result(["status", 200])
