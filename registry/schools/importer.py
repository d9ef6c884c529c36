"""Read school files as DESE and the registry publish them: CSV or XLSX, no conversion.

What is read
------------
One file (a CSV in UTF-8, UTF-8 with a byte-order mark or Windows-Excel cp1252; or an
XLSX workbook, its first sheet) with a header row. A title line above the header (a
row with a single cell) is passed over, and a second header row holding only ``#`` and
``%`` under merged group names (DESE's "Selected Populations" as ``# / %`` pairs) is
read as "High Needs #", "High Needs %" ...

Headers are matched through the alias table `HEADER_TABLE` below (the import page
shows it too), ignoring case, spaces and punctuation: ``School Code``, ``school_code``
and ``SCHOOL CODE`` are one header; a leading or trailing ``%``, ``Pct`` or ``Percent``
is dropped (``% High Needs`` = ``High Needs %`` = ``HN_PCT`` with its alias), and a
``#``, ``Cnt`` or ``Count`` marks a count column (``High Needs #``, ``EL_CNT``): counts
are read only for grades and the total, and otherwise ignored, as are the columns the
registry does not keep (`IGNORED`). Any other header is unknown: the web import asks
what it is (a field, or "ignore") and remembers the answer for that set of headers
(`header_set_key`); the command line ignores it and says so.

The layouts
-----------
- DESE "Enrollment by Grade": ``School Name, School Code, PK, K, 1 … 12, SP, Total``
  (the portal's ``PK_CNT … G12_CNT, SP_CNT, TOTAL_CNT``): the grades offered are the
  grades PK–12 with students, the enrollment is the total (counts may be padded and
  carry thousands separators, ``"   1,426"``). A grade list (``PK,K,01,02``, ``PK-05``)
  is read too.
- DESE "Selected Populations": High Needs, English Learners / English Language
  Learner, Low Income (its 2025-26 name) / Economically Disadvantaged, Students with
  Disabilities, as percentages (First Language Not English is read and not kept).
- DESE "Attendance": ``Chronically Absent (10% or more)`` (the 20% column and the
  attendance rate are not kept).
- The state data portal's exports: ``ORG_CODE``/``SCHID``, ``SY`` (2026 means
  2025-26), ``TOTAL_CNT``, ``EL_PCT``, ``LI_PCT``, ``SWD_PCT``, ``HN_PCT``,
  ``PCT_CHRON_ABS_10``; rows of another ``STU_GRP`` than all students are passed over,
  rows whose ``ORG_TYPE`` is not a school (district and state totals) are skipped.
- The registry's own schools export, in any of its languages.

Rules
-----
- A file changes only the fields it has columns for, and an empty indicator, address or
  zip cell means "no value in this file", never "delete" (`registry.schools.import_plan`
  merges; clearing is an explicit choice there). A file without grades or enrollment
  (selected populations, attendance) names its schools only for the reader: it renames
  none, and adds none (a school new to the registry is skipped and reported).
- Indicators need a school year: from a column (``School Year``, ``Academic Year``,
  ``SY``) or given (``--year``, the page's field). A year in the file and a year given
  must agree, else the file is refused naming both.
- DESE codes are 8 digits (a shorter one is left-padded: spreadsheets drop leading
  zeros). Its first four digits are the district: with a district chosen (config
  ``DISTRICT_CODE``, ``--district``, the page's field) other districts' rows are
  skipped and counted; without one, every row is read, and a file that would add
  schools of several districts is refused (`import_plan`): a statewide file needs the
  district, while the registry's own export (charter schools have district codes of
  their own) reads back.
- In the district, a row that is no school with students in PK–12 (a district total, a
  post-12 transition program with only ``SP`` students, a school of 0 students) is
  skipped and reported; the rest imports.
- A malformed row (a bad code, a percentage over 100, text where a number belongs)
  refuses the whole file, listing each problem with its row (the header is row 1).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import load_workbook

from registry.exports import unneutralised
from registry.formats import integer as format_integer
from registry.models import INDICATORS
from registry.refusals import Refused
from registry.schools.export import COLUMNS as EXPORT_COLUMNS
from registry.schools.services import percentage
from registry.schoolyear import is_school_year
from registry.spreadsheets import decode_csv, is_binary, is_xlsx
from registry.vocabulary import GRADES, percent_label, sort_grades

if TYPE_CHECKING:
    from registry.schools.import_plan import ImportPlan

T = TypeVar("T")

# At most this many problems are listed; a wholly wrong file would otherwise list thousands.
MAX_PROBLEMS = 20

# Students counted beyond grade 12 (DESE's "SP"): a school of only these is no K-12 school.
POST_12 = "SP"
COUNTED_GRADES: tuple[str, ...] = (*GRADES, POST_12)


def count_field(grade: str) -> str:
    """The field a grade's count column fills ("count_PK", "count_SP")."""
    return f"count_{grade}"


COUNT_FIELDS = tuple(count_field(g) for g in COUNTED_GRADES)

# The alias table: each field, and the headers that mean it, as files spell them.
# Compared through `header_key` (case, spaces, punctuation and a % sign ignored).
HEADER_TABLE: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "dese_code",
        ("School Code", "DESE Code", "DESE ID", "Org Code", "ORG_CODE", "SCHID", "Code"),
    ),
    ("name", ("School Name", "Name", "School", "ORG_NAME")),
    ("grades", ("Grades", "Grade", "Grades Offered", "Grade Span")),
    (
        "enrollment",
        ("Total", "Total Enrollment", "Enrollment", "TOTAL_CNT", "GRD_TOTAL_CNT", "# Enrolled"),
    ),
    ("address", ("Address", "Street", "Street Address")),
    ("zip", ("Zip", "Zip Code", "Postal Code")),
    # "Indicators year": what the schools export called the column before "School year".
    ("school_year", ("School Year", "Academic Year", "SY", "Year", "Indicators Year")),
    (
        "pct_econ_disadvantaged",
        (
            "Low Income %",
            "LI_PCT",
            "Economically Disadvantaged %",
            "Econ Disadvantaged",
            "ECD_PCT",
            "ECODIS_PCT",
        ),
    ),
    (
        "pct_english_learners",
        (
            "English Learners %",
            "English Learner",
            "English Language Learner %",
            "English Language Learners",
            "EL_PCT",
            "ELL",
        ),
    ),
    (
        "pct_disabilities",
        ("Students with Disabilities %", "With Disabilities", "Disabilities", "SWD_PCT"),
    ),
    ("pct_high_needs", ("High Needs %", "HN_PCT")),
    (
        "pct_chronically_absent",
        (
            "Chronically Absent (10% or more)",
            "% Chronically Absent",
            "Chronic Absence",
            "Chronic Absenteeism",
            "PCT_CHRON_ABS_10",
        ),
    ),
    ("org_type", ("ORG_TYPE", "Org Type")),
    ("student_group", ("STU_GRP", "Student Group")),
)

# Grade count columns: "PK", "K", "1" … "12", "SP" (Enrollment by Grade), "Grade 1",
# and the portal's "PK_CNT", "G01_CNT", "SP_CNT".
GRADE_COUNT_SPELLINGS: dict[str, tuple[str, ...]] = {
    grade: (
        grade,
        f"Grade {grade}",
        f"{grade}_CNT",
        f"G{grade}_CNT",
        f"GRD_{grade}_CNT",
        *((f"G{int(grade):02d}_CNT", f"Grade {int(grade):02d}") if grade.isdigit() else ()),
    )
    for grade in COUNTED_GRADES
}

# Columns DESE and the portal publish that the registry does not keep.
IGNORED: tuple[str, ...] = (
    "First Language Not English %",
    "FLNE_PCT",
    "Attendance Rate",
    "ATTEND_RATE",
    "ATTEND_PERIOD",
    "Chronically Absent (20% or more)",
    "PCT_CHRON_ABS_20",
    "Absent 10 or more days",
    "PCT_ABS_10_DAYS",
    "Unexcused > 9 days",
    "PCT_UNEXC_10_DAYS",
    "District Name",
    "District Code",
    "District",
    "DIST_NAME",
    "DIST_CODE",
    "DISTRICT_AND_SCHOOL",
    "Active partners",
)

# What a person is asked to choose from for an unknown column.
MAPPABLE: tuple[str, ...] = (
    "dese_code",
    "name",
    "grades",
    "enrollment",
    "address",
    "zip",
    "school_year",
    *INDICATORS,
)

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
ALL_STUDENTS = {"", "all", "allstudents", "total"}
SCHOOL_ORG_TYPES = {"", "school", "sch", "public school"}
SUBHEADERS = {"#", "%", "pct", "percent", "count", "n"}


class ImportRefused(Refused):
    """The file was refused, and nothing was written; `problems` lists what is wrong."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _RowError(ValueError):
    pass


class _Skip(Exception):
    """A row that is no school with students in PK-12: skipped and reported, not an error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _row(line: int, problem: str) -> str:
    return _("row %(row)s: %(problem)s", row=format_integer(line), problem=problem)


# ---- headers --------------------------------------------------------------------------


def header_key(header: str) -> str:
    """A header as compared: "% English Language Learner" → "englishlanguagelearner".

    A count column keeps a leading "#": "High Needs #" → "#highneeds", "EL_CNT" → "#el".
    """
    text = str(header).strip().lower()
    counted = "#" in text
    key = re.sub(r"[^a-z0-9]", "", text.replace("%", ""))
    for prefix in ("percent", "pct"):
        if key.startswith(prefix) and len(key) > len(prefix):
            key = key[len(prefix) :]
    for suffix in ("percent", "pct"):
        if key.endswith(suffix) and len(key) > len(suffix):
            key = key[: -len(suffix)]
    for marker in ("cnt", "count"):
        if key.startswith(marker) and len(key) > len(marker):
            key, counted = key[len(marker) :], True
        if key.endswith(marker) and len(key) > len(marker):
            key, counted = key[: -len(marker)], True
    return "#" + key if counted else key


def _aliases() -> dict[str, str]:
    table: dict[str, str] = {}
    for name, spellings in HEADER_TABLE:
        for spelling in spellings:
            table.setdefault(header_key(spelling), name)
    for grade, spellings in GRADE_COUNT_SPELLINGS.items():
        for spelling in spellings:
            key = header_key(spelling)
            table.setdefault(key, count_field(grade))
            table.setdefault("#" + key.lstrip("#"), count_field(grade))
    for spelling in IGNORED:
        table.setdefault(header_key(spelling), "")
    return table


ALIASES: dict[str, str] = _aliases()


def _known_headers() -> dict[str, str]:
    known = dict(ALIASES)
    # The export's own headers, in the language of the request (a Spanish export reads back).
    for name, column in EXPORT_COLUMNS.items():
        key = header_key(str(column.header))
        known.setdefault(key, name if name in MAPPABLE else "")
    return known


def header_set_key(headers: Iterable[str]) -> str:
    """What a remembered column mapping is filed under: sha256 of the sorted header keys."""
    keys = sorted({header_key(h) for h in headers if str(h).strip()})
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


@dataclass
class Columns:
    """Which columns fill which field; the headers ignored; the headers nobody knows."""

    fields: dict[str, list[int]]
    ignored: list[str]
    unknown: list[str]


def resolve_columns(headers: list[str], remembered: Mapping[str, str] | None = None) -> Columns:
    """Match headers to fields: the alias table, then a remembered mapping for the rest."""
    known = _known_headers()
    fields: dict[str, list[int]] = {}
    ignored: list[str] = []
    unknown: list[str] = []
    for index, header in enumerate(headers):
        if not str(header).strip():
            continue
        key = header_key(header)
        name = known.get(key)
        if name is None and remembered is not None and key in remembered:
            name = remembered[key]
            if name and name not in MAPPABLE:
                name = None
        if name is None and key.startswith("#"):
            name = ""  # a count of some population: the registry keeps percentages
        if name is None:
            unknown.append(header)
        elif name == "":
            ignored.append(header)
        else:
            fields.setdefault(name, []).append(index)
    return Columns(fields, ignored, unknown)


# ---- values ---------------------------------------------------------------------------


def parse_dese_code(text: str) -> str:
    """An 8-digit DESE code, left-padding a shorter one (spreadsheets drop leading zeros)."""
    code = text.strip()
    if not code:
        raise _RowError(_("DESE code is blank"))
    if not code.isascii() or not code.isdigit() or len(code) > 8:
        raise _RowError(_("DESE code '%(code)s' is not 8 digits", code=code))
    return code.zfill(8)


def parse_district(text: str | None) -> str | None:
    """A 4-digit DESE district code ("35" → "0035"); None when blank; Refused if not one."""
    code = (text or "").strip()
    if not code:
        return None
    if not code.isascii() or not code.isdigit() or len(code) > 4:
        raise Refused(
            _("'%(code)s' is not a DESE district code (4 digits, like 0035).", code=code),
            field="district",
        )
    return code.zfill(4)


def parse_school_year(text: str) -> str:
    """A school year from "2025-26", "2025-2026" or the portal's "2026" (its spring)."""
    value = text.strip().replace("–", "-")
    if re.fullmatch(r"\d{4}(\.0)?", value):
        end = int(float(value))
        value = f"{end - 1}-{end % 100:02d}"
    elif re.fullmatch(r"\d{4}-\d{4}", value):
        value = value[:5] + value[-2:]
    if not is_school_year(value):
        raise _RowError(_("school year '%(year)s' is not like 2025-26", year=text.strip()))
    return value


def _grade(token: str) -> str | None:
    token = GRADE_ALIASES.get(token, token)
    if token == POST_12:
        return None
    if token.isdigit():
        token = str(int(token))
    if token not in GRADES:
        raise _RowError(_("grade '%(grade)s' is not one of PK, K, 01–12", grade=token))
    return token


def parse_grades(text: str) -> list[str]:
    """Grades from 'PK,K,01,02', 'PK-05' or '09-12', in school order."""
    grades: set[str] = set()
    post_12 = False
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
            if grade is None:
                post_12 = True
            else:
                grades.add(grade)
    if not grades:
        if post_12:
            raise _Skip(_("only students beyond grade 12 (a post-12 transition program)"))
        raise _RowError(_("grades are blank"))
    return sort_grades(grades)


def _whole_number(label: object, text: str) -> int:
    cleaned = text.strip().replace(",", "")
    if cleaned.endswith(".0"):
        cleaned = cleaned[:-2]  # an XLSX number saved as a float
    if not cleaned.isascii() or not cleaned.isdigit():
        raise _RowError(
            _("%(field)s '%(text)s' is not a whole number", field=label, text=text.strip())
        )
    return int(cleaned)


def parse_enrollment(text: str) -> int:
    if not text.strip():
        raise _RowError(_("enrollment is blank"))
    value = _whole_number(_("enrollment"), text)
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


# ---- rows -----------------------------------------------------------------------------


@dataclass
class ImportRow:
    """One school's row, validated. None: the file holds no value for that field."""

    line: int
    dese_code: str
    name: str | None = None
    grades: list[str] | None = None
    enrollment: int | None = None
    address: str | None = None
    zip: str | None = None
    school_year: str | None = None
    # Only the indicator columns the file has; None = an empty cell.
    indicators: dict[str, Decimal | None] = field(default_factory=dict)


@dataclass(frozen=True)
class SkippedRow:
    """A row of the district that is not imported, and why."""

    line: int
    dese_code: str
    name: str
    reason: str


@dataclass
class ParsedFile:
    """A whole file, every row valid: the fields it carries, its school rows, what it skips."""

    fields: set[str]
    rows: list[ImportRow]
    skipped: list[SkippedRow] = field(default_factory=list)
    other_districts: int = 0
    other_groups: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    district: str | None = None


@dataclass(frozen=True)
class ReadOptions:
    """What the person importing says about the file."""

    school_year: str | None = None  # validated, like "2025-26"
    district: str | None = None  # 4 digits
    remembered: Mapping[str, str] | None = None  # header key → field, "" = ignore


class _Cells:
    def __init__(self, cells: list[str], columns: dict[str, list[int]]) -> None:
        self.cells = cells
        self.columns = columns

    def has(self, name: str) -> bool:
        return name in self.columns

    def get(self, name: str) -> str:
        # The first non-empty of the columns that fill the field ("Low Income %" and
        # "Economically Disadvantaged %" in one file: whichever the row has).
        for index in self.columns.get(name, ()):
            if index < len(self.cells):
                # A cell the export neutralised ("'=…") reads back as the text it was given.
                value = unneutralised(self.cells[index])
                if value.strip():
                    return value
        return ""


def _counts(cells: _Cells) -> tuple[list[str], int, int] | None:
    """Grades offered, all students and those beyond grade 12, from per-grade counts.

    None when the file has no count columns.
    """
    present = [g for g in COUNTED_GRADES if cells.has(count_field(g))]
    if not present:
        return None
    counts: dict[str, int] = {}
    problems: list[str] = []
    for grade in present:
        text = cells.get(count_field(grade))
        if not text.strip():
            continue
        cleaned = text.strip().replace(",", "")
        if cleaned.isascii() and cleaned.isdigit():
            counts[grade] = int(cleaned)  # the usual case, without building a message
            continue
        try:
            counts[grade] = _whole_number(_("grade %(grade)s students", grade=grade), text)
        except _RowError as err:
            problems.append(str(err))
    if problems:
        raise _RowError(", ".join(problems))
    grades = [g for g in GRADES if counts.get(g, 0) > 0]
    return grades, sum(counts.values()), counts.get(POST_12, 0)


def _parse_row(line: int, cells: _Cells, given_year: str | None) -> ImportRow:
    problems: list[str] = []

    def attempt(parse: Callable[..., T], *args: Any) -> T | None:
        try:
            return parse(*args)
        except _RowError as err:
            problems.append(str(err))
            return None

    row = ImportRow(line=line, dese_code=parse_dese_code(cells.get("dese_code")))
    if cells.has("name"):
        row.name = attempt(_text, "name", cells.get("name"))
        if row.name == "":
            problems.append(_("school name is blank"))
    counted = attempt(_counts, cells)
    if cells.has("grades"):
        row.grades = attempt(parse_grades, cells.get("grades"))
    elif counted is not None:
        row.grades = counted[0]
    if cells.has("enrollment"):
        row.enrollment = attempt(parse_enrollment, cells.get("enrollment"))
    elif counted is not None:
        row.enrollment = counted[1]
    for name in ("address", "zip"):
        if cells.has(name):
            value = attempt(_text, name, cells.get(name))
            setattr(row, name, value or None)
    for name in INDICATORS:
        if cells.has(name):
            row.indicators[name] = attempt(parse_percentage, name, cells.get(name))
    if cells.has("school_year") and cells.get("school_year").strip():
        row.school_year = attempt(parse_school_year, cells.get("school_year"))
    if problems:
        raise _RowError(", ".join(problems))
    if given_year is not None and row.school_year not in (None, given_year):
        raise _YearConflict(line, row.school_year or "", given_year)
    row.school_year = row.school_year or given_year
    if row.school_year is None and any(v is not None for v in row.indicators.values()):
        raise _RowError(_("school year is blank"))
    if counted is not None and not cells.has("grades"):
        grades, _total, post_12 = counted
        if row.enrollment == 0:
            raise _Skip(_("no students enrolled"))
        if not grades and post_12:
            raise _Skip(_("only students beyond grade 12 (a post-12 transition program)"))
        if not grades:
            raise _RowError(_("no grade PK–12 has a count of students"))
    if row.enrollment == 0:
        raise _Skip(_("no students enrolled"))
    return row


class _YearConflict(Exception):
    def __init__(self, line: int, in_file: str, given: str) -> None:
        super().__init__(in_file)
        self.line, self.in_file, self.given = line, in_file, given


def _strip_district_prefix(rows: list[ImportRow], statewide: bool) -> None:
    """DESE names schools "Boston - Mattahunt Elementary": drop each row's district name.

    Only when every row is named so, the rows of each district share the prefix, and the
    file is statewide, spans districts or has three schools or more: two schools named
    "Academy - Upper" and "Academy - Lower" keep their names.
    """
    named = [row for row in rows if row.name]
    if not named or not all(" - " in (row.name or "") for row in named):
        return
    prefixes: dict[str, set[str]] = {}
    for row in named:
        prefixes.setdefault(row.dese_code[:4], set()).add((row.name or "").split(" - ", 1)[0])
    if any(len(found) > 1 for found in prefixes.values()):
        return
    if statewide or len(prefixes) > 1 or len(named) >= 3:
        for row in named:
            row.name = (row.name or "").split(" - ", 1)[1].strip() or row.name


# ---- reading a file -------------------------------------------------------------------


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


def check_upload(raw: bytes, filename: str) -> None:
    """Refuse a file named .xlsx that is no workbook (it would be read as a CSV), and a
    binary file (a PDF, an image, an old .xls) whatever its name: read as a CSV, its
    bytes would make a header of garbage for the mapping step."""
    if filename.lower().endswith(".xlsx") and not is_xlsx(raw):
        raise ImportRefused(
            [_row(1, _("not a readable XLSX file (%(error)s)", error=_("not a zip archive")))]
        )
    if is_binary(raw):
        raise ImportRefused([_("the file is neither a CSV nor an XLSX file")])


def upload_lines(raw: bytes) -> Iterator[tuple[int, list[str]]]:
    """The numbered rows of an uploaded CSV or XLSX file."""
    if is_xlsx(raw):
        return _xlsx_lines(raw)
    return _csv_lines(io.StringIO(decode_csv(raw), newline=""))


def _filled(cells: list[str]) -> int:
    return sum(1 for c in cells if c.strip())


def _is_subheader(cells: list[str]) -> bool:
    marks = [c.strip().lower() for c in cells if c.strip()]
    return bool(marks) and all(m in SUBHEADERS for m in marks)


@dataclass
class Table:
    """A file's header (one line, or a group line over '#'/'%') and its numbered data rows."""

    headers: list[str]
    rows: list[tuple[int, list[str]]]


def read_table(lines: Iterable[tuple[int, list[str]]]) -> Table:
    """The header and rows of a file; ImportRefused if it is empty or unreadable."""
    try:
        numbered = list(lines)
    except _Unreadable as err:
        raise ImportRefused([_row(err.line, str(err))]) from None
    start = next((i for i, (_n, cells) in enumerate(numbered) if _filled(cells)), None)
    if start is None:
        raise ImportRefused([_("the file is empty")])
    # A title line above the header ("Enrollment by Grade (2025-26)") holds one cell.
    for i in range(start, min(start + 5, len(numbered))):
        if _filled(numbered[i][1]) >= 2:
            start = i
            break
    headers = list(numbered[start][1])
    data = start + 1
    if data < len(numbered) and _is_subheader(numbered[data][1]):
        subs = numbered[data][1]
        group = ""
        combined = []
        for index in range(max(len(headers), len(subs))):
            top = headers[index].strip() if index < len(headers) else ""
            sub = subs[index].strip() if index < len(subs) else ""
            group = top or (group if sub else "")
            combined.append(f"{group} {sub}".strip())
        headers, data = combined, data + 1
    return Table(headers, numbered[data:])


def read_file(table: Table, options: ReadOptions) -> ParsedFile:
    """Every row of a table, validated; ImportRefused listing each bad row if any is."""
    columns = resolve_columns(table.headers, options.remembered)
    found = columns.fields
    problems: list[str] = []
    if "dese_code" not in found:
        problems.append(_("missing required column: %(name)s", name=HUMAN["dese_code"]))
    has_facts = bool({"name", "grades", "enrollment", *COUNT_FIELDS} & set(found))
    has_indicators = any(n in found for n in INDICATORS)
    if not has_indicators and not ({"grades", *COUNT_FIELDS} & set(found)):
        problems.append(_("missing required column: %(name)s", name=HUMAN["grades"]))
    if not has_indicators and not ({"enrollment", *COUNT_FIELDS} & set(found)):
        problems.append(_("missing required column: %(name)s", name=HUMAN["enrollment"]))
    if has_indicators and "school_year" not in found and options.school_year is None:
        problems.append(
            _(
                "missing required column: %(name)s",
                name=_(
                    "school year (the indicator columns need one: add a School Year column, "
                    "or give the year)"
                ),
            )
        )
    if problems:
        raise ImportRefused(problems)

    fields = {n for n in found if n in MAPPABLE}
    if {"grades", *COUNT_FIELDS} & set(found):
        fields.add("grades")
    if {"enrollment", *COUNT_FIELDS} & set(found):
        fields.add("enrollment")
    parsed = ParsedFile(
        fields=fields,
        rows=[],
        ignored_columns=columns.ignored,
        unknown_columns=columns.unknown,
        district=options.district,
    )
    first_seen: dict[str, tuple[int, str | None]] = {}
    conflict: _YearConflict | None = None
    for line, raw_cells in table.rows:
        if not _filled(raw_cells):
            continue  # blank lines at the end of a spreadsheet export
        cells = _Cells(raw_cells, found)
        group = _group_key(cells.get("student_group"))
        if group not in ALL_STUDENTS:
            parsed.other_groups += 1
            continue
        try:
            code = parse_dese_code(cells.get("dese_code"))
        except _RowError as err:
            problems.append(_row(line, str(err)))
            continue
        if options.district is not None and code[:4] != options.district:
            parsed.other_districts += 1
            continue
        name = cells.get("name").strip()
        org_type = cells.get("org_type").strip().lower()
        if org_type not in SCHOOL_ORG_TYPES:
            parsed.skipped.append(
                SkippedRow(line, code, name, _("a district or state total, not a school"))
            )
            continue
        try:
            row = _parse_row(line, cells, options.school_year)
        except _RowError as err:
            problems.append(_row(line, str(err)))
            continue
        except _Skip as skip:
            parsed.skipped.append(SkippedRow(line, code, name, skip.reason))
            continue
        except _YearConflict as err:
            conflict = conflict or err
            continue
        if row.dese_code in first_seen:
            first_line, first_year = first_seen[row.dese_code]
            problem = _(
                "DESE code %(code)s is also on row %(row)s",
                code=row.dese_code,
                row=format_integer(first_line),
            )
            if first_year != row.school_year:
                problem += " " + _(
                    "(of another school year: import one school year at a time, filtering "
                    "the file on its year column)"
                )
            problems.append(_row(line, problem))
            continue
        first_seen[row.dese_code] = (line, row.school_year)
        parsed.rows.append(row)
    if conflict is not None:
        problems.insert(
            0,
            _(
                "the file's school year is %(in_file)s (row %(row)s), but the year given is "
                "%(given)s: they must agree",
                in_file=conflict.in_file,
                row=format_integer(conflict.line),
                given=conflict.given,
            ),
        )
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
    if not parsed.rows and not parsed.skipped:
        if parsed.other_districts:
            raise ImportRefused(
                [_("the file has no school of district %(code)s", code=options.district)]
            )
        raise ImportRefused([_("the file has a header but no school rows")])
    _strip_district_prefix(parsed.rows, statewide=parsed.other_districts > 0)
    if not has_facts or not ({"grades", "enrollment"} & parsed.fields):
        # A file of indicators names its schools for the reader; it renames none.
        parsed.fields.discard("name")
    return parsed


def _group_key(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


def read_upload(raw: bytes, options: ReadOptions | None = None) -> ParsedFile:
    """An uploaded CSV or XLSX file, validated (ImportRefused listing each bad row)."""
    return read_file(read_table(upload_lines(raw)), options or ReadOptions())


def read_rows(handle: TextIO, options: ReadOptions | None = None) -> ParsedFile:
    """A CSV, validated (ImportRefused listing each bad row)."""
    return read_file(read_table(_csv_lines(handle)), options or ReadOptions())


def import_schools(handle: TextIO, options: ReadOptions | None = None) -> ImportPlan:
    """Read a CSV and import it (any bad row: ImportRefused, nothing written)."""
    # The merge builds on this module, so it is imported when first used.
    from registry.schools import import_plan

    return import_plan.import_schools(handle, options)
