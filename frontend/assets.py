"""What a built file is served with, in one place: the deploy (S3 object headers) and the dev
stack's static server use the same content types and cache rules.

Hashed assets (``name.<12 hex>.ext``, written by the build) never change under their name, so
they are cached for a year; everything else (index.html, config.json) must be revalidated on
every load, so a deploy is visible at once and always points at assets that exist.
"""
from __future__ import annotations

import re
from pathlib import PurePosixPath

HASH_LENGTH = 12
HASHED_NAME = re.compile(rf"\.[0-9a-f]{{{HASH_LENGTH}}}\.[A-Za-z0-9]+$")

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".webmanifest": "application/manifest+json",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def content_type(path: str) -> str:
    return CONTENT_TYPES.get(PurePosixPath(path).suffix.lower(), DEFAULT_CONTENT_TYPE)


def is_hashed(path: str) -> bool:
    return HASHED_NAME.search(PurePosixPath(path).name) is not None


def cache_control(path: str) -> str:
    return IMMUTABLE if is_hashed(path) else REVALIDATE
