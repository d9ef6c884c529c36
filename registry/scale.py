"""A fictional state-sized registry for load tests and benchmarks (`flask ... seed-scale`).

`seed_scale` draws a whole Massachusetts-sized registry from a seed (a plan of plain
rows, no database), then writes it with bulk Core inserts on an empty database. At
the default size: about 1,850 schools in some 450 fictional districts, 3,100 partners,
6,300 services, 15,000 MOUs and 36,000 commitments over the three school years that
end with the current one. `schools` scales everything else in proportion.

Decisions, kept here so there is one place to look:
- Districts have long-tailed sizes (lognormal: most have 1–6 schools, a few cities
  dozens). A school's DESE code is its district's 4-digit code and a 4-digit school
  number, as DESE's are; districts own one to a handful of zip codes.
- Grade spans: elementary (PK–5 or K–5), middle (6–8), high (9–12) and K–8; a
  school's enrollment is the sum of per-grade sizes drawn for its span.
- Need has a district part and a school part (standardised over the state); the
  indicators follow it around state-like means, as in the demo, so the default need
  index ranks schools the same way.
- Partnerships cluster in less needy schools (a school's appeal is exp(-0.9 · need),
  the demo's rule), and partner sizes are long-tailed: most have one or two services
  and work in one or two districts a year; a few large ones run a dozen services in
  many districts. About one partner in eight works statewide; the others serve the
  zip codes of a run of neighbouring districts around their home.
- An MOU binds one partner to schools of one district for one school year; most are
  renewed the next year with the same schools. Past years' MOUs have expired (a few
  were terminated); the current year's are mostly active, some submitted or drafts.
- Commitments never exceed a service's capacity in a school year: the capacity is set
  above the most any year commits. One committed service in eight is offered at the
  schools it is committed at (offerings), as in the demo.
- No audit row per record: one row says the data set was seeded (with its counts),
  written through the audit trail's own chaining so `verify-audit` passes.
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, func, insert, select, text

from registry import district_time
from registry.audit import Actor
from registry.demo import (
    DATA_SHARING,
    GRADE_BANDS,
    LANGUAGES,
    OFFERING_DAYS,
    OFFERING_TIMES,
    OTHER_UNITS,
    SERVICE_NAMES,
    SETTINGS,
    STREETS,
    SUFFIXES,
    TYPE_CATEGORIES,
    TYPE_WEIGHTS,
    draw_compliance,
    draw_indicator_years,
    draw_membership,
    draw_mou_status,
    grade_span,
    password_hash_of,
    pct,
    readable_password,
)
from registry.equity.need_index import default_definition
from registry.extensions import db
from registry.models import (
    INDICATORS,
    MOU,
    AuditEntry,
    Commitment,
    Offering,
    Partner,
    School,
    SchoolIndicators,
    Service,
    User,
    mou_school,
)
from registry.models.columns import utcnow
from registry.refusals import Refused
from registry.schoolyear import previous_year, school_year_of, year_bounds
from registry.vocabulary import (
    Category,
    DPAStatus,
    DPAType,
    MOUStatus,
    PartnerStatus,
    PartnerType,
    Role,
    Unit,
)

SCHOOLS = 1850
SEEDER = Actor(None, "cli")
SEED = 20261130
YEARS = 3
# Per school at the default size (3,100 partners for 1,850 schools).
PARTNERS_PER_SCHOOL = 3100 / 1850
NEED_AVERSION = 0.9
STATEWIDE_SHARE = 0.12
# Services per partner: long-tailed, mean about 2.05.
SERVICE_COUNTS = ((1, 52.0), (2, 24.0), (3, 11.0), (4, 6.0), (5, 3.0), (6, 2.0), (8, 1.2),
                  (12, 0.5), (20, 0.3))  # fmt: skip
# Indicator means over the state's schools (the latest year).
STATE_MEANS = {
    "pct_econ_disadvantaged": 42.0,
    "pct_english_learners": 13.0,
    "pct_disabilities": 19.5,
    "pct_chronically_absent": 19.0,
}
DRIFT = {
    "pct_econ_disadvantaged": 0.8,
    "pct_english_learners": 0.9,
    "pct_disabilities": 0.3,
    "pct_high_needs": 0.7,
    "pct_chronically_absent": -1.8,
}
# Kind of school: (label, first grade, last grade, students per grade, odds).
KINDS = {
    "ES": ("Elementary School", "K", "5", 56, 60),
    "MS": ("Middle School", "6", "8", 150, 20),
    "HS": ("High School", "9", "12", 215, 11),
    "K8": ("K-8 School", "K", "8", 47, 9),
}
STEMS = (
    "Maple Street", "Birch Hollow", "Cedar Lane", "Juniper Hill", "Willow Brook", "Aspen Court",
    "Hawthorn Road", "Sycamore Park", "Chestnut Ridge", "Larkspur", "Bluebell Meadow",
    "Foxglove", "Heron Pond", "Kestrel Way", "Magnolia Avenue", "Orchard Gate", "Pinecone",
    "Quince Street", "Rowan Tree", "Sparrow Hill", "Thistle Road", "Umber Lane", "Wren Park",
    "Yarrow Fields", "Acorn Path", "Bramble Way", "Clover Field", "Dogwood Terrace",
    "Fernbrook", "Granite Hill", "Beacon Ridge", "Copper Mill", "Harbor Light", "Silver Brook",
    "Tamarack", "Lantern Hill", "Meadowview", "Northfield", "Southgate", "Eastover",
    "Westbrook", "Riverside", "Hillcrest", "Lakeside", "Pine Grove", "Oak Knoll",
)  # fmt: skip
TOWN_HEADS = (
    "Ash", "Birch", "Bright", "Cold", "Corwin", "Dun", "East", "Fen", "Fox", "Gilder", "Grey",
    "Hart", "Harrow", "Holl", "Ingle", "Kettle", "Lark", "Marrow", "Mill", "North", "Oak",
    "Penny", "Quill", "Raven", "Rush", "Salt", "South", "Star", "Stone", "Thistle", "Tilling",
    "West", "Wick", "Willow", "Wold", "Yarn", "Amber", "Bell", "Cinder", "Elm",
)  # fmt: skip
TOWN_TAILS = (
    "bury", "field", "ford", "ham", "haven", "mere", "moor", "ton", "wick", "dale", "brook",
    "port", "worth", "stead", "ridge", "by",
)  # fmt: skip
FIRST_NAMES = ("Alex", "Jordan", "Sam", "Riley", "Casey", "Morgan", "Taylor", "Jamie", "Avery")
LAST_NAMES = ("Demo", "Example", "Sample", "Placeholder", "Fictive", "Testwell", "Mockford")

ACCOUNTS: tuple[tuple[str, Role, str], ...] = (
    ("admin@state.example", Role.ADMIN, "State Data Set Administrator"),
    ("coordinator@state.example", Role.COORDINATOR, "State Data Set Coordinator"),
    ("leader@state.example", Role.LEADER, "State Data Set Leader"),
    ("partner1@state.example", Role.PARTNER, "State Data Set Partner One"),
    ("partner2@state.example", Role.PARTNER, "State Data Set Partner Two"),
    ("partner3@state.example", Role.PARTNER, "State Data Set Partner Three"),
)

# The tables written, in the order their foreign keys need; each gets explicit ids.
_TABLES: tuple[Any, ...] = (
    School, SchoolIndicators, Partner, Service, Offering, MOU, mou_school, Commitment, User,
)  # fmt: skip


def _table(model: Any) -> Table:
    table = model if isinstance(model, Table) else model.__table__
    assert isinstance(table, Table)
    return table


# ---- the plan: rows drawn from the seed --------------------------------------------------


@dataclass
class District:
    code: str
    town: str
    zips: list[str]
    effect: float  # the district's part of need
    size: int  # how many schools it has
    schools: list[int] = field(default_factory=list)  # school row indexes


@dataclass
class PlanSchool:
    row: dict[str, Any]
    district: int
    need: float = 0.0

    @property
    def appeal(self) -> float:
        return math.exp(-NEED_AVERSION * self.need)


@dataclass
class PlanPartner:
    row: dict[str, Any]
    services: list[dict[str, Any]]
    reach: list[int]  # district indexes it may work in
    districts_a_year: int
    joined: int | None
    left: int | None


@dataclass
class ScalePlan:
    years: list[str]
    rows: dict[str, list[dict[str, Any]]]


def scale_years(today: date) -> list[str]:
    """The three school years that end with the current one."""
    years = [school_year_of(today)]
    while len(years) < YEARS:
        years.insert(0, previous_year(years[0]))
    return years


def _towns(rng: random.Random, count: int) -> list[str]:
    """Distinct town names; beyond the 640 made of two parts, numbered ones ("Ashbury 2")."""
    base = [head + tail for head in TOWN_HEADS for tail in TOWN_TAILS]
    rng.shuffle(base)
    names = list(base)
    for number in range(2, 2 + math.ceil(count / len(base))):
        if len(names) >= count:
            break
        names += [f"{name} {number}" for name in base]
    return names[:count]


def _districts(rng: random.Random, n_schools: int) -> list[District]:
    sizes: list[int] = []
    while sum(sizes) < n_schools:
        left = n_schools - sum(sizes)
        sizes.append(max(1, min(left, round(rng.lognormvariate(1.0, 1.0)))))
    towns = _towns(rng, len(sizes))
    districts = []
    code_step = min(20, 9899 // len(sizes))  # 4-digit district codes, spread out
    zip_code = 1001
    step = max(1, 1700 // max(1, sum(1 + s // 8 for s in sizes)))
    for index, (size, town) in enumerate(zip(sizes, towns, strict=True)):
        zips = []
        for _ in range(min(8, 1 + size // 8)):
            zips.append(f"{zip_code:05d}")
            zip_code += rng.randint(1, step)
        code = 100 + index * code_step
        districts.append(District(f"{code:04d}", town, zips, rng.gauss(0, 0.8), size))
    return districts


def _plan_schools(rng: random.Random, districts: list[District]) -> list[PlanSchool]:
    schools: list[PlanSchool] = []
    kinds = list(KINDS)
    odds = [KINDS[k][4] for k in kinds]
    names: set[str] = set()
    for d_index, district in enumerate(districts):
        for number in range(district.size):
            kind = "HS" if number == 0 and district.size >= 3 else rng.choices(kinds, odds)[0]
            label, first, last, per_grade, _ = KINDS[kind]
            if kind == "ES" and rng.random() < 0.35:
                first = "PK"
            grades = grade_span(first, last)
            scale = rng.lognormvariate(0, 0.3)
            enrollment = sum(
                round(per_grade * scale * rng.uniform(0.9, 1.1) * (0.5 if g == "PK" else 1))
                for g in grades
            )
            name = (
                f"{district.town} {label}"
                if kind in ("HS", "MS") and f"{district.town} {label}" not in names
                else f"{rng.choice(STEMS)} {label}"
            )
            if name in names:
                name = f"{name} ({district.town})"
            while name in names:
                name = f"{rng.choice(STEMS)} {label} ({district.town})"
            names.add(name)
            row = {
                "id": len(schools) + 1,
                "dese_code": f"{district.code}{5 * (number + 1):04d}",
                "local_code": None,
                "name": name,
                "grades": grades,
                "enrollment": enrollment,
                "address": (
                    f"{rng.randint(10, 990)} {rng.choice(STREETS)} Street, {district.town}, MA"
                ),
                "zip": rng.choice(district.zips),
                "version": 1,
            }
            district.schools.append(len(schools))
            schools.append(PlanSchool(row, d_index, district.effect + rng.gauss(0, 0.6)))
    mean = sum(s.need for s in schools) / len(schools)
    sd = math.sqrt(sum((s.need - mean) ** 2 for s in schools) / len(schools)) or 1.0
    for school in schools:
        school.need = (school.need - mean) / sd
    return schools


def _indicator_rows(
    rng: random.Random, schools: list[PlanSchool], years: list[str]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for school in schools:
        z = school.need
        grades = school.row["grades"]
        level = "high" if "9" in grades else "middle" if "7" in grades else "elem"
        latest = {
            "pct_econ_disadvantaged": STATE_MEANS["pct_econ_disadvantaged"] + 18 * z
            + rng.gauss(0, 4),
            "pct_english_learners": STATE_MEANS["pct_english_learners"] + 8 * z + rng.gauss(0, 4)
            - (3 if level == "high" else 0),
            "pct_disabilities": STATE_MEANS["pct_disabilities"] + 3 * z + rng.gauss(0, 2.5),
            "pct_chronically_absent": STATE_MEANS["pct_chronically_absent"] + 7 * z
            + {"elem": -3.0, "middle": 2.0, "high": 8.0}[level] + rng.gauss(0, 3),
        }  # fmt: skip
        for year, values in draw_indicator_years(rng, latest, years, DRIFT, 14):
            row: dict[str, Any] = {
                "id": len(rows) + 1,
                "school_id": school.row["id"],
                "school_year": year,
            }
            row.update({name: pct(values[name], low=0.5) for name in INDICATORS})
            # A few gaps, as real files have, so the need index has missing data to flag.
            if rng.random() < 0.01:
                row[rng.choice(INDICATORS)] = None
            rows.append(row)
    return rows


def _service_row(
    rng: random.Random, partner_id: int, category: Category, name: str, active: bool
) -> dict[str, Any]:
    first, last = rng.choice(GRADE_BANDS[category])
    unit = Unit.SEATS
    if category in OTHER_UNITS and rng.random() < OTHER_UNITS[category][1]:
        unit = OTHER_UNITS[category][0]
    languages = ["English"]
    if rng.random() < 0.5:
        languages.append("Spanish")
    if rng.random() < 0.25:
        languages.append(rng.choice(LANGUAGES[1:]))
    return {
        "partner_id": partner_id,
        "name": name,
        "category": category,
        "description": (
            f"{category.value.replace('_', ' ').capitalize()} for grades {first}–{last}."
        ),
        "description_translations": {},
        "grades": grade_span(first, last),
        "languages": languages,
        "setting": rng.choice(SETTINGS[category]),
        "unit": unit,
        "capacity": None,  # set once commitments are known
        "cost": Decimal(0),
        "active": active,
        "direct_student_contact": category not in (Category.BASIC_NEEDS,),
        "version": 1,
    }


def _plan_partners(
    rng: random.Random, count: int, districts: list[District], years: list[str], today: date
) -> list[PlanPartner]:
    statuses = rng.choices(
        (PartnerStatus.APPROVED, PartnerStatus.APPLICANT, PartnerStatus.SUSPENDED,
         PartnerStatus.INACTIVE),
        (84, 6, 4, 6),
        k=count,
    )  # fmt: skip
    types, type_odds = zip(*TYPE_WEIGHTS.items(), strict=True)
    sizes, size_odds = zip(*SERVICE_COUNTS, strict=True)
    towns = [d.town for d in districts]
    names: set[str] = set()
    partners: list[PlanPartner] = []
    service_id = 0
    for index, status in enumerate(statuses):
        partner_id = index + 1
        partner_type: PartnerType = rng.choices(types, type_odds)[0]
        home = rng.randrange(len(districts))
        name = ""
        for attempt in range(30):
            place = towns[home] if attempt < 3 and rng.random() < 0.5 else rng.choice(towns)
            name = f"{place} {rng.choice(SUFFIXES[partner_type])}"
            if name not in names:
                break
        while name in names:
            name = f"{name} {rng.randint(2, 99)}"
        names.add(name)
        slug = "".join(c for c in name.lower() if c.isalnum())
        n_services: int = rng.choices(sizes, size_odds)[0]
        a_year = max(1, min(60, round(rng.lognormvariate(math.log(n_services) * 0.8, 0.6))))
        statewide = rng.random() < STATEWIDE_SHARE or a_year > 12
        if statewide:
            reach = list(range(len(districts)))
        else:
            width = a_year + rng.randint(1, 6)
            low = max(0, min(home - width // 2, len(districts) - width))
            reach = list(range(low, min(len(districts), low + width)))
        categories = list(TYPE_CATEGORIES[partner_type])
        rng.shuffle(categories)
        services: list[dict[str, Any]] = []
        taken: set[str] = set()
        for k in range(n_services):
            category = categories[k % len(categories)]
            base = rng.choice(SERVICE_NAMES[category])
            service_name, n = base, 2
            while service_name in taken:
                service_name, n = f"{base} {n}", n + 1
            taken.add(service_name)
            service_id += 1
            service = _service_row(
                rng, partner_id, category, service_name, status != PartnerStatus.INACTIVE
            )
            services.append({"id": service_id, **service})
        zips = sorted({z for d in reach for z in districts[d].zips}) if not statewide else []
        row = {
            "id": partner_id,
            "name": name,
            "partner_type": partner_type,
            "description": (
                f"A fictional {partner_type.value.replace('_', ' ')} partner in the state data set."
            ),
            "description_translations": {},
            "website": f"https://{slug}.example",
            "contact_name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            "email": f"info@{slug}.example",
            "phone": f"617-555-{rng.randint(0, 9999):04d}",
            "address": f"{rng.randint(1, 400)} {rng.choice(STREETS)} Street, {towns[home]}, MA",
            "zip": districts[home].zips[0],
            "languages": sorted({lang for s in services for lang in s["languages"]}),
            "district_wide": statewide,
            "service_zips": zips,
            "status": status,
            "version": 1,
            **draw_compliance(rng, status, today),
        }
        joined, left = draw_membership(rng, status, len(years) - 1, from_the_start=0.7)
        partners.append(PlanPartner(row, services, reach, a_year, joined, left))
    return partners


def _mou_row(
    rng: random.Random,
    mou_id: int,
    partner: PlanPartner,
    year: str,
    status: MOUStatus,
    shares: bool,
    renewed_from: int | None,
    today: date,
) -> dict[str, Any]:
    first, last = year_bounds(year)
    start = date(first.year, rng.choice((8, 9, 9, 9)), rng.randint(1, 28))
    end = last if rng.random() < 0.7 else date(last.year, 6, rng.randint(10, 29))
    in_force = status in (MOUStatus.ACTIVE, MOUStatus.EXPIRED, MOUStatus.TERMINATED)
    dpa_type = dpa_status = dpa_expiry = None
    if shares:
        dpa_type = rng.choice(
            (DPAType.STATE_SDPA, DPAType.STATE_SDPA, DPAType.DISTRICT_DPA,
             DPAType.FERPA_SCHOOL_OFFICIAL)
        )  # fmt: skip
        if in_force or (status == MOUStatus.SUBMITTED and rng.random() < 0.5):
            dpa_status = DPAStatus.SIGNED
            dpa_expiry = date(last.year + rng.choice((0, 1, 2)), 6, 30)
            if status == MOUStatus.ACTIVE and rng.random() < 0.05:  # lapsed while it runs
                dpa_expiry = max(start, today - timedelta(days=rng.randint(3, 60)))
        elif status == MOUStatus.SUBMITTED:
            dpa_status = DPAStatus.PENDING
        else:
            dpa_status = DPAStatus.NOT_STARTED
    signed = start - timedelta(days=rng.randint(3, 40)) if in_force else None
    return {
        "id": mou_id,
        "partner_id": partner.row["id"],
        "school_year": year,
        "start_date": start,
        "end_date": end,
        "status": status,
        "signed_date": signed,
        "signatories": (
            f"{partner.row['contact_name']} for {partner.row['name']}; "
            "Dana Placeholder for the district"
            if in_force
            else ""
        ),
        "notes": "Terminated during the year." if status == MOUStatus.TERMINATED else "",
        "shares_student_data": shares,
        "dpa_type": dpa_type,
        "dpa_status": dpa_status,
        "dpa_expiry": dpa_expiry,
        "partner_signer_name": partner.row["contact_name"] if in_force else "",
        "partner_signer_title": "Executive Director" if in_force else "",
        "partner_signed_date": signed,
        "partner_signed_at": None,
        "partner_signed_by_id": None,
        "drafted_by_id": None,
        "last_edited_by_id": None,
        "renewed_from_id": renewed_from,
        "amends_id": None,
        "terms_version": 1,
        "version": 1,
    }


def _weighted_sample(
    rng: random.Random, pool: list[int], weights: list[float], size: int
) -> list[int]:
    """Up to `size` distinct items of `pool`, drawn by weight (Efraimidis–Spirakis keys)."""
    keyed = sorted(
        ((rng.random() ** (1.0 / w), item) for item, w in zip(pool, weights, strict=True)),
        reverse=True,
    )
    return [item for _, item in keyed[:size]]


def _fits(service: dict[str, Any], school: PlanSchool) -> bool:
    return not set(service["grades"]).isdisjoint(school.row["grades"])


def _plan_mous(
    rng: random.Random,
    years: list[str],
    schools: list[PlanSchool],
    districts: list[District],
    partners: list[PlanPartner],
    today: date,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """MOUs, their schools and their commitments (amounts set, capacities left to fill in)."""
    current = len(years) - 1
    district_appeal = [
        sum(schools[s].appeal * schools[s].row["enrollment"] for s in d.schools) ** 0.5
        for d in districts
    ]
    mous: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for partner in partners:
        if partner.joined is None or not partner.services:
            continue
        end = partner.left if partner.left is not None else len(years)
        held: dict[int, tuple[int, list[int]]] = {}  # district → (last MOU id, schools)
        for index in range(partner.joined, end):
            year = years[index]
            # Most districts renew; new ones come by appeal.
            keep = [d for d in held if rng.random() < 0.88]
            wanted = max(1, partner.districts_a_year + rng.choice((-1, 0, 0, 0, 1)))
            fresh = [d for d in partner.reach if d not in keep]
            if len(keep) < wanted and fresh:
                keep += _weighted_sample(
                    rng, fresh, [district_appeal[d] for d in fresh], wanted - len(keep)
                )
            this_year: dict[int, tuple[int, list[int]]] = {}
            for d in keep:
                previous = held.get(d)
                chosen = _mou_schools(rng, partner, districts[d], schools, previous)
                if not chosen:
                    continue
                mou_id = len(mous) + 1
                committed = _mou_lines(rng, partner, chosen, schools, mou_id)
                if not committed:
                    continue
                by_id = {s["id"]: s for s in partner.services}
                shares = any(by_id[c["service_id"]]["category"] in DATA_SHARING for c in committed)
                status = draw_mou_status(rng, partner.row["status"], past=index < current)
                renewed = previous[0] if previous is not None else None
                mous.append(_mou_row(rng, mou_id, partner, year, status, shares, renewed, today))
                schools_in = sorted({c["school_id"] for c in committed})
                links.extend({"mou_id": mou_id, "school_id": s} for s in schools_in)
                lines.extend(committed)
                this_year[d] = (mou_id, [s - 1 for s in schools_in])
            held = this_year
    return mous, links, lines


def _mou_schools(
    rng: random.Random,
    partner: PlanPartner,
    district: District,
    schools: list[PlanSchool],
    previous: tuple[int, list[int]] | None,
) -> list[int]:
    """Last year's schools, sometimes one more; a new MOU picks one to five by appeal."""
    pool = [s for s in district.schools if any(_fits(v, schools[s]) for v in partner.services)]
    if not pool:
        return []
    if previous is not None and rng.random() < 0.85:
        chosen = list(previous[1])
        extra = [s for s in pool if s not in chosen]
        if extra and rng.random() < 0.25:
            chosen += _weighted_sample(rng, extra, [schools[s].appeal for s in extra], 1)
        return chosen
    size = rng.choices((1, 2, 3, 4, 5), (48, 26, 13, 8, 5))[0]
    return _weighted_sample(rng, pool, [schools[s].appeal for s in pool], size)


def _mou_lines(
    rng: random.Random,
    partner: PlanPartner,
    chosen: list[int],
    schools: list[PlanSchool],
    mou_id: int,
) -> list[dict[str, Any]]:
    """Commitments of some of the partner's services at the chosen schools they fit."""
    services = partner.services
    if len(services) > 2:
        services = rng.sample(services, rng.choice((1, 2, 2, 3)))
    lines = []
    for service in services:
        for s in chosen:
            school = schools[s]
            if not _fits(service, school):
                continue
            # Less per student where need is higher: partnerships cluster away from need.
            per_student = rng.uniform(0.03, 0.12) * school.appeal
            unit = service["unit"]
            if unit == Unit.SEATS:
                amount = max(5, round(school.row["enrollment"] * per_student))
            elif unit == Unit.HOURS:
                amount = max(10, round(school.row["enrollment"] * per_student * 4 / 10) * 10)
            else:
                amount = max(500, round(school.row["enrollment"] * per_student * 60 / 500) * 500)
            lines.append(
                {
                    "mou_id": mou_id,
                    "service_id": service["id"],
                    "school_id": school.row["id"],
                    "amount": Decimal(amount),
                }
            )
    return lines


def _round_up(value: float, step: int) -> Decimal:
    return Decimal(math.ceil(value / step) * step)


def _capacities(
    rng: random.Random,
    services: list[dict[str, Any]],
    mous: list[dict[str, Any]],
    lines: list[dict[str, Any]],
) -> dict[int, dict[int, Decimal]]:
    """Set each service's capacity above the most any year commits; the most per school."""
    year_of = {m["id"]: m["school_year"] for m in mous}
    per_year: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    most: dict[int, dict[int, Decimal]] = defaultdict(dict)
    for line in lines:
        per_year[(line["service_id"], year_of[line["mou_id"]])] += line["amount"]
        by_school = most[line["service_id"]]
        by_school[line["school_id"]] = max(by_school.get(line["school_id"], Decimal(0)),
                                           line["amount"])  # fmt: skip
    peak: dict[int, Decimal] = defaultdict(Decimal)
    for (service_id, _), total in per_year.items():
        peak[service_id] = max(peak[service_id], total)
    for service in services:
        unit = service["unit"]
        step = 500 if unit == Unit.DOLLARS else 5
        if service["id"] in peak:
            capacity = _round_up(float(peak[service["id"]]) / rng.uniform(0.6, 0.95), step)
        elif unit == Unit.SEATS:
            capacity = Decimal(rng.choice((25, 30, 40, 50, 60, 75, 100, 150)))
        elif unit == Unit.HOURS:
            capacity = Decimal(rng.choice((200, 300, 400, 600, 800, 1000)))
        else:
            capacity = Decimal(rng.choice((5_000, 10_000, 20_000, 40_000)))
        service["capacity"] = capacity
        if unit == Unit.SEATS:
            service["cost"] = capacity * rng.choice((0, 0, 0, 50, 100, 150, 250))
        elif unit == Unit.HOURS:
            service["cost"] = capacity * rng.choice((0, 0, 25, 40, 60))
    return most


def _offerings(
    rng: random.Random, services: list[dict[str, Any]], most: dict[int, dict[int, Decimal]]
) -> list[dict[str, Any]]:
    """One committed service in eight is offered at the schools it is committed at."""
    units = {s["id"]: s["unit"] for s in services}
    rows: list[dict[str, Any]] = []
    sites_only = False
    for n, service_id in enumerate(sorted(most)):
        if n % 8:
            continue
        unit = units[service_id]
        step = 500 if unit == Unit.DOLLARS else 5
        days, times = rng.choice(OFFERING_DAYS), rng.choice(OFFERING_TIMES)
        for school_id, amount in sorted(most[service_id].items()):
            rows.append(
                {
                    "id": len(rows) + 1,
                    "service_id": service_id,
                    "school_id": school_id,
                    "capacity": _round_up(float(amount) * 1.25, step),
                    "grades": [],
                    "days": days,
                    "time": times,
                    "weekly_dosage": "",
                    "student_fees": "",
                    "version": 1,
                }
            )
        if not sites_only and unit == Unit.SEATS:
            # One service bounded by its sites only, as in the demo.
            services[service_id - 1]["capacity"] = None
            sites_only = True
    return rows


def build_scale_plan(
    schools: int = SCHOOLS, seed: int = SEED, today: date | None = None
) -> ScalePlan:
    """The whole state data set as rows with ids: the same for a seed, a size and a day."""
    if schools < 1:
        raise Refused("The data set needs at least one school.")
    today = today or district_time.today()
    rng = random.Random(seed)
    years = scale_years(today)
    districts = _districts(rng, schools)
    planned_schools = _plan_schools(rng, districts)
    indicators = _indicator_rows(rng, planned_schools, years)
    partners = _plan_partners(
        rng, max(1, round(schools * PARTNERS_PER_SCHOOL)), districts, years, today
    )
    mous, links, lines = _plan_mous(rng, years, planned_schools, districts, partners, today)
    services = [s for p in partners for s in p.services]
    most = _capacities(rng, services, mous, lines)
    offerings = _offerings(random.Random(seed + 1), services, most)
    for n, line in enumerate(lines, start=1):
        line["id"] = n
    return ScalePlan(
        years,
        {
            "school": [s.row for s in planned_schools],
            "school_indicators": indicators,
            "partner": [p.row for p in partners],
            "service": services,
            "offering": offerings,
            "mou": mous,
            "mou_school": links,
            "commitment": lines,
        },
    )


# ---- writing the plan --------------------------------------------------------------------


@dataclass
class ScaleReport:
    """What seed-scale wrote, and how to sign in."""

    years: list[str]
    counts: dict[str, int]
    mous_by_status: dict[str, int]
    accounts: list[tuple[str, str, str]]  # (email, role, partner name or "")
    password: str
    password_generated: bool
    seconds: float = 0.0

    def describe(self) -> str:
        lines = [
            f"State data set (fictional): school years {self.years[0]} to {self.years[-1]},"
            f" written in {self.seconds:.1f} s."
        ]
        lines += [f"  {table:<18} {count:>7}" for table, count in self.counts.items()]
        lines.append(
            "  MOUs by status: " + ", ".join(f"{s} {n}" for s, n in self.mous_by_status.items())
        )
        lines.append("Accounts:")
        lines += [f"  {email:<28} {role:<12} {partner}".rstrip() for email, role, partner in
                  self.accounts]  # fmt: skip
        how = "generated" if self.password_generated else "given"
        lines.append(f"Password for every account ({how}): {self.password}")
        return "\n".join(lines)


def registry_is_empty() -> bool:
    """Whether no school, partner, service, MOU or account exists yet."""
    return not any(
        db.session.scalar(select(func.count()).select_from(_table(model)))
        for model in (School, Partner, Service, MOU, Commitment, User)
    )


def _account_rows(
    plan: ScalePlan, password_hash: str
) -> tuple[list[dict[str, Any]], list[tuple[str, str, str]]]:
    """The accounts; partner accounts go to approved partners in good standing with an MOU
    this year."""
    current = plan.years[-1]
    with_mous = {m["partner_id"] for m in plan.rows["mou"] if m["school_year"] == current}
    good = [
        p
        for p in plan.rows["partner"]
        if p["status"] == PartnerStatus.APPROVED
        and p["id"] in with_mous
        and p["insurance_expiry"] is not None
        and p["background_check_verified"] is not None
    ]
    partners = iter(sorted(good, key=lambda p: p["name"]))
    rows: list[dict[str, Any]] = []
    accounts: list[tuple[str, str, str]] = []
    for email, role, name in ACCOUNTS:
        partner = next(partners, None) if role == Role.PARTNER else None
        if role == Role.PARTNER and partner is None:
            continue
        rows.append(
            {
                "id": len(rows) + 1,
                "email": email,
                "name": name,
                "role": role,
                "partner_id": partner["id"] if partner else None,
                "password_hash": password_hash,
                "active": True,
                "created_at": utcnow(),
                "locale": "",
                "must_change_password": False,
                "version": 1,
            }
        )
        accounts.append((email, role.value, partner["name"] if partner else ""))
    return rows, accounts


CHUNK = 5000


def _write(table: Table, rows: list[dict[str, Any]]) -> None:
    conn = db.session.connection()
    for start in range(0, len(rows), CHUNK):
        conn.execute(insert(table), rows[start : start + CHUNK])


def _advance_sequences(tables: list[Table]) -> None:
    """On PostgreSQL, move each id sequence past the ids written explicitly."""
    conn = db.session.connection()
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        if "id" not in table.c:
            continue
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'),"
                f' (SELECT coalesce(max(id), 0) + 1 FROM "{table.name}"), false)'
            )
        )


def analyze_tables() -> None:
    """On PostgreSQL, refresh the planner's statistics of the tables written (after commit).

    Without them the planner takes the bulk-loaded tables for empty until autovacuum
    comes by: /equity/ took 77 s of SQL on the fresh state data set, 6 s after ANALYZE.
    """
    if db.engine.dialect.name != "postgresql":
        return
    with db.engine.begin() as conn:
        for model in _TABLES:
            conn.execute(text(f'ANALYZE "{_table(model).name}"'))


def seed_scale(
    schools: int = SCHOOLS,
    seed: int = SEED,
    password: str | None = None,
    today: date | None = None,
    actor: Actor = SEEDER,
) -> ScaleReport:
    """Write the state data set on an empty registry; flush, never commit.

    Refused when the registry already has schools, partners, services, MOUs or accounts.
    """
    started = time.perf_counter()
    if not registry_is_empty():
        raise Refused(
            "The database is not empty: seed-scale writes only on an empty, migrated database."
        )
    plan = build_scale_plan(schools=schools, seed=seed, today=today)
    generated = password is None
    if password is None:
        password = readable_password(random.Random(seed))
    users, accounts = _account_rows(plan, password_hash_of(password))
    plan.rows["user_account"] = users
    tables = [_table(model) for model in _TABLES]
    for table in tables:
        _write(table, plan.rows[table.name])
    _advance_sequences(tables)
    # The pages read need through the default index; a migrated database has one.
    default_definition()
    counts = {table.name: len(plan.rows[table.name]) for table in tables}
    by_status: dict[str, int] = defaultdict(int)
    for mou in plan.rows["mou"]:
        by_status[mou["status"].value] += 1
    summary = (
        f"seed-scale: {counts['school']} schools, {counts['partner']} partners,"
        f" {counts['service']} services, {counts['mou']} MOUs,"
        f" {counts['commitment']} commitments (seed {seed})"
    )
    db.session.add(
        AuditEntry(
            user_id=actor.user_id,
            user_email=actor.email,
            action="create",
            entity="data_set",
            entity_id=None,
            summary=summary[:300],
            before=None,
            after={"seed": seed, "schools": schools, "years": plan.years, "rows": counts},
        )
    )
    db.session.flush()
    return ScaleReport(
        years=plan.years,
        counts=counts,
        mous_by_status=dict(sorted(by_status.items())),
        accounts=accounts,
        password=password,
        password_generated=generated,
        seconds=time.perf_counter() - started,
    )
