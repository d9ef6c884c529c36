"""Record ids from outside (URLs, query strings, forms): only those a row could have.

Every primary key is an INTEGER column, so an id above 2**31 - 1 cannot name a
row. Asked for one, PostgreSQL raises "integer out of range" (a 500), where
SQLite just finds nothing; ids are bounded here, before any query, so both
answer the same: no such record (a 404 in a path or a query string, a field
error in a form).
"""

from __future__ import annotations

from typing import Any

from flask import abort, request
from werkzeug.routing import IntegerConverter, Map

# The largest value of a (signed, 32-bit) INTEGER column.
MAX_ID = 2**31 - 1


def is_id(value: int) -> bool:
    """Whether a number could be a row's id."""
    return 0 < value <= MAX_ID


class IdConverter(IntegerConverter):
    """The app's `<int:...>` URL converter: a number out of id range matches no route (404)."""

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = MAX_ID,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def to_id(value: Any) -> int | None:
    """A submitted value as an id, or None when it is blank, not a whole number or out of range."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    else:
        text = str(value or "").strip()
        if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
            return None
        number = int(text)
    return number if is_id(number) else None


def id_arg(name: str) -> int | None:
    """A query-string argument naming a record, like `type=int` but bounded.

    None when it is absent, blank, 0 or not a whole number (the filter is not set);
    a number no row could have names nothing that exists: a 404.
    """
    text = (request.args.get(name) or "").strip()
    if not (text.isascii() and text.isdigit()) or not text.strip("0"):
        return None  # (no int() here: Python refuses to read over 4,300 digits)
    found = to_id(text)
    if found is None:
        abort(404)
    return found


def coerce_id(value: Any) -> int:
    """A WTForms `coerce` for id choices: a value that cannot be an id is a field error."""
    number = to_id(value)
    if number is None:
        raise ValueError("not an id")
    return number
