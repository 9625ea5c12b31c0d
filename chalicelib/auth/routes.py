from __future__ import annotations

import re
from typing import Any

from chalice import Blueprint

from chalicelib.auth import schemas
from chalicelib.core.errors import (ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError,
                                    UnauthenticatedError)
from chalicelib.http import Api, ApiRequest
from chalicelib.wiring import container

bp = Blueprint(__name__)
api = Api(bp, tag="identity")
_LIMIT = re.compile(r"^[0-9]{1,3}$")


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


@api.route("/account/developer", methods=("POST",), auth="user", raises=(NotFoundError, ConflictError),
           summary="Become a developer (self-service); answers with a fresh access token carrying the role")
def become_developer(req: ApiRequest) -> dict[str, Any]:
    return container().auth.become_developer(req.caller)


@api.route("/keys", methods=("POST",), auth="user", body=schemas.CREATE_KEY, status=201,
           raises=(ConflictError, InvalidInputError),
           summary="Create an API key (default scopes for its mode, or restricted: scopes, plugins, expiry); "
                   "the secret is shown once")
def create_key(req: ApiRequest) -> dict[str, Any]:
    body = req.json(schemas.CREATE_KEY)
    return container().auth.create_key(req.caller, name=body["name"], mode=body.get("mode", "test"),
                                       scopes=body.get("scopes"), plugins=body.get("plugins"),
                                       expires_at=body.get("expires_at"))


@api.route("/keys", auth="user",
           summary="List your API keys (prefix, name, scopes, plugins, created, last used, expiry) and the scopes")
def list_keys(req: ApiRequest) -> dict[str, Any]:
    return container().auth.list_keys(req.caller)


@api.route("/keys/{key_id}/rotate", methods=("POST",), auth="user", status=201, raises=(NotFoundError, ConflictError),
           summary="Replace a key with a new secret (same scopes, plugins and expiry); the old one stops working")
def rotate_key(req: ApiRequest, key_id: str) -> dict[str, Any]:
    return container().auth.rotate_key(req.caller, key_id)


@api.route("/keys/{key_id}", methods=("DELETE",), auth="user", raises=(NotFoundError, ConflictError),
           summary="Revoke a key")
def revoke_key(req: ApiRequest, key_id: str) -> dict[str, Any]:
    return container().auth.revoke_key(req.caller, key_id)


# --- admin: user management (audited by chalicelib.http) ---------------------------------------
@api.route("/admin/users", auth="admin", query=("email", "limit", "cursor"), raises=(InvalidInputError,),
           summary="Users by e-mail (?email= a prefix), a page at a time (?limit= 1-100, ?cursor= from next_cursor)")
def list_users(req: ApiRequest) -> dict[str, Any]:
    query = req.query
    limit = query.get("limit", "50")
    if not _LIMIT.match(limit) or not 1 <= int(limit) <= 100:
        raise InvalidInputError("limit must be a whole number from 1 to 100", code="invalid_limit",
                                details=[{"path": "limit", "message": "expected 1-100"}])
    email = query.get("email", "")
    if len(email) > 320:
        raise InvalidInputError("email is a prefix of an e-mail address: at most 320 characters",
                                code="validation_failed", details=[{"path": "email", "message": "too long"}])
    return container().auth.list_users(email_prefix=email, limit=int(limit), cursor=query.get("cursor") or None)


@api.route("/admin/users/{user_id}", auth="admin", raises=(NotFoundError,),
           summary="One user with their API keys")
def get_user(req: ApiRequest, user_id: str) -> dict[str, Any]:
    return container().auth.user_detail(user_id)


@api.route("/admin/users/{user_id}/disable", methods=("POST",), auth="admin", body=schemas.DISABLE_USER,
           raises=(NotFoundError, PermissionDeniedError, ConflictError),
           summary="Disable a user: their keys and sessions stop working (sessions stay ended after re-enabling)")
def disable_user(req: ApiRequest, user_id: str) -> dict[str, Any]:
    body = req.json(schemas.DISABLE_USER)
    return container().auth.disable_user(req.caller, user_id, reason=body["reason"])


@api.route("/admin/users/{user_id}/enable", methods=("POST",), auth="admin", body=schemas.USER_ACTION,
           raises=(NotFoundError, ConflictError), summary="Re-enable a disabled user; their keys work again")
def enable_user(req: ApiRequest, user_id: str) -> dict[str, Any]:
    req.json(schemas.USER_ACTION)
    return container().auth.enable_user(req.caller, user_id)


@api.route("/admin/users/{user_id}/revoke-keys", methods=("POST",), auth="admin", body=schemas.USER_ACTION,
           raises=(NotFoundError, ConflictError), summary="Revoke every active API key of a user, all or none")
def revoke_user_keys(req: ApiRequest, user_id: str) -> dict[str, Any]:
    req.json(schemas.USER_ACTION)
    return container().auth.revoke_user_keys(req.caller, user_id)


@api.route("/admin/users/{user_id}/role", methods=("PUT",), auth="admin", body=schemas.SET_ROLE,
           raises=(NotFoundError, PermissionDeniedError, ConflictError),
           summary="Change a user's role (user, developer, admin); an admin cannot remove their own")
def set_role(req: ApiRequest, user_id: str) -> dict[str, Any]:
    body = req.json(schemas.SET_ROLE)
    return container().auth.change_role(req.caller, user_id, body["role"])
