"""What the family directory lists, and the searches over it: all in SQL, one page at a time.

A service is listed on a day when it is active, its partner is approved, and an
MOU in force that day (active, its term including the day) commits it. It is
listed at a school (a *placement*) where such an MOU commits it, or where it has
an offering and such an MOU (one committing the service) covers the school.
Nothing else about MOUs, and nothing internal (capacity, commitments' amounts,
costs, compliance, staff), leaves this module.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Date,
    Integer,
    Select,
    String,
    Subquery,
    and_,
    bindparam,
    distinct,
    exists,
    func,
    or_,
    select,
    union,
)
from sqlalchemy.orm import aliased, contains_eager
from sqlalchemy.sql.elements import ColumnClause

from registry.extensions import db
from registry.listing import Page, page_count
from registry.models import MOU, Commitment, Offering, Partner, School, Service
from registry.models.mou import mou_school
from registry.vocabulary import GRADES, Category, MOUStatus, PartnerStatus

PER_PAGE = 20
MAX_PAGE = 100_000
# How many schools a service's card in the results names before "and N more".
SCHOOLS_ON_A_CARD = 3
ZIP_CODE = re.compile(r"^\d{5}$")


# Every statement below is built once (per database dialect: the JSON functions differ) with
# bind parameters for the day and the search's values, then reused: building a statement with
# its subqueries costs more CPU than SQLite running it, and a reused statement's cache key is
# memoised, so SQLAlchemy's compiled cache answers at once. `today` is the district's date.
TODAY = bindparam("today", type_=Date)
LIKE_ESCAPE = "/"


def _in_force() -> ColumnElement[bool]:
    return and_(MOU.status == MOUStatus.ACTIVE, MOU.start_date <= TODAY, MOU.end_date >= TODAY)


@cache
def placements(of: str = "") -> Subquery:
    """(service_id, school_id) for every listed service at every school it is listed at.

    Over the parameter `today` (bind it when executing a statement that uses it). With `of`
    "service", "services" (a list) or "school", only those of the parameter of that name: the
    filter is
    inside each branch of the union, where SQLite uses the indexes (it does not push a
    condition on the union's result down into it).
    """
    only_committed: list[ColumnElement[bool]] = []
    only_offered: list[ColumnElement[bool]] = []
    if of == "service":
        service = bindparam("service", type_=Integer)
        only_committed.append(Commitment.service_id == service)
        only_offered.append(Offering.service_id == service)
    elif of == "services":
        services: BindParameter[int] = bindparam("services", expanding=True)
        only_committed.append(Commitment.service_id.in_(services))
        only_offered.append(Offering.service_id.in_(services))
    elif of == "school":
        school = bindparam("school", type_=Integer)
        only_committed.append(Commitment.school_id == school)
        only_offered.append(Offering.school_id == school)
    committed = (
        select(Commitment.service_id, Commitment.school_id)
        .join(MOU, MOU.id == Commitment.mou_id)
        .where(_in_force(), *only_committed)
    )
    covering = aliased(Commitment)
    offered = (
        select(Offering.service_id, Offering.school_id)
        .join(mou_school, mou_school.c.school_id == Offering.school_id)
        .join(MOU, MOU.id == mou_school.c.mou_id)
        .join(
            covering,
            and_(covering.mou_id == MOU.id, covering.service_id == Offering.service_id),
        )
        .where(_in_force(), *only_offered)
    )
    both = union(committed, offered).subquery("placed")
    return (
        select(both.c.service_id, both.c.school_id)
        .join(Service, Service.id == both.c.service_id)
        .join(Partner, Partner.id == Service.partner_id)
        .where(Service.active.is_(True), Partner.status == PartnerStatus.APPROVED)
        .subquery("placement")
    )


def _dialect() -> str:
    return db.engine.dialect.name


def _json_elements(column: Any, dialect: str) -> Any:
    """A JSON array column's elements as a table with a `value` column, on either database."""
    if dialect == "postgresql":
        return func.json_array_elements_text(column).table_valued("value")
    return func.json_each(column).table_valued("value")


def _holds(column: Any, value: Any, dialect: str) -> ColumnElement[bool]:
    """Whether a JSON array column holds a value (exactly, as an element)."""
    elements = _json_elements(column, dialect)
    value_column: ColumnClause[Any] = elements.c.value
    return exists(select(1).select_from(elements).where(value_column == value))


def _contains(column: Any, name: str) -> ColumnElement[bool]:
    """lower(column) LIKE the parameter `name` (a pattern made by `_like_pattern`)."""
    return func.lower(column).like(bindparam(name, type_=String), escape=LIKE_ESCAPE)


def _like_pattern(text: str) -> str:
    """A LIKE pattern finding `text` (lower-cased) anywhere, its own % and _ taken literally."""
    escaped = (
        text.lower()
        .replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return f"%{escaped}%"


@dataclass(frozen=True)
class Search:
    """A family's search, from the query string; anything unusable is dropped, never an error."""

    text: str = ""
    school: str = ""
    category: Category | None = None
    grade: str = ""
    language: str = ""
    zip: str = ""
    zip_refused: str = ""  # a zip code that is not five digits, to say so

    @classmethod
    def from_args(cls, args: Any) -> Search:
        def arg(name: str) -> str:
            return str(args.get(name, "") or "").strip()[:200]

        category = arg("category")
        zip_code = arg("zip")
        return cls(
            text=arg("q"),
            school=arg("school"),
            category=Category(category) if category in Category._value2member_map_ else None,
            grade=arg("grade") if arg("grade") in GRADES else "",
            language=arg("language"),
            zip=zip_code if ZIP_CODE.match(zip_code) else "",
            zip_refused="" if not zip_code or ZIP_CODE.match(zip_code) else zip_code,
        )

    @property
    def any(self) -> bool:
        return bool(
            self.text or self.school or self.category or self.grade or self.language or self.zip
        )


def page_number(raw: object) -> int:
    try:
        number = int(str(raw))
    except ValueError:
        return 1
    return min(max(number, 1), MAX_PAGE)


def _within(page: int, total: int) -> int:
    """`page`, or the last page when it is past the end (an old link, a typed number)."""
    return min(page, page_count(total, PER_PAGE))


@dataclass
class Card:
    """A service in the results: the service (its partner loaded) and a few of its schools."""

    service: Service
    schools: list[tuple[int, str]] = field(default_factory=list)
    more_schools: int = 0


@dataclass(frozen=True)
class _Shape:
    """Which filters a search uses: one prebuilt pair of statements per shape."""

    school: bool
    zip: bool
    category: bool
    grade: bool
    language: bool
    text: bool


@cache
def _search_statements(shape: _Shape, dialect: str) -> tuple[Select[Any], Select[Any]]:
    """(count, page) statements of a search's shape, over parameters named after the filters."""
    placed = placements()
    at = select(placed.c.service_id)
    if shape.school or shape.zip:
        at = at.join(School, School.id == placed.c.school_id)
        if shape.school:
            at = at.where(_contains(School.name, "school"))
        if shape.zip:
            at = at.where(School.zip == bindparam("zip", type_=String))
    conditions: list[ColumnElement[bool]] = [Service.id.in_(at)]
    if shape.category:
        conditions.append(Service.category == bindparam("category"))
    if shape.grade:
        conditions.append(_holds(Service.grades, bindparam("grade", type_=String), dialect))
    if shape.language:
        conditions.append(_holds(Service.languages, bindparam("language", type_=String), dialect))
    if shape.text:
        conditions.append(
            or_(
                *(
                    _contains(column, "text")
                    for column in (
                        Service.name,
                        Service.description,
                        Partner.name,
                        Partner.description,
                    )
                )
            )
        )
    base = select(Service).join(Service.partner).where(*conditions)
    count = select(func.count()).select_from(base.subquery())
    page = (
        base.options(contains_eager(Service.partner))
        .order_by(func.lower(Service.name), func.lower(Partner.name), Service.id)
        .limit(PER_PAGE)
        .offset(bindparam("offset", type_=Integer))
    )
    return count, page


def search_services(search: Search, today: date, page: int) -> Page[Card]:
    """The listed services matching a search, by name, one page of them."""
    shape = _Shape(
        school=bool(search.school),
        zip=bool(search.zip),
        category=search.category is not None,
        grade=bool(search.grade),
        language=bool(search.language),
        text=bool(search.text),
    )
    count, page_of = _search_statements(shape, _dialect())
    values: dict[str, Any] = {"today": today}
    if shape.school:
        values["school"] = _like_pattern(search.school)
    if shape.zip:
        values["zip"] = search.zip
    if shape.category:
        values["category"] = search.category
    if shape.grade:
        values["grade"] = search.grade
    if shape.language:
        values["language"] = search.language
    if shape.text:
        values["text"] = _like_pattern(search.text)
    total = db.session.scalar(count, values) or 0
    page = _within(page, total)
    services = db.session.scalars(page_of, {**values, "offset": (page - 1) * PER_PAGE}).all()
    cards = [Card(service) for service in services]
    _name_a_few_schools(cards, today)
    return Page(cards, page, PER_PAGE, total)


@cache
def _a_few_schools() -> Select[Any]:
    placed = placements("services")
    ranked = (
        select(
            placed.c.service_id,
            School.id,
            School.name,
            func.row_number()
            .over(partition_by=placed.c.service_id, order_by=(School.name, School.id))
            .label("rank"),
            func.count().over(partition_by=placed.c.service_id).label("schools"),
        )
        .join(School, School.id == placed.c.school_id)
        .where(placed.c.service_id.in_(bindparam("services", expanding=True)))
        .subquery()
    )
    return select(ranked).where(ranked.c.rank <= SCHOOLS_ON_A_CARD).order_by(ranked.c.rank)


def _name_a_few_schools(cards: list[Card], today: date) -> None:
    """A few schools of each card (by name) and how many more: a bounded read per page."""
    if not cards:
        return
    by_service = {card.service.id: card for card in cards}
    rows = db.session.execute(_a_few_schools(), {"today": today, "services": list(by_service)})
    for service_id, school_id, name, _rank, count in rows:
        card = by_service[service_id]
        card.schools.append((school_id, name))
        card.more_schools = count - len(card.schools)


@cache
def _languages_served(dialect: str) -> Select[Any]:
    elements = _json_elements(Service.languages, dialect)
    listed = select(placements().c.service_id)
    value: ColumnClause[Any] = elements.c.value
    return (
        select(value)
        .distinct()
        .select_from(Service)
        .join(elements, db.true())
        .where(Service.id.in_(listed))
        .order_by(value)
    )


def languages_served(today: date) -> list[str]:
    """Every language some listed service is offered in (for the search's choices)."""
    return list(db.session.scalars(_languages_served(_dialect()), {"today": today}))


@dataclass
class SchoolRow:
    school: School
    services: int
    partners: int


@cache
def _school_statements(matching: bool) -> tuple[Select[int], Select[School, int, int]]:
    """(count, page) statements of the school search, with or without the `text` filter."""
    placed = placements()
    stmt = (
        select(
            School,
            func.count(distinct(placed.c.service_id)),
            func.count(distinct(Service.partner_id)),
        )
        .join(placed, placed.c.school_id == School.id)
        .join(Service, Service.id == placed.c.service_id)
        .group_by(School.id)
    )
    if matching:
        stmt = stmt.where(
            or_(_contains(School.name, "text"), School.zip == bindparam("zip", type_=String))
        )
    count = select(func.count()).select_from(stmt.subquery())
    page = (
        stmt.order_by(func.lower(School.name), School.id)
        .limit(PER_PAGE)
        .offset(bindparam("offset", type_=Integer))
    )
    return count, page


def search_schools(text: str, today: date, page: int) -> Page[SchoolRow]:
    """Schools with at least one listed service, by name, matching a name or zip code."""
    count, page_of = _school_statements(bool(text))
    values: dict[str, Any] = {"today": today}
    if text:
        values.update(text=_like_pattern(text), zip=text)
    total = db.session.scalar(count, values) or 0
    page = _within(page, total)
    rows = db.session.execute(page_of, {**values, "offset": (page - 1) * PER_PAGE}).all()
    return Page([SchoolRow(s, n, p) for s, n, p in rows], page, PER_PAGE, total)


@cache
def _listed_service() -> Select[Any]:
    return (
        select(Service)
        .join(Service.partner)
        .options(contains_eager(Service.partner))
        .where(
            Service.id == bindparam("service", type_=Integer),
            Service.id.in_(select(placements("service").c.service_id)),
        )
    )


def listed_service(service_id: int, today: date) -> Service | None:
    """The service if the directory lists it today, else None."""
    return db.session.scalars(_listed_service(), {"service": service_id, "today": today}).first()


@dataclass
class Place:
    """Where a service is listed: the school, and the offering there (days, time, fees) if any."""

    school: School
    offering: Offering | None


@cache
def _places_of() -> Select[School, Offering]:
    placed = placements("service")
    return (
        select(School, Offering)
        .join(placed, placed.c.school_id == School.id)
        .outerjoin(
            Offering,
            and_(Offering.school_id == School.id, Offering.service_id == placed.c.service_id),
        )
        .where(placed.c.service_id == bindparam("service", type_=Integer))
        .order_by(func.lower(School.name), School.id)
    )


def places_of(service: Service, today: date) -> list[Place]:
    """The schools a listed service is listed at, by name, each with its offering there."""
    rows = db.session.execute(_places_of(), {"service": service.id, "today": today}).all()
    return [Place(school, offering) for school, offering in rows]


@dataclass
class SchoolListing:
    """A school's listed services, by partner, each with its offering at the school if any."""

    by_partner: list[tuple[Partner, list[tuple[Service, Offering | None]]]]

    @property
    def services(self) -> int:
        return sum(len(services) for _, services in self.by_partner)


@cache
def _listing_at() -> Select[Service, Offering]:
    placed = placements("school")
    school = bindparam("school", type_=Integer)
    return (
        select(Service, Offering)
        .join(placed, placed.c.service_id == Service.id)
        .join(Service.partner)
        .outerjoin(Offering, and_(Offering.service_id == Service.id, Offering.school_id == school))
        .options(contains_eager(Service.partner))
        .where(placed.c.school_id == school)
        .order_by(func.lower(Partner.name), func.lower(Service.name), Service.id)
    )


def listing_at(school: School, today: date) -> SchoolListing:
    rows = db.session.execute(_listing_at(), {"school": school.id, "today": today}).all()
    grouped: dict[int, list[tuple[Service, Offering | None]]] = defaultdict(list)
    partners: dict[int, Partner] = {}
    for service, offering in rows:
        partners[service.partner_id] = service.partner
        grouped[service.partner_id].append((service, offering))
    return SchoolListing([(partners[pid], grouped[pid]) for pid in partners])


@cache
def _fingerprint() -> Select[Any]:
    aggregates: list[Any] = []
    for model in (Partner, Service, Offering, MOU, School):
        aggregates += [
            select(func.count()).select_from(model).scalar_subquery(),
            select(func.coalesce(func.sum(model.version), 0)).scalar_subquery(),
            select(func.coalesce(func.max(model.id), 0)).scalar_subquery(),
        ]
    aggregates += [
        select(func.count()).select_from(Commitment).scalar_subquery(),
        select(
            func.coalesce(
                func.sum(Commitment.id + Commitment.service_id * 7 + Commitment.school_id * 13), 0
            )
        ).scalar_subquery(),
        select(func.count()).select_from(mou_school).scalar_subquery(),
        select(
            func.coalesce(func.sum(mou_school.c.mou_id * 7 + mou_school.c.school_id * 13), 0)
        ).scalar_subquery(),
    ]
    return select(*aggregates)


def fingerprint(today: date) -> tuple[object, ...]:
    """Counts, id and version sums of everything the directory shows: a change moves one.

    One query of aggregates, far cheaper than a page: the ETag is built from it.
    """
    row = db.session.execute(_fingerprint()).one()
    return (today.isoformat(), *row)
