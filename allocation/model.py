"""One category's allocation problem as arrays, and its PuLP model.

`category_data` gathers what one category needs (its services, the schools
``S_c``, the eligible pairs that can carry an amount, locks and limits);
`CategoryModel` turns that into PuLP variables and the constraints every stage
shares. The stages themselves live in `allocation.stages`.

Variables: ``x_k`` for each eligible pair ``k = (j, s)`` of a service with
``C_j > 0`` that can carry a positive amount, bounded by
``U_k = min(C_j, m_j, m_js)`` (``m_js`` the per-site bound of the entry);
a binary ``b_k`` for each pair of a service with a positive ``min_viable``
(``v_j b_k <= x_k <= U_k b_k``); ``y_s`` for each school of ``S_c``, with
``y_s = sum_j x_js`` as a row and the school's limits as its bounds. Locks
are fixed bounds on ``x_k``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pulp  # type: ignore[import-untyped, unused-ignore]  # pulp ships no types

from allocation.problem import Limit, Lock, Problem, School, Service


@dataclass
class CategoryData:
    """Everything about one category that the stages, checks and explanations need."""

    category: str
    services: list[Service]  # every service of the category, sorted by id
    schools: list[School]  # S_c, sorted by id
    # Eligible pairs that can carry a positive amount, sorted by (service id, school id).
    pair_service: np.ndarray  # index into `services`
    pair_school: np.ndarray  # index into `schools`
    pair_upper: np.ndarray  # U_k = min(C_j, m_j, m_js)
    locks: list[tuple[int, Lock]]  # (position in problem.locks, lock) in this category
    limits: list[tuple[int, Limit]]  # (position in problem.limits, limit) in this category
    all_schools: dict[str, School]
    unit: str
    pair_of: dict[tuple[str, str], int] = field(default_factory=dict)
    pair_lock: dict[int, float] = field(default_factory=dict)  # pair -> locked amount

    @property
    def all_integer(self) -> bool:
        """Whether every amount in the category is a whole number (so T* is one too)."""
        return all(self.services[j].integer for j in set(self.pair_service.tolist()))

    @property
    def capacity(self) -> float:
        """Total capacity of the category's services."""
        return float(sum(service.capacity for service in self.services))

    def school_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per school of S_c, the tightest limit min and max (0 and inf when none)."""
        lower = np.zeros(len(self.schools))
        upper = np.full(len(self.schools), math.inf)
        position = {school.id: i for i, school in enumerate(self.schools)}
        for _, limit in self.limits:
            i = position.get(limit.school)
            if i is None:
                continue
            if limit.min is not None:
                lower[i] = max(lower[i], limit.min)
            if limit.max is not None:
                upper[i] = min(upper[i], limit.max)
        return lower, upper


def _unit_of(services: list[Service]) -> str:
    units = {service.unit for service in services if service.unit}
    return units.pop() if len(units) == 1 else "units"


def category_data(problem: Problem, category: str) -> CategoryData:
    """Gather the category's services, S_c, eligible pairs, locks and limits."""
    services = sorted(
        (service for service in problem.services if service.category == category),
        key=lambda service: service.id,
    )
    all_schools = {school.id: school for school in problem.schools}
    in_reach = sorted(
        {school for service in services if service.capacity > 0 for school in service.eligible}
    )
    schools = [all_schools[school_id] for school_id in in_reach]
    position = {school.id: i for i, school in enumerate(schools)}

    pair_service: list[int] = []
    pair_school: list[int] = []
    pair_upper: list[float] = []
    pair_of: dict[tuple[str, str], int] = {}
    for j, service in enumerate(services):
        if service.capacity <= 0:
            continue
        for school_id in sorted(service.eligible):
            upper = service.upper_at(school_id)  # u_js = min(C_j, m_j, m_js)
            if service.integer:
                upper = math.floor(upper + 1e-9)
            if upper <= 0 or (service.min_viable is not None and service.min_viable > upper):
                # Nothing can go to this school from this service: no variable, x = 0.
                continue
            pair_of[(service.id, school_id)] = len(pair_service)
            pair_service.append(j)
            pair_school.append(position[school_id])
            pair_upper.append(upper)

    service_ids = {service.id for service in services}
    locks = [(i, lock) for i, lock in enumerate(problem.locks) if lock.service in service_ids]
    limits = [(i, limit) for i, limit in enumerate(problem.limits) if limit.category == category]
    pair_lock: dict[int, float] = {}
    for _, lock in locks:
        k = pair_of.get((lock.service, lock.school))
        if k is not None:
            pair_lock[k] = lock.amount
    return CategoryData(
        category=category,
        services=services,
        schools=schools,
        pair_service=np.asarray(pair_service, dtype=np.int64),
        pair_school=np.asarray(pair_school, dtype=np.int64),
        pair_upper=np.asarray(pair_upper, dtype=np.float64),
        locks=locks,
        limits=limits,
        all_schools=all_schools,
        unit=_unit_of(services),
        pair_of=pair_of,
        pair_lock=pair_lock,
    )


def _expr(terms: list[tuple[pulp.LpVariable, float]]) -> pulp.LpAffineExpression:
    # Built from a list in one go: adding term by term is quadratic-ish in PuLP.
    return pulp.LpAffineExpression(terms)


class CategoryModel:
    """PuLP variables and the constraints all stages share, for one category.

    With ``elastic=True`` the locks and limits are soft: each gets slack
    variables (returned in `lock_slack` and `limit_slack`) and no bounds, so
    the model is always feasible and its least total slack shows which locks
    and limits cannot hold together.
    """

    def __init__(self, data: CategoryData, *, elastic: bool = False) -> None:
        self.data = data
        self.elastic = elastic
        pairs = len(data.pair_service)
        self.x: list[pulp.LpVariable] = []
        self.binaries: dict[int, pulp.LpVariable] = {}
        self.constraints: list[pulp.LpConstraint] = []
        self.lock_slack: dict[int, tuple[pulp.LpVariable, pulp.LpVariable]] = {}
        self.limit_slack: dict[int, tuple[pulp.LpVariable | None, pulp.LpVariable | None]] = {}
        # A throwaway problem only to create variables the PuLP-4 way.
        factory = pulp.LpProblem(f"vars_{abs(hash(data.category))}", pulp.LpMinimize)
        self._factory = factory
        self._base: pulp.LpProblem | None = None  # the shared rows, see `problem`

        # Plain lists: indexing numpy arrays element by element is slow at state scale.
        pair_service = data.pair_service.tolist()
        pair_school = data.pair_school.tolist()
        pair_upper = data.pair_upper.tolist()
        kinds = [pulp.LpInteger if s.integer else pulp.LpContinuous for s in data.services]
        cohorts = [
            s.min_viable if s.min_viable and s.min_viable > 0 else None for s in data.services
        ]
        locks = {} if elastic else data.pair_lock
        add_variable = factory.add_variable
        for k in range(pairs):
            j = pair_service[k]
            upper = pair_upper[k]
            locked = locks.get(k)
            if locked is None:
                var = add_variable(f"x{k}", 0.0, upper, kinds[j])
            else:
                var = add_variable(f"x{k}", locked, locked, kinds[j])
            self.x.append(var)
            viable = cohorts[j]
            if viable is not None and locked is None:
                b = factory.add_variable(f"b{k}", 0, 1, pulp.LpBinary)
                self.binaries[k] = b
                self.constraints.append(
                    pulp.LpConstraint(
                        _expr([(var, 1.0), (b, -upper)]), pulp.LpConstraintLE, f"on{k}", 0.0
                    )
                )
                self.constraints.append(
                    pulp.LpConstraint(
                        _expr([(var, 1.0), (b, -viable)]), pulp.LpConstraintGE, f"cohort{k}", 0.0
                    )
                )

        lower, upper = data.school_bounds()
        self.y: list[pulp.LpVariable] = []
        for i in range(len(data.schools)):
            if elastic:
                lo, hi = 0.0, None
            else:
                lo = float(lower[i])
                hi = None if math.isinf(upper[i]) else float(upper[i])
            self.y.append(factory.add_variable(f"y{i}", lo, hi))

        by_service: dict[int, list[tuple[pulp.LpVariable, float]]] = defaultdict(list)
        by_school: dict[int, list[tuple[pulp.LpVariable, float]]] = defaultdict(list)
        for var, j, i in zip(self.x, pair_service, pair_school, strict=True):
            by_service[j].append((var, 1.0))
            by_school[i].append((var, 1.0))
        reach_of_service: dict[int, float] = defaultdict(float)
        for j, upper in zip(pair_service, pair_upper, strict=True):
            reach_of_service[j] += upper
        for j in sorted(by_service):
            terms = by_service[j]
            service = data.services[j]
            if reach_of_service[j] <= service.capacity:
                continue  # can never bind
            self.constraints.append(
                pulp.LpConstraint(_expr(terms), pulp.LpConstraintLE, f"cap{j}", service.capacity)
            )
        for i, y in enumerate(self.y):
            terms = [*by_school.get(i, []), (y, -1.0)]
            self.constraints.append(
                pulp.LpConstraint(_expr(terms), pulp.LpConstraintEQ, f"recv{i}", 0.0)
            )

        if elastic:
            self._add_elastic()

    def _add_elastic(self) -> None:
        data = self.data
        factory = self._factory
        for k, amount in sorted(data.pair_lock.items()):
            over = factory.add_variable(f"lock_over{k}", 0, None)
            under = factory.add_variable(f"lock_under{k}", 0, None)
            self.lock_slack[k] = (over, under)
            self.constraints.append(
                pulp.LpConstraint(
                    _expr([(self.x[k], 1.0), (over, -1.0), (under, 1.0)]),
                    pulp.LpConstraintEQ,
                    f"lock{k}",
                    amount,
                )
            )
        position = {school.id: i for i, school in enumerate(data.schools)}
        for index, limit in data.limits:
            i = position.get(limit.school)
            if i is None:
                continue  # pre-checks cover limits on schools outside S_c
            short = excess = None
            if limit.min is not None and limit.min > 0:
                short = factory.add_variable(f"limit_short{index}", 0, None)
                self.constraints.append(
                    pulp.LpConstraint(
                        _expr([(self.y[i], 1.0), (short, 1.0)]),
                        pulp.LpConstraintGE,
                        f"limit_min{index}",
                        limit.min,
                    )
                )
            if limit.max is not None:
                excess = factory.add_variable(f"limit_excess{index}", 0, None)
                self.constraints.append(
                    pulp.LpConstraint(
                        _expr([(self.y[i], 1.0), (excess, -1.0)]),
                        pulp.LpConstraintLE,
                        f"limit_max{index}",
                        limit.max,
                    )
                )
            self.limit_slack[index] = (short, excess)

    def problem(self, name: str, sense: int) -> pulp.LpProblem:
        """A fresh PuLP problem holding the shared constraints (objective left to the stage)."""
        if self._base is None:
            base = pulp.LpProblem("shared", pulp.LpMinimize)
            for constraint in self.constraints:
                base.addConstraint(constraint)
            self._base = base
        # The shared rows are added once; each stage's problem starts from a copy of
        # them (adding ~80,000 rows again per stage cost 0.5 s at state scale).
        # LpProblem.copy() leaves the registered variables behind, so copy those too.
        lp = pulp.LpProblem(name, sense)
        lp._constraints = dict(self._base._constraints)
        lp._variables = list(self._base._variables)
        lp._variable_ids = dict(self._base._variable_ids)
        return lp

    def amounts(self) -> np.ndarray:
        """The solved x values, cleaned of solver noise (see `clean_amounts`)."""
        raw = np.fromiter(
            (0.0 if v.varValue is None else v.varValue for v in self.x),
            dtype=np.float64,
            count=len(self.x),
        )
        return clean_amounts(self.data, raw)


AMOUNT_DIGITS = 12  # significant digits an amount keeps (the result writes 10)
AMOUNT_NOISE = 1e-12  # below this share of the category's largest pair bound, an amount is 0


def round_significant(values: np.ndarray, digits: int = AMOUNT_DIGITS) -> np.ndarray:
    """`values` rounded to `digits` significant digits (deterministic, elementwise).

    Zeros, non-finite values and values too small or large to scale by a power
    of ten in a float (below 1e-290 or above 1e290) are left as they are.
    """
    values = np.asarray(values, dtype=np.float64)
    out = values.copy()
    magnitude = np.abs(values)
    usable = np.isfinite(values) & (magnitude > 1e-290) & (magnitude < 1e290)
    if not usable.any():
        return out
    exponent = np.floor(np.log10(magnitude[usable]))
    factor = 10.0 ** (digits - 1 - exponent)
    out[usable] = np.round(values[usable] * factor) / factor
    return out


def clean_amounts(data: CategoryData, raw: np.ndarray) -> np.ndarray:
    """Snap solver values to what they stand for: locks exact, whole seats, no stray cohorts.

    Values are clipped to [0, U_k]; integer services are rounded to whole
    numbers; a min_viable pair below its cohort (solver noise of the on/off
    binary) is snapped to 0 or to the cohort, whichever is nearer; locked pairs
    take their locked amount. The rest is relative, so that it means the same
    in any unit: a continuous amount below 1e-12 of the category's largest
    pair bound is solver noise and becomes 0, and every other continuous amount
    is rounded to 12 significant digits, then clipped to U_k again. (Not
    fewer: rounding moves T*, and 10 digits moved it by more than the
    solvers' tolerance, so that later stages could not place it again.)
    """
    values = np.clip(raw, 0.0, data.pair_upper)
    integer = np.asarray([s.integer for s in data.services], dtype=bool)[data.pair_service]
    viable = np.asarray([s.min_viable or 0.0 for s in data.services], dtype=np.float64)[
        data.pair_service
    ]
    values = np.where(integer, np.round(values), values)  # half to even, as round()
    stray = (values > 0.0) & (values < viable)
    values = np.where(stray, np.where(values < viable / 2, 0.0, viable), values)
    if len(values):
        noise = AMOUNT_NOISE * float(np.max(data.pair_upper))
        values[~integer & (values <= noise)] = 0.0
    values = np.where(integer, values, np.minimum(round_significant(values), data.pair_upper))
    for k, amount in data.pair_lock.items():
        values[k] = amount
    return values
