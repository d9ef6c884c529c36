"""Pages for schools: list, detail, create, edit, and the import (upload, unknown columns,
preview, confirm)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from registry.access import EDITORS, READERS, roles_required, viewable_or_404
from registry.exports import Query, export_format, export_response
from registry.listing import paginate, sort
from registry.models import INDICATORS, School
from registry.refusals import Refused, show_refusal
from registry.schools import export as school_export
from registry.schools import import_plan, services, uploads
from registry.schools.export import COLUMNS as EXPORT_COLUMNS
from registry.schools.forms import (
    IMPORT_HUMAN_LABELS,
    ImportForm,
    ReviewForm,
    SchoolForm,
    field_of,
    form_key,
    mapping_form,
)
from registry.schools.import_plan import unmapped_columns
from registry.schools.importer import (
    HEADER_TABLE,
    IGNORED,
    ImportRefused,
    ReadOptions,
    check_upload,
    parse_district,
    read_table,
    upload_lines,
)
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
    fmt = export_format()
    stmt = services.filtered_schools(
        text=request.args.get("q"),
        level=request.args.get("level"),
        zip_code=request.args.get("zip"),
        no_partner=request.args.get("no_partner") == "1",
        school_year=year,
        # An export reads the latest indicators itself, in one query for the whole file.
        with_indicators=fmt is None,
    )
    stmt, sorting = sort(stmt, services.sort_columns(year), "name")
    stmt = stmt.order_by(School.id)  # a stable order between pages when sort keys tie
    if fmt:
        rows = Query(stmt, lambda selected: school_export.rows(selected, year))
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
    if request.method == "GET":
        form.district.data = current_app.config.get("DISTRICT_CODE") or ""
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return _upload_page(form, status=status)
    raw = form.file.data.read()
    try:
        check_upload(raw, form.file.data.filename or "")
    except ImportRefused as err:
        return _upload_page(form, err.problems, status=400)
    # Kept (outside static, by a random token) until the preview is confirmed.
    token = uploads.keep(raw, current_user.id)
    review = ReviewForm(formdata=None)
    review.token.data = token
    review.school_year.data = form.school_year.data or ""
    review.district.data = form.district.data or ""
    return _next_step(review, form)


@bp.post("/import/columns")
@roles_required(*EDITORS)
def import_columns() -> ResponseReturnValue:
    """The mapping step: what each unknown column is, remembered for its set of headers."""
    raw, review = _kept_upload()
    if raw is None:
        return _expired()
    try:
        table = read_table(upload_lines(raw))
    except ImportRefused as err:
        return _refused(review, err)
    unknown = unmapped_columns(table.headers)
    form = mapping_form(unknown)()
    if not form.validate_on_submit():
        return _columns_page(form, unknown, status=400)
    choices = {header: field_of(form[f"column_{i}"].data or "") for i, header in enumerate(unknown)}
    import_plan.remember_mapping(table.headers, choices, current_user.id)
    return _next_step(form, None)


@bp.post("/import/review")
@roles_required(*EDITORS)
def import_review() -> ResponseReturnValue:
    """Preview again (with values to clear), or confirm: then the import is written."""
    raw, review = _kept_upload()
    if raw is None:
        return _expired()
    if request.form.get("action") != "confirm":
        return _next_step(review, None)
    try:
        plan = import_plan.plan_upload(raw, _options(review), review.fields_to_clear(), ask=False)
    except Refused as err:
        return _refused(review, err)
    assert isinstance(plan, import_plan.ImportPlan)  # without asking, no Unmapped
    import_plan.apply_plan(plan)
    uploads.discard(review.token.data or "", current_user.id)
    flash(" ".join([plan.describe(done=True), *plan.describe_skipped()]), "success")
    return redirect(url_for("schools.import_csv"))


def _kept_upload() -> tuple[bytes | None, ReviewForm]:
    review = ReviewForm()
    if not review.validate_on_submit():
        return None, review
    return uploads.load(review.token.data or "", current_user.id), review


def _expired() -> ResponseReturnValue:
    flash(_("That upload is no longer kept: choose the file again."), "error")
    return redirect(url_for("schools.import_csv"))


def _options(review: ReviewForm) -> ReadOptions:
    district = review.district.data or current_app.config.get("DISTRICT_CODE") or None
    return ReadOptions(
        school_year=review.school_year.data or None, district=parse_district(district)
    )


def _next_step(review: ReviewForm, upload_form: ImportForm | None) -> ResponseReturnValue:
    """The mapping step if a column is unknown, else the preview."""
    raw = uploads.load(review.token.data or "", current_user.id)
    if raw is None:
        return _expired()
    try:
        plan = import_plan.plan_upload(raw, _options(review), review.fields_to_clear())
    except Refused as err:
        return _refused(review, err, upload_form)
    if isinstance(plan, import_plan.Unmapped):
        form = mapping_form(plan.unknown)(formdata=None)
        for name in ("token", "school_year", "district"):
            form[name].data = review[name].data
        return _columns_page(form, plan.unknown, plan.samples)
    if not plan.has_changes and not plan.clearable:
        uploads.discard(review.token.data or "", current_user.id)  # nothing to confirm
    return render_template(
        "schools/import_preview.html",
        plan=plan,
        form=review,
        clearable_keys=[form_key(name) for name in plan.clearable],
    )


def _refused(
    review: ReviewForm, err: Refused, upload_form: ImportForm | None = None
) -> ResponseReturnValue:
    # A 400: nothing of the file is kept.
    uploads.discard(review.token.data or "", current_user.id)
    problems = err.problems if isinstance(err, ImportRefused) else [str(err)]
    return _upload_page(upload_form or ImportForm(formdata=None), problems, status=400)


def _upload_page(
    form: ImportForm, problems: list[str] | None = None, status: int = 200
) -> ResponseReturnValue:
    return render_template(
        "schools/import.html",
        form=form,
        problems=problems,
        header_table=HEADER_TABLE,
        ignored=IGNORED,
        field_label=_header_field_label,
    ), status


def _columns_page(
    form: ReviewForm, unknown: list[str], samples: dict[str, str] | None = None, status: int = 200
) -> ResponseReturnValue:
    fields = [(form[f"column_{i}"], (samples or {}).get(h, "")) for i, h in enumerate(unknown)]
    return render_template("schools/import_columns.html", form=form, fields=fields), status


def _header_field_label(name: str) -> str:
    return str(IMPORT_HUMAN_LABELS.get(name, name))
