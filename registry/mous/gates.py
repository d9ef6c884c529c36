"""What an MOU needs before it may become active: the gates, each unmet one in words.

Decisions beyond the issue's text:
- Only a verified Document satisfies a gate. A document "covers the whole term" when it
  is in force on every day from the MOU's start to its end (`Document.covers`).
- Insurance and background checks are the partner's (any of its documents counts); a
  data-privacy agreement counts when it is the partner's in general or this MOU's (or,
  for an amendment, the amended MOU's).
- Background checks are needed when any committed service involves direct student
  contact (`Service.direct_student_contact`). A verified attestation with an expiry
  date must not expire before the term ends; one without an expiry date stands.
  The partner's older fields (background_check_policy / _verified) are shown on its
  page, but the document is the source of truth.
- Signed by both sides: the district's date and signatories, and the partner's
  signature (typed in the app by a partner user, or recorded by the district).
- Two-person approval (config MOU_TWO_PERSON_APPROVAL): whoever drafted or last edited
  the MOU cannot activate it, admins included; actions taken by the registry itself
  (no user) are not held by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import or_, select

from registry import formats
from registry.extensions import db
from registry.models import MOU, Document, DocumentStatus, DocumentType, User
from registry.vocabulary import PartnerStatus


class Fix(Enum):
    """Where an unmet condition is put right (the page turns it into a link)."""

    EDIT = "edit"  # the MOU's edit form: dates, schools, signatures
    SIGN = "sign"  # the partner's sign-off page
    COMMITMENTS = "commitments"  # the MOU page's commitments section
    PARTNER = "partner"  # the partner's page: status
    PARTNER_DOCUMENTS = "partner_documents"  # the partner's documents
    MOU_DOCUMENTS = "mou_documents"  # the MOU's documents
    ACTIVATOR = "activator"  # someone else must activate it


@dataclass(frozen=True)
class Gap:
    """One unmet condition, in words, and where to fix it."""

    text: str
    fix: Fix


def _term(mou: MOU) -> str:
    return _(
        "%(first)s to %(last)s", first=formats.date(mou.start_date), last=formats.date(mou.end_date)
    )


def _documents(mou: MOU, doc_type: DocumentType, own_only: bool) -> list[Document]:
    """The partner's documents of a type (own_only: general ones and this MOU's only)."""
    stmt = select(Document).where(
        Document.partner_id == mou.partner_id, Document.doc_type == doc_type
    )
    if own_only:
        mine = [i for i in (mou.id, mou.amends_id) if i is not None]
        stmt = stmt.where(or_(Document.mou_id.is_(None), Document.mou_id.in_(mine)))
    return list(db.session.scalars(stmt.order_by(Document.id)))


def _coverage(docs: list[Document], mou: MOU, name: str) -> str | None:
    """Why no verified document of the list covers the MOU's term (None: one does)."""
    verified = [d for d in docs if d.status == DocumentStatus.VERIFIED]
    if any(d.covers(mou.start_date, mou.end_date) for d in verified):
        return None
    if not verified:
        pending = any(d.status == DocumentStatus.PENDING for d in docs)
        if pending:
            return _("no verified %(doc)s (one is waiting for verification)", doc=name)
        return _("no verified %(doc)s", doc=name)
    best = max(verified, key=lambda d: d.expiry_date or date.min)
    if best.expiry_date is None:
        return _("the verified %(doc)s has no expiry date", doc=name)
    if best.expiry_date < mou.end_date:
        return _(
            "the verified %(doc)s expires on %(day)s, before the term ends",
            doc=name,
            day=formats.date(best.expiry_date),
        )
    return _(
        "the verified %(doc)s takes effect on %(day)s, after the term starts",
        doc=name,
        day=formats.date(best.effective_date),
    )


def contact_services(mou: MOU) -> list[str]:
    """Names of the committed services whose staff work directly with students."""
    return sorted({c.service.name for c in mou.commitments if c.service.direct_student_contact})


def _background_gap(mou: MOU) -> str | None:
    docs = _documents(mou, DocumentType.BACKGROUND_CHECK, own_only=False)
    for d in docs:
        if d.status == DocumentStatus.VERIFIED and (
            d.expiry_date is None or d.expiry_date >= mou.end_date
        ):
            return None
    pending = any(d.status == DocumentStatus.PENDING for d in docs)
    return (
        _("one is waiting for verification")
        if pending
        else _("the partner has no verified background-check attestation for the whole term")
    )


def activation_gaps(mou: MOU) -> list[Gap]:
    """Every condition the MOU does not meet yet for activation (empty: none)."""
    gaps: list[Gap] = []
    if not mou.schools:
        gaps.append(Gap(_("It names no school."), Fix.EDIT))
    if not mou.district_signed:
        missing = []
        if mou.signed_date is None:
            missing.append(_("the date"))
        if not mou.signatories.strip():
            missing.append(_("the signatories"))
        gaps.append(
            Gap(
                _(
                    "The district has not signed it: record %(missing)s.",
                    missing=_(" and ").join(missing),
                ),
                Fix.EDIT,
            )
        )
    if not mou.partner_signed:
        gaps.append(
            Gap(
                _(
                    "%(partner)s has not signed it: the partner signs in the app, or the "
                    "district records the partner's signatory and date.",
                    partner=mou.partner.name,
                ),
                Fix.SIGN,
            )
        )
    if not mou.commitments:
        gaps.append(Gap(_("It has no commitment: add at least one."), Fix.COMMITMENTS))
    if mou.partner.status != PartnerStatus.APPROVED:
        gaps.append(
            Gap(
                _(
                    "The partner is %(status)s, not approved.",
                    status=mou.partner.status.label.lower(),
                ),
                Fix.PARTNER,
            )
        )
    insurance = _coverage(
        _documents(mou, DocumentType.INSURANCE_CERTIFICATE, own_only=False),
        mou,
        _("insurance certificate"),
    )
    if insurance:
        gaps.append(
            Gap(
                _(
                    "The partner's insurance does not cover the whole term (%(term)s): %(why)s.",
                    term=_term(mou),
                    why=insurance,
                ),
                Fix.PARTNER_DOCUMENTS,
            )
        )
    contact = contact_services(mou)
    if contact:
        background = _background_gap(mou)
        if background:
            gaps.append(
                Gap(
                    _(
                        "Background checks are not verified, and %(services)s involve "
                        "direct student contact: %(why)s.",
                        services=", ".join(contact),
                        why=background,
                    ),
                    Fix.PARTNER_DOCUMENTS,
                )
            )
    if mou.shares_student_data:
        privacy = _coverage(
            _documents(mou, DocumentType.DATA_PRIVACY_AGREEMENT, own_only=True),
            mou,
            _("data-privacy agreement"),
        )
        if privacy:
            gaps.append(
                Gap(
                    _(
                        "It shares student data, and no data-privacy agreement covers the "
                        "whole term (%(term)s): %(why)s.",
                        term=_term(mou),
                        why=privacy,
                    ),
                    Fix.MOU_DOCUMENTS,
                )
            )
    return gaps


def two_person_rule() -> bool:
    """Whether two-person approval is on (config MOU_TWO_PERSON_APPROVAL, on by default)."""
    return bool(current_app.config.get("MOU_TWO_PERSON_APPROVAL", True))


def activator_gap(mou: MOU, user: User | None) -> Gap | None:
    """Why this user may not activate the MOU under two-person approval (None: they may)."""
    if user is None or not two_person_rule():
        return None
    if user.id == mou.drafted_by_id:
        return Gap(
            _("Another coordinator or an admin must activate it; you drafted it."), Fix.ACTIVATOR
        )
    if user.id == mou.last_edited_by_id:
        return Gap(
            _("Another coordinator or an admin must activate it; you last edited it."),
            Fix.ACTIVATOR,
        )
    return None


def who_may_activate(mou: MOU) -> str:
    """Who may activate the MOU, in a sentence for its page."""
    if not two_person_rule():
        return _("Any coordinator or admin may activate it.")
    names = []
    if mou.drafted_by is not None:
        names.append(_("%(who)s, who drafted it", who=mou.drafted_by.email))
    if mou.last_edited_by is not None and mou.last_edited_by_id != mou.drafted_by_id:
        names.append(_("%(who)s, who last edited it", who=mou.last_edited_by.email))
    if not names:
        return _("Any coordinator or admin may activate it.")
    return _(
        "Any coordinator or admin other than %(names)s may activate it.",
        names=_(" and ").join(names),
    )
