from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.catalog.index import SORTS
from chalicelib.catalog.manifest import CATEGORIES, TIERS
from chalicelib.core.errors import InvalidInputError

MAX_LIMIT = 100

REASON = {
    "type": "object",
    "properties": {"reason": {"type": "string", "minLength": 3, "maxLength": 2000}},
    "required": ["reason"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class SearchQuery:
    q: str | None
    category: str | None
    tags: tuple[str, ...]
    tier: str | None
    sort: str
    page: int
    limit: int


def _int(query: dict[str, str], name: str, default: int, low: int, high: int,
         problems: list[dict[str, str]]) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        problems.append({"path": name, "message": f"must be an integer from {low} to {high}"})
        return default
    return int(raw)


def parse_search(query: dict[str, str]) -> SearchQuery:
    problems: list[dict[str, str]] = []
    known = {"q", "category", "tags", "tier", "sort", "page", "limit"}
    for name in sorted(set(query) - known):
        problems.append({"path": name, "message": "unknown query parameter"})
    q = query.get("q") or None
    if q is not None and len(q) > 200:
        problems.append({"path": "q", "message": "at most 200 characters"})
    category = query.get("category") or None
    if category is not None and category not in CATEGORIES:
        problems.append({"path": "category", "message": f"one of {', '.join(CATEGORIES)}"})
    tier = query.get("tier") or None
    if tier is not None and tier not in TIERS:
        problems.append({"path": "tier", "message": f"one of {', '.join(TIERS)}"})
    sort = query.get("sort") or "popular"
    if sort not in SORTS:
        problems.append({"path": "sort", "message": f"one of {', '.join(SORTS)}"})
    tags = tuple(t.strip() for t in (query.get("tags") or "").split(",") if t.strip())
    page = _int(query, "page", 1, 1, 10_000, problems)
    limit = _int(query, "limit", 20, 1, MAX_LIMIT, problems)
    if problems:
        raise InvalidInputError("invalid search: " + "; ".join(f"{p['path']}: {p['message']}" for p in problems),
                                code="validation_failed", details=problems)
    return SearchQuery(q=q, category=category, tags=tags, tier=tier, sort=sort, page=page, limit=limit)


def pagination(query: SearchQuery, total: int) -> dict[str, Any]:
    pages = (total + query.limit - 1) // query.limit
    return {"page": query.page, "limit": query.limit, "total": total, "pages": pages,
            "has_next": query.page < pages}
