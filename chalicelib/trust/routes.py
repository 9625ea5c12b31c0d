from __future__ import annotations

from chalice import Blueprint

from chalicelib.http import Api

bp = Blueprint(__name__)
api = Api(bp, tag="trust")
