"""The need index: normalisation, composite, missing data, comparison (figures worked by hand)."""

from __future__ import annotations

import pytest

from registry.equity.need_index import (
    NeedSpec,
    compare_needs,
    need_scores,
    percentile_ranks,
)

ECON, EL = "pct_econ_disadvantaged", "pct_english_learners"

# Four schools, two indicators.
FOUR = {
    1: {ECON: 40, EL: 10},
    2: {ECON: 60, EL: 30},
    3: {ECON: 80, EL: 30},
    4: {ECON: 90, EL: 50},
}


def test_percentile_ranks_average_ties() -> None:
    # 10, 30, 30, 50 → ranks 1, 2.5, 2.5, 4 → (rank−1)/3 = 0, .5, .5, 1
    assert percentile_ranks([10, 30, 30, 50]) == [0, 0.5, 0.5, 1]
    assert percentile_ranks([7]) == [0.5]


def test_percentile_composite_worked_by_hand() -> None:
    # econ 40, 60, 80, 90 → ranks 1..4 → 0, 1/3, 2/3, 1
    # EL   10, 30, 30, 50 → 0, .5, .5, 1
    # equal weights: mean = 0, 5/12, 7/12, 1
    # value = 0.01 + 0.98·mean = 0.01, 0.418333…, 0.581667…, 0.99
    needs = need_scores(FOUR, NeedSpec({ECON: 1, EL: 1}))
    assert needs[1].value == pytest.approx(0.01)
    assert needs[2].value == pytest.approx(0.01 + 0.98 * 5 / 12)
    assert needs[3].value == pytest.approx(0.01 + 0.98 * 7 / 12)
    assert needs[4].value == pytest.approx(0.99)
    assert [needs[s].rank for s in (1, 2, 3, 4)] == [4, 3, 2, 1]
    # School 2's contributions: econ ½·(0.01 + 0.98/3) = 0.168333…, EL ½·(0.01 + 0.49) = 0.25
    assert needs[2].contributions[ECON] == pytest.approx(0.5 * (0.01 + 0.98 / 3))
    assert needs[2].contributions[EL] == pytest.approx(0.25)
    assert sum(needs[2].contributions.values()) == pytest.approx(needs[2].value)
    assert not any(n.missing or n.excluded for n in needs.values())


def test_weights_shift_the_composite() -> None:
    # econ weight 3, EL weight 1: school 2 → ¾·⅓ + ¼·½ = 0.375 → 0.01 + 0.98·0.375 = 0.3775
    needs = need_scores(FOUR, NeedSpec({ECON: 3, EL: 1}))
    assert needs[2].value == pytest.approx(0.3775)


def test_minmax_composite_worked_by_hand() -> None:
    # school 2: econ (60−40)/(90−40) = 0.4, EL (30−10)/(50−10) = 0.5 → mean 0.45
    # value = 0.01 + 0.98·0.45 = 0.451
    needs = need_scores(FOUR, NeedSpec({ECON: 1, EL: 1}, normalisation="minmax"))
    assert needs[2].value == pytest.approx(0.451)
    assert needs[1].value == pytest.approx(0.01)
    assert needs[4].value == pytest.approx(0.99)


def test_all_equal_values_sit_in_the_middle() -> None:
    raw = {1: {ECON: 50}, 2: {ECON: 50}}
    for normalisation in ("percentile", "minmax"):
        needs = need_scores(raw, NeedSpec({ECON: 1}, normalisation=normalisation))
        # v = 0.5 → 0.01 + 0.49 = 0.5, and both share rank 1
        assert [n.value for n in needs.values()] == pytest.approx([0.5, 0.5])
        assert [n.rank for n in needs.values()] == [1, 1]


def test_a_school_missing_an_indicator_is_excluded_and_flagged() -> None:
    raw = {**FOUR, 5: {ECON: 70, EL: None}}
    needs = need_scores(raw, NeedSpec({ECON: 1, EL: 1}, missing="exclude"))
    assert needs[5].value is None
    assert needs[5].excluded and needs[5].rank is None
    assert needs[5].missing == (EL,) and needs[5].imputed == ()
    # the others are scored among themselves, exactly as without school 5
    assert needs[2].value == pytest.approx(0.01 + 0.98 * 5 / 12)


def test_a_school_missing_an_indicator_gets_the_district_median_when_asked() -> None:
    # EL median of the reporting schools (10, 30, 30, 50) = 30 → school 5 gets 30.
    # Among 5 schools: econ 40, 60, 70, 80, 90 → school 5 is 3rd → (3−1)/4 = 0.5
    # EL 10, 30, 30, 30, 50 → the three 30s share rank 3 → 0.5
    # value = 0.01 + 0.98·0.5 = 0.5
    raw = {**FOUR, 5: {ECON: 70}}
    needs = need_scores(raw, NeedSpec({ECON: 1, EL: 1}, missing="median"))
    assert needs[5].value == pytest.approx(0.5)
    assert needs[5].missing == (EL,) and needs[5].imputed == (EL,)
    assert not needs[5].excluded
    assert needs[4].rank == 1 and needs[5].rank == 3


def test_no_median_without_any_reported_value() -> None:
    raw = {1: {ECON: 40, EL: None}, 2: {ECON: 60, EL: None}}
    needs = need_scores(raw, NeedSpec({ECON: 1, EL: 1}, missing="median"))
    assert all(n.excluded and n.value is None for n in needs.values())


def test_uncounted_indicators_are_ignored() -> None:
    raw = {1: {ECON: 40, EL: None}, 2: {ECON: 60, EL: None}}
    needs = need_scores(raw, NeedSpec({ECON: 1}))
    assert needs[1].missing == () and needs[2].rank == 1


@pytest.mark.parametrize(
    "weights",
    [{}, {ECON: 0}, {ECON: -1}, {"pct_left_handed": 1}, {ECON: float("nan")}],
)
def test_spec_refuses_bad_weights(weights: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        NeedSpec(weights)


def test_compare_rank_shift_correlation_and_crossings() -> None:
    # A ranks by econ only: values 0.01, 0.336667, 0.663333, 0.99 (ranks 4, 3, 2, 1)
    # B ranks by EL only: 0.01, 0.5, 0.5, 0.99 (ranks 4, 2, 2, 1)
    a = need_scores(FOUR, NeedSpec({ECON: 1}))
    b = need_scores(FOUR, NeedSpec({EL: 1}))
    comparison = compare_needs(a, b, threshold=0.4)
    by_id = {r.school_id: r for r in comparison.rows}
    assert by_id[2].shift == 1  # rank 3 under A, 2 under B
    assert by_id[3].shift == 0
    # Only school 2 crosses 0.4: 0.3367 under A, 0.5 under B
    assert [r.school_id for r in comparison.crossing] == [2]
    # Spearman: ranks of A (1, 2, 3, 4) against B (1, 2.5, 2.5, 4):
    # deviations A −1.5, −.5, .5, 1.5; B −1.5, 0, 0, 1.5 → Σxy = 4.5, Σx² = 5, Σy² = 4.5
    # ρ = 4.5 / √(5·4.5) = 0.948683
    assert comparison.spearman == pytest.approx(4.5 / (5 * 4.5) ** 0.5)


def test_compare_perfectly_reversed_is_minus_one() -> None:
    a = need_scores({1: {ECON: 1}, 2: {ECON: 2}, 3: {ECON: 3}}, NeedSpec({ECON: 1}))
    b = need_scores({1: {ECON: 3}, 2: {ECON: 2}, 3: {ECON: 1}}, NeedSpec({ECON: 1}))
    assert compare_needs(a, b, 0.56).spearman == pytest.approx(-1)
