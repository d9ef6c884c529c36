"""The flow finder (`allocation.flowsearch`) on real categories: an experiment.

Usage::

    python bench/cohort_probes.py --write-problem P.json     # district-int seed 2 tutoring
    python bench/flow_search.py --problem P.json [--z 0.3323915573] [--budget 5000]
        [--engine]             # also time CohortSearch._floor_allocation without the finder
    python bench/flow_search.py --size district-int --seed 3 [--category arts] [--engine]

With ``--problem``: the category's stage 1 (T*, implied bounds), then the finder at the
floors of ``--z`` (default: district-int seed 2 ``tutoring``'s z*), at the floors of the
next breakpoint above it, and at a stage-3-like question (the floors of z*, the schools
whose room ``tau_s - f_s`` is above ``--room`` held at their floors, one school of the
others one seat up). With ``--size/--seed``: every cohort category of that instance,
its z* found by the engine (`CohortSearch.max_floor`, no time limit), then the finder
and (``--engine``) the engine's repairs without the finder
(`_floor_allocation(..., finder=False)`) at z*'s floors. Every allocation found is checked
by `allocation.flowsearch.check`. CPU (process) and wall seconds are printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from allocation.cohorts import CohortSearch, applicable  # noqa: E402
from allocation.flowsearch import FlowFinder, check  # noqa: E402
from allocation.integral import next_breakpoint  # noqa: E402
from allocation.model import category_data  # noqa: E402
from allocation.problem import load_problem  # noqa: E402
from bench.cohort_probes import bench_generator  # noqa: E402

Z_STAR = 0.3323915573  # district-int seed 2 tutoring, the engine's proven floor


def timed(fn: Any) -> tuple[Any, float, float]:
    c, w = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c, time.perf_counter() - w


def finder_of(cs: CohortSearch) -> FlowFinder:
    return FlowFinder(cs.pair_service, cs.pair_school, cs.implied, cs.upper, cs.viable, cs.capacity)


def run_finder(
    cs: CohortSearch,
    name: str,
    floors: np.ndarray,
    t_star: float,
    budget: int,
    y_upper: np.ndarray | None = None,
    group: tuple[np.ndarray, float] | None = None,
) -> np.ndarray | None:
    """The finder as it is, then (nothing found, not exhausted) after its deduction."""
    found = None
    for deduce in (False, True):
        finder = finder_of(cs)
        out, cpu, wall = timed(
            partial(finder.find, floors, t_star, y_upper=y_upper, budget=budget, deduce=deduce)
            if group is None
            else partial(
                finder.find,
                floors,
                t_star,
                y_upper=y_upper,
                budget=budget,
                deduce=deduce,
                group=group,
            )
        )
        if out.amounts is not None:
            verdict = "found"
        else:
            verdict = "none (exhausted)" if out.exhausted else "none within budget"
        if out.amounts is not None:
            broken = check(finder, out.amounts, floors, t_star, y_upper)
            assert not broken, broken
            assert cs.holds(out.amounts, floors, t_star, y_upper)
            if group is not None:
                assert cs.received(out.amounts)[group[0]].sum() >= group[1]
            verdict += " (checked)"
            found = out.amounts
        print(
            f"  finder{' + deduction' if deduce else ''} {name}: {verdict}; work {out.work}, "
            f"{out.nodes} nodes, {out.backtracks} backtracks; CPU {cpu:.3f} s, wall {wall:.3f} s",
            flush=True,
        )
        if out.amounts is not None or out.exhausted:
            break
    return found


def run_engine(cs: CohortSearch, floors: np.ndarray, t_star: float, z: float) -> None:
    def plain() -> np.ndarray | None:
        h = cs._floor_lp(floors, t_star)
        return cs._x(h) if cs._solved(h) else None

    # The engine's repairs as they were before the finder (`finder=False`).
    out, cpu, wall = timed(lambda: cs._floor_allocation(floors, t_star, plain, finder=False))
    ok = isinstance(out, np.ndarray) and cs.holds(out, floors, t_star)
    print(
        f"  engine _floor_allocation(finder=False): {'found' if ok else 'none'}; "
        f"CPU {cpu:.3f} s, wall {wall:.3f} s",
        flush=True,
    )


def setup(data: Any) -> tuple[CohortSearch, float]:
    cs = CohortSearch(data, lambda: None)
    found = cs.stage1()
    assert found is not None and found.proven
    t_star = found.value
    cs.imply(t_star)
    return cs, t_star


def seed2(args: argparse.Namespace) -> None:
    problem = json.loads(Path(args.problem).read_text())
    (category,) = {s["category"] for s in problem["services"]}
    data = category_data(load_problem(problem), category)
    cs, t_star = setup(data)
    w = cs.weights
    z = args.z
    floors = cs._floors(z)
    assert floors is not None
    plain = np.maximum(np.ceil(z * w - 1e-9), cs.school_lower)
    print(
        f"T* = {t_star:.0f}; z = {z}: floors add up to {floors.sum():.0f} "
        f"(plain ceil: {plain.sum():.0f}, raised to reachable: "
        f"{int((floors != plain).sum())} schools)"
    )
    found = run_finder(cs, "at z's floors", floors, t_star, args.budget)
    if args.engine:
        run_engine(cs, floors, t_star, z)
    above = next_breakpoint(w, z)
    floors_up = cs._floors(above)
    if floors_up is None:
        print(f"next breakpoint {above:.10g}: a school cannot reach its floor")
    else:
        print(f"next breakpoint {above:.10g}: floors add up to {floors_up.sum():.0f}")
        run_finder(cs, "at the next breakpoint's floors", floors_up, t_star, args.budget)
    rooms = cs.targets(t_star) - floors
    wide_all = np.flatnonzero(rooms > args.room)
    group = (wide_all, float(floors[wide_all].sum()) + 1.0)
    run_finder(
        cs,
        f"stage-3 group probe: the {len(wide_all)} schools with room above {args.room} "
        "one seat more in all",
        floors,
        t_star,
        args.budget,
        group=group,
    )
    wide = np.flatnonzero(rooms > args.room)
    narrow = np.flatnonzero((rooms > 0) & (rooms <= args.room))
    print(
        f"stage-3-like: {len(wide)} schools held at their floors; small rooms: "
        + ", ".join(f"{s} ({rooms[s]:.4f})" for s in narrow.tolist())
    )
    held = cs.school_upper.copy()
    held[wide] = floors[wide]
    for s in narrow.tolist():
        raised = floors.copy()
        raised[s] += 1
        run_finder(cs, f"stage-3: school {s} one seat up", raised, t_star, args.budget, held)
    if len(narrow) >= 2:
        raised = floors.copy()
        raised[narrow] += 1
        run_finder(
            cs,
            f"stage-3: schools {narrow.tolist()} one seat up each",
            raised,
            t_star,
            args.budget,
            held,
        )
    if found is not None:
        print(f"  (the allocation found at z's floors has floor {cs.coverage(found):.10g})")


def instance(args: argparse.Namespace) -> None:
    problem = bench_generator()(args.size, args.seed)
    problem["objective"] = "maxmin"
    loaded = load_problem(problem)
    categories = sorted({s["category"] for s in problem["services"]})
    for category in categories:
        if args.category and category != args.category:
            continue
        data = category_data(loaded, category)
        if not applicable(data):
            continue
        cs, t_star = setup(data)
        best, cpu, _ = timed(partial(cs.max_floor, t_star, np.zeros(cs.n)))
        if best is None:
            print(f"{args.size} seed {args.seed} {category}: no floor found")
            continue
        z = best.value
        floors = cs._floors(z)
        assert floors is not None
        print(
            f"{args.size} seed {args.seed} {category}: {cs.n} pairs, T* {t_star:.0f}, z* {z:.10g} "
            f"(proven {best.proven}; max_floor CPU {cpu:.1f} s), floors sum {floors.sum():.0f}",
            flush=True,
        )
        run_finder(cs, "at z*'s floors", floors, t_star, args.budget)
        if args.engine:
            run_engine(cs, floors, t_star, z)
        above = next_breakpoint(cs.weights, z)
        floors_up = cs._floors(above)
        if floors_up is not None:
            run_finder(cs, "at the next breakpoint's floors", floors_up, t_star, args.budget)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problem")
    parser.add_argument("--z", type=float, default=Z_STAR)
    parser.add_argument("--room", type=float, default=0.0431)
    parser.add_argument("--budget", type=int, default=5000)
    parser.add_argument("--engine", action="store_true")
    parser.add_argument("--size", default="district-int")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--category")
    args = parser.parse_args()
    if args.problem:
        seed2(args)
    else:
        instance(args)


if __name__ == "__main__":
    main()
