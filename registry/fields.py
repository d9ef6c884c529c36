"""Form fields and option lists that every area's forms share."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wtforms import Form, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as a group of checkboxes (the field macro renders a fieldset)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def options(pairs: Iterable[tuple[Any, Any]]) -> list[SelectChoice]:
    """Select options from (value, label) pairs (WTForms no longer takes bare tuples)."""
    return [SelectChoice(value, label) for value, label in pairs]


def strip_text(value: Any) -> Any:
    """A WTForms filter: surrounding white space off typed text."""
    return value.strip() if isinstance(value, str) else value


def add_field_error(form: Form, field: str | None, message: str) -> bool:
    """Show a message under the named field; False when the form has no such field."""
    if not field or field not in form:
        return False
    form[field].errors = [*form[field].errors, message]
    return True
