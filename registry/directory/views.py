"""The family directory's pages: search, a service, the schools, a school. No sign-in."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from registry import district_time
from registry.directory import listing
from registry.directory.caching import cached_page, derived, finish_caching
from registry.directory.wording import describe, language_name
from registry.extensions import db
from registry.models import School
from registry.vocabulary import GRADES, Category

bp = Blueprint("directory", __name__, url_prefix="/directory")


@bp.after_request
def _cache_only_what_sets_no_cookie(response: Response) -> Response:
    return finish_caching(response)


bp.add_app_template_global(describe, "describe")
bp.add_app_template_global(language_name, "language_name")


@bp.get("/")
@cached_page
def index() -> ResponseReturnValue:
    """Search the listed services by school, category, grade, language, zip code and text."""
    today = district_time.today()
    search = listing.Search.from_args(request.args)
    results = listing.search_services(search, today, listing.page_number(request.args.get("page")))
    return render_template(
        "directory/index.html",
        search=search,
        results=results,
        categories=list(Category),
        grades=GRADES,
        languages=derived("languages", lambda: listing.languages_served(today)),
        today=today,
    )


@bp.get("/services/<int:service_id>")
@cached_page
def service(service_id: int) -> ResponseReturnValue:
    today = district_time.today()
    found = listing.listed_service(service_id, today)
    if found is None:
        abort(404)
    return render_template(
        "directory/service.html",
        service=found,
        places=listing.places_of(found, today),
        today=today,
    )


@bp.get("/schools/")
@cached_page
def schools() -> ResponseReturnValue:
    today = district_time.today()
    text = str(request.args.get("q", "")).strip()[:200]
    return render_template(
        "directory/schools.html",
        text=text,
        results=listing.search_schools(text, today, listing.page_number(request.args.get("page"))),
        today=today,
    )


@bp.get("/schools/<int:school_id>")
@cached_page
def school(school_id: int) -> ResponseReturnValue:
    today = district_time.today()
    found = db.get_or_404(School, school_id)
    return render_template(
        "directory/school.html",
        school=found,
        listing=listing.listing_at(found, today),
        today=today,
    )
