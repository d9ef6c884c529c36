"""The continuous maxmin floor by Newton's method over max-flow LPs (allocation/floor.py)
against the LP with a z column it replaces, on seeded random flow networks."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from allocation import load_problem
from allocation.clock import Budget, MonotonicClock
from allocation.floor import applicable
from allocation.model import category_data
from allocation.stages import _CategorySolver


def network(seed: int) -> dict[str, Any]:
    """Heavy-tailed weights and capacities, per-site bounds, some limit maximums."""
    rng = random.Random(seed)
    schools = [{"id": f"S{i}", "weight": round(rng.lognormvariate(3, 1), 3)} for i in range(30)]
    services = []
    for j in range(40):
        eligible: list[Any] = [
            s["id"] if rng.random() < 0.8 else {"school": s["id"], "max": rng.randint(0, 20)}
            for s in rng.sample(schools, rng.randint(1, 8))
        ]
        service: dict[str, Any] = {
            "id": f"J{j}",
            "category": "tutoring",
            "capacity": round(rng.paretovariate(1.2) * 5, 2),
            "eligible": eligible,
        }
        if rng.random() < 0.3:
            service["max_per_school"] = rng.randint(1, 30)
        services.append(service)
    limits = [
        {"school": f"S{i}", "category": "tutoring", "max": rng.randint(1, 30)}
        for i in range(0, 30, 5)
        if seed % 3 == 0
    ]
    return {"schools": schools, "services": services, "limits": limits}


@pytest.mark.parametrize("seed", range(40))
def test_newton_floor_matches_the_lp_with_a_z_column(seed: int) -> None:
    data = category_data(load_problem(network(seed)), "tutoring")
    assert applicable(data, has_binaries=False)
    found = []
    for searched in (True, False):
        runner = _CategorySolver(data, "highs", Budget(None, MonotonicClock()))
        first = runner.stage1()
        assert first.amounts is not None
        t_star = float(first.amounts.sum())
        if searched:
            stage, z = runner.max_floor(t_star, first.amounts)
            assert runner.floor_by_search
        else:
            stage, z = runner._max_floor_milp(t_star, first.amounts)
        assert stage.amounts is not None
        x = stage.amounts
        # Within every bound, placing T*, and the floor it reports held.
        assert np.all(x <= data.pair_upper * (1 + 1e-9) + 1e-9) and np.all(x >= 0)
        used = np.bincount(data.pair_service, weights=x, minlength=len(data.services))
        assert np.all(used <= [s.capacity * (1 + 1e-7) + 1e-9 for s in data.services])
        assert x.sum() >= t_star * (1 - 1e-6)
        assert runner.coverage(x) >= z * (1 - 1e-6)
        found.append(z)
    newton, lp = found
    assert newton == pytest.approx(lp, rel=1e-6, abs=1e-12)


def test_not_applicable_with_locks_cohorts_whole_seats_or_limit_minimums() -> None:
    base = network(1)
    base["limits"] = []
    assert applicable(category_data(load_problem(base), "tutoring"), has_binaries=False)
    assert not applicable(category_data(load_problem(base), "tutoring"), has_binaries=True)
    whole = {**base, "services": [{**s, "integer": True} for s in base["services"]]}
    assert not applicable(category_data(load_problem(whole), "tutoring"), has_binaries=False)
    service = base["services"][0]
    school = service["eligible"][0]
    school_id = school if isinstance(school, str) else school["school"]
    locked = {**base, "locks": [{"service": service["id"], "school": school_id, "amount": 0}]}
    assert not applicable(category_data(load_problem(locked), "tutoring"), has_binaries=False)
    limited = {
        **base,
        "limits": [{"school": school_id, "category": "tutoring", "min": 0.5}],
    }
    assert not applicable(category_data(load_problem(limited), "tutoring"), has_binaries=False)
