"""The registry's fixed vocabularies: each value, and the label people see."""

from __future__ import annotations

import enum
from collections.abc import Iterable

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l


class LabelledEnum(enum.StrEnum):
    """A string enum whose members carry a translatable label."""

    @property
    def label(self) -> str:
        # Keyed by class too: StrEnum members hash as their value, and "other" means
        # a partner type in one enum and a data-privacy agreement in another.
        return str(LABELS.get((type(self), self.value), self.value))

    @classmethod
    def choices(cls) -> list[tuple[str, object]]:
        """(value, label) pairs, for building form options."""
        # The lazy label, not its text: forms are defined before any language is chosen.
        return [(m.value, LABELS.get((cls, m.value), m.value)) for m in cls]


class Role(LabelledEnum):
    ADMIN = "admin"
    COORDINATOR = "coordinator"
    LEADER = "leader"
    PARTNER = "partner"


class PartnerType(LabelledEnum):
    NONPROFIT = "nonprofit"
    HIGHER_EDUCATION = "higher_education"
    HEALTH_CARE = "health_care"
    BUSINESS = "business"
    GOVERNMENT = "government"
    FAITH_BASED = "faith_based"
    OTHER = "other"


class PartnerStatus(LabelledEnum):
    APPLICANT = "applicant"
    APPROVED = "approved"
    SUSPENDED = "suspended"
    INACTIVE = "inactive"


class Category(LabelledEnum):
    ACADEMIC_SUPPORT = "academic_support"
    MENTORING = "mentoring"
    MENTAL_HEALTH = "mental_health"
    PHYSICAL_HEALTH = "physical_health"
    FAMILY_ENGAGEMENT = "family_engagement"
    ARTS_ENRICHMENT = "arts_enrichment"
    ATHLETICS = "athletics"
    COLLEGE_CAREER = "college_career"
    BASIC_NEEDS = "basic_needs"
    OUT_OF_SCHOOL_TIME = "out_of_school_time"
    ENGLISH_LEARNER_SUPPORT = "english_learner_support"
    SPECIAL_EDUCATION_SUPPORT = "special_education_support"


class Setting(LabelledEnum):
    SCHOOL_DAY = "school_day"
    AFTER_SCHOOL = "after_school"
    SUMMER = "summer"
    VIRTUAL = "virtual"
    FAMILY = "family"


class Unit(LabelledEnum):
    SEATS = "seats"
    HOURS = "hours"
    DOLLARS = "dollars"


class MOUStatus(LabelledEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    ACTIVE = "active"
    EXPIRED = "expired"
    TERMINATED = "terminated"


class DPAType(LabelledEnum):
    STATE_SDPA = "state_sdpa"
    DISTRICT_DPA = "district_dpa"
    FERPA_SCHOOL_OFFICIAL = "ferpa_school_official"
    OTHER = "other"


class DPAStatus(LabelledEnum):
    NOT_STARTED = "not_started"
    PENDING = "pending"
    SIGNED = "signed"
    EXPIRED = "expired"


# The yearly school indicators (percentages of students), by attribute name: the one table
# every page, form, import and export labels them from. DESE calls the first "Low income"
# from 2025-26 and "Economically disadvantaged" for 2015-2021.
INDICATOR_LABELS: dict[str, object] = {
    "pct_econ_disadvantaged": _l("Low income / economically disadvantaged"),
    "pct_english_learners": _l("English learners"),
    "pct_disabilities": _l("Students with disabilities"),
    "pct_high_needs": _l("High needs"),
    "pct_chronically_absent": _l("Chronically absent"),
}


def percent_label(indicator: str) -> LazyString:
    """An indicator's label marked as a percentage, in the language of the page."""
    return LazyString(lambda: f"{INDICATOR_LABELS[indicator]} (%)")


# Grades in the order schools count them.
GRADES: tuple[str, ...] = ("PK", "K", *(str(n) for n in range(1, 13)))


def sort_grades(grades: list[str] | tuple[str, ...] | set[str]) -> list[str]:
    """The given grades, de-duplicated, in school order; unknown grades are dropped."""
    wanted = set(grades)
    return [g for g in GRADES if g in wanted]


def grade_span(grades: list[str]) -> str:
    """A compact label for a grade list: 'PK–5', 'K, 2, 4'."""
    ordered = sort_grades(grades)
    if not ordered:
        return ""
    first, last = GRADES.index(ordered[0]), GRADES.index(ordered[-1])
    if last - first + 1 == len(ordered) and len(ordered) > 2:
        return f"{ordered[0]}–{ordered[-1]}"
    return ", ".join(ordered)


_LABELLED: tuple[tuple[enum.Enum, object], ...] = (
    (Role.ADMIN, _l("Administrator")),
    (Role.COORDINATOR, _l("Partnership coordinator")),
    (Role.LEADER, _l("District leader")),
    (Role.PARTNER, _l("Partner organisation")),
    (PartnerType.NONPROFIT, _l("Nonprofit")),
    (PartnerType.HIGHER_EDUCATION, _l("Higher education")),
    (PartnerType.HEALTH_CARE, _l("Health care")),
    (PartnerType.BUSINESS, _l("Business")),
    (PartnerType.GOVERNMENT, _l("Government")),
    (PartnerType.FAITH_BASED, _l("Faith-based")),
    (PartnerType.OTHER, _l("Other")),
    (PartnerStatus.APPLICANT, _l("Applicant")),
    (PartnerStatus.APPROVED, _l("Approved")),
    (PartnerStatus.SUSPENDED, _l("Suspended")),
    (PartnerStatus.INACTIVE, _l("Inactive")),
    (Category.ACADEMIC_SUPPORT, _l("Academic support")),
    (Category.MENTORING, _l("Mentoring")),
    (Category.MENTAL_HEALTH, _l("Mental and behavioural health")),
    (Category.PHYSICAL_HEALTH, _l("Physical health")),
    (Category.FAMILY_ENGAGEMENT, _l("Family engagement")),
    (Category.ARTS_ENRICHMENT, _l("Arts and enrichment")),
    (Category.ATHLETICS, _l("Athletics")),
    (Category.COLLEGE_CAREER, _l("College and career")),
    (Category.BASIC_NEEDS, _l("Basic needs")),
    (Category.OUT_OF_SCHOOL_TIME, _l("Out-of-school time")),
    (Category.ENGLISH_LEARNER_SUPPORT, _l("English learner support")),
    (Category.SPECIAL_EDUCATION_SUPPORT, _l("Special education support")),
    (Setting.SCHOOL_DAY, _l("School day")),
    (Setting.AFTER_SCHOOL, _l("After school")),
    (Setting.SUMMER, _l("Summer")),
    (Setting.VIRTUAL, _l("Virtual")),
    (Setting.FAMILY, _l("Family")),
    (Unit.SEATS, _l("Seats")),
    (Unit.HOURS, _l("Hours")),
    (Unit.DOLLARS, _l("Dollars")),
    (MOUStatus.DRAFT, _l("Draft")),
    (MOUStatus.SUBMITTED, _l("Submitted")),
    (MOUStatus.ACTIVE, _l("Active")),
    (MOUStatus.EXPIRED, _l("Expired")),
    (MOUStatus.TERMINATED, _l("Terminated")),
    (DPAType.STATE_SDPA, _l("State student data privacy agreement")),
    (DPAType.DISTRICT_DPA, _l("District data privacy agreement")),
    (DPAType.FERPA_SCHOOL_OFFICIAL, _l("FERPA school-official designation")),
    (DPAType.OTHER, _l("Other agreement")),
    (DPAStatus.NOT_STARTED, _l("Not started")),
    (DPAStatus.PENDING, _l("Pending")),
    (DPAStatus.SIGNED, _l("Signed")),
    (DPAStatus.EXPIRED, _l("Expired")),
)
LABELS: dict[tuple[type, str], object] = {
    (type(member), member.value): label for member, label in _LABELLED
}


def add_labels(labelled: Iterable[tuple[enum.Enum, object]]) -> None:
    """Label the members of LabelledEnums defined in other modules (scenario options, …)."""
    LABELS.update({(type(member), member.value): label for member, label in labelled})
