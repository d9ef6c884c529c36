"""Partner pages: the list, a partner's record, its own record for partner users, the forms."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from registry import district_time
from registry.access import EDITORS, READERS, editable_or_404, roles_required, viewable_or_404
from registry.exports import Column, Kind, export_format, export_response
from registry.extensions import db
from registry.listing import paginate, search, sort
from registry.models import Partner
from registry.partners import services as partner_services
from registry.partners.forms import (
    LANGUAGE_LABELS,
    PartnerFilterForm,
    PartnerForm,
    language_options,
)
from registry.partners.services import (
    DISTRICT_ONLY_FIELDS,
    PARTNER_SORTS,
    PROFILE_FIELDS,
    SEARCHED_COLUMNS,
    PartnerFilters,
)
from registry.refusals import Refused, show_refusal
from registry.vocabulary import PartnerStatus, PartnerType, Role

bp = Blueprint("partners", __name__, url_prefix="/partners")


def _valid(field: Any) -> Any:
    """A filter's value, or None when it is empty or not one of the choices."""
    return field.data if field.data and not field.errors else None


def _filters(form: PartnerFilterForm) -> PartnerFilters:
    form.validate()
    partner_type, status = _valid(form.partner_type), _valid(form.status)
    return PartnerFilters(
        text=_valid(form.q),
        partner_type=PartnerType(partner_type) if partner_type else None,
        status=PartnerStatus(status) if status else None,
        language=_valid(form.language),
        compliance=_valid(form.compliance),
    )


# What the compliance filter calls each problem, in the export too.
COMPLIANCE_LABELS = {
    "background_check": _l("Background check missing"),
    "insurance_missing": _l("Insurance missing"),
    "insurance_expired": _l("Insurance expired"),
}


def _export_columns(today: date) -> list[Column[Partner]]:
    return [
        Column(_l("ID"), lambda p: p.id, Kind.INT),
        Column(_l("Name"), lambda p: p.name),
        Column(_l("Type"), lambda p: p.partner_type, Kind.LABEL),
        Column(_l("Status"), lambda p: p.status, Kind.LABEL),
        Column(_l("Contact person"), lambda p: p.contact_name),
        Column(_l("Email"), lambda p: p.email),
        Column(_l("Phone"), lambda p: p.phone),
        Column(_l("Address"), lambda p: p.address),
        Column(_l("Zip code"), lambda p: p.zip),
        Column(_l("Website"), lambda p: p.website),
        Column(
            _l("Languages served"),
            lambda p: "; ".join(str(LANGUAGE_LABELS.get(n, n)) for n in p.languages or []),
        ),
        Column(_l("Serves the whole district"), lambda p: p.district_wide, Kind.YES_NO),
        Column(_l("Zip codes served"), lambda p: " ".join(p.service_zips or [])),
        Column(
            _l("Background check policy on file"), lambda p: p.background_check_policy, Kind.YES_NO
        ),
        Column(
            _l("Background check verified on"), lambda p: p.background_check_verified, Kind.DATE
        ),
        Column(_l("Insurance expiry"), lambda p: p.insurance_expiry, Kind.DATE),
        Column(_l("Insurance liability ($)"), lambda p: p.insurance_liability, Kind.AMOUNT),
        Column(_l("Services"), lambda p: len(p.services), Kind.INT),
        Column(
            _l("Compliance problems"),
            lambda p: "; ".join(str(COMPLIANCE_LABELS[c]) for c in p.compliance_problems(today)),
        ),
    ]


@bp.get("/")
@roles_required(*READERS, Role.PARTNER)
def index() -> ResponseReturnValue:
    # A partner user has exactly one record: its own.
    if current_user.role == Role.PARTNER:
        return redirect(url_for("partners.mine"))
    today = district_time.today()
    filter_form = PartnerFilterForm(formdata=request.args)
    filters = _filters(filter_form)
    stmt = partner_services.partner_query(filters, today)
    stmt = search(stmt, filters.text, *SEARCHED_COLUMNS)
    stmt, sorting = sort(stmt, PARTNER_SORTS, "name")
    if fmt := export_format():
        partners = db.session.scalars(stmt).all()
        return export_response(fmt, "partners", _export_columns(today), partners)
    return render_template(
        "partners/list.html",
        pagination=paginate(stmt),
        sorting=sorting,
        filter_form=filter_form,
        today=today,
    )


def _detail_page(partner: Partner) -> ResponseReturnValue:
    today = district_time.today()
    return render_template(
        "partners/detail.html",
        partner=partner,
        today=today,
        problems=partner.compliance_problems(today),
    )


@bp.get("/mine")
@roles_required(Role.PARTNER)
def mine() -> ResponseReturnValue:
    if current_user.partner_id is None:
        abort(404)
    return _detail_page(viewable_or_404(Partner, current_user.partner_id))


@bp.get("/<int:partner_id>")
@roles_required(*READERS, Role.PARTNER)
def detail(partner_id: int) -> ResponseReturnValue:
    return _detail_page(viewable_or_404(Partner, partner_id))


def _form_for(user: Any, partner: Partner | None = None, **kwargs: Any) -> PartnerForm:
    form = PartnerForm(**kwargs)
    if partner is not None:
        form.languages.choices = language_options(partner.languages or [])
    if user.role == Role.PARTNER:
        for name in DISTRICT_ONLY_FIELDS:
            del form[name]
    return form


def _values(form: PartnerForm) -> dict[str, Any]:
    return {name: form[name].data for name in PROFILE_FIELDS | DISTRICT_ONLY_FIELDS if name in form}


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*EDITORS)
def new() -> ResponseReturnValue:
    form = _form_for(current_user)
    if request.method == "GET":
        form.district_wide.data = True
        form.status.data = PartnerStatus.APPLICANT.value
    if form.validate_on_submit():
        try:
            partner = partner_services.create_partner(_values(form), actor=current_user)
        except Refused as err:
            show_refusal(err, form)
        else:
            flash(_("Partner %(name)s added.", name=partner.name), "success")
            return redirect(url_for("partners.detail", partner_id=partner.id))
    status = 400 if request.method == "POST" else 200
    return render_template("partners/form.html", form=form, partner=None), status


@bp.route("/<int:partner_id>/edit", methods=["GET", "POST"])
@roles_required(*EDITORS, Role.PARTNER)
def edit(partner_id: int) -> ResponseReturnValue:
    partner = editable_or_404(Partner, partner_id)
    # On POST only what was submitted counts: a missing version must not borrow the current one.
    form = _form_for(current_user, partner, obj=partner if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            partner_services.update_partner(
                partner, _values(form), form.version.data, actor=current_user
            )
        except Refused as err:
            show_refusal(err, form)
        else:
            flash(_("Partner %(name)s saved.", name=partner.name), "success")
            return redirect(url_for("partners.detail", partner_id=partner.id))
    status = 400 if request.method == "POST" else 200
    return render_template("partners/form.html", form=form, partner=partner), status
