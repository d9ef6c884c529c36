"""MOU pages: the list, the agreement, its status moves, commitments, renewal, amendments,
the partner's sign-off, and the printable page and PDF."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from registry import district_time
from registry.access import (
    EDITORS,
    READERS,
    editable_or_404,
    own_partner_id,
    roles_required,
    viewable_or_404,
)
from registry.downloads import as_download
from registry.exports import Query, export_format, export_response
from registry.extensions import db
from registry.ids import id_arg
from registry.listing import paginate, sort
from registry.models import MOU, Commitment, MOUVersion, Partner, School, Service, User
from registry.mous import export as mou_export
from registry.mous import gates, history, pdf, versions
from registry.mous import services as mou_services
from registry.mous.forms import CommitmentForm, ListPickers, MOUForm, NewMOUForm, SignForm
from registry.mous.gates import Fix, Gap
from registry.mous.services import MOUFilters
from registry.pickers.steps import is_picker_step, picker_step
from registry.refusals import Refused, show_refusal
from registry.schoolyear import is_school_year
from registry.vocabulary import MOUStatus, Role

bp = Blueprint("mous", __name__, url_prefix="/mous")

# The list's "expiring soon" filter looks this far ahead.
EXPIRING_DAYS = 60

SORTS = {
    "partner": Partner.name,
    "school_year": MOU.school_year,
    "start": MOU.start_date,
    "end": MOU.end_date,
    "status": MOU.status,
}


def _filters_from_args(pickers: ListPickers) -> MOUFilters:
    args = request.args
    status = args.get("status", "")
    year = args.get("school_year", "").strip()
    shares = args.get("shares", "")
    for name in ("school", "partner"):
        id_arg(name)  # an id no row could have: 404, as on every filter
    # A partner only ever lists its own (an account without a partner link: 404).
    partner_id = own_partner_id() if current_user.role == Role.PARTNER else pickers.partner.data
    return MOUFilters(
        status=MOUStatus(status) if status in MOUStatus._value2member_map_ else None,
        school_year=year if is_school_year(year) else None,
        school_id=pickers.school.data,
        partner_id=partner_id,
        shares_student_data={"yes": True, "no": False}.get(shares),
        expiring_days=EXPIRING_DAYS if args.get("expiring") else None,
    )


@bp.get("/")
@roles_required(*READERS, Role.PARTNER)
def index() -> ResponseReturnValue:
    pickers = ListPickers(formdata=request.args)
    picker_step(pickers)  # a search for a school or partner to filter by (script off)
    filters = _filters_from_args(pickers)
    q = request.args.get("q", "")
    stmt = mou_services.filtered(filters, district_time.today())
    if q.strip():
        stmt = stmt.where(MOU.id.in_(mou_services.matching_text(q)))
    stmt, sorting = sort(stmt, SORTS, "-start")
    stmt = stmt.order_by(MOU.id)
    if fmt := export_format():
        return export_response(fmt, "mous", mou_export.COLUMNS, Query(stmt, mou_export.rows))
    stmt = stmt.options(
        selectinload(MOU.partner), selectinload(MOU.schools), selectinload(MOU.commitments)
    )
    partners_shown = current_user.role != Role.PARTNER
    return render_template(
        "mous/list.html",
        pagination=paginate(stmt),
        sorting=sorting,
        filters=filters,
        q=q,
        statuses=MOUStatus,
        pickers=pickers,
        partners_shown=partners_shown,
        school_years=db.session.scalars(
            select(MOU.school_year).distinct().order_by(MOU.school_year.desc())
        ).all(),
        expiring_days=EXPIRING_DAYS,
    )


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*EDITORS)
def new() -> ResponseReturnValue:
    form = NewMOUForm()
    if request.method == "GET":
        form.partner_id.data = id_arg("partner_id")
    if picker_step(form):
        return _form_page(form, None)
    if form.validate_on_submit():
        partner = db.session.get(Partner, form.partner_id.data)
        if partner is None:
            abort(404)
        try:
            mou = mou_services.create_mou(partner, form.details(), by=_me())
        except Refused as err:
            show_refusal(err, form)
        else:
            flash(_("Draft MOU created."), "success")
            return redirect(url_for("mous.detail", mou_id=mou.id))
    return _form_page(form, None)


@bp.get("/<int:mou_id>")
@roles_required(*READERS, Role.PARTNER)
def detail(mou_id: int) -> ResponseReturnValue:
    mou = viewable_or_404(MOU, mou_id)
    return _detail_page(mou, CommitmentForm(mou, formdata=None))


@bp.route("/<int:mou_id>/edit", methods=["GET", "POST"])
@roles_required(*EDITORS)
def edit(mou_id: int) -> ResponseReturnValue:
    mou = editable_or_404(MOU, mou_id)
    if not mou_services.is_editable(mou):
        flash(_("Only draft and submitted MOUs can be edited."), "error")
        return redirect(url_for("mous.detail", mou_id=mou.id))
    form = MOUForm(obj=mou)
    if request.method == "GET":
        form.fill_from(mou)
    if picker_step(form):
        return _form_page(form, mou)
    if form.validate_on_submit():
        was_signed = mou.partner_signed
        try:
            mou_services.update_mou(mou, form.details(), form.version.data, by=_me())
        except Refused as err:
            show_refusal(err, form)
        else:
            flash(_("MOU saved."), "success")
            _warn_if_unsigned(mou, was_signed)
            return redirect(url_for("mous.detail", mou_id=mou.id))
    return _form_page(form, mou)


def _warn_if_unsigned(mou: MOU, was_signed: bool) -> None:
    if was_signed and not mou.partner_signed:
        flash(
            _(
                "The terms changed after %(partner)s signed: its signature was cleared, and "
                "the partner signs again.",
                partner=mou.partner.name,
            ),
            "warning",
        )


def _form_page(form: MOUForm, mou: MOU | None) -> ResponseReturnValue:
    # A picker's search-then-choose step is no failed save.
    status = 400 if request.method == "POST" and not is_picker_step() else 200
    return render_template("mous/form.html", form=form, mou=mou), status


def _me() -> User:
    user = current_user._get_current_object()
    assert isinstance(user, User)
    return user


def _fix_link(mou: MOU, fix: Fix) -> str | None:
    """Where a gap is put right, for the signed-in user (None: nowhere they can go)."""
    editor = current_user.role in EDITORS
    partner_user = current_user.role == Role.PARTNER
    if fix == Fix.SIGN and partner_user and mou_services.is_editable(mou):
        return url_for("mous.sign", mou_id=mou.id)
    if fix in (Fix.EDIT, Fix.SIGN):
        if not (editor and mou_services.is_editable(mou)):
            return None
        anchor = "partner-signature" if fix == Fix.SIGN else None
        return url_for("mous.edit", mou_id=mou.id, _anchor=anchor)
    if fix == Fix.COMMITMENTS:
        return url_for("mous.detail", mou_id=mou.id, _anchor="commitments")
    if fix == Fix.PARTNER:
        return url_for("partners.detail", partner_id=mou.partner_id)
    if fix == Fix.PARTNER_DOCUMENTS:
        return url_for("partners.detail", partner_id=mou.partner_id, _anchor="documents")
    if fix == Fix.MOU_DOCUMENTS:
        return url_for("mous.detail", mou_id=mou.id, _anchor="documents")
    return None


def _gaps(mou: MOU) -> list[tuple[Gap, str | None]]:
    """What is missing before activation, each with where to fix it (pending MOUs only)."""
    if mou.status not in mou_services.EDITABLE:
        return []
    found = gates.activation_gaps(mou)
    if current_user.role in EDITORS:
        blocked = gates.activator_gap(mou, _me())
        if blocked is not None:
            found.append(blocked)
    return [(gap, _fix_link(mou, gap.fix)) for gap in found]


def _detail_page(mou: MOU, form: CommitmentForm, status: int = 200) -> ResponseReturnValue:
    reader = current_user.role in READERS
    trail = mou_services.audit_trail(mou) if reader else None
    if trail:
        history.prime(trail)  # the rows its sentences name, a statement a table
    return (
        render_template(
            "mous/detail.html",
            mou=mou,
            form=form,
            moves=mou_services.allowed_moves(mou),
            editable=mou_services.is_editable(mou),
            capacity_left=mou_services.capacity_left(mou),
            dpa_problems=mou_services.dpa_gaps(mou, district_time.today()),
            renewal=mou_services.renewal_of(mou),
            amendment=mou_services.amendment_of(mou),
            gaps=_gaps(mou),
            who_may_activate=gates.who_may_activate(mou),
            may_sign=(
                current_user.role == Role.PARTNER
                and current_user.partner_id == mou.partner_id
                and mou_services.is_editable(mou)
            ),
            # Partners see their agreements, not who at the district changed them.
            trail=trail,
            history=history,
        ),
        status,
    )


# ---- status moves --------------------------------------------------------------------


def _move(mou_id: int, change: Callable[[MOU, date], MOU], done: str) -> ResponseReturnValue:
    mou = editable_or_404(MOU, mou_id)
    try:
        change(mou, district_time.today())
    except Refused as err:
        show_refusal(err)
    else:
        flash(done, "success")
    return redirect(url_for("mous.detail", mou_id=mou_id))


@bp.post("/<int:mou_id>/submit")
@roles_required(*EDITORS)
def submit(mou_id: int) -> ResponseReturnValue:
    return _move(mou_id, mou_services.submit, _("MOU submitted."))


@bp.post("/<int:mou_id>/activate")
@roles_required(*EDITORS)
def activate(mou_id: int) -> ResponseReturnValue:
    mou = editable_or_404(MOU, mou_id)
    amendment = mou.amends_id is not None
    try:
        active = mou_services.activate(mou, district_time.today(), by=_me())
    except Refused as err:
        show_refusal(err)
        return redirect(url_for("mous.detail", mou_id=mou_id, _anchor="missing"))
    if amendment:
        flash(
            _("Amendment activated: it is version %(n)s of the MOU.", n=active.terms_version),
            "success",
        )
    else:
        flash(_("MOU activated."), "success")
    return redirect(url_for("mous.detail", mou_id=active.id))


@bp.post("/<int:mou_id>/expire")
@roles_required(*EDITORS)
def expire(mou_id: int) -> ResponseReturnValue:
    return _move(mou_id, mou_services.expire, _("MOU marked expired."))


@bp.post("/<int:mou_id>/terminate")
@roles_required(*EDITORS)
def terminate(mou_id: int) -> ResponseReturnValue:
    return _move(mou_id, mou_services.terminate, _("MOU terminated."))


@bp.post("/<int:mou_id>/renew")
@roles_required(*EDITORS)
def renew(mou_id: int) -> ResponseReturnValue:
    mou = editable_or_404(MOU, mou_id)
    try:
        result = mou_services.renew(mou, by=_me())
    except mou_services.AlreadyRenewed as err:
        renewal_id = err.renewal.id
        show_refusal(err)
        return redirect(url_for("mous.detail", mou_id=renewal_id))
    except Refused as err:
        show_refusal(err)
        return redirect(url_for("mous.detail", mou_id=mou_id))
    flash(
        _(
            "Draft MOU for %(year)s created from the %(old)s MOU.",
            year=result.mou.school_year,
            old=mou.school_year,
        ),
        "success",
    )
    for note in result.adjustments:
        flash(note, "warning")
    return redirect(url_for("mous.detail", mou_id=result.mou.id))


# ---- commitments ---------------------------------------------------------------------


@bp.post("/<int:mou_id>/commitments")
@roles_required(*EDITORS)
def add_commitment(mou_id: int) -> ResponseReturnValue:
    mou = editable_or_404(MOU, mou_id)
    form = CommitmentForm(mou)
    if form.validate_on_submit():
        service = db.session.get(Service, form.service_id.data)
        school = db.session.get(School, form.school_id.data)
        if service is None or school is None:
            abort(404)
        was_signed = mou.partner_signed
        try:
            mou_services.add_commitment(mou, service, school, form.amount.data, by=_me())
        except Refused as err:
            show_refusal(err, form)
        else:
            flash(_("Commitment added."), "success")
            _warn_if_unsigned(mou, was_signed)
            return redirect(url_for("mous.detail", mou_id=mou.id, _anchor="commitments"))
    return _detail_page(mou, form, 400)


@bp.post("/<int:mou_id>/commitments/<int:commitment_id>/delete")
@roles_required(*EDITORS)
def delete_commitment(mou_id: int, commitment_id: int) -> ResponseReturnValue:
    mou = editable_or_404(MOU, mou_id)
    commitment = db.session.get(Commitment, commitment_id)
    if commitment is None or commitment.mou_id != mou.id:
        abort(404)
    was_signed = mou.partner_signed
    try:
        mou_services.remove_commitment(mou, commitment, by=_me())
    except Refused as err:
        show_refusal(err)
    else:
        flash(_("Commitment removed."), "success")
        _warn_if_unsigned(mou, was_signed)
    return redirect(url_for("mous.detail", mou_id=mou.id, _anchor="commitments"))


# ---- amendments and versions ---------------------------------------------------------


@bp.post("/<int:mou_id>/amend")
@roles_required(*EDITORS)
def amend(mou_id: int) -> ResponseReturnValue:
    mou = editable_or_404(MOU, mou_id)
    try:
        amendment = mou_services.amend(mou, by=_me())
    except mou_services.AmendmentInProgress as err:
        existing_id = err.amendment.id
        show_refusal(err)
        return redirect(url_for("mous.detail", mou_id=existing_id))
    except Refused as err:
        show_refusal(err)
        return redirect(url_for("mous.detail", mou_id=mou_id))
    flash(
        _(
            "Amendment drafted. Change its dates, commitments or terms; both sides sign it, "
            "and once active it becomes the MOU's next version."
        ),
        "success",
    )
    return redirect(url_for("mous.detail", mou_id=amendment.id))


@bp.get("/<int:mou_id>/versions/<int:number>")
@roles_required(*READERS, Role.PARTNER)
def version(mou_id: int, number: int) -> ResponseReturnValue:
    mou = viewable_or_404(MOU, mou_id)
    found = db.session.scalars(
        select(MOUVersion).where(MOUVersion.mou_id == mou.id, MOUVersion.number == number)
    ).first()
    if found is None:
        abort(404)
    return render_template("mous/version.html", mou=mou, version=found, view=versions.read(found))


# ---- the partner's sign-off, the printable page and the PDF ----------------------------


@bp.route("/<int:mou_id>/sign", methods=["GET", "POST"])
@roles_required(Role.PARTNER)
def sign(mou_id: int) -> ResponseReturnValue:
    mou = viewable_or_404(MOU, mou_id)  # another partner's MOU is a 404
    form = SignForm()
    if not mou_services.is_editable(mou):
        flash(_("Only a draft or submitted MOU can be signed."), "error")
        return redirect(url_for("mous.detail", mou_id=mou.id))
    if form.validate_on_submit():
        try:
            mou_services.sign_as_partner(mou, _me(), form.name.data or "", form.title.data or "")
        except Refused as err:
            show_refusal(err, form)
        else:
            flash(_("You signed this MOU for %(partner)s.", partner=mou.partner.name), "success")
            return redirect(url_for("mous.detail", mou_id=mou.id))
    status = 400 if request.method == "POST" else 200
    return render_template("mous/sign.html", mou=mou, form=form), status


@bp.get("/<int:mou_id>/print")
@roles_required(*READERS, Role.PARTNER)
def printable(mou_id: int) -> ResponseReturnValue:
    mou = viewable_or_404(MOU, mou_id)
    return render_template("mous/print.html", mou=mou)


@bp.get("/<int:mou_id>/pdf")
@roles_required(*READERS, Role.PARTNER)
def as_pdf(mou_id: int) -> ResponseReturnValue:
    mou = viewable_or_404(MOU, mou_id)
    return as_download(
        Response(pdf.render(mou), mimetype="application/pdf"), f"mou-{mou.id}", ".pdf"
    )
