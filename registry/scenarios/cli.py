"""`flask --app registry allocate`: a scenario run from the command line, for analysts.

It builds the problem exactly as the web does (`registry.scenarios.problem`),
stores a scenario and its run as the web does (audited as the command line),
solves it in this process and writes the run's `problem.json` and
`result.json` into the output folder, byte for byte what the run page offers
for download. Exit status, as ``python -m allocation``: 0 when solved
(optimal or within the time limit), 3 when no allocation meets every lock and
limit, 1 for anything that stops it before a result (a bad option, a problem
that cannot be built).
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from registry.audit import Actor, acting_as
from registry.extensions import db
from registry.models.need import NeedIndexDefinition
from registry.models.scenario import Objective, RunStatus, ScenarioRun, SolverChoice, WeightRule
from registry.refusals import Refused
from registry.scenarios.messages import in_words
from registry.scenarios.runner import solve_run, start_run
from registry.scenarios.services import create_scenario
from registry.schoolyear import is_school_year
from registry.vocabulary import Category

CLI_ACTOR = Actor(None, "cli")
INFEASIBLE_EXIT = 3


def find_definition(name: str) -> NeedIndexDefinition:
    """The latest version of the need index definition of that name (or title), any case."""
    wanted = name.strip().casefold()
    rows = db.session.scalars(
        select(NeedIndexDefinition).order_by(
            NeedIndexDefinition.name, NeedIndexDefinition.version.desc()
        )
    ).all()
    for row in rows:
        if wanted in (row.name.casefold(), row.title.casefold()):
            return row
    known = ", ".join(sorted({f'"{row.name}"' for row in rows})) or "none"
    raise click.BadParameter(f"no need index definition {name!r} (known: {known})")


def allocate(
    year: str,
    objective: str,
    categories: list[str],
    definition: NeedIndexDefinition | None,
    name: str | None = None,
    saturation: Decimal | None = Decimal(1),
    keep_locks: bool = True,
    time_limit_s: int = 60,
) -> ScenarioRun:
    """Store a scenario with these settings and one run of it, built and solved here (no commit)."""
    values: dict[str, Any] = {
        "name": name or f"allocate {year} ({objective}, command line)",
        "school_year": year,
        "need_definition_id": definition.id if definition else None,
        "weight_rule": WeightRule.ENROLLMENT_X_NEED,
        "need_threshold": Decimal(0),
        "categories": sorted(categories),
        "service_ids": [],
        "require_service_area": True,
        "keep_commitments_as_locks": keep_locks,
        "saturation": saturation,
        "objective": Objective(objective),
        "solver": SolverChoice.HIGHS,
        "time_limit_s": time_limit_s,
        "limits": [],
    }
    scenario = create_scenario(values, by=None)
    run = start_run(scenario, by=None)
    if run.status != RunStatus.FAILED:
        solve_run(run)
    db.session.flush()
    return run


def _saturation(value: str) -> Decimal | None:
    if value.strip().lower() in ("", "none"):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"not a number: {value!r}") from None
    if not number.is_finite() or not Decimal("0.01") <= number <= 1000:
        raise click.BadParameter("give a number from 0.01 to 1000, or none")
    return number


@click.command("allocate")
@click.option("--year", required=True, help="School year, like 2025-26.")
@click.option(
    "--objective",
    type=click.Choice([o.value for o in Objective]),
    default=Objective.PROPORTIONAL.value,
    show_default=True,
)
@click.option(
    "--need-definition",
    "need_definition",
    default=None,
    help="Need index definition by name (its latest version); default: the default index.",
)
@click.option(
    "--category",
    "categories",
    multiple=True,
    type=click.Choice([c.value for c in Category]),
    help="A category to allocate (repeat for more); default: all.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for problem.json and result.json (created if missing).",
)
@click.option("--name", default=None, help="The stored scenario's name.")
@click.option(
    "--saturation",
    default="1",
    show_default=True,
    help="Seats per student, per category (none: no bound).",
)
@click.option(
    "--release-commitments",
    is_flag=True,
    help="Take this year's commitments off the capacities instead of keeping them as locks.",
)
@click.option("--time-limit", "time_limit", type=click.IntRange(1, 3600), default=60)
def allocate_command(
    year: str,
    objective: str,
    need_definition: str | None,
    categories: tuple[str, ...],
    out: Path,
    name: str | None,
    saturation: str,
    release_commitments: bool,
    time_limit: int,
) -> None:
    """Build the year's allocation problem as the web does, solve it, store the run and
    write problem.json and result.json into OUT."""
    if not is_school_year(year):
        raise click.BadParameter("give a school year like 2025-26", param_hint="--year")
    definition = find_definition(need_definition) if need_definition else None
    bound = _saturation(saturation)
    try:
        with acting_as(CLI_ACTOR):
            run = allocate(
                year,
                objective,
                list(categories),
                definition,
                name=name,
                saturation=bound,
                keep_locks=not release_commitments,
                time_limit_s=time_limit,
            )
            db.session.commit()
    except Refused as err:
        db.session.rollback()
        raise click.ClickException(str(err)) from err
    if run.status == RunStatus.FAILED or not run.result_json:
        raise click.ClickException(f"run {run.id} failed: {in_words(run.error)}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "problem.json").write_text(run.problem_json or "", encoding="utf-8")
    (out / "result.json").write_text(run.result_json, encoding="utf-8")
    result = json.loads(run.result_json)
    click.echo(
        f"Scenario {run.scenario_id}, run {run.id}: {result['status']}; "
        f"{run.eligible_pairs} eligible pairs; files in {out}"
    )
    for category, figures in sorted(result.get("categories", {}).items()):
        click.echo(
            f"  {category}: placed {figures['placed']:g} of {figures['capacity']:g}, "
            f"gap {figures['gap']:.4f}"
        )
    if result["status"] == "infeasible":
        raise SystemExit(INFEASIBLE_EXIT)
