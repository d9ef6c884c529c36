"""Flask extensions, created bare and bound to the app in create_app."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import Engine, MetaData, event
from sqlalchemy.orm import DeclarativeBase

# Constraint names are stable, so migrations can name (and drop) them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# The models' base class. A type checker cannot take an attribute (db.Model) as a base class
# (python/mypy#8603), so it is shown Base, which db.Model extends with Flask-SQLAlchemy's helpers.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


@event.listens_for(Engine, "connect")
def _sqlite_unicode_lower(dbapi_connection: Any, _record: Any) -> None:
    """SQLite's own lower() folds only A-Z: "ÉLAN" stayed "ÉLAN", so a search for "élan"
    (lowered in Python) missed it. Python's str.lower, as PostgreSQL's lower() does."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
