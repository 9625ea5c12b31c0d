"""A vendor OpenAPI document for the SDK scaffold's "items" API, for conformance tests.

OpenAPI 3.0, with operations the scaffold does not implement (ReplaceItem, GetStats) and a
resource it does not touch (Stats); ``path_prefix`` /v1 like Stripe's.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

ITEM = {"type": "object", "required": ["id", "name", "created_at"],
        "properties": {"id": {"type": "string", "pattern": "^item_"}, "name": {"type": "string"},
                       "data": {"type": "object", "nullable": True}, "created_at": {"type": "string"},
                       "archived_by": {"anyOf": [{"type": "string"}, {"$ref": "#/components/schemas/Item"}],
                                       "nullable": True}}}
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code"]}}}


def _json(schema: dict[str, Any], description: str = "ok") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


VENDOR = {
    "openapi": "3.0.3",
    "info": {"title": "Items", "version": "2026-01-01"},
    "paths": {
        "/v1/items": {
            "post": {"operationId": "CreateItem", "tags": ["ItemsApiItem"],
                     "responses": {"201": _json({"$ref": "#/components/schemas/Item"}),
                                   "400": _json({"$ref": "#/components/schemas/Error"})}},
            "get": {"operationId": "ListItems", "tags": ["ItemsApiItem"],
                    "responses": {"200": _json({"type": "object", "required": ["items"], "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}}})}},
        },
        "/v1/items/{itemId}": {
            "get": {"operationId": "GetItem", "tags": ["ItemsApiItem"],
                    "responses": {"200": _json({"$ref": "#/components/schemas/Item"}),
                                  "404": _json({"$ref": "#/components/schemas/Error"})}},
            "delete": {"operationId": "DeleteItem", "tags": ["ItemsApiItem"],
                       "responses": {"204": {"description": "gone"},
                                     "400": _json({"$ref": "#/components/schemas/Error"})}},
            "put": {"operationId": "ReplaceItem", "tags": ["ItemsApiItem"], "responses": {"200": _json({})}},
        },
        "/v1/stats": {"get": {"operationId": "GetStats", "tags": ["ItemsApiStats"],
                              "responses": {"200": _json({"type": "object"})}}},
    },
    "components": {"schemas": {"Item": ITEM, "Error": ERROR}},
}
DECLARATION = {"file": "items.json.gz", "title": "Items API", "version": "2026-01-01", "source": "tests",
               "license": "MIT", "path_prefix": "/v1"}


def ship_spec(project: Path, document: dict[str, Any] = VENDOR, declaration: dict[str, Any] = DECLARATION) -> None:
    (project / "spec").mkdir(exist_ok=True)
    (project / "spec" / declaration["file"]).write_bytes(gzip.compress(json.dumps(document).encode()))
    (project / "spec" / "spec.json").write_text(json.dumps(declaration), encoding="utf-8")


