"""Scenario forms: the scenario itself (with its per-school limits) and the run comparison."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DecimalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from registry import district_time
from registry.extensions import db
from registry.fields import MultiCheckboxField, RegistryForm, options
from registry.models import SchoolIndicators
from registry.models.need import NeedIndexDefinition
from registry.models.scenario import Objective, Scenario, SolverChoice, WeightRule
from registry.pickers.fields import PickField, PickManyField
from registry.pickers.search import Kind
from registry.scenarios.problem import limit_unit
from registry.schoolyear import is_school_year, school_year_of
from registry.vocabulary import Category, Unit

BLANK_LIMIT_ROWS = 3
MAX_AMOUNT = Decimal("1000000000")


class LimitForm(Form):
    """One per-school limit on a category in one unit; a row left blank is ignored."""

    school_id = PickField(_l("School"), kind=Kind.SCHOOLS)
    category = SelectField(
        _l("Category"),
        choices=options([("", _l("— choose —")), *Category.choices()]),
        validate_choice=False,
    )
    unit = SelectField(
        _l("Unit"), choices=options(Unit.choices()), default=Unit.SEATS, validate_choice=False
    )
    min = DecimalField(_l("At least"), places=2, validators=[Optional(), NumberRange(0, 1e9)])
    max = DecimalField(_l("At most"), places=2, validators=[Optional(), NumberRange(0, 1e9)])

    def is_blank(self) -> bool:
        return (
            not self.school_id.data
            and not self.category.data
            and self.min.data is None
            and (self.max.data is None)
        )

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if self.is_blank():
            return ok
        if self.school_id.data is None:
            self.school_id.errors = [*self.school_id.errors, _l("Choose a school.")]
            ok = False
        if self.category.data not in {c.value for c in Category}:
            self.category.errors = [*self.category.errors, _l("Choose a category.")]
            ok = False
        if self.unit.data not in {u.value for u in Unit}:
            self.unit.errors = [*self.unit.errors, _l("Unknown unit.")]
            ok = False
        if ok and self.min.data is None and self.max.data is None:
            self.min.errors = [*self.min.errors, _l("Give a minimum, a maximum or both.")]
            ok = False
        if (
            ok
            and self.min.data is not None
            and self.max.data is not None
            and self.min.data > self.max.data
        ):
            self.max.errors = [*self.max.errors, _l("The maximum is below the minimum.")]
            ok = False
        return ok


def _school_years() -> list[SelectChoice]:
    years = set(db.session.scalars(select(SchoolIndicators.school_year).distinct()))
    years.add(school_year_of(district_time.today()))
    return options([(y, y) for y in sorted(years, reverse=True)])


def _definitions() -> list[SelectChoice]:
    rows = db.session.scalars(
        select(NeedIndexDefinition).order_by(NeedIndexDefinition.name, NeedIndexDefinition.version)
    )
    return options(
        [(0, str(_l("The default need index at each run"))), *((d.id, d.title) for d in rows)]
    )


class ScenarioForm(RegistryForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    school_year = SelectField(_l("School year"), choices=[])
    need_definition_id = SelectField(_l("Need index"), coerce=int, choices=[])
    weight_rule = RadioField(
        _l("School weight"),
        choices=options(WeightRule.choices()),
        default=WeightRule.ENROLLMENT_X_NEED,
    )
    need_threshold = DecimalField(
        _l("Need threshold"),
        places=2,
        default=Decimal(0),
        validators=[Optional(), NumberRange(0, 0.99)],
    )
    categories = MultiCheckboxField(_l("Categories"), choices=options(Category.choices()))
    # Chosen by searching (by name, partner and category): never 6,000 boxes on one page.
    service_ids = PickManyField(
        _l("Services"), kind=Kind.SERVICES, usable_only=True, category_filter=True
    )
    require_service_area = BooleanField(
        _l("Only where the partner's service area covers the school")
    )
    keep_commitments_as_locks = BooleanField(
        _l("Keep this year's active commitments as locks"), default=True
    )
    saturation = DecimalField(
        _l("Seats per student, per category"),
        places=2,
        default=Decimal(1),
        validators=[Optional(), NumberRange(0.01, 1000)],
    )
    objective = RadioField(
        _l("Objective"), choices=options(Objective.choices()), default=Objective.PROPORTIONAL
    )
    solver = RadioField(
        _l("Solver"), choices=options(SolverChoice.choices()), default=SolverChoice.HIGHS
    )
    time_limit_s = IntegerField(
        _l("Time limit (seconds)"), default=60, validators=[DataRequired(), NumberRange(1, 3600)]
    )
    limits = FieldList(FormField(LimitForm), min_entries=0, max_entries=200)
    version = HiddenField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.school_year.choices = _school_years()
        self.need_definition_id.choices = _definitions()

    def validate_school_year(self, field: SelectField) -> None:
        if not is_school_year(field.data or ""):
            raise ValidationError(_l("Choose a school year like 2025-26."))

    def add_blank_limits(self, count: int = BLANK_LIMIT_ROWS) -> None:
        """Offer empty limit rows to fill in (no script needed)."""
        for _i in range(count):
            self.limits.append_entry()

    def fill_from(self, scenario: Scenario) -> None:
        """Show a stored scenario (GET of the edit page)."""
        self.name.data = scenario.name
        if scenario.school_year not in {c.value for c in self.school_year.choices}:
            self.school_year.choices.insert(0, SelectChoice(scenario.school_year))
        self.school_year.data = scenario.school_year
        self.need_definition_id.data = scenario.need_definition_id or 0
        self.weight_rule.data = scenario.weight_rule.value
        self.need_threshold.data = scenario.need_threshold
        self.categories.data = list(scenario.categories or [])
        self.service_ids.data = list(scenario.service_ids or [])
        self.require_service_area.data = scenario.require_service_area
        self.keep_commitments_as_locks.data = scenario.keep_commitments_as_locks
        self.saturation.data = scenario.saturation
        self.objective.data = scenario.objective.value
        self.solver.data = scenario.solver.value
        self.time_limit_s.data = scenario.time_limit_s
        self.version.data = str(scenario.version)
        for limit in scenario.limits or []:
            self.limits.append_entry(
                {
                    "school_id": str(limit["school_id"]),
                    "category": limit["category"],
                    "unit": limit_unit(limit).value,
                    "min": limit.get("min"),
                    "max": limit.get("max"),
                }
            )

    def values(self) -> dict[str, Any]:
        """The submitted scenario as plain values for the service layer."""
        limits = []
        for entry in self.limits:
            sub = entry.form
            if sub.is_blank():
                continue
            limits.append(
                {
                    "school_id": int(sub.school_id.data),
                    "category": sub.category.data,
                    "unit": sub.unit.data,
                    "min": float(sub.min.data) if sub.min.data is not None else None,
                    "max": float(sub.max.data) if sub.max.data is not None else None,
                }
            )
        return {
            "name": self.name.data.strip(),
            "school_year": self.school_year.data,
            "need_definition_id": self.need_definition_id.data or None,
            "weight_rule": WeightRule(self.weight_rule.data),
            "need_threshold": self.need_threshold.data or Decimal(0),
            "categories": sorted(self.categories.data or []),
            "service_ids": sorted(self.service_ids.data or []),
            "require_service_area": bool(self.require_service_area.data),
            "keep_commitments_as_locks": bool(self.keep_commitments_as_locks.data),
            "saturation": self.saturation.data,
            "objective": Objective(self.objective.data),
            "solver": SolverChoice(self.solver.data),
            "time_limit_s": int(self.time_limit_s.data),
            "limits": limits,
        }


class AdoptForm(RegistryForm):
    """Chosen proposal lines ("J<id>:S<id>") to turn into draft MOUs."""

    lines = MultiCheckboxField(_l("Proposal lines"), choices=[], validate_choice=False)
