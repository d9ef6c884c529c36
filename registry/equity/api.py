"""JSON for reporting tools: /api/v1/... (to be built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
