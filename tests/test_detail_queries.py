"""The detail pages run as many SQL statements for a small record as for a large one.

A partner's page lists its MOUs with their schools, an MOU's page its commitments with the
capacity left of each and its history: loaded a row at a time, a state-sized partner took
~150 statements and an MOU ~70. Each page is counted on a small data set, the data grown
(more MOUs, schools, services, offerings, commitments and their audit rows), and counted
again: the counts must not move.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from flask.testing import FlaskClient

from registry.extensions import db
from registry.models import MOU, Commitment, Offering, Partner, School, Service, User
from registry.models.document import Document, DocumentStatus, DocumentType
from registry.vocabulary import MOUStatus
from tests.statements import counted_queries


def statements_of(client: FlaskClient, path: str) -> int:
    client.get(path)  # the first request of a path may load what a process caches
    with counted_queries() as statements:
        response = client.get(path)
    assert response.status_code == 200, path
    # The sign-in's session is touched now and then (an UPDATE of its last use): not the page's.
    return sum(1 for s in statements if "user_session" not in s)


@dataclass
class Records:
    partner: Partner
    service: Service
    school: School
    mou: MOU

    def paths(self) -> dict[str, str]:
        return {
            "partner": f"/partners/{self.partner.id}",
            "mou": f"/mous/{self.mou.id}",
            "school": f"/schools/{self.school.id}",
            "service": f"/services/{self.service.id}",
        }


def _grow(
    records: Records,
    n: int,
    make_school: Callable[..., School],
    make_service: Callable[..., Service],
    make_mou: Callable[..., MOU],
    make_user: Callable[..., User],
) -> None:
    """n more of everything each page lists, about the same partner, MOU, school, service."""
    partner, mou, school, service = records.partner, records.mou, records.school, records.service
    for _ in range(n):
        other_service = make_service(partner=partner)
        sites = [make_school() for _ in range(2)]
        for site in sites:
            db.session.add(Offering(service=other_service, school=site, capacity=Decimal(30)))
            db.session.add(Offering(service=service, school=site, capacity=Decimal(25)))
        db.session.commit()
        # the MOU: more schools, more commitments over more services (each audited)
        mou.schools.extend(sites)
        for site in sites:
            mou.commitments.append(
                Commitment(service=other_service, school=site, amount=Decimal(3))
            )
            mou.commitments.append(Commitment(service=service, school=site, amount=Decimal(2)))
        db.session.commit()
        # the partner: more MOUs, each at several schools (one of them the school's)
        make_mou(
            partner=partner,
            schools=[school, *sites],
            status=MOUStatus.ACTIVE,
            commitments=[(service, school, 1), (other_service, sites[0], 1)],
        )
        # documents, of the partner and of the MOU, each reviewed by someone else
        for of_mou in (None, mou):
            db.session.add(
                Document(
                    partner=partner,
                    mou=of_mou,
                    doc_type=DocumentType.INSURANCE_CERTIFICATE,
                    filename="insurance.pdf",
                    sha256="0" * 64,
                    size=100,
                    effective_date=date(2025, 7, 1),
                    expiry_date=date(2026, 8, 31),
                    status=DocumentStatus.VERIFIED,
                    reviewed_by=make_user("coordinator"),
                    reviewed_at=datetime(2025, 7, 2, tzinfo=UTC),
                )
            )
        db.session.commit()
    # amounts changed in place: history rows naming a commitment by id
    for line in mou.commitments:
        line.amount = line.amount + 1
    db.session.commit()


def _records(
    make_school: Callable[..., School],
    make_service: Callable[..., Service],
    make_mou: Callable[..., MOU],
) -> Records:
    school = make_school()
    service = make_service()
    db.session.add(Offering(service=service, school=school, capacity=Decimal(40)))
    db.session.commit()
    mou = make_mou(
        partner=service.partner,
        schools=[school],
        status=MOUStatus.DRAFT,
        start_date=date(2025, 9, 1),
        commitments=[(service, school, 5)],
    )
    return Records(partner=service.partner, service=service, school=school, mou=mou)


def test_detail_pages_take_the_same_number_of_statements_whatever_the_size(
    client: FlaskClient,
    login: Callable[..., Any],
    make_school: Callable[..., School],
    make_service: Callable[..., Service],
    make_mou: Callable[..., MOU],
    make_user: Callable[..., User],
) -> None:
    login("admin")
    records = _records(make_school, make_service, make_mou)
    paths = records.paths()
    _grow(records, 1, make_school, make_service, make_mou, make_user)
    small = {page: statements_of(client, path) for page, path in paths.items()}
    _grow(records, 6, make_school, make_service, make_mou, make_user)
    assert len(records.mou.commitments) == 1 + 4 * 7
    assert len(records.partner.mous) == 1 + 7
    bigger = {page: statements_of(client, path) for page, path in paths.items()}
    assert bigger == small
    assert max(small.values()) <= 30, small


def test_the_mou_page_shows_each_commitments_capacity_left(
    client: FlaskClient,
    login: Callable[..., Any],
    make_school: Callable[..., School],
    make_service: Callable[..., Service],
    make_mou: Callable[..., MOU],
    make_user: Callable[..., User],
) -> None:
    """The capacity read in bulk is the one read line by line (`headroom`)."""
    from registry.mous import services as mou_services

    login("admin")
    records = _records(make_school, make_service, make_mou)
    _grow(records, 2, make_school, make_service, make_mou, make_user)
    unoffered = make_school()
    records.mou.schools.append(unoffered)
    records.mou.commitments.append(
        Commitment(service=records.service, school=unoffered, amount=Decimal(1))
    )
    db.session.commit()
    bulk = mou_services.capacity_left(records.mou)
    one_by_one = {
        c.id: mou_services.headroom(c.service, c.school, records.mou.school_year)
        for c in records.mou.commitments
    }
    assert bulk == one_by_one
    assert any(not room.offered for room in bulk.values())
    page = client.get(f"/mous/{records.mou.id}").get_data(as_text=True)
    for line in records.mou.commitments:
        assert line.school.name in page
