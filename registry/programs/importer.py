"""Read a partner-program listing, as PartnerBPS exports it: one row per school × program.

Columns (headers compared ignoring case, spacing and punctuation; the first match wins):

- school: ``School Name`` (or ``School``), ``RC`` (the district's own school code, or
  ``Local Code``), ``School Code``/``DESE Code`` (optional, 8 digits) — a row needs a name
  or a code
- partner: ``Organization Name`` (or ``Organisation``, ``Partner``), ``Website``
- program: ``Program Name``, ``Program Areas``, ``Program Subareas``,
  ``Program Description``
- the offering at that school: ``Days of Operation``, ``Time``, ``Grades Served``
  (``'K2','1'``: K0 and K1 read as PK, K2 as K), ``Average Weekly Dosage per Student``,
  ``Service Capacity`` (blank = no limit at that school), ``Student Fees?``
- ``School Year`` (optional): rows of another year than the one imported are skipped

A file is a CSV (UTF-8, with or without a byte-order mark, or Windows' cp1252) or an
XLSX workbook, whose first sheet is read. A file without the required columns is
refused whole; a row that cannot be used is skipped, and the preview says why.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from openpyxl import load_workbook

from registry.refusals import Refused
from registry.spreadsheets import decode_csv, is_binary, is_xlsx
from registry.vocabulary import GRADES, sort_grades

HEADERS: dict[str, tuple[str, ...]] = {
    "school_name": ("schoolname", "school", "sitename"),
    "local_code": ("rc", "localcode", "localschoolcode", "rccode", "schoolid"),
    "dese_code": ("schoolcode", "desecode", "deseid", "orgcode"),
    "organization": (
        "organizationname",
        "organisationname",
        "organization",
        "organisation",
        "partnername",
        "partner",
    ),
    "website": ("website", "url", "web", "organizationwebsite"),
    "program": ("programname", "program", "servicename"),
    "areas": ("programareas", "programarea", "areas"),
    "subareas": ("programsubareas", "programsubarea", "subareas"),
    "description": ("programdescription", "description"),
    "days": ("daysofoperation", "days"),
    "time": ("time", "times", "timeofoperation"),
    "grades": ("gradesserved", "grades", "grade"),
    "weekly_dosage": ("averageweeklydosageperstudent", "weeklydosage", "dosage"),
    "capacity": ("servicecapacity", "capacity"),
    "student_fees": ("studentfees", "fees"),
    "school_year": ("schoolyear", "year", "academicyear", "sy"),
}
MAX_LENGTH = {
    "school_name": 200,
    "organization": 200,
    "website": 300,
    "program": 200,
    "days": 200,
    "time": 200,
    "weekly_dosage": 200,
    "student_fees": 200,
}
# The columns as the listing names them (file headers, so never translated).
COLUMN_TITLES = {
    "school_name": "School Name",
    "organization": "Organization Name",
    "website": "Website",
    "program": "Program Name",
    "days": "Days of Operation",
    "time": "Time",
    "weekly_dosage": "Average Weekly Dosage per Student",
    "student_fees": "Student Fees?",
}
# PartnerBPS' grades: K0 and K1 are pre-kindergarten years, K2 is kindergarten.
GRADE_ALIASES = {"K0": "PK", "K1": "PK", "K2": "K", "KG": "K", "KF": "K", "PREK": "PK", "PK4": "PK"}
MAX_PROBLEMS = 20


class ListingRefused(Refused):
    """The file cannot be read as a listing; nothing was written. `problems` says why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class ListingRow:
    """One school × program row, its cells cleaned; `problem` set when it cannot be used."""

    line: int
    school_name: str = ""
    local_code: str = ""
    dese_code: str = ""
    organization: str = ""
    website: str = ""
    program: str = ""
    areas: list[str] = field(default_factory=list)
    subareas: str = ""
    description: str = ""
    days: str = ""
    time: str = ""
    grades: list[str] = field(default_factory=list)
    weekly_dosage: str = ""
    capacity: Decimal | None = None
    student_fees: str = ""
    school_year: str = ""
    problem: str | None = None


@dataclass
class Listing:
    """A whole file: its rows, in order, and which optional columns it has."""

    rows: list[ListingRow]
    columns: set[str]


def header_key(header: str) -> str:
    """'Student Fees?' → 'studentfees'."""
    return re.sub(r"[^a-z0-9]", "", (header or "").lower())


def _map_headers(headers: list[str]) -> dict[str, int]:
    wanted = {alias: name for name, aliases in HEADERS.items() for alias in aliases}
    columns: dict[str, int] = {}
    for index, header in enumerate(headers):
        name = wanted.get(header_key(header))
        if name is not None and name not in columns:
            columns[name] = index
    return columns


class _RowProblem(ValueError):
    pass


def parse_grades(text: str) -> list[str]:
    """Grades from "'K2','1'", "K1, K2" or "6-8", in school order; blank gives none."""
    grades: set[str] = set()
    cleaned = re.sub(r"[\"'\[\]]", " ", (text or "").upper()).replace("–", "-")
    for item in re.split(r"[,;/\s]+", cleaned):
        if not item:
            continue
        if "-" in item:
            first, _dash, last = item.partition("-")
            low, high = _grade(first), _grade(last)
            if GRADES.index(low) > GRADES.index(high):
                raise _RowProblem(_("grades '%(text)s' run backwards", text=item))
            grades.update(GRADES[GRADES.index(low) : GRADES.index(high) + 1])
        else:
            grades.add(_grade(item))
    return sort_grades(grades)


def _grade(token: str) -> str:
    token = GRADE_ALIASES.get(token, token)
    if token.isdigit():
        token = str(int(token))
    if token not in GRADES:
        raise _RowProblem(_("grade '%(grade)s' is not one of K0–K2, PK, K, 1–12", grade=token))
    return token


def parse_capacity(text: str) -> Decimal | None:
    """A site capacity: blank = no limit; a whole or decimal number of 0 or more."""
    cleaned = (text or "").strip().replace(",", "")
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise _RowProblem(
            _("service capacity '%(text)s' is not a number", text=text.strip())
        ) from None
    if not value.is_finite() or value < 0 or value >= Decimal("1e10"):
        raise _RowProblem(
            _("service capacity '%(text)s' is not a number of 0 or more", text=text.strip())
        )
    return value.quantize(Decimal("0.01"))


def _areas(text: str) -> list[str]:
    return list(dict.fromkeys(a.strip() for a in re.split(r"[,;\n]+", text or "") if a.strip()))


def _parse_row(line: int, cells: list[str], columns: dict[str, int]) -> ListingRow:
    def cell(name: str) -> str:
        index = columns.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    row = ListingRow(line=line)
    problems: list[str] = []
    for name in (
        "school_name",
        "local_code",
        "dese_code",
        "organization",
        "website",
        "program",
        "subareas",
        "description",
        "days",
        "time",
        "weekly_dosage",
        "student_fees",
        "school_year",
    ):
        value = " ".join(cell(name).split()) if name != "description" else cell(name)
        limit = MAX_LENGTH.get(name)
        if limit is not None and len(value) > limit:
            problems.append(
                _(
                    "%(column)s is longer than %(number)s characters",
                    column=COLUMN_TITLES[name],
                    number=limit,
                )
            )
        setattr(row, name, value)
    row.areas = _areas(cell("areas"))
    try:
        row.grades = parse_grades(cell("grades"))
    except _RowProblem as err:
        problems.append(str(err))
    try:
        row.capacity = parse_capacity(cell("capacity"))
    except _RowProblem as err:
        problems.append(str(err))
    if not row.organization:
        problems.append(_("the organization name is blank"))
    if not row.program:
        problems.append(_("the program name is blank"))
    if not (row.school_name or row.local_code or row.dese_code):
        problems.append(_("the school is blank"))
    if problems:
        row.problem = ", ".join(problems)
    return row


def _csv_lines(text: str) -> Generator[tuple[int, list[str]], None, None]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for cells in reader:
            yield reader.line_num, cells
    except csv.Error as err:
        raise ListingRefused(
            [_("row %(row)s: not readable as CSV (%(error)s)", row=reader.line_num + 1, error=err)]
        ) from None


def _xlsx_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float):
        number = Decimal(repr(value))
        if number == number.to_integral_value():
            return str(int(number))
        return f"{number.normalize():f}"
    return str(value)


def _xlsx_lines(raw: bytes) -> Generator[tuple[int, list[str]], None, None]:
    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as err:
        raise ListingRefused([_("not a readable XLSX file (%(error)s)", error=err)]) from None
    try:
        if not book.worksheets:
            return
        for line, values in enumerate(book.worksheets[0].iter_rows(values_only=True), start=1):
            yield line, [_xlsx_text(v) for v in values]
    finally:
        book.close()


def read_listing(raw: bytes) -> Listing:
    """Every row of a CSV or XLSX listing; ListingRefused if the file is not a listing."""
    if is_xlsx(raw):
        lines = _xlsx_lines(raw)
    else:
        if is_binary(raw):
            raise ListingRefused([_("the file is neither a CSV nor an XLSX file")])
        lines = _csv_lines(decode_csv(raw))
    with closing(lines):  # the workbook closes even when the rows are not all read
        return _read_lines(lines)


def _read_lines(lines: Iterator[tuple[int, list[str]]]) -> Listing:
    first = next(lines, None)
    columns: dict[str, int] = {}
    # A title row or two above the header is common in exports: the header is the first
    # row naming both a program and an organization.
    while first is not None:
        columns = _map_headers(first[1])
        if "program" in columns and "organization" in columns:
            break
        if first[0] >= 10:
            first = None
            break
        first = next(lines, None)
    if first is None:
        raise ListingRefused(
            [_("no header row naming the Organization Name and Program Name columns")]
        )
    if not {"school_name", "local_code", "dese_code"} & set(columns):
        raise ListingRefused([_("missing column: School Name (or RC, or School Code)")])
    rows = [
        _parse_row(line, cells, columns) for line, cells in lines if any(c.strip() for c in cells)
    ]
    if not rows:
        raise ListingRefused([_("the file has a header but no rows")])
    return Listing(rows=rows, columns=set(columns))
