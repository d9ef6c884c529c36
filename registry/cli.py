"""Command-line commands: `flask --app registry seed-demo | seed-scale | create-user | ...`.

Each command parses its arguments, calls one service function, commits once
and prints what happened; the work itself lives in the service modules.
"""

from __future__ import annotations

import click
from flask import Flask

from registry.audit import Actor, acting_as
from registry.extensions import db
from registry.mfa.cli import mfa_reset_command
from registry.programs.cli import import_partner_programs_command
from registry.reminders.cli import send_reminders_command
from registry.scenarios.cli import allocate_command
from registry.seclog.cli import verify_audit_command

CLI_ACTOR = Actor(None, "cli")


def register_commands(app: Flask) -> None:
    """Attach the commands to the app."""
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(seed_scale_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(import_schools_command)
    app.cli.add_command(import_partner_programs_command)
    app.cli.add_command(allocate_command)
    app.cli.add_command(send_reminders_command)
    app.cli.add_command(mfa_reset_command)
    app.cli.add_command(verify_audit_command)


@click.command("seed-demo")
@click.option(
    "--password", default=None, help="Password for every demo account (generated if omitted)."
)
def seed_demo_command(password: str | None) -> None:
    """Build the fictional demo district (safe to run again: nothing is duplicated)."""
    from registry.demo import seed_demo

    with acting_as(CLI_ACTOR):
        report = seed_demo(password=password)
        db.session.commit()
    click.echo(report.describe())


@click.command("seed-scale")
@click.option("--schools", default=1850, show_default=True, type=click.IntRange(1, 9999),
              help="Schools; partners, services, MOUs and commitments scale with it.")  # fmt: skip
@click.option("--seed", default=20261130, show_default=True, type=int, help="Random seed.")
@click.option("--password", default=None, help="Password for every account (generated if omitted).")
def seed_scale_command(schools: int, seed: int, password: str | None) -> None:
    """Build a fictional state-sized registry on an empty, migrated database."""
    import sys
    import time

    from registry.refusals import Refused
    from registry.scale import analyze_tables, seed_scale

    started = time.perf_counter()
    try:
        with acting_as(CLI_ACTOR):
            report = seed_scale(schools=schools, seed=seed, password=password, actor=CLI_ACTOR)
            db.session.commit()
    except Refused as err:
        db.session.rollback()
        click.echo(str(err), err=True)
        sys.exit(2)
    analyze_tables()
    report.seconds = time.perf_counter() - started
    click.echo(report.describe())


@click.command("create-user")
@click.argument("email")
@click.option(
    "--role", required=True, type=click.Choice(["admin", "coordinator", "leader", "partner"])
)
@click.option("--partner", "partner_id", type=int, default=None, help="Partner id (partner role).")
@click.option("--name", default="", help="Display name.")
@click.password_option(help="Password (asked for if omitted).")
def create_user_command(
    email: str, role: str, partner_id: int | None, name: str, password: str
) -> None:
    """Create an account."""
    from registry.refusals import Refused
    from registry.users.services import create_user

    try:
        with acting_as(CLI_ACTOR):
            user = create_user(
                email=email, role=role, partner_id=partner_id, name=name, password=password
            )
            db.session.commit()
    except Refused as err:
        db.session.rollback()
        raise click.ClickException(str(err)) from err
    click.echo(f"Created {user.role.value} account {user.email} (id {user.id}).")


@click.command("import-schools")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--year", default=None, help="School year of the file's indicators, like 2025-26.")
@click.option(
    "--district",
    default=None,
    help="4-digit DESE district code whose rows to import (default: config DISTRICT_CODE).",
)
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@click.option(
    "--clear-empty",
    multiple=True,
    metavar="FIELD",
    help="Clear FIELD (address, zip, pct_...) where the file leaves it empty. Repeatable.",
)
def import_schools_command(
    path: str, year: str | None, district: str | None, dry_run: bool, clear_empty: tuple[str, ...]
) -> None:
    """Merge schools from a DESE report, portal export or the registry's export (CSV or XLSX).

    A file changes only the fields it has columns for; a bad row writes nothing.
    """
    from pathlib import Path

    from flask import current_app

    from registry.refusals import Refused
    from registry.schools.import_plan import (
        CLEARABLE,
        ImportPlan,
        apply_plan,
        plan_upload,
        summary_lines,
    )
    from registry.schools.importer import ReadOptions, parse_district
    from registry.schoolyear import is_school_year

    if year is not None and not is_school_year(year):
        raise click.BadParameter(
            f"{year!r} is not a school year like 2025-26.", param_hint="--year"
        )
    unknown = [name for name in clear_empty if name not in CLEARABLE]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)}: not one of {', '.join(CLEARABLE)}.", param_hint="--clear-empty"
        )
    try:
        options = ReadOptions(
            school_year=year,
            district=parse_district(district or current_app.config.get("DISTRICT_CODE")),
        )
        with acting_as(CLI_ACTOR):
            # The same reading as the web upload: CSV (UTF-8, or Excel's cp1252) or XLSX.
            plan = plan_upload(Path(path).read_bytes(), options, clear_empty, ask=False)
            assert isinstance(plan, ImportPlan)  # without asking, unknown columns are ignored
            if dry_run:
                db.session.rollback()
            else:
                apply_plan(plan)
                db.session.commit()
    except Refused as err:
        db.session.rollback()
        raise click.ClickException(str(err)) from err
    for line in summary_lines(plan, done=not dry_run):
        click.echo(line)
    if dry_run:
        click.echo("Dry run: nothing was written.")
