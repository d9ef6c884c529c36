"""The dashboard: its figures on small hand-built data, who may see it, and school years."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask.testing import FlaskClient

from registry import district_time
from registry.main import dashboard as figures
from registry.schoolyear import school_year_of, year_bounds
from registry.vocabulary import DPAStatus, DPAType, MOUStatus, PartnerStatus

TODAY = date(2026, 3, 2)  # in school year 2025-26


# ---- school years ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "day, year",
    [
        (date(2026, 6, 30), "2025-26"),
        (date(2026, 7, 1), "2026-27"),
        (date(2026, 11, 24), "2026-27"),
        (date(2027, 1, 1), "2026-27"),
        (date(1999, 7, 1), "1999-00"),
        (date(2000, 6, 30), "1999-00"),
    ],
)
def test_school_year_runs_july_to_june(day: date, year: str) -> None:
    assert school_year_of(day) == year


def test_year_bounds_are_july_first_to_june_thirtieth() -> None:
    assert year_bounds("2025-26") == (date(2025, 7, 1), date(2026, 6, 30))
    assert year_bounds("1999-00") == (date(1999, 7, 1), date(2000, 6, 30))
    first, last = year_bounds("2026-27")
    assert school_year_of(first) == school_year_of(last) == "2026-27"
    assert school_year_of(first - timedelta(days=1)) == "2025-26"


@pytest.mark.parametrize("text", ["2025-27", "2025", "25-26", "abcd-ef", "", "2025-26x"])
def test_year_bounds_refuses_what_is_not_a_school_year(text: str) -> None:
    with pytest.raises(ValueError):
        year_bounds(text)


# ---- figures ---------------------------------------------------------------------------


def test_expiring_means_ending_within_sixty_days_not_sixty_one(make_mou) -> None:
    sixty = make_mou(status=MOUStatus.ACTIVE, end_date=TODAY + timedelta(days=60))
    today = make_mou(status=MOUStatus.ACTIVE, end_date=TODAY)
    make_mou(status=MOUStatus.ACTIVE, end_date=TODAY + timedelta(days=61))
    make_mou(status=MOUStatus.ACTIVE, end_date=TODAY - timedelta(days=1))
    make_mou(status=MOUStatus.DRAFT, end_date=TODAY + timedelta(days=10))

    expiring = figures.expiring_mous(TODAY)

    assert [(e.mou.id, e.days_left) for e in expiring] == [(today.id, 0), (sixty.id, 60)]


def test_partner_compliance_gaps(make_partner) -> None:
    expired = make_partner(name="Expired Insurance", insurance_expiry=TODAY - timedelta(days=1))
    make_partner(name="Valid Through Today", insurance_expiry=TODAY)
    missing = make_partner(name="No Certificate", insurance_expiry=None)
    unverified = make_partner(
        name="Unverified Checks", status=PartnerStatus.APPLICANT, background_check_verified=None
    )
    no_policy = make_partner(name="No Policy", background_check_policy=False)
    make_partner(
        name="Suspended Lapsed",
        status=PartnerStatus.SUSPENDED,
        insurance_expiry=TODAY - timedelta(days=90),
    )

    gaps = {g.partner.id: g for g in figures.partner_gaps(TODAY)}

    assert set(gaps) == {expired.id, missing.id, unverified.id, no_policy.id}
    assert gaps[expired.id].insurance_expired and not gaps[expired.id].insurance_missing
    assert gaps[missing.id].insurance_missing and not gaps[missing.id].insurance_expired
    assert gaps[unverified.id].background_check_missing
    assert gaps[no_policy.id].background_check_missing
    assert not gaps[expired.id].background_check_missing


def test_data_privacy_gaps(make_mou) -> None:
    def sharing(status: MOUStatus, **dpa: object):
        return make_mou(status=status, shares_student_data=True, **dpa)

    missing = sharing(MOUStatus.SUBMITTED, dpa_status=DPAStatus.PENDING)
    lapsed = sharing(
        MOUStatus.ACTIVE,
        dpa_type=DPAType.STATE_SDPA,
        dpa_status=DPAStatus.SIGNED,
        dpa_expiry=TODAY - timedelta(days=1),
    )
    sharing(
        MOUStatus.ACTIVE,
        dpa_type=DPAType.STATE_SDPA,
        dpa_status=DPAStatus.SIGNED,
        dpa_expiry=TODAY,
    )
    sharing(MOUStatus.EXPIRED, dpa_status=DPAStatus.EXPIRED)  # over: no longer a concern
    make_mou(status=MOUStatus.ACTIVE, shares_student_data=False)

    gaps = {g.mou.id: g.reason for g in figures.dpa_gaps(TODAY)}

    assert gaps == {missing.id: "missing", lapsed.id: "expired"}


def test_schools_without_an_active_partner_this_school_year(make_school, make_mou) -> None:
    partnered = make_school(name="Partnered")
    draft_only = make_school(name="Draft Only")
    last_year_only = make_school(name="Last Year Only")
    nothing = make_school(name="Nothing")
    make_mou(status=MOUStatus.ACTIVE, schools=[partnered])
    make_mou(status=MOUStatus.DRAFT, schools=[draft_only, partnered])
    make_mou(
        status=MOUStatus.ACTIVE,
        schools=[last_year_only],
        school_year="2024-25",
        start_date=date(2024, 9, 1),
        end_date=date(2025, 6, 30),
    )

    names = [s.name for s in figures.schools_without_active_partner(TODAY)]

    assert names == sorted([draft_only.name, last_year_only.name, nothing.name])


def test_counts(make_school, make_partner, make_service, make_mou) -> None:
    north, south = make_school(enrollment=300), make_school(enrollment=450)
    make_partner(status=PartnerStatus.APPLICANT)
    make_service(active=False)
    make_service()
    make_mou(status=MOUStatus.ACTIVE, schools=[north])
    make_mou(status=MOUStatus.DRAFT, schools=[south])
    make_mou(
        status=MOUStatus.EXPIRED,
        schools=[south],
        school_year="2024-25",
        start_date=date(2024, 9, 1),
        end_date=date(2025, 6, 30),
    )

    counts = figures.counts(TODAY)

    assert counts.school_year == "2025-26"
    assert (counts.schools, counts.total_enrollment, counts.active_services) == (2, 750, 1)
    assert counts.partners_by_status[PartnerStatus.APPLICANT] == 1
    assert counts.partners_by_status[PartnerStatus.APPROVED] == 5  # services' and MOUs' partners
    assert counts.mous_by_status[MOUStatus.ACTIVE] == 1
    assert counts.mous_by_status[MOUStatus.DRAFT] == 1
    assert counts.mous_by_status[MOUStatus.EXPIRED] == 0  # last year's, not this year's
    assert counts.mous == 2


# ---- the page --------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_partner_user_is_sent_to_their_own_record(client: FlaskClient, login) -> None:
    login("partner")
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/partners/mine")


@pytest.mark.parametrize("role", ["admin", "coordinator", "leader"])
def test_district_staff_see_the_dashboard(client: FlaskClient, login, role: str) -> None:
    login(role)
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<h1>Dashboard</h1>" in page
    assert "Every school has an active partner this school year." in page


def test_dashboard_lists_and_links_what_needs_attention(
    client: FlaskClient, login, make_partner, make_school, make_mou
) -> None:
    today = district_time.today()
    year = school_year_of(today)
    first, last = year_bounds(year)
    lonely = make_school(name="Lonely Elementary")
    partner = make_partner(name="Lapsed Insurance Org", insurance_expiry=today - timedelta(days=3))
    ending = make_mou(
        partner=partner,
        status=MOUStatus.ACTIVE,
        school_year=year,
        start_date=first,
        end_date=min(last, today + timedelta(days=10)),
        shares_student_data=True,
        dpa_status=DPAStatus.PENDING,
    )
    login("leader")

    page = client.get("/").get_data(as_text=True)

    assert f'href="/mous/{ending.id}"' in page
    assert f'href="/partners/{partner.id}"' in page
    assert f'href="/schools/{lonely.id}"' in page
    assert "Lapsed Insurance Org" in page
    assert "No active MOU ends in the next 60 days." not in page


def test_the_dashboard_names_twenty_schools_without_a_partner_and_counts_them_all(
    client, login, make_school
) -> None:
    for n in range(23):
        make_school(name=f"Unpartnered {n:02d}")
    login("coordinator")
    page = client.get("/").get_data(as_text=True)
    assert page.count("Unpartnered ") == 20  # the first twenty by name
    assert "All 23 schools without an active partner" in page and "no_partner=1" in page
    assert figures.count_schools_without_active_partner(TODAY) == 23
