"""Form fields for the pickers: the chosen ids travel as hidden inputs, never a menu of all.

A field checks on validation that every posted id names a record the user may use (the
check a select box made against its choices), and knows its matches after a
search-then-choose step (see `steps`).
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import Field
from wtforms.utils import unset_value
from wtforms.validators import ValidationError

from registry.ids import to_id
from registry.pickers.search import MAX_QUERY, Found, Kind, Option, Scope, find, labels, scope_for
from registry.vocabulary import Category

# Ids one multiple picker takes at most (a form posting more is refused, not slowed down).
MAX_CHOSEN = 2000


class PickField(Field):
    """One record (a school, partner or service) chosen by searching; None when none is."""

    multiple = False
    data: Any  # an id or None here; a list of ids in PickManyField

    def __init__(
        self,
        label: Any = None,
        validators: Any = None,
        *,
        kind: Kind,
        usable_only: bool = False,
        category_filter: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(label, validators, **kwargs)
        self.kind = kind
        self.usable_only = usable_only
        self.category_filter = category_filter
        self.query = ""
        self.category: Category | None = None
        self.found: Found | None = None  # the matches of a search step
        self.suggestions: list[Option] = []  # offered before any search (views set them)
        self.stepped = False  # a search-then-choose step just acted on this field
        self._labels: dict[int, Option] | None = None

    # --- reading what was sent -------------------------------------------------------------

    def process(self, formdata: Any, data: Any = unset_value, extra_filters: Any = None) -> None:
        super().process(formdata, data, extra_filters)
        if formdata is not None:
            self.query = str(formdata.get(f"{self.name}-q") or "")[:MAX_QUERY]
            category = formdata.get(f"{self.name}-category") or ""
            self.category = Category(category) if category in Category._value2member_map_ else None

    def process_data(self, value: Any) -> None:
        self.data = to_id(value) if value not in (None, "") else None

    def process_formdata(self, valuelist: list[Any]) -> None:
        values = [v for v in valuelist if str(v).strip()]
        self.data = None
        if values:
            self.data = to_id(values[0])
            if self.data is None:
                raise ValueError(_l("Not a valid choice."))

    @property
    def ids(self) -> list[int]:
        return [self.data] if self.data else []

    # --- what it may hold ------------------------------------------------------------------

    def scope(self) -> Scope:
        return scope_for(current_user, usable_only=self.usable_only)

    def known(self) -> dict[int, Option]:
        """The chosen records the user may use, by id (looked up once)."""
        if self._labels is None:
            self._labels = labels(self.kind, self.ids, self.scope())
        return self._labels

    @property
    def chosen(self) -> list[Option]:
        """The chosen records to show, in order; one that cannot be used says so."""
        known = self.known()
        return [
            known.get(i) or Option(i, _("Unavailable record #%(id)s", id=i), _("Remove it."))
            for i in self.ids
        ]

    def pre_validate(self, form: Any) -> None:
        if set(self.ids) - set(self.known()):
            raise ValidationError(
                _l(
                    "Not a valid choice: a chosen record no longer exists or may not be used "
                    "here. Choose from the matches."
                )
            )

    # --- the search-then-choose step -------------------------------------------------------

    def search(self) -> None:
        self.found = find(
            self.kind, self.query, self.scope(), exclude=self.ids, category=self.category
        )

    def add(self, ident: int | None) -> None:
        if ident is not None and ident in labels(self.kind, [ident], self.scope()):
            self.data = ident
        self._labels = None
        self.query = ""

    def remove(self, ident: int | None) -> None:
        if ident is not None and ident == self.data:
            self.data = None
        self._labels = None

    def add_all(self) -> None:
        """Every match of the search at once (a multiple picker; here, a search)."""
        self.search()

    @property
    def source_url(self) -> str:
        """Where the enhanced widget asks for matches."""
        args: dict[str, Any] = {"usable": "1"} if self.usable_only else {}
        return url_for("pickers.search", kind=self.kind.value, **args)

    @property
    def category_choices(self) -> list[tuple[str, Any]]:
        return Category.choices()


class PickManyField(PickField):
    """Several records chosen by searching, one at a time; shown as a list to remove from."""

    multiple = True

    def process_data(self, value: Any) -> None:
        ids = [to_id(v) for v in value or []]
        self.data = [i for i in ids if i is not None]

    def process_formdata(self, valuelist: list[Any]) -> None:
        if len(valuelist) > MAX_CHOSEN:
            self.data = []
            raise ValueError(_l("Too many chosen."))
        ids = [to_id(v) for v in valuelist if str(v).strip()]
        self.data = list(dict.fromkeys(i for i in ids if i is not None))
        if None in ids:
            raise ValueError(_l("Not a valid choice."))

    @property
    def ids(self) -> list[int]:
        return list(self.data or [])

    def add(self, ident: int | None) -> None:
        if (
            ident is not None
            and ident not in self.ids
            and ident in labels(self.kind, [ident], self.scope())
        ):
            self.data = [*self.ids, ident]
        self._labels = None
        if self.query:  # the same matches again, without the one just added
            self.search()

    def add_all(self) -> None:
        """Every match of the search, when they all show (e.g. one partner's services)."""
        self.search()
        if self.found is not None and not self.found.more:
            self.data = [*self.ids, *(o.id for o in self.found.options)]
            self._labels = None
            self.search()

    def remove(self, ident: int | None) -> None:
        self.data = [i for i in self.ids if i != ident]
        self._labels = None
        if self.query:
            self.search()
