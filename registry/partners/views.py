"""Partner pages: the list, a partner's record, its own record for partner users, the forms."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import Length

from registry import district_time
from registry.access import EDITORS, READERS, editable_or_404, roles_required, viewable_or_404
from registry.exports import Query, export_format, export_response
from registry.extensions import db
from registry.ids import is_id
from registry.listing import paginate, search, sort
from registry.models import Application, ChangeRequest, ChangeStatus, Partner, Service
from registry.models.columns import utcnow
from registry.partners import changes
from registry.partners import export as partner_export
from registry.partners import services as partner_services
from registry.partners.forms import (
    ApproveForm,
    PartnerFilterForm,
    PartnerForm,
    ReturnForm,
    ServiceChangeForm,
    language_options,
    translation_field_name,
    translation_languages,
    translations_of,
    with_translations,
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


@bp.get("/")
@roles_required(*READERS, Role.PARTNER)
def index() -> ResponseReturnValue:
    # A partner user has exactly one record: its own.
    if current_user.role == Role.PARTNER:
        return redirect(url_for("partners.mine"))
    today = district_time.today()
    filter_form = PartnerFilterForm(formdata=request.args)
    filters = _filters(filter_form)
    fmt = export_format()
    # An export counts services itself, in one query for the whole file.
    stmt = partner_services.partner_query(filters, today, with_services=fmt is None)
    stmt = search(stmt, filters.text, *SEARCHED_COLUMNS)
    stmt, sorting = sort(stmt, PARTNER_SORTS, "name")
    if fmt:
        rows = Query(stmt, partner_export.rows)
        return export_response(fmt, "partners", partner_export.columns(today), rows)
    return render_template(
        "partners/list.html",
        pagination=paginate(stmt),
        sorting=sorting,
        filter_form=filter_form,
        today=today,
    )


def _detail_page(partner: Partner) -> ResponseReturnValue:
    today = district_time.today()
    partner_services.load_for_page(partner)
    return render_template(
        "partners/detail.html",
        partner=partner,
        today=today,
        problems=partner.compliance_problems(today),
        pending_change=changes.pending_for(partner.id, None),
        application=db.session.scalar(
            select(Application).where(Application.partner_id == partner.id)
        ),
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
    form = with_translations(PartnerForm, translation_languages())(**kwargs)
    if partner is not None:
        form.languages.choices = language_options(partner.languages or [])
    if user.role == Role.PARTNER:
        for name in DISTRICT_ONLY_FIELDS:
            del form[name]
    return form


def _values(form: PartnerForm) -> dict[str, Any]:
    return {name: form[name].data for name in PROFILE_FIELDS | DISTRICT_ONLY_FIELDS if name in form}


def _prefill(form: PartnerForm, partner: Partner, pending: ChangeRequest | None) -> None:
    """A GET's form: the live listing's translations, then whatever is awaiting review."""
    languages = translation_languages()
    for code in languages:
        form[translation_field_name(code)].data = (partner.description_translations or {}).get(
            code, ""
        )
    for key, value in changes.proposed_values(pending).items():
        if key.startswith(changes.TRANSLATION_PREFIX):
            name = translation_field_name(key.removeprefix(changes.TRANSLATION_PREFIX))
            if name in form:
                form[name].data = value or ""
        elif key in form:
            form[key].data = value


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
            partner_services.set_translations(
                partner, translations_of(form, translation_languages())
            )
        except Refused as err:
            show_refusal(err, form)
        else:
            flash(_("Partner %(name)s added.", name=partner.name), "success")
            return redirect(url_for("partners.detail", partner_id=partner.id))
    status = 400 if request.method == "POST" else 200
    return render_template("partners/form.html", form=form, partner=None), status


def _save(form: PartnerForm, partner: Partner) -> None:
    translations = translations_of(form, translation_languages())
    if current_user.role != Role.PARTNER:
        partner_services.update_partner(
            partner, _values(form), form.version.data, current_user, translations
        )
        flash(_("Partner %(name)s saved.", name=partner.name), "success")
        return
    pending = changes.submit_partner_edit(
        partner, _values(form), translations, form.version.data, current_user, utcnow()
    )
    if pending is not None:
        flash(
            _(
                "Your changes were sent to the partnership office for review; the listing "
                "changes when they approve them. Phone and email changes apply at once."
            ),
            "success",
        )
    else:
        flash(_("Partner %(name)s saved.", name=partner.name), "success")


@bp.route("/<int:partner_id>/edit", methods=["GET", "POST"])
@roles_required(*EDITORS, Role.PARTNER)
def edit(partner_id: int) -> ResponseReturnValue:
    partner = editable_or_404(Partner, partner_id)
    # On POST only what was submitted counts: a missing version must not borrow the current one.
    form = _form_for(current_user, partner, obj=partner if request.method == "GET" else None)
    pending = changes.pending_for(partner.id, None) if current_user.role == Role.PARTNER else None
    if request.method == "GET":
        _prefill(form, partner, pending)
    if form.validate_on_submit():
        try:
            _save(form, partner)
        except Refused as err:
            show_refusal(err, form)
        else:
            return redirect(url_for("partners.detail", partner_id=partner.id))
    status = 400 if request.method == "POST" else 200
    return (
        render_template(
            "partners/form.html",
            form=form,
            partner=partner,
            pending=pending,
            reviewed=current_user.role == Role.PARTNER,
        ),
        status,
    )


# ---- partners' edits under review -----------------------------------------------------------


def _change_or_404(change_id: int) -> ChangeRequest:
    """A request the user may see: district staff any, a partner user only its own."""
    found = db.session.get(ChangeRequest, change_id) if is_id(change_id) else None
    if found is None:
        abort(404)
    if current_user.role == Role.PARTNER and found.partner_id != current_user.partner_id:
        abort(404)
    return found


@bp.get("/changes")
@roles_required(*EDITORS, Role.PARTNER)
def changes_queue() -> ResponseReturnValue:
    if current_user.role == Role.PARTNER:
        return redirect(url_for("partners.my_changes"))
    return render_template(
        "partners/changes.html", requests=db.session.scalars(changes.queue_query()).all()
    )


@bp.get("/mine/changes")
@roles_required(Role.PARTNER)
def my_changes() -> ResponseReturnValue:
    if current_user.partner_id is None:
        abort(404)
    return render_template(
        "partners/my_changes.html", requests=changes.requests_of(current_user.partner_id)
    )


def _change_page(found: ChangeRequest, return_form: ReturnForm | None = None) -> str:
    return render_template(
        "partners/change.html",
        change=found,
        lines=changes.diff(found, current_app.config["LANGUAGES"]),
        approve_form=ApproveForm(),
        return_form=return_form or ReturnForm(),
    )


@bp.get("/changes/<int:change_id>")
@roles_required(*EDITORS, Role.PARTNER)
def change_detail(change_id: int) -> ResponseReturnValue:
    return _change_page(_change_or_404(change_id))


@bp.post("/changes/<int:change_id>/approve")
@roles_required(*EDITORS)
def approve_change(change_id: int) -> ResponseReturnValue:
    found = _change_or_404(change_id)
    form = ApproveForm()
    if form.validate_on_submit():
        try:
            changes.approve(found, current_user, utcnow())
        except Refused as err:
            show_refusal(err)
        else:
            flash(_("Approved: the listing now shows these changes."), "success")
            return redirect(url_for("partners.changes_queue"))
    return redirect(url_for("partners.change_detail", change_id=found.id))


@bp.post("/changes/<int:change_id>/return")
@roles_required(*EDITORS)
def return_change(change_id: int) -> ResponseReturnValue:
    found = _change_or_404(change_id)
    if found.status != ChangeStatus.PENDING:  # the page shows no form to answer on
        flash(
            _("This request was already reviewed (%(status)s).", status=found.status.label), "error"
        )
        return redirect(url_for("partners.change_detail", change_id=found.id))
    form = ReturnForm()
    if form.validate_on_submit():
        try:
            changes.return_request(found, form.comment.data or "", current_user, utcnow())
        except Refused as err:
            if err.field is None:  # said above the page, which may no longer show the form
                show_refusal(err)
                return redirect(url_for("partners.change_detail", change_id=found.id))
            show_refusal(err, form)
        else:
            flash(_("Returned to the partner with your comment."), "success")
            return redirect(url_for("partners.changes_queue"))
    return _change_page(found, form), 400


def _offering_field(offering_id: int, part: str) -> str:
    return f"offering_{offering_id}_{part}"


def _service_change_form(service: Service, **kwargs: Any) -> Any:
    """The service's reviewed fields, its description's translations, each offering's texts."""
    form_class = with_translations(ServiceChangeForm, translation_languages())
    fields = {
        _offering_field(offering.id, part): StringField(
            _l(
                "%(field)s at %(school)s",
                field=changes.OFFERING_LABELS[part],
                school=offering.school.name,
            ),
            validators=[Length(max=200)],
        )
        for offering in service.offerings
        for part in changes.REVIEWED_OFFERING_FIELDS
    }
    form = type(form_class.__name__, (form_class,), fields)(**kwargs)
    form.languages.choices = language_options(service.languages or [])
    return form


@bp.route("/services/<int:service_id>/changes", methods=["GET", "POST"])
@roles_required(Role.PARTNER)
def propose_service(service_id: int) -> ResponseReturnValue:
    """A partner user's edit to a service's published fields, sent for review."""
    service = editable_or_404(Service, service_id)
    languages = translation_languages()
    form = _service_change_form(service, obj=service if request.method == "GET" else None)
    pending = changes.pending_for(service.partner_id, service.id)
    if request.method == "GET":
        _prefill_service(form, service, pending)
    if form.validate_on_submit():
        values = {name: form[name].data for name in changes.REVIEWED_SERVICE_FIELDS}
        offerings = {
            offering.id: {
                part: form[_offering_field(offering.id, part)].data or ""
                for part in changes.REVIEWED_OFFERING_FIELDS
            }
            for offering in service.offerings
        }
        try:
            filed = changes.submit_service_edit(
                service,
                values,
                translations_of(form, languages),
                current_user,
                utcnow(),
                offerings=offerings,
            )
        except Refused as err:
            show_refusal(err, form)
        else:
            if filed is not None:
                flash(_("Your changes were sent to the partnership office for review."), "success")
            else:
                flash(_("Nothing to review: the listing already says this."), "info")
            return redirect(url_for("partners.my_changes"))
    status = 400 if request.method == "POST" else 200
    return (
        render_template(
            "partners/service_change_form.html",
            form=form,
            service=service,
            pending=pending,
            offering_rows=[
                (
                    offering,
                    [
                        form[_offering_field(offering.id, p)]
                        for p in changes.REVIEWED_OFFERING_FIELDS
                    ],
                )
                for offering in service.offerings
            ],
        ),
        status,
    )


def _prefill_service(form: Any, service: Service, pending: ChangeRequest | None) -> None:
    for code in translation_languages():
        form[translation_field_name(code)].data = (service.description_translations or {}).get(
            code, ""
        )
    for offering in service.offerings:
        for part in changes.REVIEWED_OFFERING_FIELDS:
            form[_offering_field(offering.id, part)].data = getattr(offering, part) or ""
    for key, value in changes.proposed_values(pending).items():
        if key.startswith(changes.TRANSLATION_PREFIX):
            name = translation_field_name(key.removeprefix(changes.TRANSLATION_PREFIX))
        elif key.startswith(changes.OFFERING_PREFIX):
            _prefix, ident, part = key.split(".", 2)
            name = _offering_field(int(ident), part)
        else:
            name = key
        if name in form:
            form[name].data = value if value is not None else ""
