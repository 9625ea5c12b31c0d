"""API Gateway (REST, proxy integration) events, as AWS delivers them to the API Lambda.

Used to drive ``app(event, context)`` exactly as deployed: by tests that must not rely on
Chalice's test client, and by benchmarks measuring server time without a socket.
"""
from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit


class LambdaContext:
    function_name = "mockfactory-marketplace-dev"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:mockfactory-marketplace-dev"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


def rest_event(method: str, url: str, resource: str, path_params: dict[str, str] | None = None,
               headers: dict[str, str] | None = None, body: bytes | None = None) -> dict[str, Any]:
    """``resource`` is the route template as API Gateway knows it, e.g. ``/plugins/{name}``."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    headers = headers or {}
    # The API's binary media type is */* (chalicelib.http.binary_bodies): every body arrives base64-encoded.
    binary = body is not None
    encoded = None if body is None else base64.b64encode(body).decode()
    return {
        "resource": resource,
        "path": parts.path,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
        "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": path_params,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource, "httpMethod": method, "path": f"/api{parts.path}", "stage": "api",
            "requestId": str(uuid.uuid4()), "identity": {"sourceIp": "127.0.0.1"},
            "accountId": "123456789012", "apiId": "local",
        },
        "body": encoded,
        "isBase64Encoded": binary,
    }

