"""Categories solved at once, on threads (`solve(workers=...)`): the same answer as one at
a time, progress reported from the caller's thread, and the time limit shared by lane."""

from __future__ import annotations

import json
import random
import threading
from typing import Any

import pytest

from allocation import result_to_dict, solve
from allocation import stages as engine
from allocation.clock import Budget, MonotonicClock

CATEGORIES = ["arts", "literacy", "mentoring", "stem", "tutoring"]


def several_categories(seed: int) -> dict[str, Any]:
    """Five categories over 16 schools: whole seats with and without cohorts, continuous
    hours, per-site bounds, a lock and a limit."""
    rng = random.Random(seed)
    ids = [f"S{i:02d}" for i in range(16)]
    services: list[dict[str, Any]] = []
    for c, category in enumerate(CATEGORIES):
        for j in range(rng.randint(3, 7)):
            chosen = sorted(rng.sample(ids, rng.randint(2, 9)))
            eligible: list[Any] = [
                {"school": s, "max": rng.randint(2, 12)} if rng.random() < 0.2 else s
                for s in chosen
            ]
            service: dict[str, Any] = {
                "id": f"{category[:2].upper()}{j}",
                "category": category,
                "capacity": rng.randint(5, 60),
                "integer": c != 2,
                "eligible": eligible,
            }
            if c in (0, 4) and j % 2 == 0:
                service["min_viable"] = rng.randint(2, 4)
            services.append(service)
    first = next(s for s in services if s["category"] == "stem")
    school = first["eligible"][0]
    return {
        "schools": [{"id": s, "weight": rng.choice([1, 2.5, 3, 7, 12.75])} for s in ids],
        "services": services,
        "locks": [
            {
                "service": first["id"],
                "school": school if isinstance(school, str) else school["school"],
                "amount": 1,
            }
        ],
        "limits": [{"school": ids[3], "category": "literacy", "max": 30}],
    }


def as_bytes(problem: dict[str, Any], objective: str, workers: int) -> bytes:
    return json.dumps(result_to_dict(solve(problem, objective=objective, workers=workers))).encode()


@pytest.mark.parametrize("objective", ["proportional", "maxmin"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_solving_categories_at_once_gives_the_same_bytes_as_one_at_a_time(
    objective: str, seed: int, feasible: Any
) -> None:
    problem = several_categories(seed)
    one = as_bytes(problem, objective, workers=1)
    assert as_bytes(problem, objective, workers=3) == one
    assert as_bytes(problem, objective, workers=2) == one
    result = json.loads(one)
    assert set(result["categories"]) == set(CATEGORIES)
    feasible(problem, result)


def test_progress_is_reported_from_the_callers_thread_once_per_category() -> None:
    calls: list[tuple[int, int, str, threading.Thread]] = []

    def progress(done: int, total: int, category: str) -> None:
        calls.append((done, total, category, threading.current_thread()))

    solve(several_categories(4), on_progress=progress, workers=3)
    assert [done for done, *_ in calls] == [1, 2, 3, 4, 5]
    assert {total for _, total, *_ in calls} == {5}
    assert sorted(category for _, _, category, _ in calls) == CATEGORIES
    assert {thread for *_, thread in calls} == {threading.current_thread()}


class Stop(Exception):
    pass


def test_an_exception_from_progress_goes_through_and_nothing_more_is_started() -> None:
    calls: list[str] = []

    def progress(done: int, total: int, category: str) -> None:
        calls.append(category)
        raise Stop

    with pytest.raises(Stop):
        solve(several_categories(5), on_progress=progress, workers=2)
    assert len(calls) == 1


def test_a_category_that_breaks_breaks_the_solve(monkeypatch: pytest.MonkeyPatch) -> None:
    real = engine._solve_scaled

    def breaking(data: Any, *args: Any, **kwargs: Any) -> Any:
        if data.category == "mentoring":
            raise RuntimeError("the solver failed on category 'mentoring'")
        return real(data, *args, **kwargs)

    monkeypatch.setattr(engine, "_solve_scaled", breaking)
    with pytest.raises(RuntimeError, match="mentoring"):
        solve(several_categories(6), workers=2)


def test_a_test_clock_sees_the_stages_in_order_one_category_at_a_time() -> None:
    seen: list[tuple[str, str]] = []

    class Recording(MonotonicClock):
        def starting(self, category: str, stage: str) -> None:  # type: ignore[override]
            seen.append((category, stage))

    solve(several_categories(7), clock=Recording())
    categories = [category for category, _ in seen]
    # each category's stages together: the categories one after the other
    runs = [c for i, c in enumerate(categories) if i == 0 or categories[i - 1] != c]
    assert sorted(runs) == sorted(set(runs)) == CATEGORIES


class Frozen:
    """A clock that stands still at 0, so a budget's time left is exactly its limit."""

    def now(self) -> float:
        return 0.0

    def starting(self, category: str, stage: str) -> None:
        pass


@pytest.mark.parametrize(
    ("left", "later", "lanes", "share"),
    [
        (10.0, 0, 2, 10.0),  # the last to start takes everything left
        (10.0, 4, 1, 6.0),  # one lane: a second kept for each of the four to come
        (10.0, 4, 2, 8.0),  # two lanes: two follow on this one, a second for each
        (10.0, 1, 2, 9.0),
        (2.0, 4, 2, 2.0 / 3),  # too little for a second each: an equal share
        (100.0, 9, 3, 85.0),  # 5% of what is left kept for each of the three to come
    ],
)
def test_a_category_may_use_what_is_left_but_a_reserve_for_those_after_it_on_its_lane(
    left: float, later: int, lanes: int, share: float
) -> None:
    clock = Frozen()
    given = engine._share(Budget(left, clock), later, lanes)
    assert given.left() == pytest.approx(share)


def test_no_limit_gives_every_category_no_limit() -> None:
    clock = Frozen()
    assert engine._share(Budget(None, clock), 3, 2).left() is None


def test_one_worker_per_core_at_most_four_and_one_with_a_test_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert engine.default_workers(None) == 2
    assert engine.default_workers(Frozen()) == 1
    monkeypatch.setattr(engine.os, "sched_getaffinity", lambda pid: set(range(32)), raising=False)
    assert engine.default_workers(None) == engine.MAX_WORKERS == 4
