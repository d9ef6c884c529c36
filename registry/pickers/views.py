"""The pickers' search: JSON for the enhanced widget, a page of matches without script."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from registry.access import READERS, roles_required
from registry.ids import id_arg, to_id
from registry.pickers.fields import MAX_CHOSEN
from registry.pickers.search import MAX_QUERY, Kind, find, scope_for
from registry.vocabulary import Category, Role

bp = Blueprint("pickers", __name__, url_prefix="/pick")


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


@bp.get("/<any(schools, partners, services):kind>")
@roles_required(*READERS, Role.PARTNER)
def search(kind: str) -> ResponseReturnValue:
    """Up to 20 matches of `q` among what the user may see (services: `category`, `partner`)."""
    picked = Kind(kind)
    text = (request.args.get("q") or "")[:MAX_QUERY]
    category = request.args.get("category") or ""
    exclude = [to_id(v) for v in request.args.getlist("exclude")[:MAX_CHOSEN]]
    found = find(
        picked,
        text,
        scope_for(current_user, usable_only=request.args.get("usable") == "1"),
        exclude=[i for i in exclude if i is not None],
        category=Category(category) if category in Category._value2member_map_ else None,
        partner_id=id_arg("partner") if picked == Kind.SERVICES else None,
    )
    vary = {"Vary": "Accept"}  # one address, two answers: caches must tell them apart
    if _wants_json():
        results = [o.as_json() for o in found.options]
        return jsonify(results=results, count=len(results), more=found.more), 200, vary
    page = render_template("pickers/results.html", kind=picked, found=found, q=text)
    return page, 200, vary
