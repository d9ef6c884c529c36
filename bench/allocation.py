"""Benchmark of the allocation engine against a floor of plain sparse arrays and highspy.

Usage::

    python bench/allocation.py
        [--size district|district-int|district-int-spread|state|state-region|all]
        [--seed N] [--objective proportional|maxmin|both] [--skip-floor]
        [--timeout CPU_SECONDS] [--workers N] [--solver highs|cbc] [--no-cohorts]
        [--verbose]

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
  20-150 schools (about 510,000 pairs);
- ``state-region``: the same shape with other patterns (regions, heavy-tailed
  weights and capacities, per-site bounds; see `generate_regional`).

Each run reports CPU seconds (user + system of its process) beside wall time:
on a shared machine only those compare. The engine solves categories at once on
``--workers`` threads (default: as `solve` does, one per core, at most 4); with
``--verbose`` it prints each category's CPU seconds when one worker runs, and
when each category finished (wall seconds into the solve) when more do.
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
    "state-region": {"schools": 1840, "services": 6000, "categories": 12, "eligible": (20, 150)},
}
REGIONS = 24  # state-region: regions of very unequal size
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
    if size == "state-region":
        return generate_regional(seed)
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


def generate_regional(seed: int) -> dict[str, Any]:
    """The state shape with other patterns: regions, heavy tails and per-site bounds.

    1,840 schools in 24 regions of very unequal size (lognormal shares, 12 to
    about 300 schools); school weights heavy-tailed (lognormal enrollment times a
    need index that is higher in some regions). 6,000 services in 12 categories,
    each eligible at 20-150 schools, 70-100% of them in its home region (drawn
    uniformly, so a big region has few services per school and a small one many:
    the floor is set by the starved regions, far below ``T* / W``) and the rest
    anywhere; capacities Pareto (alpha 1.2, from 5 seats, capped at
    20,000), so a few services hold much of a category; ``max_per_school`` on 30%;
    a per-site bound ``{"school": id, "max": m}`` on 15% of the entries.
    """
    shape = SIZES["state-region"]
    rng = random.Random(seed)
    school_ids = [f"S{i:05d}" for i in range(shape["schools"])]
    shares = [rng.lognormvariate(0.0, 1.0) for _ in range(REGIONS)]
    region_of = rng.choices(range(REGIONS), weights=shares, k=len(school_ids))
    members: list[list[str]] = [[] for _ in range(REGIONS)]
    for school_id, region in zip(school_ids, region_of, strict=True):
        members[region].append(school_id)
    need = [rng.uniform(0.1, 1.0) for _ in range(REGIONS)]
    schools = [
        {
            "id": school_id,
            "name": f"School {i}",
            "weight": round(
                min(6000.0, rng.lognormvariate(6.3, 0.8))
                * min(1.0, max(0.02, rng.gauss(need[region_of[i]], 0.15))),
                3,
            ),
        }
        for i, school_id in enumerate(school_ids)
    ]
    services = []
    low, high = shape["eligible"]
    for j in range(shape["services"]):
        home = rng.randrange(REGIONS)
        count = rng.randint(low, high)
        local = min(len(members[home]), round(count * rng.uniform(0.7, 1.0)))
        chosen = set(rng.sample(members[home], local))
        while len(chosen) < count:
            chosen.add(rng.choice(school_ids))
        eligible: list[Any] = []
        for school_id in sorted(chosen):
            if rng.random() < 0.15:
                eligible.append({"school": school_id, "max": rng.randint(1, 60)})
            else:
                eligible.append(school_id)
        service: dict[str, Any] = {
            "id": f"J{j:05d}",
            "partner": f"P{j % 97:03d}",
            "category": CATEGORIES[j % shape["categories"]],
            "unit": "seats",
            "capacity": min(20000, round(5 * rng.paretovariate(1.2))),
            "eligible": eligible,
        }
        if rng.random() < 0.3:
            service["max_per_school"] = rng.randint(5, 120)
        services.append(service)
    return {"schools": schools, "services": services}


def entry_school(entry: Any) -> str:
    """The school of an `eligible` entry (a bare id or {"school": id, "max": m})."""
    return entry if isinstance(entry, str) else str(entry["school"])


def entry_upper(service: dict[str, Any], entry: Any) -> float:
    """u_js = min(C_j, m_j, m_js) for an `eligible` entry."""
    upper = float(service["capacity"])
    if service.get("max_per_school") is not None:
        upper = min(upper, service["max_per_school"])
    if not isinstance(entry, str):
        upper = min(upper, entry["max"])
    return upper


# --- children ---------------------------------------------------------------------


def child_engine(
    size: str,
    seed: int,
    objective: str,
    workers: int | None = None,
    solver: str = "highs",
    no_cohorts: bool = False,
) -> dict[str, Any]:
    """Time the engine: building the category models, then the whole solve()."""
    started = time.perf_counter()
    from allocation import load_problem, solve
    from allocation.model import CategoryModel, category_data

    problem_dict = generate(size, seed)
    if no_cohorts:
        for service in problem_dict["services"]:
            service.pop("min_viable", None)
    problem = load_problem(problem_dict)
    loaded = time.perf_counter()
    by_category: dict[str, float] = {}
    finished_at: dict[str, float] = {}
    last = [time.process_time()]

    def progress(done: int, total: int, category: str) -> None:
        now = time.process_time()
        by_category[category] = round(now - last[0], 2)
        finished_at[category] = round(time.perf_counter() - loaded, 2)
        last[0] = now

    result = solve(
        problem, objective=objective, solver=solver, on_progress=progress, workers=workers
    )
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
        **(
            {"category_cpu_s": by_category} if workers == 1 else {"category_done_at_s": finished_at}
        ),
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
        schools = sorted({entry_school(e) for s in services for e in s["eligible"]})
        position = {school: i for i, school in enumerate(schools)}
        pair_service, pair_school, upper, integral, viable = [], [], [], [], []
        for j, s in enumerate(services):
            for entry in s["eligible"]:
                pair_service.append(j)
                pair_school.append(position[entry_school(entry)])
                upper.append(entry_upper(s, entry))
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


def measure(
    kind: str,
    size: str,
    seed: int,
    objective: str,
    timeout_s: float | None = None,
    engine_options: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Run one case in a fresh subprocess; its figures plus wall time, CPU time (user +
    system of the child) and peak memory. A child that has used more than
    `timeout_s` CPU seconds is killed and reported as such (status ``killed``): CPU,
    not wall, so that a loaded machine does not cut runs short."""
    command = [sys.executable, __file__, "--child", kind, "--size", size, "--seed", str(seed)]
    command += ["--objective", objective]
    command += engine_options
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(command, stdout=out, cwd=ROOT)
        killed = False
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if timeout_s is not None and cpu_seconds(process.pid) > timeout_s:
                process.kill()
                killed = True
                _, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    wall = time.perf_counter() - started
    cpu = usage.ru_utime + usage.ru_stime
    peak = usage.ru_maxrss / 1024  # kilobytes on Linux
    if killed:
        return {"status": "killed", "wall_s": wall, "cpu_s": cpu, "peak_mb": peak}
    if process.returncode != 0:
        raise SystemExit(f"{kind} {size} {objective} failed with {process.returncode}")
    # The last line: highspy prints its banner on stdout before it.
    figures: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
    figures["wall_s"] = wall
    figures["cpu_s"] = cpu
    figures["peak_mb"] = peak
    return figures


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid` (Linux /proc; else wall 0)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # Fields 14 and 15 (utime, stime) of stat(5), counted after the ")" from field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    parser.add_argument(
        "--timeout", type=float, default=None, help="kill a run after this many CPU seconds"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="categories the engine solves at once"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="also print the engine's figures per category"
    )
    parser.add_argument("--solver", default="highs", choices=["highs", "cbc"])
    parser.add_argument(
        "--no-cohorts", action="store_true", help="drop every min_viable (plain whole seats)"
    )
    parser.add_argument("--child", choices=["engine", "floor"], help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        if arguments.child == "engine":
            figures = child_engine(
                arguments.size,
                arguments.seed,
                arguments.objective,
                arguments.workers,
                arguments.solver,
                arguments.no_cohorts,
            )
        else:
            figures = child_floor(arguments.size, arguments.seed, arguments.objective)
        print(json.dumps(figures))
        return
    sizes = list(SIZES) if arguments.size == "all" else [arguments.size]
    objectives = (
        ["proportional", "maxmin"] if arguments.objective == "both" else [arguments.objective]
    )
    header = (
        "| size | objective | run | status | build s | solve s | total s | CPU s | wall s"
        " | peak MB | vs floor |"
    )
    print(header)
    print("|" + "---|" * 11)
    timeout = arguments.timeout
    for size in sizes:
        for objective in objectives:
            engine_options = ("--solver", arguments.solver)
            if arguments.workers is not None:
                engine_options += ("--workers", str(arguments.workers))
            if arguments.no_cohorts:
                engine_options += ("--no-cohorts",)
            engine = measure("engine", size, arguments.seed, objective, timeout, engine_options)
            floor = (
                None
                if arguments.skip_floor
                else measure("floor", size, arguments.seed, objective, timeout)
            )
            print(row(size, objective, "engine (PuLP)", engine, floor), flush=True)
            if arguments.verbose and "category_cpu_s" in engine:
                print(f"<!-- engine CPU s by category: {engine['category_cpu_s']} -->")
            if arguments.verbose and "category_done_at_s" in engine:
                print(f"<!-- engine, each category done at s: {engine['category_done_at_s']} -->")
            if floor:
                print(row(size, objective, "floor (arrays+highspy)", floor, floor), flush=True)
                if not size.startswith("district-int") and "gap" in engine and "gap" in floor:
                    worst = max(abs(engine["gap"][c] - floor["gap"][c]) for c in floor["gap"])
                    print(
                        f"<!-- {size} {objective}: max |gap engine - gap floor| = {worst:.2e} -->"
                    )
            if size == "district":
                cli = measure_cli(size, arguments.seed, objective)
                print(
                    f"| {size} | {objective} | CLI end to end | exit {cli['exit']} | | | | "
                    f"| {cli['wall_s']:.2f} | {cli['peak_mb']:.0f} | |",
                    flush=True,
                )


def row(
    size: str, objective: str, run: str, figures: dict[str, Any], floor: dict[str, Any] | None
) -> str:
    """One table row; a killed run has only its wall, CPU and memory."""
    if figures["status"] == "killed":
        return (
            f"| {size} | {objective} | {run} | killed | | | | {figures['cpu_s']:.2f} "
            f"| {figures['wall_s']:.2f} | {figures['peak_mb']:.0f} | |"
        )
    build = figures["build_s"]
    solve = figures.get("solve_s", figures["total_s"] - build)
    ratio = ""
    if floor is not None and floor["status"] != "killed":
        ratio = f"{figures['total_s'] / floor['total_s']:.2f}x"
    return (
        f"| {size} | {objective} | {run} | {figures['status']} | {build:.2f} | {solve:.2f} "
        f"| {figures['total_s']:.2f} | {figures['cpu_s']:.2f} | {figures['wall_s']:.2f} "
        f"| {figures['peak_mb']:.0f} | {ratio} |"
    )


if __name__ == "__main__":
    main()
