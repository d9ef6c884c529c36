"""The dashboard's figures: counts, expiring MOUs, compliance gaps, schools without partners.

The MOU rules (which MOUs are expiring, which lack a data-privacy agreement)
live in `registry.mous.services`; this module only adds what the page needs.
Every function takes `today` so the figures can be checked on any day; the
view passes the district's date (`district_time.today()`). Read-only: nothing
here changes the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import and_, exists, func, or_, select

from registry.extensions import db
from registry.models import MOU, Partner, School, Service, mou_school
from registry.mous.services import dpa_problems, expiring_within
from registry.schoolyear import school_year_of
from registry.vocabulary import DPAStatus, MOUStatus, PartnerStatus

# How far ahead the dashboard warns about MOUs coming to an end.
EXPIRY_WINDOW_DAYS = 60

# How many schools without a partner the dashboard names (all of them: the school list's filter).
UNPARTNERED_LISTED = 20

# How many rows the other lists show (expiring MOUs, compliance gaps); each links to the rest.
LISTED_ROWS = 20

# Partners whose paperwork matters: those working with schools or asking to.
COMPLIANCE_PARTNER_STATUSES = (PartnerStatus.APPROVED, PartnerStatus.APPLICANT)


@dataclass(frozen=True)
class Counts:
    """The registry in numbers, MOUs for one school year."""

    school_year: str
    schools: int
    total_enrollment: int
    partners_by_status: dict[PartnerStatus, int]
    active_services: int
    mous_by_status: dict[MOUStatus, int]

    @property
    def partners(self) -> int:
        return sum(self.partners_by_status.values())

    @property
    def mous(self) -> int:
        return sum(self.mous_by_status.values())


@dataclass(frozen=True)
class ExpiringMOU:
    mou: MOU
    days_left: int


@dataclass(frozen=True)
class PartnerGap:
    """A partner with compliance paperwork missing or out of date."""

    partner: Partner
    background_check_missing: bool
    insurance_missing: bool
    insurance_expired: bool


@dataclass(frozen=True)
class DPAGap:
    """An MOU sharing student data without a current data-privacy agreement."""

    mou: MOU
    reason: str  # "missing" (never signed) or "expired"


@dataclass(frozen=True)
class Dashboard:
    today: date
    counts: Counts
    expiring: list[ExpiringMOU]
    partner_gaps: list[PartnerGap]
    dpa_gaps: list[DPAGap]
    schools_without_partner: list[School] = field(default_factory=list)  # the first, by name
    schools_without_partner_total: int = 0
    # How many the other lists hold in all (each shows its first LISTED_ROWS).
    expiring_total: int = 0
    partner_gaps_total: int = 0
    dpa_gaps_total: int = 0

    @property
    def compliance_count(self) -> int:
        return self.partner_gaps_total + self.dpa_gaps_total


def counts(today: date) -> Counts:
    """Schools, enrollment, partners by status, active services, this year's MOUs by status."""
    year = school_year_of(today)
    schools, enrollment = db.session.execute(
        select(func.count(School.id), func.coalesce(func.sum(School.enrollment), 0))
    ).one()
    partners = dict.fromkeys(PartnerStatus, 0)
    for partner_status, n in db.session.execute(
        select(Partner.status, func.count(Partner.id)).group_by(Partner.status)
    ):
        partners[partner_status] = n
    mous = dict.fromkeys(MOUStatus, 0)
    for mou_status, n in db.session.execute(
        select(MOU.status, func.count(MOU.id)).where(MOU.school_year == year).group_by(MOU.status)
    ):
        mous[mou_status] = n
    active_services = db.session.scalar(
        select(func.count(Service.id)).where(Service.active.is_(True))
    )
    return Counts(
        school_year=year,
        schools=schools,
        total_enrollment=int(enrollment),
        partners_by_status=partners,
        active_services=active_services or 0,
        mous_by_status=mous,
    )


def expiring_mous(today: date, days: int = EXPIRY_WINDOW_DAYS) -> list[ExpiringMOU]:
    """Active MOUs ending between today and `days` days from now, soonest first."""
    return [ExpiringMOU(mou, (mou.end_date - today).days) for mou in expiring_within(days, today)]


def _gap(today: date) -> Any:
    background_missing = or_(
        Partner.background_check_policy.is_(False), Partner.background_check_verified.is_(None)
    )
    insurance_missing = Partner.insurance_expiry.is_(None)
    insurance_expired = Partner.insurance_expiry < today
    return and_(
        Partner.status.in_(COMPLIANCE_PARTNER_STATUSES),
        or_(background_missing, insurance_missing, insurance_expired),
    )


def partner_gaps(today: date, limit: int | None = None) -> list[PartnerGap]:
    """Approved or applicant partners missing a verified background-check policy or insurance,
    by name (the first `limit` of them when given)."""
    partners = db.session.scalars(
        select(Partner).where(_gap(today)).order_by(Partner.name).limit(limit)
    )
    return [
        PartnerGap(
            partner=p,
            background_check_missing=not p.background_check_policy
            or p.background_check_verified is None,
            insurance_missing=p.insurance_expiry is None,
            insurance_expired=p.insurance_expiry is not None and p.insurance_expiry < today,
        )
        for p in partners
    ]


def dpa_gaps(today: date) -> list[DPAGap]:
    """Active or submitted MOUs sharing student data without a signed, unexpired agreement."""
    return [DPAGap(mou, _dpa_reason(mou, today)) for mou in dpa_problems(today)]


def _dpa_reason(mou: MOU, today: date) -> str:
    lapsed = mou.dpa_status == DPAStatus.EXPIRED or (
        mou.dpa_status == DPAStatus.SIGNED and mou.dpa_expiry is not None and mou.dpa_expiry < today
    )
    return "expired" if lapsed else "missing"


def _covered(today: date) -> Any:
    return exists().where(
        mou_school.c.school_id == School.id,
        mou_school.c.mou_id == MOU.id,
        MOU.status == MOUStatus.ACTIVE,
        MOU.school_year == school_year_of(today),
    )


def schools_without_active_partner(today: date, limit: int | None = None) -> list[School]:
    """Schools that no active MOU of the current school year covers, by name (the first
    `limit` of them when given)."""
    stmt = select(School).where(~_covered(today)).order_by(School.name, School.id).limit(limit)
    return list(db.session.scalars(stmt))


def count_schools_without_active_partner(today: date) -> int:
    """How many schools no active MOU of the current school year covers (one anti-join)."""
    return db.session.scalar(select(func.count(School.id)).where(~_covered(today))) or 0


def count_partner_gaps(today: date) -> int:
    """How many partners `partner_gaps` names in all (one count)."""
    return db.session.scalar(select(func.count(Partner.id)).where(_gap(today))) or 0


def dashboard(today: date) -> Dashboard:
    """Everything the dashboard shows, as of a day: each list's first rows, and how many."""
    expiring, dpa = expiring_mous(today), dpa_gaps(today)
    return Dashboard(
        today=today,
        counts=counts(today),
        expiring=expiring[:LISTED_ROWS],
        partner_gaps=partner_gaps(today, LISTED_ROWS),
        dpa_gaps=dpa[:LISTED_ROWS],
        schools_without_partner=schools_without_active_partner(today, UNPARTNERED_LISTED),
        schools_without_partner_total=count_schools_without_active_partner(today),
        expiring_total=len(expiring),
        partner_gaps_total=count_partner_gaps(today),
        dpa_gaps_total=len(dpa),
    )
