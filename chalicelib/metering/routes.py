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


def _month(value: str, name: str) -> str:
    if not _MONTH.match(value):
        raise InvalidInputError(f"{name} must look like 2026-11", code="validation_failed",
                                details=[{"path": name, "message": "expected YYYY-MM"}])
    return value


@api.route("/usage/stats", auth="user", scope="usage:read", query=("period",), raises=(InvalidInputError,),
           summary="This month's (or ?period=YYYY-MM) usage per installed plugin with the plan's quota and what remains")
def usage_stats(req: ApiRequest) -> dict[str, Any]:
    c, user = container(), req.caller.user_id
    month = _month(req.query.get("period") or month_key(c.clock.now()), "period")
    names = [row["plugin"] for row in c.installs.list_installed(req.caller)["installs"]]
    return c.metering.stats(user_id=user, month=month, holdings=[c.holding(user, name) for name in names],
                            quota_used=lambda plugin: c.quotas.used(user, plugin, month))


@api.route("/usage", auth="user", scope="usage:read", query=("month",), raises=(InvalidInputError,),
           summary="Your calls this month (or ?month=YYYY-MM) per installed plugin, live and sandbox")
def usage(req: ApiRequest) -> dict[str, Any]:
    month = _month(req.query.get("month") or month_key(container().clock.now()), "month")
    installed = container().installs.list_installed(req.caller)["installs"]
    plugins = [(row["plugin"], row["pricing"]["free_tier_calls"]) for row in installed]
    return container().metering.report(user_id=req.caller.user_id, plugins=plugins, month=month)
