"""The demo district: its size and shape, its accounts, that it keeps the registry's own
MOU and document rules, and that seeding twice adds nothing.

Seeding takes a few seconds, so one test seeds once and checks many things.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from registry.audit import Actor, acting_as
from registry.demo import DISTRICT_SIGNATORIES, build_plan, demo_years, seed_demo
from registry.documents import services as documents
from registry.documents import storage
from registry.extensions import db
from registry.models import (
    INDICATORS,
    MOU,
    AuditEntry,
    Commitment,
    Document,
    DocumentStatus,
    DocumentType,
    MOUVersion,
    Offering,
    Partner,
    School,
    Service,
    User,
)
from registry.mous import gates
from registry.seclog import chain
from registry.vocabulary import DPAStatus, MOUStatus, PartnerStatus, Role, Unit

TODAY = date(2026, 3, 2)  # in 2025-26, the latest demo year
EMAILS = [
    "admin@demo.example",
    "coordinator@demo.example",
    "leader@demo.example",
    "partner@demo.example",
    "partner2@demo.example",
]


def _seed(**kwargs: object):
    with acting_as(Actor(None, "cli")):
        report = seed_demo(today=TODAY, **kwargs)  # type: ignore[arg-type]
        db.session.commit()
    return report


def _counts() -> dict[str, int]:
    return {
        model.__name__: db.session.scalar(select(func.count()).select_from(model)) or 0
        for model in (
            School,
            Partner,
            Service,
            Offering,
            MOU,
            Commitment,
            User,
            Document,
            MOUVersion,
        )
    }


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):  # ties share their mean rank
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return ranks


def _active_mous_meet_the_activation_gates() -> None:
    """Every active MOU passes the app's own activation check, and carries what activation
    leaves: both signatures (the district's signatories are district staff only) and its
    terms kept as version 1. So does every MOU that was ever active, signature-wise."""
    active = list(db.session.scalars(select(MOU).where(MOU.status == MOUStatus.ACTIVE)))
    assert active
    unmet = {m.id: [gap.text for gap in gates.activation_gaps(m)] for m in active}
    assert {mou_id: gaps for mou_id, gaps in unmet.items() if gaps} == {}
    activated = db.session.scalars(
        select(MOU).where(
            MOU.status.in_((MOUStatus.ACTIVE, MOUStatus.EXPIRED, MOUStatus.TERMINATED))
        )
    )
    kept = set(db.session.scalars(select(MOUVersion.mou_id).where(MOUVersion.number == 1)))
    for mou in activated:
        assert mou.district_signed and mou.partner_signed, mou.id
        assert mou.signatories == DISTRICT_SIGNATORIES, mou.id
        assert mou.partner.contact_name not in mou.signatories, mou.id
        assert mou.partner_signer_name == mou.partner.contact_name, mou.id
        assert mou.partner_signed_date and mou.signed_date
        assert mou.partner_signed_date <= mou.signed_date <= mou.start_date, mou.id
        assert mou.id in kept, mou.id
    # Activation went through the MOU rules: each active MOU's audit has the status move.
    moved = set(
        db.session.scalars(
            select(AuditEntry.entity_id).where(
                AuditEntry.entity == "mou", AuditEntry.action == "status"
            )
        )
    )
    assert {m.id for m in active} <= moved
    # Submitted MOUs still show the gates at work: each lists what it lacks.
    submitted = db.session.scalars(select(MOU).where(MOU.status == MOUStatus.SUBMITTED)).all()
    assert submitted and all(gates.activation_gaps(m) for m in submitted)


def _compliance_is_backed(documents_dir: Path, today: date) -> None:
    """Every compliance claim on a page rests on what the rules need: a verified document
    (insurance "Current", a background check "Verified", an agreement "Signed"); a claim of
    missing or unverified has none. Every document's file is a real PDF kept under its
    SHA-256 outside the web root, uploaded and then verified by the demo coordinator."""
    insurance, attestation, agreement = (
        DocumentType.INSURANCE_CERTIFICATE,
        DocumentType.BACKGROUND_CHECK,
        DocumentType.DATA_PRIVACY_AGREEMENT,
    )
    for partner in db.session.scalars(select(Partner)):
        expiry = partner.insurance_expiry
        if expiry is not None:
            certificate = documents.verified_document(
                partner, insurance, min(today, expiry), expiry
            )
            assert certificate is not None and certificate.expiry_date == expiry, partner.name
        if expiry is None or expiry < today:
            assert documents.verified_document(partner, insurance, today, today) is None
        checks = db.session.scalars(
            select(Document).where(
                Document.partner_id == partner.id, Document.doc_type == attestation
            )
        ).all()
        verified = [d for d in checks if d.status == DocumentStatus.VERIFIED]
        if partner.background_check_verified is not None:
            assert [d.effective_date for d in verified] == [partner.background_check_verified]
        else:
            assert not verified, partner.name
        assert bool(checks) == partner.background_check_policy, partner.name

    signed = db.session.scalars(select(MOU).where(MOU.dpa_status == DPAStatus.SIGNED)).all()
    assert signed
    for mou in signed:
        assert mou.dpa_expiry is not None
        found = documents.verified_document(
            mou.partner, agreement, mou.dpa_expiry, mou.dpa_expiry, mou=mou
        )
        assert found is not None and found.mou_id == mou.id and found.expiry_date == mou.dpa_expiry
    unsigned = db.session.scalars(
        select(MOU).where(MOU.dpa_status.is_not(None), MOU.dpa_status != DPAStatus.SIGNED)
    ).all()
    assert unsigned and not any(
        d.status == DocumentStatus.VERIFIED for m in unsigned for d in documents.mou_documents(m)
    )

    kept = list(db.session.scalars(select(Document)))
    assert kept and {d.doc_type for d in kept} == {insurance, attestation, agreement}
    static = Path(documents_dir).parent / "static"
    for document in kept:
        path = storage.path_for(document.sha256)
        assert path.parent == documents_dir and not path.is_relative_to(static)
        content = path.read_bytes()
        assert storage.sha256_of(content) == document.sha256 and len(content) == document.size
        documents.check_pdf(content, documents.max_bytes())
    trail = defaultdict(list)
    for entity_id, action, email in db.session.execute(
        select(AuditEntry.entity_id, AuditEntry.action, AuditEntry.user_email)
        .where(AuditEntry.entity == "document")
        .order_by(AuditEntry.id)
    ):
        trail[entity_id].append((action, email))
    for document in kept:
        expected = [("create", "cli")]
        if document.status == DocumentStatus.VERIFIED:
            assert document.reviewed_by and document.reviewed_by.email == "coordinator@demo.example"
            expected.append(("status", "coordinator@demo.example"))
        assert trail[document.id] == expected, document.id
    assert any(d.status == DocumentStatus.PENDING for d in kept)  # some wait for a coordinator


def _sign_in(client: FlaskClient, email: str, password: str) -> int:
    status = client.post("/login", data={"email": email, "password": password}).status_code
    client.post("/logout")
    return status


def test_demo_years_reach_the_current_school_year() -> None:
    assert demo_years(date(2026, 3, 2)) == ["2023-24", "2024-25", "2025-26"]
    assert demo_years(date(2026, 11, 24)) == ["2023-24", "2024-25", "2025-26", "2026-27"]


def test_demo_paperwork_is_drawn_the_same_every_time() -> None:
    first, again = build_plan(TODAY), build_plan(TODAY)
    assert first.documents and first.documents == again.documents
    assert [m.values for m in first.mous] == [m.values for m in again.mous]
    assert [p.values for p in first.partners] == [p.values for p in again.partners]


def test_demo_district(app: Flask, client: FlaskClient) -> None:
    report = _seed(password="demo pass one")
    counts = _counts()

    # Size: Worcester-like.
    assert 40 <= counts["School"] <= 50
    assert 110 <= counts["Partner"] <= 135
    assert 270 <= counts["Service"] <= 330
    assert counts["User"] == 5
    enrollment = db.session.scalar(select(func.sum(School.enrollment)))
    assert 21_600 <= enrollment <= 26_400
    schools = list(db.session.scalars(select(School)))
    assert all(s.dese_code.startswith("99") and s.zip.startswith("016") for s in schools)

    # Indicators near an urban district's, with a couple of gaps in the latest year.
    latest = [s.indicators_for("2025-26") for s in schools]
    targets = {
        "pct_econ_disadvantaged": 60,
        "pct_english_learners": 32,
        "pct_disabilities": 21,
        "pct_high_needs": 75,
        "pct_chronically_absent": 25,
    }
    for name in INDICATORS:
        values = [float(getattr(i, name)) for i in latest if getattr(i, name) is not None]
        assert abs(statistics.mean(values) - targets[name]) < 3, name
    missing = sum(getattr(i, name) is None for i in latest for name in INDICATORS)
    assert 1 <= missing <= 4
    assert all(s.indicators_for(y) for s in schools for y in ("2023-24", "2024-25"))

    # MOUs grow year on year; past years are over, the current one mostly active.
    by_year = dict(
        db.session.execute(select(MOU.school_year, func.count()).group_by(MOU.school_year)).all()
    )
    assert by_year["2023-24"] < by_year["2024-25"] < by_year["2025-26"]
    assert report.mous_by_year == by_year
    statuses = defaultdict(int)
    for year, status, n in db.session.execute(
        select(MOU.school_year, MOU.status, func.count()).group_by(MOU.school_year, MOU.status)
    ):
        statuses[(year, status)] += n
    assert statuses[("2024-25", MOUStatus.ACTIVE)] == 0
    assert statuses[("2025-26", MOUStatus.ACTIVE)] > by_year["2025-26"] * 0.7
    assert report.held_back == 0  # every MOU drawn active passed the activation gates

    # The MOU rules and the compliance pages hold of the demo as of any registry.
    _active_mous_meet_the_activation_gates()
    documents_dir = Path(app.config["DOCUMENTS_DIR"])
    _compliance_is_backed(documents_dir, TODAY)
    assert chain.verify(db.session.connection(), AuditEntry.__table__).ok  # type: ignore[arg-type]

    # Commitments never exceed a service's capacity in a school year.
    used = db.session.execute(
        select(Commitment.service_id, MOU.school_year, func.sum(Commitment.amount))
        .join(MOU)
        .group_by(Commitment.service_id, MOU.school_year)
    ).all()
    capacity = dict(db.session.execute(select(Service.id, Service.capacity)).all())
    assert used and all(
        capacity[service_id] is None or total <= capacity[service_id]
        for service_id, _, total in used
    )

    # Some services are offered at named schools, each within its site capacity, and one
    # has no overall capacity: its sites bound it.
    site = {(o.service_id, o.school_id): o.capacity for o in db.session.scalars(select(Offering))}
    assert 40 <= len(site) <= 200
    at_sites = db.session.execute(
        select(Commitment.service_id, Commitment.school_id, func.sum(Commitment.amount))
        .join(MOU)
        .where(Commitment.service_id.in_({service_id for service_id, _ in site}))
        .group_by(Commitment.service_id, Commitment.school_id, MOU.school_year)
    ).all()
    assert at_sites and all(
        (service_id, school_id) in site and total <= site[(service_id, school_id)]
        for service_id, school_id, total in at_sites
    )
    sites_only = [service_id for service_id, cap in capacity.items() if cap is None]
    assert len(sites_only) == 1 and any(key[0] == sites_only[0] for key in site)

    # Partnerships lean to the less needy schools: seats per student fall with need.
    seats: dict[int, float] = defaultdict(float)
    for school_id, amount in db.session.execute(
        select(Commitment.school_id, Commitment.amount)
        .join(MOU)
        .join(Service)
        .where(MOU.school_year == "2025-26", Service.unit == Unit.SEATS)
    ):
        seats[school_id] += float(amount)
    need = [float(s.indicators_for("2025-26").pct_econ_disadvantaged) for s in schools]
    per_student = [seats[s.id] / s.enrollment for s in schools]
    assert statistics.correlation(_ranks(need), _ranks(per_student)) < -0.3

    # Accounts: five, two partners linked to two different approved partners.
    users = {u.email: u for u in db.session.scalars(select(User))}
    assert sorted(users) == sorted(EMAILS)
    assert users["admin@demo.example"].role == Role.ADMIN
    linked = [users[e].partner for e in ("partner@demo.example", "partner2@demo.example")]
    assert linked[0] and linked[1] and linked[0].id != linked[1].id
    assert all(p.status == PartnerStatus.APPROVED for p in linked if p)
    for email in EMAILS:
        assert _sign_in(client, email, "demo pass one") == 302, email

    # A partner contact reads its active MOU as signed by both sides, with nothing to sign.
    theirs = db.session.scalars(
        select(MOU).where(MOU.partner_id == linked[0].id, MOU.status == MOUStatus.ACTIVE)
    ).first()
    assert theirs is not None
    client.post("/login", data={"email": "partner@demo.example", "password": "demo pass one"})
    page = client.get(f"/mous/{theirs.id}").get_data(as_text=True)
    client.post("/logout")
    assert "recorded by the district" in page and "Robin Exemplar" in page
    assert "Not signed yet" not in page and "Sign for" not in page
    assert "demo pass one" in report.describe()

    # Twice: nothing added, passwords kept; with a password: the accounts are reset.
    again = _seed()
    assert _counts() == counts
    assert again.already_present
    assert "already present" in again.describe()
    assert "unchanged" in again.describe()
    assert _sign_in(client, "admin@demo.example", "demo pass one") == 302

    reset = _seed(password="demo pass two")
    assert _counts() == counts
    assert "reset" in reset.describe()
    assert _sign_in(client, "leader@demo.example", "demo pass two") == 302
    assert _sign_in(client, "leader@demo.example", "demo pass one") == 400


def test_generated_password_is_printed_and_works(client: FlaskClient) -> None:
    report = _seed()
    assert report.password_generated and report.password
    assert report.password in report.describe()
    assert _sign_in(client, "partner@demo.example", report.password) == 302
