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


def _operation(doc: RouteDoc) -> dict[str, Any]:
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
              for n in re.findall(r"{(\w+)\+?}", doc.path)]
    params += [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in doc.query]
    op: dict[str, Any] = {
        "summary": doc.summary,
        "tags": [doc.tag],
        "operationId": f"{doc.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', doc.path.lower()).strip('_')}",
        "responses": {
            str(doc.status): {"description": "Success", "content": {"application/json": {"schema": {"type": "object"}}}},
            "4XX": {"description": "Client error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        },
    }
    if params:
        op["parameters"] = params
    if doc.request_schema is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": doc.request_schema}}}
    if doc.auth:
        op["security"] = [{"bearer": []}, {"apiKey": []}]
        op["x-required-role"] = doc.auth
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
