from __future__ import annotations

import re
from typing import Any

from chalice import Blueprint

from chalicelib.core.errors import InvalidInputError
from chalicelib.http import Api, ApiRequest
from chalicelib.wiring import container

bp = Blueprint(__name__)
api = Api(bp, tag="audit")


@api.route("/admin/audit", auth="admin", query=("month", "actor", "target", "limit"), raises=(InvalidInputError,),
           summary="The audit log of admin and automatic actions, newest first (one month: YYYY-MM)")
def audit_log(req: ApiRequest) -> dict[str, Any]:
    query = req.query
    limit = query.get("limit", "100")
    return container().audit.list(month=query.get("month"), actor=query.get("actor"), target=query.get("target"),
                                  limit=int(limit) if re.fullmatch(r"[0-9]{1,4}", limit) else 100)
