"""Searchable pickers (issue 13): a search endpoint confined per role, and on every form that
named a school, partner or service from a menu of all, a search-then-choose step that works
without script and keeps what was typed."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select

from registry.extensions import db
from registry.models import MOU, Partner, Scenario, School, Service, User
from registry.vocabulary import Category, PartnerStatus, PartnerType, Setting, Unit

YEAR = "2025-26"


def _json(client: FlaskClient, url: str) -> dict[str, Any]:
    response = client.get(url, headers={"Accept": "application/json"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert "Accept" in response.headers["Vary"]
    data = response.get_json()
    assert isinstance(data, dict)
    return data


def _labels(data: dict[str, Any]) -> list[str]:
    return [r["label"] for r in data["results"]]


# ---- the search endpoint -----------------------------------------------------------------


def test_schools_are_found_by_name_or_code_names_starting_with_the_text_first(
    client: FlaskClient, login: Callable[..., User], make_school: Callable[..., School]
) -> None:
    make_school(name="West Oak Middle", dese_code="01000001")
    make_school(name="Oakland Elementary", dese_code="01000002")
    make_school(name="Pine Hill", dese_code="01000003")
    login("leader")
    assert _labels(_json(client, "/pick/schools?q=oak")) == [
        "Oakland Elementary",
        "West Oak Middle",
    ]
    found = _json(client, "/pick/schools?q=01000003")
    assert _labels(found) == ["Pine Hill"]
    assert found["results"][0]["detail"] == "01000003"
    assert _labels(_json(client, "/pick/schools?q=nothing-like-it")) == []


def test_at_most_twenty_matches_and_it_says_there_are_more(
    client: FlaskClient, login: Callable[..., User], make_partner: Callable[..., Partner]
) -> None:
    for n in range(25):
        make_partner(name=f"Harbor Club {n:02d}")
    login("coordinator")
    found = _json(client, "/pick/partners?q=harbor")
    assert found["count"] == 20 and found["more"] is True
    assert _labels(found) == sorted(_labels(found), key=str.lower)
    assert _json(client, "/pick/partners?q=harbor club 2")["more"] is False
    page = client.get("/pick/partners?q=harbor").get_data(as_text=True)
    assert page.count("<li data-id=") == 20
    assert "type more of the name" in page


def test_wildcards_typed_are_plain_characters(
    client: FlaskClient, login: Callable[..., User], make_partner: Callable[..., Partner]
) -> None:
    make_partner(name="100% Kids")
    make_partner(name="Kids_First")
    make_partner(name="Other")
    login("coordinator")
    assert _labels(_json(client, "/pick/partners?q=%25")) == ["100% Kids"]
    assert _labels(_json(client, "/pick/partners?q=_")) == ["Kids_First"]


def test_services_narrow_by_category_partner_and_usability(
    client: FlaskClient,
    login: Callable[..., User],
    make_partner: Callable[..., Partner],
    make_service: Callable[..., Service],
) -> None:
    approved = make_partner(name="Approved Org")
    applicant = make_partner(name="Applicant Org", status=PartnerStatus.APPLICANT)
    tutoring = make_service(partner=approved, name="Tutoring")
    make_service(partner=approved, name="Mentors", category=Category.MENTORING)
    make_service(partner=approved, name="Old tutoring", active=False)
    make_service(partner=applicant, name="New tutoring")
    login("leader")
    # Names starting with the text first, then the rest by partner and name.
    assert _labels(_json(client, "/pick/services?q=tutoring")) == [
        "Tutoring",
        "New tutoring",
        "Old tutoring",
    ]
    assert _labels(_json(client, "/pick/services?q=tutoring&usable=1")) == ["Tutoring"]
    assert _labels(_json(client, "/pick/services?category=mentoring")) == ["Mentors"]
    assert _labels(_json(client, f"/pick/services?partner={applicant.id}")) == ["New tutoring"]
    # Searching a partner's name lists its services.
    assert set(_labels(_json(client, "/pick/services?q=approved org"))) == {
        "Tutoring",
        "Mentors",
        "Old tutoring",
    }
    found = _json(client, f"/pick/services?q=tutoring&usable=1&exclude={tutoring.id}")
    assert found["results"] == []


def test_a_partner_user_finds_only_its_own_records(
    client: FlaskClient,
    login: Callable[..., User],
    make_partner: Callable[..., Partner],
    make_service: Callable[..., Service],
    make_school: Callable[..., School],
    make_mou: Callable[..., MOU],
) -> None:
    own, other = make_partner(name="Own Org"), make_partner(name="Other Org")
    make_service(partner=own, name="Own service")
    make_service(partner=other, name="Other service")
    ours, theirs = make_school(name="Our School"), make_school(name="Their School")
    make_mou(partner=own, schools=[ours])
    make_mou(partner=other, schools=[theirs])
    login("partner", partner=own)
    assert _labels(_json(client, "/pick/partners?q=org")) == ["Own Org"]
    assert _labels(_json(client, "/pick/services?q=service")) == ["Own service"]
    assert _labels(_json(client, "/pick/schools?q=school")) == ["Our School"]
    assert _labels(_json(client, f"/pick/services?partner={other.id}")) == []


@pytest.mark.parametrize("kind", ["schools", "partners", "services"])
def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient, kind: str) -> None:
    response = client.get(f"/pick/{kind}?q=a")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_an_unknown_kind_or_an_out_of_range_partner_is_a_404(
    client: FlaskClient, login: Callable[..., User]
) -> None:
    login("coordinator")
    assert client.get("/pick/users?q=a").status_code == 404
    assert client.get("/pick/services?partner=99999999999").status_code == 404


# ---- the search-then-choose step, without script -------------------------------------------


def _main(page: str) -> str:
    """The page's content (the header's language buttons re-send what was posted)."""
    return page.split('id="content"', 1)[1]


def _hidden(page: str, name: str) -> list[str]:
    """The ids a picker holds."""
    pattern = rf'<input type="hidden" name="{re.escape(name)}" value="(\d*)">'
    return re.findall(pattern, _main(page))


def _offered(page: str, action: str) -> bool:
    """Whether a picker offers this step's button (a match to add, a chosen one to remove)."""
    return f'class="picker-button" name="pick" value="{action}"' in _main(page)


def mou_form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "school_year": YEAR,
        "start_date": "2025-09-01",
        "end_date": "2026-06-30",
        "notes": "Typed before searching",
    }
    data.update(overrides)
    return data


def test_a_new_mou_without_script_search_choose_and_save(
    client: FlaskClient,
    login: Callable[..., User],
    make_partner: Callable[..., Partner],
    make_school: Callable[..., School],
) -> None:
    partner = make_partner(name="Harbor Youth")
    make_partner(name="Bay Arts")
    north, south = make_school(name="North High"), make_school(name="South High")
    make_school(name="Central Elementary")
    login("coordinator")
    page = client.get("/mous/new").get_data(as_text=True)
    assert 'name="partner_id-q"' in page and 'name="school_ids-q"' in page
    assert "<option" not in page.split('id="partner_id"')[1].split("</div>")[0]

    # Search partners: the matches come back with the notes typed so far; nothing saved.
    response = client.post(
        "/mous/new", data=mou_form(**{"partner_id-q": "harb", "pick": "search:partner_id"})
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert _offered(page, f"add:partner_id:{partner.id}")
    assert "Bay Arts" not in page
    assert "Typed before searching" in page
    assert "error-summary" not in page
    assert db.session.scalar(select(func.count(MOU.id))) == 0

    # Choose it; then search schools and add two, one at a time.
    data = mou_form(pick=f"add:partner_id:{partner.id}")
    page = client.post("/mous/new", data=data).get_data(as_text=True)
    assert _hidden(page, "partner_id") == [str(partner.id)]
    data = mou_form(partner_id=str(partner.id), **{"school_ids-q": "high"})
    data["pick"] = "search:school_ids"
    page = client.post("/mous/new", data=data).get_data(as_text=True)
    assert _offered(page, f"add:school_ids:{north.id}")
    assert _offered(page, f"add:school_ids:{south.id}")
    assert "Central Elementary" not in page
    data["pick"] = f"add:school_ids:{north.id}"
    page = client.post("/mous/new", data=data).get_data(as_text=True)
    assert _hidden(page, "school_ids") == [str(north.id)]
    # The matches stay, less the one added, for the next.
    assert _offered(page, f"add:school_ids:{south.id}")
    assert not _offered(page, f"add:school_ids:{north.id}")
    data.update(school_ids=[str(north.id)], pick=f"add:school_ids:{south.id}")
    page = client.post("/mous/new", data=data).get_data(as_text=True)
    assert _hidden(page, "school_ids") == [str(north.id), str(south.id)]
    data.update(school_ids=[str(north.id), str(south.id)], pick=f"remove:school_ids:{north.id}")
    page = client.post("/mous/new", data=data).get_data(as_text=True)
    assert _hidden(page, "school_ids") == [str(south.id)]

    # The form's own button saves.
    data = mou_form(partner_id=str(partner.id), school_ids=[str(north.id), str(south.id)])
    response = client.post("/mous/new", data=data)
    assert response.status_code == 302
    mou = db.session.scalars(select(MOU)).one()
    assert mou.partner_id == partner.id
    assert {s.id for s in mou.schools} == {north.id, south.id}


def test_an_id_that_names_nothing_is_refused_not_saved(
    client: FlaskClient,
    login: Callable[..., User],
    make_partner: Callable[..., Partner],
    make_school: Callable[..., School],
) -> None:
    partner, school = make_partner(), make_school()
    login("coordinator")
    for data in (
        mou_form(partner_id=str(partner.id), school_ids=[str(school.id), "987654"]),
        mou_form(partner_id="987654", school_ids=[str(school.id)]),
    ):
        response = client.post("/mous/new", data=data)
        assert response.status_code == 400
        assert "Not a valid choice" in response.get_data(as_text=True)
    response = client.post("/mous/new", data=mou_form(partner_id=str(partner.id), school_ids=["x"]))
    assert response.status_code == 400
    assert db.session.scalar(select(func.count(MOU.id))) == 0


def test_editing_an_mou_shows_its_schools_and_a_search_keeps_them(
    client: FlaskClient,
    login: Callable[..., User],
    make_mou: Callable[..., MOU],
    make_school: Callable[..., School],
) -> None:
    first = make_school(name="First School")
    other = make_school(name="Second School")
    mou = make_mou(schools=[first])
    login("coordinator")
    page = client.get(f"/mous/{mou.id}/edit").get_data(as_text=True)
    assert _hidden(page, "school_ids") == [str(first.id)]
    data = mou_form(school_ids=[str(first.id)], version=str(mou.version))
    data.update({"school_ids-q": "second", "pick": "search:school_ids"})
    response = client.post(f"/mous/{mou.id}/edit", data=data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert _hidden(page, "school_ids") == [str(first.id)]
    assert _offered(page, f"add:school_ids:{other.id}")
    db.session.refresh(mou)
    assert mou.notes == ""


def test_the_mou_list_filters_by_a_school_found_by_searching(
    client: FlaskClient,
    login: Callable[..., User],
    make_mou: Callable[..., MOU],
    make_school: Callable[..., School],
    make_partner: Callable[..., Partner],
) -> None:
    lake = make_school(name="Lake School")
    make_mou(partner=make_partner(name="Lake Partner"), schools=[lake])
    make_mou(partner=make_partner(name="Hill Partner"), schools=[make_school(name="Hill School")])
    login("leader")
    page = client.get("/mous/?school-q=lake&pick=search:school").get_data(as_text=True)
    assert _offered(page, f"add:school:{lake.id}")
    page = client.get(f"/mous/?pick=add:school:{lake.id}").get_data(as_text=True)
    assert _hidden(page, "school") == [str(lake.id)]
    assert "Lake Partner" in page and "Hill Partner" not in page
    page = client.get(f"/mous/?school={lake.id}").get_data(as_text=True)
    assert "Lake Partner" in page and "Hill Partner" not in page
    assert client.get("/mous/?school=99999999999").status_code == 404


def test_the_service_list_filters_by_a_partner_found_by_searching(
    client: FlaskClient,
    login: Callable[..., User],
    make_service: Callable[..., Service],
    make_partner: Callable[..., Partner],
) -> None:
    harbor = make_partner(name="Harbor Youth")
    make_service(partner=harbor, name="Harbor tutoring")
    make_service(partner=make_partner(name="Bay Arts"), name="Bay painting")
    login("coordinator")
    page = client.get("/services/?partner-q=harb&pick=search:partner").get_data(as_text=True)
    assert _offered(page, f"add:partner:{harbor.id}")
    page = client.get(f"/services/?partner={harbor.id}").get_data(as_text=True)
    assert "Harbor tutoring" in page and "Bay painting" not in page


def test_a_partner_user_cannot_filter_by_another_partner(
    client: FlaskClient,
    login: Callable[..., User],
    make_service: Callable[..., Service],
    make_partner: Callable[..., Partner],
) -> None:
    own, other = make_partner(), make_partner()
    make_service(partner=own, name="Own thing")
    make_service(partner=other, name="Their thing")
    login("partner", partner=own)
    page = client.get(f"/services/?partner={other.id}").get_data(as_text=True)
    assert "Their thing" not in page and "Own thing" in page


def test_the_user_form_links_a_partner_found_by_searching(
    client: FlaskClient, login: Callable[..., User], make_partner: Callable[..., Partner]
) -> None:
    partner = make_partner(name="Harbor Youth")
    login("admin")
    data = {
        "email": "new.partner@harbor.example",
        "name": "New Person",
        "role": "partner",
        "password": "a long enough password 1",
        "confirm": "a long enough password 1",
        "partner_id-q": "harbor",
        "pick": "search:partner_id",
    }
    response = client.post("/users/new", data=data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert _offered(page, f"add:partner_id:{partner.id}")
    assert 'value="new.partner@harbor.example"' in page
    data.update(pick=f"add:partner_id:{partner.id}")
    page = client.post("/users/new", data=data).get_data(as_text=True)
    assert _hidden(page, "partner_id") == [str(partner.id)]
    del data["pick"]
    data["partner_id"] = str(partner.id)
    assert client.post("/users/new", data=data).status_code == 302
    user = db.session.scalars(select(User).where(User.email == data["email"])).one()
    assert user.partner_id == partner.id


def test_the_service_form_chooses_its_partner_by_searching(
    client: FlaskClient, login: Callable[..., User], make_partner: Callable[..., Partner]
) -> None:
    partner = make_partner(name="Harbor Youth")
    login("coordinator")
    data = {
        "name": "Reading Buddies",
        "category": "academic_support",
        "grades": ["K", "1"],
        "setting": "school_day",
        "unit": "seats",
        "cost": "0",
        "partner_id-q": "harbor",
        "pick": "search:partner_id",
    }
    page = client.post("/services/new", data=data).get_data(as_text=True)
    assert _offered(page, f"add:partner_id:{partner.id}")
    assert 'value="Reading Buddies"' in page
    del data["pick"]
    data["partner_id"] = str(partner.id)
    assert client.post("/services/new", data=data).status_code == 302
    assert db.session.scalars(select(Service)).one().partner_id == partner.id


def test_an_offering_chooses_its_school_by_searching(
    client: FlaskClient,
    login: Callable[..., User],
    make_service: Callable[..., Service],
    make_school: Callable[..., School],
) -> None:
    service = make_service()
    school = make_school(name="Lakeside Elementary")
    login("coordinator")
    url = f"/services/{service.id}/offerings/new"
    data = {"capacity": "15", "school_id-q": "lakeside", "pick": "search:school_id"}
    response = client.post(url, data=data)
    assert response.status_code == 200
    assert f'value="add:school_id:{school.id}"' in response.get_data(as_text=True)
    data = {"capacity": "15", "school_id": str(school.id)}
    assert client.post(url, data=data).status_code == 302
    assert [o.school_id for o in service.offerings] == [school.id]


def scenario_form(definition: Any, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Tutoring by need",
        "school_year": YEAR,
        "need_definition_id": str(definition.id),
        "weight_rule": "enrollment_x_need",
        "need_threshold": "0",
        "categories": ["academic_support", "mentoring"],
        "require_service_area": "y",
        "objective": "proportional",
        "solver": "highs",
        "time_limit_s": "30",
    }
    data.update(overrides)
    return data


def test_a_scenario_chooses_services_by_category_and_search(
    client: FlaskClient,
    login: Callable[..., User],
    definition: Any,
    make_partner: Callable[..., Partner],
    make_service: Callable[..., Service],
    make_school: Callable[..., School],
) -> None:
    harbor = make_partner(name="Harbor Youth")
    tutoring = make_service(partner=harbor, name="Harbor tutoring")
    mentoring = make_service(partner=harbor, name="Harbor mentors", category=Category.MENTORING)
    make_service(partner=harbor, name="Harbor retired", active=False)
    school = make_school(
        name="Lakeside Elementary", indicators={"pct_econ_disadvantaged": 50}, year=YEAR
    )
    login("leader")
    page = client.get("/scenarios/new").get_data(as_text=True)
    assert 'type="checkbox" name="service_ids"' not in page
    assert 'name="service_ids-category"' in page

    data = scenario_form(definition)
    data.update({"service_ids-q": "harbor", "service_ids-category": "mentoring"})
    data["pick"] = "search:service_ids"
    response = client.post("/scenarios/new", data=data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert _offered(page, f"add:service_ids:{mentoring.id}")
    assert not _offered(page, f"add:service_ids:{tutoring.id}")  # another category
    assert "Harbor retired" not in page  # not usable in a scenario
    assert 'value="Tutoring by need"' in page
    assert db.session.scalar(select(func.count(Scenario.id))) == 0

    # A limit row's school, found the same way.
    data = scenario_form(definition, service_ids=[str(mentoring.id)])
    data.update({"limits-0-school_id-q": "lakeside", "pick": "search:limits-0-school_id"})
    page = client.post("/scenarios/new", data=data).get_data(as_text=True)
    assert _offered(page, f"add:limits-0-school_id:{school.id}")
    assert _hidden(page, "service_ids") == [str(mentoring.id)]

    data = scenario_form(definition, service_ids=[str(mentoring.id), str(tutoring.id)])
    data.update(
        {
            "limits-0-school_id": str(school.id),
            "limits-0-category": "mentoring",
            "limits-0-unit": "seats",
            "limits-0-max": "5",
        }
    )
    response = client.post("/scenarios/new", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    scenario = db.session.scalars(select(Scenario)).one()
    assert scenario.service_ids == sorted([mentoring.id, tutoring.id])
    assert scenario.limits[0]["school_id"] == school.id

    page = client.get(f"/scenarios/{scenario.id}/edit").get_data(as_text=True)
    assert sorted(_hidden(page, "service_ids")) == sorted([str(mentoring.id), str(tutoring.id)])
    assert _hidden(page, "limits-0-school_id") == [str(school.id)]


def test_a_scenario_refuses_a_service_it_may_not_use(
    client: FlaskClient,
    login: Callable[..., User],
    definition: Any,
    make_service: Callable[..., Service],
) -> None:
    retired = make_service(active=False)
    login("leader")
    for ids in ([str(retired.id)], ["987654"]):
        response = client.post("/scenarios/new", data=scenario_form(definition, service_ids=ids))
        assert response.status_code == 400
        assert "Not a valid choice" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Scenario.id))) == 0


# ---- page sizes: nothing embeds the whole registry ---------------------------------------

MAX_PAGE_BYTES = 300_000


def _grow(schools: int, partners: int, services: int) -> None:
    """Add records in bulk (one statement each), numbered on from those there."""
    start = db.session.scalar(select(func.count(School.id))) or 0
    db.session.execute(
        insert(School),
        [
            {
                "dese_code": f"9{start + n:07d}",
                "name": f"Generated School {start + n:05d}",
                "grades": ["K", "1", "2", "3", "4", "5"],
                "enrollment": 300,
            }
            for n in range(schools)
        ],
    )
    start = db.session.scalar(select(func.count(Partner.id))) or 0
    db.session.execute(
        insert(Partner),
        [
            {
                "name": f"Generated Partner {start + n:05d}",
                "partner_type": PartnerType.NONPROFIT,
                "status": PartnerStatus.APPROVED,
                "background_check_policy": True,
                "background_check_verified": date(2025, 8, 1),
                "insurance_expiry": date(2099, 6, 30),
                "insurance_liability": Decimal(1000000),
            }
            for n in range(partners)
        ],
    )
    partner_ids = db.session.scalars(select(Partner.id).order_by(Partner.id)).all()
    categories = list(Category)
    start = db.session.scalar(select(func.count(Service.id))) or 0
    db.session.execute(
        insert(Service),
        [
            {
                "partner_id": partner_ids[n % len(partner_ids)],
                "name": f"Generated Service {start + n:05d}",
                "category": categories[n % len(categories)],
                "grades": ["K", "1", "2"],
                "setting": Setting.AFTER_SCHOOL,
                "unit": Unit.SEATS,
                "capacity": Decimal(100),
            }
            for n in range(services)
        ],
    )
    db.session.commit()


def _sizes(client: FlaskClient, urls: list[str]) -> dict[str, int]:
    sizes = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        sizes[url] = len(response.get_data())
    return sizes


def test_no_converted_page_grows_with_the_registry(
    client: FlaskClient,
    login: Callable[..., User],
    make_mou: Callable[..., MOU],
    make_school: Callable[..., School],
    make_service: Callable[..., Service],
    definition: Any,
) -> None:
    """Pages measured at 30 schools, 60 partners, 120 services, then at 600, 1,000 and 2,000:
    each is under 300 KB, and the same size give or take the digits of ids and numbers."""
    _grow(schools=30, partners=60, services=120)
    service = make_service(name="Measured service")
    mou = make_mou(partner=service.partner, schools=[make_school(name="Measured school")])
    login("admin")
    urls = [
        "/mous/",
        "/mous/new",
        f"/mous/{mou.id}/edit",
        f"/mous/{mou.id}",
        "/scenarios/new",
        "/services/",
        "/services/new",
        f"/services/{service.id}/edit",
        f"/services/{service.id}/offerings/new",
        "/users/new",
        "/pick/schools",
        "/pick/services?q=generated",
    ]
    small = _sizes(client, urls)
    _grow(schools=570, partners=940, services=1880)
    assert db.session.scalar(select(func.count(Service.id))) >= 2000
    large = _sizes(client, urls)
    for url in urls:
        assert large[url] < MAX_PAGE_BYTES, (url, large[url])
        assert large[url] - small[url] < 2_000, (url, small[url], large[url])


def test_the_dashboard_stays_small_with_many_schools_without_a_partner(
    client: FlaskClient, login: Callable[..., User]
) -> None:
    _grow(schools=30, partners=10, services=10)
    login("coordinator")
    small = len(client.get("/").get_data())
    _grow(schools=970, partners=10, services=10)
    page = client.get("/").get_data(as_text=True)
    large = len(page.encode())
    assert large < MAX_PAGE_BYTES
    assert large - small < 2_000, (small, large)
    assert "All 1,000 schools without an active partner" in page
    assert 'href="/schools/?no_partner=1"' in page


def test_the_dashboard_shows_the_first_twenty_compliance_gaps_and_counts_them_all(
    client: FlaskClient, login: Callable[..., User], make_partner: Callable[..., Partner]
) -> None:
    for n in range(23):
        make_partner(name=f"Uninsured {n:02d}", insurance_expiry=None)
    login("coordinator")
    page = client.get("/").get_data(as_text=True)
    assert page.count(">Uninsured ") == 20
    assert "The first 20 of 23." in page
    assert 'href="/partners/?compliance=any_problem"' in page


def test_a_scenario_adds_every_service_of_a_partner_found_by_its_name(
    client: FlaskClient,
    login: Callable[..., User],
    definition: Any,
    make_partner: Callable[..., Partner],
    make_service: Callable[..., Service],
) -> None:
    harbor = make_partner(name="Harbor Youth")
    ids = {make_service(partner=harbor, name=f"Harbor {n}").id for n in range(3)}
    make_service(partner=make_partner(name="Bay Arts"), name="Bay painting")
    login("leader")
    data = scenario_form(definition, **{"service_ids-q": "harbor youth"})
    data["pick"] = "search:service_ids"
    page = client.post("/scenarios/new", data=data).get_data(as_text=True)
    assert _offered(page, "addall:service_ids")
    data["pick"] = "addall:service_ids"
    page = client.post("/scenarios/new", data=data).get_data(as_text=True)
    assert {int(i) for i in _hidden(page, "service_ids")} == ids
    # Over twenty matches: no "add all" (type more to narrow them first).
    for n in range(20):
        make_service(partner=harbor, name=f"Harbor more {n}")
    data["pick"] = "search:service_ids"
    page = client.post("/scenarios/new", data=data).get_data(as_text=True)
    assert not _offered(page, "addall:service_ids")
