"""The registry-to-problem conversion: each eligibility rule, weights, locks and limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask

import allocation
from registry.extensions import db
from registry.models import School, Service
from registry.models.need import NeedIndexDefinition
from registry.models.scenario import Scenario, WeightRule
from registry.scenarios.messages import in_words
from registry.scenarios.problem import (
    Conversion,
    build_problem,
    category_key,
    category_label,
    split_category_key,
)
from registry.vocabulary import Category, MOUStatus, PartnerStatus, Unit

YEAR = "2025-26"


@pytest.fixture(autouse=True)
def request_context(app: Flask) -> Iterator[None]:
    # The conversion's notes are translated, which needs a request (or a forced locale);
    # a POST, as building a problem is part of starting a run, and the factories write.
    with app.test_request_context(method="POST"):
        yield


@pytest.fixture
def needy(make_school: Callable[..., School]) -> Callable[..., School]:
    def make(high_needs: float, **overrides: Any) -> School:
        return make_school(indicators={"pct_high_needs": Decimal(str(high_needs))}, **overrides)

    return make


@pytest.fixture
def scenario(definition: NeedIndexDefinition) -> Callable[..., Scenario]:
    def make(**overrides: Any) -> Scenario:
        values: dict[str, Any] = {
            "name": "Test scenario",
            "school_year": YEAR,
            "need_definition_id": definition.id,
        }
        values.update(overrides)
        found = Scenario(**values)
        db.session.add(found)
        db.session.commit()
        return found

    return make


def eligible(conversion: Conversion, service: Service) -> list[str]:
    """The schools a service is eligible at (bare ids or per-site entries)."""
    entry = next(s for s in conversion.problem["services"] if s["id"] == f"J{service.id}")
    return [e if isinstance(e, str) else e["school"] for e in entry["eligible"]]


def valid(conversion: Conversion) -> Conversion:
    allocation.load_problem(conversion.problem)  # raises ProblemError if not
    return conversion


def test_schools_and_services_become_the_spec_problem(needy, make_service, scenario):
    high = needy(90, enrollment=200)
    low = needy(10, enrollment=100)
    seats = make_service(capacity=Decimal(30))
    hours = make_service(unit=Unit.HOURS, capacity=Decimal("12.5"))

    conversion = valid(build_problem(scenario()))

    schools = {s["id"]: s for s in conversion.problem["schools"]}
    # enrollment × need: 200 × 0.99 and 100 × 0.01
    assert schools[f"S{high.id}"]["weight"] == pytest.approx(198)
    assert schools[f"S{low.id}"]["weight"] == pytest.approx(1)
    services = {s["id"]: s for s in conversion.problem["services"]}
    assert services[f"J{seats.id}"]["integer"] is True
    assert services[f"J{seats.id}"]["capacity"] == 30
    # For people: the partner's name (the id is the service's own).
    assert services[f"J{seats.id}"]["partner"] == seats.partner.name
    assert services[f"J{seats.id}"]["unit"] == "seats"
    assert schools[f"S{high.id}"]["code"] == high.dese_code
    assert schools[f"S{high.id}"]["enrollment"] == 200
    assert "integer" not in services[f"J{hours.id}"]
    assert services[f"J{hours.id}"]["capacity"] == 12.5
    assert eligible(conversion, seats) == sorted([f"S{high.id}", f"S{low.id}"])
    assert conversion.problem["objective"] == "proportional"
    assert conversion.problem["options"] == {"time_limit_s": 60}


@pytest.mark.parametrize(
    "rule, expected", [("enrollment_x_need", 198.0), ("need", 0.99), ("enrollment", 200.0)]
)
def test_weight_rules(needy, make_service, scenario, rule, expected):
    school = needy(90, enrollment=200)
    needy(10, enrollment=100)
    make_service()
    conversion = valid(build_problem(scenario(weight_rule=WeightRule(rule))))
    weights = {s["id"]: s["weight"] for s in conversion.problem["schools"]}
    assert weights[f"S{school.id}"] == pytest.approx(expected)


def test_grades_served_must_overlap_the_schools_grades(needy, make_service, scenario):
    elementary = needy(90, grades=["K", "1", "2", "3", "4", "5"])
    high_school = needy(10, grades=["9", "10", "11", "12"])
    reading = make_service(grades=["1", "2"])
    conversion = valid(build_problem(scenario()))
    assert eligible(conversion, reading) == [f"S{elementary.id}"]
    assert high_school.id not in [int(k[1:]) for k in eligible(conversion, reading)]


def test_service_area_rule_on_by_default_and_can_be_turned_off(
    needy, make_partner, make_service, scenario
):
    inside = needy(90, zip="01603")
    outside = needy(10, zip="01602")
    local = make_partner(district_wide=False, service_zips=["01603"])
    service = make_service(partner=local)

    assert eligible(valid(build_problem(scenario())), service) == [f"S{inside.id}"]
    anywhere = scenario(require_service_area=False)
    assert eligible(valid(build_problem(anywhere)), service) == sorted(
        [f"S{inside.id}", f"S{outside.id}"]
    )


def test_schools_below_the_threshold_are_not_eligible_and_say_why(needy, make_service, scenario):
    high = needy(90)
    low = needy(10)
    make_service()
    conversion = valid(build_problem(scenario(need_threshold=Decimal("0.50"))))
    assert [s["id"] for s in conversion.problem["schools"]] == [f"S{high.id}"]
    assert "below the threshold" in in_words(conversion.schools[f"S{low.id}"].excluded)


def test_a_school_at_the_threshold_is_eligible(needy, make_service, scenario):
    needy(90)
    low = needy(10)
    make_service()
    conversion = valid(build_problem(scenario(need_threshold=Decimal("0.01"))))
    assert f"S{low.id}" in [s["id"] for s in conversion.problem["schools"]]


def test_schools_missing_need_data_are_not_eligible_and_say_why(
    needy, make_school, make_service, scenario
):
    needy(90)
    needy(10)
    unknown = make_school()  # no indicators for the year
    make_service()
    conversion = valid(build_problem(scenario()))
    assert f"S{unknown.id}" not in [s["id"] for s in conversion.problem["schools"]]
    assert "No need index" in in_words(conversion.schools[f"S{unknown.id}"].excluded)


def test_schools_without_enrollment_are_not_eligible(needy, make_service, scenario):
    needy(90)
    empty = needy(10, enrollment=0)
    make_service()
    conversion = valid(build_problem(scenario()))
    assert "weight is zero" in in_words(conversion.schools[f"S{empty.id}"].excluded)


def test_inactive_services_are_left_out(needy, make_service, scenario):
    needy(90)
    retired = make_service(active=False)
    conversion = valid(build_problem(scenario()))
    assert f"J{retired.id}" not in conversion.services
    assert conversion.skipped_services[0]["id"] == retired.id


@pytest.mark.parametrize(
    "status", [PartnerStatus.APPLICANT, PartnerStatus.SUSPENDED, PartnerStatus.INACTIVE]
)
def test_services_of_partners_not_approved_are_left_out(
    needy, make_partner, make_service, scenario, status
):
    needy(90)
    service = make_service(partner=make_partner(status=status))
    conversion = valid(build_problem(scenario()))
    assert f"J{service.id}" not in conversion.services


def test_category_filter_and_chosen_services(needy, make_service, scenario):
    needy(90)
    tutoring = make_service(category=Category.ACADEMIC_SUPPORT)
    other_tutoring = make_service(category=Category.ACADEMIC_SUPPORT)
    counselling = make_service(category=Category.MENTAL_HEALTH)

    only_tutoring = valid(build_problem(scenario(categories=["academic_support"])))
    assert set(only_tutoring.services) == {f"J{tutoring.id}", f"J{other_tutoring.id}"}

    chosen = valid(build_problem(scenario(service_ids=[tutoring.id, counselling.id])))
    assert set(chosen.services) == {f"J{tutoring.id}", f"J{counselling.id}"}


def test_limits_are_passed_with_ids_and_left_out_for_schools_not_taking_part(
    needy, make_service, scenario
):
    high = needy(90)
    low = needy(10)
    make_service()
    conversion = valid(
        build_problem(
            scenario(
                need_threshold=Decimal("0.5"),
                limits=[
                    {"school_id": high.id, "category": "academic_support", "min": 5, "max": None},
                    {"school_id": low.id, "category": "academic_support", "min": None, "max": 9},
                ],
            )
        )
    )
    # Stored limits without a unit are in seats.
    assert conversion.problem["limits"] == [
        {"id": "L0", "school": f"S{high.id}", "category": "academic_support:seats", "min": 5}
    ]
    assert conversion.skipped_limits[0]["index"] == 1


# --- one unit per allocation category -------------------------------------------------------


def test_a_category_with_seats_and_hours_is_two_allocation_categories(
    needy, make_service, scenario
):
    needy(90)
    seats = make_service(category=Category.MENTORING, unit=Unit.SEATS, capacity=Decimal(10))
    hours = make_service(category=Category.MENTORING, unit=Unit.HOURS, capacity=Decimal(40))
    conversion = valid(build_problem(scenario(categories=["mentoring"])))
    categories = {s["id"]: s["category"] for s in conversion.problem["services"]}
    assert categories == {f"J{seats.id}": "mentoring:seats", f"J{hours.id}": "mentoring:hours"}

    result = allocation.solve(conversion.problem)
    # Placed and capacity per unit, never 10 seats + 40 hours = 50 of anything.
    assert {f.category: f.placed for f in result.categories} == {
        "mentoring:seats": 10,
        "mentoring:hours": 40,
    }


def test_category_keys_and_labels():
    assert category_key(Category.MENTORING, Unit.HOURS) == "mentoring:hours"
    assert split_category_key("mentoring:hours") == (Category.MENTORING, Unit.HOURS)
    for bad in ("mentoring", "mentoring:litres", "nope:seats"):
        with pytest.raises(ValueError):
            split_category_key(bad)
    assert category_label("mentoring:hours") == "Mentoring · hours"
    assert category_label("mentoring") == "Mentoring"  # runs stored before units


def test_a_limit_bounds_only_its_unit(needy, make_service, scenario):
    school = needy(90)
    needy(50)
    make_service(category=Category.MENTORING, unit=Unit.SEATS, capacity=Decimal(10))
    make_service(category=Category.MENTORING, unit=Unit.HOURS, capacity=Decimal(40))
    limit = {"school_id": school.id, "category": "mentoring", "unit": "hours", "max": 5}
    conversion = valid(build_problem(scenario(categories=["mentoring"], limits=[limit])))
    assert conversion.problem["limits"] == [
        {"id": "L0", "school": f"S{school.id}", "category": "mentoring:hours", "max": 5}
    ]
    result = allocation.solve(conversion.problem)
    got = {(r.school, r.category): r.allocated for r in result.schools}
    assert got[(f"S{school.id}", "mentoring:hours")] == pytest.approx(5)
    # Its seats are not held back by an hours limit: 10 seats, nearly all to the needier school.
    assert got[(f"S{school.id}", "mentoring:seats")] > 5


# --- locks from commitments ---------------------------------------------------------------


def test_active_commitments_of_the_year_become_locks(needy, make_service, make_mou, scenario):
    school = needy(90)
    needy(10)
    service = make_service()
    partner = service.partner
    make_mou(
        partner=partner,
        schools=[school],
        status=MOUStatus.ACTIVE,
        commitments=[(service, school, 10)],
    )
    make_mou(
        partner=partner,
        schools=[school],
        status=MOUStatus.ACTIVE,
        commitments=[(service, school, 5)],
    )
    # Neither a draft nor last year's MOU is a lock.
    make_mou(partner=partner, schools=[school], commitments=[(service, school, 7)])
    make_mou(
        partner=partner,
        schools=[school],
        status=MOUStatus.ACTIVE,
        school_year="2024-25",
        start_date=date(2024, 9, 1),
        end_date=date(2025, 6, 30),
        commitments=[(service, school, 3)],
    )

    released = valid(build_problem(scenario(keep_commitments_as_locks=False)))
    assert released.problem["locks"] == []

    # Kept by default.
    conversion = valid(build_problem(scenario()))
    [lock] = conversion.problem["locks"]
    # Two active MOUs on one pair: one lock, their sum.
    assert (lock["service"], lock["school"], lock["amount"]) == (
        f"J{service.id}",
        f"S{school.id}",
        15,
    )
    assert conversion.locks[0].kept and len(conversion.locks[0].mou_ids) == 2


def test_a_locked_pair_outside_the_service_area_is_made_eligible(
    needy, make_partner, make_service, make_mou, scenario
):
    school = needy(90, zip="01602")
    needy(10, zip="01603")
    local = make_partner(district_wide=False, service_zips=["01603"])
    service = make_service(partner=local)
    make_mou(
        partner=local, schools=[school], status=MOUStatus.ACTIVE, commitments=[(service, school, 4)]
    )
    conversion = valid(build_problem(scenario(keep_commitments_as_locks=True)))
    assert f"S{school.id}" in eligible(conversion, service)
    assert conversion.problem["locks"][0]["amount"] == 4
    assert "made eligible" in in_words(conversion.locks[0].note)


def test_commitments_that_cannot_be_locks_are_reported_not_kept(
    needy, make_service, make_mou, scenario
):
    high = needy(90)
    low = needy(10)
    service = make_service(capacity=Decimal(100))
    retired = make_service(active=False)
    make_mou(
        partner=service.partner,
        schools=[low],
        status=MOUStatus.ACTIVE,
        commitments=[(service, low, 5)],
    )
    make_mou(
        partner=retired.partner,
        schools=[high],
        status=MOUStatus.ACTIVE,
        commitments=[(retired, high, 5)],
    )
    # Capacity cut after signing: the commitment is now above it.
    make_mou(
        partner=service.partner,
        schools=[high],
        status=MOUStatus.ACTIVE,
        commitments=[(service, high, 80)],
    )
    service.capacity = Decimal(50)
    db.session.commit()

    conversion = valid(
        build_problem(scenario(keep_commitments_as_locks=True, need_threshold=Decimal("0.5")))
    )
    assert conversion.problem["locks"] == []
    notes = {(n.service, n.school): n for n in conversion.locks}
    assert "does not take part" in in_words(notes[(f"J{service.id}", f"S{low.id}")].note)
    assert "out of scope" in in_words(notes[(f"J{retired.id}", f"S{high.id}")].note)
    assert "above the service's capacity" in in_words(notes[(f"J{service.id}", f"S{high.id}")].note)
    assert not any(n.kept for n in conversion.locks)
