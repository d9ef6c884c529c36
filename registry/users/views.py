"""Pages for user accounts: list, create, edit (admins only; anyone else gets a 404)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from registry import security_log
from registry.access import roles_required
from registry.exports import Column, Kind, export_format, export_response
from registry.extensions import db
from registry.listing import paginate, search, sort
from registry.models import Partner, User
from registry.pickers.steps import is_picker_step, picker_step
from registry.refusals import Refused, show_refusal
from registry.users import services
from registry.users.forms import UserCreateForm, UserEditForm
from registry.vocabulary import Role

bp = Blueprint("users", __name__, url_prefix="/users")

EXPORT_COLUMNS: list[Column[User]] = [
    Column(_l("Email"), lambda u: u.email),
    Column(_l("Name"), lambda u: u.name),
    Column(_l("Role"), lambda u: u.role, Kind.LABEL),
    Column(_l("Partner"), lambda u: u.partner.name if u.partner else None),
    Column(_l("Active"), lambda u: u.active, Kind.YES_NO),
]

SORTS = {"email": User.email, "name": User.name, "role": User.role, "partner": Partner.name}


@bp.get("/")
@roles_required(Role.ADMIN)
def index() -> ResponseReturnValue:
    stmt = select(User).outerjoin(Partner, Partner.id == User.partner_id)
    stmt = stmt.options(selectinload(User.partner))
    stmt = search(stmt, request.args.get("q"), User.email, User.name, Partner.name)
    role = request.args.get("role")
    if role in {r.value for r in Role}:
        stmt = stmt.where(User.role == Role(role))
    active = request.args.get("active")
    if active in ("yes", "no"):
        stmt = stmt.where(User.active.is_(active == "yes"))
    stmt, sorting = sort(stmt, SORTS, "email")
    stmt = stmt.order_by(User.id)
    if fmt := export_format():
        return export_response(fmt, "users", EXPORT_COLUMNS, db.session.scalars(stmt))
    return render_template(
        "users/list.html", pagination=paginate(stmt), sorting=sorting, roles=Role
    )


@bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def new() -> ResponseReturnValue:
    form = UserCreateForm()
    if picker_step(form):
        return _form_page(form, None)
    if form.validate_on_submit():
        try:
            user = services.create_user(
                email=form.email.data or "",
                role=form.role.data or "",
                partner_id=form.chosen_partner_id,
                name=form.name.data or "",
                password=form.password.data or "",
                must_change_password=True,
            )
        except Refused as err:
            show_refusal(err, form)
        else:
            flash(_("Account %(email)s created.", email=user.email), "success")
            return redirect(url_for("users.index"))
    return _form_page(form, None)


@bp.route("/<int:user_id>/edit", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit(user_id: int) -> ResponseReturnValue:
    user = db.get_or_404(User, user_id)
    # The record fills the form only on GET: a POST missing a field must not borrow it.
    form = UserEditForm(obj=user) if request.method == "GET" else UserEditForm()
    if request.method == "GET":
        form.partner_id.data = user.partner_id
    if picker_step(form):
        return _form_page(form, user)
    if form.validate_on_submit():
        try:
            services.update_user(
                user,
                name=form.name.data or "",
                role=form.role.data or "",
                partner_id=form.chosen_partner_id,
                active=bool(form.active.data),
                password=form.password.data or None,
                acting=current_user,
                version=form.version.data,
                check=True,
            )
        except Refused as err:
            show_refusal(err, form)
        else:
            if form.password.data:
                security_log.record(
                    "password.set_by_admin",
                    user_id=user.id,
                    email=user.email,
                    admin_id=current_user.id,
                )
            flash(_("Account %(email)s saved.", email=user.email), "success")
            return redirect(url_for("users.index"))
    return _form_page(form, user)


def _form_page(form: UserCreateForm | UserEditForm, user: User | None) -> ResponseReturnValue:
    # A POST that got here failed (a picker's search-then-choose step is no failure).
    status = 400 if request.method == "POST" and not is_picker_step() else 200
    return render_template("users/form.html", form=form, user=user), status
