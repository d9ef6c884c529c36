"""The small district the run tests solve: two schools of equal enrollment, one needy and one
not, one 10-seat reading service, and a scenario over them."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from registry.extensions import db
from registry.models import NeedIndexDefinition, School, Service
from registry.models.scenario import Scenario


def reading_by_need(
    definition: NeedIndexDefinition,
    make_school: Callable[..., School],
    make_service: Callable[..., Service],
    **fields: Any,
) -> Scenario:
    """The district and its scenario, committed; `fields` set more of the scenario."""
    make_school(name="Needy Elementary", enrollment=100, indicators={"pct_high_needs": 90})
    make_school(name="Comfortable Elementary", enrollment=100, indicators={"pct_high_needs": 10})
    make_service(name="Reading club", capacity=Decimal(10))
    found = Scenario(
        name="Reading by need",
        school_year="2025-26",
        need_definition_id=definition.id,
        categories=["academic_support"],
        **fields,
    )
    db.session.add(found)
    db.session.commit()
    return found
