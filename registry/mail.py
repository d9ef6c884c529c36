"""Sending mail through the SMTP server named by `SMTP_URL`.

`SMTP_URL` is ``smtp://[user[:password]@]host[:port][?starttls=1]`` or
``smtps://…`` (TLS from the first byte). Callers build messages with
`message()` and hand them to `send()`; a failure raises `MailError`, so a caller
that must not lose a message (the reminders' sent-log) records it as not sent
and tries again later.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

from flask import current_app


class MailError(RuntimeError):
    """A message could not be handed to the SMTP server (or mail is not configured)."""


@dataclass(frozen=True)
class SMTPSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool  # TLS from the first byte (smtps)
    starttls: bool

    @classmethod
    def parse(cls, url: str) -> SMTPSettings:
        """Read an SMTP URL; a malformed one raises MailError naming what is wrong."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise MailError(f"SMTP_URL must start with smtp:// or smtps://, not {parts.scheme!r}")
        if not parts.hostname:
            raise MailError("SMTP_URL names no host")
        query = parse_qs(parts.query)
        flag = (query.get("starttls") or ["0"])[0].lower()
        try:
            port = parts.port or (465 if parts.scheme == "smtps" else 25)
        except ValueError as err:
            raise MailError(f"SMTP_URL has a bad port: {err}") from err
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=parts.scheme == "smtps",
            starttls=flag in ("1", "true", "yes"),
        )


def configured() -> bool:
    """Whether the app has somewhere to send mail."""
    return bool(current_app.config.get("SMTP_URL"))


def message(
    to: Iterable[str], subject: str, body: str, *, reply_to: str | None = None
) -> EmailMessage:
    """A plain-text message from `MAIL_FROM` (subject and body already in the reader's language)."""
    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_FROM"]
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain="registry")
    if reply_to:
        msg["Reply-To"] = reply_to
    msg.set_content(body)
    return msg


def send(messages: Iterable[EmailMessage]) -> int:
    """Send messages over one SMTP connection; the number sent. Raises MailError on failure.

    Messages handed over before a failure stay sent: a caller that logs each
    message as sent sends them one at a time.
    """
    url = current_app.config.get("SMTP_URL")
    if not url:
        raise MailError("mail is not configured (SMTP_URL is not set)")
    settings = SMTPSettings.parse(url)
    timeout = float(current_app.config.get("SMTP_TIMEOUT_S", 10.0))
    sent = 0
    try:
        smtp: smtplib.SMTP
        if settings.tls:
            smtp = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        with smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            for msg in messages:
                smtp.send_message(msg)
                sent += 1
    except (OSError, smtplib.SMTPException) as err:
        raise MailError(
            f"could not send mail through {settings.host}:{settings.port}: {err}"
        ) from err
    return sent
