from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.auth import schemas
from chalicelib.core.errors import ConflictError, NotFoundError, UnauthenticatedError
from chalicelib.http import Api, ApiRequest
from chalicelib.wiring import container

bp = Blueprint(__name__)
api = Api(bp, tag="identity")


@api.route("/auth/signup", methods=("POST",), body=schemas.SIGN_UP, status=201, limit="auth", raises=(ConflictError,),
           summary="Create an account (role user or developer) and get an access token")
def sign_up(req: ApiRequest) -> dict[str, Any]:
    body = req.json(schemas.SIGN_UP)
    return container().auth.sign_up(email=body["email"], password=body["password"],
                                    role=body.get("role", "user"))


@api.route("/auth/login", methods=("POST",), body=schemas.LOG_IN, limit="auth", raises=(UnauthenticatedError,),
           summary="Exchange e-mail and password for an access token")
def log_in(req: ApiRequest) -> dict[str, Any]:
    body = req.json(schemas.LOG_IN)
    return container().auth.log_in(email=body["email"], password=body["password"])


@api.route("/auth/me", auth="user", raises=(UnauthenticatedError,), summary="The signed-in account")
def me(req: ApiRequest) -> dict[str, Any]:
    return container().auth.me(req.caller)


@api.route("/keys", methods=("POST",), auth="user", body=schemas.CREATE_KEY, status=201, raises=(ConflictError,),
           summary="Create an API key; the secret is shown once")
def create_key(req: ApiRequest) -> dict[str, Any]:
    body = req.json(schemas.CREATE_KEY)
    return container().auth.create_key(req.caller, name=body["name"], mode=body.get("mode", "test"))


@api.route("/keys", auth="user", summary="List your API keys (prefix, name, created, last used)")
def list_keys(req: ApiRequest) -> dict[str, Any]:
    return container().auth.list_keys(req.caller)


@api.route("/keys/{key_id}/rotate", methods=("POST",), auth="user", status=201, raises=(NotFoundError, ConflictError),
           summary="Replace a key with a new secret; the old one stops working")
def rotate_key(req: ApiRequest, key_id: str) -> dict[str, Any]:
    return container().auth.rotate_key(req.caller, key_id)


@api.route("/keys/{key_id}", methods=("DELETE",), auth="user", raises=(NotFoundError, ConflictError),
           summary="Revoke a key")
def revoke_key(req: ApiRequest, key_id: str) -> dict[str, Any]:
    return container().auth.revoke_key(req.caller, key_id)
