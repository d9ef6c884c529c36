"""The notification list: each user's own, marked read by POST, counted in the header;
and the page where users choose the language of their mail and notifications."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from registry.extensions import db
from registry.models import MOU, AuditEntry, Notification, ReminderKind, User
from registry.vocabulary import MOUStatus, Role


@pytest.fixture
def notify(app: Flask) -> Callable[..., Notification]:
    """A notification for a user (an MOU ending unless told otherwise)."""

    def make(user: User, **overrides: Any) -> Notification:
        values: dict[str, Any] = {
            "user_id": user.id,
            "kind": ReminderKind.MOU_ENDING,
            "item_id": 1,
            "title": "Reading Friends · 2025-26",
            "due_date": date(2026, 6, 30),
            "lead_days": 30,
        }
        values.update(overrides)
        notification = Notification(**values)
        db.session.add(notification)
        db.session.commit()
        return notification

    return make


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.PARTNER, Role.LEADER, Role.ADMIN])
def test_each_user_sees_only_their_own_notifications(
    client: FlaskClient,
    login: Callable[..., User],
    make_user: Callable[..., User],
    notify: Callable[..., Notification],
    role: Role,
) -> None:
    me = login(role)
    other = make_user(Role.COORDINATOR)
    notify(me, title="Mine · 2025-26")
    notify(other, title="Theirs · 2025-26")

    page = client.get("/notifications/").get_data(as_text=True)

    assert "The MOU Mine · 2025-26 ends on June 30, 2026" in page
    assert "Theirs" not in page


def test_a_notification_links_to_its_item(
    client: FlaskClient,
    login: Callable[..., User],
    make_mou: Callable[..., MOU],
    notify: Callable[..., Notification],
) -> None:
    me = login(Role.COORDINATOR)
    mou = make_mou(status=MOUStatus.ACTIVE)
    notify(me, item_id=mou.id, partner_id=mou.partner_id, title=mou.title)
    notify(
        me,
        kind=ReminderKind.INSURANCE_DATE_EXPIRING,
        item_id=mou.partner_id,
        partner_id=mou.partner_id,
        title=mou.partner.name,
    )
    page = client.get("/notifications/").get_data(as_text=True)
    assert f'href="/mous/{mou.id}"' in page
    assert f'href="/partners/{mou.partner_id}"' in page


def test_the_list_needs_a_sign_in(client: FlaskClient) -> None:
    response = client.get("/notifications/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_marking_a_notification_read_is_a_post_on_ones_own(
    client: FlaskClient,
    login: Callable[..., User],
    make_user: Callable[..., User],
    notify: Callable[..., Notification],
) -> None:
    me = login(Role.PARTNER)
    mine = notify(me)
    theirs = notify(make_user(Role.COORDINATOR))

    assert client.get(f"/notifications/{mine.id}/read").status_code == 405
    assert client.post(f"/notifications/{theirs.id}/read").status_code == 404
    assert client.post("/notifications/99999/read").status_code == 404
    response = client.post(f"/notifications/{mine.id}/read")

    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Notification, mine.id).read_at is not None  # type: ignore[union-attr]
    assert db.session.get(Notification, theirs.id).read_at is None  # type: ignore[union-attr]
    audited = db.session.scalars(
        select(AuditEntry.user_email).where(
            AuditEntry.entity == "notification",
            AuditEntry.entity_id == mine.id,
            AuditEntry.action == "update",
        )
    )
    assert list(audited) == [me.email]


def _unread_badge(page: str) -> str | None:
    marker = '<span class="badge">'
    if marker not in page:
        return None
    return page.split(marker, 1)[1].split("</span>", 1)[0]


def test_the_header_counts_the_unread(
    client: FlaskClient,
    login: Callable[..., User],
    make_user: Callable[..., User],
    notify: Callable[..., Notification],
) -> None:
    me = login(Role.COORDINATOR)
    first = notify(me, item_id=1)
    notify(me, item_id=2)
    notify(me, item_id=3, read_at=sa.func.now())
    notify(make_user(Role.COORDINATOR), item_id=4)

    assert _unread_badge(client.get("/").get_data(as_text=True)) == "2 unread"
    client.post(f"/notifications/{first.id}/read")
    assert _unread_badge(client.get("/").get_data(as_text=True)) == "1 unread"
    client.post("/notifications/read-all")
    page = client.get("/notifications/").get_data(as_text=True)
    assert _unread_badge(page) is None
    assert "You have 0 unread notifications." in page


@contextmanager
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)


def test_the_unread_count_costs_one_count_query(
    client: FlaskClient, login: Callable[..., User], notify: Callable[..., Notification]
) -> None:
    me = login(Role.COORDINATOR)
    for item in range(5):
        notify(me, item_id=item + 1)
    with statements() as seen:
        page = client.get("/").get_data(as_text=True)
    assert _unread_badge(page) == "5 unread"
    touching = [s for s in seen if "notification" in s.lower()]
    assert len(touching) == 1
    assert "count(" in touching[0].lower()


# ---- the user's language -----------------------------------------------------------------


def _checked(page: str) -> str | None:
    found = re.search(r'<input checked[^>]*name="locale"[^>]*value="(\w+)"', page)
    return found.group(1) if found else None


def test_a_user_chooses_the_language_of_their_mail(
    client: FlaskClient, login: Callable[..., User]
) -> None:
    me = login(Role.PARTNER)
    page = client.get("/account/language")
    assert page.status_code == 200
    assert _checked(page.get_data(as_text=True)) == "en"  # the default until chosen

    response = client.post("/account/language", data={"locale": "es"})

    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, me.id).locale == "es"  # type: ignore[union-attr]
    entry = db.session.scalars(
        select(AuditEntry).where(
            AuditEntry.entity == "user_account",
            AuditEntry.entity_id == me.id,
            AuditEntry.action == "update",
        )
    ).one()
    assert (entry.before, entry.after, entry.user_email) == (
        {"locale": ""},
        {"locale": "es"},
        me.email,
    )
    assert _checked(client.get("/account/language").get_data(as_text=True)) == "es"


@pytest.mark.parametrize("locale", ["fr", ""])
def test_a_language_the_registry_does_not_offer_is_refused(
    client: FlaskClient, login: Callable[..., User], locale: str
) -> None:
    me = login(Role.COORDINATOR)
    response = client.post("/account/language", data={"locale": locale})
    assert response.status_code == 400
    assert 'class="error-summary"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, me.id).locale == ""  # type: ignore[union-attr]


def test_the_language_page_needs_a_sign_in(client: FlaskClient) -> None:
    assert client.get("/account/language").status_code == 302
    assert client.post("/account/language", data={"locale": "es"}).status_code == 302
