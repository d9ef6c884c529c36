"""The public family directory: what it lists (and never), its searches, pages and caching."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import refresh

from registry import district_time
from registry.directory import listing
from registry.extensions import db
from registry.models import MOU, Offering, Partner, School, Service
from registry.vocabulary import Category, MOUStatus, PartnerStatus

TODAY = district_time.today()


class EachRequestItsLanguage(FlaskClient):
    """A client whose requests each choose their language: the test's shared app context
    (and `g`) would otherwise keep the first request's."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        refresh()
        return super().open(*args, **kwargs)


@pytest.fixture
def app_config() -> dict[str, Any]:
    """The listing's fingerprint asked afresh on every request: tests change data between them."""
    return {"DIRECTORY_FRESH_S": 0}


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    app.test_client_class = EachRequestItsLanguage
    return app.test_client()


@pytest.fixture
def listed(
    make_partner: Callable[..., Partner],
    make_service: Callable[..., Service],
    make_school: Callable[..., School],
    make_mou: Callable[..., MOU],
) -> Callable[..., Service]:
    """A service listed in the directory: approved partner, active MOU in force today."""

    def make(
        school: School | None = None,
        partner: Partner | None = None,
        mou: dict[str, Any] | None = None,
        **service_values: Any,
    ) -> Service:
        partner = partner or make_partner()
        service = make_service(partner=partner, **service_values)
        school = school or make_school()
        terms: dict[str, Any] = {
            "status": MOUStatus.ACTIVE,
            "start_date": TODAY - timedelta(days=60),
            "end_date": TODAY + timedelta(days=200),
        }
        terms.update(mou or {})
        make_mou(partner=partner, schools=[school], commitments=[(service, school, 10)], **terms)
        return service

    return make


def _names(client: FlaskClient, query: str = "") -> set[str]:
    html = client.get(f"/directory/{query}").get_data(as_text=True)
    return set(re.findall(r'<h3><a href="/directory/services/\d+">([^<]+)</a></h3>', html))


def test_a_listed_service_shows_without_signing_in(
    client: FlaskClient, listed: Callable[..., Service]
) -> None:
    service = listed(name="Homework Help")
    assert _names(client) == {"Homework Help"}
    page = client.get(f"/directory/services/{service.id}")
    assert page.status_code == 200
    assert service.partner.name in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "status", [PartnerStatus.SUSPENDED, PartnerStatus.APPLICANT, PartnerStatus.INACTIVE]
)
def test_a_partner_not_approved_is_never_listed(
    client: FlaskClient,
    listed: Callable[..., Service],
    make_partner: Callable[..., Partner],
    make_school: Callable[..., School],
    status: PartnerStatus,
) -> None:
    school = make_school(name="Maple Elementary")
    listed(school=school, name="Shown")
    hidden = listed(school=school, partner=make_partner(status=status), name="Hidden")
    assert _names(client) == {"Shown"}
    assert client.get(f"/directory/services/{hidden.id}").status_code == 404
    school_page = client.get(f"/directory/schools/{school.id}").get_data(as_text=True)
    assert "Shown" in school_page and "Hidden" not in school_page
    assert hidden.partner.name not in school_page


def test_an_inactive_service_is_never_listed(
    client: FlaskClient, listed: Callable[..., Service]
) -> None:
    listed(name="Shown")
    hidden = listed(name="Hidden", active=False)
    assert _names(client) == {"Shown"}
    assert client.get(f"/directory/services/{hidden.id}").status_code == 404


@pytest.mark.parametrize(
    "terms",
    [
        {"status": MOUStatus.EXPIRED},
        {"status": MOUStatus.TERMINATED},
        {"status": MOUStatus.DRAFT},
        {"status": MOUStatus.SUBMITTED},
        # Active, but its term ended yesterday or starts tomorrow.
        {"start_date": TODAY - timedelta(days=300), "end_date": TODAY - timedelta(days=1)},
        {"start_date": TODAY + timedelta(days=1), "end_date": TODAY + timedelta(days=300)},
    ],
    ids=["expired", "terminated", "draft", "submitted", "ended", "not-yet-started"],
)
def test_a_service_without_an_mou_in_force_is_never_listed(
    client: FlaskClient,
    listed: Callable[..., Service],
    make_school: Callable[..., School],
    terms: dict[str, Any],
) -> None:
    school = make_school()
    listed(name="Shown", school=school)
    hidden = listed(name="Hidden", school=school, mou=terms)
    assert _names(client) == {"Shown"}
    assert client.get(f"/directory/services/{hidden.id}").status_code == 404
    assert "Hidden" not in client.get(f"/directory/schools/{school.id}").get_data(as_text=True)


def test_a_service_with_no_mou_at_all_is_never_listed(
    client: FlaskClient, make_service: Callable[..., Service]
) -> None:
    hidden = make_service(name="Hidden")
    assert _names(client) == set()
    assert client.get(f"/directory/services/{hidden.id}").status_code == 404


def test_a_service_is_listed_where_committed_and_where_offered_under_the_mou(
    client: FlaskClient,
    listed: Callable[..., Service],
    make_school: Callable[..., School],
    make_offering: Callable[..., Offering],
) -> None:
    committed = make_school(name="Committed Elementary")
    covered = make_school(name="Covered Elementary")
    elsewhere = make_school(name="Elsewhere Elementary")
    service = listed(school=committed, name="Chess Club")
    mou = db.session.query(MOU).one()
    mou.schools.append(covered)
    db.session.commit()
    make_offering(service=service, school=covered, days="Tuesdays", time="3–4 pm")
    make_offering(service=service, school=elsewhere, days="Fridays")
    page = client.get(f"/directory/services/{service.id}").get_data(as_text=True)
    assert "Committed Elementary" in page and "Covered Elementary" in page
    assert "Tuesdays" in page and "3–4 pm" in page
    assert "Elsewhere Elementary" not in page and "Fridays" not in page
    covered_page = client.get(f"/directory/schools/{covered.id}").get_data(as_text=True)
    assert "Chess Club" in covered_page and "Tuesdays" in covered_page
    assert "Chess Club" not in client.get(f"/directory/schools/{elsewhere.id}").get_data(
        as_text=True
    )
    schools = client.get("/directory/schools/").get_data(as_text=True)
    assert "Covered Elementary" in schools and "Elsewhere Elementary" not in schools


@pytest.fixture
def district(
    listed: Callable[..., Service],
    make_school: Callable[..., School],
    make_partner: Callable[..., Partner],
) -> None:
    north = make_school(name="North Elementary", zip="01602")
    south = make_school(name="South High School", zip="01610", grades=["9", "10", "11", "12"])
    listed(
        school=north,
        name="Reading Buddies",
        category=Category.ACADEMIC_SUPPORT,
        grades=["K", "1", "2"],
        languages=["English", "Spanish"],
        partner=make_partner(name="Lantern Literacy"),
    )
    listed(
        school=south,
        name="Soccer Nights",
        category=Category.ATHLETICS,
        grades=["9", "10", "11", "12"],
        languages=["English", "Portuguese"],
        description="Pickup games under the lights.",
    )
    listed(
        school=north,
        name="Art Studio",
        category=Category.ARTS_ENRICHMENT,
        grades=["1", "2", "3"],
        languages=["English"],
    )


@pytest.mark.parametrize(
    "query, expected",
    [
        ("", {"Reading Buddies", "Soccer Nights", "Art Studio"}),
        ("?category=athletics", {"Soccer Nights"}),
        ("?grade=1", {"Reading Buddies", "Art Studio"}),
        ("?grade=10", {"Soccer Nights"}),  # "10", not "1" or "0"
        ("?language=Spanish", {"Reading Buddies"}),
        ("?language=Portuguese", {"Soccer Nights"}),
        ("?zip=01610", {"Soccer Nights"}),
        ("?school=north", {"Reading Buddies", "Art Studio"}),
        ("?q=lights", {"Soccer Nights"}),  # the description
        ("?q=LANTERN", {"Reading Buddies"}),  # the partner's name
        ("?q=studio&grade=2&zip=01602", {"Art Studio"}),
        ("?q=100%25", set()),  # a % is a character searched for, not a wildcard
        ("?category=nonsense&grade=99", {"Reading Buddies", "Soccer Nights", "Art Studio"}),
    ],
)
def test_searching(client: FlaskClient, district: None, query: str, expected: set[str]) -> None:
    assert _names(client, query) == expected


def test_the_language_choices_are_those_served_in_the_visitors_words(
    client: FlaskClient, district: None
) -> None:
    html = client.get("/directory/?lang=es").get_data(as_text=True)
    options = re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)</option>', html)
    assert ("Spanish", "Español") in options and ("Portuguese", "Portugués") in options
    assert all(value != "Arabic" for value, _ in options)


def test_a_zip_code_that_is_not_five_digits_is_said_so_and_ignored(
    client: FlaskClient, district: None
) -> None:
    html = client.get("/directory/?zip=12ab").get_data(as_text=True)
    assert 'class="error-summary"' in html and 'aria-invalid="true"' in html
    assert _names(client, "?zip=12ab") == {"Reading Buddies", "Soccer Nights", "Art Studio"}
    # The count says the zip code played no part in it, in the visitor's language.
    assert "3 services, the zip code left out" in " ".join(html.split())
    html = client.get("/directory/?zip=01610").get_data(as_text=True)
    assert "1 service" in html and "left out" not in html
    html = client.get("/directory/?zip=12ab&lang=es").get_data(as_text=True)
    assert "3 servicios, sin tener en cuenta el código postal" in " ".join(html.split())


def test_results_come_a_page_at_a_time(
    client: FlaskClient,
    make_partner: Callable[..., Partner],
    make_service: Callable[..., Service],
    make_school: Callable[..., School],
    make_mou: Callable[..., MOU],
) -> None:
    partner, school = make_partner(), make_school()
    services = [make_service(partner=partner, name=f"Club {n:02d}") for n in range(25)]
    make_mou(
        partner=partner,
        schools=[school],
        commitments=[(s, school, 1) for s in services],
        status=MOUStatus.ACTIVE,
        start_date=TODAY - timedelta(days=1),
        end_date=TODAY + timedelta(days=1),
    )
    first = client.get("/directory/").get_data(as_text=True)
    assert "25 services" in first and 'rel="next"' in first
    assert _names(client) == {f"Club {n:02d}" for n in range(listing.PER_PAGE)}
    assert _names(client, "?page=2") == {f"Club {n:02d}" for n in range(20, 25)}
    assert _names(client, "?page=999") == _names(client, "?page=2")  # past the end: the last
    past_the_end = client.get("/directory/?page=999").get_data(as_text=True)
    assert "Page 2 of 2" in " ".join(past_the_end.split())
    assert _names(client, "?page=x") == _names(client)


def test_nothing_internal_reaches_a_page(
    client: FlaskClient,
    listed: Callable[..., Service],
    make_partner: Callable[..., Partner],
    make_school: Callable[..., School],
    make_offering: Callable[..., Offering],
) -> None:
    school = make_school(name="Birch Elementary")
    partner = make_partner(
        name="Open Doors",
        contact_name="Zelda Internalname",
        insurance_liability=Decimal("7654321"),
        phone="508-555-0199",
        website="https://opendoors.example",
    )
    service = listed(
        school=school,
        partner=partner,
        name="Open Gym",
        capacity=Decimal(987),
        cost=Decimal(55555),
        mou={"signatories": "Signy Staffname", "notes": "Secret MOU note"},
    )
    make_offering(service=service, school=school, capacity=Decimal(444), student_fees="$5 a week")
    pages = [
        client.get(path).get_data(as_text=True)
        for path in (
            "/directory/",
            f"/directory/services/{service.id}",
            f"/directory/schools/{school.id}",
            "/directory/schools/",
        )
    ]
    service_page = pages[1]
    for shown in ("Open Gym", "Open Doors", "508-555-0199", "https://opendoors.example"):
        assert shown in service_page
    assert "$5 a week" in service_page
    for page in pages:
        for secret in (
            "Zelda",
            "7654321",
            "7,654,321",
            "987",
            "55555",
            "55,555",
            "444",
            "Signy",
            "Secret MOU note",
            "insurance",
            "Insurance",
            "capacity",
            "Capacity",
            "commit",
            "Commit",
        ):
            assert secret not in page, secret


def test_a_page_carries_a_weak_etag_and_a_304_is_sent_for_it(
    client: FlaskClient, listed: Callable[..., Service]
) -> None:
    service = listed(name="Homework Help")
    path = f"/directory/services/{service.id}"
    first = client.get(path)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == etag
    assert "max-age=300" in again.headers["Cache-Control"]
    # Another language is another page.
    spanish = client.get(path, headers={"Accept-Language": "es", "If-None-Match": etag})
    assert spanish.status_code == 200 and spanish.headers["ETag"] != etag
    # A change to what the page shows changes the tag.
    service.name = "Homework Help Plus"
    db.session.commit()
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and "Homework Help Plus" in changed.get_data(as_text=True)
    assert changed.headers["ETag"] != etag


def test_a_new_listing_elsewhere_changes_the_search_pages_tag(
    client: FlaskClient, listed: Callable[..., Service]
) -> None:
    listed(name="First")
    etag = client.get("/directory/").headers["ETag"]
    assert client.get("/directory/?grade=1").headers["ETag"] != etag
    listed(name="Second")
    assert client.get("/directory/", headers={"If-None-Match": etag}).status_code == 200


def test_pages_are_publicly_cacheable_and_vary_with_the_language_sources(
    client: FlaskClient, listed: Callable[..., Service], make_school: Callable[..., School]
) -> None:
    school = make_school()
    service = listed(school=school)
    for path in (
        "/directory/",
        "/directory/schools/",
        f"/directory/schools/{school.id}",
        f"/directory/services/{service.id}",
    ):
        response = client.get(path, headers={"Accept-Language": "pt"})
        assert response.status_code == 200
        assert response.cache_control.public and response.cache_control.max_age == 300
        assert {"Accept-Language", "Cookie"} <= set(response.vary)
        assert "Set-Cookie" not in response.headers


def test_a_page_that_remembers_a_language_in_a_cookie_is_private(
    client: FlaskClient, listed: Callable[..., Service]
) -> None:
    listed()
    response = client.get("/directory/?lang=es")
    assert "Set-Cookie" in response.headers
    assert response.cache_control.private and not response.cache_control.public
    # The language is remembered on the next page (from the cookie).
    assert '<html lang="es">' in client.get("/directory/schools/").get_data(as_text=True)


def test_missing_records_are_404s_not_cached(client: FlaskClient) -> None:
    response = client.get("/directory/services/12345")
    assert response.status_code == 404
    assert "ETag" not in response.headers
    assert client.get("/directory/schools/12345").status_code == 404


@pytest.mark.parametrize("lang", ["en", "es", "pt"])
def test_every_page_in_each_language(
    client: FlaskClient,
    listed: Callable[..., Service],
    make_school: Callable[..., School],
    lang: str,
) -> None:
    school = make_school()
    service = listed(school=school)
    for path in (
        "/directory/",
        "/directory/schools/",
        f"/directory/schools/{school.id}",
        f"/directory/services/{service.id}",
    ):
        html = client.get(path, headers={"Accept-Language": lang}).get_data(as_text=True)
        assert f'<html lang="{lang}">' in html, path
        # Every language can be chosen by a plain link to the same page.
        for code in ("en", "es", "pt"):
            assert f'hreflang="{code}"' in html


def test_a_description_in_the_visitors_language_else_the_original_with_a_note(
    client: FlaskClient, listed: Callable[..., Service]
) -> None:
    service = listed(
        description="Help with homework.",
        description_translations={"es": "Ayuda con las tareas."},
    )
    path = f"/directory/services/{service.id}"
    note = "Shown in the language the partner wrote it in"
    english = client.get(path, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Help with homework." in english and note not in english
    spanish = client.get(path, headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert "Ayuda con las tareas." in spanish and "Help with homework." not in spanish
    portuguese = client.get(path, headers={"Accept-Language": "pt"}).get_data(as_text=True)
    assert "Help with homework." in portuguese
    assert re.search(r'class="note"', portuguese)


def test_dates_in_the_readers_locale(client: FlaskClient, listed: Callable[..., Service]) -> None:
    listed()
    from babel.dates import format_date

    html = client.get("/directory/", headers={"Accept-Language": "pt"}).get_data(as_text=True)
    assert format_date(TODAY, format="long", locale="pt") in html


def test_listing_rules_match_in_sql_for_a_day(
    app: object, listed: Callable[..., Service], make_school: Callable[..., School]
) -> None:
    service = listed()
    assert listing.listed_service(service.id, TODAY) is not None
    assert listing.listed_service(service.id, TODAY + timedelta(days=400)) is None
    assert listing.listed_service(service.id, date(2000, 1, 1)) is None


def test_a_page_asked_again_is_not_rendered_again(
    client: FlaskClient, listed: Callable[..., Service], monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry.directory import views

    rendered: list[str] = []
    real = views.render_template

    def counting(name: str, **context: Any) -> str:
        rendered.append(name)
        return real(name, **context)

    monkeypatch.setattr(views, "render_template", counting)
    service = listed(name="Homework Help")
    path = f"/directory/services/{service.id}"
    first = client.get(path)
    second = client.get(path)
    assert second.get_data() == first.get_data() and rendered == ["directory/service.html"]
    assert second.headers["ETag"] == first.headers["ETag"]
    client.get(path, headers={"Accept-Language": "es"})
    assert len(rendered) == 2


def test_kept_pages_are_bounded() -> None:
    from registry.directory.caching import RenderedPages

    pages = RenderedPages(size=2)
    pages.put("a", b"A")
    pages.put("b", b"B")
    assert pages.get("a") == b"A"  # now the most recent
    pages.put("c", b"C")
    assert pages.get("b") is None and pages.get("a") == b"A" and pages.get("c") == b"C"
