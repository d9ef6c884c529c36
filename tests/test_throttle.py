"""Sign-in throttling (ASVS 6.3.1): slower after each failure, locked after ten, in the database."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from registry.auth import throttle
from registry.extensions import db
from registry.models import LoginThrottle
from tests.conftest import PASSWORD

WRONG = "not the right password at all"


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(throttle, "now", clock)
    return clock


def _sign_in(client, email: str, password: str = WRONG, ip: str = "10.0.0.1"):
    return client.post(
        "/login",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": ip},
    )


def _fail_and_wait(client, clock: Clock, email: str, times: int, ip: str = "10.0.0.1") -> None:
    """Fail `times` times, each time waiting just long enough to be allowed to try again."""
    for _ in range(times):
        response = _sign_in(client, email, ip=ip)
        assert response.status_code == 400, response.get_data(as_text=True)[:300]
        wait = throttle.check(email, ip).wait
        clock.advance(wait.total_seconds())


def test_two_failures_cost_nothing_then_waits_double(app, client, make_user, clock):
    user = make_user("admin")
    _sign_in(client, user.email)
    _sign_in(client, user.email)
    assert throttle.check(user.email, "10.0.0.1").allowed
    waits = []
    for _ in range(4):
        _sign_in(client, user.email)
        waits.append(throttle.check(user.email, "10.0.0.1").wait.total_seconds())
        clock.advance(waits[-1])
    assert waits == [1, 2, 4, 8]


def test_an_attempt_during_the_wait_is_refused_unchecked(app, client, make_user, clock):
    user = make_user("admin")
    for _ in range(3):
        _sign_in(client, user.email)
    # Even the right password is not looked at before the wait is over.
    response = _sign_in(client, user.email, PASSWORD)
    assert response.status_code == 429
    assert "Try again in 1 second." in response.get_data(as_text=True)
    clock.advance(1)
    assert _sign_in(client, user.email, PASSWORD).status_code == 302


def test_ten_failures_lock_the_account_for_15_minutes(app, client, make_user, clock, caplog):
    user = make_user("admin")
    caplog.set_level(logging.WARNING, logger="registry.security")
    _fail_and_wait(client, clock, user.email, 9)
    response = _sign_in(client, user.email)
    assert "Try again in 15 minutes." in response.get_data(as_text=True)
    assert any('"kind": "login.locked"' in r.getMessage() for r in caplog.records)
    clock.advance(14 * 60)
    response = _sign_in(client, user.email, PASSWORD, ip="10.9.9.9")  # another address too
    assert response.status_code == 429
    assert "Try again in 1 minute." in response.get_data(as_text=True)
    clock.advance(60)
    assert _sign_in(client, user.email, PASSWORD, ip="10.9.9.9").status_code == 302
    assert any('"kind": "login.success"' in r.getMessage() for r in caplog.records)


def test_fifty_wrong_passwords_then_the_right_one_is_refused(app, client, make_user, clock):
    user = make_user("admin")
    for _ in range(50):  # as fast as the attacker likes: no clock moves
        _sign_in(client, user.email)
    assert _sign_in(client, user.email, PASSWORD).status_code == 429


def test_unknown_and_known_accounts_are_answered_alike(app, client, make_user, clock):
    user = make_user("admin")
    pages = {}
    for email in (user.email, "nobody@district.example"):
        _fail_and_wait(client, clock, email, 9, ip="10.0.0." + str(len(pages) + 1))
        response = _sign_in(client, email, ip="10.0.0." + str(len(pages) + 1))
        pages[email] = (response.status_code, response.get_data(as_text=True).replace(email, "E"))
    assert pages[user.email] == pages["nobody@district.example"]
    assert "Try again in 15 minutes." in pages[user.email][1]


def test_success_resets_the_account_counter(app, client, make_user, clock):
    user = make_user("admin")
    _fail_and_wait(client, clock, user.email, 5)
    assert _sign_in(client, user.email, PASSWORD).status_code == 302
    client.post("/logout")
    keys = set(db.session.scalars(select(LoginThrottle.key)))
    assert throttle.account_key(user.email) not in keys
    # The count starts again: two free failures.
    _sign_in(client, user.email, ip="10.0.0.2")
    _sign_in(client, user.email, ip="10.0.0.2")
    assert throttle.check(user.email, "10.0.0.2").allowed


def test_one_address_guessing_many_accounts_is_slowed_down(app, client, make_user, clock):
    # Ten free failures per address, then the same doubling; each email is new.
    for n in range(10):
        _sign_in(client, f"guess{n}@district.example", ip="10.6.6.6")
    assert throttle.check("guess99@district.example", "10.6.6.6").allowed
    _sign_in(client, "guess10@district.example", ip="10.6.6.6")
    response = _sign_in(client, "someone-else@district.example", ip="10.6.6.6")
    assert response.status_code == 429
    # Another address is not slowed down.
    assert throttle.check("someone-else@district.example", "10.7.7.7").allowed


def test_counts_are_shared_through_the_database(app, client, make_user, clock):
    # What one worker counted, another sees: the counter is a row, committed at once.
    user = make_user("admin")
    for _ in range(3):
        _sign_in(client, user.email)
    db.session.rollback()
    row = db.session.scalar(
        select(LoginThrottle).where(LoginThrottle.key == throttle.account_key(user.email))
    )
    assert row is not None and row.failures == 3
    assert row.blocked_until == clock.at + timedelta(seconds=1)


def test_a_failed_sign_in_is_logged(app, client, make_user, clock, caplog):
    caplog.set_level(logging.WARNING, logger="registry.security")
    _sign_in(client, "who@district.example")
    assert any(
        '"kind": "login.failure"' in r.getMessage() and "who@district.example" in r.getMessage()
        for r in caplog.records
    )


def test_a_quiet_day_forgets_the_failures(app, client, make_user, clock):
    user = make_user("admin")
    for _ in range(4):
        _sign_in(client, user.email)
    clock.advance(24 * 3600 + 1)
    _sign_in(client, "someone@district.example", ip="10.3.3.3")  # any failure tidies up
    keys = set(db.session.scalars(select(LoginThrottle.key)))
    assert throttle.account_key(user.email) not in keys
    _sign_in(client, user.email)
    assert throttle.check(user.email, "10.0.0.1").allowed  # one failure: free again


def test_parallel_failures_all_count(app, test_database, clock):
    """Two workers failing at once on PostgreSQL: every failure is counted (one atomic UPDATE)."""
    if not test_database.is_postgres:
        pytest.skip("a write race needs PostgreSQL's concurrent connections")
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def fail(ip: str) -> None:
        try:
            with app.app_context():
                start.wait(timeout=30)
                for _ in range(6):
                    throttle.record_failure("raced@district.example", ip)
        except BaseException as err:
            errors.append(err)
            start.abort()

    threads = [threading.Thread(target=fail, args=(ip,)) for ip in ("10.1.1.1", "10.2.2.2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    row = db.session.scalar(
        select(LoginThrottle).where(
            LoginThrottle.key == throttle.account_key("raced@district.example")
        )
    )
    assert row is not None and row.failures == 12
    assert row.blocked_until == clock.at + timedelta(minutes=15)
