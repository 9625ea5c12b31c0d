from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.core.errors import ConflictError, InvalidInputError, NotFoundError
from chalicelib.http import Api, ApiRequest, json_reply
from chalicelib.installs import schemas
from chalicelib.wiring import container

bp = Blueprint(__name__)
api = Api(bp, tag="installs")


@api.route("/plugins/install", methods=("POST",), auth="user", scope="installs:write", body=schemas.INSTALL,
           status=(201, 200), raises=(NotFoundError, ConflictError, InvalidInputError),
           summary="Install a plugin (201), or return the existing install (200)")
def install(req: ApiRequest) -> Response:
    body = req.json(schemas.INSTALL)
    outcome = container().installs.install(
        req.caller, plugin=req.caller.require_plugin(body["plugin"]), version=body.get("version", "latest"),
        accept_permissions=body.get("accept_permissions"), config=body.get("config"))
    return json_reply(outcome.view, 201 if outcome.created else 200)


@api.route("/plugins/uninstall", methods=("POST",), auth="user", scope="installs:write", body=schemas.UNINSTALL,
           raises=(NotFoundError,), summary="Uninstall a plugin")
def uninstall(req: ApiRequest) -> dict[str, Any]:
    body = req.json(schemas.UNINSTALL)
    return container().installs.uninstall(req.caller, req.caller.require_plugin(body["plugin"]))


@api.route("/plugins/installed", auth="user", scope="installs:read", summary="Your installed plugins")
def list_installed(req: ApiRequest) -> dict[str, Any]:
    return container().installs.list_installed(req.caller)


@api.route("/plugins/installed/{name}", auth="user", scope="installs:read", raises=(NotFoundError,),
           summary="One installed plugin")
def get_installed(req: ApiRequest, name: str) -> dict[str, Any]:
    return container().installs.get_installed(req.caller, name)


@api.route("/plugins/installed/{name}/enable", methods=("POST",), auth="user", scope="installs:write",
           raises=(NotFoundError,), summary="Enable an install")
def enable(req: ApiRequest, name: str) -> dict[str, Any]:
    return container().installs.set_enabled(req.caller, req.caller.require_plugin(name), True)


@api.route("/plugins/installed/{name}/disable", methods=("POST",), auth="user", scope="installs:write",
           raises=(NotFoundError,), summary="Disable an install: calls are refused until it is enabled again")
def disable(req: ApiRequest, name: str) -> dict[str, Any]:
    return container().installs.set_enabled(req.caller, req.caller.require_plugin(name), False)


@api.route("/plugins/installed/{name}/config", methods=("PUT",), auth="user", scope="installs:write",
           body=schemas.CONFIGURE,
           raises=(NotFoundError, InvalidInputError),
           summary="Replace an install's configuration (validated against the plugin's schema)")
def configure(req: ApiRequest, name: str) -> dict[str, Any]:
    body = req.json(schemas.CONFIGURE)
    return container().installs.configure(req.caller, req.caller.require_plugin(name), body["config"])


@api.route("/plugins/installed/{name}/upgrade", methods=("POST",), auth="user", scope="installs:write",
           body=schemas.UPGRADE,
           raises=(NotFoundError, ConflictError, InvalidInputError),
           summary="Move an install to another major version")
def upgrade(req: ApiRequest, name: str) -> dict[str, Any]:
    body = req.json(schemas.UPGRADE)
    return container().installs.upgrade(req.caller, req.caller.require_plugin(name), version=body["version"],
                                        accept_permissions=body.get("accept_permissions"),
                                        config=body.get("config"))
