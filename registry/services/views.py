"""Service pages: the list, a service's record with its commitments, the forms."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from registry import district_time
from registry.access import EDITORS, READERS, editable_or_404, roles_required, viewable_or_404
from registry.exports import Column, Kind, Query, entities, export_format, export_response
from registry.extensions import db
from registry.ids import id_arg
from registry.listing import paginate, search, sort
from registry.models import Offering, Service
from registry.mous.services import committed_amount, remaining_capacity
from registry.partners.forms import LANGUAGE_LABELS, language_options, options
from registry.pickers.steps import is_picker_step, picker_step
from registry.refusals import Refused, show_refusal
from registry.schoolyear import school_year_of
from registry.services import services as service_services
from registry.services.forms import GRADE_CHOICES, OfferingForm, ServiceFilterForm, ServiceForm
from registry.services.services import (
    FIELDS,
    OFFERING_FIELDS,
    SEARCHED_COLUMNS,
    SERVICE_SORTS,
    ServiceFilters,
)
from registry.vocabulary import Category, Role, Setting, Unit

bp = Blueprint("services", __name__, url_prefix="/services")


def _valid(field: Any) -> Any:
    """A filter's value, or None when it is empty or not one of the choices."""
    return field.data if field.data and not field.errors else None


def _filters(form: ServiceFilterForm) -> ServiceFilters:
    form.validate()
    category, setting, unit = _valid(form.category), _valid(form.setting), _valid(form.unit)
    partner, active = _valid(form.partner), _valid(form.active)
    return ServiceFilters(
        text=_valid(form.q),
        category=Category(category) if category else None,
        setting=Setting(setting) if setting else None,
        unit=Unit(unit) if unit else None,
        partner_id=partner,
        grade=_valid(form.grade),
        language=_valid(form.language),
        active={"yes": True, "no": False}.get(active) if active else None,
    )


EXPORT_COLUMNS: list[Column[Service]] = [
    Column(_l("ID"), lambda s: s.id, Kind.INT),
    Column(_l("Name"), lambda s: s.name),
    Column(_l("Partner ID"), lambda s: s.partner_id, Kind.INT),
    Column(_l("Partner"), lambda s: s.partner.name),
    Column(_l("Category"), lambda s: s.category, Kind.LABEL),
    Column(_l("Setting"), lambda s: s.setting, Kind.LABEL),
    Column(_l("Grades"), lambda s: " ".join(s.grades or [])),
    Column(
        _l("Languages"),
        lambda s: "; ".join(str(LANGUAGE_LABELS.get(n, n)) for n in s.languages or []),
    ),
    Column(_l("Unit"), lambda s: s.unit, Kind.LABEL),
    Column(_l("Annual capacity"), lambda s: s.capacity, Kind.AMOUNT),
    Column(_l("Cost ($)"), lambda s: s.cost, Kind.AMOUNT),
    Column(_l("Active"), lambda s: s.active, Kind.YES_NO),
    Column(_l("Description"), lambda s: s.description),
]


def _own_partner_id() -> int | None:
    """The partner a partner user is scoped to (None for district staff)."""
    if current_user.role == Role.PARTNER:
        if current_user.partner_id is None:
            abort(404)
        return int(current_user.partner_id)
    return None


@bp.get("/")
@roles_required(*READERS, Role.PARTNER)
def index() -> ResponseReturnValue:
    own = _own_partner_id()
    filter_form = ServiceFilterForm(formdata=request.args)
    if own is None:
        picker_step(filter_form)  # a search for a partner to filter by (script off)
    filters = _filters(filter_form)
    stmt = service_services.service_query(filters, only_partner_id=own)
    stmt = search(stmt, filters.text, *SEARCHED_COLUMNS)
    stmt, sorting = sort(stmt, SERVICE_SORTS, "name")
    if fmt := export_format():
        # Each service's partner comes with it, over the query's join.
        return export_response(fmt, "services", EXPORT_COLUMNS, Query(stmt, entities))
    return render_template(
        "services/list.html",
        pagination=paginate(stmt),
        sorting=sorting,
        filter_form=filter_form,
        scoped=own is not None,
    )


@bp.get("/<int:service_id>")
@roles_required(*READERS, Role.PARTNER)
def detail(service_id: int) -> ResponseReturnValue:
    service = viewable_or_404(Service, service_id)
    year = school_year_of(district_time.today())
    offerings = service_services.offering_lines(service, year)
    return render_template(
        "services/detail.html",
        service=service,
        school_year=year,
        committed=committed_amount(service, year),
        remaining=remaining_capacity(service, year),
        offerings=offerings,
        site_limited=any(line.offering.capacity is not None for line in offerings),
        unoffered=service_services.schools_committed_unoffered(service, year),
        commitments=service_services.commitments_of(service),
    )


def _form_for(service: Service | None = None, **kwargs: Any) -> ServiceForm:
    form = ServiceForm(**kwargs)
    if service is not None:
        form.languages.choices = language_options(service.languages or [])
    if current_user.role == Role.PARTNER:
        # A partner user's services are always its own: no choice to make, none to forge.
        del form["partner_id"]
    return form


def _values(form: ServiceForm) -> dict[str, Any]:
    return {name: form[name].data for name in FIELDS if name in form}


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*EDITORS, Role.PARTNER)
def new() -> ResponseReturnValue:
    own = _own_partner_id()
    form = _form_for()
    if request.method == "GET":
        form.active.data = True
        if own is None:
            form.partner_id.data = id_arg("partner_id")
    if picker_step(form):
        return render_template("services/form.html", form=form, service=None)
    if form.validate_on_submit():
        try:
            service = service_services.create_service(_values(form), actor=current_user)
        except Refused as err:
            show_refusal(err, form)
        else:
            if service.active:
                flash(_("Service %(name)s added.", name=service.name), "success")
            else:
                flash(
                    _(
                        "Service %(name)s added. The district reviews it before it is listed.",
                        name=service.name,
                    ),
                    "success",
                )
            return redirect(url_for("services.detail", service_id=service.id))
    status = 400 if request.method == "POST" else 200
    return render_template("services/form.html", form=form, service=None), status


@bp.route("/<int:service_id>/edit", methods=["GET", "POST"])
@roles_required(*EDITORS, Role.PARTNER)
def edit(service_id: int) -> ResponseReturnValue:
    service = editable_or_404(Service, service_id)
    if current_user.role == Role.PARTNER:
        return _to_review(service)
    # On POST only what was submitted counts: a missing version must not borrow the current one.
    form = _form_for(service, obj=service if request.method == "GET" else None)
    if picker_step(form):
        return render_template("services/form.html", form=form, service=service)
    if form.validate_on_submit():
        try:
            service_services.update_service(
                service,
                _values(form),
                form.version.data,
                actor=current_user,
                today=district_time.today(),
            )
        except Refused as err:
            show_refusal(err, form)
        else:
            flash(_("Service %(name)s saved.", name=service.name), "success")
            return redirect(url_for("services.detail", service_id=service.id))
    status = 400 if request.method == "POST" else 200
    return render_template("services/form.html", form=form, service=service), status


def _to_review(service: Service) -> ResponseReturnValue:
    """A partner user's edits to a published listing go to the district for review."""
    flash(_("Changes to a listed service go to the district for review."), "info")
    return redirect(url_for("partners.propose_service", service_id=service.id))


# ---- offerings -------------------------------------------------------------------------


def _offering_or_404(service: Service, offering_id: int) -> Offering:
    """One of the service's offerings (any other offering's id is a 404)."""
    offering = db.session.get(Offering, offering_id)
    if offering is None or offering.service_id != service.id:
        abort(404)
    return offering


def _offering_form(
    service: Service, offering: Offering | None = None, **kwargs: Any
) -> OfferingForm:
    form = OfferingForm(**kwargs)
    form.grades.choices = options([(g, g) for g, _label in GRADE_CHOICES if g in service.grades])
    if offering is not None:
        del form["school_id"]  # an offering stays at its school
    return form


def _offering_values(form: OfferingForm) -> dict[str, Any]:
    return {name: form[name].data for name in OFFERING_FIELDS if name in form}


def _offering_page(
    form: OfferingForm, service: Service, offering: Offering | None
) -> ResponseReturnValue:
    status = 400 if request.method == "POST" and not is_picker_step() else 200
    return (
        render_template(
            "services/offering_form.html", form=form, service=service, offering=offering
        ),
        status,
    )


@bp.route("/<int:service_id>/offerings/new", methods=["GET", "POST"])
@roles_required(*EDITORS, Role.PARTNER)
def new_offering(service_id: int) -> ResponseReturnValue:
    service = editable_or_404(Service, service_id)
    if current_user.role == Role.PARTNER:
        return _to_review(service)
    form = _offering_form(service)
    if request.method == "GET":
        form.school_id.data = id_arg("school_id")
    if picker_step(form):
        return _offering_page(form, service, None)
    if form.validate_on_submit():
        try:
            offering = service_services.create_offering(
                service, _offering_values(form), today=district_time.today()
            )
        except Refused as err:
            show_refusal(err, form)
        else:
            flash(
                _(
                    "%(service)s is now offered at %(school)s.",
                    service=service.name,
                    school=offering.school.name,
                ),
                "success",
            )
            return redirect(url_for("services.detail", service_id=service.id, _anchor="offerings"))
    return _offering_page(form, service, None)


@bp.route("/<int:service_id>/offerings/<int:offering_id>/edit", methods=["GET", "POST"])
@roles_required(*EDITORS, Role.PARTNER)
def edit_offering(service_id: int, offering_id: int) -> ResponseReturnValue:
    service = editable_or_404(Service, service_id)
    if current_user.role == Role.PARTNER:
        return _to_review(service)
    offering = _offering_or_404(service, offering_id)
    form = _offering_form(service, offering, obj=offering if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            service_services.update_offering(
                offering, _offering_values(form), form.version.data, today=district_time.today()
            )
        except Refused as err:
            show_refusal(err, form)
        else:
            flash(
                _(
                    "The offering at %(school)s is saved.",
                    school=offering.school.name,
                ),
                "success",
            )
            return redirect(url_for("services.detail", service_id=service.id, _anchor="offerings"))
    return _offering_page(form, service, offering)


@bp.post("/<int:service_id>/offerings/<int:offering_id>/delete")
@roles_required(*EDITORS, Role.PARTNER)
def delete_offering(service_id: int, offering_id: int) -> ResponseReturnValue:
    service = editable_or_404(Service, service_id)
    if current_user.role == Role.PARTNER:
        return _to_review(service)
    offering = _offering_or_404(service, offering_id)
    school = offering.school.name
    try:
        service_services.delete_offering(offering, today=district_time.today())
    except Refused as err:
        show_refusal(err)
    else:
        flash(
            _(
                "%(service)s is no longer offered at %(school)s.",
                service=service.name,
                school=school,
            ),
            "success",
        )
    return redirect(url_for("services.detail", service_id=service.id, _anchor="offerings"))
