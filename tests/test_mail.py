"""Mail goes through the SMTP server SMTP_URL names; a failure is an error the caller sees."""

from __future__ import annotations

import pytest
from flask import Flask

from registry import mail
from tests.conftest import SMTPInbox


def test_a_message_reaches_the_smtp_server(app: Flask, smtp_server: SMTPInbox) -> None:
    with app.app_context():
        sent = mail.send([mail.message(["ana@partner.example"], "Reminder: é", "Corps: ç")])
    assert sent == 1
    [received] = smtp_server.messages
    assert received["To"] == "ana@partner.example"
    assert received["From"] == "registry@district.example"
    assert received["Subject"] == "Reminder: é"
    assert received.get_content().strip() == "Corps: ç"


def test_a_refusing_server_raises_mail_error(app: Flask, smtp_server: SMTPInbox) -> None:
    smtp_server.refuse = True
    with app.app_context(), pytest.raises(mail.MailError, match="could not send"):
        mail.send([mail.message(["ana@partner.example"], "s", "b")])
    assert smtp_server.messages == []


def test_without_smtp_url_nothing_is_sent(app: Flask) -> None:
    app.config["SMTP_URL"] = None
    with app.app_context():
        assert not mail.configured()
        with pytest.raises(mail.MailError, match="not configured"):
            mail.send([mail.message(["a@b.example"], "s", "b")])


@pytest.mark.parametrize(
    "url, expected",
    [
        (
            "smtp://mailer:p%40ss@mail.example:587?starttls=1",
            ("mail.example", 587, "mailer", "p@ss", False, True),
        ),
        ("smtps://mail.example", ("mail.example", 465, None, None, True, False)),
        ("smtp://localhost", ("localhost", 25, None, None, False, False)),
    ],
)
def test_smtp_urls_are_read(url: str, expected: tuple[object, ...]) -> None:
    s = mail.SMTPSettings.parse(url)
    assert (s.host, s.port, s.username, s.password, s.tls, s.starttls) == expected


@pytest.mark.parametrize("url", ["http://mail.example", "smtp://", "smtp://host:notaport"])
def test_bad_smtp_urls_are_refused(url: str) -> None:
    with pytest.raises(mail.MailError):
        mail.SMTPSettings.parse(url)
