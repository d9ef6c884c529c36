"""`flask --app registry verify-audit`: check the audit and security-event hash chains."""

from __future__ import annotations

import sys

import click
from sqlalchemy import Table

from registry.extensions import db
from registry.models import AuditEntry, SecurityEvent
from registry.seclog import chain


@click.command("verify-audit")
def verify_audit_command() -> None:
    """Check both hash chains: "ok" with counts (exit 0), or the first broken row (exit 1)."""
    broken = False
    with db.engine.connect() as conn:
        for model in (AuditEntry, SecurityEvent):
            table = model.__table__
            assert isinstance(table, Table)
            verdict = chain.verify(conn, table)
            if verdict.ok:
                click.echo(
                    f"{verdict.table}: ok, {verdict.checked} rows chained"
                    + (
                        f", {verdict.unchained} from before the chain began"
                        if verdict.unchained
                        else ""
                    )
                )
            else:
                broken = True
                click.echo(
                    f"{verdict.table}: BROKEN at id {verdict.broken_id} ({verdict.reason}); "
                    f"{verdict.checked} rows before it are intact",
                    err=True,
                )
    if broken:
        sys.exit(1)
