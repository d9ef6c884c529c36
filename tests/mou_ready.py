"""Give an MOU what the activation gates need, for tests that activate MOUs.

Signed by both sides, at least one commitment, and verified documents that cover any
term: the partner's insurance certificate and background-check attestation, and a
data-privacy agreement when the MOU shares student data. The partner's status is left
as it is (the factory makes approved partners).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from registry.extensions import db
from registry.models import MOU, Commitment, Document, DocumentStatus, DocumentType, Service
from registry.vocabulary import Category, Setting, Unit

FOREVER = (date(2000, 7, 1), date(2099, 6, 30))


def verified(partner_id: int, doc_type: DocumentType, **overrides: object) -> Document:
    """A verified document of a partner (covering 2000-2099 unless told), added, not committed."""
    values: dict[str, object] = {
        "partner_id": partner_id,
        "doc_type": doc_type,
        "filename": f"{doc_type.value}.pdf",
        "sha256": "0" * 64,
        "size": 1234,
        "effective_date": FOREVER[0],
        "expiry_date": FOREVER[1],
        "status": DocumentStatus.VERIFIED,
    }
    values.update(overrides)
    document = Document(**values)
    db.session.add(document)
    return document


def ready(mou: MOU, *, documents: bool = True) -> MOU:
    """Make an MOU activatable (what it has already is kept), and commit."""
    mou.signed_date = mou.signed_date or date(2025, 8, 15)
    mou.signatories = mou.signatories or "Dr. Ada Lovelace, Superintendent"
    mou.partner_signer_name = mou.partner_signer_name or "Grace Hopper"
    mou.partner_signer_title = mou.partner_signer_title or "Executive director"
    mou.partner_signed_date = mou.partner_signed_date or date(2025, 8, 20)
    if not mou.commitments and mou.schools:
        service = Service(
            partner_id=mou.partner_id,
            name=f"Ready service {mou.id}",
            category=Category.ACADEMIC_SUPPORT,
            grades=["K"],
            setting=Setting.AFTER_SCHOOL,
            unit=Unit.SEATS,
            capacity=None,
            cost=Decimal(0),
        )
        mou.commitments.append(Commitment(service=service, school=mou.schools[0], amount=1))
    if documents:
        verified(mou.partner_id, DocumentType.INSURANCE_CERTIFICATE)
        verified(mou.partner_id, DocumentType.BACKGROUND_CHECK)
        if mou.shares_student_data:
            verified(mou.partner_id, DocumentType.DATA_PRIVACY_AGREEMENT)
    db.session.commit()
    return mou
