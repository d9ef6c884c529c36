"""Pages for equity (to be built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("equity", __name__, url_prefix="/equity")
