"""Pages for mous (to be built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("mous", __name__, url_prefix="/mous")
