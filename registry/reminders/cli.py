"""`flask --app registry send-reminders`: mail what is due, once; meant to run daily from cron."""

from __future__ import annotations

from datetime import date, datetime

import click
from sqlalchemy.exc import IntegrityError

from registry import district_time
from registry.audit import Actor, acting_as
from registry.extensions import db
from registry.mail import MailError
from registry.reminders import services
from registry.reminders.services import Delivery

REMINDERS_ACTOR = Actor(None, "cli:send-reminders")


def _describe(delivery: Delivery) -> str:
    reminder = delivery.reminder
    lead = f"{reminder.lead_days} days" if reminder.lead_days else "now"
    return (
        f"{reminder.kind.value} ({lead}): {reminder.title}, {reminder.due_date.isoformat()}"
        f" -> {delivery.recipient.email}"
    )


@click.command("send-reminders")
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The day to remind as of (YYYY-MM-DD; default: today in the district).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be sent; send and record nothing.")
def send_reminders_command(today: datetime | None, dry_run: bool) -> None:
    """Mail the reminders due (MOUs ending, paperwork expiring, documents and approvals
    waiting) and add them to users' notifications. Safe to run again: nothing is sent twice,
    and a message that failed is tried again on the next run."""
    day: date = today.date() if today else district_time.today()
    with acting_as(REMINDERS_ACTOR):
        plan = services.plan(day)
        if dry_run:
            for delivery in plan.deliveries:
                click.echo(f"Would send {_describe(delivery)}")
            click.echo(
                f"Dry run for {day.isoformat()}: {len(plan.reminders)} reminders due, "
                f"{len(plan.deliveries)} messages to send, {plan.already_sent} sent before."
            )
            db.session.rollback()
            return
        notified = services.notify(plan)
        db.session.commit()
        sent = 0
        failed: list[tuple[Delivery, str]] = []
        for delivery in plan.deliveries:
            try:
                services.deliver(delivery, day)
            except MailError as err:
                db.session.rollback()  # not logged: the next run tries it again
                failed.append((delivery, str(err)))
                click.echo(f"FAILED {_describe(delivery)}: {err}", err=True)
                continue
            except IntegrityError:
                db.session.rollback()  # another run logged (and sent) it meanwhile
                plan.already_sent += 1
                continue
            db.session.commit()
            sent += 1
            click.echo(f"Sent {_describe(delivery)}")
    click.echo(
        f"Reminders for {day.isoformat()}: {len(plan.reminders)} due, {sent} messages sent, "
        f"{len(failed)} failed, {plan.already_sent} sent before; {notified} new notifications."
    )
    if failed:
        raise click.ClickException(
            f"{len(failed)} messages could not be sent; the next run tries them again."
        )
