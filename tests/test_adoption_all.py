"""Every line a run proposes can be adopted: drafting all of them through the MOU rules is
never refused, and leaves both capacity levels (overall pool, site capacity) within bounds."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from registry.extensions import db
from registry.models import MOU, Commitment, Offering, School, Service
from registry.models.need import NeedIndexDefinition
from registry.models.scenario import Scenario, ScenarioRun
from registry.mous.services import CAPACITY_STATUSES
from registry.scenarios import runner
from registry.scenarios.adoption import adopt_lines
from registry.scenarios.services import read_run
from registry.vocabulary import Category, MOUStatus

YEAR = "2025-26"


@pytest.fixture(autouse=True)
def request_context(app: Flask) -> Iterator[None]:
    with app.test_request_context(method="POST"):
        yield


@pytest.fixture
def district(
    make_school: Callable[..., School],
    make_partner: Callable[..., Any],
    make_service: Callable[..., Service],
    make_offering: Callable[..., Offering],
    make_mou: Callable[..., MOU],
) -> dict[str, Any]:
    """Schools of all sizes; a pooled service, a listed one with site capacities and no
    pool, a big one that seats per student bound; commitments active and draft."""
    schools = [
        make_school(
            name=f"School {i}",
            enrollment=enrollment,
            indicators={"pct_high_needs": Decimal(need)},
        )
        for i, (enrollment, need) in enumerate(
            [(12, 90), (40, 80), (250, 70), (400, 50), (90, 30), (600, 20)]
        )
    ]
    partner = make_partner()
    pooled = make_service(partner=partner, name="Pooled tutoring", capacity=Decimal(300))
    listed = make_service(partner=partner, name="Listed tutoring")
    listed.capacity = None  # no overall pool (after the insert: see test_scenarios_bounds)
    db.session.commit()
    for school, site in zip(schools, (10, 30, 25, None, 15, 40), strict=True):
        make_offering(service=listed, school=school, capacity=site and Decimal(site))
    big = make_service(name="Mentoring for all", capacity=Decimal(5000))
    big.category = Category.MENTORING
    db.session.commit()
    # An active MOU (a lock by default) and a draft (taken off the capacities).
    make_mou(
        partner=partner,
        schools=[schools[1], schools[3]],
        status=MOUStatus.ACTIVE,
        commitments=[(pooled, schools[1], 20), (listed, schools[1], 12), (pooled, schools[3], 50)],
    )
    make_mou(
        partner=partner,
        schools=[schools[2]],
        commitments=[(listed, schools[2], 9), (pooled, schools[2], 30)],
    )
    make_mou(
        partner=big.partner,
        schools=[schools[0]],
        status=MOUStatus.ACTIVE,
        commitments=[(big, schools[0], 5)],
    )
    return {"schools": schools, "services": [pooled, listed, big]}


def solved(definition: NeedIndexDefinition, **overrides: Any) -> ScenarioRun:
    scenario = Scenario(
        name="Adopt everything", school_year=YEAR, need_definition_id=definition.id, **overrides
    )
    db.session.add(scenario)
    db.session.commit()
    run = runner.start_run(scenario, by=None)
    runner.solve_run(run)
    db.session.commit()
    assert run.result_json, run.error
    return run


def committed() -> dict[tuple[int, int], Decimal]:
    """What the year's MOUs that use capacity commit, per (service, school)."""
    rows = db.session.execute(
        select(Commitment.service_id, Commitment.school_id, Commitment.amount)
        .join(MOU, Commitment.mou_id == MOU.id)
        .where(MOU.school_year == YEAR, MOU.status.in_(CAPACITY_STATUSES))
    )
    totals: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for service_id, school_id, amount in rows:
        totals[(service_id, school_id)] += amount
    return totals


def assert_within_both_levels() -> None:
    totals = committed()
    for service in db.session.scalars(select(Service)):
        if service.capacity is not None:
            used = sum(a for (j, _s), a in totals.items() if j == service.id)
            assert used <= service.capacity, service.name
        for offering in service.offerings:
            if offering.capacity is not None:
                assert totals.get((service.id, offering.school_id), 0) <= offering.capacity


@pytest.mark.parametrize("keep", [True, False], ids=["locks kept", "released"])
def test_every_proposed_line_is_adopted_without_a_refusal(district, definition, keep):
    run = solved(definition, keep_commitments_as_locks=keep)
    view = read_run(run)
    lines = [row["line"] for row in view.allocation_rows]
    assert len(lines) > 6
    proposed = {row["line"]: row["amount"] for row in view.allocation_rows}
    before = committed()

    adoption = adopt_lines(run, lines)  # raises Refused on any line the MOU rules refuse
    db.session.commit()

    assert adoption.mous
    assert_within_both_levels()
    after = committed()
    for line, amount in proposed.items():
        service_id, school_id = (int(part[1:]) for part in line.split(":"))
        pair = (service_id, school_id)
        if keep:  # the pair's total is what was proposed (held commitments inside it)
            assert after[pair] == max(Decimal(str(amount)), before.get(pair, Decimal(0)))
        else:  # the proposal came on top of what was committed
            assert after[pair] == before.get(pair, Decimal(0)) + Decimal(str(amount))


def test_a_locked_line_already_committed_is_skipped_not_promised_twice(district, definition):
    run = solved(definition)
    school, pooled = district["schools"][1], district["services"][0]
    line = f"J{pooled.id}:S{school.id}"
    assert line in {row["line"] for row in read_run(run).allocation_rows}
    adoption = adopt_lines(run, [line])
    assert adoption.mous == [] and len(adoption.skipped) == 1
