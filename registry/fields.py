"""Form fields and option lists that every area's forms share."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from flask_wtf import FlaskForm
from wtforms import Field, Form, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from registry.language import is_language_switch


class RegistryForm(FlaskForm):
    """The base of every form: a submit that only switches the language is never acted on.

    Fields are in the order they are declared, which is the order of the error summary;
    `shown_first` names fields a subclass declares that its page shows before the rest
    (a new MOU's partner, the current password), so the summary follows the page.
    """

    shown_first: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.shown_first:
            fields: dict[str, Field] = self._fields  # type: ignore[has-type]
            first = [(name, fields[name]) for name in self.shown_first]
            rest = [(name, f) for name, f in fields.items() if name not in self.shown_first]
            self._fields = OrderedDict(first + rest)

    def validate_on_submit(self, extra_validators: Any = None) -> bool:
        # Validated all the same, so the page shows its errors again in the new language.
        valid = super().validate_on_submit(extra_validators)
        return valid and not is_language_switch()


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as a group of checkboxes (the field macro renders a fieldset).

    The group has no element of its own with the field's id: an error links to the first box.
    """

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def options(pairs: Iterable[tuple[Any, Any]]) -> list[SelectChoice]:
    """Select options from (value, label) pairs (WTForms no longer takes bare tuples)."""
    return [SelectChoice(value, label) for value, label in pairs]


# Bidirectional embedding, override and isolate controls: typed into a name they reverse the
# text shown around it wherever it is displayed ("Trojan Source"); nobody types them on purpose.
_BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)], None)


def strip_text(value: Any) -> Any:
    """A WTForms filter: bidi controls and surrounding white space off typed text."""
    return value.translate(_BIDI_CONTROLS).strip() if isinstance(value, str) else value


def add_field_error(form: Form, field: str | None, message: str) -> bool:
    """Show a message under the named field; False when the form has no such field."""
    if not field or field not in form:
        return False
    form[field].errors = [*form[field].errors, message]
    return True
