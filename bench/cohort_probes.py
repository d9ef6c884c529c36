"""The engine's flow finder (with its deduction) and maxmin's stage-3 probes on one
whole-seat cohort category, step by step, with HiGHS beside them for comparison.

Usage::

    python bench/cohort_probes.py --write-problem PROBLEM.json
        [--size district-int] [--seed 2] [--category tutoring]
    python -m allocation solve PROBLEM.json > RESULT.json
    python bench/cohort_probes.py --problem PROBLEM.json --result RESULT.json [--highs]

The first command writes one category of a bench instance (`bench/allocation.py`'s
generator) as a problem of its own, objective ``maxmin``, no time limit; the second
solves it with the engine (district-int seed 2 ``tutoring``: about 5 s); the third takes
the engine's answer and times, on its floor and the three floors above it, the flow
finder after its deduction (`allocation.flowsearch`: an allocation, "none", or not
settled), then stage 3 by the probes (`CohortSearch._probe_distance`) from the answer.
With ``--highs`` each floor is also handed to HiGHS as a feasibility MILP.

See `allocation.cohorts` (`_probe_distance`) for why the probes prove stage 3,
`bench/flow_search.py` for the finder alone, and ``bench/RESULTS-allocation.md`` for the
figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import highspy  # noqa: E402

from allocation.cohorts import CohortSearch, Found  # noqa: E402
from allocation.integral import next_breakpoint  # noqa: E402
from allocation.model import category_data  # noqa: E402
from allocation.problem import load_problem  # noqa: E402

INF = highspy.kHighsInf


def bench_generator() -> Any:
    """`bench/allocation.py`'s `generate` (its module name would shadow the package)."""
    spec = importlib.util.spec_from_file_location(
        "bench_allocation", ROOT / "bench" / "allocation.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate


def category_problem(size: str, seed: int, category: str) -> dict[str, Any]:
    problem: dict[str, Any] = bench_generator()(size, seed)
    services = [s for s in problem["services"] if s["category"] == category]
    ids = {s["id"] for s in services}
    problem["services"] = services
    problem["locks"] = [lock for lock in problem.get("locks", []) if lock["service"] in ids]
    problem["limits"] = [
        limit for limit in problem.get("limits", []) if limit["category"] == category
    ]
    problem.pop("options", None)
    problem["objective"] = "maxmin"
    return problem


def highs_probe(
    cs: CohortSearch,
    t_star: float,
    y_lower: np.ndarray,
    y_upper: np.ndarray,
    group: tuple[np.ndarray, float] | None,
    limit_s: float,
) -> tuple[str, float]:
    """The same probe as HiGHS' feasibility MILP: its status and seconds."""
    h = cs._build(
        integer=True,
        x_lower=cs.implied,
        y_lower=y_lower,
        y_upper=y_upper,
        placed=t_star,
        targets=None,
        chords=[],
    )
    if group is not None:
        members, least = group
        y0 = cs.n + len(cs.on_off)
        cols = (y0 + members).astype(np.int32)
        h.addRow(float(least), INF, len(cols), cols, np.ones(len(cols)))
    columns = h.getNumCol()
    h.changeColsCost(columns, np.arange(columns, dtype=np.int32), np.zeros(columns))
    h.setOptionValue("time_limit", limit_s)
    started = time.perf_counter()
    h.run()
    return str(h.getModelStatus()).split(".")[-1], time.perf_counter() - started


def prove(problem: dict[str, Any], result: dict[str, Any], with_highs: bool) -> None:
    """Time the engine's deduction and stage-3 probes on the answer's floors."""
    loaded = load_problem(problem)
    (category,) = {s["category"] for s in problem["services"]}
    data = category_data(loaded, category)
    started = time.perf_counter()
    cs = CohortSearch(data, lambda: None)
    cs.stage1()
    figures = result["categories"][category]
    t_star = float(figures["placed"])
    cs.imply(t_star)
    print(f"set-up (stage 1's LP, implied bounds): {time.perf_counter() - started:.2f} s")
    x = np.zeros(cs.n)
    pairs = {
        (data.services[int(j)].id, data.schools[int(s)].id): k
        for k, (j, s) in enumerate(zip(cs.pair_service, cs.pair_school, strict=True))
    }
    for row in result["allocations"]:
        x[pairs[(row["service"], row["school"])]] = row["amount"]
    y = cs.received(x)
    z = float(np.min(y / cs.weights))
    w = cs.weights
    trial = z
    for _ in range(4):
        floors = cs._floors(trial)
        started = time.perf_counter()
        outcome = False if floors is None else cs._find(floors, t_star, deduce=True)
        verdict = {True: "an allocation", False: "none", None: "not settled"}[
            None if outcome is None else outcome is not False
        ]
        print(f"finder at floor {trial:.10g}: {verdict}, {time.perf_counter() - started:.2f} s")
        if with_highs and floors is not None:
            status, seconds = highs_probe(cs, t_star, floors, cs.school_upper, None, 600.0)
            print(f"  HiGHS on the same floors: {status} in {seconds:.2f} s")
        trial = next_breakpoint(w, trial)
    floors = cs._floors(z)
    assert floors is not None
    targets = cs.targets(t_star)
    incumbent = Found(x, cs.distance(x, targets), proven=False)
    cs._free_leaves = False
    started = time.perf_counter()
    probed = cs._probe_distance(t_star, targets, floors, incumbent)
    print(
        f"stage 3 by probes from the answer (D {incumbent.value:.6f}): "
        f"{'proven' if probed.proven else 'not proven'}, D {probed.value:.6f}, "
        f"{time.perf_counter() - started:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write-problem", type=Path)
    parser.add_argument("--size", default="district-int")
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--category", default="tutoring")
    parser.add_argument("--problem", type=Path)
    parser.add_argument("--result", type=Path)
    parser.add_argument("--highs", action="store_true", help="also run each probe in HiGHS")
    args = parser.parse_args()
    if args.write_problem:
        problem = category_problem(args.size, args.seed, args.category)
        args.write_problem.write_text(json.dumps(problem))
        print(f"wrote {args.write_problem}: {len(problem['services'])} services")
        return
    if not (args.problem and args.result):
        parser.error("give --write-problem, or --problem and --result")
    prove(json.loads(args.problem.read_text()), json.loads(args.result.read_text()), args.highs)


if __name__ == "__main__":
    main()
