"""The partner list as a download: one row per partner, with its compliance and services.

Read as the file is sent, in two queries whatever the list's length: the number of services
of each partner the list selects, then the partners a batch at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select

from registry.exports import Column, Kind, batched
from registry.extensions import db
from registry.models import Partner, Service
from registry.partners.forms import LANGUAGE_LABELS

# What the compliance filter calls each problem, in the export too.
COMPLIANCE_LABELS = {
    "background_check": _l("Background check missing"),
    "insurance_missing": _l("Insurance missing"),
    "insurance_expired": _l("Insurance expired"),
}


@dataclass(frozen=True)
class PartnerRow:
    """A partner as exported: its record and how many services it has."""

    partner: Partner
    services: int


def columns(today: date) -> list[Column[PartnerRow]]:
    """The export's columns; compliance problems as of `today`."""
    return [
        Column(_l("ID"), lambda r: r.partner.id, Kind.INT),
        Column(_l("Name"), lambda r: r.partner.name),
        Column(_l("Type"), lambda r: r.partner.partner_type, Kind.LABEL),
        Column(_l("Status"), lambda r: r.partner.status, Kind.LABEL),
        Column(_l("Contact person"), lambda r: r.partner.contact_name),
        Column(_l("Email"), lambda r: r.partner.email),
        Column(_l("Phone"), lambda r: r.partner.phone),
        Column(_l("Address"), lambda r: r.partner.address),
        Column(_l("Zip code"), lambda r: r.partner.zip),
        Column(_l("Website"), lambda r: r.partner.website),
        Column(
            _l("Languages served"),
            lambda r: "; ".join(str(LANGUAGE_LABELS.get(n, n)) for n in r.partner.languages or []),
        ),
        Column(_l("Serves the whole district"), lambda r: r.partner.district_wide, Kind.YES_NO),
        Column(_l("Zip codes served"), lambda r: " ".join(r.partner.service_zips or [])),
        Column(
            _l("Background check policy on file"),
            lambda r: r.partner.background_check_policy,
            Kind.YES_NO,
        ),
        Column(
            _l("Background check verified on"),
            lambda r: r.partner.background_check_verified,
            Kind.DATE,
        ),
        Column(_l("Insurance expiry"), lambda r: r.partner.insurance_expiry, Kind.DATE),
        Column(_l("Insurance liability ($)"), lambda r: r.partner.insurance_liability, Kind.AMOUNT),
        Column(_l("Services"), lambda r: r.services, Kind.INT),
        Column(
            _l("Compliance problems"),
            lambda r: "; ".join(
                str(COMPLIANCE_LABELS[c]) for c in r.partner.compliance_problems(today)
            ),
        ),
    ]


def service_counts(partner_ids: Select[Any]) -> dict[int, int]:
    """How many services each partner has (one GROUP BY query)."""
    rows = db.session.execute(
        select(Service.partner_id, func.count())
        .where(Service.partner_id.in_(partner_ids))
        .group_by(Service.partner_id)
    )
    return {partner_id: counted for partner_id, counted in rows}


def rows(stmt: Select[Any]) -> Iterator[PartnerRow]:
    """The partners `stmt` selects (without eager loading), in its order, as export rows."""
    counts = service_counts(stmt.with_only_columns(Partner.id).order_by(None))
    for partner in batched(stmt).scalars():
        yield PartnerRow(partner, counts.get(partner.id, 0))
