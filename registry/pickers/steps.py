"""The search-then-choose step of a form sent without JavaScript.

A picker's buttons submit the whole form with `pick=<action>:<field>[:<id>]`: search for
matches, add (or choose) one, add every match (a multiple picker), remove one. The page
then shows the same form again with everything typed so far, and saves nothing: only the
form's own button saves.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import request
from wtforms import FieldList, FormField

from registry.ids import to_id
from registry.pickers.fields import PickField

STEP = "pick"
ACTIONS = ("search", "add", "remove", "addall")


def pick_fields(form: Any) -> Iterator[PickField]:
    """Every picker of a form, those in its sub-forms and lists of rows included."""
    for field in form:
        if isinstance(field, PickField):
            yield field
        elif isinstance(field, FormField):
            yield from pick_fields(field.form)
        elif isinstance(field, FieldList):
            for entry in field:
                if isinstance(entry, PickField):
                    yield entry
                elif isinstance(entry, FormField):
                    yield from pick_fields(entry.form)


def is_picker_step() -> bool:
    """Whether this request is a picker's step (then nothing is saved)."""
    values = request.form if request.method == "POST" else request.args
    return bool(values.get(STEP))


def picker_step(form: Any) -> bool:
    """Carry out a picker step sent with the form; False when the request is no step."""
    values = request.form if request.method == "POST" else request.args
    raw = str(values.get(STEP) or "")
    if not raw:
        return False
    action, _sep, rest = raw.partition(":")
    name, ident = rest, None
    if action in ("add", "remove"):
        name, _sep, number = rest.rpartition(":")
        ident = to_id(number)
    field = next((f for f in pick_fields(form) if f.name == name), None)
    if field is None or action not in ACTIONS:
        return True  # a step naming no picker: show the form again all the same
    field.stepped = True
    if action == "search":
        field.search()
    elif action == "addall":
        field.add_all()
    elif action == "add":
        field.add(ident)
    else:
        field.remove(ident)
    return True
