from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.core.errors import NotFoundError
from chalicelib.http import Api, ApiRequest
from chalicelib.wiring import container

bp = Blueprint(__name__)
api = Api(bp, tag="notifications")


@api.route("/notifications", auth="user", query=("unread",),
           summary="Your notifications, newest first (plugin auto-disabled, payout held or paid, payment failed)")
def notifications(req: ApiRequest) -> dict[str, Any]:
    return container().notifications.list(req.caller.user_id, unread_only=req.query.get("unread") == "true")


@api.route("/notifications/{notification_id}/read", methods=("POST",), auth="user", raises=(NotFoundError,),
           summary="Mark a notification read")
def mark_read(req: ApiRequest, notification_id: str) -> dict[str, Any]:
    return container().notifications.mark_read(req.caller.user_id, notification_id)
