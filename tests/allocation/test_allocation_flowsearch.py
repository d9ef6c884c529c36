"""The flow finder (`allocation.flowsearch`): whole allocations meeting school floors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from allocation.flowsearch import STOP_EVERY, FlowFinder, check


def finder(
    pairs: list[tuple[int, int]], upper: list[float], viable: list[float], capacity: list[float]
) -> FlowFinder:
    service = np.asarray([p[0] for p in pairs])
    school = np.asarray([p[1] for p in pairs])
    return FlowFinder(
        service,
        school,
        np.zeros(len(pairs)),
        np.asarray(upper, dtype=float),
        np.asarray(viable, dtype=float),
        np.asarray(capacity, dtype=float),
    )


def broken(
    f: FlowFinder, x: np.ndarray, floors: list[float], t_star: float, y_upper: list[float] | None
) -> list[str]:
    return check(
        f,
        x,
        np.asarray(floors, dtype=float),
        t_star,
        None if y_upper is None else np.asarray(y_upper, dtype=float),
    )


def brute_force(
    f: FlowFinder,
    floors: list[float],
    t_star: float,
    y_upper: list[float] | None = None,
    group: tuple[list[int], float] | None = None,
) -> np.ndarray | None:
    """The first allocation meeting every constraint, by enumeration; None if none does."""
    choices = []
    for k in range(f.n):
        v, u = int(f.viable[k]), int(f.pair_upper[k])
        choices.append([0, *range(max(v, 1), u + 1)])
    for amounts in itertools.product(*choices):
        x = np.asarray(amounts, dtype=float)
        if x.sum() != t_star or broken(f, x, floors, t_star, y_upper):
            continue
        if group is not None and received(f, x)[group[0]].sum() < group[1]:
            continue
        return x
    return None


def received(f: FlowFinder, x: np.ndarray) -> np.ndarray:
    return np.bincount(f.pair_school, weights=x, minlength=int(f.pair_school.max()) + 1)


def test_an_exact_split_is_found_at_once() -> None:
    # One service of 10 seats, cohort 5, two schools that need 5 each.
    f = finder([(0, 0), (0, 1)], [10, 10], [5, 5], [10])
    out = f.find(np.asarray([5.0, 5.0]), 10.0)
    assert out.amounts is not None
    assert out.amounts.tolist() == [5.0, 5.0]
    assert out.backtracks == 0


def test_an_infeasible_question_is_exhausted() -> None:
    # 10 seats, cohort 6, both schools need 4: the flow allows 5 + 5, no cohort split does.
    f = finder([(0, 0), (0, 1)], [10, 10], [6, 6], [10])
    out = f.find(np.asarray([4.0, 4.0]), 10.0)
    assert out.amounts is None
    assert out.exhausted
    assert out.nodes >= 1  # the flow itself was feasible: it took a branch to rule it out


def test_a_question_that_needs_backtracking() -> None:
    # Service 0 (8 seats, cohort 1) and service 1 (9 seats, cohort 5) at schools 0 and 1;
    # school 0 needs 4, school 1 needs 1, 7 seats in all. The first side the search
    # tries fails and it backs up: the answer is 2 seats of service 0 at school 1 and a
    # cohort of 5 of service 1 at school 0.
    f = finder([(0, 0), (0, 1), (1, 0), (1, 1)], [3, 8, 6, 9], [1, 1, 5, 5], [8, 9])
    out = f.find(np.asarray([4.0, 1.0]), 7.0)
    assert out.amounts is not None
    assert out.backtracks >= 1
    assert not broken(f, out.amounts, [4, 1], 7.0, None)
    assert out.amounts.tolist() == [0.0, 2.0, 5.0, 0.0]


def test_school_upper_bounds_and_fixings_are_kept() -> None:
    # Services of 10 (cohort 3) and 8 (cohort 4) at schools 0 and 1, all 18 seats placed.
    f = finder([(0, 0), (0, 1), (1, 0), (1, 1)], [10, 10, 10, 10], [3, 3, 4, 4], [10, 8])
    floors = np.asarray([6.0, 6.0])
    # Pair 0 off: service 0 gives its 10 to school 1, service 1 its 8 to school 0.
    out = f.find(floors, 18.0, y_upper=np.asarray([10.0, 10.0]), off=np.asarray([0]))
    assert out.amounts is not None
    assert out.amounts.tolist() == [0.0, 10.0, 8.0, 0.0]
    # Pair 0 off and pair 3 on: school 1 gets at least 14, above its bound of 12.
    held = f.find(
        floors, 18.0, y_upper=np.asarray([6.0, 12.0]), on=np.asarray([3]), off=np.asarray([0])
    )
    assert held.amounts is None and held.exhausted
    free = f.find(floors, 18.0, y_upper=np.asarray([6.0, 12.0]), on=np.asarray([3]))
    assert free.amounts is not None
    assert free.amounts[3] >= 4
    assert not broken(f, free.amounts, [6, 6], 18.0, [6, 12])


def test_a_cohort_above_a_pair_bound_holds_the_pair_off() -> None:
    f = finder([(0, 0), (0, 1)], [10, 3], [4, 4], [10])
    out = f.find(np.asarray([0.0, 1.0]), 5.0)
    assert out.amounts is None and out.exhausted


def test_the_budget_stops_the_search_unproven() -> None:
    f = finder([(0, 0), (0, 1)], [10, 10], [6, 6], [10])
    out = f.find(np.asarray([4.0, 4.0]), 10.0, budget=0)
    assert out.amounts is None
    assert not out.exhausted


def test_a_start_is_used_when_it_meets_the_bounds() -> None:
    f = finder([(0, 0), (0, 1), (1, 0), (1, 1)], [10, 10, 10, 10], [2, 2, 2, 2], [10, 10])
    start = np.asarray([6.0, 4.0, 3.0, 7.0])
    out = f.find(np.asarray([5.0, 5.0]), 20.0, start=start)
    assert out.amounts is not None
    assert out.amounts.tolist() == start.tolist()
    assert out.work == 0


@pytest.mark.parametrize("deduce", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_enumeration_on_small_random_categories(seed: int, deduce: bool) -> None:
    rng = np.random.default_rng(seed)
    tried = 0
    while tried < 25:
        services, schools = int(rng.integers(1, 4)), int(rng.integers(2, 4))
        pairs = [(j, s) for j in range(services) for s in range(schools) if rng.random() < 0.8]
        if not pairs:
            continue
        capacity = rng.integers(3, 12, size=services).astype(float)
        cohort = rng.integers(0, 6, size=services)
        viable = [float(cohort[j]) for j, _ in pairs]
        upper = [float(min(capacity[j], rng.integers(2, 12))) for j, _ in pairs]
        if np.prod([u + 1 for u in upper]) > 50_000:
            continue
        tried += 1
        t_star = float(rng.integers(1, int(capacity.sum()) + 1))
        floors = rng.integers(0, 5, size=schools).astype(float).tolist()
        y_upper = (np.asarray(floors) + rng.integers(2, 12, size=schools)).tolist()
        # Half the questions with a group: schools 0 and 1 together at least g.
        group = None
        if tried % 2:
            group = ([0, 1], float(floors[0] + floors[1] + rng.integers(0, 4)))
        f = finder(pairs, upper, viable, capacity.tolist())
        grouped = None if group is None else (np.asarray(group[0]), group[1])
        out, again = (
            f.find(
                np.asarray(floors),
                t_star,
                y_upper=np.asarray(y_upper),
                budget=100_000,
                deduce=deduce,
                group=grouped,
            )
            for _ in range(2)
        )
        known = brute_force(f, floors, t_star, y_upper, group)
        if known is None:
            assert out.amounts is None and out.exhausted
        else:
            assert out.amounts is not None
            assert not broken(f, out.amounts, floors, t_star, y_upper)
            if group is not None:
                assert received(f, out.amounts)[group[0]].sum() >= group[1]
        # Deterministic: the same question, the same answer and work.
        assert again.work == out.work
        assert (again.amounts is None) == (out.amounts is None)
        if out.amounts is not None and again.amounts is not None:
            assert again.amounts.tolist() == out.amounts.tolist()


def test_amounts_beyond_the_integer_graphs_are_left_unsettled() -> None:
    # Two billion seats do not fit the int32 maximum-flow graphs: no answer, and no
    # claim that there is none.
    f = finder([(0, 0), (0, 1)], [2e9, 2e9], [6, 6], [2e9])
    out = f.find(np.asarray([4.0, 4.0]), 2e9)
    assert out.amounts is None
    assert not out.exhausted


def test_the_callers_stop_ends_the_search_unproven() -> None:
    # A stop that says "time is up" ends a search that needs more than `STOP_EVERY`
    # units of work after exactly that many, unsettled (neither found nor exhausted);
    # one that never says so changes nothing. (A random category, 10 services and 20
    # schools, whose search at floors of 10 takes 35 units.)
    rng = np.random.default_rng(11)
    pairs = sorted({(int(rng.integers(10)), int(rng.integers(20))) for _ in range(80)})
    f = finder(
        pairs,
        [float(rng.integers(5, 30)) for _ in pairs],
        [float(rng.integers(3, 9)) for _ in pairs],
        [float(rng.integers(20, 60)) for _ in range(10)],
    )
    floors, total = np.full(20, 10.0), float(f.capacity.sum())
    free = f.find(floors, total, budget=10_000)
    assert free.amounts is not None and free.work > STOP_EVERY
    never = f.find(floors, total, budget=10_000, stop=lambda: False)
    assert never.amounts is not None and never.work == free.work
    asked: list[int] = []
    stopped = f.find(floors, total, budget=10_000, stop=lambda: asked.append(1) is None)
    assert stopped.amounts is None and not stopped.exhausted
    assert stopped.work == STOP_EVERY and len(asked) == 1
