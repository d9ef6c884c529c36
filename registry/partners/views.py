"""Pages for partners (to be built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("partners", __name__, url_prefix="/partners")
