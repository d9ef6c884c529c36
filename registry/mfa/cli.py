"""`flask mfa-reset EMAIL`: reset a user's two-step sign-in (lost phone and codes);
`flask mfa-rotate-key`: re-encrypt the stored secrets under the current key."""

from __future__ import annotations

import click

from registry import security_log
from registry.audit import Actor, acting_as
from registry.extensions import db
from registry.mfa import services
from registry.sessions.services import end_all
from registry.users.services import find_by_email

CLI_ACTOR = Actor(None, "cli")


@click.command("mfa-reset")
@click.argument("email")
def mfa_reset_command(email: str) -> None:
    """Reset EMAIL's authenticator key and recovery codes; they set it up again at sign-in.

    Check who is asking first (in person, or by phone at a known number): this command
    undoes what protects an account whose password may be known to someone else.
    """
    user = find_by_email(email)
    if user is None:
        raise click.ClickException(f"No account has the email {email}.")
    with acting_as(CLI_ACTOR):
        removed = services.reset(user)
        ended = end_all(user, "mfa_reset") if removed else 0
        db.session.commit()
    if removed:
        security_log.record(
            "mfa.reset", user_id=user.id, email=user.email, by="cli", sessions_ended=ended
        )
        click.echo(f"Two-step sign-in of {user.email} is reset.")
    else:
        click.echo(f"{user.email} had no two-step sign-in set up.")


@click.command("mfa-rotate-key")
def mfa_rotate_key_command() -> None:
    """Re-encrypt every stored TOTP secret under MFA_ENCRYPTION_KEY.

    Run it after putting a new key in MFA_ENCRYPTION_KEY and the old one in
    MFA_ENCRYPTION_OLD_KEYS; afterwards the old key can be removed.
    """
    with acting_as(CLI_ACTOR):
        count = services.rotate_secrets()
        db.session.commit()
    security_log.record("mfa.key_rotated", by="cli", secrets=count)
    click.echo(f"{count} two-step sign-in secrets encrypted under the current key.")
