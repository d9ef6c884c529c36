"""Turning chosen proposal lines of a run into draft MOUs: one per partner, with commitments.

A line is one (service, school) amount of the run's result. What is drafted
is the proposed amount less what MOUs of the same school year already commit
of that service at that school (terminated ones aside), so adopting a
proposal that kept this year's commitments as locks does not promise them
twice; a line fully covered already is skipped and said so. A run that
released them (`keep_commitments_as_locks` off) had every commitment taken
off its capacities: its amounts come on top of what is committed, and are
drafted as they are.

The bridge (`registry.scenarios.problem`) bounds every line so that both
capacity levels hold once all of a run's lines are drafted: the overall pool
less commitments not held, and each offering's site capacity. Everything goes
through the MOU rules (`registry.mous.services`): a line they refuse (for
instance capacity already promised elsewhere) refuses the whole adoption,
naming the line, and nothing is saved.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from flask_babel import gettext as _

from registry.extensions import db
from registry.models import MOU, School, Service, User
from registry.models.scenario import ScenarioRun
from registry.mous.services import (
    MOUDetails,
    add_commitment,
    committed_amount,
    create_mou,
)
from registry.refusals import Refused
from registry.scenarios.problem import key_id
from registry.scenarios.services import read_run
from registry.schoolyear import year_bounds
from registry.vocabulary import Unit


@dataclass
class Adoption:
    mous: list[MOU] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _draft_amount(service: Service, proposed: float, already: Decimal) -> Decimal:
    amount = Decimal(str(proposed)) - already
    places = Decimal(1) if service.unit == Unit.SEATS else Decimal("0.01")
    return amount.quantize(places, rounding=ROUND_DOWN)


def adopt_lines(run: ScenarioRun, lines: list[str], by: User | None = None) -> Adoption:
    """Draft MOUs for the chosen lines ("J<id>:S<id>") of a run's proposal (no commit)."""
    view = read_run(run)
    proposed = {row["line"]: row["amount"] for row in view.allocation_rows}
    chosen = sorted(set(lines))
    if not chosen:
        raise Refused(_("Choose at least one proposal line."))
    unknown = [line for line in chosen if line not in proposed]
    if unknown:
        raise Refused(_("These lines are not in this run's proposal: %(l)s", l=", ".join(unknown)))

    school_year = run.scenario.school_year
    held = view.report.get("settings", {}).get("commitments", "held") == "held"
    first, last = year_bounds(school_year)
    adoption = Adoption()
    by_partner: dict[int, list[tuple[Service, School, Decimal]]] = defaultdict(list)
    for line in chosen:
        service_key, school_key = line.split(":")
        service = db.session.get(Service, key_id(service_key))
        school = db.session.get(School, key_id(school_key))
        if service is None or school is None:
            raise Refused(_("Line %(l)s names a service or school that no longer exists.", l=line))
        already = committed_amount(service, school_year, school=school) if held else Decimal(0)
        amount = _draft_amount(service, proposed[line], already)
        if amount <= 0:
            adoption.skipped.append(
                _(
                    "%(service)s at %(school)s: already committed.",
                    service=service.name,
                    school=school.name,
                )
            )
            continue
        by_partner[service.partner_id].append((service, school, amount))

    for lines_of_partner in by_partner.values():
        partner = lines_of_partner[0][0].partner
        schools = sorted({school.id for _s, school, _a in lines_of_partner})
        mou = create_mou(
            partner,
            MOUDetails(
                school_ids=schools,
                school_year=school_year,
                start_date=first,
                end_date=last,
                notes=_(
                    "Drafted from scenario “%(name)s”, run %(run)s.",
                    name=run.scenario.name,
                    run=run.id,
                ),
            ),
            by=by,
        )
        for service, school, amount in lines_of_partner:
            try:
                add_commitment(mou, service, school, amount, by=by)
            except Refused as err:
                raise Refused(
                    _(
                        "%(service)s at %(school)s: %(reason)s",
                        service=service.name,
                        school=school.name,
                        reason=err,
                    )
                ) from err
        adoption.mous.append(mou)
    return adoption
