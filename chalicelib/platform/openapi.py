"""OpenAPI 3 document built from the routes' own registrations (chalicelib.http.ROUTE_DOCS)."""
from __future__ import annotations

import re
from typing import Any

from chalicelib.http import ROUTE_DOCS, RouteDoc

ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "request_id"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                   "request_id": {"type": "string"}, "details": {}},
}


REASONS = {
    400: "Invalid request", 401: "Missing or invalid credentials", 402: "Payment required (quota, plan or card)",
    403: "Not allowed for this caller", 404: "Not found", 409: "Conflicts with the current state",
    413: "Request body too large", 429: "Rate limited (see Retry-After)", 502: "The plugin or the payment provider failed",
    503: "Temporarily unavailable", 504: "The plugin did not answer in time",
}
_ERROR: dict[str, Any] = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_JSON_OBJECT: dict[str, Any] = {"content": {"application/json": {"schema": {"type": "object"}}}}
_ANY: dict[str, Any] = {"content": {"*/*": {"schema": {}}}}


# OpenAPI links: how what one operation creates is used by the next (clients and stateful fuzzers
# follow them). (method, path) of the creating operation -> {link: (method, path, parameters)}.
LINKS: dict[tuple[str, str], dict[str, tuple[str, str, dict[str, str]]]] = {
    ("POST", "/keys"): {
        "RotateKey": ("POST", "/keys/{key_id}/rotate", {"key_id": "$response.body#/key_id"}),
        "RevokeKey": ("DELETE", "/keys/{key_id}", {"key_id": "$response.body#/key_id"})},
    ("POST", "/developer/plugins"): {
        "GetOwnPlugin": ("GET", "/developer/plugins/{name}", {"name": "$response.body#/name"}),
        "AddVersion": ("POST", "/developer/plugins/{name}/versions", {"name": "$response.body#/name"}),
        "Certification": ("GET", "/developer/plugins/{name}/certification", {"name": "$response.body#/name"})},
    ("POST", "/developer/submissions"): {
        "GetSubmission": ("GET", "/developer/submissions/{submission_id}",
                          {"submission_id": "$response.body#/submission_id"})},
    ("POST", "/plugins/install"): {
        "GetInstall": ("GET", "/plugins/installed/{name}", {"name": "$response.body#/plugin"}),
        "Disable": ("POST", "/plugins/installed/{name}/disable", {"name": "$response.body#/plugin"}),
        "Configure": ("PUT", "/plugins/installed/{name}/config", {"name": "$response.body#/plugin"}),
        "SetWebhook": ("PUT", "/plugins/installed/{name}/webhook", {"name": "$response.body#/plugin"}),
        "TestWebhook": ("POST", "/plugins/installed/{name}/webhook/test", {"name": "$response.body#/plugin"})},
    ("PUT", "/marketplace/plugins/{name}/reviews"): {
        "VoteHelpful": ("POST", "/marketplace/plugins/{name}/reviews/{review_id}/helpful",
                        {"name": "$request.path.name", "review_id": "$response.body#/review_id"})},
}


def operation_id(method: str, path: str) -> str:
    return f"{method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}"


def _links(doc: RouteDoc) -> dict[str, Any]:
    return {name: {"operationId": operation_id(method, path), "parameters": parameters}
            for name, (method, path, parameters) in LINKS.get((doc.method, doc.path), {}).items()}


def _responses(doc: RouteDoc) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if doc.passthrough:
        responses["default"] = {"description": "The plugin's own answer: any status, any media type, byte for byte",
                                **_ANY}
    else:
        for status in doc.statuses:
            responses[str(status)] = {"description": "Success", **_JSON_OBJECT}
            if _links(doc):
                responses[str(status)]["links"] = _links(doc)
    for status in doc.errors:
        if doc.passthrough:  # the marketplace's refusal, or the plugin's own answer with this status
            responses[str(status)] = {"description": f"{REASONS.get(status, 'Refused')} (an Error), or the "
                                                     "plugin's own answer with this status", **_ANY}
        else:
            responses[str(status)] = {"description": REASONS.get(status, "Refused"), **_ERROR}
    return responses


def _operation(doc: RouteDoc) -> dict[str, Any]:
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
              for n in re.findall(r"{(\w+)\+?}", doc.path)]
    params += [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in doc.query]
    op: dict[str, Any] = {
        "summary": doc.summary,
        "tags": [doc.tag],
        "operationId": operation_id(doc.method, doc.path),
        "responses": _responses(doc),
    }
    if params:
        op["parameters"] = params
    if doc.request_schema is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": doc.request_schema}}}
    if doc.auth:
        op["security"] = [{"bearer": []}, {"apiKey": []}]
        op["x-required-role"] = doc.auth
        # What an API key needs to call it; without it, only a signed-in session may.
        op["x-key-scope"] = doc.scope
    return op


def build_document(server_url: str | None = None) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for doc in ROUTE_DOCS:
        # OpenAPI has no greedy parameters: API Gateway's {proxy+} is documented as {proxy}.
        paths.setdefault(doc.path.replace("+}", "}"), {})[doc.method.lower()] = _operation(doc)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "MockFactory Marketplace API", "version": "1.0.0",
                 "description": "Accounts, API keys, the plugin catalog, installs and the plugin gateway."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A JWT access token or a marketplace API key"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            },
        },
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document
