"""Tamper evidence: each audit and security-event row carries a hash chained to the row before.

    chain_hash = sha256(previous row's chain_hash (or "") + canonical JSON of the row's content)

The hash is computed at insert time, inside the inserting transaction. Two transactions
inserting at once must not both chain onto the same previous row (a fork), so the first
insert of a transaction takes a lock that lasts until it commits or rolls back:

- PostgreSQL: `pg_advisory_xact_lock`, one key per table, then the tip is read;
- SQLite: there is one writer; the audit hook runs after its flush has written, so the
  transaction already holds SQLite's write lock when it reads the tip. (A security event's
  transaction reads the tip before its first write; SQLite is for one process.)

The tip is kept on the connection for the rest of the transaction (several rows in one
flush chain onto each other) and forgotten at commit, rollback or a savepoint's rollback.

Rows written before the chain began (at the migration that added it) have no hash:
`verify` counts them and checks everything after. On PostgreSQL a trigger (same migration)
refuses UPDATE, DELETE and TRUNCATE on both tables.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, event, select, text
from sqlalchemy.pool import Pool

# One advisory lock key per chained table (any fixed 64-bit numbers, unique in this database).
LOCK_KEYS = {"audit_entry": 0x5EC1_0001, "security_event": 0x5EC1_0002}

# What each table's hash covers: every column but the id and the hash itself.
CONTENT_COLUMNS = {
    "audit_entry": (
        "at",
        "user_id",
        "user_email",
        "action",
        "entity",
        "entity_id",
        "summary",
        "before",
        "after",
    ),
    "security_event": ("at", "kind", "user_id", "email", "ip", "path", "details"),
}

_TIPS = "registry_chain_tips"


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(table: str, row: Mapping[str, Any]) -> str:
    """The row's content as canonical JSON: the same text at insert time and when read back."""
    content = {}
    for name in CONTENT_COLUMNS[table]:
        value = row.get(name)
        content[name] = _instant(value) if isinstance(value, datetime) else value
    # Through JSON and back first, as the database's JSON columns store it (tuples become
    # lists, keys strings), then sorted and compact.
    plain = json.loads(json.dumps(content, default=str))
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(previous: str | None, table: str, row: Mapping[str, Any]) -> str:
    """The hash a row carries, given the hash of the row before it."""
    data = (previous or "") + canonical(table, row)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def _tip(conn: Connection, table: Table) -> str | None:
    tips: dict[str, str | None] = conn.info.setdefault(_TIPS, {})
    if table.name not in tips:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEYS[table.name]})
        last = select(table.c.chain_hash).order_by(table.c.id.desc()).limit(1)
        tips[table.name] = conn.execute(last).scalar()
    return tips[table.name]


def link(conn: Connection, table: Table, row: Mapping[str, Any]) -> str:
    """The hash for a row about to be inserted on `conn` (the lock is taken on first use)."""
    digest = chain_hash(_tip(conn, table), table.name, row)
    conn.info[_TIPS][table.name] = digest
    return digest


def _forget(conn: Connection, *_: Any) -> None:
    conn.info.pop(_TIPS, None)


def _forget_on_checkin(dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info.pop(_TIPS, None)


event.listen(Engine, "commit", _forget)
event.listen(Engine, "rollback", _forget)
event.listen(Engine, "rollback_savepoint", _forget)
event.listen(Pool, "checkin", _forget_on_checkin)


@dataclass(frozen=True)
class Verdict:
    """What verifying one table's chain found."""

    table: str
    checked: int  # rows whose hash was checked
    unchained: int  # rows from before the chain began
    broken_id: int | None = None  # the first row whose hash does not match
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_id is None


def verify(conn: Connection, table: Table) -> Verdict:
    """Walk a table's rows in id order and check every hash against the row before it."""
    previous: str | None = None
    checked = unchained = 0
    started = False
    stmt = select(table).order_by(table.c.id).execution_options(yield_per=1000)
    with conn.execute(stmt) as result:  # a server-side cursor on PostgreSQL: closed on return
        for found in result:
            row: Mapping[str, Any] = dict(found._mapping)
            stored = row["chain_hash"]
            if stored is None:
                if not started:
                    unchained += 1
                    continue
                return Verdict(table.name, checked, unchained, row["id"], "no hash")
            started = True
            if stored != chain_hash(previous, table.name, row):
                return Verdict(table.name, checked, unchained, row["id"], "hash does not match")
            previous = stored
            checked += 1
    return Verdict(table.name, checked, unchained)
