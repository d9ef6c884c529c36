"""The equity KPIs on small hand-computed data."""

from __future__ import annotations

import pytest

from registry.equity.kpis import (
    SchoolUnits,
    concentration_index,
    distribution_gap,
    mou_growth,
    need_quartiles,
    targets,
)

# Three schools, from least to most need.
#   A: need .2, 100 students, 50 units → 0.5 per student
#   B: need .5, 200 students, 40 units → 0.2
#   C: need .8, 100 students, 10 units → 0.1
LEANS_TO_LESS_NEED = [
    SchoolUnits(3, 100, 0.8, 10),
    SchoolUnits(1, 100, 0.2, 50),
    SchoolUnits(2, 200, 0.5, 40),
]


def test_concentration_index_worked_by_hand() -> None:
    # E = 400; w = .25, .5, .25; r = 50/400 = .125, 200/400 = .5, 350/400 = .875
    # μ = .25·.5 + .5·.2 + .25·.1 = .25
    # Σ w(h−μ)(r−½) = .25·.25·(−.375) + 0 + .25·(−.15)·.375 = −.0234375 − .0140625 = −.0375
    # CI = (2/.25)·(−.0375) = −0.3
    assert concentration_index(LEANS_TO_LESS_NEED) == pytest.approx(-0.3)


def test_concentration_index_is_positive_when_units_follow_need() -> None:
    # Swap A's and C's units: h = .1, .2, .5 → Σ = +.0375 → CI = +0.3
    rows = [
        SchoolUnits(1, 100, 0.2, 10),
        SchoolUnits(2, 200, 0.5, 40),
        SchoolUnits(3, 100, 0.8, 50),
    ]
    assert concentration_index(rows) == pytest.approx(0.3)


def test_concentration_index_is_zero_for_even_or_empty_shares() -> None:
    even = [SchoolUnits(1, 100, 0.2, 10), SchoolUnits(2, 300, 0.9, 30)]
    assert concentration_index(even) == pytest.approx(0)
    assert concentration_index([SchoolUnits(1, 100, 0.2, 0)]) == 0
    assert concentration_index([]) == 0


def test_distribution_gap_worked_by_hand() -> None:
    # w = 100·.2 = 20, 200·.5 = 100, 100·.8 = 80; W = 200; T = 100
    # τ = 10, 50, 40; |50−10| + |40−50| + |10−40| = 80 → gap = 80 / 200 = 0.4
    assert targets(LEANS_TO_LESS_NEED) == pytest.approx({1: 10, 2: 50, 3: 40})
    assert distribution_gap(LEANS_TO_LESS_NEED) == pytest.approx(0.4)


def test_distribution_gap_is_zero_on_target_or_without_units() -> None:
    on_target = [SchoolUnits(1, 100, 0.2, 10), SchoolUnits(2, 200, 0.5, 50)]
    assert distribution_gap(on_target) == pytest.approx(0)
    assert distribution_gap([SchoolUnits(1, 100, 0.2, 0)]) == 0


def test_need_quartiles_on_eight_schools() -> None:
    # id need enrol units — given out of order; two schools per quartile
    #  1 .1 100 40 | 2 .2 300 60 → Q1: 400 students, 100 units
    #  3 .3 200 30 | 4 .4 200 20 → Q2: 400, 50
    #  5 .5 100 10 | 6 .6 100 20 → Q3: 200, 30
    #  7 .7 300 15 | 8 .8 200  5 → Q4: 500, 20
    # E = 1500, U = 200
    rows = [
        SchoolUnits(8, 200, 0.8, 5),
        SchoolUnits(3, 200, 0.3, 30),
        SchoolUnits(1, 100, 0.1, 40),
        SchoolUnits(6, 100, 0.6, 20),
        SchoolUnits(2, 300, 0.2, 60),
        SchoolUnits(7, 300, 0.7, 15),
        SchoolUnits(4, 200, 0.4, 20),
        SchoolUnits(5, 100, 0.5, 10),
    ]
    q = need_quartiles(rows)
    assert [r.quartile for r in q] == [1, 2, 3, 4]
    assert [r.schools for r in q] == [2, 2, 2, 2]
    assert [r.enrollment for r in q] == [400, 400, 200, 500]
    assert [r.units for r in q] == [100, 50, 30, 20]
    assert [r.enrollment_share for r in q] == pytest.approx([4 / 15, 4 / 15, 2 / 15, 5 / 15])
    assert [r.resource_share for r in q] == pytest.approx([0.5, 0.25, 0.15, 0.1])
    assert [r.units_per_student for r in q] == pytest.approx([0.25, 0.125, 0.15, 0.04])


def test_uneven_counts_and_ties_split_by_position() -> None:
    # 5 schools → positions [0,1) [1,2) [2,3) [3,5): 1, 1, 1, 2 (the extra in the needy end);
    # all needs equal → order by school id, so Q4 holds ids 4 and 5.
    rows = [SchoolUnits(i, 100, 0.5, i) for i in (5, 4, 3, 2, 1)]
    q = need_quartiles(rows)
    assert [r.schools for r in q] == [1, 1, 1, 2]
    assert q[3].units == 9  # ids 4 + 5
    empty = need_quartiles([])
    assert [r.schools for r in empty] == [0, 0, 0, 0]
    assert all(r.resource_share == 0 for r in empty)


@pytest.mark.parametrize(
    "counts, expected",
    [
        ({"2024-25": 8, "2025-26": 10}, 25.0),  # (10 − 8)/8 = +25 %
        ({"2024-25": 4, "2025-26": 3}, -25.0),
        ({"2025-26": 3}, None),  # no year before
        ({"2024-25": 0, "2025-26": 3}, None),
        ({"2024-25": 5}, -100.0),  # none this year
    ],
)
def test_mou_growth(counts: dict[str, int], expected: float | None) -> None:
    assert mou_growth(counts, "2025-26") == (pytest.approx(expected) if expected else expected)
