"""MOU rules: the status lifecycle, activation checks, terms, commitments within capacity, renewal.

Decisions beyond the issue's text, kept here so there is one place to look:
- The partner is fixed once an MOU exists: its commitments are the partner's services.
- Only draft and submitted MOUs can be edited or have commitments changed; an
  active, expired or terminated MOU is a record of what was agreed.
- Activation also needs at least one school and an approved partner.
- A school that still has commitments cannot be taken off an MOU; remove the
  commitments first (nothing disappears as a side effect of an edit).
- Capacity is per service per school year, counting every MOU of that year
  except terminated ones, at two levels (see `capacity_problem`, the one rule): the
  service's overall pool when it has one, and its site capacity at a school when the
  service is offered at named schools (then it is committed only at those). Either,
  both or neither may be set; whichever is set is enforced, and None is no limit.
- Checking capacity and writing the commitment are one step: `lock_capacity` holds
  the service row first, so two simultaneous commitments cannot both fit.
- Any MOU may be renewed once; the renewal is a draft for the next school year. It
  copies terms and commitments, never a signature or a verification (the data-privacy
  agreement status starts again at "not started"). A unique constraint on
  renewed_from_id makes two simultaneous renewals give one draft; the second is shown it.
- Activation goes through the gates in `registry.mous.gates` (every unmet one listed)
  and two-person approval. The MOU as first activated is kept as version 1.
- An active MOU is amended through an amendment: a draft MOU row (`amends_id`) with the
  same school year, its own sign-off and the same gates. Amendment drafts use no
  capacity; a line of an amendment needs capacity only for what it adds to the amended
  line (checked by the one rule when added, and again on activation). On activation its
  terms and commitments become the amended MOU's next version, its documents move to
  the amended MOU, and the draft row goes (the audit keeps it).
- A partner user signs its partner's draft or submitted MOU in the app (typed name,
  title, the date and time, and the account). A district edit of the partner's
  signatory or date replaces that record with a district-recorded signature. A change
  to the term, the schools, student-data sharing or the commitments after the partner
  signed clears the partner's signature (it signed other terms), unless the same edit
  records a new one.

Functions validate, change objects and flush; they never commit. A refusal is
a `Refused` whose message is shown to the user as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, Table, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from registry import district_time, formats, unit_of_work
from registry.concurrency import check_version
from registry.extensions import db
from registry.listing import search
from registry.models import (
    MOU,
    AuditEntry,
    Commitment,
    Document,
    Offering,
    Partner,
    School,
    Service,
    User,
    mou_school,
)
from registry.models.columns import utcnow
from registry.mous import gates, versions
from registry.refusals import Refused
from registry.schoolyear import a_year_later, next_year, year_bounds
from registry.vocabulary import DPAStatus, DPAType, MOUStatus, Unit

# The only status moves there are (issue 2: draft → submitted → active → expired | terminated).
MOVES: dict[MOUStatus, tuple[MOUStatus, ...]] = {
    MOUStatus.DRAFT: (MOUStatus.SUBMITTED,),
    MOUStatus.SUBMITTED: (MOUStatus.ACTIVE,),
    MOUStatus.ACTIVE: (MOUStatus.EXPIRED, MOUStatus.TERMINATED),
    MOUStatus.EXPIRED: (),
    MOUStatus.TERMINATED: (),
}
EDITABLE = (MOUStatus.DRAFT, MOUStatus.SUBMITTED)
# Statuses whose commitments use up a service's capacity for their school year.
CAPACITY_STATUSES = tuple(s for s in MOUStatus if s != MOUStatus.TERMINATED)
# MOUs whose data-privacy agreement matters: in force, or about to be.
DPA_STATUSES = (MOUStatus.ACTIVE, MOUStatus.SUBMITTED)
# Numeric(12, 2): the largest amount a commitment column holds.
MAX_AMOUNT = Decimal("9999999999.99")


class AlreadyRenewed(Refused):
    """The MOU has a renewal already; `renewal` is that MOU."""

    def __init__(self, message: str, renewal: MOU) -> None:
        super().__init__(message)
        self.renewal = renewal


class AmendmentInProgress(Refused):
    """The MOU has an amendment in progress already; `amendment` is that draft."""

    def __init__(self, message: str, amendment: MOU) -> None:
        super().__init__(message)
        self.amendment = amendment


def counted_for_capacity() -> ColumnElement[bool]:
    """The MOUs whose commitments use up capacity: not terminated, and not amendment drafts
    (an amendment's lines replace the amended MOU's only once it is active)."""
    return and_(MOU.status.in_(CAPACITY_STATUSES), MOU.amends_id.is_(None))


@dataclass
class MOUDetails:
    """What a person may set on an MOU (the partner is given only on creation)."""

    school_ids: list[int]
    school_year: str
    start_date: date
    end_date: date
    signed_date: date | None = None
    signatories: str = ""
    notes: str = ""
    shares_student_data: bool = False
    dpa_type: DPAType | None = None
    dpa_status: DPAStatus | None = None
    dpa_expiry: date | None = None
    partner_signer_name: str = ""
    partner_signer_title: str = ""
    partner_signed_date: date | None = None


@dataclass
class Renewal:
    """A renewal draft and what could not be copied into it as it was."""

    mou: MOU
    adjustments: list[str] = field(default_factory=list)


# ---- terms ---------------------------------------------------------------------------


def school_year_problem(school_year: str) -> str | None:
    """Why a school year name is unacceptable, or None."""
    try:
        first, _last = year_bounds(school_year)
    except ValueError:
        return _('Enter a school year like "2025-26" (the second year follows the first).')
    if not 1990 <= first.year <= 2100:
        return _("Enter a school year between 1990-91 and 2100-01.")
    return None


def term_problems(school_year: str, start: date, end: date) -> dict[str, str]:
    """Field errors for a term: end before start, or a term outside its school year."""
    problems: dict[str, str] = {}
    if end < start:
        problems["end_date"] = _("The end date is before the start date.")
    if school_year_problem(school_year) is None:
        first, last = year_bounds(school_year)
        if not (start <= last and end >= first):
            problems["start_date"] = _(
                "The term does not overlap the %(year)s school year (%(first)s to %(last)s).",
                year=school_year,
                first=formats.date(first),
                last=formats.date(last),
            )
    return problems


def _check_details(details: MOUDetails) -> list[School]:
    """Refuse invalid details; the schools they name, loaded."""
    problem = school_year_problem(details.school_year)
    if problem:
        raise Refused(problem, "school_year")
    for name, message in term_problems(
        details.school_year, details.start_date, details.end_date
    ).items():
        raise Refused(message, name)
    wanted = set(details.school_ids)
    schools = list(db.session.scalars(select(School).where(School.id.in_(wanted))))
    if not wanted:
        raise Refused(_("Choose at least one school."), "school_ids")
    if len(schools) != len(wanted):
        raise Refused(_("One of the schools chosen does not exist."), "school_ids")
    return schools


def _unsign_partner(mou: MOU) -> None:
    """The terms changed after the partner signed: its signature no longer covers them."""
    mou.partner_signer_name = mou.partner_signer_title = ""
    mou.partner_signed_date = mou.partner_signed_at = None
    mou.partner_signed_by_id = None


def _apply(mou: MOU, details: MOUDetails, schools: list[School]) -> None:
    before = (
        mou.start_date,
        mou.end_date,
        sorted(s.id for s in mou.schools),
        mou.shares_student_data,
    )
    after = (
        details.start_date,
        details.end_date,
        sorted(s.id for s in schools),
        details.shares_student_data,
    )
    mou.schools = sorted(schools, key=lambda s: s.name)
    mou.school_year = details.school_year
    mou.start_date = details.start_date
    mou.end_date = details.end_date
    mou.signed_date = details.signed_date
    mou.signatories = details.signatories.strip()
    mou.notes = details.notes.strip()
    mou.shares_student_data = details.shares_student_data
    # The agreement only matters when data is shared; keeping stale fields would mislead.
    sharing = details.shares_student_data
    mou.dpa_type = details.dpa_type if sharing else None
    mou.dpa_status = details.dpa_status if sharing else None
    mou.dpa_expiry = details.dpa_expiry if sharing else None
    name, title = details.partner_signer_name.strip(), details.partner_signer_title.strip()
    signed = (name, title, details.partner_signed_date)
    recorded = (mou.partner_signer_name, mou.partner_signer_title, mou.partner_signed_date)
    if signed == recorded and before != after and mou.partner_signed:
        _unsign_partner(mou)
    elif signed != recorded:
        # The district records (or corrects) the partner's signature: no longer an in-app one.
        mou.partner_signer_name, mou.partner_signer_title, mou.partner_signed_date = signed
        mou.partner_signed_at = None
        mou.partner_signed_by_id = None


def _edited_by(mou: MOU, by: User | None) -> None:
    if by is not None:
        mou.last_edited_by_id = by.id


def is_editable(mou: MOU) -> bool:
    """Whether the MOU's fields and commitments may still change."""
    return mou.status in EDITABLE


def _require_editable(mou: MOU) -> None:
    if not is_editable(mou):
        raise Refused(
            _(
                "A %(status)s MOU cannot be changed; only draft and submitted MOUs can.",
                status=mou.status.label.lower(),
            )
        )


def create_mou(partner: Partner, details: MOUDetails, by: User | None = None) -> MOU:
    """A new draft MOU for a partner, drafted by `by`."""
    schools = _check_details(details)
    mou = MOU(status=MOUStatus.DRAFT, partner_signer_name="", partner_signer_title="")
    if by is not None:
        mou.drafted_by_id = mou.last_edited_by_id = by.id
    db.session.add(mou)
    with db.session.no_autoflush:
        mou.partner = partner
        _apply(mou, details, schools)
    db.session.flush()
    return mou


def update_mou(
    mou: MOU, details: MOUDetails, version: int | str | None, by: User | None = None
) -> MOU:
    """Save an edit made against `version`; stale, non-editable or invalid edits change nothing."""
    check_version(mou, version)
    _require_editable(mou)
    schools = _check_details(details)
    if mou.amends_id is not None and details.school_year != mou.school_year:
        raise Refused(
            _(
                "An amendment keeps the school year of the MOU it amends (%(year)s).",
                year=mou.school_year,
            ),
            "school_year",
        )
    kept = set(details.school_ids)
    orphaned = sorted({c.school.name for c in mou.commitments if c.school_id not in kept})
    if orphaned:
        raise Refused(
            _(
                "Remove the commitments at %(schools)s before taking the school off this MOU.",
                schools=", ".join(orphaned),
            ),
            "school_ids",
        )
    _apply(mou, details, schools)
    _edited_by(mou, by)
    db.session.flush()
    return mou


# ---- status --------------------------------------------------------------------------


def allowed_moves(mou: MOU) -> tuple[MOUStatus, ...]:
    """The statuses the MOU may move to from where it is."""
    return MOVES[mou.status]


def dpa_gaps(mou: MOU, today: date) -> list[str]:
    """What is missing from the data-privacy agreement of an MOU that shares student data."""
    if not mou.shares_student_data:
        return []
    gaps: list[str] = []
    if mou.dpa_type is None:
        gaps.append(_("the data-privacy agreement type is not set"))
    if mou.dpa_status != DPAStatus.SIGNED:
        gaps.append(_("the data-privacy agreement is not signed"))
    if mou.dpa_expiry is None:
        gaps.append(_("the data-privacy agreement has no expiry date"))
    elif mou.dpa_expiry < today:
        gaps.append(
            _("the data-privacy agreement expired on %(day)s", day=formats.date(mou.dpa_expiry))
        )
    return gaps


def activation_problems(mou: MOU, today: date | None = None) -> list[str]:
    """What stands between an MOU and becoming active, in words (empty: nothing)."""
    return [gap.text for gap in gates.activation_gaps(mou)]


def change_status(
    mou: MOU, target: MOUStatus, today: date | None = None, by: User | None = None
) -> MOU:
    """Move the MOU to `target` if that is one of the allowed moves and its conditions hold.

    The MOU that has the status afterwards: for an amendment made active, the amended MOU.
    """
    today = today or district_time.today()
    if target not in MOVES[mou.status]:
        raise Refused(
            _(
                "A %(status)s MOU cannot become %(target)s.",
                status=mou.status.label.lower(),
                target=target.label.lower(),
            )
        )
    if target == MOUStatus.ACTIVE:
        found = gates.activation_gaps(mou)
        blocked = gates.activator_gap(mou, by)
        if blocked is not None:
            found.append(blocked)
        if found:
            raise Refused(
                _(
                    "This MOU cannot become active yet: %(problems)s",
                    problems=" ".join(gap.text for gap in found),
                )
            )
        if mou.amends_id is not None:
            return _apply_amendment(mou, by)
    mou.status = target
    db.session.flush()
    if target == MOUStatus.ACTIVE:
        versions.record(mou, by)
    return mou


def submit(mou: MOU, today: date | None = None) -> MOU:
    """Draft → submitted."""
    return change_status(mou, MOUStatus.SUBMITTED, today)


def activate(mou: MOU, today: date | None = None, by: User | None = None) -> MOU:
    """Submitted → active, once every gate is met, by someone other than its drafter/editor."""
    return change_status(mou, MOUStatus.ACTIVE, today, by)


def expire(mou: MOU, today: date | None = None) -> MOU:
    """Active → expired."""
    return change_status(mou, MOUStatus.EXPIRED, today)


def terminate(mou: MOU, today: date | None = None) -> MOU:
    """Active → terminated (its commitments stop using capacity)."""
    return change_status(mou, MOUStatus.TERMINATED, today)


# ---- commitments ---------------------------------------------------------------------


def committed_amount(
    service: Service,
    school_year: str,
    excluding: Sequence[int] = (),
    school: School | None = None,
) -> Decimal:
    """How much of a service MOUs of a school year promise (terminated MOUs aside).

    Across every school, or at one `school` when given.
    """
    stmt = (
        select(func.coalesce(func.sum(Commitment.amount), 0))
        .join(MOU, Commitment.mou_id == MOU.id)
        .where(
            Commitment.service_id == service.id,
            MOU.school_year == school_year,
            counted_for_capacity(),
        )
    )
    if school is not None:
        stmt = stmt.where(Commitment.school_id == school.id)
    if excluding:
        stmt = stmt.where(Commitment.id.not_in(list(excluding)))
    return Decimal(str(db.session.scalar(stmt) or 0))


def offering_at(service: Service, school: School) -> Offering | None:
    """The service's offering at a school, as stored now (None: not offered there by name)."""
    return db.session.scalars(
        select(Offering)
        .where(Offering.service_id == service.id, Offering.school_id == school.id)
        .execution_options(populate_existing=True)
    ).first()


def has_offerings(service: Service) -> bool:
    """Whether the service is offered at named schools (then only at those)."""
    stmt = select(Offering.id).where(Offering.service_id == service.id).limit(1)
    return db.session.scalar(stmt) is not None


def remaining_capacity(
    service: Service, school_year: str, capacity: Decimal | None = None
) -> Decimal | None:
    """The overall pool (or a proposed one) less what a school year's MOUs commit, at every school.

    None when the service has no overall pool (only its site capacities, if any, limit it).
    Below zero when MOUs already commit more than the pool (older data, or a pool lowered
    in another year), and shown so; no new commitment, renewal or capacity change may take
    it below zero.
    """
    total = service.capacity if capacity is None else capacity
    if total is None:
        return None
    return Decimal(total) - committed_amount(service, school_year)


def remaining_at_site(
    service: Service, school: School, school_year: str, capacity: Decimal | None = None
) -> Decimal | None:
    """A school's site capacity (or a proposed one) less what the year's MOUs commit there.

    None when nothing limits the service at that school by itself: the service has no
    offerings, or its offering there has no site capacity. Zero when the service has
    offerings but none at that school (it is not offered there). Below zero as
    `remaining_capacity` is.
    """
    total = capacity
    if total is None:
        offering = offering_at(service, school)
        if offering is None:
            return Decimal(0) if has_offerings(service) else None
        total = offering.capacity
        if total is None:
            return None
    return Decimal(total) - committed_amount(service, school_year, school=school)


@dataclass(frozen=True)
class Headroom:
    """What is left of a service in a school year at one school, level by level.

    A capacity or a remainder of None means that level sets no limit.
    """

    overall_capacity: Decimal | None
    overall_left: Decimal | None
    offered: bool  # False: the service has offerings, none at this school
    site_capacity: Decimal | None
    site_left: Decimal | None

    @property
    def left(self) -> Decimal | None:
        """The most a new commitment there may be (None: no limit; never below zero)."""
        if not self.offered:
            return Decimal(0)
        limits = [x for x in (self.overall_left, self.site_left) if x is not None]
        return max(min(limits), Decimal(0)) if limits else None

    @property
    def limited(self) -> bool:
        """Whether any level limits the service at this school."""
        return not self.offered or self.overall_left is not None or self.site_left is not None


def headroom(service: Service, school: School, school_year: str) -> Headroom:
    """Both capacity levels of a service at a school in a school year, as stored now."""
    offering = offering_at(service, school)
    offered = offering is not None or not has_offerings(service)
    site_capacity = offering.capacity if offering is not None else None
    return Headroom(
        overall_capacity=service.capacity,
        overall_left=remaining_capacity(service, school_year),
        offered=offered,
        site_capacity=site_capacity,
        site_left=(
            None
            if site_capacity is None
            else Decimal(site_capacity) - committed_amount(service, school_year, school=school)
        ),
    )


def lock_capacity(service: Service) -> None:
    """Hold a service's capacity until the transaction ends, and re-read it.

    Call before reading what is committed in any step that adds or raises a commitment
    or changes a capacity: the check and the write are then one step, so two people
    committing at once cannot both take the last seats. On PostgreSQL the service row is
    locked (SELECT ... FOR UPDATE: the second waits for the first to commit, then reads
    its commitments). SQLite ignores FOR UPDATE and has one writer at a time: a write
    takes that lock now, before the totals are read, instead of at the first insert.
    """
    if db.session.get_bind().dialect.name == "sqlite":
        table = Service.__table__
        assert isinstance(table, Table)  # typed as any FromClause; a mapped class's is a Table
        db.session.execute(update(table).where(table.c.id == service.id).values(id=table.c.id))
    db.session.execute(
        select(Service)
        .where(Service.id == service.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _unit(service: Service) -> str:
    return service.unit.label.lower()


def capacity_problem(
    service: Service, school: School, school_year: str, amount: Decimal
) -> str | None:
    """Why `amount` more of a service cannot be committed at a school in a year, or None.

    The one capacity rule, for new commitments and renewals (capacity edits use
    `remaining_capacity` and `remaining_at_site` with the proposed capacity):
    - a service with offerings is committed only at the schools it is offered at;
    - the overall pool, when set, bounds what every MOU of the year commits, all schools;
    - the school's site capacity, when set, bounds what they commit at that school.
    Terminated MOUs do not count. Call `lock_capacity` first when the answer leads to a write.
    """
    room = headroom(service, school, school_year)
    if not room.offered:
        return _(
            "%(service)s is not offered at %(school)s; add an offering there first.",
            service=service.name,
            school=school.name,
        )
    levels = (
        (
            room.overall_left,
            _("exceeds the overall capacity of %(service)s", service=service.name),
        ),
        (
            room.site_left,
            _(
                "exceeds %(school)s's site capacity for %(service)s",
                school=school.name,
                service=service.name,
            ),
        ),
    )
    for left, exceeds in levels:
        if left is None:
            continue
        if left < 0:
            return _(
                "%(exceeds)s: MOUs for %(year)s already commit %(over)s %(unit)s more than it",
                exceeds=exceeds,
                year=school_year,
                over=formats.amount(-left),
                unit=_unit(service),
            )
        if amount > left:
            return _(
                "%(exceeds)s: %(left)s %(unit)s left",
                exceeds=exceeds,
                left=formats.amount(left),
                unit=_unit(service),
            )
    return None


def amount_problem(service: Service, amount: Decimal) -> str | None:
    """Why an amount cannot be committed in the service's unit, or None."""
    if not amount.is_finite() or amount <= 0:
        return _("Enter an amount above zero.")
    if amount > MAX_AMOUNT:
        return _("Enter a smaller amount.")
    if amount != amount.quantize(Decimal("0.01")):
        return _("Use at most two decimal places.")
    if service.unit == Unit.SEATS and amount != amount.to_integral_value():
        return _("Seats are whole numbers.")
    return None


def add_commitment(
    mou: MOU, service: Service, school: School, amount: Decimal, by: User | None = None
) -> Commitment:
    """Promise an amount of one of the partner's services at one of the MOU's schools.

    On an amendment, only what the line adds to the amended MOU's line needs capacity.
    """
    _require_editable(mou)
    if service.partner_id != mou.partner_id:
        raise Refused(
            _(
                "That service belongs to another partner, not %(partner)s.",
                partner=mou.partner.name,
            ),
            "service_id",
        )
    if not service.active:
        raise Refused(_("That service is not active."), "service_id")
    if school not in mou.schools:
        raise Refused(_("That school is not on this MOU."), "school_id")
    if any(c.service_id == service.id and c.school_id == school.id for c in mou.commitments):
        raise Refused(
            _("This MOU already commits that service at that school; remove that line first."),
            "service_id",
        )
    problem = amount_problem(service, amount)
    if problem:
        raise Refused(problem, "amount")
    if mou.status in CAPACITY_STATUSES:
        lock_capacity(service)
        needed = amount - _amended_amount(mou, service, school)
        problem = capacity_problem(service, school, mou.school_year, needed) if needed > 0 else None
        if problem:
            raise Refused(problem, "amount")
    commitment = Commitment(service=service, school=school, amount=amount)
    mou.commitments.append(commitment)
    if mou.partner_signed:
        _unsign_partner(mou)
    _edited_by(mou, by)
    db.session.flush()
    return commitment


def _amended_amount(mou: MOU, service: Service, school: School) -> Decimal:
    """What the MOU an amendment amends commits of a service at a school (0: not an amendment)."""
    if mou.amends is None:
        return Decimal(0)
    for line in mou.amends.commitments:
        if line.service_id == service.id and line.school_id == school.id:
            return Decimal(line.amount)
    return Decimal(0)


def remove_commitment(mou: MOU, commitment: Commitment, by: User | None = None) -> None:
    """Take a commitment line off a draft or submitted MOU."""
    _require_editable(mou)
    if commitment.mou_id != mou.id:
        raise Refused(_("That commitment is not part of this MOU."))
    mou.commitments.remove(commitment)
    db.session.delete(commitment)  # explicitly, so the audit records the removal
    if mou.partner_signed:
        _unsign_partner(mou)
    _edited_by(mou, by)
    db.session.flush()


# ---- renewal -------------------------------------------------------------------------


def renewal_of(mou: MOU) -> MOU | None:
    """The MOU renewed from this one, if any."""
    return db.session.scalars(
        select(MOU).where(MOU.renewed_from_id == mou.id).order_by(MOU.id).limit(1)
    ).first()


def _already_renewed(existing: MOU) -> AlreadyRenewed:
    return AlreadyRenewed(
        _(
            "This MOU was already renewed for %(year)s (MOU %(id)s); that draft is shown here.",
            year=existing.school_year,
            id=existing.id,
        ),
        existing,
    )


def renew(mou: MOU, by: User | None = None) -> Renewal:
    """Next school year's draft from an MOU: same partner, schools and (capacity allowing) lines.

    No signature and no verification is copied. When someone else renews the MOU at the
    same moment, the unique renewed_from_id refuses the second draft: this request's work
    is rolled back and AlreadyRenewed names the draft that won.
    """
    if mou.amends_id is not None:
        raise Refused(_("An amendment is not renewed; renew the MOU it amends."))
    existing = renewal_of(mou)
    if existing is not None:
        raise _already_renewed(existing)
    mou_id = mou.id
    renewal = MOU(
        school_year=next_year(mou.school_year),
        start_date=a_year_later(mou.start_date),
        end_date=a_year_later(mou.end_date),
        status=MOUStatus.DRAFT,
        signed_date=None,
        signatories="",
        partner_signer_name="",
        partner_signer_title="",
        partner_signed_date=None,
        notes="",
        shares_student_data=mou.shares_student_data,
        dpa_type=mou.dpa_type,
        # The agreement for next year is to be signed again, whatever this year's says.
        dpa_status=DPAStatus.NOT_STARTED if mou.shares_student_data else None,
        dpa_expiry=None,
    )
    if by is not None:
        renewal.drafted_by_id = renewal.last_edited_by_id = by.id
    # In the session before any relationship is set, so no autoflush meets a stray object.
    db.session.add(renewal)
    with db.session.no_autoflush:
        renewal.partner = mou.partner
        renewal.renewed_from = mou
        renewal.schools = list(mou.schools)
    try:
        db.session.flush()
    except IntegrityError:
        # Another renewal of this MOU was committed first (uq_mou_renewed_from_id).
        unit_of_work.roll_back()
        winner = db.session.scalars(select(MOU).where(MOU.renewed_from_id == mou_id)).first()
        if winner is None:
            raise
        raise _already_renewed(winner) from None
    result = Renewal(renewal)
    # Every service first, in one order, so two renewals sharing services cannot deadlock.
    for service in sorted({line.service for line in mou.commitments}, key=lambda s: s.id):
        lock_capacity(service)
    for line in mou.commitments:
        service = line.service
        if not service.active:
            result.adjustments.append(
                _(
                    "%(service)s at %(school)s was left out: the service is no longer active.",
                    service=service.name,
                    school=line.school.name,
                )
            )
            continue
        room = headroom(service, line.school, renewal.school_year)
        if not room.offered:
            result.adjustments.append(
                _(
                    "%(service)s at %(school)s was left out: the service is no longer "
                    "offered there.",
                    service=service.name,
                    school=line.school.name,
                )
            )
            continue
        amount = Decimal(line.amount)
        if room.left is not None:
            amount = min(amount, room.left)
        if service.unit == Unit.SEATS:
            amount = amount.to_integral_value(rounding="ROUND_FLOOR")
        if amount <= 0:
            result.adjustments.append(
                _(
                    "%(service)s at %(school)s was left out: no capacity is left in %(year)s.",
                    service=service.name,
                    school=line.school.name,
                    year=renewal.school_year,
                )
            )
            continue
        if amount < line.amount:
            result.adjustments.append(
                _(
                    "%(service)s at %(school)s was reduced from %(old)s to %(new)s "
                    "to fit the capacity left in %(year)s.",
                    service=service.name,
                    school=line.school.name,
                    old=formats.amount(Decimal(line.amount)),
                    new=formats.amount(amount),
                    year=renewal.school_year,
                )
            )
        renewal.commitments.append(Commitment(service=service, school=line.school, amount=amount))
        db.session.flush()  # so the next line's capacity check counts this one
    return result


# ---- amendments ----------------------------------------------------------------------


def amendment_of(mou: MOU) -> MOU | None:
    """The amendment in progress for this MOU, if any."""
    return db.session.scalars(select(MOU).where(MOU.amends_id == mou.id).limit(1)).first()


def amend(mou: MOU, by: User | None = None) -> MOU:
    """Start an amendment of an active MOU: a draft copy of its terms and commitments.

    It carries no signature: both sides sign the amendment itself.
    """
    if mou.status != MOUStatus.ACTIVE:
        raise Refused(_("Only an active MOU can be amended."))
    existing = amendment_of(mou)
    if existing is not None:
        raise AmendmentInProgress(
            _("This MOU already has an amendment in progress; it is shown here."), existing
        )
    mou_id = mou.id
    amendment = MOU(
        school_year=mou.school_year,
        start_date=mou.start_date,
        end_date=mou.end_date,
        status=MOUStatus.DRAFT,
        signed_date=None,
        signatories="",
        partner_signer_name="",
        partner_signer_title="",
        partner_signed_date=None,
        notes=mou.notes,
        shares_student_data=mou.shares_student_data,
        dpa_type=mou.dpa_type,
        dpa_status=mou.dpa_status,
        dpa_expiry=mou.dpa_expiry,
        amends_id=mou.id,
    )
    if by is not None:
        amendment.drafted_by_id = amendment.last_edited_by_id = by.id
    db.session.add(amendment)
    with db.session.no_autoflush:
        amendment.partner = mou.partner
        amendment.amends = mou
        amendment.schools = list(mou.schools)
        for line in mou.commitments:
            amendment.commitments.append(
                Commitment(service=line.service, school=line.school, amount=line.amount)
            )
    try:
        db.session.flush()
    except IntegrityError:
        unit_of_work.roll_back()
        winner = db.session.scalars(select(MOU).where(MOU.amends_id == mou_id)).first()
        if winner is None:
            raise
        raise AmendmentInProgress(
            _("This MOU already has an amendment in progress; it is shown here."), winner
        ) from None
    return amendment


def _apply_amendment(amendment: MOU, by: User | None) -> MOU:
    """Make an amendment (its gates met) the amended MOU's next version; the amended MOU."""
    original = amendment.amends
    if original is None or original.status != MOUStatus.ACTIVE:
        raise Refused(_("The MOU this amends is no longer active; the amendment cannot apply."))
    current = {(c.service_id, c.school_id): c for c in original.commitments}
    wanted = {(c.service_id, c.school_id): c for c in amendment.commitments}
    for service in sorted({c.service for c in amendment.commitments}, key=lambda s: s.id):
        lock_capacity(service)
    for key, line in wanted.items():
        old = current.get(key)
        extra = Decimal(line.amount) - (Decimal(old.amount) if old else Decimal(0))
        if extra > 0:
            problem = capacity_problem(line.service, line.school, original.school_year, extra)
            if problem:
                raise Refused(problem)
    versions.record(original, None)  # the terms in force until now, if never kept
    with db.session.no_autoflush:
        for name in versions.TERM_FIELDS:
            setattr(original, name, getattr(amendment, name))
        original.schools = list(amendment.schools)
        for key, old in current.items():
            if key not in wanted:
                original.commitments.remove(old)
                db.session.delete(old)
            elif old.amount != wanted[key].amount:
                old.amount = wanted[key].amount
        for key, line in wanted.items():
            if key not in current:
                original.commitments.append(
                    Commitment(service=line.service, school=line.school, amount=line.amount)
                )
        original.terms_version += 1
    db.session.flush()
    versions.record(original, by)
    # The amendment's papers (the signed amendment, its agreement) belong to the MOU now.
    db.session.execute(
        update(Document)
        .where(Document.mou_id == amendment.id)
        .values(mou_id=original.id)
        .execution_options(synchronize_session=False)
    )
    db.session.delete(amendment)
    db.session.flush()
    return original


# ---- the partner's sign-off ----------------------------------------------------------


def sign_as_partner(mou: MOU, user: User, name: str, title: str) -> MOU:
    """The partner's side of the signature, typed in the app by a partner user of the MOU's
    partner: name, title, the district's date and the time, and the account."""
    if user.partner_id != mou.partner_id:
        raise Refused(_("Only a user of %(partner)s can sign this MOU.", partner=mou.partner.name))
    _require_editable(mou)
    name, title = name.strip(), title.strip()
    if not name:
        raise Refused(_("Type your full name to sign."), "name")
    if not title:
        raise Refused(_("Type your title."), "title")
    now = utcnow()
    mou.partner_signer_name = name
    mou.partner_signer_title = title
    mou.partner_signed_date = district_time.today(now)
    mou.partner_signed_at = now
    mou.partner_signed_by_id = user.id
    db.session.flush()
    return mou


# ---- questions other pages ask -------------------------------------------------------


def expiring_within(days: int, today: date) -> list[MOU]:
    """Active MOUs whose term ends within `days` days of today (today included), soonest first."""
    return list(
        db.session.scalars(
            select(MOU)
            .options(selectinload(MOU.partner), selectinload(MOU.schools))
            .where(
                MOU.status == MOUStatus.ACTIVE,
                MOU.end_date >= today,
                MOU.end_date <= today + timedelta(days=days),
            )
            .order_by(MOU.end_date, MOU.id)
        )
    )


def dpa_problems(today: date) -> list[MOU]:
    """Active or submitted MOUs sharing student data without a current signed agreement."""
    return list(
        db.session.scalars(
            select(MOU)
            .options(selectinload(MOU.partner), selectinload(MOU.schools))
            .where(
                MOU.status.in_(DPA_STATUSES),
                MOU.shares_student_data.is_(True),
                or_(
                    MOU.dpa_type.is_(None),
                    MOU.dpa_status.is_(None),
                    MOU.dpa_status != DPAStatus.SIGNED,
                    MOU.dpa_expiry.is_(None),
                    MOU.dpa_expiry < today,
                ),
            )
            .order_by(MOU.dpa_expiry, MOU.id)
        )
    )


# ---- lists and pages -----------------------------------------------------------------


@dataclass(frozen=True)
class MOUFilters:
    """The list's filters; None means "any"."""

    status: MOUStatus | None = None
    school_year: str | None = None
    school_id: int | None = None
    partner_id: int | None = None
    shares_student_data: bool | None = None
    expiring_days: int | None = None


def filtered(filters: MOUFilters, today: date) -> Select[Any]:
    """MOUs matching the filters, with their partner joined (for searching and sorting)."""
    stmt = select(MOU).join(Partner, MOU.partner_id == Partner.id)
    if filters.status is not None:
        stmt = stmt.where(MOU.status == filters.status)
    if filters.school_year:
        stmt = stmt.where(MOU.school_year == filters.school_year)
    if filters.school_id is not None:
        stmt = stmt.where(MOU.schools.any(School.id == filters.school_id))
    if filters.partner_id is not None:
        stmt = stmt.where(MOU.partner_id == filters.partner_id)
    if filters.shares_student_data is not None:
        stmt = stmt.where(MOU.shares_student_data.is_(filters.shares_student_data))
    if filters.expiring_days is not None:
        stmt = stmt.where(
            MOU.status == MOUStatus.ACTIVE,
            MOU.end_date >= today,
            MOU.end_date <= today + timedelta(days=filters.expiring_days),
        )
    return stmt


def matching_text(text: str | None) -> Select[tuple[int]]:
    """Ids of MOUs whose partner, a school or the signatories contain the text."""
    stmt = (
        select(MOU.id)
        .join(Partner, MOU.partner_id == Partner.id)
        .outerjoin(mou_school, mou_school.c.mou_id == MOU.id)
        .outerjoin(School, School.id == mou_school.c.school_id)
    )
    return search(stmt, text, Partner.name, School.name, MOU.signatories)


def _committed_by(
    keys: tuple[Any, ...], service_ids: set[int], school_ids: set[int] | None, school_year: str
) -> dict[Any, Decimal]:
    """What a school year's MOUs commit of several services, grouped by `keys` (as
    `committed_amount`, in one statement)."""
    stmt = (
        select(*keys, func.coalesce(func.sum(Commitment.amount), 0))
        .join(MOU, Commitment.mou_id == MOU.id)
        .where(
            Commitment.service_id.in_(service_ids),
            MOU.school_year == school_year,
            counted_for_capacity(),
        )
        .group_by(*keys)
    )
    if school_ids is not None:
        stmt = stmt.where(Commitment.school_id.in_(school_ids))
    found: dict[Any, Decimal] = {}
    for row in db.session.execute(stmt):
        key = row[0] if len(keys) == 1 else tuple(row[: len(keys)])
        found[key] = Decimal(str(row[-1] or 0))
    return found


def capacity_left(mou: MOU) -> dict[int, Headroom]:
    """Capacity left in the MOU's school year at both levels, by commitment id.

    The same figures as `headroom` for each commitment, in a fixed number of statements
    however many commitments the MOU has: its commitments with their services and schools,
    the offerings of those services, and what the year commits of them overall and at
    each school.
    """
    commitments = list(
        db.session.scalars(
            select(Commitment)
            .where(Commitment.mou_id == mou.id)
            .options(selectinload(Commitment.service), selectinload(Commitment.school))
            .order_by(Commitment.id)
        )
    )
    if not commitments:
        return {}
    service_ids = {c.service_id for c in commitments}
    school_ids = {c.school_id for c in commitments}
    offerings = {
        (o.service_id, o.school_id): o
        for o in db.session.scalars(
            select(Offering).where(
                Offering.service_id.in_(service_ids), Offering.school_id.in_(school_ids)
            )
        )
    }
    with_offerings = set(
        db.session.scalars(
            select(Offering.service_id).where(Offering.service_id.in_(service_ids)).distinct()
        )
    )
    year = mou.school_year
    overall = _committed_by((Commitment.service_id,), service_ids, None, year)
    at_site = _committed_by(
        (Commitment.service_id, Commitment.school_id), service_ids, school_ids, year
    )
    found: dict[int, Headroom] = {}
    for c in commitments:
        service = c.service
        offering = offerings.get((c.service_id, c.school_id))
        site_capacity = offering.capacity if offering is not None else None
        found[c.id] = Headroom(
            overall_capacity=service.capacity,
            overall_left=(
                None
                if service.capacity is None
                else Decimal(service.capacity) - overall.get(c.service_id, Decimal(0))
            ),
            offered=offering is not None or c.service_id not in with_offerings,
            site_capacity=site_capacity,
            site_left=(
                None
                if site_capacity is None
                else Decimal(site_capacity) - at_site.get((c.service_id, c.school_id), Decimal(0))
            ),
        )
    return found


def _json_id(column: Any, key: str) -> Any:
    return column[key].as_integer()


def audit_trail(mou: MOU) -> list[AuditEntry]:
    """The MOU's history, newest first: its own rows, its commitments' rows, its versions'
    rows, and the creation of its amendments."""
    mine = or_(
        _json_id(AuditEntry.after, "mou_id") == mou.id,
        _json_id(AuditEntry.before, "mou_id") == mou.id,
        # an amount changed in place (by an amendment) names only the amount
        (AuditEntry.entity == "commitment")
        & AuditEntry.entity_id.in_([c.id for c in mou.commitments]),
    )
    return list(
        db.session.scalars(
            select(AuditEntry)
            .where(
                or_(
                    (AuditEntry.entity == "mou") & (AuditEntry.entity_id == mou.id),
                    AuditEntry.entity.in_(("commitment", "mou_version")) & mine,
                    (AuditEntry.entity == "mou")
                    & (AuditEntry.action == "create")
                    & (_json_id(AuditEntry.after, "amends_id") == mou.id),
                )
            )
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        )
    )
