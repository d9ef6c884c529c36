"""Scenario rules: creating and changing scenarios, and what a run's result says for people."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from registry.concurrency import check_version
from registry.extensions import db
from registry.models import School, Service, User
from registry.models.scenario import Scenario, ScenarioRun
from registry.refusals import Refused
from registry.scenarios.problem import (
    category_key,
    category_label,
    limit_unit,
    split_category_key,
)
from registry.vocabulary import Category, Unit

FIELDS = (
    "name",
    "school_year",
    "need_definition_id",
    "weight_rule",
    "need_threshold",
    "categories",
    "service_ids",
    "require_service_area",
    "keep_commitments_as_locks",
    "objective",
    "solver",
    "time_limit_s",
    "limits",
)


def _check(values: dict[str, Any]) -> None:
    known = {c.value for c in Category}
    if not set(values.get("categories") or []) <= known:
        raise Refused(_("Unknown category."))
    ids = set(values.get("service_ids") or [])
    if ids:
        found = set(db.session.scalars(select(Service.id).where(Service.id.in_(ids))))
        if ids - found:
            raise Refused(_("A chosen service no longer exists."))
    school_ids = {int(limit["school_id"]) for limit in values.get("limits") or []}
    if school_ids:
        found = set(db.session.scalars(select(School.id).where(School.id.in_(school_ids))))
        if school_ids - found:
            raise Refused(_("A limit names a school that no longer exists."))
    seen = set()
    for limit in values.get("limits") or []:
        if limit["category"] not in known:
            raise Refused(_("Unknown category."))
        try:
            unit = limit_unit(limit)
        except ValueError:
            raise Refused(_("Unknown unit.")) from None
        pair = (int(limit["school_id"]), limit["category"], unit)
        if pair in seen:
            # Same category in two units is fine: they are two allocation categories.
            raise Refused(_("Two limits name the same school and category."))
        seen.add(pair)


def create_scenario(values: dict[str, Any], by: User | None) -> Scenario:
    """A new scenario from checked form values (no commit)."""
    _check(values)
    scenario = Scenario(created_by=by, **{k: values[k] for k in FIELDS})
    db.session.add(scenario)
    db.session.flush()
    return scenario


def update_scenario(scenario: Scenario, values: dict[str, Any], version: str | None) -> None:
    """Change a scenario opened at `version`; earlier runs keep their own files (no commit)."""
    check_version(scenario, version)
    _check(values)
    for key in FIELDS:
        setattr(scenario, key, values[key])
    db.session.flush()


# --- reading a run --------------------------------------------------------------------------


@dataclass
class RunView:
    """A run's files, parsed, with the facts the results page shows beside them."""

    run: ScenarioRun
    problem: dict[str, Any]
    result: dict[str, Any] | None
    report: dict[str, Any]
    school_rows: list[dict[str, Any]] = field(default_factory=list)
    service_rows: list[dict[str, Any]] = field(default_factory=list)
    allocation_rows: list[dict[str, Any]] = field(default_factory=list)
    category_rows: list[dict[str, Any]] = field(default_factory=list)
    excluded: list[dict[str, Any]] = field(default_factory=list)
    without_service: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def schools(self) -> dict[str, Any]:
        return self.report.get("schools", {})

    @property
    def services(self) -> dict[str, Any]:
        return self.report.get("services", {})


def _loads(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def read_run(run: ScenarioRun) -> RunView:
    """Everything the run page shows, from the run's stored files alone."""
    view = RunView(
        run=run,
        problem=_loads(run.problem_json) or {},
        result=_loads(run.result_json),
        report=_loads(run.report_json) or {},
    )
    schools, services = view.schools, view.services
    view.excluded = [
        {"key": key, **facts} for key, facts in schools.items() if facts.get("excluded")
    ]
    eligible_somewhere = {
        s for entry in view.problem.get("services", []) for s in entry["eligible"]
    }
    view.without_service = [
        {"key": key, **facts}
        for key, facts in schools.items()
        if not facts.get("excluded") and key not in eligible_somewhere
    ]
    if not view.result:
        return view
    result = view.result
    # Only keys with a unit: a bare word ("mentoring") may be part of any sentence.
    categories = [
        key
        for key in {
            *(s["category"] for s in view.problem.get("services", [])),
            *(limit["category"] for limit in view.problem.get("limits", [])),
        }
        if ":" in key
    ]
    for category, figures in result.get("categories", {}).items():
        view.category_rows.append(
            {"category": category, **_category_fields(category, services), **figures}
        )
    used: dict[str, float] = defaultdict(float)
    for allocation in result.get("allocations", []):
        used[allocation["service"]] += allocation["amount"]
        service = services.get(allocation["service"], {})
        school = schools.get(allocation["school"], {})
        view.allocation_rows.append(
            {
                **allocation,
                "line": f"{allocation['service']}:{allocation['school']}",
                "service_name": service.get("name", allocation["service"]),
                "partner": service.get("partner", ""),
                **_service_category(service),
                "school_name": school.get("name", allocation["school"]),
            }
        )
    for row in result.get("schools", []):
        facts = schools.get(row["school"], {})
        enrollment = facts.get("enrollment") or 0
        view.school_rows.append(
            {
                **row,
                **_category_fields(row["category"], services),
                "why": _in_words(row.get("why"), categories),
                "name": facts.get("name", row["school"]),
                "school_id": facts.get("id"),
                "need": facts.get("need"),
                "enrollment": enrollment,
                "per_student": row["allocated"] / enrollment if enrollment else None,
            }
        )
    for key, facts in services.items():
        capacity = facts["capacity"]
        view.service_rows.append(
            {
                "key": key,
                **facts,
                **_service_category(facts),
                "used": used.get(key, 0),
                "utilisation": used.get(key, 0) / capacity if capacity else None,
            }
        )
    view.conflicts = _conflicts(view, categories)
    return view


def _category_fields(key: str, services: dict[str, Any]) -> dict[str, str]:
    """A problem category's label, registry category and unit, for tables and exports."""
    try:
        category, unit = split_category_key(key)
    except ValueError:
        # A run stored before categories carried their unit: the unit of its services.
        unit_value = next((f["unit"] for f in services.values() if f.get("category") == key), "")
        return {"category_label": category_label(key), "registry_category": key, "unit": unit_value}
    return {
        "category_label": category_label(key),
        "registry_category": category.value,
        "unit": unit.value,
    }


def _service_category(facts: dict[str, Any]) -> dict[str, str]:
    """The label, registry category and unit of a service as the run saw it."""
    category, unit = facts.get("category", ""), facts.get("unit", "")
    try:
        key = category_key(Category(category), Unit(unit))
    except ValueError:
        key = category
    return {
        "category_label": category_label(key),
        "registry_category": category,
        "unit": unit,
    }


def _in_words(text: str | None, categories: list[str]) -> str | None:
    """The engine's sentences with each category key replaced by the category's name.

    The name without the unit: the engine's sentences give every amount with its
    unit ("50 seats of Academic support"), and the page shows each conflict and
    school row under the category's full label ("Academic support · seats").
    """
    if not text:
        return text
    # Longest first, so a key never replaces part of a longer one.
    for key in sorted(categories, key=len, reverse=True):
        try:
            name = str(split_category_key(key)[0].label)
        except ValueError:
            name = category_label(key)
        text = text.replace(key, name)
    return text


def _conflicts(view: RunView, categories: list[str]) -> list[dict[str, Any]]:
    """The engine's conflicts, with what each names: limit numbers and the locks' MOUs."""
    locks = {note["lock_index"]: note for note in view.report.get("locks", []) if note["kept"]}
    rows = []
    for conflict in view.result.get("conflicts", []) if view.result else []:
        rows.append(
            {
                "category": conflict["category"],
                "category_label": category_label(conflict["category"]),
                "message": _in_words(conflict["message"], categories),
                "limits": [
                    int(ref["id"][1:])
                    for ref in conflict.get("limits", [])
                    if (ref.get("id") or "").startswith("L") and ref["id"][1:].isdigit()
                ],
                "locks": [
                    locks[ref["index"]]
                    for ref in conflict.get("locks", [])
                    if ref["index"] in locks
                ],
            }
        )
    return rows
