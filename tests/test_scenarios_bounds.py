"""Proposals a district could adopt: seats per student, offerings' site capacity, commitments
held as locks by default (or taken off the capacities), what stayed unplaced and why, and
schools flagged when they receive more than a seat per student."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask

import allocation
from registry.extensions import db
from registry.models import School, Service
from registry.models.need import NeedIndexDefinition
from registry.models.scenario import Scenario, ScenarioRun
from registry.scenarios import runner
from registry.scenarios.messages import in_words
from registry.scenarios.problem import (
    Conversion,
    build_problem,
    saturation_limit_id,
    served_enrollment,
)
from registry.scenarios.services import category_summary, read_run, unplaced
from registry.vocabulary import Category, MOUStatus, Unit

YEAR = "2025-26"
HIGH = ["9", "10", "11", "12"]


@pytest.fixture
def needy(make_school: Callable[..., School]) -> Callable[..., School]:
    def make(high_needs: float, **overrides: Any) -> School:
        return make_school(indicators={"pct_high_needs": Decimal(str(high_needs))}, **overrides)

    return make


@pytest.fixture
def scenario(definition: NeedIndexDefinition) -> Callable[..., Scenario]:
    def make(**overrides: Any) -> Scenario:
        values: dict[str, Any] = {
            "name": "Bounds",
            "school_year": YEAR,
            "need_definition_id": definition.id,
        }
        values.update(overrides)
        found = Scenario(**values)
        db.session.add(found)
        db.session.commit()
        return found

    return make


def solved(scenario: Scenario) -> ScenarioRun:
    run = runner.start_run(scenario, by=None)
    runner.solve_run(run)
    db.session.commit()
    assert run.result_json, run.error
    return run


def received(run: ScenarioRun) -> dict[tuple[str, str], float]:
    """Per (school key, registry category): what the run gives the school."""
    problem = json.loads(run.problem_json or "{}")
    category = {s["id"]: s["category"].split(":")[0] for s in problem["services"]}
    got: dict[tuple[str, str], float] = defaultdict(float)
    for row in json.loads(run.result_json or "{}")["allocations"]:
        got[(row["school"], category[row["service"]])] += row["amount"]
    return got


def without_pool(service: Service) -> Service:
    """No overall capacity (set after the insert: the ORM leaves a None out of an INSERT
    when the column has a default, and Service.capacity's is 0)."""
    service.capacity = None
    db.session.commit()
    return service


def entries(conversion: Conversion, service: Service) -> dict[str, float | None]:
    """A service's eligible schools and each one's per-site max (None: no bound)."""
    entry = next(s for s in conversion.problem["services"] if s["id"] == f"J{service.id}")
    return {
        (e if isinstance(e, str) else e["school"]): (None if isinstance(e, str) else e["max"])
        for e in entry["eligible"]
    }


def test_new_scenarios_hold_commitments_and_give_a_seat_per_student(app, definition):
    found = Scenario(name="Defaults", school_year=YEAR)
    db.session.add(found)
    db.session.commit()
    assert found.keep_commitments_as_locks is True
    assert found.saturation == Decimal(1)


# --- seats per student --------------------------------------------------------------------------


def test_a_10000_seat_program_never_gives_a_school_more_than_its_students(
    needy, make_service, scenario
):
    """The issue's case: one program lists 10,000 seats at high schools of 282 students."""
    schools = [needy(n, grades=HIGH, enrollment=282) for n in (90, 60, 30)]
    for _ in range(2):  # two programs in one category: a seat per student counts both
        make_service(grades=HIGH, capacity=Decimal(10_000), category=Category.COLLEGE_CAREER)

    run = solved(scenario())
    got = received(run)
    for school in schools:
        assert got[(f"S{school.id}", "college_career")] <= 282
    assert sum(got.values()) == 3 * 282

    doubled = solved(scenario(saturation=Decimal(2)))
    got = received(doubled)
    for school in schools:
        assert 282 < got[(f"S{school.id}", "college_career")] <= 2 * 282

    unbounded = solved(scenario(saturation=None))
    assert max(received(unbounded).values()) > 282  # the 16.6 seats per student


def test_the_category_bound_is_a_limit_and_each_service_a_per_site_max(
    needy, make_service, scenario
):
    school = needy(90, grades=HIGH, enrollment=282)
    first = make_service(grades=HIGH, capacity=Decimal(10_000))
    second = make_service(grades=["11", "12"], capacity=Decimal(10_000))
    conversion = build_problem(scenario())
    allocation.load_problem(conversion.problem)
    key = f"S{school.id}"
    assert entries(conversion, first) == {key: 282}
    assert entries(conversion, second) == {key: 141}  # half its grades
    [limit] = conversion.problem["limits"]
    assert limit == {
        "id": saturation_limit_id(key, "academic_support:seats"),
        "school": key,
        "category": "academic_support:seats",
        "max": 282,
    }
    assert conversion.bounds[f"J{first.id}"] == {key: "saturation"}


def test_seats_per_student_count_the_grades_served(make_school):
    """Enrollment per grade is not kept: the school's grades are taken as equally large."""
    k8 = make_school(grades=["K", "1", "2", "3", "4", "5", "6", "7", "8"], enrollment=900)
    assert served_enrollment(k8, ["6", "7", "8"]) == 300
    assert served_enrollment(k8, ["6", "7", "8", "9", "10"]) == 300
    assert served_enrollment(k8, []) == 900  # no grades named: the whole school


def test_hours_are_not_bounded_by_seats_per_student(needy, make_service, scenario):
    school = needy(90, enrollment=10)
    hours = make_service(unit=Unit.HOURS, capacity=Decimal(500))
    conversion = build_problem(scenario())
    assert entries(conversion, hours) == {f"S{school.id}": None}
    assert conversion.problem["limits"] == []


# --- offerings ------------------------------------------------------------------------------------


def test_offerings_name_the_schools_and_their_site_capacity_is_the_max(
    needy, make_service, make_offering, scenario
):
    offered = needy(90, enrollment=400)
    small = needy(60, enrollment=400)
    not_offered = needy(30, enrollment=400)  # grades overlap, but the listing does not name it
    listed = without_pool(make_service())
    make_offering(service=listed, school=offered, capacity=Decimal(20))
    make_offering(service=listed, school=small, capacity=Decimal(5))
    conversion = build_problem(scenario())
    allocation.load_problem(conversion.problem)
    assert entries(conversion, listed) == {f"S{offered.id}": 20, f"S{small.id}": 5}
    assert f"S{not_offered.id}" not in entries(conversion, listed)
    # No overall pool: the honest bound is what its sites can take.
    service = next(s for s in conversion.problem["services"] if s["id"] == f"J{listed.id}")
    assert service["capacity"] == 25
    assert conversion.bounds[f"J{listed.id}"] == {f"S{offered.id}": "site", f"S{small.id}": "site"}


def test_an_offering_without_site_capacity_is_bounded_by_seats_per_student(
    needy, make_service, make_offering, scenario
):
    school = needy(90, enrollment=30)
    listed = without_pool(make_service())
    make_offering(service=listed, school=school, capacity=None)
    conversion = build_problem(scenario())
    assert entries(conversion, listed) == {f"S{school.id}": 30}
    # Nothing bounds an hours program with neither capacity: it is left out, and says why.
    hours = without_pool(make_service(unit=Unit.HOURS))
    make_offering(service=hours, school=school, capacity=None)
    conversion = build_problem(scenario())
    [skipped] = [s for s in conversion.skipped_services if s["id"] == hours.id]
    assert "Nothing bounds" in in_words(skipped["reason"])


def test_the_smaller_of_site_capacity_and_seats_per_student_is_the_max(
    needy, make_service, make_offering, scenario
):
    small = needy(90, enrollment=12)
    big = needy(60, enrollment=500)
    listed = make_service(capacity=Decimal(1000))
    make_offering(service=listed, school=small, capacity=Decimal(40))
    make_offering(service=listed, school=big, capacity=Decimal(40))
    conversion = build_problem(scenario())
    assert entries(conversion, listed) == {f"S{small.id}": 12, f"S{big.id}": 40}
    assert conversion.bounds[f"J{listed.id}"] == {
        f"S{small.id}": "saturation",
        f"S{big.id}": "site",
    }


# --- commitments ----------------------------------------------------------------------------------


def test_commitments_are_locks_by_default_and_released_are_taken_off_both_levels(
    needy, make_service, make_offering, make_mou, scenario
):
    school = needy(90, enrollment=400)
    other = needy(50, enrollment=400)
    listed = make_service(capacity=Decimal(30))
    make_offering(service=listed, school=school, capacity=Decimal(20))
    make_offering(service=listed, school=other, capacity=Decimal(20))
    make_mou(
        partner=listed.partner,
        schools=[school],
        status=MOUStatus.ACTIVE,
        commitments=[(listed, school, 8)],
    )
    # A draft also uses capacity (the MOU rule counts it), but is never a lock.
    make_mou(partner=listed.partner, schools=[other], commitments=[(listed, other, 3)])

    kept = build_problem(scenario())
    [lock] = kept.problem["locks"]
    assert (lock["school"], lock["amount"]) == (f"S{school.id}", 8)
    service = kept.problem["services"][0]
    # The lock counts inside the pool and the site; the draft is taken off both.
    assert service["capacity"] == 27
    assert entries(kept, listed) == {f"S{school.id}": 20, f"S{other.id}": 17}
    assert kept.settings["commitments"] == "held"

    released = build_problem(scenario(keep_commitments_as_locks=False))
    assert released.problem["locks"] == []
    service = released.problem["services"][0]
    assert service["capacity"] == 19
    assert entries(released, listed) == {f"S{school.id}": 12, f"S{other.id}": 17}
    assert released.settings["commitments"] == "on_top"


def test_a_lock_above_seats_per_student_is_kept_and_raises_the_bound(
    needy, make_service, make_mou, scenario
):
    school = needy(90, enrollment=10)
    service = make_service(capacity=Decimal(100))
    make_mou(
        partner=service.partner,
        schools=[school],
        status=MOUStatus.ACTIVE,
        commitments=[(service, school, 15)],
    )
    run = solved(scenario())
    assert json.loads(run.result_json or "{}")["status"] == "optimal"
    assert received(run)[(f"S{school.id}", "academic_support")] == 15


# --- the run page -------------------------------------------------------------------------------


def test_unplaced_capacity_is_said_with_its_reason(needy, make_service, make_offering, scenario):
    schools = [needy(n, grades=HIGH, enrollment=282) for n in (90, 60, 30)]
    make_service(grades=HIGH, capacity=Decimal(3156), category=Category.COLLEGE_CAREER)
    listed = make_service(capacity=Decimal(100))
    make_offering(service=listed, school=needy(80, enrollment=400), capacity=Decimal(30))
    make_service(grades=["PK"], capacity=Decimal(7), category=Category.MENTORING)

    view = read_run(solved(scenario()))
    left = unplaced(view)
    assert left["college_career:seats"] == {"saturation": 3156 - 3 * 282}
    assert left["academic_support:seats"] == {"site": 70}
    assert left["mentoring:seats"] == {"no_school": 7}
    sentences = {r["category"]: r["unplaced"] for r in category_summary(view)}
    assert sentences["college_career:seats"] == [
        "2,310 seats of College and career stayed unplaced: every eligible school already "
        "has a seat per student."
    ]
    assert sentences["academic_support:seats"] == [
        "70 seats of Academic support stayed unplaced: every eligible school has reached "
        "its site capacity."
    ]
    assert sentences["mentoring:seats"] == [
        "7 seats of Mentoring stayed unplaced: no school taking part is eligible for its services."
    ]
    ids = {school.id for school in schools}
    rows = [r for r in view.school_rows if r["school_id"] in ids]
    assert len(rows) == 3 and all(r["allocated"] == 282 for r in rows)


def test_unplaced_because_of_the_need_threshold(needy, make_service, scenario):
    needy(90, grades=["K"])
    needy(10, grades=HIGH)
    make_service(grades=HIGH, capacity=Decimal(50))
    view = read_run(solved(scenario(need_threshold=Decimal("0.5"))))
    assert unplaced(view) == {"academic_support:seats": {"threshold": 50}}
    [row] = [r for r in category_summary(view) if r["category"] == "academic_support:seats"]
    assert "below the need threshold" in row["unplaced"][0]


def test_a_school_receiving_more_than_a_seat_per_student_is_flagged(
    client, login, needy, make_service, scenario
):
    tiny = needy(90, enrollment=4, name="Tiny Academy")
    needy(10, enrollment=400, name="Big Elementary")
    make_service(capacity=Decimal(60))
    run = solved(scenario(saturation=None))
    view = read_run(run)
    [flagged] = [r for r in view.school_rows if r["over_one"]]
    assert flagged["school_id"] == tiny.id
    login("coordinator")
    page = client.get(f"/scenarios/runs/{run.id}").get_data(as_text=True)
    assert "more than one per student" in page
    assert "1 school receives more than one seat per student" in page

    bounded = read_run(solved(scenario()))
    assert not any(r["over_one"] for r in bounded.school_rows)


def test_the_scenario_form_shows_and_saves_seats_per_student(
    client, login, definition, needy, app: Flask
):
    needy(90)
    login("leader")
    page = client.get("/scenarios/new").get_data(as_text=True)
    assert "Seats per student, per category" in page
    assert re.search(r'<input[^>]*name="saturation"[^>]*value="1.00"', page)
    assert re.search(r'<input[^>]*checked[^>]*name="keep_commitments_as_locks"', page)
    data = {
        "name": "Two seats",
        "school_year": YEAR,
        "need_definition_id": str(definition.id),
        "weight_rule": "enrollment_x_need",
        "need_threshold": "0",
        "require_service_area": "y",
        "keep_commitments_as_locks": "y",
        "saturation": "2",
        "objective": "proportional",
        "solver": "highs",
        "time_limit_s": "30",
    }
    assert client.post("/scenarios/new", data=data).status_code == 302
    found = db.session.query(Scenario).one()
    assert found.saturation == Decimal(2) and found.keep_commitments_as_locks is True
    detail = client.get(f"/scenarios/{found.id}").get_data(as_text=True)
    assert "Seats per student, per category" in detail and "Kept as locks" in detail
    edit = client.get(f"/scenarios/{found.id}/edit").get_data(as_text=True)
    assert 'value="2.00"' in edit
    data["saturation"] = "-1"
    assert client.post("/scenarios/new", data=data).status_code == 400


def test_a_listed_site_capacity_beyond_the_students_is_said_unplaced(
    needy, make_service, make_offering, scenario
):
    """No overall pool: the listing's 10,000 seats at a school of 282 are in the pool, and
    what seats per student keep from being placed is said so."""
    school = needy(90, grades=HIGH, enrollment=282)
    listed = without_pool(make_service(grades=HIGH, category=Category.COLLEGE_CAREER))
    make_offering(service=listed, school=school, capacity=Decimal(10_000))
    view = read_run(solved(scenario()))
    [service] = view.problem["services"]
    assert service["capacity"] == 10_000
    assert service["eligible"] == [{"school": f"S{school.id}", "max": 282}]
    [row] = [r for r in category_summary(view) if r["category"] == "college_career:seats"]
    assert row["unplaced"] == [
        "9,718 seats of College and career stayed unplaced: every eligible school already "
        "has a seat per student."
    ]


def test_the_run_page_says_what_stayed_unplaced_and_the_runs_settings(
    client, login, needy, make_service, scenario
):
    needy(90, grades=HIGH, enrollment=282, name="Lincoln High")
    make_service(grades=HIGH, capacity=Decimal(1000), category=Category.COLLEGE_CAREER)
    run = solved(scenario())
    login("coordinator")
    page = client.get(f"/scenarios/runs/{run.id}").get_data(as_text=True)
    assert "Capacity left unplaced, and why" in page
    assert (
        "718 seats of College and career stayed unplaced: every eligible school already has "
        "a seat per student." in page
    )
    assert "Held as locks" in page
    assert "estimated as its enrollment × the share of its grades" in page


def test_a_commitment_where_the_service_lists_no_offering_is_still_a_lock(
    needy, make_service, make_offering, make_mou, scenario
):
    offered, elsewhere = needy(90), needy(50)
    listed = make_service(capacity=Decimal(50))
    make_offering(service=listed, school=offered, capacity=Decimal(10))
    make_mou(
        partner=listed.partner,
        schools=[elsewhere],
        status=MOUStatus.ACTIVE,
        commitments=[(listed, elsewhere, 4)],
    )
    conversion = build_problem(scenario())
    allocation.load_problem(conversion.problem)
    assert entries(conversion, listed) == {f"S{offered.id}": 10, f"S{elsewhere.id}": None}
    [note] = conversion.locks
    assert note.kept and "lists no offering" in in_words(note.note)
