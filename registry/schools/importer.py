"""Import schools from a DESE-style CSV: upsert on the DESE code, all rows or none.

Accepted headers (case, spacing and punctuation ignored; first match wins):

- DESE code (required): ``School Code``, ``DESE Code``, ``Org Code``, ``Code``
- name (required): ``School Name``, ``Name``, ``School``
- grades (required): ``Grades``, ``Grade``, ``Grades Offered``, ``Grade Span`` — a list
  such as ``PK,K,01,02`` or ranges such as ``PK-05`` / ``09-12`` (commas, semicolons or
  spaces between items; ``KG``/``KF`` read as K; DESE's ``SP`` is ignored)
- enrollment (required): ``Total Enrollment``, ``Enrollment``, ``Total``
- ``Address`` (or ``Street``), ``Zip`` (or ``Zip Code``, ``Postal Code``) — optional
- ``School Year`` (``SY``, ``Year``, ``Indicators Year``) — required when any indicator
  column is present and the row has an indicator; a row with every indicator blank and no
  year leaves the school's indicators as they are
- indicators, optional, each a percentage 0–100 (``59.4`` or ``59.4%``; in an XLSX, a cell
  formatted as a percentage holds the fraction, 0.594), blank = missing (stored as NULL,
  never 0):
  ``% Economically Disadvantaged``, ``% English Learners`` / ``% English Language Learner``,
  ``% Students With Disabilities``, ``% High Needs``, ``% Chronically Absent``
  (the ``%`` may be written ``Pct``/``Percent``, or left off)

The headers the schools export writes, in the language it was downloaded in, are
accepted too: what the export writes, the import reads back unchanged.

A file is a CSV (UTF-8, with or without a byte-order mark, or what Excel on Windows
saves) or an XLSX workbook, whose first sheet is read.

DESE codes are 8 digits. Spreadsheets drop leading zeros, so a code of 1 to 7
digits is left-padded with zeros (``3480505`` → ``03480505``); more than 8
digits, or anything but digits, is an error.

Rows are numbered as a spreadsheet shows them: the header is row 1. If any row
is bad, nothing is written and the error lists each problem with its row. A
school whose values already match is left untouched (no audit row, no version
bump), so importing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO, TypeVar

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from registry.exports import unneutralised
from registry.extensions import db
from registry.formats import integer as format_integer
from registry.models import INDICATORS, School
from registry.refusals import Refused
from registry.schools.export import COLUMNS as EXPORT_COLUMNS
from registry.schools.services import SchoolData, apply_school_data, percentage
from registry.schoolyear import is_school_year
from registry.vocabulary import GRADES, percent_label, sort_grades

T = TypeVar("T")

# At most this many problems are listed; a wholly wrong file would otherwise list thousands.
MAX_PROBLEMS = 20

HEADERS: dict[str, tuple[str, ...]] = {
    "dese_code": ("schoolcode", "desecode", "orgcode", "code", "schoolorgcode"),
    "name": ("schoolname", "name", "school", "orgname"),
    "grades": ("grades", "grade", "gradesoffered", "gradespan"),
    "enrollment": ("totalenrollment", "enrollment", "total"),
    "address": ("address", "street", "streetaddress"),
    "zip": ("zip", "zipcode", "postalcode"),
    # "Indicators year": what the schools export called the column before it said "School year".
    "school_year": ("schoolyear", "sy", "year", "indicatorsyear"),
    "pct_econ_disadvantaged": ("economicallydisadvantaged", "econdisadvantaged"),
    "pct_english_learners": (
        "englishlearners",
        "englishlearner",
        "englishlanguagelearner",
        "englishlanguagelearners",
        "el",
        "ell",
    ),
    "pct_disabilities": ("studentswithdisabilities", "withdisabilities", "disabilities"),
    "pct_high_needs": ("highneeds",),
    "pct_chronically_absent": ("chronicallyabsent", "chronicabsence"),
}
REQUIRED = ("dese_code", "name", "grades", "enrollment")
HUMAN: dict[str, object] = {
    "dese_code": _l("DESE code"),
    "name": _l("school name"),
    "grades": _l("grades"),
    "enrollment": _l("enrollment"),
    "address": _l("address"),
    "zip": _l("zip"),
    "school_year": _l("school year"),
    # The indicators by the labels the pages give them: "English learners (%)".
    **{name: percent_label(name) for name in INDICATORS},
}
MAX_LENGTH = {"name": 200, "address": 300, "zip": 10}
GRADE_ALIASES = {"KG": "K", "KF": "K", "KP": "K", "PREK": "PK", "P": "PK"}
IGNORED_GRADES = {"SP"}  # DESE's "special education beyond grade 12"


class ImportRefused(Refused):
    """The file was refused, and nothing was written; `problems` lists what is wrong."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class ImportReport:
    """What an import did, school by school."""

    read: int = 0
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One paragraph: '12 schools read: 3 created, 2 updated, 7 unchanged.'"""
        return ngettext(
            "%(num)s school read: %(created)s created, %(updated)s updated, "
            "%(unchanged)s unchanged.",
            "%(num)s schools read: %(created)s created, %(updated)s updated, "
            "%(unchanged)s unchanged.",
            self.read,
            created=format_integer(len(self.created)),
            updated=format_integer(len(self.updated)),
            unchanged=format_integer(len(self.unchanged)),
        )


class _RowError(ValueError):
    pass


def _row(line: int, problem: str) -> str:
    return _("row %(row)s: %(problem)s", row=format_integer(line), problem=problem)


def _key(header: str) -> str:
    # "% English Language Learner" → "englishlanguagelearner"; "Pct High Needs" → "highneeds".
    key = re.sub(r"[^a-z0-9]", "", header.lower().replace("%", ""))
    for prefix in ("percent", "pct"):
        if key.startswith(prefix) and len(key) > len(prefix):
            key = key[len(prefix) :]
    return key


def _map_headers(headers: list[str]) -> dict[str, int]:
    wanted = {alias: name for name, aliases in HEADERS.items() for alias in aliases}
    # The export's own headers, in the language of the request (a Spanish export reads back).
    for field_name, column in EXPORT_COLUMNS.items():
        if field_name in HEADERS:
            wanted.setdefault(_key(str(column.header)), field_name)
    columns: dict[str, int] = {}
    for index, header in enumerate(headers):
        name = wanted.get(_key(header))
        if name is not None and name not in columns:
            columns[name] = index
    return columns


def parse_dese_code(text: str) -> str:
    """An 8-digit DESE code, left-padding a shorter one (spreadsheets drop leading zeros)."""
    code = text.strip()
    if not code:
        raise _RowError(_("DESE code is blank"))
    if not code.isascii() or not code.isdigit() or len(code) > 8:
        raise _RowError(_("DESE code '%(code)s' is not 8 digits", code=code))
    return code.zfill(8)


def _grade(token: str) -> str | None:
    token = GRADE_ALIASES.get(token, token)
    if token in IGNORED_GRADES:
        return None
    if token.isdigit():
        token = str(int(token))
    if token not in GRADES:
        raise _RowError(_("grade '%(grade)s' is not one of PK, K, 01–12", grade=token))
    return token


def parse_grades(text: str) -> list[str]:
    """Grades from 'PK,K,01,02', 'PK-05' or '09-12', in school order."""
    grades: set[str] = set()
    for item in re.split(r"[,;\s]+", text.strip().upper().replace("–", "-")):
        if not item:
            continue
        if "-" in item:
            first, _dash, last = item.partition("-")
            low, high = _grade(first), _grade(last)
            if low is None or high is None or GRADES.index(low) > GRADES.index(high):
                raise _RowError(
                    _(
                        "grade range '%(range)s' does not run from a lower to a higher grade",
                        range=item,
                    )
                )
            grades.update(GRADES[GRADES.index(low) : GRADES.index(high) + 1])
        else:
            grade = _grade(item)
            if grade is not None:
                grades.add(grade)
    if not grades:
        raise _RowError(_("grades are blank"))
    return sort_grades(grades)


def parse_enrollment(text: str) -> int:
    cleaned = text.strip().replace(",", "")
    if not cleaned:
        raise _RowError(_("enrollment is blank"))
    if not cleaned.isascii() or not cleaned.isdigit():
        raise _RowError(_("enrollment '%(text)s' is not a whole number", text=text.strip()))
    value = int(cleaned)
    if value > 100_000:
        raise _RowError(
            _(
                "enrollment %(number)s is not a believable school enrollment",
                number=format_integer(value),
            )
        )
    return value


def parse_percentage(name: str, text: str) -> Decimal | None:
    cleaned = text.strip().rstrip("%").strip()
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise _RowError(
            _("%(field)s '%(text)s' is not a number", field=HUMAN[name], text=text.strip())
        ) from None
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(100):
        raise _RowError(
            _("%(field)s %(text)s is not between 0 and 100", field=HUMAN[name], text=cleaned)
        )
    return percentage(value)


def _text(name: str, text: str) -> str:
    value = text.strip()
    if len(value) > MAX_LENGTH[name]:
        raise _RowError(
            _(
                "%(field)s is longer than %(number)s characters",
                field=HUMAN[name],
                number=format_integer(MAX_LENGTH[name]),
            )
        )
    return value


def _parse_row(cells: list[str], columns: dict[str, int]) -> SchoolData:
    def cell(name: str) -> str:
        index = columns.get(name)
        # A cell the export neutralised ("'=…") reads back as the text it was given.
        return unneutralised(cells[index]) if index is not None and index < len(cells) else ""

    problems: list[str] = []

    def attempt(parse: Callable[..., T], *args: str) -> T | None:
        try:
            return parse(*args)
        except _RowError as err:
            problems.append(str(err))
            return None

    code = attempt(parse_dese_code, cell("dese_code"))
    name = attempt(_text, "name", cell("name"))
    if name == "":
        problems.append(_("school name is blank"))
    grades = attempt(parse_grades, cell("grades"))
    enrollment = attempt(parse_enrollment, cell("enrollment"))
    address = attempt(_text, "address", cell("address")) if "address" in columns else None
    zip_code = attempt(_text, "zip", cell("zip")) if "zip" in columns else None
    indicator_names = [n for n in INDICATORS if n in columns]
    indicators = {n: attempt(parse_percentage, n, cell(n)) for n in indicator_names}
    school_year = cell("school_year").strip() if indicator_names else None
    if school_year == "" and not any(cell(n).strip() for n in indicator_names):
        # No year and no indicator (as the export writes a school without indicators).
        indicator_names, school_year = [], None
    elif school_year is not None and not is_school_year(school_year):
        problems.append(_("school year '%(year)s' is not like 2025-26", year=school_year))
    if problems:
        raise _RowError(", ".join(problems))
    # attempt() gives None only after noting a problem, and there is none.
    assert code is not None and name is not None and grades is not None and enrollment is not None
    return SchoolData(
        dese_code=code,
        name=name,
        grades=grades,
        enrollment=enrollment,
        address=address if address is not None else "",
        zip=zip_code if zip_code is not None else "",
        school_year=school_year,
        indicators=indicators if indicator_names else None,
    )


@dataclass
class ParsedFile:
    """A whole file, every row valid: the columns it has, and each row's data."""

    columns: set[str]
    rows: list[SchoolData]


class _Unreadable(Exception):
    """The file stops being readable at a row."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line


def _csv_lines(handle: TextIO) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(handle)
    line = 0
    try:
        for cells in reader:
            line = reader.line_num
            yield line, cells
    except csv.Error as err:
        raise _Unreadable(line + 1, _("not readable as CSV (%(error)s)", error=err)) from None


def _xlsx_text(value: Any, number_format: str) -> str:
    """A cell as the text a CSV would hold; a percentage-formatted fraction in points."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float):
        number = Decimal(repr(value))  # repr: the shortest text that is the float (0.594)
        if "%" in (number_format or ""):
            number *= 100
        if number == number.to_integral_value():
            return str(int(number))
        return f"{number.normalize():f}"
    return str(value)


def _xlsx_lines(raw: bytes) -> Iterator[tuple[int, list[str]]]:
    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as err:
        raise _Unreadable(1, _("not a readable XLSX file (%(error)s)", error=err)) from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            return
        for line, cells in enumerate(sheet.iter_rows(), start=1):
            yield line, [_xlsx_text(c.value, getattr(c, "number_format", "")) for c in cells]
    finally:
        book.close()


def read_rows(handle: TextIO) -> ParsedFile:
    """Every row of a CSV, validated; ImportRefused listing each bad row if any is."""
    return read_lines(_csv_lines(handle))


def read_lines(lines: Iterable[tuple[int, list[str]]]) -> ParsedFile:
    """Every numbered row, validated; ImportRefused listing each bad row if any is."""
    numbered = iter(lines)
    try:
        first = next(numbered, None)
    except _Unreadable as err:
        raise ImportRefused([_row(1, str(err))]) from None
    headers = first[1] if first else None
    if headers is None or not any(h.strip() for h in headers):
        raise ImportRefused([_("the file is empty")])
    columns = _map_headers(headers)
    missing = [HUMAN[name] for name in REQUIRED if name not in columns]
    if any(n in columns for n in INDICATORS) and "school_year" not in columns:
        missing.append(_("school year (needed for the indicator columns)"))
    if missing:
        raise ImportRefused([_("missing required column: %(name)s", name=name) for name in missing])

    rows: list[SchoolData] = []
    problems: list[str] = []
    first_seen: dict[str, int] = {}
    try:
        for line, cells in numbered:
            if not any(c.strip() for c in cells):
                continue  # blank lines at the end of a spreadsheet export
            try:
                data = _parse_row(cells, columns)
            except _RowError as err:
                problems.append(_row(line, str(err)))
                continue
            if data.dese_code in first_seen:
                problems.append(
                    _row(
                        line,
                        _(
                            "DESE code %(code)s is also on row %(row)s",
                            code=data.dese_code,
                            row=format_integer(first_seen[data.dese_code]),
                        ),
                    )
                )
                continue
            first_seen[data.dese_code] = line
            rows.append(data)
    except _Unreadable as err:
        problems.append(_row(err.line, str(err)))
    if problems:
        shown = problems[:MAX_PROBLEMS]
        if len(problems) > MAX_PROBLEMS:
            shown.append(
                _(
                    "and %(number)s more problems",
                    number=format_integer(len(problems) - MAX_PROBLEMS),
                )
            )
        raise ImportRefused(shown)
    if not rows:
        raise ImportRefused([_("the file has a header but no school rows")])
    return ParsedFile(set(columns), rows)


def is_xlsx(raw: bytes) -> bool:
    """Whether an upload is an XLSX workbook (a zip archive) rather than a CSV."""
    return raw[:4] == b"PK\x03\x04"


def import_upload(raw: bytes) -> ImportReport:
    """Upsert every school in an uploaded CSV or XLSX file; any bad row: nothing written."""
    if is_xlsx(raw):
        return _upsert(read_lines(_xlsx_lines(raw)))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")  # what Excel on Windows saves
    return import_schools(io.StringIO(text, newline=""))


def import_schools(handle: TextIO) -> ImportReport:
    """Upsert every school in a DESE-style CSV on its DESE code; any bad row: nothing written."""
    return _upsert(read_rows(handle))


def _upsert(parsed: ParsedFile) -> ImportReport:
    existing = {
        school.dese_code: school
        for school in db.session.scalars(
            select(School)
            .where(School.dese_code.in_([data.dese_code for data in parsed.rows]))
            .options(selectinload(School.indicators))
        )
    }
    report = ImportReport(read=len(parsed.rows))
    for data in parsed.rows:
        school = existing.get(data.dese_code)
        if school is None:
            school = School(dese_code=data.dese_code, name=data.name, grades=[], enrollment=0)
            apply_school_data(school, data)
            db.session.add(school)
            report.created.append(data.dese_code)
            continue
        # Optional columns the file lacks leave the school's values as they are.
        if "address" not in parsed.columns:
            data.address = school.address
        if "zip" not in parsed.columns:
            data.zip = school.zip
        if apply_school_data(school, data):
            report.updated.append(data.dese_code)
        else:
            report.unchanged.append(data.dese_code)
    db.session.flush()
    return report
