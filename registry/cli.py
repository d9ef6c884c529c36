"""Command-line commands: `flask --app registry seed-demo | create-user | import-schools`.

Each command parses its arguments, calls one service function, commits once
and prints what happened; the work itself lives in the service modules.
"""

from __future__ import annotations

import click
from flask import Flask

from registry.audit import Actor, acting_as
from registry.extensions import db
from registry.programs.cli import import_partner_programs_command
from registry.reminders.cli import send_reminders_command

CLI_ACTOR = Actor(None, "cli")


def register_commands(app: Flask) -> None:
    """Attach the commands to the app."""
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(import_schools_command)
    app.cli.add_command(import_partner_programs_command)
    app.cli.add_command(send_reminders_command)


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
def import_schools_command(path: str) -> None:
    """Upsert schools from a DESE-style CSV or XLSX; a file with a bad row writes nothing."""
    from pathlib import Path

    from registry.schools.importer import ImportRefused, import_upload

    try:
        with acting_as(CLI_ACTOR):
            # The same reading as the web upload: CSV (UTF-8, or Excel's cp1252) or XLSX.
            report = import_upload(Path(path).read_bytes())
            db.session.commit()
    except ImportRefused as err:
        db.session.rollback()
        raise click.ClickException(str(err)) from err
    click.echo(report.describe())
