"""Pages for users (to be built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("users", __name__, url_prefix="/users")
