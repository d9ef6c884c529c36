"""Indexes for every join and filter: at state size a missing one is a full scan per row.

A column is indexed when an index, a unique constraint or the primary key starts with it
(an index on (a, b) serves a filter on a, not on b). Two rules, over the models' metadata:

- every foreign key column is indexed (joins, and deleting the row it points to);
- every column the pages filter on is indexed. The filtered columns are not listed by hand:
  the test walks the pages with their filters set, as an admin, and reads the WHERE and ON
  clauses of every statement they run (a column compared with a value). Columns where an
  index would not help are exempt, each with its reason.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, ColumnClause, Grouping

from registry.extensions import db
from registry.models import MOU, Partner, School, Service

# (table, column) → why a filter on it needs no index of its own.
EXEMPT: dict[tuple[str, str], str] = {
    ("mou", "start_date"): "an MOU in force spans its year: most of a year's rows match",
    ("mou", "shares_student_data"): "yes or no: a scan is cheaper than half the table by index",
    ("mou", "dpa_type"): "inside an OR, after the status index narrows to pending MOUs",
    ("mou", "dpa_status"): "inside an OR, after the status index narrows to pending MOUs",
    ("mou", "dpa_expiry"): "inside an OR, after the status index narrows to pending MOUs",
    ("school_indicators", "school_year"): "three or four years: a third of the rows match",
    ("service", "active"): "yes or no: most services are active",
    ("service", "setting"): "five values, always with the category or partner narrowing",
    ("service", "unit"): "three values: an index would not be chosen",
    ("partner", "partner_type"): "seven values over a few thousand partners",
    ("partner", "background_check_policy"): "yes or no, inside the compliance filter's OR",
    ("partner", "background_check_verified"): "IS NULL inside the compliance filter's OR",
    ("partner", "insurance_expiry"): "compared with today inside the compliance filter's OR",
    ("user_account", "active"): "yes or no, over a few hundred accounts",
    ("user_account", "role"): "five values, over a few hundred accounts",
    ("audit_entry", "action"): "with entity and entity id, whose indexes narrow it to a few rows",
    ("notification", "read_at"): "after user_id, in the index on (user_id, read_at)",
    ("need_index_definition", "is_default"): "a handful of definitions",
}

# Pages with their filters set, as the lists and dashboards are used. {school}, {partner},
# {mou} and {service} are ids from the registry below.
PAGES = (
    "/",
    "/mous/?status=active&school_year=2025-26&school={school}&partner={partner}&shares=yes",
    "/mous/?expiring=1&q=Elm&sort=partner",
    "/mous/?format=csv&school={school}",
    "/mous/{mou}",
    "/schools/?no_partner=1&level=middle&zip=01602&q=School&sort=partners",
    "/schools/?format=csv&no_partner=1",
    "/schools/{school}",
    "/partners/?partner_type=nonprofit&status=approved&language=es&compliance=any_problem&q=P",
    "/partners/{partner}",
    "/services/?category=academic_support&setting=after_school&unit=seats&partner={partner}"
    "&grade=3&language=es&active=yes&q=T",
    "/services/{service}",
    "/users/?role=partner&active=yes&q=a",
    "/scenarios/?year=2025-26",
    "/equity/?year=2025-26",
    "/equity/need",
    "/api/v1/kpis?year=2025-26",
    "/security-events?kind=login.failure&email=a&first=2025-01-01&last=2026-12-31",
    "/notifications/",
    "/directory/?q=Tutor&school={school}&category=academic_support&grade=3&language=es&zip=01602",
    "/directory/schools/{school}",
)


def _leading_columns(table: sa.Table) -> set[str]:
    """The columns an index, a unique constraint or the primary key of the table starts with."""
    leading = {next(iter(index.columns)).name for index in table.indexes if index.columns}
    for constraint in table.constraints:
        if isinstance(constraint, sa.PrimaryKeyConstraint | sa.UniqueConstraint):
            columns = list(constraint.columns)
            if columns:
                leading.add(columns[0].name)
    return leading


def test_every_foreign_key_column_is_indexed() -> None:
    missing = sorted(
        f"{table.name}.{fk.parent.name}"
        for table in db.metadata.sorted_tables
        for fk in table.foreign_keys
        if fk.parent.name not in _leading_columns(table)
    )
    assert missing == [], "foreign keys without an index: " + ", ".join(missing)


COMPARISONS = {
    operators.eq,
    operators.ne,
    operators.lt,
    operators.le,
    operators.gt,
    operators.ge,
    operators.in_op,
    operators.is_,
    operators.is_not,
    operator.eq,
    operator.ne,
    operator.lt,
    operator.le,
    operator.gt,
    operator.ge,
}


def _table_column(element: Any) -> tuple[str, str] | None:
    """(table, column) when the element is a column of a table (or of an alias of one)."""
    while isinstance(element, Grouping):
        element = element.element
    if not isinstance(element, ColumnClause) or element.table is None:
        return None
    table = element.table
    while isinstance(table, sa.Alias):
        table = table.element
    if isinstance(table, sa.Table):
        return table.name, element.name
    return None


def _is_value(element: Any) -> bool:
    """A bound parameter, a list of them, a constant or a subquery's result."""
    while isinstance(element, Grouping):
        element = element.element
    if isinstance(element, BindParameter):
        return True
    if isinstance(element, sa.sql.elements.ClauseList | sa.sql.elements.Tuple):
        return all(_is_value(e) for e in element.clauses)
    return isinstance(
        element,
        sa.sql.elements.Null
        | sa.sql.elements.True_
        | sa.sql.elements.False_
        | sa.sql.selectable.ScalarSelect
        | sa.sql.elements.SQLCoreOperations,
    ) and not isinstance(element, ColumnClause)


def filtered_columns(statement: Any) -> set[tuple[str, str]]:
    """The table columns a statement compares with a value, in any clause or subquery."""
    found: set[tuple[str, str]] = set()
    for element in visitors.iterate(statement):
        if not isinstance(element, BinaryExpression) or element.operator not in COMPARISONS:
            continue
        for column, other in ((element.left, element.right), (element.right, element.left)):
            named = _table_column(column)
            if named is not None and _is_value(other):
                found.add(named)
    return found


@contextmanager
def _statements(app: Flask) -> Iterator[list[Any]]:
    seen: list[Any] = []

    def record(_conn: Any, clause: Any, *_: Any) -> None:
        seen.append(clause)

    sa.event.listen(db.engine, "before_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_execute", record)


@pytest.fixture
def registry(
    make_partner: Callable[..., Partner],
    make_service: Callable[..., Service],
    make_school: Callable[..., School],
    make_mou: Callable[..., MOU],
    default_need_index: Any,
) -> dict[str, int]:
    from registry.vocabulary import MOUStatus

    partner = make_partner(languages=["es"])
    school = make_school(indicators={"pct_high_needs": 50}, year="2025-26")
    service = make_service(partner=partner, languages=["es"])
    mou = make_mou(
        partner=partner,
        schools=[school],
        status=MOUStatus.ACTIVE,
        start_date=date(2025, 9, 1),
        end_date=date(2026, 6, 30),
        commitments=[(service, school, 5)],
    )
    return {"partner": partner.id, "school": school.id, "service": service.id, "mou": mou.id}


def test_every_column_the_pages_filter_on_is_indexed(
    app: Flask, client: FlaskClient, login: Callable[..., Any], registry: dict[str, int]
) -> None:
    login("admin")
    with _statements(app) as statements:
        for page in PAGES:
            response = client.get(page.format(**registry))
            response.get_data()  # a streamed download runs its queries as it is read
            assert response.status_code == 200, page
    tables = {table.name: table for table in db.metadata.sorted_tables}
    filtered = set().union(*(filtered_columns(s) for s in statements))
    assert ("mou_school", "school_id") in filtered  # the walk sees what it should
    missing = sorted(
        f"{table}.{column}"
        for table, column in filtered
        if table in tables
        and column not in _leading_columns(tables[table])
        and (table, column) not in EXEMPT
    )
    assert missing == [], "filtered columns without an index: " + ", ".join(missing)
