"""Invitations: a one-time link, valid 7 days, to create a partner account."""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from registry import audit
from registry.extensions import db
from registry.invitations import services as invitation_services
from registry.models import Invitation, User
from registry.refusals import Refused
from registry.vocabulary import Role
from tests.conftest import SMTPInbox

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _changes_start_unattributed():
    audit.set_actor(audit.SYSTEM)


def _invite(client, login, make_partner, smtp_server: SMTPInbox, email="lee@partner.example"):
    partner = make_partner()
    login("coordinator")
    response = client.post(f"/invitations/new?partner_id={partner.id}", data={"email": email})
    assert response.status_code == 302, response.get_data(as_text=True)
    [mail] = smtp_server.to(email)
    token = re.search(r"/invitations/(\S+)", mail.get_content()).group(1)
    client.post("/logout")
    return partner, token


def _accept(client, token, name="Lee Park", password=PASSWORD, confirm=None):
    return client.post(
        f"/invitations/{token}",
        data={"name": name, "password": password, "confirm": confirm or password},
    )


def test_an_invitation_creates_a_partner_account_and_signs_in(
    client, login, make_partner, smtp_server
):
    partner, token = _invite(client, login, make_partner, smtp_server)
    invitation = db.session.scalars(select(Invitation)).one()
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in invitation.token_hash
    page = client.get(f"/invitations/{token}").get_data(as_text=True)
    assert "lee@partner.example" in page and partner.name in page

    response = _accept(client, token)
    assert response.status_code == 302 and response.location.endswith("/partners/mine")
    user = db.session.scalars(select(User).where(User.email == "lee@partner.example")).one()
    assert user.role == Role.PARTNER and user.partner_id == partner.id and user.name == "Lee Park"
    assert user.check_password(PASSWORD)
    assert client.get("/partners/mine").status_code == 200  # signed in


def test_the_link_works_once(client, login, make_partner, smtp_server):
    _partner, token = _invite(client, login, make_partner, smtp_server)
    assert _accept(client, token).status_code == 302
    client.post("/logout")
    again = client.get(f"/invitations/{token}")
    assert again.status_code == 410
    assert "already used" in again.get_data(as_text=True)
    assert _accept(client, token, name="Someone Else").status_code == 410
    assert db.session.scalars(select(User).where(User.role == Role.PARTNER)).all()[0].name == (
        "Lee Park"
    )


def test_an_unknown_link_is_404(client):
    assert client.get("/invitations/not-a-token").status_code == 404


def test_the_password_rules_apply(client, login, make_partner, smtp_server):
    _partner, token = _invite(client, login, make_partner, smtp_server)
    short = _accept(client, token, password="short", confirm="short")
    assert short.status_code == 400
    assert "at least 12 characters" in short.get_data(as_text=True)
    mismatch = _accept(client, token, confirm="something else entirely")
    assert mismatch.status_code == 400
    assert db.session.scalar(select(Invitation.accepted_at)) is None  # still usable
    assert _accept(client, token).status_code == 302


def test_a_link_expires_after_seven_days(app, make_partner, make_user):
    partner = make_partner()
    coordinator = make_user("coordinator")
    sent = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    invitation, _token = invitation_services.invite(
        partner, "kim@partner.example", coordinator, sent
    )
    db.session.commit()
    assert invitation.expires_at == sent + timedelta(days=7)
    almost = sent + timedelta(days=7) - timedelta(minutes=1)
    assert invitation_services.problem(invitation, almost) is None
    late = sent + timedelta(days=7)
    assert "expired" in (invitation_services.problem(invitation, late) or "")
    with pytest.raises(Refused, match="expired"):
        invitation_services.accept(invitation, "Kim", PASSWORD, late)
    db.session.rollback()
    assert db.session.scalar(select(User).where(User.email == "kim@partner.example")) is None


def test_an_expired_link_page_says_so(client, make_partner, make_user):
    partner = make_partner()
    coordinator = make_user("coordinator")
    long_ago = datetime.now(UTC) - timedelta(days=8)
    _invitation, token = invitation_services.invite(
        partner, "old@partner.example", coordinator, long_ago
    )
    db.session.commit()
    response = client.get(f"/invitations/{token}")
    assert response.status_code == 410
    assert "expired" in response.get_data(as_text=True)


def test_only_coordinators_invite(client, login, make_partner):
    partner = make_partner()
    login("partner", partner=partner)
    assert client.get(f"/invitations/new?partner_id={partner.id}").status_code == 404
    assert (
        client.post(
            f"/invitations/new?partner_id={partner.id}", data={"email": "x@partner.example"}
        ).status_code
        == 404
    )


def test_an_existing_account_is_not_invited(client, login, make_partner, make_user):
    partner = make_partner()
    make_user("leader", email="taken@district.example")
    login("coordinator")
    response = client.post(
        f"/invitations/new?partner_id={partner.id}", data={"email": "Taken@district.example"}
    )
    assert response.status_code == 400
    assert "already exists" in response.get_data(as_text=True)


def test_without_mail_the_coordinator_gets_the_link(app, client, login, make_partner):
    app.config["SMTP_URL"] = None
    partner = make_partner()
    login("coordinator")
    response = client.post(
        f"/invitations/new?partner_id={partner.id}",
        data={"email": "lee@partner.example"},
        follow_redirects=True,
    )
    html = response.get_data(as_text=True)
    assert "could not be sent" in html
    token = re.search(r"registry\.test/invitations/([A-Za-z0-9_\-]+)", html).group(1)
    assert invitation_services.find(token) is not None


def test_two_clients_racing_on_one_link_make_one_account(
    app, test_database, make_partner, make_user
):
    """On PostgreSQL: the claim is one conditional UPDATE, so the loser is refused in words."""
    if not test_database.is_postgres:
        pytest.skip("a write race needs PostgreSQL's row locks")
    partner = make_partner()
    sent = datetime.now(UTC)
    _invitation, token = invitation_services.invite(
        partner, "race@partner.example", make_user("coordinator"), sent
    )
    db.session.commit()
    start = threading.Barrier(2)
    answers: list[int] = []
    errors: list[BaseException] = []

    def send(name: str) -> None:
        try:
            client = app.test_client()
            start.wait(timeout=30)
            response = client.post(
                f"/invitations/{token}",
                data={"name": name, "password": PASSWORD, "confirm": PASSWORD},
            )
            answers.append(response.status_code)
        except BaseException as err:
            errors.append(err)
            start.abort()

    threads = [threading.Thread(target=send, args=(n,)) for n in ("First", "Second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert 302 in answers and len(answers) == 2
    assert sorted(answers)[1] in (400, 410)
    db.session.expire_all()
    assert (
        len(db.session.scalars(select(User).where(User.email == "race@partner.example")).all()) == 1
    )
