"""Alembic environment: the app's metadata, its naming convention, batch mode on SQLite."""

import logging
from logging.config import fileConfig
from typing import Any

from alembic import context
from flask import current_app
from sqlalchemy.types import TypeDecorator

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db
config.set_main_option(
    "sqlalchemy.url", target_db.engine.url.render_as_string(hide_password=False).replace("%", "%%")
)


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # Our TypeDecorators live in the app; migrations must not import it, so write the plain type.
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return "sa." + repr(obj.impl)
    return False


def _options() -> dict[str, Any]:
    return {
        "target_metadata": target_db.metadata,
        "compare_type": True,
        "render_item": render_item,
    }


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **_options()
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    def process_revision_directives(ctx: Any, revision: Any, directives: Any) -> None:
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")

    connectable = target_db.engine
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            render_as_batch=connection.dialect.name == "sqlite",
            process_revision_directives=process_revision_directives,
            **_options(),
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
