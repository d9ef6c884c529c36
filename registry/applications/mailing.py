"""Mail sent once a request's changes are committed; a failure is said on the page, not lost."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage

from flask import current_app, flash

from registry import mail, unit_of_work


def send_after_commit(messages: Sequence[EmailMessage], failure: str) -> None:
    """Send once the request commits; if mail fails, flash `failure` (the record stays saved)."""

    def deliver() -> None:
        try:
            mail.send(messages)
        except mail.MailError as err:
            current_app.logger.warning("mail not sent: %s", err)
            flash(failure, "error")

    unit_of_work.after_commit(deliver)
