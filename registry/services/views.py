"""Pages for services (to be built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("services", __name__, url_prefix="/services")
