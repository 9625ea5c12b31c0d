from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.core.errors import InvalidInputError, NotFoundError
from chalicelib.http import Api, ApiRequest
from chalicelib.webhooks.service import Target, check_destination
from chalicelib.wiring import container

bp = Blueprint(__name__)
api = Api(bp, tag="webhooks")

SET_WEBHOOK = {
    "type": "object",
    "properties": {"url": {"type": ["string", "null"], "maxLength": 2000},
                   "rotate_secret": {"type": "boolean"}},
    "required": ["url"],
    "additionalProperties": False,
}


@api.route("/plugins/installed/{name}/webhook", methods=("PUT",), auth="user", scope="installs:write", body=SET_WEBHOOK,
           raises=(InvalidInputError, NotFoundError),
           summary="Set where the plugin's webhooks go; the signing secret is created once (or rotated)")
def set_webhook(req: ApiRequest, name: str) -> dict[str, Any]:
    body = req.json(SET_WEBHOOK)
    if body["url"] is not None:
        check_destination(body["url"], allow_private=container().settings.webhooks_allow_private)
    return container().installs.set_webhook(req.caller, req.caller.require_plugin(name), url=body["url"],
                                            rotate_secret=body.get("rotate_secret", False))


@api.route("/plugins/installed/{name}/webhook/deliveries", auth="user", scope="webhooks:read", raises=(NotFoundError,),
           summary="The delivery log of the plugin's webhooks to you, newest first, with every attempt")
def deliveries(req: ApiRequest, name: str) -> dict[str, Any]:
    container().installs.get_installed(req.caller, name)
    return container().webhooks.deliveries(req.caller.user_id, name)


@api.route("/plugins/installed/{name}/webhook/test", methods=("POST",), auth="user", scope="installs:write", status=202,
           raises=(NotFoundError,),
           summary="Send a signed sample event to your webhook endpoint")
def send_test(req: ApiRequest, name: str) -> dict[str, Any]:
    install, version = container().installs.webhook_target(req.caller, req.caller.require_plugin(name))
    sample = {"kind": "event", "event_type": "mockfactory.test", "payload": {"plugin": name, "version": version}}
    ids = container().webhooks.enqueue(Target.of(install, sandbox=False), [sample])
    return {"delivery_id": ids[0]}
