"""Scenario rules: creating and changing scenarios, and what a run's result says for people."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask_babel import format_timedelta, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from registry import formats
from registry.concurrency import check_version
from registry.extensions import db
from registry.listing import Page, Sorting, page_count
from registry.models import School, Service, User
from registry.models.columns import utcnow
from registry.models.scenario import RunStage, RunStatus, Scenario, ScenarioRun, WeightRule
from registry.refusals import Refused
from registry.scenarios import summary as run_summary
from registry.scenarios.messages import Names, engine_conflict, engine_why, in_words
from registry.scenarios.problem import (
    category_key,
    category_label,
    eligible_schools,
    limit_unit,
    split_category_key,
)
from registry.scenarios.runner import waiting_ahead
from registry.vocabulary import Category, Unit

T = TypeVar("T")
SEATS = Unit.SEATS.value  # read once: an enum's value is slow to read thousands of times

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
    "saturation",
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


class RunView:
    """A run's files, parsed, with the facts the results page shows beside them.

    The problem file is parsed only when something asks for it (`problem`): a run with a
    summary (`registry.scenarios.summary`) shows its pages without it.
    """

    def __init__(
        self,
        run: ScenarioRun,
        problem: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
        report: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        self.run = run
        self._problem = problem
        self.result = result
        self.report: dict[str, Any] = report if report is not None else {}
        self.summary = summary
        self.school_rows: list[dict[str, Any]] = []
        self.service_rows: list[dict[str, Any]] = []
        # The proposal's lines as (service, school, amount); `allocation_rows` words them all
        # (exports, adoption), `line_page` one page of them.
        self.allocations: Sequence[Any] = []
        self._allocation_rows: list[dict[str, Any]] | None = None
        self._service_labels: dict[tuple[str, str], dict[str, str]] = {}
        self.category_rows: list[dict[str, Any]] = []
        self.excluded: list[dict[str, Any]] = []
        self.without_service: list[dict[str, Any]] = []
        self.conflicts: list[dict[str, Any]] = []
        self.names = Names(schools={}, services={})
        self.categories: list[str] = []  # the problem's category keys that carry a unit

    @property
    def problem(self) -> dict[str, Any]:
        """The run's problem file, parsed on first use (tens of megabytes at state scale)."""
        if self._problem is None:
            self._problem = (_loads(self.run.problem_json) if self.run is not None else None) or {}
        return self._problem

    @property
    def figures(self) -> dict[str, Any]:
        """What the pages need of the problem: the stored summary, or computed from the
        problem in memory for a run finished before summaries were kept."""
        if self.summary is None:
            self.summary = run_summary.summarise(self.problem, self.result or {}, self.report)
        return self.summary

    @property
    def allocation_rows(self) -> list[dict[str, Any]]:
        """Every line of the proposal, with its service, partner, category and school."""
        if self._allocation_rows is None:
            self._allocation_rows = [self.allocation_row(line) for line in self.allocations]
        return self._allocation_rows

    def allocation_row(self, line: Any) -> dict[str, Any]:
        """A line of the proposal, worded: from the summary's text or the result's tables."""
        service_key, school_key, amount = (
            run_summary.allocation(line) if isinstance(line, str) else line
        )
        service = self.services.get(service_key, {})
        school = self.schools.get(school_key, {})
        return {
            "service": service_key,
            "school": school_key,
            "amount": amount,
            "line": f"{service_key}:{school_key}",
            "service_name": service.get("name", service_key),
            "partner": service.get("partner", ""),
            **self.service_category(service),
            "school_name": school.get("name", school_key),
        }

    def service_category(self, facts: dict[str, Any]) -> dict[str, str]:
        """`_service_category`, worded once per category and unit (not once per row)."""
        cell = (facts.get("category", ""), facts.get("unit", ""))
        if cell not in self._service_labels:
            self._service_labels[cell] = _service_category(facts)
        return self._service_labels[cell]

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
    """Everything the run page shows, from the run's stored files alone.

    A run with a summary (`registry.scenarios.summary`) is read without its problem file.
    """
    summary = run_summary.loads(run.summary_json)
    view = RunView(
        run=run,
        # The summary holds the result without its tables, and its tables compact.
        result=summary["result"] if summary is not None else _loads(run.result_json),
        # The summary holds the report without what only its own computation needed.
        report=summary["report"] if summary is not None else _loads(run.report_json) or {},
        summary=summary,
    )
    schools, services = view.schools, view.services
    view.excluded = [
        {"key": key, **facts} for key, facts in schools.items() if facts.get("excluded")
    ]
    if view.summary is not None:
        without = view.summary["without_service"]
    elif not view.result:
        # No result, no summary: only the schools no service reaches are read of the problem.
        eligible_somewhere = {
            s for entry in view.problem.get("services", []) for s in eligible_schools(entry)
        }
        without = [
            key
            for key, facts in schools.items()
            if not facts.get("excluded") and key not in eligible_somewhere
        ]
    else:
        without = view.figures["without_service"]
    view.without_service = [{"key": key, **schools[key]} for key in without]
    if not view.result:
        return view
    result = view.result
    # Only keys with a unit: a bare word ("mentoring") may be part of any sentence.
    categories = [key for key in view.figures["categories"] if ":" in key]
    for category, figures in result.get("categories", {}).items():
        view.category_rows.append(
            {"category": category, **_category_fields(category, services), **figures}
        )
    names = view.names = Names(
        schools={k: f.get("name", k) for k, f in schools.items()},
        services={k: f.get("name", k) for k, f in services.items()},
    )
    view.categories = categories
    # Labels are worded once per category, not once per row (thousands at state scale).
    labels: dict[str, dict[str, str]] = {}

    def category_fields(key: str) -> dict[str, str]:
        if key not in labels:
            labels[key] = _category_fields(key, services)
        return labels[key]

    if summary is not None:
        view.allocations = run_summary.allocation_lines(summary["allocations"])
        used: dict[str, float] = summary["used"]
        rows: list[dict[str, Any]] = [
            dict(zip(run_summary.SCHOOL_COLUMNS, row, strict=True)) for row in summary["schools"]
        ]
        for index, why in summary["why"].items():
            rows[int(index)]["why_text"] = why  # read when the row is shown (`worded`)
    else:
        view.allocations = [
            [a["service"], a["school"], a["amount"]] for a in result.get("allocations", [])
        ]
        used = defaultdict(float)
        for allocation in result.get("allocations", []):
            used[allocation["service"]] += allocation["amount"]
        rows = result.get("schools", [])
    for row in rows:
        facts = schools.get(row["school"], {})
        enrollment = facts.get("enrollment") or 0
        line = {
            **row,
            **category_fields(row["category"]),
            "name": facts.get("name", row["school"]),
            "school_id": facts.get("id"),
            "need": facts.get("need"),
            "enrollment": enrollment,
            "per_student": row["allocated"] / enrollment if enrollment else None,
        }
        # The engine's `why` is worded for the rows shown (`worded`), not for every row.
        line["engine_why"] = line.pop("why", None)
        # More than one seat per enrolled student in a category: flagged on the page.
        line["over_one"] = (
            line["unit"] == SEATS
            and line["per_student"] is not None
            and line["per_student"] > 1 + 1e-9
        )
        view.school_rows.append(line)
    for key, facts in services.items():
        capacity = facts["capacity"]
        view.service_rows.append(
            {
                "key": key,
                **facts,
                **view.service_category(facts),
                "used": used.get(key, 0),
                "utilisation": used.get(key, 0) / capacity if capacity else None,
            }
        )
    view.conflicts = _conflicts(view, categories, names)
    return view


def worded(view: RunView, row: dict[str, Any]) -> dict[str, Any]:
    """A school row with its `why` in the reader's language, worded from the engine's
    clauses (older runs have only its English sentence). The row itself, for chaining."""
    if "why" not in row:
        if "why_text" in row:
            why = json.loads(row.pop("why_text"))
            row["why_codes"], row["engine_why"] = why.get("codes"), why.get("text")
        codes = run_summary.full_codes(row.get("why_codes") or [])
        row["why"] = engine_why(codes, view.names) or _in_words(
            row.get("engine_why"), view.categories
        )
    return row


def _category_fields(key: str, services: dict[str, Any]) -> dict[str, str]:
    """A problem category's label, registry category and unit, for tables and exports."""
    try:
        category, unit = split_category_key(key)
    except ValueError:
        # A run stored before categories carried their unit: the unit of its services.
        unit_value = next((f["unit"] for f in services.values() if f.get("category") == key), "")
        return {
            "category_label": category_label(key),
            "registry_category": key,
            "unit": unit_value,
            "unit_label": unit_label(unit_value),
        }
    return {
        "category_label": category_label(key),
        "registry_category": category.value,
        "unit": unit.value,
        "unit_label": unit.label,
    }


def unit_label(value: str) -> str:
    """A unit in the reader's words ("plazas"), or as stored when the registry doesn't know it."""
    return Unit(value).label if value in Unit._value2member_map_ else value


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
        "unit_label": unit_label(unit),
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


def _conflicts(view: RunView, categories: list[str], names: Names) -> list[dict[str, Any]]:
    """The engine's conflicts, with what each names: limit numbers and the locks' MOUs."""
    locks = {note["lock_index"]: note for note in view.report.get("locks", []) if note["kept"]}
    rows = []
    for conflict in view.result.get("conflicts", []) if view.result else []:
        rows.append(
            {
                "category": conflict["category"],
                "category_label": category_label(conflict["category"]),
                "message": (conflict.get("code") and engine_conflict(conflict["code"], names))
                or _in_words(conflict["message"], categories),
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


# --- the run page: progress, summary and the school table -------------------------------------

SHORT_SCHOOLS = 5  # schools furthest below target named in each category's summary
ROWS_PER_PAGE = 50  # rows of each results table on one page

# The school table's sorts: text by its lower case, numbers as numbers, empty values last.
SCHOOL_SORTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "school": lambda r: str(r["name"]).casefold(),
    "category": lambda r: str(r["category_label"]).casefold(),
    "need": lambda r: r["need"],
    "enrollment": lambda r: r["enrollment"],
    "weight": lambda r: r["weight"],
    "target": lambda r: r["target"],
    "allocated": lambda r: r["allocated"],
    "per_student": lambda r: r["per_student"],
    "short": lambda r: r["target"] - r["allocated"],
}
DEFAULT_SCHOOL_SORT = "school"


def progress_of(run: ScenarioRun, now: datetime | None = None) -> dict[str, Any]:
    """How far a run has come, in words and figures (the run page and its status.json)."""
    since = run.started_at or run.created_at
    end = run.finished_at or now or utcnow()
    elapsed = max(0, int((end - since).total_seconds())) if since else 0
    took = format_timedelta(timedelta(seconds=elapsed), granularity="second", threshold=1.5)
    # While a worker builds the problem, its note says how big it is (for the text, below).
    building = _stored_message(run.progress, "building")
    if run.status.finished:
        if run.result_json:
            text = _("Results ready.")
        elif run.status == RunStatus.FAILED:
            text = _("The run failed.")
        else:
            text = _("The run timed out.")
    elif (run.stage == RunStage.WAITING or run.status == RunStatus.QUEUED) and (
        ahead := waiting_ahead(run)
    ):
        text = ngettext(
            "Waiting: %(num)s run ahead. Time so far: %(took)s.",
            "Waiting: %(num)s runs ahead. Time so far: %(took)s.",
            ahead,
            took=took,
        )
    elif run.stage == RunStage.WAITING:
        text = _("Waiting for a worker. Time so far: %(took)s.", took=took)
    elif run.stage == RunStage.BUILDING:
        size = building.get("params", {}) if building else {}
        text = (
            _(
                "Building the problem. Schools: %(schools)s; services: %(services)s. "
                "Time so far: %(took)s.",
                schools=formats.integer(size.get("schools", 0)),
                services=formats.integer(size.get("services", 0)),
                took=took,
            )
            if building
            else _("Building the problem. Time so far: %(took)s.", took=took)
        )
    else:
        text = _(
            "%(stage)s: %(done)s of %(total)s categories done. Time so far: %(took)s.",
            stage=run.stage.label,
            done=run.categories_done,
            total=run.categories_total,
            took=took,
        )
    return {
        "status": run.status.value,
        "status_label": str(run.status.label),
        "finished": run.status.finished,
        "stage": run.stage.value,
        "stage_label": str(run.stage.label),
        "categories_done": run.categories_done,
        "categories_total": run.categories_total,
        "elapsed_s": elapsed,
        "took": took,
        "text": text,
        "note": "" if building else in_words(run.progress),
    }


def _stored_message(stored: str | None, code: str) -> dict[str, Any] | None:
    """A run's stored note when it is the message `code` (see registry.scenarios.messages)."""
    if not stored or not stored.startswith("{"):
        return None
    try:
        parsed = json.loads(stored)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) and parsed.get("code") == code else None


# The engine's stages (its result's `stage`: the last one a category completed), in words.
STAGE_WORDS = {
    "placed": _l("As much as possible placed"),
    "shared": _l("Shared by need"),
    "shared_floor": _l("Shared by need, then the floor lifted"),
    "floor": _l("Floor lifted"),
    "floor_shared": _l("Floor lifted, then the rest shared by need"),
}


def stage_words(figures: dict[str, Any]) -> str:
    """How far the engine got with a category, in words ("" for runs from before stages)."""
    words = STAGE_WORDS.get(figures.get("stage") or "")
    if words is None:
        return ""
    if figures.get("status") == "time_limit":
        return _("%(stage)s (stopped by the time limit)", stage=words)
    return str(words)


UNPLACED_REASONS = run_summary.UNPLACED_REASONS


def unplaced(view: RunView) -> dict[str, dict[str, float]]:
    """Per problem category, the capacity its services did not place, by reason
    (`registry.scenarios.summary.unplaced`): from the run's summary when it has one."""
    if not view.result:
        return {}
    return view.figures["unplaced"]


def unplaced_words(category: str, reason: str, amount: float, saturation: float | None) -> str:
    """Why some of a category's capacity stayed unplaced, in a sentence.

    ("2,310 seats of College & career stayed unplaced: every eligible school already
    has a seat per student.")
    """
    fields = _category_fields(category, {})
    values: dict[str, Any] = {
        "amount": formats.amount(amount),
        "unit": str(fields["unit_label"]).lower(),
        "category": _category_name(category),
    }
    one = saturation is None or abs(saturation - 1) < 1e-9
    per = formats.number(saturation or 1, trim=True)
    if reason == "saturation":
        if one:
            return _(
                "%(amount)s %(unit)s of %(category)s stayed unplaced: every eligible school "
                "already has a seat per student.",
                **values,
            )
        return _(
            "%(amount)s %(unit)s of %(category)s stayed unplaced: every eligible school "
            "already has %(per)s seats per student.",
            per=per,
            **values,
        )
    if reason == "saturation_site":
        if one:
            return _(
                "%(amount)s %(unit)s of %(category)s stayed unplaced: every eligible school "
                "already has a seat per student or has reached its site capacity.",
                **values,
            )
        return _(
            "%(amount)s %(unit)s of %(category)s stayed unplaced: every eligible school "
            "already has %(per)s seats per student or has reached its site capacity.",
            per=per,
            **values,
        )
    if reason == "site":
        return _(
            "%(amount)s %(unit)s of %(category)s stayed unplaced: every eligible school has "
            "reached its site capacity.",
            **values,
        )
    if reason == "threshold":
        return _(
            "%(amount)s %(unit)s of %(category)s stayed unplaced: the schools its services "
            "could reach are below the need threshold.",
            **values,
        )
    if reason == "no_school":
        return _(
            "%(amount)s %(unit)s of %(category)s stayed unplaced: no school taking part is "
            "eligible for its services.",
            **values,
        )
    if reason == "locks_limits":
        return _(
            "%(amount)s %(unit)s of %(category)s stayed unplaced: locks and limits leave no "
            "room at the eligible schools.",
            **values,
        )
    return _(
        "%(amount)s %(unit)s of %(category)s stayed unplaced within the run's rules "
        "(whole seats, time limit).",
        **values,
    )


def _category_name(key: str) -> str:
    try:
        return str(split_category_key(key)[0].label)
    except ValueError:
        return category_label(key)


FLOOR_FIGURES = 3  # significant digits of a floor: 0.0418 seats, 4.33 (not 4.3336)


def floor_words(min_coverage: float | None, unit: str) -> str | None:
    """A category's floor (the engine's `min_coverage`) in words, in its unit: "at least
    0.0898 seats per unit of weight"; None when the run did not report one."""
    if min_coverage is None:
        return None
    if min_coverage <= 0:
        return _("0: at least one eligible school gets nothing")
    return _(
        "at least %(amount)s per unit of weight",
        amount=formats.quantity(min_coverage, unit, figures=FLOOR_FIGURES),
    )


def weight_rule_label(view: RunView) -> str | None:
    """What the run's school weights are, in words ("Enrollment × need"); None for a run
    whose report does not say."""
    rule = (view.report.get("settings") or {}).get("weight_rule")
    try:
        return WeightRule(str(rule)).label
    except ValueError:
        return None


def category_summary(view: RunView, short: int = SHORT_SCHOOLS) -> list[dict[str, Any]]:
    """Per category: placed of capacity, gap, floor (and in words), how far the engine
    got, the schools furthest below target, why capacity stayed unplaced and how many
    schools receive more than a seat per student."""
    below: dict[str, list[dict[str, Any]]] = defaultdict(list)
    over_one: dict[str, int] = defaultdict(int)
    for row in view.school_rows:
        if row["target"] - row["allocated"] > 1e-9:
            below[row["category"]].append(row)
        if row.get("over_one"):
            over_one[row["category"]] += 1
    left = unplaced(view)
    saturation = view.report.get("settings", {}).get("saturation")
    return [
        {
            **row,
            "unplaced": [
                unplaced_words(row["category"], reason, left[row["category"]][reason], saturation)
                for reason in UNPLACED_REASONS
                if reason in left.get(row["category"], {})
            ],
            "over_one": over_one.get(row["category"], 0),
            "stage_words": stage_words(row),
            "floor_words": floor_words(row.get("min_coverage"), row.get("unit", "")),
            "furthest_below": sorted(
                below.get(row["category"], []),
                key=lambda r: (r["allocated"] - r["target"], str(r["name"]).casefold()),
            )[:short],
        }
        for row in sorted(view.category_rows, key=lambda r: str(r["category_label"]).casefold())
    ]


RowPage = Page[dict[str, Any]]


def school_page(
    view: RunView, sort: str | None, page: int | None, per_page: int = ROWS_PER_PAGE
) -> tuple[RowPage, Sorting]:
    """One page of the school table, sorted by the `sort` argument ("-need": descending)."""
    raw = sort or DEFAULT_SCHOOL_SORT
    descending = raw.startswith("-")
    key = raw.lstrip("-")
    if key not in SCHOOL_SORTS:
        key, descending = DEFAULT_SCHOOL_SORT, False
    value = SCHOOL_SORTS[key]
    present = [r for r in view.school_rows if value(r) is not None]
    missing = [r for r in view.school_rows if value(r) is None]
    # A stable sort by name first, so equal values list their schools in one order.
    present.sort(key=lambda r: (str(r["name"]).casefold(), r["category"]))
    present.sort(key=value, reverse=descending)
    rows = present + missing  # empty values last either way
    shown = page_of(rows, page, per_page)
    for row in shown.items:
        worded(view, row)
    return shown, Sorting(key, descending)


def page_of(rows: Sequence[T], page: int | None, per_page: int) -> Page[T]:
    """One page of rows (a page out of range: the nearest one)."""
    pages = page_count(len(rows), per_page)
    number = min(max(page or 1, 1), pages)
    start = (number - 1) * per_page
    return Page(list(rows[start : start + per_page]), number, per_page, len(rows))


def line_page(view: RunView, page: int | None, per_page: int = ROWS_PER_PAGE) -> RowPage:
    """One page of the proposal's lines, worded (only its rows)."""
    lines = page_of(view.allocations, page, per_page)
    return RowPage(
        [view.allocation_row(line) for line in lines.items], lines.page, per_page, lines.total
    )
