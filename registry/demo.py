"""The demo district: a plainly fictional, Worcester-sized district to try the registry on.

`seed_demo` first draws the whole district from a fixed seed (a plan: plain
data, no database), then writes whatever of it is not there yet, looking
records up by their natural keys (DESE code, partner name, service within its
partner, MOU by partner and school year, account email). Running it again
therefore changes nothing, except that a given password resets the demo
accounts' passwords.

Decisions beyond the issue's text, kept here so there is one place to look:
- The school years run from 2023-24 (the issue's first year) to 2025-26 or, when
  today is later, to the current school year, so the dashboard always has a
  current year of MOUs to show. Dates that matter relative to today (insurance
  expiries, background checks, the MOUs ending soon, lapsed data-privacy
  agreements) are placed relative to `today`; everything else is fixed.
- Partnerships cluster in the less needy schools, as research on districts
  finds: both the chance of a school being on an MOU and the amount committed
  per student fall with the school's need.
- Commitments never exceed a service's capacity in a school year, counting
  every MOU of that year.
- About one service in eight that MOUs commit (and the first of each demo
  partner account's) is offered at named schools: the schools its MOUs commit
  it at, each with a site capacity a quarter above the most any year commits
  there, and days and times. The first of those counted in seats has no overall
  capacity, so the demo shows a service bounded by its sites only. The first
  partner by name keeps services without offerings: a new MOU's form starts on
  it, its first service and the first school, and those choices should commit.
  Offerings are drawn after everything else, from a seed of their own, so the
  rest of the district is the same with or without them.
- Paperwork agrees with the MOU rules (`registry.mous.gates`). Every MOU that was ever
  in force (active, expired, terminated) is signed by both sides: district staff as its
  signatories, the partner's contact as the partner's signatory (recorded by the
  district, a few days before the district signed). Every compliance claim is backed by
  a small placeholder PDF kept as uploads are (`registry.documents`): an insurance
  expiry by verified certificates (one a school year back to the partner's first MOU,
  the latest ending on that expiry), a verified background check by a verified
  attestation (a policy on file but not verified: one waiting for verification), a
  signed data-privacy agreement by a verified agreement filed on its MOU. Coordinators
  verify them (the demo coordinator account, named in the audit). Signatures and
  documents are drawn from a seed of their own, like the offerings.
- A district does not activate an MOU its paperwork does not cover, so a partner with an
  active MOU has insurance to the end of its terms (a certificate ending sooner was
  renewed, a year at a time; a missing one is drawn) and a verified background check,
  and an active MOU's data-privacy agreement runs to the end of its term: the gaps a real
  registry has are left to the other partners and MOUs. Which MOUs are active, and so
  every equity figure, is as drawn. This year's MOUs drawn active are written submitted
  and then activated through `registry.mous.services.activate`, gates and all; should
  the gates hold one back, it stays submitted and the report counts it.
"""

from __future__ import annotations

import math
import random
import secrets
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from registry import district_time
from registry.audit import Actor, acting_as
from registry.documents import services as documents
from registry.documents import storage
from registry.equity.need_index import default_definition, find_default_definition
from registry.extensions import db
from registry.models import (
    INDICATORS,
    MOU,
    Commitment,
    Document,
    DocumentStatus,
    DocumentType,
    MOUVersion,
    NeedIndexDefinition,
    Offering,
    Partner,
    School,
    SchoolIndicators,
    Service,
    User,
)
from registry.models.columns import utcnow
from registry.mous import services as mou_services
from registry.mous import versions
from registry.placeholder_pdf import placeholder_pdf
from registry.refusals import Refused
from registry.schoolyear import (
    a_year_later,
    next_year,
    previous_year,
    school_year_of,
    year_bounds,
)
from registry.vocabulary import (
    GRADES,
    Category,
    DPAStatus,
    DPAType,
    MOUStatus,
    PartnerStatus,
    PartnerType,
    Role,
    Setting,
    Unit,
)

DISTRICT_NAME = "Fictional Demo District (Worcester-sized)"
SEED = 20260701
FIRST_YEAR = "2023-24"
LAST_FIXED_YEAR = "2025-26"
ZIPS = ("01602", "01603", "01604", "01605", "01606", "01607", "01608", "01609", "01610")
# District-wide means (over schools, latest year) the indicators are drawn around.
TARGET_MEANS = {
    "pct_econ_disadvantaged": 60.0,
    "pct_english_learners": 32.0,
    "pct_disabilities": 21.0,
    "pct_high_needs": 75.0,
    "pct_chronically_absent": 25.0,
}
# How strongly partnerships avoid need: a school's appeal is exp(-NEED_AVERSION * need).
NEED_AVERSION = 0.9
# Yearly drift of each indicator (latest year minus the year before, on average).
DRIFT = {
    "pct_econ_disadvantaged": 0.8,
    "pct_english_learners": 1.1,
    "pct_disabilities": 0.3,
    "pct_high_needs": 0.7,
    "pct_chronically_absent": -1.8,  # absence falling back after the pandemic years
}

ACCOUNTS: tuple[tuple[str, Role, str], ...] = (
    ("admin@demo.example", Role.ADMIN, "Demo Administrator"),
    ("coordinator@demo.example", Role.COORDINATOR, "Demo Partnership Coordinator"),
    ("leader@demo.example", Role.LEADER, "Demo District Leader"),
    ("partner@demo.example", Role.PARTNER, "Demo Partner Contact"),
    ("partner2@demo.example", Role.PARTNER, "Second Demo Partner Contact"),
)

ELEMENTARY_NAMES = (
    "Maple Street", "Birch Hollow", "Cedar Lane", "Juniper Hill", "Willow Brook", "Aspen Court",
    "Hawthorn Road", "Sycamore Park", "Chestnut Ridge", "Larkspur", "Bluebell Meadow",
    "Foxglove", "Heron Pond", "Kestrel Way", "Magnolia Avenue", "Orchard Gate",
    "Pinecone Hollow", "Quince Street", "Rowan Tree", "Sparrow Hill", "Thistle Road",
    "Umber Lane", "Violet Crescent", "Wren Park", "Yarrow Fields", "Zephyr Street",
    "Acorn Path", "Bramble Way", "Clover Field", "Dogwood Terrace", "Elderberry Lane",
    "Fernbrook",
)  # fmt: skip
MIDDLE_NAMES = (
    "Granite Hill", "Beacon Ridge", "Copper Mill", "Harbor Light", "Silver Brook", "Tamarack",
)  # fmt: skip
HIGH_NAMES = (
    "Riverbend High School", "Summit Ridge High School", "Ironwood High School",
    "Bell Tower Technical High School", "Northgate Academy High School", "Cobblestone High School",
)  # fmt: skip
K8_NAME = "Lantern Hill Community School"

PLACES = (
    "Quillfield", "Harrowmere", "Brightwater", "Oakhaven", "Larkmoor", "Fenwick Hollow",
    "Marrowby", "Thistledown", "Pennyroyal", "Corwin Vale", "Ashbury", "Wickham Bay",
    "Starling", "Kettle Pond", "Bramblewood", "Juniper Row", "Copperleaf", "Greystone Mill",
    "Millbrook", "Hollis Park", "Tillinghast", "Bellwether", "Cinderford", "Dunmore Heights",
    "Eastbrook", "Foxhaven", "Gildersleeve", "Hartwell", "Inglenook", "Jessamine",
)  # fmt: skip
SUFFIXES: dict[PartnerType, tuple[str, ...]] = {
    PartnerType.NONPROFIT: (
        "Youth Alliance", "Learning Collaborative", "Mentoring Network", "Arts Collective",
        "Family Center", "Tutoring Project", "Reading Corps", "Youth Orchestra",
        "Sports League", "Newcomer Services", "Teen Center", "Food Network",
    ),
    PartnerType.HIGHER_EDUCATION: (
        "College", "Community College", "Institute of Technology", "School of Education",
    ),
    PartnerType.HEALTH_CARE: (
        "Health Center", "Family Clinic", "Behavioral Health", "Pediatric Associates",
        "Dental Partners",
    ),
    PartnerType.BUSINESS: (
        "Credit Union", "Manufacturing Co.", "Software Guild", "Insurance Group", "Builders",
    ),
    PartnerType.GOVERNMENT: ("Public Library", "Recreation Department", "Housing Authority"),
    PartnerType.FAITH_BASED: ("Interfaith Council", "Community Church", "Parish Pantry"),
    PartnerType.OTHER: ("Rotary Circle", "Neighborhood Association", "Makerspace"),
}  # fmt: skip
TYPE_WEIGHTS = {
    PartnerType.NONPROFIT: 55,
    PartnerType.HIGHER_EDUCATION: 8,
    PartnerType.HEALTH_CARE: 11,
    PartnerType.BUSINESS: 10,
    PartnerType.GOVERNMENT: 6,
    PartnerType.FAITH_BASED: 6,
    PartnerType.OTHER: 4,
}
# The categories each type of partner tends to offer.
TYPE_CATEGORIES: dict[PartnerType, tuple[Category, ...]] = {
    PartnerType.NONPROFIT: tuple(Category),
    PartnerType.HIGHER_EDUCATION: (
        Category.COLLEGE_CAREER, Category.ACADEMIC_SUPPORT, Category.MENTORING,
        Category.ENGLISH_LEARNER_SUPPORT, Category.SPECIAL_EDUCATION_SUPPORT,
    ),
    PartnerType.HEALTH_CARE: (
        Category.PHYSICAL_HEALTH, Category.MENTAL_HEALTH, Category.FAMILY_ENGAGEMENT,
    ),
    PartnerType.BUSINESS: (
        Category.COLLEGE_CAREER, Category.MENTORING, Category.BASIC_NEEDS, Category.ATHLETICS,
    ),
    PartnerType.GOVERNMENT: (
        Category.OUT_OF_SCHOOL_TIME, Category.FAMILY_ENGAGEMENT, Category.PHYSICAL_HEALTH,
        Category.ACADEMIC_SUPPORT,
    ),
    PartnerType.FAITH_BASED: (
        Category.BASIC_NEEDS, Category.MENTORING, Category.OUT_OF_SCHOOL_TIME,
        Category.FAMILY_ENGAGEMENT,
    ),
    PartnerType.OTHER: (Category.ARTS_ENRICHMENT, Category.ATHLETICS, Category.MENTORING),
}  # fmt: skip
# Per category: service names, grade bands (first, last), settings, and unit odds.
SERVICE_NAMES: dict[Category, tuple[str, ...]] = {
    Category.ACADEMIC_SUPPORT: ("Homework Help", "Small-Group Tutoring", "Math Lab"),
    Category.MENTORING: ("Mentoring Circle", "Big Buddy Mentoring", "Peer Mentors"),
    Category.MENTAL_HEALTH: ("School-Based Counseling", "Wellness Groups", "Crisis Support"),
    Category.PHYSICAL_HEALTH: ("School Health Van", "Vision Screening", "Nutrition Club"),
    Category.FAMILY_ENGAGEMENT: ("Family Workshops", "Parent Leadership Academy", "Family Nights"),
    Category.ARTS_ENRICHMENT: ("Visual Arts Studio", "Strings Program", "Theatre Workshop"),
    Category.ATHLETICS: ("Intramural Soccer", "Swim Lessons", "Track Club"),
    Category.COLLEGE_CAREER: ("Career Pathways", "College Application Coaching", "Internships"),
    Category.BASIC_NEEDS: ("Weekend Food Bags", "Clothing Closet", "Emergency Family Fund"),
    Category.OUT_OF_SCHOOL_TIME: ("After-School Club", "Summer Learning Camp", "Vacation Camp"),
    Category.ENGLISH_LEARNER_SUPPORT: ("Newcomer Tutoring", "Bilingual Homework", "Family ESL"),
    Category.SPECIAL_EDUCATION_SUPPORT: ("Inclusive Sports", "Transition Coaching", "Art Access"),
}  # fmt: skip
GRADE_BANDS: dict[Category, tuple[tuple[str, str], ...]] = {
    Category.ACADEMIC_SUPPORT: (("K", "6"), ("1", "8"), ("7", "12"), ("9", "12")),
    Category.MENTORING: (("4", "8"), ("6", "12"), ("9", "12")),
    Category.MENTAL_HEALTH: (("K", "12"), ("K", "6"), ("7", "12")),
    Category.PHYSICAL_HEALTH: (("PK", "12"), ("PK", "6"), ("K", "8")),
    Category.FAMILY_ENGAGEMENT: (("PK", "12"), ("PK", "6")),
    Category.ARTS_ENRICHMENT: (("K", "6"), ("3", "12"), ("K", "12")),
    Category.ATHLETICS: (("3", "8"), ("6", "12"), ("K", "6")),
    Category.COLLEGE_CAREER: (("9", "12"), ("8", "12"), ("11", "12")),
    Category.BASIC_NEEDS: (("PK", "12"), ("PK", "8")),
    Category.OUT_OF_SCHOOL_TIME: (("K", "6"), ("K", "8"), ("6", "12")),
    Category.ENGLISH_LEARNER_SUPPORT: (("K", "12"), ("K", "6"), ("7", "12")),
    Category.SPECIAL_EDUCATION_SUPPORT: (("PK", "12"), ("K", "8"), ("9", "12")),
}
SETTINGS: dict[Category, tuple[Setting, ...]] = {
    Category.ACADEMIC_SUPPORT: (Setting.AFTER_SCHOOL, Setting.SCHOOL_DAY, Setting.VIRTUAL),
    Category.MENTORING: (Setting.SCHOOL_DAY, Setting.AFTER_SCHOOL),
    Category.MENTAL_HEALTH: (Setting.SCHOOL_DAY,),
    Category.PHYSICAL_HEALTH: (Setting.SCHOOL_DAY, Setting.FAMILY),
    Category.FAMILY_ENGAGEMENT: (Setting.FAMILY,),
    Category.ARTS_ENRICHMENT: (Setting.AFTER_SCHOOL, Setting.SCHOOL_DAY, Setting.SUMMER),
    Category.ATHLETICS: (Setting.AFTER_SCHOOL, Setting.SUMMER),
    Category.COLLEGE_CAREER: (Setting.SCHOOL_DAY, Setting.AFTER_SCHOOL, Setting.SUMMER),
    Category.BASIC_NEEDS: (Setting.FAMILY,),
    Category.OUT_OF_SCHOOL_TIME: (Setting.AFTER_SCHOOL, Setting.SUMMER),
    Category.ENGLISH_LEARNER_SUPPORT: (Setting.SCHOOL_DAY, Setting.AFTER_SCHOOL, Setting.FAMILY),
    Category.SPECIAL_EDUCATION_SUPPORT: (Setting.SCHOOL_DAY, Setting.AFTER_SCHOOL),
}
# Categories measured in hours or dollars some of the time (seats otherwise).
OTHER_UNITS: dict[Category, tuple[Unit, float]] = {
    Category.MENTAL_HEALTH: (Unit.HOURS, 0.7),
    Category.ACADEMIC_SUPPORT: (Unit.HOURS, 0.25),
    Category.ENGLISH_LEARNER_SUPPORT: (Unit.HOURS, 0.2),
    Category.BASIC_NEEDS: (Unit.DOLLARS, 0.5),
    Category.COLLEGE_CAREER: (Unit.DOLLARS, 0.15),
}
# Categories whose MOUs usually involve student records.
DATA_SHARING = {
    Category.MENTAL_HEALTH,
    Category.SPECIAL_EDUCATION_SUPPORT,
    Category.ACADEMIC_SUPPORT,
    Category.ENGLISH_LEARNER_SUPPORT,
}
# Who signs for the district (the partner's signatory is its contact person).
DISTRICT_SIGNATORIES = (
    "Dana Placeholder, Superintendent; Robin Exemplar, Director of Community Partnerships"
)
PARTNER_TITLES = ("Executive Director", "Program Director", "President", "Director of Partnerships")
# The statuses an MOU reaches only through activation: both sides signed it.
ACTIVATED = (MOUStatus.ACTIVE, MOUStatus.EXPIRED, MOUStatus.TERMINATED)
LANGUAGES = ("Spanish", "Portuguese", "Vietnamese", "Arabic", "Albanian", "Twi", "Swahili")
FIRST_NAMES = ("Alex", "Jordan", "Sam", "Riley", "Casey", "Morgan", "Taylor", "Jamie", "Avery")
LAST_NAMES = ("Demo", "Example", "Sample", "Placeholder", "Fictive", "Testwell", "Mockford")
STREETS = ("Main", "Elm", "Park", "Pleasant", "Highland", "Water", "Lincoln", "Grove", "Chandler")


# ---- the plan: plain data drawn from the seed ------------------------------------------


@dataclass
class SchoolPlan:
    dese_code: str
    name: str
    grades: list[str]
    enrollment: int
    address: str
    zip: str
    need: float  # standardised latent need (mean 0, sd 1 over the district)
    indicators: dict[str, dict[str, Decimal | None]] = field(default_factory=dict)

    @property
    def appeal(self) -> float:
        """How readily partners come to the school: falls with need."""
        return math.exp(-NEED_AVERSION * self.need)


@dataclass
class ServicePlan:
    name: str
    category: Category
    grades: list[str]
    languages: list[str]
    setting: Setting
    unit: Unit
    capacity: Decimal
    cost: Decimal
    active: bool
    description: str


@dataclass
class PartnerPlan:
    name: str
    partner_type: PartnerType
    status: PartnerStatus
    values: dict[str, object]
    services: list[ServicePlan]
    joined: int | None  # index of the first school year with an MOU; None: never
    left: int | None  # index of the first year without an MOU again; None: still there


@dataclass
class MOUPlan:
    partner: str
    school_year: str
    values: dict[str, object]
    schools: list[str]  # DESE codes
    commitments: list[tuple[str, str, Decimal]]  # (service name, DESE code, amount)
    renews: bool


@dataclass
class OfferingPlan:
    partner: str
    service: str
    school: str  # DESE code
    capacity: Decimal
    days: str
    time: str


@dataclass
class DocumentPlan:
    partner: str
    doc_type: DocumentType
    school_year: str | None  # filed on the partner's MOU of that year; None: the partner's own
    effective: date | None
    expiry: date
    verified: bool  # False: uploaded, waiting for verification

    @property
    def filename(self) -> str:
        slug = "-".join(self.partner.lower().replace(".", "").replace("&", "").split())
        kind = self.doc_type.value.replace("_", "-")
        when = f"mou-{self.school_year}" if self.school_year else self.expiry.isoformat()
        return f"{slug}-{kind}-{when}.pdf"


@dataclass
class Plan:
    years: list[str]
    schools: list[SchoolPlan]
    partners: list[PartnerPlan]
    mous: list[MOUPlan]
    offerings: list[OfferingPlan] = field(default_factory=list)
    # Services (partner, name) with no overall capacity: their site capacities bound them.
    sites_only: set[tuple[str, str]] = field(default_factory=set)
    documents: list[DocumentPlan] = field(default_factory=list)


def demo_years(today: date) -> list[str]:
    """The demo's school years: 2023-24 through 2025-26, or through the current year if later."""
    last = max(LAST_FIXED_YEAR, school_year_of(today))
    years = [FIRST_YEAR]
    while years[-1] != last:
        years.append(next_year(years[-1]))
    return years


def pct(value: float, low: float = 1.0, high: float = 99.0) -> Decimal:
    """A drawn percentage as a stored one: within [low, high], to one decimal."""
    return Decimal(str(round(min(high, max(low, value)), 1)))


def draw_indicator_years(
    rng: random.Random,
    latest: dict[str, float],
    years: list[str],
    drift: dict[str, float],
    high_needs_margin: float,
) -> Iterator[tuple[str, dict[str, float]]]:
    """A school's indicators for each year, the latest first: each earlier year drifts
    back by `drift` with some noise, and high needs (anyone disadvantaged, learning English
    or with a disability) is above the largest of those and `high_needs_margin` points
    above the disadvantaged. Drawn a year at a time, as the caller takes them."""
    for back, year in enumerate(reversed(years)):
        values = {
            name: value - drift[name] * back + (rng.gauss(0, 1.2) if back else 0.0)
            for name, value in latest.items()
        }
        worst = max(
            values["pct_econ_disadvantaged"],
            values["pct_english_learners"],
            values["pct_disabilities"],
        )
        values["pct_high_needs"] = max(
            worst + 2, values["pct_econ_disadvantaged"] + high_needs_margin + rng.gauss(0, 1.5)
        )
        yield year, values


def grade_span(first: str, last: str) -> list[str]:
    """The grades from `first` to `last` ("K", "5": K, 1, ... 5)."""
    return list(GRADES[GRADES.index(first) : GRADES.index(last) + 1])


def _plan_schools(rng: random.Random, years: list[str]) -> list[SchoolPlan]:
    kinds: list[tuple[str, list[str], tuple[int, int]]] = []
    for i, name in enumerate(ELEMENTARY_NAMES):
        first = "PK" if i % 3 == 0 else "K"
        kinds.append((f"{name} Elementary School", grade_span(first, "6"), (250, 520)))
    kinds.append((K8_NAME, grade_span("K", "8"), (600, 760)))
    kinds.extend(
        (f"{name} Middle School", grade_span("7", "8"), (560, 900)) for name in MIDDLE_NAMES
    )
    kinds.extend((name, grade_span("9", "12"), (1000, 1450)) for name in HIGH_NAMES)

    zip_effect = {z: rng.gauss(0, 0.7) for z in ZIPS}
    raw: list[tuple[str, list[str], int, str, float]] = []
    for name, grades, (low, high) in kinds:
        zip_code = rng.choice(ZIPS)
        raw.append((name, grades, rng.randint(low, high), zip_code, zip_effect[zip_code]))
    # Need: a neighbourhood part and a school part, standardised over the district.
    needs = [z + rng.gauss(0, 0.7) for *_, z in raw]
    mean = sum(needs) / len(needs)
    sd = math.sqrt(sum((n - mean) ** 2 for n in needs) / len(needs))
    schools = []
    for n, ((name, grades, enrollment, zip_code, _), need) in enumerate(
        zip(raw, needs, strict=True), start=1
    ):
        school = SchoolPlan(
            dese_code=f"99{n:04d}10",
            name=name,
            grades=grades,
            enrollment=enrollment,
            address=f"{rng.randint(10, 990)} {rng.choice(STREETS)} Street, Demo City, MA",
            zip=zip_code,
            need=(need - mean) / sd,
        )
        school.indicators = _plan_indicators(rng, school, years)
        schools.append(school)
    # A couple of gaps in the latest year, so the need index has missing data to flag.
    latest = years[-1]
    schools[7].indicators[latest]["pct_chronically_absent"] = None
    schools[40].indicators[latest]["pct_english_learners"] = None
    return schools


def _plan_indicators(
    rng: random.Random, school: SchoolPlan, years: list[str]
) -> dict[str, dict[str, Decimal | None]]:
    z = school.need
    level = "high" if "9" in school.grades else "middle" if "7" in school.grades else "elem"
    econ = 60 + 17 * z + rng.gauss(0, 4)
    english = 32 + 11 * z + rng.gauss(0, 6) - (6 if level == "high" else 0) + 1.1
    disabilities = 21 + 3 * z + rng.gauss(0, 2.5)
    absence = 25 + 7 * z + {"elem": -2.5, "middle": 2.5, "high": 10.0}[level] + rng.gauss(0, 3)
    latest = {
        "pct_econ_disadvantaged": econ,
        "pct_english_learners": english,
        "pct_disabilities": disabilities,
        "pct_chronically_absent": absence,
    }
    by_year: dict[str, dict[str, Decimal | None]] = {}
    for year, values in draw_indicator_years(rng, latest, years, DRIFT, 16 - 0.1 * abs(z)):
        by_year[year] = {name: pct(values[name]) for name in INDICATORS}
    return by_year


def _plan_service(rng: random.Random, category: Category, name: str) -> ServicePlan:
    first, last = rng.choice(GRADE_BANDS[category])
    unit = Unit.SEATS
    if category in OTHER_UNITS and rng.random() < OTHER_UNITS[category][1]:
        unit = OTHER_UNITS[category][0]
    if unit == Unit.SEATS:
        capacity = rng.choice((25, 30, 40, 50, 60, 75, 80, 100, 120, 150, 200, 250, 300))
        cost = rng.choice((0, 0, 0, 50, 100, 150, 250)) * capacity
    elif unit == Unit.HOURS:
        capacity = rng.choice((200, 300, 400, 600, 800, 1000, 1500, 2000))
        cost = rng.choice((0, 0, 25, 40, 60)) * capacity
    else:
        capacity = rng.choice((5_000, 10_000, 15_000, 20_000, 25_000, 40_000, 50_000))
        cost = 0
    languages = ["English"]
    if rng.random() < 0.6:
        languages.append("Spanish")
    if rng.random() < 0.3:
        languages.append(rng.choice(LANGUAGES[1:]))
    return ServicePlan(
        name=name,
        category=category,
        grades=grade_span(first, last),
        languages=languages,
        setting=rng.choice(SETTINGS[category]),
        unit=unit,
        capacity=Decimal(capacity),
        cost=Decimal(cost),
        active=True,
        description=f"{category.value.replace('_', ' ').capitalize()} for grades {first}–{last}.",
    )


def _plan_partners(rng: random.Random, years: list[str], today: date) -> list[PartnerPlan]:
    statuses = (
        [PartnerStatus.APPROVED] * 106
        + [PartnerStatus.APPLICANT] * 8
        + [PartnerStatus.SUSPENDED] * 5
        + [PartnerStatus.INACTIVE] * 7
    )
    rng.shuffle(statuses)
    current = len(years) - 1
    names: set[str] = set()
    partners: list[PartnerPlan] = []
    types, weights = zip(*TYPE_WEIGHTS.items(), strict=True)
    for status in statuses:
        partner_type = rng.choices(types, weights)[0]
        name = ""
        while not name or name in names:
            name = f"{rng.choice(PLACES)} {rng.choice(SUFFIXES[partner_type])}"
        names.add(name)
        slug = name.lower().replace(" ", "").replace(".", "").replace("&", "")
        n_services = rng.choice((1, 2, 2, 3, 3, 4)) if status == PartnerStatus.APPROVED else 2
        categories = rng.sample(
            TYPE_CATEGORIES[partner_type], min(n_services, len(TYPE_CATEGORIES[partner_type]))
        )
        services = [_plan_service(rng, c, rng.choice(SERVICE_NAMES[c])) for c in categories]
        if status == PartnerStatus.INACTIVE:
            for service in services:
                service.active = False
        district_wide = rng.random() < 0.85
        values: dict[str, object] = {
            "description": (
                f"A fictional {partner_type.value.replace('_', ' ')} partner in the demo district."
            ),
            "website": f"https://{slug}.example",
            "contact_name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            "email": f"info@{slug}.example",
            "phone": f"508-555-01{rng.randint(0, 99):02d}",
            "address": f"{rng.randint(1, 400)} {rng.choice(STREETS)} Street, Demo City, MA",
            "zip": rng.choice(ZIPS),
            "languages": sorted({lang for s in services for lang in s.languages}),
            "district_wide": district_wide,
            "service_zips": [] if district_wide else sorted(rng.sample(ZIPS, rng.randint(2, 4))),
            **draw_compliance(rng, status, today),
        }
        joined, left = draw_membership(rng, status, current)
        partners.append(PartnerPlan(name, partner_type, status, values, services, joined, left))
    return partners


def draw_compliance(rng: random.Random, status: PartnerStatus, today: date) -> dict[str, object]:
    """Background checks and insurance: mostly in order, with the gaps a real registry has."""
    roll = rng.random()
    if status == PartnerStatus.APPLICANT:
        policy, verified = roll < 0.6, None
        expiry = today + timedelta(days=rng.randint(60, 400)) if roll < 0.5 else None
    elif status == PartnerStatus.SUSPENDED:
        policy, verified = True, today - timedelta(days=rng.randint(400, 900))
        expiry = today - timedelta(days=rng.randint(20, 300))
    else:
        policy = roll > 0.01
        verified = today - timedelta(days=rng.randint(20, 700)) if roll > 0.05 else None
        expiry_roll = rng.random()
        if expiry_roll < 0.06:
            expiry = today - timedelta(days=rng.randint(5, 200))
        elif expiry_roll < 0.08:
            expiry = None
        else:
            expiry = today + timedelta(days=rng.randint(30, 600))
    return {
        "background_check_policy": policy,
        "background_check_verified": verified if policy else None,
        "insurance_expiry": expiry,
        "insurance_liability": (
            Decimal(rng.choice((1_000_000, 1_000_000, 2_000_000, 3_000_000))) if expiry else None
        ),
    }


def draw_membership(
    rng: random.Random, status: PartnerStatus, current: int, from_the_start: float = 0.62
) -> tuple[int | None, int | None]:
    """Which school years a partner has MOUs in: [joined, left).

    `from_the_start`: below it (a draw in [0, 1)), an approved partner has had MOUs since
    the first year; the demo and the state data set differ only there.
    """
    if status == PartnerStatus.APPLICANT:
        return (current, None) if rng.random() < 0.5 else (None, None)
    if status in (PartnerStatus.SUSPENDED, PartnerStatus.INACTIVE):
        joined = 0 if rng.random() < 0.8 else min(1, current - 1)
        left = None if status == PartnerStatus.SUSPENDED else rng.randint(joined + 1, current)
        return joined, left
    roll = rng.random()
    if roll < 0.05:
        return None, None  # newly approved, no MOU yet
    if roll < from_the_start:
        return 0, None
    return rng.randint(1, current), None


def _eligible(service: ServicePlan, school: SchoolPlan, partner: PartnerPlan) -> bool:
    if not set(service.grades) & set(school.grades):
        return False
    return bool(partner.values["district_wide"]) or school.zip in partner.values["service_zips"]  # type: ignore[operator]


def _plan_mous(
    rng: random.Random, years: list[str], schools: list[SchoolPlan], partners: list[PartnerPlan],
    today: date,
) -> list[MOUPlan]:  # fmt: skip
    current_index = years.index(school_year_of(today)) if school_year_of(today) in years else -1
    mous: list[MOUPlan] = []
    for partner in partners:
        if partner.joined is None:
            continue
        candidates = [s for s in schools if any(_eligible(v, s, partner) for v in partner.services)]
        if not candidates:
            continue
        chosen: list[SchoolPlan] = []
        end = partner.left if partner.left is not None else len(years)
        for index in range(partner.joined, end):
            chosen = _choose_schools(rng, candidates, chosen)
            year = years[index]
            status = _mou_status(rng, partner, index, current_index)
            commitments = _commitments(rng, partner, chosen)
            if not commitments:
                continue
            mous.append(
                MOUPlan(
                    partner=partner.name,
                    school_year=year,
                    values=_mou_terms(rng, partner, year, status, commitments, today),
                    schools=[s.dese_code for s in chosen],
                    commitments=commitments,
                    renews=index > partner.joined,
                )
            )
    _end_a_few_soon(rng, mous, years, current_index, today)
    return mous


def _choose_schools(
    rng: random.Random, candidates: list[SchoolPlan], last_year: list[SchoolPlan]
) -> list[SchoolPlan]:
    """Mostly the same schools as last year, sometimes one more; new MOUs pick by appeal."""
    if last_year and rng.random() < 0.85:
        chosen = list(last_year)
        if rng.random() < 0.3:
            chosen = _weighted_sample(rng, candidates, 1, exclude=chosen) + chosen
        return chosen
    size = rng.choices((1, 2, 3, 4, 5), (30, 30, 22, 12, 6))[0]
    return _weighted_sample(rng, candidates, size, exclude=[])


def _weighted_sample(
    rng: random.Random, pool: list[SchoolPlan], size: int, exclude: list[SchoolPlan]
) -> list[SchoolPlan]:
    remaining = [s for s in pool if s not in exclude]
    picked: list[SchoolPlan] = []
    while remaining and len(picked) < size:
        school = rng.choices(remaining, [s.appeal for s in remaining])[0]
        picked.append(school)
        remaining.remove(school)
    return picked


def _commitments(
    rng: random.Random, partner: PartnerPlan, chosen: list[SchoolPlan]
) -> list[tuple[str, str, Decimal]]:
    """Share out part of each service's capacity among the chosen schools it fits, by appeal."""
    lines: list[tuple[str, str, Decimal]] = []
    for service in partner.services:
        fits = [s for s in chosen if _eligible(service, s, partner)]
        if not fits:
            continue
        budget = float(service.capacity) * rng.uniform(0.55, 0.95)
        shares = [s.enrollment * s.appeal * rng.uniform(0.7, 1.3) for s in fits]
        total = sum(shares)
        step = 100 if service.unit == Unit.DOLLARS else 1
        for school, share in zip(fits, shares, strict=True):
            # Rounding down keeps the sum within the budget, itself within capacity.
            amount = int(budget * share / total) // step * step
            if amount > 0:
                lines.append((service.name, school.dese_code, Decimal(amount)))
    return lines


def _mou_status(
    rng: random.Random, partner: PartnerPlan, index: int, current_index: int
) -> MOUStatus:
    if index > current_index:
        return MOUStatus.DRAFT
    return draw_mou_status(rng, partner.status, past=index < current_index)


def draw_mou_status(rng: random.Random, partner_status: PartnerStatus, past: bool) -> MOUStatus:
    """An MOU's status: one of a past year ended (a few terminated early); this year's
    follows its partner (suspended: terminated, applicant: a draft), mostly active."""
    if past:
        return MOUStatus.TERMINATED if rng.random() < 0.03 else MOUStatus.EXPIRED
    if partner_status == PartnerStatus.SUSPENDED:
        return MOUStatus.TERMINATED
    if partner_status == PartnerStatus.APPLICANT:
        return MOUStatus.DRAFT
    return rng.choices(
        (MOUStatus.ACTIVE, MOUStatus.SUBMITTED, MOUStatus.DRAFT, MOUStatus.TERMINATED),
        (84, 8, 6, 2),
    )[0]


def _mou_terms(
    rng: random.Random,
    partner: PartnerPlan,
    year: str,
    status: MOUStatus,
    commitments: list[tuple[str, str, Decimal]],
    today: date,
) -> dict[str, object]:
    first, last = year_bounds(year)
    start = date(first.year, rng.choice((8, 9, 9, 9)), rng.randint(1, 28))
    end = last if rng.random() < 0.7 else date(last.year, 6, rng.randint(10, 29))
    in_force = status in ACTIVATED
    by_name = {s.name: s for s in partner.services}
    shares = any(by_name[name].category in DATA_SHARING for name, _, _ in commitments)
    values: dict[str, object] = {
        "start_date": start,
        "end_date": end,
        "status": status,
        "signed_date": start - timedelta(days=rng.randint(3, 40)) if in_force else None,
        # The district's side only; the partner's signatory is drawn with the paperwork.
        "signatories": DISTRICT_SIGNATORIES if in_force else "",
        "shares_student_data": shares,
        "notes": "Terminated by the district during the year."
        if status == MOUStatus.TERMINATED
        else "",
    }
    if shares:
        values["dpa_type"] = rng.choice(
            (
                DPAType.STATE_SDPA,
                DPAType.STATE_SDPA,
                DPAType.DISTRICT_DPA,
                DPAType.FERPA_SCHOOL_OFFICIAL,
            )
        )
        if in_force or (status == MOUStatus.SUBMITTED and rng.random() < 0.5):
            values["dpa_status"] = DPAStatus.SIGNED
            values["dpa_expiry"] = date(last.year + rng.choice((0, 1, 2)), 6, 30)
        elif status == MOUStatus.SUBMITTED:
            values["dpa_status"] = DPAStatus.PENDING
        else:
            values["dpa_status"] = DPAStatus.NOT_STARTED
        # An agreement that lapsed while the MOU ran.
        if status == MOUStatus.ACTIVE and rng.random() < 0.08:
            values["dpa_expiry"] = max(start, today - timedelta(days=rng.randint(3, 60)))
    return values


def _end_a_few_soon(
    rng: random.Random, mous: list[MOUPlan], years: list[str], current_index: int, today: date
) -> None:
    """Bring a few active MOUs' end dates within 60 days of today, so the dashboard warns."""
    if current_index < 0:
        return
    _, year_end = year_bounds(years[current_index])
    active = [m for m in mous if m.values["status"] == MOUStatus.ACTIVE]
    for mou in rng.sample(active, min(4, len(active))):
        end = min(year_end, today + timedelta(days=rng.randint(7, 55)))
        mou.values["end_date"] = end
        start = mou.values["start_date"]
        assert isinstance(start, date)
        mou.values["start_date"] = min(start, end)
        mou.values["notes"] = "A one-semester agreement."


def build_plan(today: date) -> Plan:
    """The whole demo district as plain data, the same for every run in a school year."""
    rng = random.Random(SEED)
    years = demo_years(today)
    schools = _plan_schools(rng, years)
    partners = _plan_partners(rng, years, today)
    mous = _plan_mous(rng, years, schools, partners, today)
    plan = Plan(years, schools, partners, mous)
    _plan_offerings(plan)
    _plan_paperwork(plan, today)
    return plan


OFFERING_SEED = SEED + 1
# One service in this many (of those MOUs commit) is offered at named schools.
OFFERED_EVERY = 8
OFFERING_DAYS = ("Mon, Wed", "Tue, Thu", "Mon–Thu", "Fridays", "Mon–Fri")
OFFERING_TIMES = ("2:30–4:00 pm", "3:00–4:30 pm", "3:00–5:00 pm", "During the school day")


def _site_capacity(most: Decimal, unit: Unit) -> Decimal:
    """A quarter above the most any year commits at the school, rounded up to a round figure."""
    step = Decimal(500) if unit == Unit.DOLLARS else Decimal(5)
    return ((most * Decimal("1.25")) / step).to_integral_value(rounding="ROUND_CEILING") * step


def _plan_offerings(plan: Plan) -> None:
    """Offerings for some committed services, at the schools they are committed at."""
    rng = random.Random(OFFERING_SEED)
    most: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(dict)
    for mou in plan.mous:
        for service, code, amount in mou.commitments:
            by_school = most[(mou.partner, service)]
            by_school[code] = max(by_school.get(code, Decimal(0)), amount)
    units = {(p.name, v.name): v.unit for p in plan.partners for v in p.services}
    # A new MOU's form starts on the first partner, its first service and the first school;
    # that first partner's services stay open to every school, so those choices commit.
    first = min(p.name for p in plan.partners)
    candidates = sorted(key for key in most if key[0] != first)
    chosen = [key for index, key in enumerate(candidates) if index % OFFERED_EVERY == 0]
    for partner in sorted(set(_account_partner_names(plan)) - {first}):
        theirs = min((key for key in most if key[0] == partner), default=None)
        if theirs is not None and theirs not in chosen:
            chosen.append(theirs)
    for key in chosen:
        days, time = rng.choice(OFFERING_DAYS), rng.choice(OFFERING_TIMES)
        for code, amount in sorted(most[key].items()):
            plan.offerings.append(
                OfferingPlan(key[0], key[1], code, _site_capacity(amount, units[key]), days, time)
            )
    seats = [key for key in chosen if units[key] == Unit.SEATS]
    if seats:
        plan.sites_only.add(seats[0])


PAPERWORK_SEED = SEED + 2
DOCUMENT_TITLES = {
    DocumentType.INSURANCE_CERTIFICATE: "Certificate of liability insurance",
    DocumentType.BACKGROUND_CHECK: "CORI/SORI background-check attestation",
    DocumentType.DATA_PRIVACY_AGREEMENT: "Student data-privacy agreement",
}


def _plan_paperwork(plan: Plan, today: date) -> None:
    """Both signatures on every MOU ever in force, and the documents behind every
    compliance claim (see the module's docstring)."""
    rng = random.Random(PAPERWORK_SEED)
    partners = {p.name: p for p in plan.partners}
    active_ends: dict[str, date] = {}
    for mou in plan.mous:
        values = mou.values
        if values["status"] not in ACTIVATED:
            continue
        signed = values["signed_date"]
        assert isinstance(signed, date)
        values["partner_signer_name"] = partners[mou.partner].values["contact_name"]
        values["partner_signer_title"] = rng.choice(PARTNER_TITLES)
        values["partner_signed_date"] = signed - timedelta(days=rng.randint(1, 14))
        if values["status"] == MOUStatus.ACTIVE:
            end = values["end_date"]
            assert isinstance(end, date)
            active_ends[mou.partner] = max(end, active_ends.get(mou.partner, end))
            lapsed = values.get("dpa_expiry")
            if isinstance(lapsed, date) and lapsed < end:
                # Activation needs an agreement for the whole term: it runs to the term's June.
                values["dpa_expiry"] = date(end.year, 6, 30)

    current = school_year_of(today)
    for partner in plan.partners:
        ends = active_ends.get(partner.name)
        if ends is not None:
            _in_order_for_activation(rng, partner.values, ends, today)
        plan.documents.extend(_insurance_certificates(partner, plan.years, current))
        if partner.values["background_check_policy"]:
            checked = partner.values["background_check_verified"]
            if isinstance(checked, date):
                # An attestation runs to the end of the school year two years on.
                until = year_bounds(school_year_of(checked + timedelta(days=730)))[1]
                plan.documents.append(
                    DocumentPlan(
                        partner.name, DocumentType.BACKGROUND_CHECK, None, checked, until, True
                    )
                )
            else:
                until = year_bounds(next_year(current))[1]
                plan.documents.append(
                    DocumentPlan(
                        partner.name, DocumentType.BACKGROUND_CHECK, None, None, until, False
                    )
                )
    for mou in plan.mous:
        values = mou.values
        if values.get("dpa_status") != DPAStatus.SIGNED:
            continue
        expiry, signed = values["dpa_expiry"], values["signed_date"]
        assert isinstance(expiry, date) and (signed is None or isinstance(signed, date))
        plan.documents.append(
            DocumentPlan(
                mou.partner,
                DocumentType.DATA_PRIVACY_AGREEMENT,
                mou.school_year,
                signed,
                expiry,
                True,
            )
        )


def _in_order_for_activation(
    rng: random.Random, values: dict[str, object], ends: date, today: date
) -> None:
    """A partner with an active MOU had what activation needs: insurance to the end of its
    terms (a certificate ending sooner was renewed, a year at a time) and a verified
    background check."""
    expiry = values["insurance_expiry"]
    if not isinstance(expiry, date):
        expiry = today + timedelta(days=rng.randint(30, 600))
        values["insurance_liability"] = Decimal(1_000_000)
    while expiry < ends:
        expiry = a_year_later(expiry)
    values["insurance_expiry"] = expiry
    if not values["background_check_policy"] or values["background_check_verified"] is None:
        values["background_check_policy"] = True
        values["background_check_verified"] = today - timedelta(days=rng.randint(20, 700))


def _insurance_certificates(
    partner: PartnerPlan, years: list[str], current: str
) -> list[DocumentPlan]:
    """Verified certificates ending on the partner's insurance expiry: the latest from the
    July before the school year it ends in (or this school year's July, if earlier), and
    one a school year before that, back to the partner's first year with an MOU."""
    expiry = partner.values["insurance_expiry"]
    if not isinstance(expiry, date):
        return []
    effective = min(year_bounds(previous_year(school_year_of(expiry)))[0], year_bounds(current)[0])
    found = [
        DocumentPlan(
            partner.name, DocumentType.INSURANCE_CERTIFICATE, None, effective, expiry, True
        )
    ]
    for year in years[partner.joined :] if partner.joined is not None else []:
        first, last = year_bounds(year)
        if first < effective:
            found.append(
                DocumentPlan(
                    partner.name, DocumentType.INSURANCE_CERTIFICATE, None, first, last, True
                )
            )
    return found


def _paperwork_pdf(document: DocumentPlan) -> bytes:
    """The placeholder file for a planned document: plainly fictional, naming what it stands for."""
    effective = document.effective.isoformat() if document.effective else "signature"
    return placeholder_pdf(
        [
            "FICTIONAL DEMO DOCUMENT - a placeholder, not a real one",
            DISTRICT_NAME,
            "",
            f"{DOCUMENT_TITLES[document.doc_type]}: {document.partner}",
            f"MOU for the {document.school_year} school year" if document.school_year else "",
            f"In force from {effective} to {document.expiry.isoformat()}",
        ]
    )


# ---- writing the plan ------------------------------------------------------------------


@dataclass
class Tally:
    created: int = 0
    present: int = 0


@dataclass
class DemoReport:
    """What seeding did, and how to sign in."""

    years: list[str]
    tallies: dict[str, Tally]
    accounts: list[tuple[str, str, str]]  # (email, role, partner name or "")
    password: str | None  # None when existing accounts kept their passwords
    password_generated: bool = False
    passwords_reset: bool = False
    totals: dict[str, int] = field(default_factory=dict)
    mous_by_year: dict[str, int] = field(default_factory=dict)
    held_back: int = 0  # MOUs drawn active that the activation gates kept submitted

    @property
    def already_present(self) -> bool:
        return all(t.created == 0 for t in self.tallies.values())

    def describe(self) -> str:
        lines = [f"{DISTRICT_NAME}: school years {self.years[0]} to {self.years[-1]}."]
        if self.already_present:
            lines.append("The demo district was already present: nothing was added.")
        for kind, tally in self.tallies.items():
            lines.append(
                f"  {kind:<12} {self.totals.get(kind, 0):>6} in the registry"
                f" ({tally.created} added, {tally.present} already present)"
            )
        lines.append(f"  enrollment   {self.totals.get('enrollment', 0):>6} students")
        lines.append(
            "  MOUs by year: " + ", ".join(f"{y} {n}" for y, n in self.mous_by_year.items())
        )
        if self.held_back:
            lines.append(
                f"  {self.held_back} MOUs wait submitted: the activation gates hold them"
                " (each MOU's page lists what is missing)."
            )
        lines.append("Demo accounts:")
        for email, role, partner in self.accounts:
            lines.append(f"  {email:<26} {role:<12} {partner}".rstrip())
        if self.password is None:
            lines.append("Passwords unchanged (give --password to reset them).")
        else:
            how = "generated" if self.password_generated else "given"
            if self.passwords_reset:
                lines.append("The demo accounts' passwords were reset.")
            lines.append(f"Password for every demo account ({how}): {self.password}")
        return "\n".join(lines)


def readable_password(rng: random.Random | None = None) -> str:
    """A random password a person can read out: three words and two digits."""
    chooser = rng or secrets.SystemRandom()
    words = (
        "amber", "basil", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo",
        "juniper", "kettle", "lantern", "meadow", "nutmeg", "orchid", "pepper", "quartz",
        "raven", "saffron", "timber", "umber", "velvet", "willow", "yonder", "zephyr",
    )  # fmt: skip
    return "-".join(chooser.choice(words) for _ in range(3)) + f"-{chooser.randint(10, 99)}"


def seed_demo(password: str | None = None, today: date | None = None) -> DemoReport:
    """Write the demo district's missing records and accounts; flush, never commit."""
    today = today or district_time.today()
    plan = build_plan(today)
    tallies = {
        k: Tally()
        for k in (
            "schools",
            "indicators",
            "partners",
            "services",
            "offerings",
            "MOUs",
            "commitments",
            "accounts",
            "need indexes",
            "documents",
        )
    }

    schools = {s.dese_code: s for s in db.session.scalars(select(School))}
    for sp in plan.schools:
        school = schools.get(sp.dese_code)
        if school is None:
            school = School(
                dese_code=sp.dese_code, name=sp.name, grades=sp.grades,
                enrollment=sp.enrollment, address=sp.address, zip=sp.zip,
            )  # fmt: skip
            db.session.add(school)
            schools[sp.dese_code] = school
            tallies["schools"].created += 1
        else:
            tallies["schools"].present += 1
        have = {i.school_year for i in school.indicators}
        for year, values in sp.indicators.items():
            if year in have:
                tallies["indicators"].present += 1
                continue
            school.indicators.append(SchoolIndicators(school_year=year, **values))
            tallies["indicators"].created += 1

    partners = {p.name: p for p in db.session.scalars(select(Partner))}
    # What this run writes (partner, None) or (partner, school year): only their paperwork is
    # added, so a record already there never gets papers that disagree with it.
    fresh: set[tuple[str, str | None]] = set()
    services: dict[tuple[str, str], Service] = {
        (s.partner.name, s.name): s
        for s in db.session.scalars(select(Service).join(Service.partner))
    }
    for pp in plan.partners:
        partner = partners.get(pp.name)
        if partner is None:
            partner = Partner(
                name=pp.name, partner_type=pp.partner_type, status=pp.status, **pp.values
            )
            db.session.add(partner)
            partners[pp.name] = partner
            tallies["partners"].created += 1
            fresh.add((pp.name, None))
        else:
            tallies["partners"].present += 1
        for sv in pp.services:
            if (pp.name, sv.name) in services:
                tallies["services"].present += 1
                continue
            service = Service(
                partner=partner, name=sv.name, category=sv.category, description=sv.description,
                grades=sv.grades, languages=sv.languages, setting=sv.setting, unit=sv.unit,
                capacity=None if (pp.name, sv.name) in plan.sites_only else sv.capacity,
                cost=sv.cost, active=sv.active,
            )  # fmt: skip
            db.session.add(service)
            services[(pp.name, sv.name)] = service
            tallies["services"].created += 1

    offered = {(o.service_id, o.school_id) for o in db.session.scalars(select(Offering))}
    db.session.flush()  # the new services and schools have ids
    for op in plan.offerings:
        service, school = services[(op.partner, op.service)], schools[op.school]
        if (service.id, school.id) in offered:
            tallies["offerings"].present += 1
            continue
        db.session.add(
            Offering(
                service=service, school=school, capacity=op.capacity, days=op.days, time=op.time
            )
        )
        tallies["offerings"].created += 1

    mous = {
        (m.partner.name, m.school_year): m
        for m in db.session.scalars(select(MOU).join(MOU.partner))
    }
    # Drawn active: written submitted, then activated through the MOU rules (below).
    to_activate: list[MOU] = []
    activated: list[MOU] = []
    for mp in plan.mous:
        if (mp.partner, mp.school_year) in mous:
            tallies["MOUs"].present += 1
            tallies["commitments"].present += len(mp.commitments)
            continue
        terms = dict(mp.values)
        if terms["status"] == MOUStatus.ACTIVE:
            terms["status"] = MOUStatus.SUBMITTED
        mou = MOU(
            partner=partners[mp.partner],
            school_year=mp.school_year,
            schools=[schools[code] for code in mp.schools],
            renewed_from=mous.get((mp.partner, _previous(plan.years, mp.school_year)))
            if mp.renews
            else None,
            **terms,
        )
        for service_name, code, amount in mp.commitments:
            mou.commitments.append(
                Commitment(
                    service=services[(mp.partner, service_name)],
                    school=schools[code],
                    amount=amount,
                )
            )
        db.session.add(mou)
        mous[(mp.partner, mp.school_year)] = mou
        fresh.add((mp.partner, mp.school_year))
        tallies["MOUs"].created += 1
        tallies["commitments"].created += len(mp.commitments)
        if mp.values["status"] == MOUStatus.ACTIVE:
            to_activate.append(mou)
        elif mp.values["status"] in ACTIVATED:
            activated.append(mou)
    db.session.flush()
    # An MOU that was in force keeps its terms as first activated, as activation keeps them
    # (`versions.record`, here in one flush).
    for mou in activated:
        db.session.add(
            MOUVersion(mou_id=mou.id, number=mou.terms_version, snapshot=versions.snapshot(mou))
        )

    # The pages read need through the default index; the migration makes one, and so does
    # this (a database built another way), never a page.
    if find_default_definition() is None:
        default_definition()
        tallies["need indexes"].created += 1
    else:
        tallies["need indexes"].present += 1

    report = _seed_accounts(plan, partners, password, tallies["accounts"])
    report.tallies = tallies
    db.session.flush()
    _seed_documents(plan, partners, mous, fresh, tallies["documents"])
    for mou in to_activate:
        try:
            mou_services.activate(mou, today)
        except Refused:
            report.held_back += 1  # it waits, submitted, its page listing what is missing
    db.session.flush()
    report.totals = _totals()
    report.mous_by_year = {
        y: sum(1 for m in mous.values() if m.school_year == y) for y in plan.years
    }
    return report


def _seed_documents(
    plan: Plan,
    partners: dict[str, Partner],
    mous: dict[tuple[str, str], MOU],
    fresh: set[tuple[str, str | None]],
    tally: Tally,
) -> None:
    """Upload the planned documents of the partners and MOUs written in this run, then have
    the demo coordinator verify those planned verified.

    Each file is kept as an upload is (`storage.store`) and each row ends as
    `documents.upload` and `documents.verify` leave it, with the same audit rows (the
    upload's, then the coordinator's verification), in two flushes: two for each of
    some five hundred documents took seconds.
    """
    coordinator = db.session.scalars(
        select(User).where(User.email == "coordinator@demo.example")
    ).first()
    present = {
        (d.partner_id, d.doc_type, d.mou_id, d.expiry_date)
        for d in db.session.scalars(select(Document))
    }
    to_verify: list[Document] = []
    for planned in plan.documents:
        partner = partners[planned.partner]
        mou = mous[(planned.partner, planned.school_year)] if planned.school_year else None
        key = (partner.id, planned.doc_type, mou.id if mou else None, planned.expiry)
        if key in present:
            tally.present += 1
            continue
        if (planned.partner, planned.school_year) not in fresh:
            continue
        content = _paperwork_pdf(planned)
        document = Document(
            partner=partner,
            mou=mou,
            doc_type=planned.doc_type,
            filename=planned.filename,
            sha256=storage.store(content),
            size=len(content),
            effective_date=planned.effective,
            expiry_date=planned.expiry,
            status=DocumentStatus.PENDING,
            uploaded_by=None,  # as an upload nobody signed in made
        )
        db.session.add(document)
        if planned.verified:
            to_verify.append(document)
        present.add(key)
        tally.created += 1
    db.session.flush()
    if coordinator is None or not documents.may_review(coordinator):
        return  # nobody may verify them: they wait, pending
    with acting_as(Actor(coordinator.id, coordinator.email)):
        reviewed_at = utcnow()
        for document in to_verify:
            document.status = DocumentStatus.VERIFIED
            document.reviewed_by = coordinator
            document.reviewed_at = reviewed_at
        db.session.flush()


def _previous(years: list[str], year: str) -> str:
    index = years.index(year)
    return years[index - 1] if index else ""


def _account_partner_names(plan: Plan) -> list[str]:
    """Two approved partners in good standing with MOUs, for the partner accounts."""
    with_mous = {m.partner for m in plan.mous}
    picked = [
        p.name
        for p in sorted(plan.partners, key=lambda p: p.name)
        if p.status == PartnerStatus.APPROVED
        and p.name in with_mous
        and p.values["insurance_expiry"] is not None
        and p.values["background_check_verified"] is not None
    ]
    return picked[:2]


def _account_partners(plan: Plan, partners: dict[str, Partner]) -> list[Partner]:
    """The partners of the partner accounts (see `_account_partner_names`)."""
    return [partners[name] for name in _account_partner_names(plan)]


def _seed_accounts(
    plan: Plan, partners: dict[str, Partner], password: str | None, tally: Tally
) -> DemoReport:
    existing = {
        u.email: u
        for u in db.session.scalars(select(User).where(User.email.in_([a[0] for a in ACCOUNTS])))
    }
    generated = False
    if password is None and len(existing) < len(ACCOUNTS):
        password, generated = readable_password(), True
    # One hash for all five accounts: argon2 is slow on purpose, and they share the password.
    hashed = password_hash_of(password) if password is not None else ""
    account_partners = iter(_account_partners(plan, partners))
    accounts: list[tuple[str, str, str]] = []
    reset = False
    for email, role, name in ACCOUNTS:
        partner = next(account_partners) if role == Role.PARTNER else None
        user = existing.get(email)
        if user is None:
            user = User(email=email, name=name, role=role, partner=partner, password_hash=hashed)
            db.session.add(user)
            tally.created += 1
        else:
            tally.present += 1
            if password is not None and not generated:
                user.password_hash = hashed
                reset = True
        accounts.append((email, user.role.value, user.partner.name if user.partner else ""))
    if generated and existing:
        # Only the new accounts got the generated password; the others keep theirs.
        reset = False
    return DemoReport(
        years=plan.years,
        tallies={},
        accounts=accounts,
        password=password,
        password_generated=generated,
        passwords_reset=reset,
    )


def password_hash_of(password: str) -> str:
    """What a user with this password stores (hashed once, for many accounts)."""
    probe = User()
    probe.set_password(password)
    return probe.password_hash


def _totals() -> dict[str, int]:
    from sqlalchemy import func

    return {
        "schools": db.session.scalar(select(func.count(School.id))) or 0,
        "indicators": db.session.scalar(select(func.count(SchoolIndicators.id))) or 0,
        "partners": db.session.scalar(select(func.count(Partner.id))) or 0,
        "services": db.session.scalar(select(func.count(Service.id))) or 0,
        "offerings": db.session.scalar(select(func.count(Offering.id))) or 0,
        "MOUs": db.session.scalar(select(func.count(MOU.id))) or 0,
        "commitments": db.session.scalar(select(func.count(Commitment.id))) or 0,
        "accounts": db.session.scalar(select(func.count(User.id))) or 0,
        "need indexes": db.session.scalar(select(func.count(NeedIndexDefinition.id))) or 0,
        "documents": db.session.scalar(select(func.count(Document.id))) or 0,
        "enrollment": int(db.session.scalar(select(func.sum(School.enrollment))) or 0),
    }
