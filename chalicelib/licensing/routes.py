from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.core.errors import ConflictError, NotFoundError, PermissionDeniedError
from chalicelib.http import Api, ApiRequest
from chalicelib.wiring import container

bp = Blueprint(__name__)
api = Api(bp, tag="licensing")

VERIFY = {"type": "object", "additionalProperties": False, "required": ["license"],
          "properties": {"license": {"type": "string", "minLength": 1, "maxLength": 16384}}}
REVOKE = {"type": "object", "additionalProperties": False, "required": ["license_id", "reason"],
          "properties": {"license_id": {"type": "string", "pattern": r"^lic_[A-Za-z0-9]{1,64}$"},
                         "reason": {"type": "string", "minLength": 1, "maxLength": 500}}}


@api.route("/.well-known/jwks.json", limit=None,
           summary="The public keys licences are signed with (JWKS, RS256, by key id): verify licences offline")
def jwks(req: ApiRequest) -> dict[str, Any]:
    return container().licensing.jwks()


@api.route("/licenses/verify", methods=("POST",), body=VERIFY, limit=None,
           summary="Check a licence: signature, algorithm, key, expiry, claims and the revocation list "
                   "(always 200: valid, or the reason it is not)")
def verify(req: ApiRequest) -> dict[str, Any]:
    return container().licensing.verify(req.json(VERIFY)["license"])


@api.route("/licenses/revoke", methods=("POST",), auth="user", body=REVOKE,
           raises=(NotFoundError, PermissionDeniedError, ConflictError),
           summary="Revoke a licence (its owner, or an admin); verification rejects it at once")
def revoke(req: ApiRequest) -> dict[str, Any]:
    body = req.json(REVOKE)
    return container().licensing.revoke(req.caller, body["license_id"], body["reason"])


@api.route("/licenses", auth="user", scope="licenses:read", summary="Your licences, newest first, with their status")
def licences(req: ApiRequest) -> dict[str, Any]:
    return container().licensing.list(req.caller.user_id)


@api.route("/licenses/{plugin}", auth="user", scope="licenses:read", raises=(NotFoundError,),
           summary="Your current licence for a plugin (a signed JWT of your tier, features and limits), "
                   "issued on demand")
def current(req: ApiRequest, plugin: str) -> dict[str, Any]:
    return container().licensing.current(req.caller.user_id, plugin)
