"""Spanish and Portuguese pages carry no English the catalog could have translated, nor codes.

The main pages are crawled in each language as a coordinator, a leader and an admin. A
text that equals a message id the catalog translates differently was shown without
passing through gettext at request time (evaluated at import, or never marked but
equal to a marked string); a snake_case word is a stored code shown as it is.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask_babel import gettext, refresh

from registry.extensions import db
from registry.models import AuditEntry
from registry.vocabulary import MOUStatus

ROOT = Path(__file__).resolve().parent.parent
CODE = re.compile(r"^[a-z]+(?:_[a-z]+)+$")


class TextNodes(HTMLParser):
    """The visible text of a page, and the texts of its title, aria-label, placeholder and alt.

    Text in an element marked as another language (the language switcher's "English") is
    left out: it is meant to be in that language.
    """

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang
        self.texts: list[str] = []
        self._hidden = 0
        self._foreign_tag: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        language = dict(attrs).get("lang")
        if tag != "html" and language and language != self.lang:
            self._foreign_tag = tag
        for name, value in attrs:
            if name in ("title", "aria-label", "placeholder", "alt") and value:
                self.texts.append(" ".join(value.split()))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden -= 1
        if tag == self._foreign_tag:
            self._foreign_tag = None

    def handle_data(self, data: str) -> None:
        if not self._hidden and not self._foreign_tag and data.strip():
            self.texts.append(" ".join(data.split()))


def translated_differently(lang: str) -> set[str]:
    """The message ids the language's catalog translates into something else."""
    with open(ROOT / f"registry/translations/{lang}/LC_MESSAGES/messages.po", "rb") as fh:
        catalog = read_po(fh, locale=lang)
    return {
        m.id
        for m in catalog
        if m.id and isinstance(m.id, str) and m.string and m.string != m.id and not m.fuzzy
    }


@pytest.fixture
def district(make_school, make_partner, make_service, make_mou, definition):
    """A small district: schools with indicators, a partner, a service and an active MOU."""
    schools = [
        make_school(enrollment=12717, indicators={"pct_high_needs": Decimal(v)}) for v in (20, 80)
    ]
    partner = make_partner()
    service = make_service(partner=partner, capacity=Decimal(20000))
    mou = make_mou(
        partner=partner,
        schools=schools,
        commitments=[(service, schools[0], 30), (service, schools[1], 60)],
        status=MOUStatus.ACTIVE,
        start_date=date(2025, 9, 1),
        end_date=date(2026, 6, 30),
    )
    db.session.add(
        AuditEntry(
            at=datetime(2026, 1, 15, 17, 5, tzinfo=UTC),
            user_email="system",
            action="status",
            entity="mou",
            entity_id=mou.id,
            before={"status": "submitted", "dpa_status": "pending", "dpa_expiry": None},
            after={"status": "active", "dpa_status": "signed", "dpa_expiry": "2026-06-30"},
        )
    )
    db.session.commit()
    return {"school": schools[0], "partner": partner, "service": service, "mou": mou}


READ = [
    "/",
    "/partners/",
    "/partners/{partner}",
    "/schools/",
    "/schools/{school}",
    "/services/",
    "/services/{service}",
    "/mous/",
    "/mous/{mou}",
    "/equity/",
    "/equity/need",
    "/equity/need/definitions",
    "/scenarios/",
]
PAGES = {
    "coordinator": [
        *READ,
        "/partners/new",
        "/partners/{partner}/edit",
        "/services/new",
        "/services/{service}/edit",
        "/schools/new",
        "/schools/{school}/edit",
        "/schools/import",
        "/mous/new",
    ],
    "leader": [*READ, "/equity/need/compare", "/equity/need/definitions/new", "/scenarios/new"],
    "admin": ["/users/", "/users/new"],
}


@pytest.mark.parametrize("lang", ["es", "pt"])
@pytest.mark.parametrize("role", list(PAGES))
def test_pages_show_no_translatable_english_and_no_codes(client, login, district, role, lang):
    login(role)
    translated = translated_differently(lang)
    ids = {name: obj.id for name, obj in district.items()}
    found: dict[str, list[str]] = {}
    for pattern in PAGES[role]:
        url = pattern.format(**ids)
        refresh()  # the locale is cached on the `g` the app fixture shares between requests
        response = client.get(f"{url}?lang={lang}")
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        assert f'<html lang="{lang}">' in page, url
        parser = TextNodes(lang)
        parser.feed(page)
        leftovers = [t for t in parser.texts if t in translated or CODE.match(t)]
        if leftovers:
            found[url] = sorted(set(leftovers))
    assert found == {}


def test_the_mou_history_names_fields_and_values_in_the_readers_language(client, login, district):
    login("coordinator")
    refresh()
    page = client.get(f"/mous/{district['mou'].id}?lang=es").get_data(as_text=True)
    with client.application.test_request_context("/?lang=es"):
        status = gettext("Status")
        active = MOUStatus.ACTIVE.label
        system = gettext("The registry (no signed-in user)")
    assert f"<strong>{status}</strong>" in page
    assert f"→ {active}</li>" in page
    assert "<strong>dpa_status</strong>" not in page and "→ signed" not in page
    assert "30 jun 2026" in page  # the ISO date in the audit row, shown as a local date
    assert system in page and ">system<" not in page


@pytest.mark.parametrize("code", ["optimal", "time_limit", "infeasible"])
def test_an_engine_status_has_a_label_not_its_code(app, code):
    from registry.models.scenario import ScenarioRun

    with app.test_request_context("/?lang=es"):
        label = ScenarioRun(engine_status=code).engine_status_label
    assert label and label != code and "_" not in label
    assert ScenarioRun(engine_status=None).engine_status_label == ""


@pytest.mark.parametrize(
    "recorded, english",
    [
        ("coordinator@district.example", "coordinator@district.example"),
        ("system", "The registry (no signed-in user)"),
        ("", "The registry (no signed-in user)"),
        ("cli", "The registry (a command run on its server)"),
        ("cli:send-reminders", "The registry (a command run on its server)"),
        ("scenario-worker", "The registry (the scenario worker)"),
    ],
)
def test_a_history_names_who_in_words_never_an_internal_actor_name(app, recorded, english):
    from registry.formats import actor

    with app.test_request_context("/?lang=es"):
        shown = actor(recorded)
        assert shown == (english if "@" in english else gettext(english))
    assert "@" in recorded or (shown != english and "cli" not in shown and "-" not in shown)
