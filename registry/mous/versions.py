"""Versions of an MOU's agreed terms: a snapshot when it takes effect, one more per amendment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from registry.audit import plain
from registry.extensions import db
from registry.models import MOU, MOUVersion, User
from registry.vocabulary import Unit

# The MOU fields an amendment may change, and a version records (besides schools and lines).
TERM_FIELDS = (
    "start_date",
    "end_date",
    "notes",
    "signed_date",
    "signatories",
    "partner_signer_name",
    "partner_signer_title",
    "partner_signed_date",
    "partner_signed_at",
    "partner_signed_by_id",
    "shares_student_data",
    "dpa_type",
    "dpa_status",
    "dpa_expiry",
)


def snapshot(mou: MOU) -> dict[str, Any]:
    """The MOU's terms and commitments as JSON, with names so it reads the same later."""
    values: dict[str, Any] = {"school_year": mou.school_year}
    values.update({name: plain(getattr(mou, name)) for name in TERM_FIELDS})
    values["schools"] = [{"id": s.id, "name": s.name} for s in mou.schools]
    values["commitments"] = [
        {
            "service_id": c.service_id,
            "service": c.service.name,
            "school_id": c.school_id,
            "school": c.school.name,
            "amount": str(c.amount),
            "unit": c.service.unit.value,
        }
        for c in mou.commitments
    ]
    return values


def record(mou: MOU, by: User | None) -> MOUVersion:
    """Keep the MOU's current terms as its version `terms_version` (once)."""
    existing = db.session.scalars(
        select(MOUVersion).where(
            MOUVersion.mou_id == mou.id, MOUVersion.number == mou.terms_version
        )
    ).first()
    if existing is not None:
        return existing
    version = MOUVersion(
        mou_id=mou.id,
        number=mou.terms_version,
        snapshot=snapshot(mou),
        created_by_id=by.id if by else None,
        created_by_email=by.email if by else "",
    )
    db.session.add(version)
    db.session.flush()
    return version


@dataclass(frozen=True)
class Line:
    service: str
    school: str
    amount: Decimal
    unit: Unit


@dataclass(frozen=True)
class VersionView:
    """A stored version, as its page reads it."""

    number: int
    start_date: date | None
    end_date: date | None
    signed_date: date | None
    signatories: str
    partner_signer: str
    partner_signed_date: date | None
    notes: str
    shares_student_data: bool
    schools: list[str]
    lines: list[Line]


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def read(version: MOUVersion) -> VersionView:
    """A version's snapshot, typed for its page."""
    s = version.snapshot or {}
    signer = ", ".join(
        x for x in (s.get("partner_signer_name"), s.get("partner_signer_title")) if x
    )
    return VersionView(
        number=version.number,
        start_date=_day(s.get("start_date")),
        end_date=_day(s.get("end_date")),
        signed_date=_day(s.get("signed_date")),
        signatories=str(s.get("signatories") or ""),
        partner_signer=signer,
        partner_signed_date=_day(s.get("partner_signed_date")),
        notes=str(s.get("notes") or ""),
        shares_student_data=bool(s.get("shares_student_data")),
        schools=[str(x.get("name", "")) for x in s.get("schools", [])],
        lines=[
            Line(
                service=str(x.get("service", "")),
                school=str(x.get("school", "")),
                amount=Decimal(str(x.get("amount", "0"))),
                unit=Unit(x.get("unit", Unit.SEATS.value)),
            )
            for x in s.get("commitments", [])
        ],
    )
