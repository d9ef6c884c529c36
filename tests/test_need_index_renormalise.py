"""The renormalise rule (figures worked by hand) and the default index's coverage of the
partial indicators DESE's public reports give."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask

from registry.audit import Actor, acting_as
from registry.equity.need_index import (
    DEFAULT_NAME,
    NeedSpec,
    compute_need,
    default_definition,
    need_scores,
    normalised_indicators,
)
from registry.extensions import db
from registry.models import NeedIndexDefinition, School, SchoolIndicators
from registry.models.need import MissingPolicy, Normalisation

ECON, EL = "pct_econ_disadvantaged", "pct_english_learners"
SWD, HN, ABSENT = "pct_disabilities", "pct_high_needs", "pct_chronically_absent"

# School 3 lacks EL; school 5 lacks both.
PARTIAL: dict[int, dict[str, Any]] = {
    1: {ECON: 40, EL: 10},
    2: {ECON: 60, EL: 30},
    3: {ECON: 80, EL: None},
    4: {ECON: 90, EL: 50},
    5: {ECON: None, EL: None},
}


def test_renormalise_scores_a_school_on_the_indicators_it_has() -> None:
    # econ among 1–4: 40, 60, 80, 90 → 0, 1/3, 2/3, 1; EL among 1, 2, 4: 10, 30, 50 → 0, ½, 1
    # school 2: ½(0.01 + 0.98/3) + ½(0.01 + 0.98·½) = 0.01 + 0.98·5/12 = 0.418333…
    # school 3 has econ only, its weight re-scaled to 1: 0.01 + 0.98·2/3 = 0.663333…
    needs = need_scores(PARTIAL, NeedSpec({ECON: 1, EL: 1}, missing="renormalise"))
    assert needs[1].value == pytest.approx(0.01)
    assert needs[2].value == pytest.approx(0.01 + 0.98 * 5 / 12)
    assert needs[3].value == pytest.approx(0.01 + 0.98 * 2 / 3)
    assert needs[4].value == pytest.approx(0.99)
    assert [needs[s].rank for s in (4, 3, 2, 1)] == [1, 2, 3, 4]
    three = needs[3]
    assert three.missing == (EL,) and three.imputed == () and not three.excluded
    assert three.renormalised and (three.scored_on, three.counted) == (1, 2)
    assert three.contributions == {ECON: pytest.approx(three.value)}
    assert not needs[2].renormalised and needs[2].scored_on == 2
    # None of the two: no score, no rank
    assert needs[5].excluded and needs[5].value is None and needs[5].rank is None
    assert needs[5].scored_on == 0 and not needs[5].renormalised


def test_renormalise_rescales_unequal_weights() -> None:
    # econ 3, EL 1: school 2 → ¾·⅓ + ¼·½ = 0.375 → 0.3775; school 3 still econ alone → 0.663333…
    needs = need_scores(PARTIAL, NeedSpec({ECON: 3, EL: 1}, missing="renormalise"))
    assert needs[2].value == pytest.approx(0.3775)
    assert needs[3].value == pytest.approx(0.01 + 0.98 * 2 / 3)
    assert sum(needs[2].contributions.values()) == pytest.approx(needs[2].value)


def test_renormalise_with_every_indicator_present_is_the_plain_index() -> None:
    full = {sid: v for sid, v in PARTIAL.items() if None not in v.values()}
    plain = need_scores(full, NeedSpec({ECON: 2, EL: 1}))
    renormalised = need_scores(full, NeedSpec({ECON: 2, EL: 1}, missing="renormalise"))
    assert {s: n.value for s, n in plain.items()} == {s: n.value for s, n in renormalised.items()}


def test_the_three_rules_on_the_same_school() -> None:
    spec = {ECON: 1, EL: 1}
    exclude = need_scores(PARTIAL, NeedSpec(spec, missing="exclude"))
    median = need_scores(PARTIAL, NeedSpec(spec, missing="median"))
    renormalise = need_scores(PARTIAL, NeedSpec(spec, missing="renormalise"))
    assert exclude[3].excluded
    assert median[3].imputed == (EL,) and not median[3].renormalised
    assert renormalise[3].renormalised


def test_normalised_indicators_rank_among_the_schools_that_report_each() -> None:
    normalised = normalised_indicators(PARTIAL, [ECON, EL])
    assert normalised[3] == {ECON: pytest.approx(2 / 3)}
    assert normalised[2] == {ECON: pytest.approx(1 / 3), EL: pytest.approx(0.5)}
    assert normalised[5] == {}


# ---- coverage with DESE's public reports ---------------------------------------------------


def dese_public_district(seed: int = 10, chronic_absence_share: float = 0.0) -> list[dict]:
    """105 schools' indicators as DESE's public reports give them.

    Selected populations give low income, English learners and students with
    disabilities for every school, high needs for all but a few; attendance
    (chronic absence) only when asked for, here for `chronic_absence_share` of
    them. Two schools have no report row at all (opened this year).
    """
    rng = random.Random(seed)
    schools: list[dict[str, Any]] = []
    for n in range(105):
        if n >= 103:
            schools.append({})
            continue
        values: dict[str, Any] = {
            ECON: Decimal(str(round(rng.uniform(15, 90), 1))),
            EL: Decimal(str(round(rng.uniform(2, 60), 1))),
            SWD: Decimal(str(round(rng.uniform(8, 30), 1))),
        }
        if n % 25 != 7:  # high needs missing for 5 schools
            values[HN] = Decimal(str(round(rng.uniform(30, 95), 1)))
        if rng.random() < chronic_absence_share:
            values[ABSENT] = Decimal(str(round(rng.uniform(5, 55), 1)))
        schools.append(values)
    return schools


def _load(district: list[dict[str, Any]]) -> list[School]:
    schools = []
    for n, values in enumerate(district):
        school = School(dese_code=f"0035{n:04d}", name=f"Public School {n}", enrollment=300)
        if values:
            school.indicators.append(SchoolIndicators(school_year="2025-26", **values))
        schools.append(school)
    db.session.add_all(schools)
    db.session.commit()
    return schools


@pytest.mark.parametrize("chronic_absence_share", [0.0, 0.4])
def test_the_default_scores_at_least_95_percent_of_a_district_from_public_reports(
    app: Flask, chronic_absence_share: float
) -> None:
    schools = _load(dese_public_district(chronic_absence_share=chronic_absence_share))
    with acting_as(Actor(None, "test")):
        definition = default_definition()
    assert definition.missing_policy == MissingPolicy.RENORMALISE
    assert set(definition.weights) == {ECON, EL, SWD, HN, ABSENT}
    needs = compute_need(definition, "2025-26")
    scored = [s for s in schools if needs[s.id].value is not None]
    assert len(scored) / len(schools) >= 0.95
    assert len(scored) == 103  # all but the two with no report row
    flagged = [s for s in scored if needs[s.id].renormalised]
    assert flagged and all(needs[s.id].scored_on in (3, 4) for s in flagged)

    # Version 1's rule (every indicator required) scores at most those with chronic absence.
    old = NeedIndexDefinition(
        name="Every indicator required",
        weights=dict(definition.weights),
        normalisation=Normalisation.PERCENTILE,
        missing_policy=MissingPolicy.EXCLUDE,
    )
    old_needs = compute_need(old, "2025-26")
    old_scored = sum(1 for s in schools if old_needs[s.id].value is not None)
    assert old_scored <= chronic_absence_share * 105 + 10
    if chronic_absence_share == 0:
        assert old_scored == 0  # what the issue saw: 0 of 105


def test_the_default_is_made_once_with_the_renormalise_rule(app: Flask) -> None:
    with acting_as(Actor(None, "test")):
        first = default_definition()
        again = default_definition()
    assert first is again
    assert (first.name, first.version, first.is_default) == (DEFAULT_NAME, 1, True)
    assert "where present" in first.description
