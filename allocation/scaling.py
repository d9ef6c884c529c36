"""Scale-free solving: weights and amounts normalised before any solver sees them.

The spec: multiplying every weight by any ``k`` in [1e-6, 1e6] leaves every
``x_js`` unchanged, and for continuous problems multiplying every amount
(capacities, per-site maxima, ``max_per_school``, ``min_viable``, locks and
limits) by ``k`` multiplies every ``x_js`` by ``k``. Solver tolerances are
absolute (about 1e-7 to 1e-9), so a problem in tiny or huge units was solved
to a different precision: weights of 1e-9 gave all seats to one school, and
capacities of 1e-9 could be exceeded threefold.

`scale_category` returns the category's `CategoryData` in the engine's own
units, which is what the stages solve:

- weights are divided by the category's largest weight and rounded to
  `SIGNIFICANT` significant digits (so they lie in (0, 1]);
- in a category where no service is in whole units, every amount is divided
  by ``AMOUNT_REFERENCE`` and rounded the same way, where the reference is the
  median positive capacity over `TYPICAL_SCALED` (so a typical capacity is
  64 units, whatever the file's unit). Whole-seat amounts are kept as they
  are: a seat is a seat (a category with any whole-unit service keeps its
  amounts; only its weights are scaled).

Dividing by a figure of the problem itself and then rounding to 12 digits
makes ``w k`` and ``w`` (or ``C k`` and ``C``) give the same scaled values bit
for bit (short of a value within a few ulps of a rounding boundary), so the
solvers see the same problem and the answer is the same, not merely close.
Rounding moves no value by more than 5e-13 of itself, and is monotone: it
keeps every ``<=`` between two amounts.

`Scaled.unscale` brings the amounts back to the file's units (and
`allocation.model.clean_amounts` on the original data makes locks exact and
keeps every bound). Explanations (``why``, conflicts) are always worded from
the original data: see `allocation.stages._solve_scaled`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from allocation.model import CategoryData, clean_amounts, round_significant
from allocation.problem import Limit, Service

SIGNIFICANT = 12  # significant digits kept by the scaled values
TYPICAL_SCALED = 64.0  # a typical (median) capacity in the engine's units


def _round(value: float) -> float:
    return float(round_significant(np.asarray([value]), SIGNIFICANT)[0])


def _continuous(data: CategoryData) -> bool:
    """Whether no service of the category that has a pair is in whole units."""
    return not any(data.services[j].integer for j in set(data.pair_service.tolist()))


def amount_reference(data: CategoryData) -> float | None:
    """The file's amount that becomes `TYPICAL_SCALED`, or None to keep amounts as they are.

    None for a category with a whole-unit service or with no positive capacity.
    """
    if not len(data.pair_service) or not _continuous(data):
        return None
    capacities = [service.capacity for service in data.services if service.capacity > 0]
    if not capacities:
        return None
    reference = float(np.median(capacities)) / TYPICAL_SCALED
    if not math.isfinite(reference) or reference <= 0:
        return None
    return reference


@dataclass(frozen=True)
class Scaled:
    """A category in the engine's units, and how to bring amounts back."""

    data: CategoryData  # what the stages solve
    weight_reference: float  # file weight = scaled weight * this (up to rounding)
    amount_reference: float | None  # file amount = scaled amount * this; None: unscaled

    def unscale(
        self, original: CategoryData, amounts: np.ndarray, t_star: float
    ) -> tuple[np.ndarray, float]:
        """Amounts and T* of a scaled solution in the file's units, cleaned on `original`."""
        if self.amount_reference is None:
            return amounts, t_star
        reference = self.amount_reference
        back = clean_amounts(original, np.asarray(amounts, dtype=np.float64) * reference)
        return back, t_star * reference


def _amount(value: float, reference: float | None) -> float:
    return value if reference is None else _round(value / reference)


def _optional(value: float | None, reference: float | None) -> float | None:
    return None if value is None else _amount(value, reference)


def scale_category(data: CategoryData) -> Scaled:
    """The category with weights (and, for continuous categories, amounts) normalised."""
    if not data.schools:
        return Scaled(data, 1.0, None)
    weight_reference = max(school.weight for school in data.schools)
    scaled_weights = round_significant(
        np.asarray([school.weight for school in data.schools]) / weight_reference, SIGNIFICANT
    )
    schools = [
        dataclasses.replace(school, weight=float(weight))
        for school, weight in zip(data.schools, scaled_weights, strict=True)
    ]
    reference = amount_reference(data)
    services = data.services
    locks = data.locks
    limits = data.limits
    pair_upper = data.pair_upper
    pair_lock = data.pair_lock
    if reference is not None:
        services = [_scaled_service(service, reference) for service in data.services]
        locks = [
            (index, dataclasses.replace(lock, amount=_amount(lock.amount, reference)))
            for index, lock in data.locks
        ]
        limits = [(index, _scaled_limit(limit, reference)) for index, limit in data.limits]
        pair_upper = round_significant(data.pair_upper / reference, SIGNIFICANT)
        pair_lock = {k: _amount(amount, reference) for k, amount in data.pair_lock.items()}
    scaled = dataclasses.replace(
        data,
        schools=schools,
        services=services,
        locks=locks,
        limits=limits,
        pair_upper=pair_upper,
        pair_lock=pair_lock,
    )
    return Scaled(scaled, weight_reference, reference)


def _scaled_service(service: Service, reference: float) -> Service:
    return dataclasses.replace(
        service,
        capacity=_amount(service.capacity, reference),
        max_per_school=_optional(service.max_per_school, reference),
        min_viable=_optional(service.min_viable, reference),
        site_max=tuple((school, _amount(bound, reference)) for school, bound in service.site_max),
    )


def _scaled_limit(limit: Limit, reference: float) -> Limit:
    return dataclasses.replace(
        limit, min=_optional(limit.min, reference), max=_optional(limit.max, reference)
    )


__all__ = ["Scaled", "amount_reference", "round_significant", "scale_category"]
