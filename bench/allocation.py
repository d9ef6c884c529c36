"""Benchmark of the allocation engine against a floor of plain sparse arrays and highspy.

Usage::

    python bench/allocation.py [--size district|district-int|district-int-spread|state|all]
                               [--seed N] [--objective proportional|maxmin|both] [--skip-floor]

Each measured case runs in its own subprocess so that its peak memory
(``ru_maxrss`` from ``os.wait4``) is its own. For every size and objective it
reports the engine (``allocation.solve``: PuLP models, HiGHS in-process) and
the floor: the same stages built straight as scipy.sparse / numpy arrays and
solved by highspy, with the same HiGHS options, no PuLP. For the district
size it also times the command line end to end, Python start-up included.

Sizes (seeded, synthetic):

- ``district``: 125 schools, 600 services in 6 categories, each eligible at
  10-40 schools, continuous amounts;
- ``district-int``: the same, whole seats, with ``min_viable`` on a third of
  the services (a MILP): every third service, which with six categories puts
  all the cohorts in two of them (``arts`` and ``tutoring``, each then wholly
  on/off pairs), the harder layout;
- ``district-int-spread``: the same, with the third drawn at random, so every
  category has some;
- ``state``: 1,840 schools, 6,000 services in 12 categories, each eligible at
  20-150 schools (about 510,000 pairs).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on sys.path and its name would
# shadow the `allocation` package; look in the repository root instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
SIZES = {
    "district": {"schools": 125, "services": 600, "categories": 6, "eligible": (10, 40)},
    "district-int": {"schools": 125, "services": 600, "categories": 6, "eligible": (10, 40)},
    "district-int-spread": {
        "schools": 125,
        "services": 600,
        "categories": 6,
        "eligible": (10, 40),
    },
    "state": {"schools": 1840, "services": 6000, "categories": 12, "eligible": (20, 150)},
}
DISTRICT_INT_LIMIT_S = 10.0
CATEGORIES = [
    "tutoring",
    "mentoring",
    "mental health",
    "arts",
    "stem",
    "literacy",
    "college access",
    "family services",
    "athletics",
    "nutrition",
    "internships",
    "early learning",
]


def generate(size: str, seed: int) -> dict[str, Any]:
    """A seeded synthetic problem of the named size."""
    shape = SIZES[size]
    rng = random.Random(seed)
    school_ids = [f"S{i:05d}" for i in range(shape["schools"])]
    schools = [
        {
            "id": school_id,
            "name": f"School {i}",
            # need-weighted enrollment: enrollment x need index
            "weight": round(rng.randint(150, 2500) * rng.uniform(0.05, 1.0), 3),
        }
        for i, school_id in enumerate(school_ids)
    ]
    integer = size.startswith("district-int")
    services = []
    low, high = shape["eligible"]
    for j in range(shape["services"]):
        eligible = sorted(rng.sample(school_ids, rng.randint(low, high)))
        service: dict[str, Any] = {
            "id": f"J{j:05d}",
            "partner": f"P{j % 97:03d}",
            "category": CATEGORIES[j % shape["categories"]],
            "unit": "seats",
            "capacity": rng.randint(20, 600),
            "eligible": eligible,
        }
        if rng.random() < 0.3:
            service["max_per_school"] = rng.randint(10, 80)
        if integer:
            service["integer"] = True
            if size == "district-int" and j % 3 == 0:
                service["min_viable"] = rng.randint(5, 15)
        services.append(service)
    if size == "district-int-spread":
        for service in random.Random(seed + 1).sample(services, len(services) // 3):
            service["min_viable"] = rng.randint(5, 15)
    problem: dict[str, Any] = {"schools": schools, "services": services}
    if integer:
        # Proving the integer stages optimal can take far longer than the target.
        problem["options"] = {"time_limit_s": DISTRICT_INT_LIMIT_S}
    return problem


# --- children ---------------------------------------------------------------------


def child_engine(size: str, seed: int, objective: str) -> dict[str, Any]:
    """Time the engine: building the category models, then the whole solve()."""
    started = time.perf_counter()
    from allocation import load_problem, solve
    from allocation.model import CategoryModel, category_data

    problem_dict = generate(size, seed)
    problem = load_problem(problem_dict)
    loaded = time.perf_counter()
    result = solve(problem, objective=objective)
    solved = time.perf_counter()
    # Then the shared build alone, as solve() does it, to split build from solve.
    for category in problem.categories:
        CategoryModel(category_data(problem, category))
    built = time.perf_counter()
    return {
        "status": result.status,
        "placed": sum(f.placed for f in result.categories),
        "gap": {f.category: f.gap for f in result.categories},
        "min_coverage": {f.category: f.min_coverage for f in result.categories},
        "pairs": sum(len(s.eligible) for s in problem.services),
        "load_s": loaded - started,
        "build_s": built - solved,
        "total_s": solved - loaded,
    }


def child_floor(size: str, seed: int, objective: str) -> dict[str, Any]:
    """Time the floor: the same stages as sparse arrays, solved by highspy directly."""
    import highspy
    import numpy as np
    import scipy.sparse as sp

    problem = generate(size, seed)
    started = time.perf_counter()
    weights_by_id = {s["id"]: s["weight"] for s in problem["schools"]}
    inf = highspy.kHighsInf
    build_s = solve_s = 0.0
    placed_total = 0.0
    gaps: dict[str, float] = {}
    coverages: dict[str, float] = {}
    statuses = []
    shape_count = len({s["category"] for s in problem["services"]})
    for category in sorted({s["category"] for s in problem["services"]}):
        t0 = time.perf_counter()
        services = sorted(
            (s for s in problem["services"] if s["category"] == category and s["capacity"] > 0),
            key=lambda s: s["id"],
        )
        schools = sorted({school for s in services for school in s["eligible"]})
        position = {school: i for i, school in enumerate(schools)}
        pair_service, pair_school, upper, integral, viable = [], [], [], [], []
        for j, s in enumerate(services):
            u = (
                s["capacity"]
                if s.get("max_per_school") is None
                else min(s["capacity"], s["max_per_school"])
            )
            for school in s["eligible"]:
                pair_service.append(j)
                pair_school.append(position[school])
                upper.append(u)
                integral.append(1 if s.get("integer") else 0)
                viable.append(s.get("min_viable") or 0.0)
        n, m, ns = len(pair_service), len(schools), len(services)
        pair_service_a = np.asarray(pair_service)
        pair_school_a = np.asarray(pair_school)
        upper_a = np.asarray(upper, dtype=float)
        viable_a = np.asarray(viable, dtype=float)
        on = np.flatnonzero(viable_a > 0)
        nb = len(on)
        weights = np.asarray([weights_by_id[s] for s in schools])
        # Columns: x (n), b (nb), y (m).
        cols = n + nb + m
        lower = np.zeros(cols)
        col_upper = np.concatenate([upper_a, np.ones(nb), np.full(m, inf)])
        cap = sp.csr_matrix((np.ones(n), (pair_service_a, np.arange(n))), shape=(ns, cols))
        recv = sp.csr_matrix(
            (
                np.concatenate([np.ones(n), -np.ones(m)]),
                (
                    np.concatenate([pair_school_a, np.arange(m)]),
                    np.concatenate([np.arange(n), n + nb + np.arange(m)]),
                ),
            ),
            shape=(m, cols),
        )
        rows = np.arange(nb)
        link_on = sp.csr_matrix(
            (
                np.concatenate([np.ones(nb), -upper_a[on]]),
                (np.concatenate([rows, rows]), np.concatenate([on, n + rows])),
            ),
            shape=(nb, cols),
        )
        link_cohort = sp.csr_matrix(
            (
                np.concatenate([np.ones(nb), -viable_a[on]]),
                (np.concatenate([rows, rows]), np.concatenate([on, n + rows])),
            ),
            shape=(nb, cols),
        )
        matrix = sp.vstack([cap, recv, link_on, link_cohort]).tocsr()
        row_lower = np.concatenate(
            [np.full(ns, -inf), np.zeros(m), np.full(nb, -inf), np.zeros(nb)]
        )
        row_upper = np.concatenate(
            [[s["capacity"] for s in services], np.zeros(m), np.zeros(nb), np.full(nb, inf)]
        )
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        h.setOptionValue("mip_rel_gap", 1e-9)
        h.setOptionValue("mip_feasibility_tolerance", 1e-9)
        if "options" in problem:
            # Same budget as the engine: an equal share per category and stage.
            share = problem["options"]["time_limit_s"] / (len(CATEGORIES[:shape_count]) * 2)
            h.setOptionValue("time_limit", share)
        cost = np.zeros(cols)
        cost[n + nb :] = -1.0
        h.addVars(cols, lower, col_upper)
        h.changeColsCost(cols, np.arange(cols, dtype=np.int32), cost)
        int_cols = np.concatenate([np.flatnonzero(np.asarray(integral)), n + rows]).astype(np.int32)
        if len(int_cols):
            h.changeColsIntegrality(
                len(int_cols), int_cols, np.full(len(int_cols), highspy.HighsVarType.kInteger)
            )
        h.addRows(
            matrix.shape[0],
            row_lower,
            row_upper,
            matrix.nnz,
            matrix.indptr[:-1].astype(np.int32),
            matrix.indices.astype(np.int32),
            matrix.data,
        )
        build_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        h.run()
        statuses.append(h.getModelStatus() == highspy.HighsModelStatus.kOptimal)
        t_star = -h.getInfo().objective_function_value
        if all(integral):
            t_star = round(t_star)
        solve_s += time.perf_counter() - t0

        t0 = time.perf_counter()
        targets = t_star * weights / weights.sum()
        y_cols = n + nb + np.arange(m)
        h.changeColsCost(cols, np.arange(cols, dtype=np.int32), np.zeros(cols))
        placed_lb = t_star - 0.5 if all(integral) else t_star
        if objective == "maxmin":
            # z column, y_s - w_s z >= 0, sum y >= T*; maximise z.
            h.addVar(0, inf)
            z = cols
            h.changeColCost(z, -1.0)
            starts = np.arange(0, 2 * m + 1, 2)[:-1].astype(np.int32)
            idx = np.column_stack([y_cols, np.full(m, z)]).ravel().astype(np.int32)
            val = np.column_stack([np.ones(m), -weights]).ravel()
            h.addRows(m, np.zeros(m), np.full(m, inf), 2 * m, starts, idx, val)
            h.addRow(placed_lb, inf, m, y_cols.astype(np.int32), np.ones(m))
            integer = any(integral) or nb > 0
            h.setOptionValue("mip_lp_solver" if integer else "solver", "ipm")
            build_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            h.run()
            z_star = h.getSolution().col_value[z]
            h.setOptionValue("mip_lp_solver" if integer else "solver", "choose")
            solve_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            h.changeColCost(z, 0.0)
            h.changeColsBounds(m, y_cols.astype(np.int32), z_star * weights, np.full(m, inf))
        else:
            h.addRow(placed_lb, inf, m, y_cols.astype(np.int32), np.ones(m))
        # over/under columns and y - over + under = target rows; minimise their sum.
        first = h.getNumCol()
        h.addVars(2 * m, np.zeros(2 * m), np.full(2 * m, inf))
        h.changeColsCost(2 * m, np.arange(first, first + 2 * m, dtype=np.int32), np.ones(2 * m))
        starts = np.arange(0, 3 * m + 1, 3)[:-1].astype(np.int32)
        idx = (
            np.column_stack([y_cols, first + np.arange(m), first + m + np.arange(m)])
            .ravel()
            .astype(np.int32)
        )
        val = np.tile([1.0, -1.0, 1.0], m)
        h.addRows(m, targets, targets, 3 * m, starts, idx, val)
        build_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        h.run()
        statuses.append(h.getModelStatus() == highspy.HighsModelStatus.kOptimal)
        solve_s += time.perf_counter() - t0
        y = np.asarray(h.getSolution().col_value)[y_cols]
        placed_total += float(y.sum())
        gaps[category] = float(np.abs(y - targets).sum() / (2 * t_star)) if t_star else 0.0
        coverages[category] = float(np.min(y / weights)) if t_star else 0.0
    return {
        "status": "optimal" if all(statuses) else "not optimal",
        "placed": placed_total,
        "gap": gaps,
        "min_coverage": coverages,
        "build_s": build_s,
        "solve_s": solve_s,
        "total_s": time.perf_counter() - started,
    }


# --- parent -----------------------------------------------------------------------


def measure(kind: str, size: str, seed: int, objective: str) -> dict[str, Any]:
    """Run one case in a fresh subprocess; its figures plus wall time and peak memory."""
    command = [sys.executable, __file__, "--child", kind, "--size", size, "--seed", str(seed)]
    command += ["--objective", objective]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=ROOT)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{kind} {size} {objective} failed with {process.returncode}")
    # The last line: highspy prints its banner on stdout before it.
    figures = json.loads(output.decode().strip().splitlines()[-1])
    figures["wall_s"] = wall
    figures["peak_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    return figures


def measure_cli(size: str, seed: int, objective: str) -> dict[str, Any]:
    """Time `python -m allocation solve` end to end on a generated problem file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "problem.json"
        path.write_text(json.dumps(generate(size, seed)))
        command = [sys.executable, "-m", "allocation", "solve", str(path)]
        command += ["--objective", objective]
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        return {
            "exit": os.waitstatus_to_exitcode(status),
            "wall_s": wall,
            "peak_mb": usage.ru_maxrss / 1024,
        }


def main() -> None:
    """Parse arguments and run the requested child case or the whole benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="all", choices=[*SIZES, "all"])
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--objective", default="both", choices=["proportional", "maxmin", "both"])
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument("--child", choices=["engine", "floor"], help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        run = child_engine if arguments.child == "engine" else child_floor
        print(json.dumps(run(arguments.size, arguments.seed, arguments.objective)))
        return
    sizes = list(SIZES) if arguments.size == "all" else [arguments.size]
    objectives = (
        ["proportional", "maxmin"] if arguments.objective == "both" else [arguments.objective]
    )
    header = (
        "| size | objective | run | status | build s | solve s | total s | wall s | peak MB |"
        " vs floor |"
    )
    print(header)
    print("|" + "---|" * 10)
    for size in sizes:
        for objective in objectives:
            engine = measure("engine", size, arguments.seed, objective)
            floor = (
                None if arguments.skip_floor else measure("floor", size, arguments.seed, objective)
            )
            ratio = f"{engine['total_s'] / floor['total_s']:.2f}x" if floor else ""
            print(
                f"| {size} | {objective} | engine (PuLP) | {engine['status']} "
                f"| {engine['build_s']:.2f} | {engine['total_s'] - engine['build_s']:.2f} "
                f"| {engine['total_s']:.2f} | {engine['wall_s']:.2f} | {engine['peak_mb']:.0f} "
                f"| {ratio} |",
                flush=True,
            )
            if floor:
                print(
                    f"| {size} | {objective} | floor (arrays+highspy) | {floor['status']} "
                    f"| {floor['build_s']:.2f} | {floor['solve_s']:.2f} | {floor['total_s']:.2f} "
                    f"| {floor['wall_s']:.2f} | {floor['peak_mb']:.0f} | 1.00x |",
                    flush=True,
                )
                if not size.startswith("district-int"):
                    worst = max(abs(engine["gap"][c] - floor["gap"][c]) for c in floor["gap"])
                    print(
                        f"<!-- {size} {objective}: max |gap engine - gap floor| = {worst:.2e} -->"
                    )
            if size == "district":
                cli = measure_cli(size, arguments.seed, objective)
                print(
                    f"| {size} | {objective} | CLI end to end | exit {cli['exit']} | | | "
                    f"| {cli['wall_s']:.2f} | {cli['peak_mb']:.0f} | |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
