"""Pages for the partner-program import (upload, preview, review, confirm) and the area mapping.

Coordinators and admins only. The upload is kept under a random token until it is
confirmed; the preview (a GET) only reads.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import func, select

from registry import unit_of_work
from registry.access import EDITORS, roles_required
from registry.extensions import db
from registry.models import ProgramAreaMapping
from registry.pickers.steps import picker_step
from registry.programs import services, uploads
from registry.programs.forms import (
    AreaCategoryForm,
    AreaForm,
    ConfirmForm,
    ListingUploadForm,
    review_form,
)
from registry.programs.importer import ListingRefused, read_listing
from registry.refusals import Refused, show_refusal
from registry.spreadsheets import is_xlsx

bp = Blueprint("programs", __name__, url_prefix="/programs")


def _upload_problem(raw: bytes, filename: str) -> str | None:
    """Why an upload is not a listing file we will keep, or None."""
    if len(raw) > uploads.max_bytes():
        return _("The file is too large to be a partner listing.")
    if filename.lower().endswith(".xlsx") != is_xlsx(raw):
        return _("The file's content does not match its name (.csv or .xlsx).")
    return None


@bp.route("/import", methods=["GET", "POST"])
@roles_required(*EDITORS)
def import_listing() -> ResponseReturnValue:
    form = ListingUploadForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("programs/import.html", form=form, problems=None), status
    upload = form.file.data
    raw = upload.read(uploads.max_bytes() + 1)
    filename = upload.filename or ""
    problem = _upload_problem(raw, filename)
    try:
        if problem is not None:
            raise ListingRefused([problem])
        read_listing(raw)  # a file that is not a listing is never kept
    except ListingRefused as err:
        return render_template("programs/import.html", form=form, problems=err.problems), 400
    token = uploads.store(raw, filename, current_user.id, form.school_year.data or None)
    return redirect(url_for("programs.preview", token=token), 303)


def _stored_or_404(token: str) -> uploads.StoredListing:
    stored = uploads.load(token, current_user.id)
    if stored is None:
        abort(404)
    return stored


def _plan(stored: uploads.StoredListing) -> services.ImportPlan:
    try:
        listing = read_listing(stored.raw)
    except ListingRefused:
        abort(404)  # it was read when uploaded: the file changed under us
    return services.build_plan(listing, stored.school_year)


@bp.get("/import/<token>")
@roles_required(*EDITORS)
def preview(token: str) -> ResponseReturnValue:
    stored = _stored_or_404(token)
    plan = _plan(stored)
    return _preview_page(stored, plan, review_form(plan.review))


def _preview_page(
    stored: uploads.StoredListing, plan: services.ImportPlan, form: Any, status: int = 200
) -> ResponseReturnValue:
    return render_template(
        "programs/preview.html",
        stored=stored,
        plan=plan,
        review=form,
        confirm=ConfirmForm(plan=plan.fingerprint()),
        shown=services.shown,
    ), status


@bp.post("/import/<token>/review")
@roles_required(*EDITORS)
def review(token: str) -> ResponseReturnValue:
    stored = _stored_or_404(token)
    plan = _plan(stored)
    form = review_form(plan.review)
    if picker_step(form):  # a search for a school (script off): the preview again
        return _preview_page(stored, plan, form)
    if not form.validate_on_submit():
        return _preview_page(stored, plan, form, 400)
    chosen = form.chosen()
    for key, school_id in chosen.items():
        services.remember_school(key, school_id)
    flash(
        ngettext(
            "%(num)s school name matched; it will be recognised from now on.",
            "%(num)s school names matched; they will be recognised from now on.",
            len(chosen),
        ),
        "success",
    )
    return redirect(url_for("programs.preview", token=token), 303)


@bp.post("/import/<token>/confirm")
@roles_required(*EDITORS)
def confirm(token: str) -> ResponseReturnValue:
    stored = _stored_or_404(token)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    plan = _plan(stored)
    if form.plan.data != plan.fingerprint():
        flash(_("The registry changed since this preview: check it again, then import."), "error")
        return redirect(url_for("programs.preview", token=token), 303)
    services.apply_plan(plan)
    unit_of_work.after_commit(lambda: uploads.discard(token))
    flash(_("The listing was imported.") + " " + " ".join(plan.describe()), "success")
    return redirect(url_for("programs.import_listing"), 303)


@bp.route("/areas", methods=["GET", "POST"])
@roles_required(*EDITORS)
def areas() -> ResponseReturnValue:
    form = AreaForm()
    if form.validate_on_submit():
        try:
            mapping = services.add_area(form.area.data or "", form.category.data or "")
        except Refused as err:
            show_refusal(err, form)
        else:
            flash(_("Program area %(area)s mapped.", area=mapping.area), "success")
            return redirect(url_for("programs.areas"), 303)
    mappings = db.session.scalars(
        select(ProgramAreaMapping).order_by(func.lower(ProgramAreaMapping.area))
    )
    status = 400 if form.is_submitted() else 200
    return render_template("programs/areas.html", form=form, mappings=list(mappings)), status


@bp.route("/areas/<int:mapping_id>/edit", methods=["GET", "POST"])
@roles_required(*EDITORS)
def edit_area(mapping_id: int) -> ResponseReturnValue:
    mapping = db.get_or_404(ProgramAreaMapping, mapping_id)
    form = AreaCategoryForm(data={"category": mapping.category.value})
    if form.validate_on_submit():
        services.set_area_category(mapping, form.category.data or "")
        flash(_("Program area %(area)s saved.", area=mapping.area), "success")
        return redirect(url_for("programs.areas"), 303)
    status = 400 if form.is_submitted() else 200
    return render_template("programs/area_form.html", form=form, mapping=mapping), status
