"""Partner programs from a listing: what an import would do (the preview), and doing it.

`build_plan` only reads: it matches each row's school and partner, maps the
program's areas to a category and compares what the file says with what is
stored, field by field. `apply_plan` writes exactly the plan's differences
(and flushes), so importing the same file again writes nothing: no row, no
audit entry, no version bump.

Partners are matched by a normalised name (new ones are applicants of type
"other"); each program is a service of its partner, counted in seats, with no
overall pool; each school row is an offering of that service at that school.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import null, select
from sqlalchemy.orm import selectinload

from registry.extensions import db
from registry.formats import amount as format_amount
from registry.formats import integer as format_integer
from registry.models import (
    Offering,
    Partner,
    ProgramAreaMapping,
    SchoolAlias,
    Service,
)
from registry.programs.importer import Listing, ListingRow
from registry.programs.matching import (
    MatchedBy,
    SchoolMatcher,
    SchoolRef,
    partner_key,
    school_key,
    text_key,
)
from registry.refusals import Refused
from registry.spreadsheets import decode_csv
from registry.vocabulary import (
    Category,
    PartnerStatus,
    PartnerType,
    Setting,
    Unit,
    grade_span,
    sort_grades,
)

# PartnerBPS' program areas (and common variants) → category, until a coordinator says
# otherwise on the mapping page.
BUILT_IN_AREAS: dict[str, Category] = {
    text_key(area): category
    for area, category in (
        ("Academic Support", Category.ACADEMIC_SUPPORT),
        ("Academics", Category.ACADEMIC_SUPPORT),
        ("Tutoring", Category.ACADEMIC_SUPPORT),
        ("Literacy", Category.ACADEMIC_SUPPORT),
        ("Math", Category.ACADEMIC_SUPPORT),
        ("STEM", Category.ACADEMIC_SUPPORT),
        ("STEAM", Category.ACADEMIC_SUPPORT),
        ("Science", Category.ACADEMIC_SUPPORT),
        ("Arts", Category.ARTS_ENRICHMENT),
        ("Arts & Culture", Category.ARTS_ENRICHMENT),
        ("Visual Arts", Category.ARTS_ENRICHMENT),
        ("Performing Arts", Category.ARTS_ENRICHMENT),
        ("Music", Category.ARTS_ENRICHMENT),
        ("Enrichment", Category.ARTS_ENRICHMENT),
        ("Health & Wellness", Category.MENTAL_HEALTH),
        ("Social Emotional", Category.MENTAL_HEALTH),
        ("Social Emotional Learning", Category.MENTAL_HEALTH),
        ("SEL", Category.MENTAL_HEALTH),
        ("Behavioral Health", Category.MENTAL_HEALTH),
        ("Mental Health", Category.MENTAL_HEALTH),
        ("Physical Health", Category.PHYSICAL_HEALTH),
        ("Health", Category.PHYSICAL_HEALTH),
        ("Nutrition", Category.PHYSICAL_HEALTH),
        ("Sports", Category.ATHLETICS),
        ("Athletics", Category.ATHLETICS),
        ("Physical Activity", Category.ATHLETICS),
        ("Sports & Physical Activity", Category.ATHLETICS),
        ("Mentoring", Category.MENTORING),
        ("Youth Development", Category.MENTORING),
        ("Leadership", Category.MENTORING),
        ("College & Career", Category.COLLEGE_CAREER),
        ("College and Career Readiness", Category.COLLEGE_CAREER),
        ("Career Readiness", Category.COLLEGE_CAREER),
        ("Workforce Development", Category.COLLEGE_CAREER),
        ("Family Engagement", Category.FAMILY_ENGAGEMENT),
        ("Family Support", Category.FAMILY_ENGAGEMENT),
        ("Basic Needs", Category.BASIC_NEEDS),
        ("Out of School Time", Category.OUT_OF_SCHOOL_TIME),
        ("Expanded Learning Time", Category.OUT_OF_SCHOOL_TIME),
        ("After School", Category.OUT_OF_SCHOOL_TIME),
        ("English Learners", Category.ENGLISH_LEARNER_SUPPORT),
        ("ESL", Category.ENGLISH_LEARNER_SUPPORT),
        ("Special Education", Category.SPECIAL_EDUCATION_SUPPORT),
    )
}
# An area no mapping knows: the program lands here until the mapping says otherwise.
FALLBACK_CATEGORY = Category.OUT_OF_SCHOOL_TIME
# The fields a preview names, in the reader's words.
FIELD_LABELS: dict[str, object] = {
    "category": _l("category"),
    "description": _l("description"),
    "grades": _l("grades"),
    "capacity": _l("site capacity"),
    "days": _l("days"),
    "time": _l("time"),
    "weekly_dosage": _l("weekly dosage"),
    "student_fees": _l("student fees"),
}
OFFERING_FIELDS = ("capacity", "grades", "days", "time", "weekly_dosage", "student_fees")
SERVICE_FIELDS = ("category", "description", "grades")


@dataclass(frozen=True)
class Change:
    """One field a re-import changes: old → new."""

    field: str
    old: Any
    new: Any

    @property
    def label(self) -> str:
        return str(FIELD_LABELS.get(self.field, self.field))


@dataclass
class PartnerPlan:
    name: str
    key: str
    website: str
    existing: Partner | None
    record: Partner | None = None  # the partner once the plan is applied

    @property
    def is_new(self) -> bool:
        return self.existing is None


@dataclass
class ServicePlan:
    partner: PartnerPlan
    name: str
    key: str
    values: dict[str, Any]
    areas: list[str]
    existing: Service | None
    changes: list[Change] = field(default_factory=list)
    record: Service | None = None

    @property
    def status(self) -> str:
        if self.existing is None:
            return "new"
        return "changed" if self.changes else "unchanged"


@dataclass
class OfferingPlan:
    service: ServicePlan
    school: SchoolRef
    matched_by: MatchedBy
    line: int
    values: dict[str, Any]
    existing: Offering | None
    changes: list[Change] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.existing is None:
            return "new"
        return "changed" if self.changes else "unchanged"


@dataclass(frozen=True)
class SkippedRow:
    line: int
    reason: str


@dataclass
class ReviewName:
    """A school name no rule matched: a coordinator picks the school, or its rows are skipped."""

    name: str
    key: str
    local_code: str
    lines: list[int]
    suggestions: list[SchoolRef]


@dataclass(frozen=True)
class AreaPlan:
    area: str
    key: str
    category: Category
    source: str  # "saved" (the mapping table), "built_in" or "fallback" (unknown area)


@dataclass
class ImportPlan:
    """What importing a listing would do; `apply_plan` does it."""

    school_year: str | None
    rows_read: int
    partners: list[PartnerPlan] = field(default_factory=list)
    services: list[ServicePlan] = field(default_factory=list)
    offerings: list[OfferingPlan] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)
    review: list[ReviewName] = field(default_factory=list)
    areas: list[AreaPlan] = field(default_factory=list)
    # Choices to remember as school aliases when the plan is applied (a --match file's).
    aliases: dict[str, int] = field(default_factory=dict)
    # Offerings of the file's services at schools the file no longer lists: kept as they are.
    kept: list[Offering] = field(default_factory=list)
    matched_by: Counter[str] = field(default_factory=Counter)

    def partners_with(self, new: bool) -> list[PartnerPlan]:
        return [p for p in self.partners if p.is_new == new]

    def services_with(self, status: str) -> list[ServicePlan]:
        return [s for s in self.services if s.status == status]

    def offerings_with(self, status: str) -> list[OfferingPlan]:
        return [o for o in self.offerings if o.status == status]

    @property
    def changes_anything(self) -> bool:
        return (
            bool(self.partners_with(new=True))
            or any(s.status != "unchanged" for s in self.services)
            or any(o.status != "unchanged" for o in self.offerings)
            or any(a.source != "saved" for a in self.areas)
            or bool(self.aliases)
        )

    def fingerprint(self) -> str:
        """A digest of what the plan would write: a confirmation checks it is still so."""
        parts: list[str] = [repr(sorted(self.aliases.items()))]
        parts += [f"a {a.key} {a.category} {a.source}" for a in self.areas]
        parts += [f"p {p.key} {p.is_new}" for p in self.partners]
        parts += [f"s {s.partner.key} {s.key} {s.status} {s.changes!r}" for s in self.services]
        parts += [
            f"o {o.service.key} {o.school.id} {o.status} {o.changes!r}" for o in self.offerings
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def describe(self) -> list[str]:
        """The summary, one line per kind of record."""
        count = format_integer
        return [
            ngettext(
                "%(num)s row read, %(skipped)s skipped.",
                "%(num)s rows read, %(skipped)s skipped.",
                self.rows_read,
                skipped=count(len(self.skipped)),
            ),
            _(
                "Partners: %(new)s new, %(matched)s matched.",
                new=count(len(self.partners_with(new=True))),
                matched=count(len(self.partners_with(new=False))),
            ),
            _(
                "Services: %(new)s new, %(changed)s changed, %(unchanged)s unchanged.",
                new=count(len(self.services_with("new"))),
                changed=count(len(self.services_with("changed"))),
                unchanged=count(len(self.services_with("unchanged"))),
            ),
            _(
                "Offerings: %(new)s new, %(changed)s changed, %(unchanged)s unchanged.",
                new=count(len(self.offerings_with("new"))),
                changed=count(len(self.offerings_with("changed"))),
                unchanged=count(len(self.offerings_with("unchanged"))),
            ),
        ]


def school_year_key(text: str) -> str:
    """'2025-2026', '2025-26' and '2025–26' all name 2025-26; anything else is kept as is."""
    match = re.fullmatch(r"\s*(\d{4})\s*[-–/]\s*(\d{2}|\d{4})\s*", text or "")
    if not match:
        return (text or "").strip()
    return f"{match.group(1)}-{match.group(2)[-2:]}"


def area_categories() -> dict[str, ProgramAreaMapping]:
    """The saved mapping, by normalised area."""
    return {m.area_key: m for m in db.session.scalars(select(ProgramAreaMapping))}


def _category(
    areas: Iterable[str], saved: Mapping[str, ProgramAreaMapping], seen: dict[str, AreaPlan]
) -> Category:
    """The category of a program's areas: the first area the mapping knows decides."""
    chosen: Category | None = None
    for area in areas:
        key = text_key(area)
        if not key:
            continue
        if key not in seen:
            if key in saved:
                seen[key] = AreaPlan(area, key, saved[key].category, "saved")
            elif key in BUILT_IN_AREAS:
                seen[key] = AreaPlan(area, key, BUILT_IN_AREAS[key], "built_in")
            else:
                seen[key] = AreaPlan(area, key, FALLBACK_CATEGORY, "fallback")
        plan = seen[key]
        if chosen is None and plan.source != "fallback":
            chosen = plan.category
    return chosen or FALLBACK_CATEGORY


_CLOCK = re.compile(r"(\d{1,2})(?::(\d{2}))?\s*([ap])\.?\s*m\b|(\d{1,2}):(\d{2})", re.I)


def guess_setting(days: Iterable[str], times: Iterable[str]) -> Setting:
    """When a new program runs, as well as a listing says: summer, virtual, after school."""
    said = " ".join([*days, *times]).lower()
    if "summer" in said:
        return Setting.SUMMER
    if "virtual" in said or "online" in said or "remote" in said:
        return Setting.VIRTUAL
    if re.search(r"\b(after|evenings?|weekends?|sat(urday)?s?|sun(day)?s?)\b", said):
        return Setting.AFTER_SCHOOL
    for text in times:
        match = _CLOCK.search(text)
        if match is None:
            continue
        hour = int(match.group(1) or match.group(4))
        if (match.group(3) or "").lower() == "p" and hour != 12:
            hour += 12
        if hour >= 14:
            return Setting.AFTER_SCHOOL
    return Setting.SCHOOL_DAY


def _differences(obj: Any, values: Mapping[str, Any], names: Iterable[str]) -> list[Change]:
    changes = []
    for name in names:
        old, new = getattr(obj, name), values[name]
        if isinstance(old, list):
            old = list(old)
        if old != new:
            changes.append(Change(name, old, new))
    return changes


def _skip_reason_unmatched(row: ListingRow) -> str:
    what = row.school_name or row.local_code or row.dese_code
    return _("no school matches '%(name)s'", name=what)


def build_plan(
    listing: Listing,
    school_year: str | None = None,
    choices: Mapping[str, int] | None = None,
    matcher: SchoolMatcher | None = None,
) -> ImportPlan:
    """What importing a listing would do; reads only. `choices`: name key → school id."""
    matcher = matcher or SchoolMatcher.load()
    plan = ImportPlan(school_year=school_year, rows_read=len(listing.rows))
    for key, school_id in (choices or {}).items():
        if school_id in matcher.schools:
            remembered = matcher.aliases.get(key)
            if remembered is None or remembered.id != school_id:
                plan.aliases[key] = school_id  # to store; an alias already so is not
            matcher.remember(key, school_id)
    wanted_year = school_year_key(school_year) if school_year else None

    partners: dict[str, PartnerPlan] = {}
    program_rows: dict[tuple[str, str], list[tuple[ListingRow, SchoolRef, MatchedBy]]] = {}
    seen_pairs: dict[tuple[str, str, int], int] = {}
    review: dict[str, ReviewName] = {}
    for row in listing.rows:
        if row.problem:
            plan.skipped.append(SkippedRow(row.line, row.problem))
            continue
        if wanted_year and row.school_year and school_year_key(row.school_year) != wanted_year:
            plan.skipped.append(
                SkippedRow(
                    row.line,
                    _(
                        "the row is for %(row_year)s, not %(year)s",
                        row_year=row.school_year,
                        year=wanted_year,
                    ),
                )
            )
            continue
        found = matcher.match(row.school_name, row.local_code, row.dese_code)
        if found is None:
            key = school_key(row.school_name) or f"#{row.local_code or row.dese_code}"
            entry = review.get(key)
            if entry is None:
                entry = review[key] = ReviewName(
                    name=row.school_name or row.local_code or row.dese_code,
                    key=key,
                    local_code=row.local_code,
                    lines=[],
                    suggestions=matcher.suggestions(row.school_name),
                )
            entry.lines.append(row.line)
            plan.skipped.append(SkippedRow(row.line, _skip_reason_unmatched(row)))
            continue
        school, how = found
        p_key, s_key = partner_key(row.organization), text_key(row.program)
        pair = (p_key, s_key, school.id)
        if pair in seen_pairs:
            plan.skipped.append(
                SkippedRow(
                    row.line,
                    _(
                        "the same program at %(school)s is also on row %(row)s",
                        school=school.name,
                        row=seen_pairs[pair],
                    ),
                )
            )
            continue
        seen_pairs[pair] = row.line
        plan.matched_by[how.value] += 1
        if p_key not in partners:
            partners[p_key] = PartnerPlan(row.organization, p_key, row.website, None)
        elif not partners[p_key].website:
            partners[p_key].website = row.website
        program_rows.setdefault((p_key, s_key), []).append((row, school, how))
    plan.review = list(review.values())

    _plan_partners_and_services(plan, partners, program_rows)
    return plan


def _plan_partners_and_services(
    plan: ImportPlan,
    partners: dict[str, PartnerPlan],
    program_rows: dict[tuple[str, str], list[tuple[ListingRow, SchoolRef, MatchedBy]]],
) -> None:
    existing_partners: dict[str, Partner] = {}
    for partner in db.session.scalars(select(Partner).order_by(Partner.id)):
        existing_partners.setdefault(partner_key(partner.name), partner)
    for p_key, partner_plan in partners.items():
        partner_plan.existing = existing_partners.get(p_key)
    plan.partners = list(partners.values())

    matched_ids = [p.existing.id for p in plan.partners if p.existing is not None]
    existing_services: dict[tuple[int, str], Service] = {}
    if matched_ids:
        for service in db.session.scalars(
            select(Service)
            .where(Service.partner_id.in_(matched_ids))
            .options(selectinload(Service.offerings))
            .order_by(Service.id)
        ):
            existing_services.setdefault((service.partner_id, text_key(service.name)), service)

    saved_areas = area_categories()
    seen_areas: dict[str, AreaPlan] = {}
    for (p_key, s_key), rows in program_rows.items():
        partner_plan = partners[p_key]
        first = rows[0][0]
        areas = list(dict.fromkeys(a for row, _s, _h in rows for a in row.areas))
        subareas = [a for row, _s, _h in rows for a in row.subareas.split(",")]
        category = _category([*areas, *subareas], saved_areas, seen_areas)
        values: dict[str, Any] = {
            "category": category,
            "description": next((r.description for r, _s, _h in rows if r.description), ""),
            "grades": sort_grades({g for row, _s, _h in rows for g in row.grades}),
        }
        existing = None
        if partner_plan.existing is not None:
            existing = existing_services.get((partner_plan.existing.id, s_key))
        offerings = {o.school_id: o for o in existing.offerings} if existing is not None else {}
        listed = {school.id for _row, school, _how in rows}
        kept = [o for school_id, o in offerings.items() if school_id not in listed]
        plan.kept += kept
        # The service's grades: those of every school it is offered at, kept ones too.
        values["grades"] = sort_grades({*values["grades"], *(g for o in kept for g in o.grades)})
        service_plan = ServicePlan(partner_plan, first.program, s_key, values, areas, existing)
        if existing is not None:
            service_plan.changes = _differences(existing, values, SERVICE_FIELDS)
        else:
            values["setting"] = guess_setting(
                [r.days for r, _s, _h in rows], [r.time for r, _s, _h in rows]
            )
        plan.services.append(service_plan)

        for row, school, how in rows:
            offering_values: dict[str, Any] = {
                "capacity": row.capacity,
                "grades": list(row.grades),
                "days": row.days,
                "time": row.time,
                "weekly_dosage": row.weekly_dosage,
                "student_fees": row.student_fees,
            }
            found = offerings.get(school.id)
            offering_plan = OfferingPlan(
                service_plan, school, how, row.line, offering_values, found
            )
            if found is not None:
                offering_plan.changes = _differences(found, offering_values, OFFERING_FIELDS)
            plan.offerings.append(offering_plan)
    plan.areas = sorted(seen_areas.values(), key=lambda a: a.key)


def remember_school(name_key: str, school_id: int) -> bool:
    """Remember that a listing's school name means a school; True if that changed anything."""
    alias = db.session.scalar(select(SchoolAlias).where(SchoolAlias.name_key == name_key))
    if alias is None:
        db.session.add(SchoolAlias(name_key=name_key, school_id=school_id))
    elif alias.school_id != school_id:
        alias.school_id = school_id
    else:
        return False
    db.session.flush()
    return True


def apply_plan(plan: ImportPlan) -> None:
    """Write what the plan found different, and nothing else; flush, never commit."""
    for key, school_id in plan.aliases.items():
        remember_school(key, school_id)
    for area in plan.areas:
        if area.source != "saved":
            db.session.add(
                ProgramAreaMapping(area_key=area.key, area=area.area[:200], category=area.category)
            )
    for partner_plan in plan.partners:
        if partner_plan.existing is not None:
            partner_plan.record = partner_plan.existing
            continue
        partner = Partner(
            name=partner_plan.name,
            partner_type=PartnerType.OTHER,
            status=PartnerStatus.APPLICANT,
            website=partner_plan.website,
            languages=[],
            service_zips=[],
            district_wide=True,
            background_check_policy=False,
        )
        db.session.add(partner)
        partner_plan.record = partner
    for service_plan in plan.services:
        if service_plan.existing is None:
            assert service_plan.partner.record is not None
            service = Service(
                partner=service_plan.partner.record,
                name=service_plan.name,
                unit=Unit.SEATS,
                # NULL said outright: a plain None would let the column's default (0) in.
                capacity=null(),
                cost=Decimal(0),
                languages=[],
                active=True,
                **service_plan.values,
            )
            db.session.add(service)
            service_plan.record = service
        else:
            service_plan.record = service_plan.existing
            for change in service_plan.changes:
                setattr(service_plan.existing, change.field, change.new)
    for offering_plan in plan.offerings:
        if offering_plan.existing is None:
            assert offering_plan.service.record is not None
            db.session.add(
                Offering(
                    service=offering_plan.service.record,
                    school_id=offering_plan.school.id,
                    **offering_plan.values,
                )
            )
        else:
            for change in offering_plan.changes:
                setattr(offering_plan.existing, change.field, change.new)
    db.session.flush()


def shown(value: Any) -> str:
    """A planned value as a preview shows it."""
    if value is None:
        return _("(none)")
    if isinstance(value, Category):
        return value.label
    if isinstance(value, list):
        return grade_span(value) or _("(none)")
    if isinstance(value, Decimal):
        return format_amount(value)
    return str(value) if value != "" else _("(blank)")


def read_match_file(raw: bytes, matcher: SchoolMatcher) -> tuple[dict[str, int], list[str]]:
    """A --match CSV (name, school code: DESE or local) as choices, and the lines it refuses."""
    choices: dict[str, int] = {}
    problems: list[str] = []
    for number, cells in enumerate(csv.reader(io.StringIO(decode_csv(raw), newline="")), 1):
        if len(cells) < 2 or not any(c.strip() for c in cells):
            continue
        name, code = cells[0].strip(), cells[1].strip()
        if number == 1 and not any(c.isdigit() for c in code):
            continue  # a header row: "name, school code"
        school = matcher.find_code(code)
        if school is None:
            problems.append(
                _("line %(line)s: no school has the code '%(code)s'", line=number, code=code)
            )
            continue
        key = school_key(name)
        if key:
            choices[key] = school.id
    return choices, problems


def set_area_category(mapping: ProgramAreaMapping, category: Category | str) -> None:
    """Change which category a program area becomes (at the next import)."""
    wanted = Category(category)
    if mapping.category != wanted:
        mapping.category = wanted
        db.session.flush()


def add_area(area: str, category: Category | str) -> ProgramAreaMapping:
    """Map a program area not seen yet; refuses one already mapped."""
    key = text_key(area)
    if not key:
        raise Refused(_("Enter the program area as the listing writes it."), field="area")
    if db.session.scalar(select(ProgramAreaMapping).where(ProgramAreaMapping.area_key == key)):
        raise Refused(_("This program area is already mapped."), field="area")
    mapping = ProgramAreaMapping(area_key=key, area=area.strip()[:200], category=Category(category))
    db.session.add(mapping)
    db.session.flush()
    return mapping
