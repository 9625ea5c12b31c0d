"""The local stack behind ``make dev``: DynamoDB Local, the API on chalice's local server,
seed data. Every piece binds to 127.0.0.1 (see devstack.dynamodb for the one exception)."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
