"""Request bodies and query parameters of the trust routes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.core.errors import InvalidInputError
from chalicelib.trust.eligibility import TIERS

MAX_COMMENT_CHARS = 2000
MAX_REPLY_CHARS = 2000
MAX_LIMIT = 100
REVIEW_SORTS = ("helpful", "newest", "rating_high", "rating_low")

REVIEW = {
    "type": "object", "additionalProperties": False, "required": ["stars"],
    "properties": {"stars": {"type": "integer", "minimum": 1, "maximum": 5},
                   "comment": {"type": "string", "maxLength": MAX_COMMENT_CHARS}},
}
REPLY = {
    "type": "object", "additionalProperties": False, "required": ["text"],
    "properties": {"text": {"type": "string", "minLength": 1, "maxLength": MAX_REPLY_CHARS}},
}
CERTIFY = {
    "type": "object", "additionalProperties": False, "required": ["tier", "reason"],
    "properties": {"tier": {"enum": list(TIERS)},
                   "reason": {"type": "string", "minLength": 3, "maxLength": 2000}},
}


@dataclass(frozen=True)
class ReviewQuery:
    sort: str = "helpful"
    page: int = 1
    limit: int = 20


def _int(query: dict[str, str], name: str, default: int, high: int, problems: list[dict[str, str]]) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= high:
        problems.append({"path": name, "message": f"must be an integer from 1 to {high}"})
        return default
    return int(raw)


def parse_review_query(query: dict[str, str]) -> ReviewQuery:
    problems: list[dict[str, str]] = []
    for name in sorted(set(query) - {"sort", "page", "limit"}):
        problems.append({"path": name, "message": "unknown query parameter"})
    sort = query.get("sort") or "helpful"
    if sort not in REVIEW_SORTS:
        problems.append({"path": "sort", "message": f"one of {', '.join(REVIEW_SORTS)}"})
    page = _int(query, "page", 1, 10_000, problems)
    limit = _int(query, "limit", 20, MAX_LIMIT, problems)
    if problems:
        raise InvalidInputError("invalid query: " + "; ".join(f"{p['path']}: {p['message']}" for p in problems),
                                code="validation_failed", details=problems)
    return ReviewQuery(sort=sort, page=page, limit=limit)


def pagination(query: ReviewQuery, total: int) -> dict[str, Any]:
    pages = (total + query.limit - 1) // query.limit
    return {"page": query.page, "limit": query.limit, "total": total, "pages": pages,
            "has_next": query.page < pages}
