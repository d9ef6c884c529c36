"""Two-level capacity: a service's overall pool and its site capacity at each school it is
offered at, checked by one rule for commitments, renewals and capacity changes, and
checked with the write as one step (two clients at once never over-book)."""

from __future__ import annotations

import html
import threading
from datetime import date
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import func, select

from registry import district_time
from registry.audit import SYSTEM, acting_as
from registry.extensions import db
from registry.models import MOU, Commitment, Offering, Service
from registry.mous import services as mou_services
from registry.refusals import Refused
from registry.schoolyear import school_year_of
from registry.services import services as service_services
from registry.vocabulary import MOUStatus, Unit
from tests.conftest import PASSWORD

YEAR = "2025-26"


@pytest.fixture(autouse=True)
def in_a_request(app):
    """Messages are translated in a request; factory rows are the system's changes."""
    with app.test_request_context(method="POST"), acting_as(SYSTEM):
        yield


def text(response) -> str:
    """A page's text as a reader sees it (Lincoln&#39;s is Lincoln's)."""
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def lincoln(make_school):
    return make_school(name="Lincoln Elementary")


@pytest.fixture
def washington(make_school):
    return make_school(name="Washington Elementary")


@pytest.fixture
def reading(make_service, make_offering, lincoln):
    """After-school reading: a pool of 500 seats, offered at Lincoln for 20."""
    service = make_service(name="After-school reading", capacity=Decimal(500), unit=Unit.SEATS)
    make_offering(service=service, school=lincoln, capacity=Decimal(20))
    return service


def draft(make_mou, service: Service, *schools, **overrides) -> MOU:
    return make_mou(partner=service.partner, schools=list(schools), **overrides)


# ---- the rule ------------------------------------------------------------------------------


def test_a_site_capacity_bounds_what_mous_commit_at_that_school(make_mou, reading, lincoln) -> None:
    draft(make_mou, reading, lincoln, commitments=[(reading, lincoln, 15)])
    mou = draft(make_mou, reading, lincoln)
    with pytest.raises(Refused) as refused:
        mou_services.add_commitment(mou, reading, lincoln, Decimal(6))
    assert str(refused.value) == (
        "exceeds Lincoln Elementary's site capacity for After-school reading: 5 seats left"
    )
    assert refused.value.field == "amount"
    db.session.rollback()
    assert mou_services.add_commitment(mou, reading, lincoln, Decimal(5)).amount == 5


def test_the_refusal_names_the_level_on_the_page(client, login, make_mou, reading, lincoln) -> None:
    draft(make_mou, reading, lincoln, commitments=[(reading, lincoln, 15)])
    mou = draft(make_mou, reading, lincoln)
    login("coordinator")
    response = client.post(
        f"/mous/{mou.id}/commitments",
        data={"service_id": reading.id, "school_id": lincoln.id, "amount": "6"},
    )
    assert response.status_code == 400
    assert (
        "exceeds Lincoln Elementary's site capacity for After-school reading: 5 seats left"
        in text(response)
    )
    assert db.session.get(MOU, mou.id).commitments == []


def test_a_service_with_offerings_is_not_committed_where_it_is_not_offered(
    make_mou, reading, lincoln, washington
) -> None:
    mou = draft(make_mou, reading, lincoln, washington)
    with pytest.raises(Refused, match="After-school reading is not offered at Washington"):
        mou_services.add_commitment(mou, reading, washington, Decimal(1))
    room = mou_services.headroom(reading, washington, YEAR)
    assert not room.offered and room.left == 0
    assert mou_services.remaining_at_site(reading, washington, YEAR) == 0


def test_a_service_without_offerings_keeps_the_overall_rule_only(
    make_mou, make_service, lincoln, washington
) -> None:
    tutoring = make_service(name="Tutoring", capacity=Decimal(30))
    mou = draft(make_mou, tutoring, lincoln, washington)
    mou_services.add_commitment(mou, tutoring, lincoln, Decimal(20))
    with pytest.raises(Refused) as refused:
        mou_services.add_commitment(mou, tutoring, washington, Decimal(11))
    assert str(refused.value) == "exceeds the overall capacity of Tutoring: 10 seats left"
    assert mou_services.remaining_at_site(tutoring, washington, YEAR) is None


def test_the_overall_pool_counts_every_school(
    make_mou, reading, make_offering, lincoln, washington
) -> None:
    reading.capacity = Decimal(30)
    db.session.commit()
    make_offering(service=reading, school=washington, capacity=Decimal(20))
    draft(make_mou, reading, lincoln, commitments=[(reading, lincoln, 20)])
    mou = draft(make_mou, reading, washington)
    with pytest.raises(Refused) as refused:
        mou_services.add_commitment(mou, reading, washington, Decimal(15))
    assert str(refused.value) == (
        "exceeds the overall capacity of After-school reading: 10 seats left"
    )
    room = mou_services.headroom(reading, washington, YEAR)
    assert (room.overall_left, room.site_left, room.left) == (10, 20, 10)


def test_no_overall_pool_and_no_site_capacity_is_no_limit(
    make_mou, make_service, make_offering, lincoln
) -> None:
    open_ended = make_service(name="Open gym", capacity=None)
    assert mou_services.remaining_capacity(open_ended, YEAR) is None
    mou = draft(make_mou, open_ended, lincoln)
    mou_services.add_commitment(mou, open_ended, lincoln, Decimal(100_000))
    make_offering(service=open_ended, school=lincoln, capacity=None)
    room = mou_services.headroom(open_ended, lincoln, YEAR)
    assert room.offered and room.left is None and not room.limited


def test_no_overall_pool_leaves_the_site_capacities(
    make_mou, make_service, make_offering, lincoln
) -> None:
    sites_only = make_service(name="Chess club", capacity=None)
    make_offering(service=sites_only, school=lincoln, capacity=Decimal(12))
    mou = draft(make_mou, sites_only, lincoln)
    with pytest.raises(Refused, match="site capacity for Chess club: 12 seats left"):
        mou_services.add_commitment(mou, sites_only, lincoln, Decimal(13))
    db.session.rollback()
    mou_services.add_commitment(mou, sites_only, lincoln, Decimal(12))


def test_terminated_mous_and_other_years_use_no_site_capacity(make_mou, reading, lincoln) -> None:
    draft(
        make_mou,
        reading,
        lincoln,
        status=MOUStatus.TERMINATED,
        commitments=[(reading, lincoln, 20)],
    )
    draft(
        make_mou,
        reading,
        lincoln,
        school_year="2024-25",
        start_date=date(2024, 9, 1),
        end_date=date(2025, 6, 30),
        commitments=[(reading, lincoln, 20)],
    )
    assert mou_services.remaining_at_site(reading, lincoln, YEAR) == 20
    assert mou_services.committed_amount(reading, YEAR, school=lincoln) == 0


def test_a_site_already_over_its_capacity_takes_nothing_more(make_mou, reading, lincoln) -> None:
    # Older data: 24 seats committed before the site capacity of 20 was recorded.
    draft(make_mou, reading, lincoln, commitments=[(reading, lincoln, 24)])
    mou = draft(make_mou, reading, lincoln)
    assert mou_services.remaining_at_site(reading, lincoln, YEAR) == -4
    with pytest.raises(Refused, match="already commit 4 seats more than it"):
        mou_services.add_commitment(mou, reading, lincoln, Decimal(1))


# ---- renewal and capacity changes use the same rule ----------------------------------------


def test_renewal_fits_each_line_to_its_site(make_mou, reading, lincoln) -> None:
    mou = draft(make_mou, reading, lincoln, commitments=[(reading, lincoln, 18)])
    draft(
        make_mou,
        reading,
        lincoln,
        school_year="2026-27",
        start_date=date(2026, 9, 1),
        end_date=date(2027, 6, 30),
        commitments=[(reading, lincoln, 8)],
    )
    result = mou_services.renew(mou)
    assert [c.amount for c in result.mou.commitments] == [Decimal(12)]
    assert "reduced from 18 to 12" in result.adjustments[0]


def test_renewal_leaves_out_a_school_no_longer_offered(make_mou, reading, washington) -> None:
    # Committed before the offerings were recorded: Washington is not among them.
    mou = draft(make_mou, reading, washington, commitments=[(reading, washington, 5)])
    result = mou_services.renew(mou)
    assert result.mou.commitments == []
    assert result.adjustments == [
        "After-school reading at Washington Elementary was left out: the service is no "
        "longer offered there."
    ]


def test_lowering_a_site_capacity_below_what_is_committed_is_refused(
    client, login, make_mou, reading, lincoln
) -> None:
    year = school_year_of(district_time.today())
    draft(make_mou, reading, lincoln, school_year=year, commitments=[(reading, lincoln, 15)])
    offering = db.session.scalars(select(Offering)).one()
    login("coordinator")
    response = client.post(
        f"/services/{reading.id}/offerings/{offering.id}/edit",
        data={"capacity": "14", "version": str(offering.version)},
    )
    assert response.status_code == 400
    assert 'id="capacity-error"' in response.get_data(as_text=True)
    assert (
        f"MOUs for {year} already commit 15 seats of After-school reading at Lincoln "
        "Elementary; the site capacity cannot be lower." in text(response)
    )
    db.session.expire_all()
    assert db.session.get(Offering, offering.id).capacity == 20
    ok = client.post(
        f"/services/{reading.id}/offerings/{offering.id}/edit",
        data={"capacity": "15", "version": str(offering.version)},
    )
    assert ok.status_code == 302
    db.session.expire_all()
    assert db.session.get(Offering, offering.id).capacity == 15


def test_a_new_offering_below_what_is_committed_there_is_refused(
    client, login, make_mou, make_service, washington
) -> None:
    year = school_year_of(district_time.today())
    tutoring = make_service(name="Tutoring", capacity=None)
    draft(make_mou, tutoring, washington, school_year=year, commitments=[(tutoring, washington, 9)])
    login("coordinator")
    response = client.post(
        f"/services/{tutoring.id}/offerings/new",
        data={"school_id": str(washington.id), "capacity": "8"},
    )
    assert response.status_code == 400
    assert "already commit 9 seats of Tutoring at Washington Elementary" in text(response)
    assert db.session.scalar(select(func.count(Offering.id))) == 0


def test_lowering_the_overall_capacity_below_what_is_committed_is_refused(
    make_mou, make_user, reading, lincoln
) -> None:
    draft(make_mou, reading, lincoln, commitments=[(reading, lincoln, 15)])
    coordinator = make_user("coordinator")
    with pytest.raises(Refused, match="capacity cannot be lower"):
        service_services.update_service(
            reading, {"capacity": Decimal(14)}, reading.version, coordinator, date(2025, 10, 1)
        )
    db.session.rollback()
    service_services.update_service(
        reading, {"capacity": None}, reading.version, coordinator, date(2025, 10, 1)
    )
    assert reading.capacity is None


# ---- pages say "no limit", never 0 or Infinity -------------------------------------------


def test_pages_show_no_limit_for_unset_capacities(
    client, login, make_mou, make_service, make_offering, lincoln
) -> None:
    open_ended = make_service(name="Open gym", capacity=None)
    sites_only = make_service(name="Chess club", capacity=None, partner=open_ended.partner)
    make_offering(service=sites_only, school=lincoln, capacity=Decimal(12))
    mou = draft(
        make_mou,
        open_ended,
        lincoln,
        school_year=school_year_of(district_time.today()),
        commitments=[(open_ended, lincoln, 40), (sites_only, lincoln, 5)],
    )
    login("coordinator")
    pages = {
        "open": text(client.get(f"/services/{open_ended.id}")),
        "sites": text(client.get(f"/services/{sites_only.id}")),
        "mou": text(client.get(f"/mous/{mou.id}")),
        "partner": text(client.get(f"/partners/{open_ended.partner_id}")),
        "list": text(client.get("/services/")),
    }
    assert "No capacity limit set" in pages["open"]
    assert "only the site capacities below limit" in pages["sites"]
    assert "No capacity limit set" not in pages["sites"]
    assert "7" in pages["sites"].split("Schools where it is offered", 1)[1]
    assert "No limit" in pages["mou"] and "7 of 12 at this school" in pages["mou"]
    assert "No overall limit" in pages["partner"] and "No overall limit" in pages["list"]
    for shown in pages.values():
        assert "Infinity" not in shown and "inf" not in shown.lower().split()


# ---- one step: two clients at once never over-book ------------------------------------------


def _race(app: Flask, make_user, posts: list[tuple[str, dict[str, str]]]) -> list[tuple[int, str]]:
    """Send the posts at once, each from its own client signed in as its own coordinator,
    in its own thread (so its own app context, session and connection); each one's status
    and page text, in the order of the statuses."""
    emails = [make_user("coordinator").email for _ in posts]
    start = threading.Barrier(len(posts))
    answers: list[tuple[int, str]] = [(0, "")] * len(posts)
    errors: list[BaseException] = []

    def send(i: int) -> None:
        try:
            client = app.test_client()
            signed_in = client.post("/login", data={"email": emails[i], "password": PASSWORD})
            assert signed_in.status_code == 302
            start.wait(timeout=30)
            url, data = posts[i]
            response = client.post(url, data=data)
            answers[i] = (response.status_code, text(response))
        except BaseException as err:
            errors.append(err)
            start.abort()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(posts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return sorted(answers)


def _commit_post(mou: MOU, service: Service, school, amount: int) -> tuple[str, dict[str, str]]:
    return (
        f"/mous/{mou.id}/commitments",
        {"service_id": str(service.id), "school_id": str(school.id), "amount": str(amount)},
    )


def _committed(service: Service) -> Decimal:
    db.session.expire_all()
    total = db.session.scalar(
        select(func.coalesce(func.sum(Commitment.amount), 0)).where(
            Commitment.service_id == service.id
        )
    )
    return Decimal(str(total))


def test_two_simultaneous_commitments_cannot_overbook_the_pool(
    app, make_user, make_mou, make_service, lincoln, washington
) -> None:
    pool = make_service(name="Mentoring", capacity=Decimal(500))
    first = draft(make_mou, pool, lincoln)
    second = draft(make_mou, pool, washington)
    db.session.commit()
    (added, _), (refused, page) = _race(
        app,
        make_user,
        [_commit_post(first, pool, lincoln, 400), _commit_post(second, pool, washington, 400)],
    )
    assert (added, refused) == (302, 400)
    assert "exceeds the overall capacity of Mentoring: 100 seats left" in page
    assert _committed(pool) == 400


def test_two_simultaneous_commitments_cannot_overbook_a_site(
    app, make_user, make_mou, reading, lincoln
) -> None:
    first = draft(make_mou, reading, lincoln)
    second = draft(make_mou, reading, lincoln)
    db.session.commit()
    (added, _), (refused, page) = _race(
        app,
        make_user,
        [_commit_post(first, reading, lincoln, 15), _commit_post(second, reading, lincoln, 15)],
    )
    assert (added, refused) == (302, 400)
    assert "site capacity for After-school reading: 5 seats left" in page
    assert _committed(reading) == 15


# ---- where a service is offered ------------------------------------------------------------


def test_a_service_with_offerings_is_offered_at_those_schools_only(
    make_service, make_offering, make_school, make_partner
) -> None:
    local = make_partner(district_wide=False, service_zips=["01602"])
    service = make_service(partner=local, grades=["6", "7", "8"])
    middle = make_school(grades=["6", "7", "8"], zip="01602")
    far_middle = make_school(grades=["6", "7", "8"], zip="01610")
    elementary = make_school(grades=["K", "1"], zip="01602")
    # No offerings: the grade band and the partner's service area decide.
    assert service_services.offered_at(service, middle)
    assert not service_services.offered_at(service, far_middle)
    assert service_services.offered_at(service, far_middle, require_service_area=False)
    assert not service_services.offered_at(service, elementary)
    # With offerings: there, and nowhere else, whatever the grades and area say.
    make_offering(service=service, school=far_middle)
    assert service_services.offered_at(service, far_middle)
    assert not service_services.offered_at(service, middle)


def test_the_mou_page_says_when_a_line_is_at_a_school_no_longer_offered(
    client, login, make_mou, reading, washington
) -> None:
    mou = draft(make_mou, reading, washington, commitments=[(reading, washington, 3)])
    login("coordinator")
    assert "Not offered at this school" in text(client.get(f"/mous/{mou.id}"))
