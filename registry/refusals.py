"""One exception for every business rule that refuses an action, and one way to show it."""

from __future__ import annotations

from flask import flash
from wtforms import Form

from registry import unit_of_work
from registry.fields import add_field_error


class Refused(Exception):
    """A rule refuses the action; the message says why, in the reader's words.

    `field` names the form field the problem belongs to, when there is one.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


def show_refusal(err: Refused, form: Form | None = None) -> None:
    """Show a refusal under its field, else above the form, else as a flash; commit nothing."""
    unit_of_work.roll_back()
    if form is None:
        flash(err.message, "error")
    elif not add_field_error(form, err.field, err.message):
        form.form_errors.append(err.message)
