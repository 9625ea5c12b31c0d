from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.http import Api, ApiRequest
from chalicelib.platform.openapi import build_document

bp = Blueprint(__name__)
api = Api(bp, tag="platform")


@api.route("/health", summary="Liveness probe")
def health(req: ApiRequest) -> dict[str, Any]:
    return {"status": "ok"}


@api.route("/openapi.json", summary="This document: the OpenAPI 3 description of the API")
def openapi(req: ApiRequest) -> dict[str, Any]:
    return build_document()
