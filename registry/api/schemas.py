"""The API's response shapes: pydantic models that serialise every answer and make its OpenAPI.

Amounts are strings (exact decimals, as "12.50"); dates ISO 8601. A list answer is a
page: `data` and `next`, the URL of the next page (null on the last).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from registry.models import MOU, Partner, ScenarioRun, School, Service
from registry.models.scenario import RunStatus
from registry.vocabulary import Category, MOUStatus, PartnerStatus, PartnerType, Setting, Unit


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


def amount(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


class Error(Schema):
    error: str


class PartnerOut(Schema):
    id: int
    name: str
    partner_type: PartnerType
    status: PartnerStatus
    description: str
    website: str
    email: str
    phone: str
    address: str
    zip: str
    languages: list[str]
    district_wide: bool
    service_zips: list[str]
    insurance_expiry: date | None

    @classmethod
    def of(cls, p: Partner) -> PartnerOut:
        return cls(
            id=p.id,
            name=p.name,
            partner_type=p.partner_type,
            status=p.status,
            description=p.description,
            website=p.website,
            email=p.email,
            phone=p.phone,
            address=p.address,
            zip=p.zip,
            languages=list(p.languages or []),
            district_wide=p.district_wide,
            service_zips=list(p.service_zips or []),
            insurance_expiry=p.insurance_expiry,
        )


class ServiceOut(Schema):
    id: int
    partner_id: int
    name: str
    category: Category
    description: str
    grades: list[str]
    languages: list[str]
    setting: Setting
    unit: Unit
    capacity: str | None  # None: no overall limit
    cost: str
    active: bool

    @classmethod
    def of(cls, s: Service) -> ServiceOut:
        return cls(
            id=s.id,
            partner_id=s.partner_id,
            name=s.name,
            category=s.category,
            description=s.description,
            grades=list(s.grades or []),
            languages=list(s.languages or []),
            setting=s.setting,
            unit=s.unit,
            capacity=amount(s.capacity),
            cost=amount(s.cost) or "0",
            active=s.active,
        )


class SchoolOut(Schema):
    id: int
    dese_code: str
    local_code: str | None
    name: str
    grades: list[str]
    enrollment: int
    address: str
    zip: str

    @classmethod
    def of(cls, s: School) -> SchoolOut:
        return cls(
            id=s.id,
            dese_code=s.dese_code,
            local_code=s.local_code,
            name=s.name,
            grades=list(s.grades or []),
            enrollment=s.enrollment,
            address=s.address,
            zip=s.zip,
        )


class CommitmentOut(Schema):
    service_id: int
    school_id: int
    amount: str


class MOUOut(Schema):
    id: int
    partner_id: int
    school_year: str
    start_date: date
    end_date: date
    status: MOUStatus
    signed_date: date | None
    shares_student_data: bool
    terms_version: int
    school_ids: list[int]
    commitments: list[CommitmentOut]

    @classmethod
    def of(cls, m: MOU) -> MOUOut:
        return cls(
            id=m.id,
            partner_id=m.partner_id,
            school_year=m.school_year,
            start_date=m.start_date,
            end_date=m.end_date,
            status=m.status,
            signed_date=m.signed_date,
            shares_student_data=m.shares_student_data,
            terms_version=m.terms_version,
            school_ids=[s.id for s in m.schools],
            commitments=[
                CommitmentOut(service_id=c.service_id, school_id=c.school_id, amount=str(c.amount))
                for c in m.commitments
            ],
        )


class RunOut(Schema):
    id: int
    scenario_id: int
    scenario_name: str
    status: RunStatus
    engine_status: str | None
    created_at: datetime
    finished_at: datetime | None
    # The stored result file, as the engine wrote it (null until the run is done).
    result: dict[str, Any] | None

    @classmethod
    def of(cls, r: ScenarioRun) -> RunOut:
        return cls(
            id=r.id,
            scenario_id=r.scenario_id,
            scenario_name=r.scenario.name,
            status=r.status,
            engine_status=r.engine_status,
            created_at=r.created_at,
            finished_at=r.finished_at,
            result=json.loads(r.result_json) if r.result_json else None,
        )


class DirectoryEntry(Schema):
    """One listing of the family directory: an active service of an approved partner."""

    service_id: int
    name: str
    category: Category
    description: str
    grades: list[str]
    languages: list[str]
    setting: Setting
    partner_id: int
    partner_name: str
    partner_website: str
    partner_phone: str

    @classmethod
    def of(cls, s: Service) -> DirectoryEntry:
        return cls(
            service_id=s.id,
            name=s.name,
            category=s.category,
            description=s.description,
            grades=list(s.grades or []),
            languages=list(s.languages or []),
            setting=s.setting,
            partner_id=s.partner_id,
            partner_name=s.partner.name,
            partner_website=s.partner.website,
            partner_phone=s.partner.phone,
        )


class PartnerPage(Schema):
    data: list[PartnerOut]
    next: str | None


class ServicePage(Schema):
    data: list[ServiceOut]
    next: str | None


class SchoolPage(Schema):
    data: list[SchoolOut]
    next: str | None


class MOUPage(Schema):
    data: list[MOUOut]
    next: str | None


class DirectoryPage(Schema):
    data: list[DirectoryEntry]
    next: str | None


class NeedDefinitionRef(Schema):
    id: int
    name: str
    version: int


class QuartileOut(Schema):
    quartile: int  # 1 = least need
    schools: int
    enrollment: int
    units: float
    enrollment_share: float
    resource_share: float
    units_per_student: float


class SchoolRefOut(Schema):
    id: int
    name: str


class UnscoredSchoolOut(Schema):
    id: int
    name: str
    missing: list[str]  # the indicators the school has no data for


class KpisOut(Schema):
    """The equity dashboard's figures for a school year (`registry.equity.services`).

    A figure the data cannot support is null, never 0: every figure by need when no
    need index is defined (`need_definition` null) or no school has a need score."""

    year: str
    category: Category | None
    unit: Unit
    mous_by_year: dict[str, int]
    pairs_by_year: dict[str, int]
    mou_growth_pct: float | None
    pair_growth_pct: float | None
    need_definition: NeedDefinitionRef | None
    note: str | None
    schools_with_need: int | None
    schools_without_need: int | None
    concentration_index: float | None
    gap: float | None
    total_units: float | None
    quartiles: list[QuartileOut] | None
    schools_without_partner: list[SchoolRefOut] | None
    schools_not_scored: list[UnscoredSchoolOut] | None


RESPONSE_MODELS: tuple[type[Schema], ...] = (
    Error,
    PartnerPage,
    ServicePage,
    SchoolPage,
    MOUPage,
    DirectoryPage,
    RunOut,
    KpisOut,
)
