"""The language switcher keeps the page: its query on a GET, its form on a page answering a POST."""

from __future__ import annotations

import importlib
import pkgutil
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from flask_babel import refresh
from flask_wtf import FlaskForm
from sqlalchemy import select

import registry
from registry.extensions import db
from registry.fields import RegistryForm
from registry.models import Commitment, Partner
from registry.vocabulary import Unit
from tests.test_partners import form_data


class _Switcher(HTMLParser):
    """The language links, buttons and re-sent fields of a page's header."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.links: dict[str, str] = {}
        self.buttons: dict[str, str] = {}
        self.resent: list[tuple[str, str]] = []
        self.form_action = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "nav" and "langs" in a.get("class", ""):
            self.inside = True
        if not self.inside:
            return
        if tag == "a":
            self.links[a["lang"]] = a["href"]
        elif tag == "form":
            self.form_action = a["action"]
        elif tag == "button":
            self.buttons[a["lang"]] = a["formaction"]
            assert a["name"] == "_lang_only"
        elif tag == "input" and a.get("type") == "hidden":
            self.resent.append((a["name"], a["value"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav":
            self.inside = False


def switcher(response) -> _Switcher:
    parsed = _Switcher()
    parsed.feed(response.get_data(as_text=True))
    return parsed


def test_a_language_link_keeps_the_path_and_query(client, login):
    login("coordinator")
    refresh()  # the sign-in request's locale is cached on the test's shared `g`
    response = client.get("/mous/?status=active&q=Lima+%26+Co&lang=es&school=2")
    links = switcher(response).links
    assert links["pt"] == "/mous/?status=active&q=Lima+%26+Co&school=2&lang=pt"
    assert links["en"] == "/mous/?status=active&q=Lima+%26+Co&school=2&lang=en"
    assert 'lang="es"' in response.get_data(as_text=True).split(">", 2)[1]
    assert client.get(links["pt"]).status_code == 200


def test_a_page_answering_a_post_switches_by_sending_the_form_again(client, login):
    login("coordinator")
    response = client.post("/partners/new", data=form_data(email="not-an-email"))
    assert response.status_code == 400
    parsed = switcher(response)
    assert parsed.links == {}
    assert parsed.buttons["es"] == "/partners/new?lang=es"
    resent = dict(parsed.resent)
    assert resent["email"] == "not-an-email" and resent["name"] == "Harbor Youth Collaborative"
    assert [v for k, v in parsed.resent if k == "languages"] == ["English", "Portuguese"]

    refresh()
    again = client.post(parsed.buttons["es"], data={**resent, "_lang_only": "es"})
    page = again.get_data(as_text=True)
    assert again.status_code == 400
    assert '<html lang="es">' in page
    assert 'value="not-an-email"' in page  # what was typed is still there, its error too
    assert 'aria-invalid="true"' in page


def test_a_valid_form_sent_to_switch_language_is_not_saved(client, login):
    login("coordinator")
    refresh()
    response = client.post("/partners/new?lang=pt", data={**form_data(), "_lang_only": "pt"})
    assert response.status_code in (200, 400)
    assert '<html lang="pt">' in response.get_data(as_text=True)
    assert db.session.scalars(select(Partner)).all() == []
    # The same form sent for real is saved.
    assert client.post("/partners/new", data=form_data()).status_code == 302
    assert len(db.session.scalars(select(Partner)).all()) == 1


def test_switching_language_on_a_post_only_address_neither_405s_nor_acts(
    client, login, make_mou, make_service, make_partner
):
    login("coordinator")
    seats = make_service(partner=make_partner(), capacity=Decimal(100), unit=Unit.SEATS)
    mou = make_mou(partner=seats.partner)
    url = f"/mous/{mou.id}/commitments"
    data = {"service_id": seats.id, "school_id": mou.schools[0].id, "amount": "abc"}
    failed = client.post(url, data=data)
    assert failed.status_code == 400
    assert switcher(failed).buttons["pt"] == f"{url}?lang=pt"

    valid = {**data, "amount": "5", "_lang_only": "pt"}
    response = client.post(f"{url}?lang=pt", data=valid)
    assert response.status_code != 405
    assert 'value="5"' in response.get_data(as_text=True)
    assert db.session.scalars(select(Commitment)).all() == []


def test_the_login_page_resends_the_email_but_never_the_password(client, make_user):
    make_user(email="someone@example.org")
    failed = client.post("/login", data={"email": "someone@example.org", "password": "wrong pw"})
    assert failed.status_code == 400
    resent = dict(switcher(failed).resent)
    assert resent.get("email") == "someone@example.org"
    assert "password" not in resent
    assert "wrong pw" not in failed.get_data(as_text=True)


def test_every_form_is_a_registry_form():
    for module in pkgutil.walk_packages(registry.__path__, "registry."):
        importlib.import_module(module.name)
    pending = list(FlaskForm.__subclasses__())
    while pending:
        form = pending.pop()
        pending.extend(form.__subclasses__())
        if form.__module__.startswith("registry.") and form is not RegistryForm:
            assert issubclass(form, RegistryForm), f"{form.__module__}.{form.__name__}"


@pytest.mark.parametrize(
    "field, purpose",
    [("email", "username"), ("password", "current-password")],
)
def test_the_login_form_names_its_input_purposes(client, field, purpose):
    page = client.get("/login").get_data(as_text=True)
    assert f'autocomplete="{purpose}" id="{field}"' in page


def test_a_language_chosen_on_an_address_that_redirects_is_remembered(client, login):
    login("partner")
    assert client.get("/?lang=es").status_code == 302  # a partner's home is its own listing
    refresh()
    page = client.get("/partners/", follow_redirects=True).get_data(as_text=True)
    assert 'lang="es"' in page.split(">", 2)[1]
