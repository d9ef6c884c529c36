"""`flask mfa-reset EMAIL`: turn off a user's two-step sign-in (lost phone and codes)."""

from __future__ import annotations

import click

from registry import security_log
from registry.audit import Actor, acting_as
from registry.extensions import db
from registry.mfa import services
from registry.users.services import find_by_email

CLI_ACTOR = Actor(None, "cli")


@click.command("mfa-reset")
@click.argument("email")
def mfa_reset_command(email: str) -> None:
    """Remove EMAIL's authenticator key and recovery codes; they set it up again at sign-in.

    Check who is asking first (in person, or by phone at a known number): this command
    undoes what protects an account whose password may be known to someone else.
    """
    user = find_by_email(email)
    if user is None:
        raise click.ClickException(f"No account has the email {email}.")
    with acting_as(CLI_ACTOR):
        removed = services.reset(user)
        db.session.commit()
    if removed:
        security_log.record("mfa.reset", user_id=user.id, email=user.email, by="cli")
        click.echo(f"Two-step sign-in of {user.email} is reset.")
    else:
        click.echo(f"{user.email} had no two-step sign-in set up.")
