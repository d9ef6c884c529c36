"""Pages for schools: list, detail, create, edit and the CSV import."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from registry.access import EDITORS, READERS, roles_required, viewable_or_404
from registry.exports import export_format, export_response
from registry.extensions import db
from registry.listing import paginate, sort
from registry.models import INDICATORS, School
from registry.refusals import Refused, show_refusal
from registry.schools import services
from registry.schools.export import COLUMNS as EXPORT_COLUMNS
from registry.schools.export import SchoolRow
from registry.schools.forms import ImportForm, SchoolForm
from registry.schools.importer import ImportRefused, import_upload
from registry.schools.services import Level, levels_of
from registry.schoolyear import is_school_year
from registry.vocabulary import INDICATOR_LABELS

bp = Blueprint("schools", __name__, url_prefix="/schools")


def _school_or_404(school_id: int) -> School:
    return viewable_or_404(School, school_id)


@bp.get("/")
@roles_required(*READERS)
def index() -> ResponseReturnValue:
    year = services.current_school_year()
    stmt = services.filtered_schools(
        text=request.args.get("q"),
        level=request.args.get("level"),
        zip_code=request.args.get("zip"),
        no_partner=request.args.get("no_partner") == "1",
        school_year=year,
    )
    stmt, sorting = sort(stmt, services.sort_columns(year), "name")
    stmt = stmt.order_by(School.id)  # a stable order between pages when sort keys tie
    if fmt := export_format():
        rows = _export_rows(list(db.session.scalars(stmt)), year)
        return export_response(fmt, "schools", list(EXPORT_COLUMNS.values()), rows)
    pagination = paginate(stmt)
    return render_template(
        "schools/list.html",
        pagination=pagination,
        sorting=sorting,
        partners=services.partner_counts(pagination.items, year),
        school_year=year,
        levels=Level,
        levels_of=levels_of,
        zips=services.zips_in_use(),
    )


def _export_rows(schools: list[School], year: str) -> list[SchoolRow]:
    counts = services.partner_counts(schools, year)
    return [SchoolRow(school, counts[school.id]) for school in schools]


@bp.get("/<int:school_id>")
@roles_required(*READERS)
def detail(school_id: int) -> ResponseReturnValue:
    school = _school_or_404(school_id)
    year = services.current_school_year()
    return render_template(
        "schools/detail.html",
        school=school,
        school_year=year,
        levels=levels_of(school.grades or []),
        mous=services.school_mous(school),
        commitments=services.school_commitments(school),
        has_active_partner=services.has_active_partner(school, year),
        indicator_labels=INDICATOR_LABELS,
        indicators=INDICATORS,
    )


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*EDITORS)
def new() -> ResponseReturnValue:
    form = SchoolForm()
    if request.method == "GET":
        form.school_year.data = services.current_school_year()
    if form.validate_on_submit():
        try:
            school = services.create_school(form.to_data())
        except Refused as err:
            show_refusal(err, form)
        else:
            flash(_("School %(name)s added.", name=school.name), "success")
            return redirect(url_for("schools.detail", school_id=school.id))
    return _form_page(form, None)


@bp.route("/<int:school_id>/edit", methods=["GET", "POST"])
@roles_required(*EDITORS)
def edit(school_id: int) -> ResponseReturnValue:
    school = _school_or_404(school_id)
    # The record fills the form only on GET: a POST missing a field (or the version) must not
    # borrow the stored value.
    form = SchoolForm(obj=school) if request.method == "GET" else SchoolForm()
    if request.method == "GET":
        _fill_indicators(form, school, request.args.get("year"))
        form.version.data = str(school.version)
    if form.validate_on_submit():
        try:
            services.update_school(school, form.to_data(), form.version.data)
        except Refused as err:
            show_refusal(err, form)
        else:
            flash(_("School %(name)s saved.", name=school.name), "success")
            return redirect(url_for("schools.detail", school_id=school.id))
    return _form_page(form, school)


def _fill_indicators(form: SchoolForm, school: School, wanted_year: str | None) -> None:
    """Show one year's indicators: the one asked for, else the latest, else this year."""
    year = wanted_year if wanted_year and is_school_year(wanted_year) else None
    if year is None:
        latest = school.latest_indicators
        year = latest.school_year if latest else services.current_school_year()
    form.school_year.data = year
    row = school.indicators_for(year)
    for name in INDICATORS:
        form[name].data = getattr(row, name) if row else None


def _form_page(form: SchoolForm, school: School | None) -> ResponseReturnValue:
    status = 400 if request.method == "POST" else 200  # a POST that got here failed
    return render_template("schools/form.html", form=form, school=school), status


@bp.route("/import", methods=["GET", "POST"])
@roles_required(*EDITORS)
def import_csv() -> ResponseReturnValue:
    form = ImportForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("schools/import.html", form=form, report=None, problems=None), status
    upload = form.file.data
    # Parsed in memory and never saved: MAX_CONTENT_LENGTH bounds its size.
    try:
        report = import_upload(upload.read())
    except ImportRefused as err:  # a 400: nothing of the file is kept
        return render_template(
            "schools/import.html", form=form, report=None, problems=err.problems
        ), 400
    return render_template("schools/import.html", form=ImportForm(), report=report, problems=None)
