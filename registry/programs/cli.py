"""`flask --app registry import-partner-programs FILE [--dry-run] [--year] [--match]`."""

from __future__ import annotations

from pathlib import Path

import click
from flask_babel import gettext as _
from flask_babel import ngettext

from registry.audit import Actor, acting_as
from registry.extensions import db
from registry.programs import services
from registry.programs.importer import ListingRefused, read_listing
from registry.programs.matching import SchoolMatcher
from registry.schoolyear import is_school_year

CLI_ACTOR = Actor(None, "cli")


def plan_lines(plan: services.ImportPlan) -> list[str]:
    """The preview as text: the summary, then each new or changed record, skip and name."""
    lines = list(plan.describe())
    for partner in plan.partners_with(new=True):
        lines.append("  " + _("new partner: %(name)s", name=partner.name))
    for service in plan.services:
        if service.status == "new":
            lines.append(
                "  "
                + _(
                    "new service: %(partner)s — %(name)s (%(category)s)",
                    partner=service.partner.name,
                    name=service.name,
                    category=services.shown(service.values["category"]),
                )
            )
        for change in service.changes:
            lines.append(
                "  "
                + _(
                    "changed service: %(partner)s — %(name)s: %(field)s %(old)s → %(new)s",
                    partner=service.partner.name,
                    name=service.name,
                    field=change.label,
                    old=services.shown(change.old),
                    new=services.shown(change.new),
                )
            )
    for offering in plan.offerings_with("changed"):
        for change in offering.changes:
            lines.append(
                "  "
                + _(
                    "changed offering: %(name)s at %(school)s: %(field)s %(old)s → %(new)s",
                    name=offering.service.name,
                    school=offering.school.name,
                    field=change.label,
                    old=services.shown(change.old),
                    new=services.shown(change.new),
                )
            )
    if plan.kept:
        lines.append(
            ngettext(
                "%(num)s offering at a school this file does not list is kept as it is.",
                "%(num)s offerings at schools this file does not list are kept as they are.",
                len(plan.kept),
            )
        )
    for area in plan.areas:
        if area.source == "fallback":
            lines.append(
                _(
                    "Program area '%(area)s' is not mapped: %(category)s for now.",
                    area=area.area,
                    category=area.category.label,
                )
            )
    for skipped in plan.skipped:
        lines.append(_("Skipped row %(row)s: %(reason)s", row=skipped.line, reason=skipped.reason))
    if plan.review:
        lines.append(_("School names to match (name, school code in a --match file):"))
        for name in plan.review:
            lines.append(
                "  "
                + _(
                    "%(name)s (rows %(rows)s)",
                    name=name.name,
                    rows=", ".join(str(n) for n in name.lines),
                )
            )
    return lines


@click.command("import-partner-programs")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--year", "school_year", default=None, help="School year, like 2025-26.")
@click.option(
    "--match",
    "match_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="CSV of (school name as the listing writes it, DESE or local school code).",
)
def import_partner_programs_command(
    path: str, dry_run: bool, school_year: str | None, match_path: str | None
) -> None:
    """Import partners, services and per-school offerings from a PartnerBPS-style listing."""
    if school_year is not None and not is_school_year(school_year):
        raise click.BadParameter(_("a school year like 2025-26"), param_hint="--year")
    try:
        listing = read_listing(Path(path).read_bytes())
    except ListingRefused as err:
        raise click.ClickException(str(err)) from err
    matcher = SchoolMatcher.load()
    choices: dict[str, int] = {}
    if match_path is not None:
        choices, problems = services.read_match_file(Path(match_path).read_bytes(), matcher)
        if problems:
            raise click.ClickException("; ".join(problems))
    with acting_as(CLI_ACTOR):
        plan = services.build_plan(listing, school_year, choices, matcher)
        for line in plan_lines(plan):
            click.echo(line)
        if dry_run:
            db.session.rollback()
            click.echo(_("Dry run: nothing was written."))
            return
        services.apply_plan(plan)
        db.session.commit()
    if plan.changes_anything:
        click.echo(_("Imported."))
    else:
        click.echo(_("Nothing to change: all is as the file says."))
