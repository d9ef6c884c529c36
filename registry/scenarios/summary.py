"""What a finished run's pages need of its problem file, computed once when the run finishes.

The problem file of a state-sized run is tens of megabytes (every eligible school of every
service). The run page and the compare page need only a few figures of it: the categories,
the schools no service reaches, the capacity left unplaced and why, and per category the
eligible schools' weights, capacity and unit. The worker computes them when it stores the
result (`registry.scenarios.runner.solve_run`) and keeps them on the run (`summary_json`), so
a page reads the summary, never the problem. Runs finished before summaries were kept have
none: their pages compute the same figures from the problem, in memory (a GET never writes).

Everything here is in the run's keys and numbers, never in words: the pages word it in the
reader's language.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from registry.scenarios.messages import LISTED_SERVICES
from registry.scenarios.problem import SATURATION_PREFIX, eligible_schools

VERSION = 3
# The result's tables, kept compact: one list per row, in these columns.
SCHOOL_COLUMNS = ("school", "category", "weight", "target", "allocated")
# The engine's clauses that list services: the pages name at most this many and count the
# rest (registry.scenarios.messages.LISTED_SERVICES), so the summary keeps only these.
LISTED = LISTED_SERVICES
LISTING_CODES = ("full", "locks_fix")
# What of a run's report only the summary's own computation reads.
PAGE_LESS = ("bounds",)

# Why capacity stayed unplaced, most specific first (see `unplaced`).
UNPLACED_REASONS = (
    "threshold",
    "no_school",
    "saturation",
    "site",
    "saturation_site",
    "locks_limits",
    "other",
)


def summarise(
    problem: dict[str, Any], result: dict[str, Any], report: dict[str, Any]
) -> dict[str, Any]:
    """The figures of a run's problem its pages need, beside its result and report."""
    return _assemble(problem, report, _lean(result), result_tables(result))


def summarise_files(problem: str, result: str, report: str) -> dict[str, Any]:
    """`summarise` from the run's stored files, each parsed when needed and the result let go
    before the problem is parsed (at state scale each is tens of megabytes as JSON, and some
    hundreds as Python objects)."""
    parsed = json.loads(result or "{}")
    tables = result_tables(parsed)
    lean = _lean(parsed)
    del parsed
    return _assemble(json.loads(problem or "{}"), json.loads(report or "{}"), lean, tables)


def _lean(result: dict[str, Any]) -> dict[str, Any]:
    """What `unplaced` reads of a result (nothing for no result)."""
    return {"allocations": result.get("allocations", [])} if result else {}


def _assemble(
    problem: dict[str, Any],
    report: dict[str, Any],
    result: dict[str, Any],
    tables: dict[str, Any],
) -> dict[str, Any]:
    services = problem.get("services", [])
    eligible_somewhere: set[str] = set()
    eligible: dict[str, set[str]] = defaultdict(set)
    capacity: dict[str, float] = defaultdict(float)
    units: dict[str, str] = {}
    for service in services:
        category = service["category"]
        schools = eligible_schools(service)
        eligible_somewhere.update(schools)
        if service["capacity"] > 0:
            eligible[category].update(schools)
        capacity[category] += float(service["capacity"])
        units.setdefault(category, service.get("unit", ""))
    facts = report.get("schools", {})
    return {
        "version": VERSION,
        "categories": sorted(
            {s["category"] for s in services}
            | {limit["category"] for limit in problem.get("limits", [])}
        ),
        "service_categories": sorted({s["category"] for s in services}),
        "units": units,
        "capacity": dict(capacity),
        "eligible": {category: sorted(keys) for category, keys in eligible.items()},
        "weights": {s["id"]: float(s["weight"]) for s in problem.get("schools", [])},
        "without_service": [
            key
            for key, school in facts.items()
            if not school.get("excluded") and key not in eligible_somewhere
        ],
        "unplaced": unplaced(problem, result, report),
        # The report as the pages read it: without the bounds per service and school (tens
        # of megabytes at state scale), which only `unplaced` reads.
        "report": {key: value for key, value in report.items() if key not in PAGE_LESS},
        **tables,
    }


def result_tables(result: dict[str, Any]) -> dict[str, Any]:
    """What the pages read of the result: all of it but its tables (status, objective,
    figures per category, conflicts), and its tables compact (24 MB at state scale as the
    engine writes them, most of it the services named in `why`)."""
    return {
        "result": {k: v for k, v in result.items() if k not in ("schools", "allocations")},
        "schools": [[row[c] for c in SCHOOL_COLUMNS] for row in result.get("schools", [])],
        # Each row's clauses as JSON text of its own: read only for the rows a page shows.
        "why": {
            str(index): dumps(
                {"codes": [_short(code) for code in row["why_codes"]]}
                if row.get("why_codes")
                else {"text": row["why"]}
            )
            for index, row in enumerate(result.get("schools", []))
            if row.get("why_codes") or row.get("why")
        },
        # One line of text per allocation, "service school amount": split only for the lines
        # a page shows (151,000 lines at state scale).
        "allocations": "\n".join(_line(row) for row in result.get("allocations", [])),
        "used": _used(result),
    }


def _line(row: dict[str, Any]) -> str:
    service, school = str(row["service"]), str(row["school"])
    if len(service.split()) != 1 or len(school.split()) != 1:
        raise ValueError(f"a key with a space: {service!r}, {school!r}")  # no summary, then
    return f"{service} {school} {json.dumps(row['amount'])}"


def allocation_lines(text: str) -> list[str]:
    """A summary's allocations, one "service school amount" line each."""
    return text.split("\n") if text else []


def allocation(line: str) -> tuple[str, str, float]:
    """One allocation line: its service, school and amount (an int when it was one)."""
    service, school, amount = line.split(" ")
    try:
        return service, school, int(amount)
    except ValueError:
        return service, school, float(amount)


def _used(result: dict[str, Any]) -> dict[str, float]:
    used: dict[str, float] = defaultdict(float)
    for allocation in result.get("allocations", []):
        used[allocation["service"]] += allocation["amount"]
    return dict(used)


def _short(code: dict[str, Any]) -> dict[str, Any]:
    """An engine clause with its list of services cut to the ones a page names, and a count."""
    params = code.get("params") or {}
    services = params.get("services")
    if code.get("code") not in LISTING_CODES or not isinstance(services, list):
        return code
    if len(services) <= LISTED:
        return code
    return {
        **code,
        "params": {**params, "services": services[:LISTED], "services_count": len(services)},
    }


def full_codes(codes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A summary's clauses as the engine gave them, for wording: the services a page does not
    name (only counted) stand as blanks."""
    whole = []
    for code in codes:
        params = code.get("params") or {}
        count = params.get("services_count")
        if count is None:
            whole.append(code)
            continue
        named = list(params["services"])
        rest = {k: v for k, v in params.items() if k != "services_count"}
        whole.append({**code, "params": {**rest, "services": named + [""] * (count - len(named))}})
    return whole


def dumps(summary: dict[str, Any]) -> str:
    return json.dumps(summary, ensure_ascii=False, separators=(",", ":"))


def loads(text: str | None) -> dict[str, Any] | None:
    """A stored summary; None when there is none or it is of another version."""
    if not text:
        return None
    try:
        summary = json.loads(text)
    except ValueError:
        return None
    if not isinstance(summary, dict) or summary.get("version") != VERSION:
        return None
    return summary


def unplaced(
    problem: dict[str, Any], result: dict[str, Any] | None, report: dict[str, Any]
) -> dict[str, dict[str, float]]:
    """Per problem category, the capacity its services did not place, by reason.

    A service's unplaced units get one reason: no school taking part is eligible
    for it ("no_school", or "threshold" when the schools it could serve are all
    below the need threshold); or every school eligible for it is full — at its
    per-site max of seats per student ("saturation"), of site capacity ("site"),
    or at the school's seats-per-student limit in the category (also
    "saturation"), some one and some the other ("saturation_site"), or held by a
    lock or a scenario limit ("locks_limits"); else "other" (the whole-seat rule or
    a time limit left it).
    """
    if not result:
        return {}
    placed: dict[tuple[str, str], float] = defaultdict(float)
    used: dict[str, float] = defaultdict(float)
    for row in result.get("allocations", []):
        placed[(row["service"], row["school"])] += row["amount"]
        used[row["service"]] += row["amount"]
    received: dict[tuple[str, str], float] = defaultdict(float)
    services = {s["id"]: s for s in problem.get("services", [])}
    for (service, school), amount in placed.items():
        if service in services:
            received[(school, services[service]["category"])] += amount
    saturation_max: dict[tuple[str, str], float] = {}
    limit_max: dict[tuple[str, str], float] = {}
    for limit in problem.get("limits", []):
        if limit.get("max") is None:
            continue
        cell = (limit["school"], limit["category"])
        bucket = (
            saturation_max if str(limit.get("id", "")).startswith(SATURATION_PREFIX) else limit_max
        )
        bucket[cell] = min(bucket.get(cell, limit["max"]), limit["max"])
    locked = {(lock["service"], lock["school"]) for lock in problem.get("locks", [])}
    bounds = report.get("bounds", {})
    facts = report.get("services", {})

    reasons: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for key, service in services.items():
        left = float(service["capacity"]) - used[key]
        if left <= 1e-6 * max(1.0, float(service["capacity"])):
            continue
        category = service["category"]
        entries = service.get("eligible", [])
        if not entries:
            below = (facts.get(key) or {}).get("below_threshold", 0)
            reasons[category]["threshold" if below else "no_school"] += left
            continue
        kinds: set[str] = set()
        room = False
        for entry in entries:
            school = entry if isinstance(entry, str) else entry["school"]
            most = None if isinstance(entry, str) else entry.get("max")
            amount = placed.get((key, school), 0.0)
            cell = (school, category)
            if (key, school) in locked:
                kinds.add("lock")
            elif most is not None and amount >= most - 1e-6:
                kinds.add(bounds.get(key, {}).get(school, "site"))
            elif cell in saturation_max and received[cell] >= saturation_max[cell] - 1e-6:
                kinds.add("saturation")
            elif cell in limit_max and received[cell] >= limit_max[cell] - 1e-6:
                kinds.add("limit")
            else:
                room = True
        if room:
            reason = "other"
        elif kinds <= {"saturation"}:
            reason = "saturation"
        elif kinds <= {"site"}:
            reason = "site"
        elif kinds <= {"saturation", "site"}:
            reason = "saturation_site"
        else:
            reason = "locks_limits"
        reasons[category][reason] += left
    return {c: dict(r) for c, r in reasons.items()}
