"""The equity KPIs as pure arithmetic over plain rows (no Flask, no database).

Definitions (``units`` are what a school receives in one unit — seats, hours
or dollars — never a mix; ``need`` is the school's composite need index):

* Need quartiles: schools sorted by need ascending, ties by school id, then
  cut by position: quartile q (1 = least need … 4 = most) holds positions
  ``floor((q−1)·n/4)`` to ``floor(q·n/4) − 1``, so uneven counts put the extra
  schools in the needier quartiles (5 schools → 1, 1, 1, 2). Equal needs on a
  boundary are split by school id, never duplicated.
  Per quartile: ``enrollment_share = E_q / E``, ``resource_share = U_q / U``,
  ``units_per_student = U_q / E_q`` (each 0 when its denominator is 0).
* Concentration index (enrollment-weighted, ranked from least to most need):
  schools with enrollment > 0 sorted by need ascending (ties by school id);
  ``w_i = e_i / E``; ``r_i = (Σ_{k<i} e_k + e_i / 2) / E``; ``h_i = u_i / e_i``;
  ``μ = Σ w_i h_i``; ``CI = (2 / μ) · Σ w_i (h_i − μ)(r_i − ½)``; 0 when μ = 0.
  It lies in (−1, 1); positive means units per student rise with need.
* Distribution gap (the allocation spec's ``gap`` on actual units):
  ``w_s = e_s · need_s``, ``W = Σ w_s``, ``T = Σ u_s``, target ``τ_s = T·w_s/W``,
  ``gap = Σ |u_s − τ_s| / (2T)``: the share of units that would have to move to
  be exactly proportional to need-weighted enrollment; 0 when T = 0. When
  W = 0 (no enrolled school) every school's target is the even share T / n.
* MOU growth: ``100 · (count(year) − count(year before)) / count(year before)``;
  None when the year before is absent or 0 (a year absent from the counts is 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from registry.schoolyear import previous_year


@dataclass(frozen=True)
class SchoolUnits:
    school_id: int
    enrollment: int
    need: float
    units: float


@dataclass(frozen=True)
class QuartileRow:
    quartile: int  # 1 = least need
    schools: int
    enrollment: int
    units: float
    enrollment_share: float
    resource_share: float
    units_per_student: float


def _by_need(rows: Sequence[SchoolUnits]) -> list[SchoolUnits]:
    return sorted(rows, key=lambda r: (r.need, r.school_id))


def quartile_groups(rows: Sequence[SchoolUnits]) -> list[list[SchoolUnits]]:
    """The rows cut into four groups by need rank, least need first (see module docstring)."""
    ordered = _by_need(rows)
    n = len(ordered)
    return [ordered[(q - 1) * n // 4 : q * n // 4] for q in range(1, 5)]


def need_quartiles(rows: Sequence[SchoolUnits]) -> list[QuartileRow]:
    """Units, enrollment and their shares for each need quartile (always four rows)."""
    total_enrollment = sum(r.enrollment for r in rows)
    total_units = sum(r.units for r in rows)
    result = []
    for q, group in enumerate(quartile_groups(rows), start=1):
        enrollment = sum(r.enrollment for r in group)
        units = sum(r.units for r in group)
        result.append(
            QuartileRow(
                quartile=q,
                schools=len(group),
                enrollment=enrollment,
                units=units,
                enrollment_share=enrollment / total_enrollment if total_enrollment else 0.0,
                resource_share=units / total_units if total_units else 0.0,
                units_per_student=units / enrollment if enrollment else 0.0,
            )
        )
    return result


def top_quartile_ids(rows: Sequence[SchoolUnits]) -> set[int]:
    """The schools of the neediest quartile."""
    return {r.school_id for r in quartile_groups(rows)[3]}


def concentration_index(rows: Sequence[SchoolUnits]) -> float:
    """Enrollment-weighted concentration index of units per student, ranked by need."""
    ordered = [r for r in _by_need(rows) if r.enrollment > 0]
    total = sum(r.enrollment for r in ordered)
    if total == 0:
        return 0.0
    weights, ranks, per_student = [], [], []
    before = 0
    for r in ordered:
        weights.append(r.enrollment / total)
        ranks.append((before + r.enrollment / 2) / total)
        per_student.append(r.units / r.enrollment)
        before += r.enrollment
    mean = sum(w * h for w, h in zip(weights, per_student, strict=True))
    if mean == 0:
        return 0.0
    covariance = sum(
        w * (h - mean) * (r - 0.5) for w, h, r in zip(weights, per_student, ranks, strict=True)
    )
    return 2 / mean * covariance


def targets(rows: Sequence[SchoolUnits]) -> dict[int, float]:
    """Each school's target: all units shared in proportion to enrollment × need."""
    total_units = sum(r.units for r in rows)
    weights = {r.school_id: r.enrollment * r.need for r in rows}
    total_weight = sum(weights.values())
    if total_weight <= 0:
        return {r.school_id: total_units / len(rows) for r in rows} if rows else {}
    return {sid: total_units * w / total_weight for sid, w in weights.items()}


def distribution_gap(rows: Sequence[SchoolUnits]) -> float:
    """Share of units that would have to move to match enrollment × need targets (spec `gap`)."""
    total_units = sum(r.units for r in rows)
    if total_units <= 0:
        return 0.0
    target = targets(rows)
    return sum(abs(r.units - target[r.school_id]) for r in rows) / (2 * total_units)


def mou_growth(counts_by_year: Mapping[str, int], year: str) -> float | None:
    """Percent increase in MOUs on the year before; None when there is nothing to compare."""
    prior = counts_by_year.get(previous_year(year))
    if not prior:
        return None
    return 100 * (counts_by_year.get(year, 0) - prior) / prior
