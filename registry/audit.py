"""The audit trail, written for every change the ORM flushes.

A session hook records every insert, update and delete of the registry's
records, so no service can forget to. Who acted comes from `acting_as`
(the request sets it from the signed-in user; CLI commands name themselves).

Every row carries a hash chained to the row before it (registry.seclog.chain), computed
here at insert time, also for the rows a service adds itself (a document download's).
The table is append-only: on PostgreSQL a trigger refuses UPDATE and DELETE.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, event, insert, inspect
from sqlalchemy.orm import Mapper, Session, UOWTransaction
from sqlalchemy.orm.attributes import NO_VALUE

from registry.models.audit import AuditEntry
from registry.models.columns import utcnow
from registry.seclog import chain

# Columns never copied into the trail: bookkeeping, secrets, and whole files kept elsewhere
# (a scenario run's problem and result JSON are stored on the run and downloadable there).
_SKIPPED = {
    "version",
    "password_hash",
    "secret",  # a TOTP secret (registry.models.mfa)
    "token_hash",  # hashes of one-time tokens: nothing to review, nothing to leak
    "nonce_hash",  # a server-side session's cookie nonce, hashed
    "problem_json",
    "result_json",
    "report_json",
    "summary_json",  # what a run's pages read of those files (registry.scenarios.summary)
}


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    email: str


SYSTEM = Actor(None, "system")
_actor: ContextVar[Actor] = ContextVar("audit_actor", default=SYSTEM)


def set_actor(actor: Actor) -> Token[Actor]:
    """Attribute the changes that follow (in this context) to an actor, until reset_actor."""
    return _actor.set(actor)


def reset_actor(token: Token[Actor]) -> None:
    """Go back to the actor before the matching set_actor."""
    _actor.reset(token)


@contextmanager
def acting_as(actor: Actor) -> Iterator[None]:
    """Attribute the changes made inside the block to an actor."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def plain(value: Any) -> Any:
    """A JSON-safe copy of a column value."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _entity_name(obj: Any) -> str:
    return str(obj.__table__.name)


def _label(obj: Any) -> str:
    for attr in ("name", "email", "title", "dese_code"):
        value = getattr(obj, attr, None)
        if isinstance(value, str) and value:
            return value[:200]
    return f"#{getattr(obj, 'id', '')}"


def _snapshot(obj: Any) -> dict[str, Any]:
    state = inspect(obj)
    values: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        if attr.key in _SKIPPED:
            continue
        loaded = state.attrs[attr.key].loaded_value
        values[attr.key] = None if loaded is NO_VALUE else plain(loaded)
    return values


def _changes(obj: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields an update changed: (before, after)."""
    state = inspect(obj)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for attr in state.mapper.attrs:
        history = state.attrs[attr.key].history
        if not history.has_changes():
            continue
        if attr.key == "password_hash":
            before["password"], after["password"] = "(set)", "(changed)"
            continue
        if attr.key in _SKIPPED:
            continue
        if hasattr(attr, "columns"):
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            before[attr.key], after[attr.key] = plain(old), plain(new)
        elif getattr(attr, "uselist", False) and attr.secondary is not None:
            # A many-to-many collection, such as an MOU's schools: record the ids.
            current = [o.id for o in getattr(obj, attr.key)]
            removed = {o.id for o in history.deleted}
            added = {o.id for o in history.added}
            previous = sorted((set(current) - added) | removed)
            before[attr.key], after[attr.key] = previous, sorted(current)
    return before, after


def _audited(obj: Any) -> bool:
    return not isinstance(obj, AuditEntry) and hasattr(obj, "__table__")


def _rows(session: Session) -> list[dict[str, Any]]:
    actor = _actor.get()
    at = utcnow()
    rows: list[dict[str, Any]] = []

    def add(action: str, obj: Any, before: Any, after: Any) -> None:
        entity = _entity_name(obj)
        rows.append(
            {
                "at": at,
                "user_id": actor.user_id,
                "user_email": actor.email,
                "action": action,
                "entity": entity,
                "entity_id": getattr(obj, "id", None),
                "summary": f"{action} {entity} {_label(obj)}"[:300],
                "before": before,
                "after": after,
            }
        )

    for obj in session.new:
        if _audited(obj):
            add("create", obj, None, _snapshot(obj))
    for obj in session.dirty:
        if _audited(obj) and session.is_modified(obj):
            before, after = _changes(obj)
            if after:
                action = "status" if "status" in after else "update"
                add(action, obj, before, after)
    for obj in session.deleted:
        if _audited(obj):
            add("delete", obj, _snapshot(obj), None)
    return rows


@event.listens_for(Mapper, "mapper_configured")
def _keep_old_values(mapper: Mapper[Any], class_: type) -> None:
    # Load a column's old value when it is set, even after a commit expired it,
    # so the trail can say what a field was before.
    for attr in mapper.column_attrs:
        mapper.class_manager[attr.key].impl.active_history = True


@event.listens_for(Session, "after_flush")
def _write_audit_rows(session: Session, flush_context: UOWTransaction) -> None:
    rows = _rows(session)
    if rows:
        table = _table()
        conn = session.connection()
        for row in rows:
            row["chain_hash"] = chain.link(conn, table, row)
        conn.execute(insert(table), rows)


def _table() -> Table:
    table = AuditEntry.__table__
    assert isinstance(table, Table)  # typed as any FromClause; a mapped class's is a Table
    return table


@event.listens_for(AuditEntry, "before_insert")
def _chain_added_entry(mapper: Mapper[Any], connection: Any, target: AuditEntry) -> None:
    # A row a service adds itself (the hook skips AuditEntry objects): chain it the same way.
    target.at = target.at or utcnow()
    target.user_email = target.user_email or ""
    target.summary = target.summary or ""
    row = {name: getattr(target, name) for name in chain.CONTENT_COLUMNS["audit_entry"]}
    target.chain_hash = chain.link(connection, _table(), row)
