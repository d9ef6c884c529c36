"""User accounts: admins only; the account rules; the create-user command."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from registry.audit import SYSTEM, set_actor
from registry.extensions import db
from registry.models import User
from registry.refusals import Refused
from registry.users.services import create_user, update_user
from registry.vocabulary import Role
from tests.conftest import PASSWORD
from tests.exported import csv_rows

NEW_PASSWORD = "a much longer passphrase"


@pytest.fixture(autouse=True)
def _changes_start_unattributed() -> None:
    # The signed-in user of an earlier test's request lingers in the audit context; on
    # PostgreSQL its id (gone with that test's rows) would break the audit foreign key.
    set_actor(SYSTEM)


# ---- access ----------------------------------------------------------------------------

PAGES = ["/users/", "/users/new", "/users/{id}/edit"]


@pytest.mark.parametrize(
    "role, status",
    [("admin", 200), ("coordinator", 404), ("leader", 404), ("partner", 404)],
)
@pytest.mark.parametrize("page", PAGES)
def test_only_admins_open_user_pages(client, login, make_user, role, status, page):
    other = make_user("leader")
    login(role)
    assert client.get(page.format(id=other.id)).status_code == status


@pytest.mark.parametrize("role", ["coordinator", "leader", "partner"])
def test_non_admins_cannot_create_accounts(client, login, role):
    login(role)
    response = client.post(
        "/users/new",
        data={
            "email": "x@district.example",
            "role": "admin",
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert response.status_code == 404
    assert db.session.scalar(select(User).where(User.email == "x@district.example")) is None


def test_missing_user_is_404(client, login):
    login("admin")
    assert client.get("/users/99999/edit").status_code == 404
    assert client.get("/users/99999999999999999999/edit").status_code == 404


# ---- list ---------------------------------------------------------------------------------


def test_list_shows_filters_and_exports(client, login, make_user, make_partner):
    partner = make_partner(name="Friends of Reading")
    make_user("partner", partner=partner, name="Pat Partner")
    make_user("leader", name="Lee Leader", active=False)
    login("admin")
    page = client.get("/users/").get_data(as_text=True)
    assert "Friends of Reading" in page
    assert "Lee Leader" in page
    partners_only = client.get("/users/?role=partner").get_data(as_text=True)
    assert "Pat Partner" in partners_only and "Lee Leader" not in partners_only
    inactive = client.get("/users/?active=no").get_data(as_text=True)
    assert "Lee Leader" in inactive and "Pat Partner" not in inactive
    assert "Lee Leader" in client.get("/users/?q=lee").get_data(as_text=True)
    assert client.get("/users/?role=wizard&sort=-partner&page=x").status_code == 200
    rows = csv_rows(client.get("/users/?format=csv"))
    assert rows[0] == ["Email", "Name", "Role", "Partner", "Active"]
    assert len(rows) == 4


# ---- create ---------------------------------------------------------------------------


def test_admin_creates_a_partner_account(client, login, make_partner):
    partner = make_partner()
    login("admin")
    response = client.post(
        "/users/new",
        data={
            "email": "New.Person@Partner.example",
            "name": "New Person",
            "role": "partner",
            "partner_id": str(partner.id),
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "new.person@partner.example"))
    assert user.partner_id == partner.id
    assert user.password_hash.startswith("$argon2")
    assert user.check_password(NEW_PASSWORD)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"email": "not-an-email"}, "Invalid email address."),
        ({"role": "wizard"}, "Not a valid choice"),
        ({"password": "short", "confirm": "short"}, "between 12 and 200"),
        ({"confirm": "something else entirely"}, "The passwords differ."),
        ({"role": "partner"}, "A partner account needs a partner organisation."),
        ({"partner_id": "999999"}, "Not a valid choice"),
    ],
)
def test_create_form_refuses_bad_values(client, login, overrides, message):
    login("admin")
    data = {
        "email": "someone@district.example",
        "role": "coordinator",
        "partner_id": "",
        "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    }
    data.update(overrides)
    response = client.post("/users/new", data=data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == "someone@district.example")) is None


def test_partner_link_is_refused_for_other_roles(client, login, make_partner):
    partner = make_partner()
    login("admin")
    response = client.post(
        "/users/new",
        data={
            "email": "coord@district.example",
            "role": "coordinator",
            "partner_id": str(partner.id),
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert response.status_code == 400
    assert "Only partner accounts are linked" in response.get_data(as_text=True)


def test_email_is_unique_ignoring_case(app, make_user):
    existing = make_user("leader")
    with pytest.raises(Refused, match="already exists"):
        create_user(email=existing.email.upper(), role="leader", password=NEW_PASSWORD)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"email": "nobody"}, "not an email address"),
        ({"role": "wizard"}, "Unknown role"),
        ({"role": "partner"}, "needs a partner"),
        ({"role": "partner", "partner_id": 424242}, "no partner with id 424242"),
        ({"password": "x" * 11}, "at least 12"),
    ],
)
def test_create_user_rules(app, kwargs, message):
    values = {"email": "a@district.example", "role": "leader", "password": NEW_PASSWORD}
    values.update(kwargs)
    with pytest.raises(Refused, match=message):
        create_user(**values)


# ---- edit ------------------------------------------------------------------------------


def _edit(client, user, **overrides):
    data = {
        "name": user.name,
        "role": user.role.value,
        "partner_id": str(user.partner_id or ""),
        "active": "y" if user.active else "",
        "password": "",
        "confirm": "",
        "version": str(user.version),
    }
    data.update(overrides)
    return client.post(f"/users/{user.id}/edit", data=data)


def test_admin_changes_role_deactivates_and_resets_password(client, login, make_user):
    user = make_user("leader")
    login("admin")
    response = _edit(
        client, user, role="coordinator", active="", password=NEW_PASSWORD, confirm=NEW_PASSWORD
    )
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.role == Role.COORDINATOR
    assert user.active is False
    assert user.check_password(NEW_PASSWORD)


def test_blank_password_keeps_the_old_one(client, login, make_user):
    user = make_user("leader")
    login("admin")
    assert _edit(client, user, name="Renamed").status_code == 302
    db.session.refresh(user)
    assert user.name == "Renamed"
    assert user.check_password(PASSWORD)


def test_short_new_password_is_refused(client, login, make_user):
    user = make_user("leader")
    login("admin")
    response = _edit(client, user, password="tooshort", confirm="tooshort")
    assert response.status_code == 400
    db.session.refresh(user)
    assert user.check_password(PASSWORD)


@pytest.mark.parametrize("change", [{"active": ""}, {"role": "coordinator"}])
def test_admin_cannot_lock_themself_out(client, login, make_user, change):
    make_user("admin")  # another admin exists, so only the self-rule applies
    me = login("admin")
    response = _edit(client, me, **change)
    assert response.status_code == 400
    assert "You cannot deactivate your own account" in response.get_data(as_text=True)
    db.session.refresh(me)
    assert me.role == Role.ADMIN and me.active


def test_last_admin_cannot_be_demoted(app, make_user):
    only = make_user("admin")
    with pytest.raises(Refused, match="last active admin"):
        update_user(only, name="", role="leader", partner_id=None, active=True)


def test_deactivated_user_cannot_sign_in(client, make_user):
    user = make_user("coordinator", active=False)
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400


# ---- the command line ---------------------------------------------------------------------


def test_cli_creates_a_user(app, make_partner):
    partner = make_partner()
    result = app.test_cli_runner().invoke(
        args=[
            "create-user",
            "cli@partner.example",
            "--role",
            "partner",
            "--partner",
            str(partner.id),
            "--password",
            NEW_PASSWORD,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Created partner account cli@partner.example" in result.output
    user = db.session.scalar(select(User).where(User.email == "cli@partner.example"))
    assert user.partner_id == partner.id


@pytest.mark.parametrize(
    "args, message",
    [
        (["--role", "partner"], "needs a partner"),
        (["--role", "leader", "--partner", "1"], "Only partner accounts"),
        (["--role", "leader", "--password", "short"], "at least 12"),
    ],
)
def test_cli_refuses_bad_accounts(app, args, message):
    if "--password" not in args:
        args = [*args, "--password", NEW_PASSWORD]
    result = app.test_cli_runner().invoke(args=["create-user", "cli@district.example", *args])
    assert result.exit_code == 1
    assert message in result.output
    assert db.session.scalar(select(func.count(User.id))) == 0
