"""The need index: a school's composite need from its yearly indicators.

Formulas (all pure arithmetic in `need_scores`; `compute_need` only loads data):

* Counted indicators are those with a weight > 0 in the definition. Let
  ``W = Σ w_i`` over them.
* Missing data. A school lacking a counted indicator always has it listed in
  ``missing``. With ``missing="exclude"`` it gets no composite (``value`` None,
  ``excluded`` True, no rank). With ``missing="median"`` the indicator is
  filled with the district median *of the schools that report it* (the mean of
  the two middle values for an even count) and listed in ``imputed``; when no
  school reports it at all there is no median, and the school is excluded.
  With ``missing="renormalise"`` a school is scored on the counted indicators it
  has (``H``, its own set): its weights are re-scaled to ``w_i / Σ_{j∈H} w_j``, and
  it is flagged "scored on k of n indicators" (``k = |H|``); a school with none of
  them is excluded.
* Normalisation is done among the scored schools (those not excluded, with
  imputed values taking part), indicator by indicator, giving ``v_i`` in [0, 1];
  under ``renormalise``, indicator i is normalised among the scored schools that
  report it:
  - ``percentile``: ``v = (rank − 1) / (n − 1)`` where rank is the ascending
    rank (1 = lowest value) with ties given the average of their ranks;
    ``v = 0.5`` when n = 1.
  - ``minmax``: ``v = (x − min) / (max − min)``; ``v = 0.5`` when all are equal.
* Composite (Boston's 0.01–0.99 scale, higher = more need):
  ``value = 0.01 + 0.98 · Σ_i (w_i / W) · v_i``, the sum and ``W`` taken over the
  indicators the school is scored on (all counted ones, except under ``renormalise``).
  Indicator i's contribution is ``(w_i / W) · (0.01 + 0.98 · v_i)``, so the
  contributions sum to the value.
* Rank: 1 = most need; schools with equal values share the better rank
  (1, 2, 2, 4); excluded schools have no rank.

`compare_needs` sets two scorings side by side: the rank shift per school,
Spearman's rank correlation (Pearson's correlation of the average-tied ranks,
over schools scored by both), and which schools cross a threshold, a school
being "above" when its value is at least the threshold (the scenarios'
"schools below the threshold are not eligible").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from statistics import median
from typing import Any, Literal

from sqlalchemy import select

from registry.extensions import db
from registry.models.need import (
    DEFAULT_DESCRIPTION,
    DEFAULT_NAME,
    MissingPolicy,
    NeedIndexDefinition,
    Normalisation,
)
from registry.models.school import INDICATORS, School, SchoolIndicators
from registry.vocabulary import INDICATOR_LABELS as VOCABULARY_LABELS

FLOOR = 0.01
SPAN = 0.98

INDICATOR_LABELS: dict[str, str] = VOCABULARY_LABELS  # type: ignore[assignment]

DEFAULT_MISSING = MissingPolicy.RENORMALISE
DEFAULT_WEIGHTS: dict[str, float] = {
    "pct_econ_disadvantaged": 1.0,
    "pct_english_learners": 1.0,
    "pct_disabilities": 1.0,
    "pct_high_needs": 1.0,
    "pct_chronically_absent": 1.0,
}


@dataclass(frozen=True)
class NeedSpec:
    """What a need index counts: indicator → weight (> 0), normalisation, missing-data rule."""

    indicators: Mapping[str, float]
    normalisation: Literal["percentile", "minmax"] = "percentile"
    missing: Literal["exclude", "median", "renormalise"] = "exclude"

    def __post_init__(self) -> None:
        if not self.indicators:
            raise ValueError("a need index counts at least one indicator")
        for name, weight in self.indicators.items():
            if name not in INDICATORS:
                raise ValueError(f"unknown indicator: {name!r}")
            if not (isinstance(weight, int | float) and math.isfinite(weight) and weight > 0):
                raise ValueError(f"weight of {name} must be a positive number")
        if self.normalisation not in ("percentile", "minmax"):
            raise ValueError(f"unknown normalisation: {self.normalisation!r}")
        if self.missing not in ("exclude", "median", "renormalise"):
            raise ValueError(f"unknown missing-data rule: {self.missing!r}")

    @classmethod
    def of(cls, definition: NeedIndexDefinition) -> NeedSpec:
        """The spec of a stored definition (indicators with weight 0 are not counted)."""
        return cls(
            indicators={
                name: float(w) for name, w in (definition.weights or {}).items() if float(w) > 0
            },
            normalisation=Normalisation(definition.normalisation).value,
            missing=MissingPolicy(definition.missing_policy).value,
        )


@dataclass(frozen=True)
class SchoolNeed:
    """One school's need: composite value, what makes it up, and what data it lacked."""

    school_id: int
    value: float | None
    contributions: dict[str, float] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    imputed: tuple[str, ...] = ()
    excluded: bool = False
    rank: int | None = None
    counted: int = 0  # n: the indicators the definition counts

    @property
    def scored_on(self) -> int:
        """k: the indicators the value rests on (imputed ones not included); 0 when excluded."""
        if self.excluded:
            return 0
        return self.counted - len(self.missing)

    @property
    def renormalised(self) -> bool:
        """Scored on fewer indicators than counted, its weights re-scaled over what it has."""
        return bool(self.missing) and not self.excluded and not self.imputed


def percentile_ranks(values: Sequence[float]) -> list[float]:
    """Each value's (rank − 1)/(n − 1), ranks ascending with ties averaged; 0.5 when n = 1."""
    n = len(values)
    if n == 1:
        return [0.5]
    order = sorted(range(n), key=lambda i: values[i])
    ranks = [0.0] * n
    start = 0
    while start < n:
        end = start
        while end + 1 < n and values[order[end + 1]] == values[order[start]]:
            end += 1
        average_rank = (start + end) / 2 + 1  # 1-based average of positions start..end
        for k in range(start, end + 1):
            ranks[order[k]] = average_rank
        start = end + 1
    return [(r - 1) / (n - 1) for r in ranks]


def minmax_scale(values: Sequence[float]) -> list[float]:
    """Each value's (x − min)/(max − min); 0.5 for all when they are equal."""
    low, high = min(values), max(values)
    if high == low:
        return [0.5] * len(values)
    return [(v - low) / (high - low) for v in values]


def _number(value: float | Decimal | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def need_scores(
    raw: Mapping[int, Mapping[str, float | Decimal | None]], spec: NeedSpec
) -> dict[int, SchoolNeed]:
    """Every school's composite need under a spec (see the module docstring for the formulas)."""
    counted = list(spec.indicators)
    renormalise = spec.missing == "renormalise"
    values = {
        sid: {name: _number(indicators.get(name)) for name in counted}
        for sid, indicators in raw.items()
    }
    missing = {
        sid: tuple(name for name in counted if vals[name] is None) for sid, vals in values.items()
    }
    medians: dict[str, float | None] = {}
    for name in counted:
        reported = [v[name] for v in values.values() if v[name] is not None]
        medians[name] = median(reported) if reported else None  # type: ignore[type-var]

    excluded: set[int] = set()
    # Each scored school's value of each indicator it is scored on.
    filled: dict[int, dict[str, float]] = {}
    for sid, vals in values.items():
        if renormalise:
            has = {name: v for name, v in vals.items() if v is not None}
            if has:
                filled[sid] = has
            else:
                excluded.add(sid)
            continue
        if missing[sid] and (
            spec.missing == "exclude" or any(medians[name] is None for name in missing[sid])
        ):
            excluded.add(sid)
            continue
        filled[sid] = {
            name: (vals[name] if vals[name] is not None else medians[name])  # type: ignore[misc]
            for name in counted
        }

    scored = sorted(filled)
    normalised: dict[int, dict[str, float]] = {sid: {} for sid in scored}
    scale = percentile_ranks if spec.normalisation == "percentile" else minmax_scale
    for name in counted:
        reporting = [sid for sid in scored if name in filled[sid]]
        if reporting:
            for sid, v in zip(
                reporting, scale([filled[sid][name] for sid in reporting]), strict=True
            ):
                normalised[sid][name] = v

    contributions: dict[int, dict[str, float]] = {}
    for sid in scored:
        used = [name for name in counted if name in normalised[sid]]
        total_weight = sum(spec.indicators[name] for name in used)
        contributions[sid] = {
            name: spec.indicators[name] / total_weight * (FLOOR + SPAN * normalised[sid][name])
            for name in used
        }
    composite = {sid: sum(contributions[sid].values()) for sid in scored}
    # Rounded for comparison so float noise never splits a tie.
    keyed = {sid: round(v, 12) for sid, v in composite.items()}
    # 1 + the number of schools with more need: the first position of the value, descending.
    first: dict[float, int] = {}
    for position, value in enumerate(sorted(keyed.values(), reverse=True), 1):
        first.setdefault(value, position)
    ranks = {sid: first[keyed[sid]] for sid in scored}

    n = len(counted)
    result: dict[int, SchoolNeed] = {}
    for sid in values:
        if sid in excluded:
            result[sid] = SchoolNeed(sid, None, {}, missing[sid], (), True, None, n)
        else:
            result[sid] = SchoolNeed(
                sid,
                composite[sid],
                contributions[sid],
                missing[sid],
                () if renormalise else missing[sid],  # the median fills every missing one
                False,
                ranks[sid],
                n,
            )
    return result


def normalised_indicators(
    raw: Mapping[int, Mapping[str, float | Decimal | None]],
    indicators: Sequence[str],
    normalisation: Literal["percentile", "minmax"] = "percentile",
) -> dict[int, dict[str, float]]:
    """Each school's indicators on the 0–1 scale, each among the schools that report it
    (as ``renormalise`` scores them); a school lacking an indicator has no entry for it."""
    scale = percentile_ranks if normalisation == "percentile" else minmax_scale
    result: dict[int, dict[str, float]] = {sid: {} for sid in raw}
    for name in indicators:
        reported = {
            sid: number
            for sid in sorted(raw)
            if (number := _number(raw[sid].get(name))) is not None
        }
        if reported:
            scaled = scale(list(reported.values()))
            for sid, v in zip(reported, scaled, strict=True):
                result[sid][name] = v
    return result


def ranked(needs: Mapping[int, SchoolNeed]) -> list[SchoolNeed]:
    """Scored schools from most to least need (ties by school id), then the excluded ones."""
    return sorted(
        needs.values(),
        key=lambda n: (n.excluded, n.rank if n.rank is not None else 0, n.school_id),
    )


@dataclass(frozen=True)
class RankShift:
    school_id: int
    value_a: float | None
    value_b: float | None
    rank_a: int | None
    rank_b: int | None
    crosses: bool  # at or above the threshold under one definition, below under the other

    @property
    def shift(self) -> int | None:
        """Places gained in need by moving from A to B (positive = ranked needier under B)."""
        if self.rank_a is None or self.rank_b is None:
            return None
        return self.rank_a - self.rank_b


@dataclass(frozen=True)
class NeedComparison:
    rows: list[RankShift]
    spearman: float | None  # None with fewer than two schools scored by both, or no variation
    threshold: float

    @property
    def crossing(self) -> list[RankShift]:
        return [r for r in self.rows if r.crosses]


def _pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation of paired values (ties averaged); None when undefined."""
    if len(a) < 2:
        return None
    return _pearson(percentile_ranks(a), percentile_ranks(b))


def compare_needs(
    a: Mapping[int, SchoolNeed], b: Mapping[int, SchoolNeed], threshold: float
) -> NeedComparison:
    """Two scorings of the same schools side by side: rank shifts, correlation, crossings."""
    rows = []
    for sid in sorted(set(a) | set(b)):
        na, nb = a.get(sid), b.get(sid)
        va = na.value if na else None
        vb = nb.value if nb else None
        crosses = va is not None and vb is not None and (va >= threshold) != (vb >= threshold)
        rows.append(
            RankShift(sid, va, vb, na.rank if na else None, nb.rank if nb else None, crosses)
        )
    both = [r for r in rows if r.value_a is not None and r.value_b is not None]
    rho = spearman([r.value_a for r in both], [r.value_b for r in both])  # type: ignore[misc]
    rows.sort(key=lambda r: (r.rank_a is None, r.rank_a or 0, r.school_id))
    return NeedComparison(rows, rho, threshold)


def indicator_rows(school_year: str, *school_columns: Any) -> list[tuple[Any, ...]]:
    """Every school (`School.id`, then `school_columns`), then its indicators for a year,
    all None when it has no row for that year: one query, an outer join, no objects
    loaded (a state has some 1,900 schools)."""
    indicators = [getattr(SchoolIndicators, name) for name in INDICATORS]
    found = db.session.execute(
        select(School.id, *school_columns, *indicators).outerjoin(
            SchoolIndicators,
            (SchoolIndicators.school_id == School.id)
            & (SchoolIndicators.school_year == school_year),
        )
    )
    return [tuple(row) for row in found]


def raw_indicators(school_year: str) -> dict[int, dict[str, Decimal | None]]:
    """Every school's indicators for a year; a school with no row for it has them all missing."""
    return {
        school_id: dict(zip(INDICATORS, values, strict=True))
        for school_id, *values in indicator_rows(school_year)
    }


def compute_need(definition: NeedIndexDefinition, school_year: str) -> dict[int, SchoolNeed]:
    """Every school's need for a school year under a stored definition."""
    return need_scores(raw_indicators(school_year), NeedSpec.of(definition))


def find_default_definition() -> NeedIndexDefinition | None:
    """The definition marked default (the newest, should two be), or None; never writes."""
    return db.session.scalars(
        select(NeedIndexDefinition)
        .where(NeedIndexDefinition.is_default.is_(True))
        .order_by(NeedIndexDefinition.id.desc())
    ).first()


def default_definition() -> NeedIndexDefinition:
    """The default definition, created (and flushed) when none is marked default.

    Only for writers (seed-demo, building a scenario's problem); a page that
    reads uses `find_default_definition`. The migration that made the current
    default (20261130_b5e2c7d19a3f) holds the same description, weights and rule.
    """
    found = find_default_definition()
    if found is not None:
        return found
    existing = db.session.scalars(
        select(NeedIndexDefinition.version).where(NeedIndexDefinition.name == DEFAULT_NAME)
    ).all()
    definition = NeedIndexDefinition(
        name=DEFAULT_NAME,
        version=max(existing, default=0) + 1,
        description=DEFAULT_DESCRIPTION,
        weights=dict(DEFAULT_WEIGHTS),
        normalisation=Normalisation.PERCENTILE,
        missing_policy=DEFAULT_MISSING,
        is_default=True,
    )
    db.session.add(definition)
    db.session.flush()
    return definition
