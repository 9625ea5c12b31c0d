from __future__ import annotations

import re
from typing import Any

from chalice import Blueprint

from chalicelib.core.errors import InvalidInputError
from chalicelib.http import Api, ApiRequest
from chalicelib.core.periods import month_key
from chalicelib.wiring import container

bp = Blueprint(__name__)
api = Api(bp, tag="usage")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@api.route("/usage", auth="user", query=("month",),
           summary="Your calls this month (or ?month=YYYY-MM) per installed plugin, live and sandbox")
def usage(req: ApiRequest) -> dict[str, Any]:
    month = req.query.get("month") or month_key(container().clock.now())
    if not _MONTH.match(month):
        raise InvalidInputError("month must look like 2026-11", code="validation_failed",
                                details=[{"path": "month", "message": "expected YYYY-MM"}])
    installed = container().installs.list_installed(req.caller)["installs"]
    plugins = [(row["plugin"], row["pricing"]["free_tier_calls"]) for row in installed]
    return container().metering.report(user_id=req.caller.user_id, plugins=plugins, month=month)
