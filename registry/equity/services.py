"""The equity figures from the registry: load rows, hand them to the pure KPI and need functions.

Definitions used here (the arithmetic itself is documented in `kpis` and `need_index`):

* An MOU is *in force* in a school year when its status is active, expired or
  terminated (it was once active) and its term (start to end date) overlaps
  that year's July 1 – June 30. Drafts and submitted MOUs never count.
* *Units* of a school in a year are the commitments of MOUs of that school
  year (``MOU.school_year``) whose status is active or expired, in one unit
  (seats, hours or dollars — never mixed), optionally of one category.
  Terminated MOUs' commitments are not counted as delivered.
* A school *without a partner* in a year has no MOU in force that year.
* KPI 3.2 uses each school's current enrollment and its need in that year;
  schools the need index could not score are listed apart, not counted, and
  every figure says on how many schools it rests. With no school scored there
  is no figure by need at all (None, never 0); with no unit committed there is
  no concentration index (units per student are 0 everywhere: nothing leans).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import (
    Date,
    Integer,
    Select,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
    union,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from registry import formats
from registry.equity import kpis, reference
from registry.equity.need_index import (
    INDICATOR_LABELS,
    NeedComparison,
    NeedSpec,
    SchoolNeed,
    compare_needs,
    find_default_definition,
    indicator_rows,
    need_scores,
    normalised_indicators,
    ranked,
    raw_indicators,
    spearman,
)
from registry.extensions import db
from registry.listing import Page
from registry.models import MOU, Commitment, School, SchoolIndicators, Service, User, mou_school
from registry.models.need import MissingPolicy, NeedIndexDefinition, Normalisation
from registry.models.school import INDICATORS
from registry.refusals import Refused
from registry.schoolyear import FIRST_MONTH, school_year_of, year_bounds
from registry.vocabulary import Category, MOUStatus, Unit

IN_FORCE = (MOUStatus.ACTIVE, MOUStatus.EXPIRED, MOUStatus.TERMINATED)
DELIVERED = (MOUStatus.ACTIVE, MOUStatus.EXPIRED)


# ---- need index definitions ---------------------------------------------------------------


@dataclass(frozen=True)
class DefinitionInput:
    name: str
    description: str
    weights: dict[str, float]
    normalisation: Normalisation
    missing_policy: MissingPolicy
    is_default: bool


def definitions() -> list[NeedIndexDefinition]:
    """Every definition version, newest version of each name first."""
    return list(
        db.session.scalars(
            select(NeedIndexDefinition).order_by(
                NeedIndexDefinition.name, NeedIndexDefinition.version.desc()
            )
        )
    )


def _counted(weights: dict[str, float]) -> dict[str, float]:
    counted = {k: float(v) for k, v in weights.items() if k in INDICATOR_LABELS and float(v) > 0}
    if not counted:
        raise Refused(_("Give at least one indicator a weight above 0."))
    return counted


def _make_default(definition: NeedIndexDefinition) -> None:
    for other in db.session.scalars(
        select(NeedIndexDefinition).where(NeedIndexDefinition.is_default.is_(True))
    ):
        if other is not definition:
            other.is_default = False
    definition.is_default = True


def create_definition(data: DefinitionInput, by: User | None) -> NeedIndexDefinition:
    """A new named definition, version 1 (a name already in use is refused)."""
    name = data.name.strip()
    taken = db.session.scalar(select(func.count()).where(NeedIndexDefinition.name == name))
    if taken:
        raise Refused(
            _("A definition with this name exists; edit it to add a new version."), field="name"
        )
    return _save_version(name, 1, data, by)


def new_version(
    previous: NeedIndexDefinition, data: DefinitionInput, by: User | None
) -> NeedIndexDefinition:
    """Save an edit as the next version of the same name; older versions stay as they were."""
    latest = db.session.scalar(
        select(func.max(NeedIndexDefinition.version)).where(
            NeedIndexDefinition.name == previous.name
        )
    )
    return _save_version(previous.name, (latest or 0) + 1, data, by)


def _save_version(
    name: str, version: int, data: DefinitionInput, by: User | None
) -> NeedIndexDefinition:
    definition = NeedIndexDefinition(
        name=name,
        version=version,
        description=data.description.strip(),
        weights=_counted(data.weights),
        normalisation=data.normalisation,
        missing_policy=data.missing_policy,
        is_default=False,
        created_by_id=by.id if by else None,
    )
    db.session.add(definition)
    if data.is_default:
        _make_default(definition)
    db.session.flush()
    return definition


# ---- school years -------------------------------------------------------------------------


def known_years() -> list[str]:
    """School years the registry has data for (indicators or MOUs), oldest first (one query)."""
    years = union(select(SchoolIndicators.school_year), select(MOU.school_year))
    return sorted(y for y in db.session.scalars(years) if y)


def default_year(today: date, known: Sequence[str] | None = None) -> str:
    """This school year if the registry has data for it, else the latest year it has
    (among `known`, when the caller has read `known_years` already)."""
    current = school_year_of(today)
    years = [y for y in (known_years() if known is None else known) if y <= current]
    if current in years or not years:
        return current
    return years[-1]


@dataclass(frozen=True)
class YearChoice:
    """The years a selection form offers (those with data, and the default) and its default."""

    years: list[str]  # oldest first
    default: str


def year_choice(today: date) -> YearChoice:
    """What the equity pages' year selectors offer, read once (one query)."""
    known = known_years()
    default = default_year(today, known)
    return YearChoice(sorted({*known, default}), default)


# ---- need ranking and comparison ----------------------------------------------------------


@dataclass(frozen=True)
class SchoolRef:
    """What the need and equity pages show of a school (read without loading the object)."""

    id: int
    dese_code: str
    name: str
    enrollment: int


@dataclass(frozen=True)
class NeedRow:
    school: SchoolRef
    need: SchoolNeed


@dataclass(frozen=True)
class NeedRanking:
    definition: NeedIndexDefinition
    year: str
    rows: list[NeedRow]  # most need first, excluded schools last
    indicators: list[str]  # counted, in the registry's order

    @property
    def flagged(self) -> list[NeedRow]:
        return [r for r in self.rows if r.need.missing]


Indicators = dict[int, dict[str, Decimal | None]]


def _schools_and_indicators(year: str) -> tuple[dict[int, SchoolRef], Indicators]:
    """Every school, and its indicators for a year (all missing without a row for it), in
    one query (`indicator_rows`)."""
    found = indicator_rows(year, School.dese_code, School.name, School.enrollment)
    schools: dict[int, SchoolRef] = {}
    raw: Indicators = {}
    for school_id, dese_code, name, enrollment, *values in found:
        schools[school_id] = SchoolRef(school_id, dese_code, name, enrollment)
        raw[school_id] = dict(zip(INDICATORS, values, strict=True))
    return schools, raw


def need_ranking(definition: NeedIndexDefinition, year: str) -> NeedRanking:
    """Schools ranked by need under a definition for a year (one query)."""
    schools, raw = _schools_and_indicators(year)
    needs = need_scores(raw, NeedSpec.of(definition))
    counted = [name for name in INDICATOR_LABELS if float(definition.weights.get(name, 0)) > 0]
    rows = [NeedRow(schools[n.school_id], n) for n in ranked(needs)]
    return NeedRanking(definition, year, rows, counted)


@dataclass(frozen=True)
class ComparisonRow:
    school: SchoolRef
    value_a: float | None
    value_b: float | None
    rank_a: int | None
    rank_b: int | None
    shift: int | None
    crosses: bool
    need_a: SchoolNeed | None = None  # for the "scored on k of n" flags
    need_b: SchoolNeed | None = None


@dataclass(frozen=True)
class DefinitionComparison:
    a: NeedIndexDefinition
    b: NeedIndexDefinition
    year: str
    threshold: float
    spearman: float | None
    rows: list[ComparisonRow]

    @property
    def crossing(self) -> list[ComparisonRow]:
        return [r for r in self.rows if r.crosses]


def compare_definitions(
    a: NeedIndexDefinition, b: NeedIndexDefinition, year: str, threshold: float
) -> DefinitionComparison:
    """Two definitions' rankings of the same year side by side."""
    schools, raw = _schools_and_indicators(year)
    needs_a, needs_b = need_scores(raw, NeedSpec.of(a)), need_scores(raw, NeedSpec.of(b))
    result: NeedComparison = compare_needs(needs_a, needs_b, threshold)
    rows = [
        ComparisonRow(
            schools[r.school_id],
            r.value_a,
            r.value_b,
            r.rank_a,
            r.rank_b,
            r.shift,
            r.crosses,
            needs_a.get(r.school_id),
            needs_b.get(r.school_id),
        )
        for r in result.rows
    ]
    return DefinitionComparison(a, b, year, threshold, result.spearman, rows)


# ---- KPI 3.1: MOUs in force ---------------------------------------------------------------
#
# Counted in SQL, never by loading MOUs. A school year is numbered by the calendar year it
# starts in (2025-26 → 2025); an MOU in force covers the years from its start date's to its
# end date's, both included. The database groups the terms by their first and last year
# (a handful of rows: terms mostly run one or two years) and each group is spread over its
# years here. School–partner pairs are then counted for each of those years: every link of
# an MOU in force is joined to the years its term overlaps (compared as dates) and grouped by
# school, partner and year, so a pair under two MOUs at once counts once (hash aggregates,
# no sort; a window function over each pair's terms, sorted, took half as long again).
# A few rows come back whatever the registry's size.


class _YearNumber(FunctionElement[int]):
    """SQL: the school year a date falls in, as the calendar year it starts in."""

    type = Integer()
    inherit_cache = True
    name = "school_year_number"


@compiles(_YearNumber)
def _year_number_sql(element: _YearNumber, compiler: SQLCompiler, **kw: Any) -> str:
    (day,) = element.clauses
    year = cast(func.extract("year", day), Integer)
    month = func.extract("month", day)
    return compiler.process(year - case((month < FIRST_MONTH, 1), else_=0), **kw)


@compiles(_YearNumber, "postgresql")
def _year_number_postgresql(element: _YearNumber, compiler: SQLCompiler, **kw: Any) -> str:
    # EXTRACT returns numeric since PostgreSQL 14; date_part's double precision is the same
    # whole number, computed about twice as fast over the tens of thousands of MOU-school links.
    (day,) = element.clauses
    year = cast(func.date_part(literal_column("'year'"), day), Integer)
    month = func.date_part(literal_column("'month'"), day)
    return compiler.process(year - case((month < FIRST_MONTH, 1), else_=0), **kw)


def _year_number(day: Any) -> Any:
    """SQL: the school year a date falls in, as the calendar year it starts in."""
    return _YearNumber(day)


def _year_name(number: int) -> str:
    return f"{number}-{(number + 1) % 100:02d}"


def _terms() -> Any:
    """MOUs in force in some year: id, partner, first and last school year (as numbers)."""
    return (
        select(
            MOU.id.label("mou_id"),
            MOU.partner_id.label("partner_id"),
            _year_number(MOU.start_date).label("first"),
            _year_number(MOU.end_date).label("last"),
        )
        .where(MOU.status.in_(IN_FORCE))
        .subquery("terms")
    )


def _spans(table: Any, *keys: Any) -> Select[Any]:
    """How many rows of `table` run from each first to each last year (per keys)."""
    return select(*keys, table.c.first, table.c.last, func.count()).group_by(
        *keys, table.c.first, table.c.last
    )


def _in_force_by_year(rows: Iterable[Any]) -> dict[int, int]:
    """(first, last, n) span rows spread over their years: year → how many (> 0 only)."""
    result: dict[int, int] = defaultdict(int)
    for first, last, n in rows:
        for year in range(int(first), int(last) + 1):
            result[year] += int(n)
    return result


def _years_table(numbers: Iterable[int]) -> Any:
    """SQL: a row per school year given (its number, first and last day), to join terms to."""
    rows = []
    for number in sorted(numbers):
        first_day, last_day = year_bounds(_year_name(number))
        rows.append(
            select(
                literal(number, Integer).label("number"),
                literal(first_day, Date).label("first_day"),
                literal(last_day, Date).label("last_day"),
            )
        )
    return union_all(*rows).subquery("years")


def _pairs_by_year(numbers: Collection[int]) -> dict[int, int]:
    """Distinct school–partner pairs under an MOU in force in each of the years (one query)."""
    if not numbers:
        return {}
    years = _years_table(numbers)
    pairs = (
        select(mou_school.c.school_id, MOU.partner_id, years.c.number)
        .join(MOU, MOU.id == mou_school.c.mou_id)
        .join(years, (MOU.start_date <= years.c.last_day) & (MOU.end_date >= years.c.first_day))
        .where(MOU.status.in_(IN_FORCE))
        .group_by(mou_school.c.school_id, MOU.partner_id, years.c.number)
        .subquery("pairs")
    )
    found = db.session.execute(select(pairs.c.number, func.count()).group_by(pairs.c.number))
    return {int(number): int(n) for number, n in found}


@dataclass(frozen=True)
class SchoolMOUs:
    school_id: int
    counts: dict[str, int]  # year → MOUs in force at this school
    growth_pct: float | None


@dataclass(frozen=True)
class MOUTrend:
    counts: dict[str, int]  # year → MOUs in force, oldest first
    pairs: dict[str, int]  # year → distinct school–partner pairs under an MOU in force
    growth_pct: float | None  # for the selected year
    pair_growth_pct: float | None
    with_partner: set[int]  # schools with an MOU in force in the selected year


def mou_years(year: str) -> list[str]:
    """The years with an MOU in force, and the year asked, oldest first (one query)."""
    by_year = _in_force_by_year(db.session.execute(_spans(_terms())))
    return sorted({_year_name(n) for n in by_year} | {year})


def mou_trend(year: str) -> MOUTrend:
    """KPI 3.1 for the district: MOUs in force and school–partner pairs per year (3 queries).

    The years are those with an MOU in force, and the year asked."""
    by_year = _in_force_by_year(db.session.execute(_spans(_terms())))
    pairs_by_year = _pairs_by_year(list(by_year))
    years = sorted({_year_name(n) for n in by_year} | {year})
    counts = {y: by_year.get(int(y[:4]), 0) for y in years}
    pairs = {y: pairs_by_year.get(int(y[:4]), 0) for y in years}
    return MOUTrend(
        counts,
        pairs,
        kpis.mou_growth(counts, year),
        kpis.mou_growth(pairs, year),
        set(db.session.scalars(_covered_schools(year))),
    )


def _covered_schools(year: str) -> Select[Any]:
    """SQL: the ids of the schools under an MOU in force in a school year."""
    # The term overlaps the year: compared as dates, no school year computed for each MOU.
    first_day, last_day = year_bounds(year)
    return (
        select(mou_school.c.school_id)
        .join(MOU, MOU.id == mou_school.c.mou_id)
        .where(MOU.status.in_(IN_FORCE), MOU.start_date <= last_day, MOU.end_date >= first_day)
        .distinct()
    )


def school_mou_counts(
    year: str, years: Sequence[str], school_ids: Collection[int] | None = None
) -> dict[int, SchoolMOUs]:
    """MOUs in force at each school (those given, else every one) in each of `years`, and
    the change in the selected year on the year before (one query)."""
    terms = _terms()
    at_school = select(mou_school.c.school_id, terms.c.first, terms.c.last).join(
        terms, terms.c.mou_id == mou_school.c.mou_id
    )
    if school_ids is None:
        ids = list(db.session.scalars(select(School.id)))
    else:
        ids = list(school_ids)
        at_school = at_school.where(mou_school.c.school_id.in_(ids))
    table = at_school.subquery("at_school")
    found: Iterable[Any] = db.session.execute(_spans(table, table.c.school_id)) if ids else []
    rows: dict[int, list[Any]] = defaultdict(list)
    for school_id, first, last, n in found:
        rows[school_id].append((first, last, n))
    result = {}
    for school_id in ids:
        by_year = {_year_name(n): c for n, c in _in_force_by_year(rows.get(school_id, ())).items()}
        result[school_id] = SchoolMOUs(
            school_id, {y: by_year.get(y, 0) for y in years}, kpis.mou_growth(by_year, year)
        )
    return result


@dataclass(frozen=True)
class SchoolName:
    id: int
    name: str


def school_mou_page(
    year: str, years: Sequence[str], number: int, per_page: int
) -> tuple[Page[SchoolName], dict[int, SchoolMOUs]]:
    """One page of schools by name, with their MOUs in force per year (three queries)."""
    total = db.session.scalar(select(func.count(School.id))) or 0
    found = db.session.execute(
        select(School.id, School.name)
        .order_by(School.name, School.id)
        .limit(per_page)
        .offset((number - 1) * per_page)
    )
    names = [SchoolName(school_id, name) for school_id, name in found]
    counts = school_mou_counts(year, years, [s.id for s in names])
    return Page(names, number, per_page, total), counts


# ---- KPI 3.2: resources by need -----------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    year: str
    category: Category | None = None
    unit: Unit = Unit.SEATS


@dataclass(frozen=True)
class SchoolEquity:
    school: SchoolRef
    need: float
    units: float
    target: float
    quartile: int
    detail: SchoolNeed | None = None  # what the need rests on (for the "k of n" flag)

    @property
    def per_student(self) -> float:
        return self.units / self.school.enrollment if self.school.enrollment else 0.0


@dataclass
class EquityReport:
    selection: Selection
    definition: NeedIndexDefinition
    trend: MOUTrend
    quartiles: list[kpis.QuartileRow]  # empty when no school has a need score
    concentration_index: float | None  # None without a scored school or without units
    gap: float | None  # None without a scored school
    total_units: float
    schools: list[SchoolEquity]  # scored schools, most need first
    unscored: list[NeedRow]  # schools the need index could not score
    without_partner: list[SchoolRef]
    categories: list[Category]
    matrix: dict[int, dict[Category, int]] = field(default_factory=dict)  # partners per cell
    top_quartile: set[int] = field(default_factory=set)

    def lacks(self, school_id: int, category: Category) -> bool:
        return not self.matrix.get(school_id, {}).get(category)

    @property
    def with_need(self) -> int:
        """Schools with a need score: the figures by need rest on these."""
        return len(self.schools)

    @property
    def without_need(self) -> int:
        return len(self.unscored)

    @property
    def renormalised(self) -> list[SchoolEquity]:
        """Scored schools whose need rests on fewer indicators than the definition counts."""
        return [s for s in self.schools if s.detail is not None and s.detail.renormalised]


def _units_by_school(selection: Selection) -> dict[int, float]:
    stmt = (
        select(Commitment.school_id, func.sum(Commitment.amount))
        .join(MOU, Commitment.mou_id == MOU.id)
        .join(Service, Commitment.service_id == Service.id)
        .where(
            MOU.school_year == selection.year,
            MOU.status.in_(DELIVERED),
            Service.unit == selection.unit,
        )
        .group_by(Commitment.school_id)
    )
    if selection.category is not None:
        stmt = stmt.where(Service.category == selection.category)
    return {sid: float(total or Decimal(0)) for sid, total in db.session.execute(stmt)}


def _partners_by_category(year: str) -> dict[int, dict[Category, int]]:
    stmt = (
        select(Commitment.school_id, Service.category, func.count(MOU.partner_id.distinct()))
        .join(MOU, Commitment.mou_id == MOU.id)
        .join(Service, Commitment.service_id == Service.id)
        .where(MOU.school_year == year, MOU.status.in_(DELIVERED))
        .group_by(Commitment.school_id, Service.category)
    )
    matrix: dict[int, dict[Category, int]] = defaultdict(dict)
    for school_id, category, partners in db.session.execute(stmt):
        matrix[school_id][Category(category)] = partners
    return matrix


def _concentration(rows: list[kpis.SchoolUnits]) -> float | None:
    """The concentration index, or None where it would say nothing (see the module docstring)."""
    enrolled = [r for r in rows if r.enrollment > 0]
    if not enrolled or not any(r.units for r in enrolled):
        return None
    return kpis.concentration_index(rows)


def equity_report(
    selection: Selection, definition: NeedIndexDefinition, with_matrix: bool = True
) -> EquityReport:
    """Every figure of the equity dashboard for a year, a category or all, and a unit
    (without the partners per school and category unless `with_matrix`: the API has none)."""
    ranking = need_ranking(definition, selection.year)
    units = _units_by_school(selection)
    scored = [(r, r.need.value) for r in ranking.rows if r.need.value is not None]
    by_id = {r.school.id: r.need for r, _need in scored}
    rows = [
        kpis.SchoolUnits(r.school.id, r.school.enrollment, need, units.get(r.school.id, 0.0))
        for r, need in scored
    ]
    target = kpis.targets(rows)
    quartile_of = {
        row.school_id: q for q, group in enumerate(kpis.quartile_groups(rows), 1) for row in group
    }
    schools = [
        SchoolEquity(
            r.school,
            need,
            units.get(r.school.id, 0.0),
            target.get(r.school.id, 0.0),
            quartile_of[r.school.id],
            by_id[r.school.id],
        )
        for r, need in scored
    ]
    trend = mou_trend(selection.year)
    without = [r.school for r in ranking.rows if r.school.id not in trend.with_partner]
    without.sort(key=lambda s: s.name)
    return EquityReport(
        selection=selection,
        definition=definition,
        trend=trend,
        quartiles=kpis.need_quartiles(rows) if rows else [],
        concentration_index=_concentration(rows),
        gap=kpis.distribution_gap(rows) if rows else None,
        total_units=sum(units.values()),  # every school's, scored or not
        schools=schools,
        unscored=[r for r in ranking.rows if r.need.value is None],
        without_partner=without,
        categories=list(Category),
        matrix=_partners_by_category(selection.year) if with_matrix else {},
        top_quartile=kpis.top_quartile_ids(rows),
    )


@dataclass(frozen=True)
class CategoryReach:
    category: Category
    schools: int  # schools with at least one partner in the category
    high_need_lacking: int  # schools of the neediest quartile with none


def high_need_lacking(report: EquityReport) -> list[CategoryReach]:
    """Per category: how many schools have a partner in it, how many high-need ones lack one.

    Counted in SQL (one GROUP BY, a row per category), so the report needs no matrix: a
    school has a partner in a category when a delivered commitment of that year's MOUs
    names it, as a cell of `EquityReport.matrix` is then above 0."""
    school = Commitment.school_id
    top = sorted(report.top_quartile)
    stmt = (
        select(
            Service.category,
            func.count(school.distinct()),
            func.count(case((school.in_(top), school)).distinct()),
        )
        .join(MOU, Commitment.mou_id == MOU.id)
        .join(Service, Commitment.service_id == Service.id)
        .where(MOU.school_year == report.selection.year, MOU.status.in_(DELIVERED))
        .group_by(Service.category)
    )
    reached = {
        Category(c): (schools, top_reached) for c, schools, top_reached in db.session.execute(stmt)
    }
    return [
        CategoryReach(
            category,
            reached.get(category, (0, 0))[0],
            len(top) - reached.get(category, (0, 0))[1],
        )
        for category in report.categories
    ]


def _kpi_31_json(selection: Selection, trend: MOUTrend) -> dict[str, Any]:
    return {
        "year": selection.year,
        "category": selection.category.value if selection.category else None,
        "unit": selection.unit.value,
        "mous_by_year": trend.counts,
        "pairs_by_year": trend.pairs,
        "mou_growth_pct": trend.growth_pct,
        "pair_growth_pct": trend.pair_growth_pct,
    }


def kpi_31_only_json(selection: Selection) -> dict[str, Any]:
    """The figures that need no need index; those that do are null, not zero, and say why."""
    return {
        **_kpi_31_json(selection, mou_trend(selection.year)),
        "need_definition": None,
        "note": _("No need index is defined yet: the figures by need are not computed."),
        **dict.fromkeys(
            (
                "concentration_index",
                "gap",
                "total_units",
                "quartiles",
                "schools_without_partner",
                "schools_not_scored",
                "schools_with_need",
                "schools_without_need",
            )
        ),
    }


def need_caveat(report: EquityReport) -> str | None:
    """What the figures by need rest on, when not every school has a need score."""
    if not report.without_need:
        return None
    if not report.with_need:
        return _(
            "Need is unknown for all %(n)s schools in %(year)s under %(definition)s: "
            "no figure by need is computed.",
            n=report.without_need,
            year=report.selection.year,
            definition=report.definition.title,
        )
    return _(
        "Need is unknown for %(unknown)s of %(total)s schools; the figures by need are "
        "computed on the other %(known)s only.",
        unknown=report.without_need,
        total=report.without_need + report.with_need,
        known=report.with_need,
    )


def report_json(report: EquityReport) -> dict[str, Any]:
    """The dashboard's figures as plain JSON for reporting tools."""
    return {
        **_kpi_31_json(report.selection, report.trend),
        "need_definition": {
            "id": report.definition.id,
            "name": report.definition.name,
            "version": report.definition.version,
        },
        "schools_with_need": report.with_need,
        "schools_without_need": report.without_need,
        "note": need_caveat(report),
        "concentration_index": report.concentration_index,
        "gap": report.gap,
        "total_units": report.total_units,
        "quartiles": None
        if not report.with_need
        else [
            {
                "quartile": q.quartile,
                "schools": q.schools,
                "enrollment": q.enrollment,
                "units": q.units,
                "enrollment_share": q.enrollment_share,
                "resource_share": q.resource_share,
                "units_per_student": q.units_per_student,
            }
            for q in report.quartiles
        ],
        "schools_without_partner": [{"id": s.id, "name": s.name} for s in report.without_partner],
        "schools_not_scored": [
            {"id": r.school.id, "name": r.school.name, "missing": list(r.need.missing)}
            for r in report.unscored
        ],
    }


def opening_definition() -> NeedIndexDefinition | None:
    """What the need pages show unless asked otherwise: the default definition, else the
    newest saved; None when no need index is defined yet (nothing is created here)."""
    return (
        find_default_definition()
        or db.session.scalars(
            select(NeedIndexDefinition).order_by(NeedIndexDefinition.id.desc())
        ).first()
    )


# ---- a reference index (e.g. Boston's Opportunity Index) set against a definition --------


@dataclass(frozen=True)
class ReferenceMatch:
    row: reference.ReferenceRow
    school: School


@dataclass(frozen=True)
class SchoolDisagreement:
    school: School
    row: reference.Disagreement
    need: SchoolNeed | None = None  # for the "scored on k of n" flag


@dataclass(frozen=True)
class ReferenceComparison:
    definition: NeedIndexDefinition
    year: str
    label: str
    higher_is_less: bool
    rows_read: int
    matched: list[ReferenceMatch]
    unmatched: list[reference.ReferenceRow]
    skipped: list[reference.Skipped]
    not_scored: list[ReferenceMatch]  # matched, but the definition gives the school no score
    agreement: reference.Agreement | None  # None with fewer than two schools scored by both
    disagreements: list[SchoolDisagreement]
    fit: reference.FittedWeights | None
    fit_spearman: float | None  # of the fitted weights, scored as a saved definition would be
    fit_n: int
    fit_problem: str | None  # why there is no fit

    def fitted_weights_to_save(self) -> dict[str, str]:
        """The fit as the definition form's weights (0–100, two places; 0 = not counted)."""
        shares = self.fit.weights if self.fit else {}
        return {name: f"{100 * shares.get(name, 0.0):.2f}" for name in INDICATOR_LABELS}

    def fit_description(self) -> str:
        return _(
            "Weights fitted by non-negative least squares to %(reference)s, on %(n)s schools "
            "with %(year)s indicators; Spearman's rank correlation with it %(rho)s.",
            reference=self.label or _("a reference index"),
            n=self.fit.n if self.fit else 0,
            year=self.year,
            rho=formats.number(self.fit_spearman, 3) if self.fit_spearman is not None else "—",
        )


def _match(
    rows: list[reference.ReferenceRow],
) -> tuple[list[ReferenceMatch], list[reference.ReferenceRow], list[reference.Skipped]]:
    schools = list(db.session.scalars(select(School)))
    by_dese = {s.dese_code: s for s in schools}
    by_local = {s.local_code.strip().upper(): s for s in schools if s.local_code}
    matched: list[ReferenceMatch] = []
    unmatched: list[reference.ReferenceRow] = []
    twice: list[reference.Skipped] = []
    taken: set[int] = set()
    for row in rows:
        key = reference.dese_key(row.code)
        school = (by_dese.get(key) if key else None) or by_local.get(row.code.strip().upper())
        if school is None:
            unmatched.append(row)
        elif school.id in taken:
            twice.append(
                reference.Skipped(
                    row.line,
                    row.code,
                    _("a second row for %(school)s", school=school.name),
                )
            )
        else:
            taken.add(school.id)
            matched.append(ReferenceMatch(row, school))
    return matched, unmatched, twice


def reference_comparison(
    raw: bytes,
    definition: NeedIndexDefinition,
    year: str,
    label: str = "",
    higher_is_less: bool = False,
) -> ReferenceComparison:
    """An uploaded reference index against a definition's need for a year; writes nothing.

    Refused when the file cannot be read (see `reference.read_reference`)."""
    parsed = reference.read_reference(raw)
    matched, unmatched, twice = _match(parsed.rows)
    sign = -1.0 if higher_is_less else 1.0  # ranks and fits read "higher = more need"
    indicators_raw = raw_indicators(year)
    needs = need_scores(indicators_raw, NeedSpec.of(definition))
    pairs = [
        reference.Pair(m.school.id, needs[m.school.id].value, sign * m.row.score)  # type: ignore[arg-type]
        for m in matched
        if needs.get(m.school.id) is not None and needs[m.school.id].value is not None
    ]
    scored_ids = {p.school_id for p in pairs}
    schools = {m.school.id: m.school for m in matched}
    found = reference.agreement(pairs) if len(pairs) >= 2 else None

    scores = {m.school.id: sign * m.row.score for m in matched}
    normalised = normalised_indicators(indicators_raw, list(INDICATOR_LABELS))
    fitted_on = reference.fit_indicators(normalised, scores, list(INDICATOR_LABELS))
    fit = reference.fit_weights(normalised, scores, fitted_on)
    fit_rho: float | None = None
    fit_n = 0
    problem: str | None = None
    if fit is not None:
        fitted = need_scores(indicators_raw, NeedSpec(fit.weights, "percentile", "renormalise"))
        both = [
            (fitted[sid].value, score)
            for sid, score in scores.items()
            if sid in fitted and fitted[sid].value is not None
        ]
        fit_n = len(both)
        fit_rho = spearman([a for a, _b in both], [b for _a, b in both])  # type: ignore[misc]
    elif not matched:
        problem = _("No row of the file matched a school, so there is nothing to fit.")
    else:
        problem = _(
            "No non-negative weights follow this reference: too few matched schools report "
            "the indicators, or the reference runs against every one of them."
        )
    return ReferenceComparison(
        definition=definition,
        year=year,
        label=label.strip(),
        higher_is_less=higher_is_less,
        rows_read=len(parsed.rows) + len(parsed.skipped),
        matched=matched,
        unmatched=unmatched,
        skipped=[*parsed.skipped, *twice],
        not_scored=[m for m in matched if m.school.id not in scored_ids],
        agreement=found,
        disagreements=[
            SchoolDisagreement(schools[d.school_id], d)
            for d in (found.disagreements if found else [])
        ],
        fit=fit,
        fit_spearman=fit_rho,
        fit_n=fit_n,
        fit_problem=problem,
    )
