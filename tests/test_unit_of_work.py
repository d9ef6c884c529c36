"""One unit of work per request: a state-changing request that ends well commits; anything
else rolls back, and a GET that tries to write fails loudly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, abort, redirect
from flask.testing import FlaskClient
from sqlalchemy import func, select

from registry import unit_of_work
from registry.extensions import db
from registry.models import AuditEntry, School
from registry.refusals import Refused, show_refusal
from registry.unit_of_work import WriteDuringSafeRequest

NAME = "Unit Of Work Elementary"


def _write() -> None:
    """What a service does: change objects (here, a school, which is audited) and flush."""
    db.session.add(School(dese_code="09999999", name=NAME, grades=["K"], enrollment=10))
    db.session.flush()


@pytest.fixture
def views(app: Flask) -> Iterator[list[str]]:
    """Test-only routes: each writes, then ends its own way; `done` records after-commit work."""
    done: list[str] = []

    def ends_well() -> Any:
        _write()
        unit_of_work.after_commit(lambda: done.append("after commit"))
        return redirect("/")

    def refused() -> Any:
        _write()
        unit_of_work.after_commit(lambda: done.append("after commit"))
        try:
            raise Refused("No, not today.")
        except Refused as err:
            show_refusal(err)
        return redirect("/")  # a redirect (< 400), yet nothing is kept

    def client_error() -> Any:
        _write()
        return "bad input", 400

    def aborted() -> Any:
        _write()
        abort(404)

    def broken() -> Any:
        _write()
        raise RuntimeError("a bug")

    def reads_and_writes() -> Any:
        _write()
        return "wrote during a GET"

    for name, view in [
        ("ends_well", ends_well),
        ("refused", refused),
        ("client_error", client_error),
        ("aborted", aborted),
        ("broken", broken),
    ]:
        app.add_url_rule(f"/_uow/{name}", name, view, methods=["POST"])
    app.add_url_rule("/_uow/get_writes", "get_writes", reads_and_writes, methods=["GET"])
    yield done


def _kept() -> tuple[int, int]:
    """Schools named NAME, and audit rows, as committed (what this session had is dropped)."""
    db.session.rollback()
    schools = db.session.scalar(select(func.count(School.id)).where(School.name == NAME))
    audits = db.session.scalar(select(func.count(AuditEntry.id)))
    return schools or 0, audits or 0


def test_a_post_that_ends_well_commits_once_then_runs_after_commit_work(
    client: FlaskClient, views: list[str]
) -> None:
    assert _kept() == (0, 0)
    assert client.post("/_uow/ends_well").status_code == 302
    schools, audits = _kept()
    assert schools == 1 and audits >= 1  # the record and its audit row, both kept
    assert views == ["after commit"]


@pytest.mark.parametrize(
    "path, status", [("refused", 302), ("client_error", 400), ("aborted", 404)]
)
def test_a_refusal_or_an_error_status_rolls_everything_back(
    client: FlaskClient, views: list[str], path: str, status: int
) -> None:
    assert client.post(f"/_uow/{path}").status_code == status
    assert _kept() == (0, 0)  # neither the record nor its audit row
    assert views == []  # after-commit work never runs without a commit


def test_one_request_s_refusal_does_not_reach_the_next(
    client: FlaskClient, views: list[str]
) -> None:
    # A test client's requests share the app context (and so `g`): the verdict must not.
    assert client.post("/_uow/refused").status_code == 302
    assert client.post("/_uow/ends_well").status_code == 302
    assert _kept()[0] == 1 and views == ["after commit"]


def test_an_exception_rolls_everything_back(client: FlaskClient, views: list[str]) -> None:
    with pytest.raises(RuntimeError, match="a bug"):  # TESTING propagates it; else a 500
        client.post("/_uow/broken")
    assert _kept() == (0, 0)


def test_a_write_during_a_get_fails_loudly_and_keeps_nothing(
    client: FlaskClient, views: list[str]
) -> None:
    with pytest.raises(WriteDuringSafeRequest, match="GET /_uow/get_writes tried to write"):
        client.get("/_uow/get_writes")
    assert _kept() == (0, 0)
