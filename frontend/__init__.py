"""The marketplace's web frontend: a dependency-free static single-page app (``src/``), its
build step (``python -m frontend.build``) and its S3 deploy (``python -m frontend.deploy``)."""
from __future__ import annotations

from pathlib import Path

FRONTEND_DIR = Path(__file__).resolve().parent
SRC_DIR = FRONTEND_DIR / "src"
