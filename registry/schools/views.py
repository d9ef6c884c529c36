"""Pages for schools (to be built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("schools", __name__, url_prefix="/schools")
