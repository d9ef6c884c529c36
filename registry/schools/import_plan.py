"""What a school file would change, field by field, and making those changes.

`plan_import` compares a read file with the registry and says, without writing: the
schools it would add, those it would change (each field, old → new), those it leaves
as they are, and the rows it skips and why. `apply_plan` then makes exactly those
changes (the audit trail records each), and nothing else: a school whose values match
is not touched, so importing a file twice writes nothing the second time.

Merge, never erase: a file changes only the fields it has columns for, and an empty
cell is "no value in this file". Clearing a value the file leaves empty is a choice
made per field (`clear`), off unless asked for.

A school not yet in the registry is added only from a row that has its name, grades
and enrollment (an enrollment file, the registry's export); a row of indicators alone
for an unknown school is skipped and reported: import the enrollment file first.
Without a district chosen, a file that would add schools of several districts (a
statewide file) is refused.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, TextIO

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from registry.extensions import db
from registry.formats import integer as format_integer
from registry.formats import number as format_number
from registry.models import INDICATORS, ImportMapping, School, SchoolIndicators
from registry.schools.importer import (
    MAPPABLE,
    ImportRefused,
    ImportRow,
    ParsedFile,
    ReadOptions,
    SkippedRow,
    header_key,
    header_set_key,
    read_file,
    read_rows,
    read_table,
    resolve_columns,
    upload_lines,
)
from registry.schools.services import percentage
from registry.vocabulary import grade_span, percent_label, sort_grades

# Fields an empty cell may clear, when the person importing asks for it.
CLEARABLE: tuple[str, ...] = ("address", "zip", *INDICATORS)
SCHOOL_FIELDS: tuple[str, ...] = ("name", "grades", "enrollment", "address", "zip")
FIELD_LABELS: dict[str, object] = {
    "name": _l("Name"),
    "grades": _l("Grades"),
    "enrollment": _l("Enrollment"),
    "address": _l("Address"),
    "zip": _l("Zip code"),
    **{name: percent_label(name) for name in INDICATORS},
}


def field_label(name: str) -> str:
    """A field as the pages name it ("Low income / economically disadvantaged (%)")."""
    return str(FIELD_LABELS.get(name, name))


@dataclass(frozen=True)
class FieldChange:
    """One field of one school: its value now and the value the file gives (None = empty)."""

    field: str
    old: Any
    new: Any
    school_year: str | None = None  # for an indicator

    @property
    def label(self) -> str:
        if self.school_year:
            return f"{field_label(self.field)} {self.school_year}"
        return field_label(self.field)

    @property
    def old_text(self) -> str:
        return shown_value(self.field, self.old)

    @property
    def new_text(self) -> str:
        return shown_value(self.field, self.new)


def shown_value(name: str, value: Any) -> str:
    """A field's value as the preview shows it; an empty one says so."""
    if value is None or value == "" or value == []:
        return _("(empty)")
    if name == "grades":
        return grade_span(list(value))
    if name == "enrollment":
        return format_integer(Decimal(value))
    if name in INDICATORS:
        return format_number(Decimal(value), 2, trim=True)
    return str(value)


@dataclass
class PlannedSchool:
    """A school row and what importing it changes."""

    row: ImportRow
    name: str
    changes: list[FieldChange]
    school: School | None = None  # None: a new school

    @property
    def dese_code(self) -> str:
        return self.row.dese_code


@dataclass
class ImportPlan:
    """What importing a file would do."""

    new: list[PlannedSchool] = field(default_factory=list)
    changed: list[PlannedSchool] = field(default_factory=list)
    unchanged: list[PlannedSchool] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)
    other_districts: int = 0
    other_groups: int = 0
    district: str | None = None
    ignored_columns: list[str] = field(default_factory=list)
    # The fields an empty cell of this file would clear if asked, and those asked to be.
    clearable: list[str] = field(default_factory=list)
    cleared: set[str] = field(default_factory=set)

    @property
    def read(self) -> int:
        return len(self.new) + len(self.changed) + len(self.unchanged)

    @property
    def created(self) -> list[str]:
        return [p.dese_code for p in self.new]

    @property
    def updated(self) -> list[str]:
        return [p.dese_code for p in self.changed]

    @property
    def has_changes(self) -> bool:
        return bool(self.new or self.changed)

    def describe(self, done: bool = True) -> str:
        """One sentence: '12 schools read: 3 created, 2 updated, 7 unchanged.'"""
        numbers = {
            "created": format_integer(len(self.new)),
            "updated": format_integer(len(self.changed)),
            "unchanged": format_integer(len(self.unchanged)),
        }
        if done:
            return ngettext(
                "%(num)s school read: %(created)s created, %(updated)s updated, "
                "%(unchanged)s unchanged.",
                "%(num)s schools read: %(created)s created, %(updated)s updated, "
                "%(unchanged)s unchanged.",
                self.read,
                **numbers,
            )
        return ngettext(
            "%(num)s school read: %(created)s to add, %(updated)s to change, "
            "%(unchanged)s unchanged.",
            "%(num)s schools read: %(created)s to add, %(updated)s to change, "
            "%(unchanged)s unchanged.",
            self.read,
            **numbers,
        )

    def describe_skipped(self) -> list[str]:
        """Sentences on the rows not imported: skipped in the district, other districts."""
        sentences = []
        if self.skipped:
            sentences.append(
                ngettext(
                    "%(num)s row skipped (not a school with students in PK–12, or not in "
                    "the registry).",
                    "%(num)s rows skipped (not schools with students in PK–12, or not in "
                    "the registry).",
                    len(self.skipped),
                )
            )
        if self.other_districts:
            sentences.append(
                ngettext(
                    "%(num)s row of other districts skipped (district %(code)s imported).",
                    "%(num)s rows of other districts skipped (district %(code)s imported).",
                    self.other_districts,
                    code=self.district or "",
                )
            )
        if self.other_groups:
            sentences.append(
                ngettext(
                    "%(num)s row of a single student group passed over (all students read).",
                    "%(num)s rows of single student groups passed over (all students read).",
                    self.other_groups,
                )
            )
        return sentences


def _existing(codes: Iterable[str]) -> dict[str, School]:
    wanted = list(codes)
    if not wanted:
        return {}
    return {
        school.dese_code: school
        for school in db.session.scalars(
            select(School)
            .where(School.dese_code.in_(wanted))
            .options(selectinload(School.indicators))
        )
    }


def _school_changes(
    row: ImportRow, school: School | None, fields: set[str], clear: Collection[str]
) -> list[FieldChange]:
    changes: list[FieldChange] = []
    for name in SCHOOL_FIELDS:
        if name not in fields:
            continue
        new: Any = getattr(row, name)
        if name == "grades" and new is not None:
            new = sort_grades(new)
        old = getattr(school, name) if school is not None else None
        if new is None:
            if name in clear and name in CLEARABLE and old:
                changes.append(FieldChange(name, old, ""))
            continue
        if old != new:
            changes.append(FieldChange(name, old, new))
    if row.school_year is None:
        return changes
    current = school.indicators_for(row.school_year) if school is not None else None
    for name, value in row.indicators.items():
        old = getattr(current, name) if current is not None else None
        new = percentage(value)
        if new is None and not (name in clear and old is not None):
            continue
        if old != new:
            changes.append(FieldChange(name, old, new, row.school_year))
    return changes


def plan_import(parsed: ParsedFile, clear: Collection[str] = ()) -> ImportPlan:
    """What importing the file would change; reads the registry, writes nothing."""
    clear = {name for name in clear if name in CLEARABLE}
    plan = ImportPlan(
        skipped=list(parsed.skipped),
        other_districts=parsed.other_districts,
        other_groups=parsed.other_groups,
        district=parsed.district,
        ignored_columns=[*parsed.ignored_columns, *parsed.unknown_columns],
        cleared={n for n in clear if n in parsed.fields},
    )
    erasable: set[str] = set()
    existing = _existing(row.dese_code for row in parsed.rows)
    for row in parsed.rows:
        school = existing.get(row.dese_code)
        if school is None:
            if row.name is None or row.grades is None or row.enrollment is None:
                plan.skipped.append(
                    SkippedRow(
                        row.line,
                        row.dese_code,
                        row.name or "",
                        _(
                            "not in the registry, and this file has no name, grades and "
                            "enrollment to add it with: import an enrollment file first"
                        ),
                    )
                )
                continue
            changes = _school_changes(row, None, parsed.fields, ())
            plan.new.append(PlannedSchool(row, row.name, changes))
            continue
        changes = _school_changes(row, school, parsed.fields, plan.cleared)
        # Clearing is offered only for fields where an empty cell would erase something.
        erasable.update(
            change.field
            for change in _school_changes(row, school, parsed.fields, CLEARABLE)
            if change.new in (None, "")
        )
        planned = PlannedSchool(row, school.name, changes, school)
        (plan.changed if changes else plan.unchanged).append(planned)
    districts = {planned.dese_code[:4] for planned in plan.new}
    if parsed.district is None and len(districts) > 1:
        raise ImportRefused(
            [
                _(
                    "the file would add schools of %(number)s districts: choose the district "
                    "(its 4-digit DESE code, like 0035)",
                    number=format_integer(len(districts)),
                )
            ]
        )
    plan.skipped.sort(key=lambda skipped: skipped.line)
    plan.clearable = [name for name in CLEARABLE if name in erasable or name in plan.cleared]
    return plan


def _apply(school: School, changes: list[FieldChange]) -> None:
    for change in changes:
        if change.school_year is None:
            value = change.new if change.new is not None else ""
            setattr(school, change.field, value)
            continue
        row = school.indicators_for(change.school_year)
        if row is None:
            row = SchoolIndicators(school_year=change.school_year)
            school.indicators.append(row)
        setattr(row, change.field, change.new)


def apply_plan(plan: ImportPlan) -> None:
    """Make the planned changes (only those) and flush; the audit trail records each."""
    for planned in plan.new:
        school = School(dese_code=planned.dese_code, name=planned.name, grades=[], enrollment=0)
        _apply(school, planned.changes)
        db.session.add(school)
        planned.school = school
    for planned in plan.changed:
        assert planned.school is not None  # a changed school is one the registry has
        _apply(planned.school, planned.changes)
    db.session.flush()


def summary_lines(plan: ImportPlan, done: bool) -> list[str]:
    """The plan as the command line prints it (the preview page shows the same)."""
    lines = [plan.describe(done), *plan.describe_skipped()]
    if plan.new:
        lines.append(_("New schools:"))
        lines += [f"  {p.dese_code} {p.name}" for p in plan.new]
    if plan.changed:
        lines.append(_("Changed schools:"))
        for planned in plan.changed:
            lines.append(f"  {planned.dese_code} {planned.name}")
            lines += [f"    {c.label}: {c.old_text} → {c.new_text}" for c in planned.changes]
    if plan.skipped:
        lines.append(_("Rows skipped:"))
        lines += [
            "  "
            + _(
                "row %(row)s, %(code)s %(name)s: %(reason)s",
                row=format_integer(s.line),
                code=s.dese_code,
                name=s.name,
                reason=s.reason,
            )
            for s in plan.skipped
        ]
    if plan.ignored_columns:
        lines.append(_("Columns not read: %(columns)s", columns=", ".join(plan.ignored_columns)))
    return lines


# ---- remembered column mappings --------------------------------------------------------

MAPPING_KIND = "schools"


def remembered_mapping(headers: list[str]) -> dict[str, str]:
    """The columns a coordinator mapped for this set of headers before ({} if never)."""
    found = db.session.scalar(
        select(ImportMapping).where(
            ImportMapping.kind == MAPPING_KIND,
            ImportMapping.header_key == header_set_key(headers),
        )
    )
    return dict(found.mapping) if found is not None else {}


def remember_mapping(headers: list[str], choices: dict[str, str], user_id: int | None) -> None:
    """Keep a coordinator's choices (header → field, "" = ignore) for this set of headers."""
    unknown = set(resolve_columns(headers).unknown)
    mapping = {
        header_key(header): choice
        for header, choice in choices.items()
        if header in unknown and (choice == "" or choice in MAPPABLE)
    }
    key = header_set_key(headers)
    found = db.session.scalar(
        select(ImportMapping).where(
            ImportMapping.kind == MAPPING_KIND, ImportMapping.header_key == key
        )
    )
    if found is None:
        db.session.add(
            ImportMapping(kind=MAPPING_KIND, header_key=key, mapping=mapping, created_by_id=user_id)
        )
    elif found.mapping != mapping:
        found.mapping = mapping
    db.session.flush()


def unmapped_columns(headers: list[str]) -> list[str]:
    """The headers neither the alias table nor a remembered mapping gives a meaning."""
    return resolve_columns(headers, remembered_mapping(headers)).unknown


# ---- reading and importing in one step --------------------------------------------------


@dataclass
class Unmapped:
    """A file with columns nobody has said the meaning of yet."""

    headers: list[str]
    unknown: list[str]
    # A value from each unknown column, to help say what it is.
    samples: dict[str, str] = field(default_factory=dict)


def plan_upload(
    raw: bytes, options: ReadOptions, clear: Collection[str] = (), ask: bool = True
) -> ImportPlan | Unmapped:
    """What an upload would change, read with the columns remembered for its headers.

    With `ask`, a file with unknown columns gives Unmapped (the page asks what they are);
    without, they are ignored (and listed among the columns not read).
    """
    table = read_table(upload_lines(raw))
    remembered = remembered_mapping(table.headers)
    unknown = resolve_columns(table.headers, remembered).unknown
    if ask and unknown:
        samples = {}
        for header in unknown:
            index = table.headers.index(header)
            values = (cells[index].strip() for _n, cells in table.rows if index < len(cells))
            samples[header] = next((v for v in values if v), "")
        return Unmapped(table.headers, unknown, samples)
    return plan_import(read_file(table, replace(options, remembered=remembered)), clear)


def import_upload(
    raw: bytes, options: ReadOptions | None = None, clear: Collection[str] = ()
) -> ImportPlan:
    """Import an uploaded CSV or XLSX file (any bad row: ImportRefused, nothing written)."""
    plan = plan_upload(raw, options or ReadOptions(), clear, ask=False)
    assert isinstance(plan, ImportPlan)  # without asking, unknown columns are ignored
    apply_plan(plan)
    return plan


def import_schools(handle: TextIO, options: ReadOptions | None = None) -> ImportPlan:
    """Import a CSV (any bad row: ImportRefused, nothing written)."""
    plan = plan_import(read_rows(handle, options), ())
    apply_plan(plan)
    return plan
