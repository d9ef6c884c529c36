"""Maxmin's stage 3 on a whole-seat cohort category, proven by probes: an experiment.

Usage::

    python bench/cohort_probes.py --write-problem PROBLEM.json
        [--size district-int] [--seed 2] [--category tutoring]
    python -m allocation solve PROBLEM.json > RESULT.json
    python bench/cohort_probes.py --problem PROBLEM.json --result RESULT.json [--highs]

The first command writes one category of a bench instance (`bench/allocation.py`'s
generator) as a problem of its own, objective ``maxmin``, no time limit; the second
solves it with the engine (district-int seed 2 ``tutoring``: about 5 minutes); the third
takes the engine's answer and tries to prove its stage 3 (the least ``D`` with the floor
held) by the probes below, printing what each step found and how long it took. With
``--highs`` each probe is also handed to HiGHS as a feasibility MILP, for comparison.
Nothing here is used by the engine (see ``bench/RESULTS-allocation.md``).

**Stage 3 as the slack that reaches schools below target.** Hold the floors ``f_s``
(``y_s >= f_s``, whole) and ``sum y = T*`` (whole seats: exactly). With ``e_s = y_s - f_s``
and ``r_s = tau_s - f_s``::

    D = sum |f_s - tau_s| + (T* - sum f) - 2 U,    U = sum_s min(e_s, max(r_s, 0))

so the least ``D`` is the greatest ``U``: how much of the slack ``T* - sum f`` can go to
schools below their target. On an exact fit almost none can (district-int seed 2
``tutoring``: 118 of 125 schools sit at their floor, and of 108 seats of slack 0.043
count towards U).

**The deduction.** The flow LP (whole capacities: whole vertices) bounds every pair:
the most a pair can carry in any point of it is its amount at one point plus the most
that can circulate from its school back to its service in that point's residual graph
(a maximum flow), and the least is its amount less what can circulate the other way.
A cohort pair whose most is below its cohort is off in every allocation; one whose
least is above 0 is on (at its cohort or more). Both tighten the LP, so repeat until
nothing changes or the LP is infeasible: then no allocation exists. It runs on a flow
LP with the floors, a school's upper bound, ``sum y >= T*`` and optionally one group
row ``sum_{s in R} y_s >= g`` (a node of its own in the network).

**The probes.** Let ``U_inc`` be the answer's U and ``R' = {s : r_s > U_inc}``. An
allocation with a smaller D needs U > U_inc: some school of R' above its floor, or
(when none can be) enough of the few schools with ``0 < r_s <= U_inc`` above theirs
at once. So: probe ``sum_{R'} y >= sum_{R'} f + 1``; if the deduction finds it
infeasible, hold R' at its floors and probe each least set of the small-room schools
whose rooms add up to more than U_inc (all of them raised by one). All infeasible:
the answer's D is optimal. (This holds as written while U_inc < 1, when a school's
part of U is ``r_s`` if it gets any seat above its floor; the script says so
otherwise.)
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
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
from scipy.sparse import csr_matrix  # noqa: E402
from scipy.sparse.csgraph import breadth_first_order, maximum_flow  # noqa: E402

from allocation.cohorts import CohortSearch  # noqa: E402
from allocation.model import category_data  # noqa: E402
from allocation.problem import load_problem  # noqa: E402

INF = highspy.kHighsInf
BIG = 10**8  # an unbounded arc in the integer maximum-flow graphs
WHOLE = 1e-6
MAX_SETS = 16  # small-room sets probed at most


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


class Deduction:
    """The fixpoint of the two rules on one category's flow LP (see the module doc)."""

    def __init__(self, search: CohortSearch, t_star: float) -> None:
        self.cs = search
        self.t_star = t_star
        self.services = len(search.capacity)

    def point(
        self,
        lo: np.ndarray,
        up: np.ndarray,
        y_lower: np.ndarray,
        y_upper: np.ndarray,
        group: tuple[np.ndarray, float] | None,
    ) -> np.ndarray | None:
        """A whole vertex of the flow LP within these bounds, or None if it is infeasible."""
        cs = self.cs
        h = cs._build(
            integer=False,
            x_lower=lo,
            y_lower=y_lower,
            y_upper=y_upper,
            placed=self.t_star,
            targets=None,
            chords=[],
        )
        h.changeColsBounds(cs.n, np.arange(cs.n, dtype=np.int32), lo, up)
        if group is not None:
            members, least = group
            cols = (cs.n + members).astype(np.int32)
            h.addRow(float(least), INF, len(cols), cols, np.ones(len(cols)))
        h.setOptionValue("solver", "simplex")
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        x = np.asarray(h.getSolution().col_value[: cs.n])
        whole = np.round(x)
        assert np.abs(x - whole).max() < WHOLE, "the flow LP's vertex is not whole"
        return whole

    def _residual(
        self,
        x: np.ndarray,
        lo: np.ndarray,
        up: np.ndarray,
        y_lower: np.ndarray,
        y_upper: np.ndarray,
        group: tuple[np.ndarray, float] | None,
    ) -> tuple[csr_matrix, np.ndarray]:
        """The residual graph of point x, and where each pair's two arcs sit in its data.

        Nodes: 0 the source, then the services, the schools, a group node and the sink;
        source -> service (its capacity), service -> school (the pairs), school -> group
        node or sink (y within its bounds), group node -> sink (at least g), sink ->
        source (sum y >= T*).
        """
        cs = self.cs
        services, m = self.services, cs.m
        group_node, sink = services + m + 1, services + m + 2
        nodes = services + m + 3
        y = np.bincount(cs.pair_school, weights=x, minlength=m)
        load = np.bincount(cs.pair_service, weights=x, minlength=services)
        in_group = np.zeros(m, dtype=bool)
        if group is not None:
            in_group[group[0]] = True
        service_nodes = 1 + np.arange(services)
        school_nodes = services + 1 + np.arange(m)
        tails = [
            np.zeros(services, dtype=np.int64),
            1 + cs.pair_service,
            school_nodes,
            np.asarray([group_node, sink]),
        ]
        heads = [
            service_nodes,
            services + 1 + cs.pair_school,
            np.where(in_group, group_node, sink),
            np.asarray([sink, 0]),
        ]
        total = float(y.sum())
        group_slack = float(y[in_group].sum() - group[1]) if group is not None else 0.0
        forward = [
            cs.capacity - load,
            up - x,
            y_upper - y,
            np.asarray([BIG if group is not None else 0.0, float(cs.capacity.sum()) - total]),
        ]
        backward = [
            load,
            x - lo,
            y - y_lower,
            np.asarray([group_slack, total - self.t_star]),
        ]
        tail = np.concatenate([np.concatenate(tails), np.concatenate(heads)])
        head = np.concatenate([np.concatenate(heads), np.concatenate(tails)])
        cap = np.concatenate([np.concatenate(forward), np.concatenate(backward)])
        cap = np.clip(np.round(np.nan_to_num(cap, posinf=BIG)), 0, BIG).astype(np.int32)
        arcs = len(tail) // 2
        pair_forward = services + np.arange(cs.n)
        pair_backward = arcs + pair_forward
        key = tail * nodes + head
        assert len(np.unique(key)) == len(key), "two arcs between the same nodes"
        order = np.argsort(key, kind="stable")
        position = np.empty(len(key), dtype=np.int64)
        position[order] = np.arange(len(key))
        indptr = np.searchsorted(tail[order], np.arange(nodes + 1))
        graph = csr_matrix((cap[order], head[order], indptr), shape=(nodes, nodes))
        return graph, np.column_stack([position[pair_forward], position[pair_backward]])

    def _wide_paths(
        self, graph: csr_matrix, x: np.ndarray, lo: np.ndarray, up: np.ndarray
    ) -> dict[tuple[int, int], np.ndarray]:
        """For each school node and cohort size v among the undecided pairs at 0: which
        nodes a path of residual arcs of at least v each reaches from it.

        Such a path to the pair's service is a cycle that carries v through the pair, so
        the pair can reach its cohort and needs no maximum flow (a pair at 0 has no arc
        of its own on a path from its school to its service).
        """
        cs = self.cs
        undecided = cs.on_off[(x[cs.on_off] == 0) & (up[cs.on_off] > 0) & (lo[cs.on_off] == 0)]
        reached: dict[tuple[int, int], np.ndarray] = {}
        for v in np.unique(cs.viable[undecided]).astype(int).tolist():
            strong = graph.copy()
            strong.data = np.where(strong.data >= v, strong.data, 0)
            strong.eliminate_zeros()
            schools = np.unique(cs.pair_school[undecided[cs.viable[undecided] == v]])
            for school in (self.services + 1 + schools).tolist():
                found = np.zeros(graph.shape[0], dtype=bool)
                found[breadth_first_order(strong, school, return_predecessors=False)] = True
                reached[(school, v)] = found
        return reached

    def fixpoint(
        self,
        lo: np.ndarray,
        up: np.ndarray,
        y_lower: np.ndarray,
        y_upper: np.ndarray,
        group: tuple[np.ndarray, float] | None = None,
        rounds: int = 50,
    ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, float]]] | None:
        """The pairs' bounds at the fixpoint and each round's (off, on, seconds); None
        when the rules leave the flow LP infeasible (no allocation within these bounds)."""
        cs = self.cs
        lo, up = lo.copy(), up.copy()
        viable = cs.viable
        log: list[tuple[int, int, float]] = []
        services = self.services
        for _ in range(rounds):
            started = time.perf_counter()
            x = self.point(lo, up, y_lower, y_upper, group)
            if x is None:
                return None
            graph, arcs = self._residual(x, lo, up, y_lower, y_upper, group)
            wide = self._wide_paths(graph, x, lo, up)
            data = graph.data
            off, on = [], []
            for k in cs.on_off.tolist():
                if up[k] == 0 or lo[k] >= viable[k]:
                    continue  # decided already
                service, school = 1 + int(cs.pair_service[k]), services + 1 + int(cs.pair_school[k])
                if (
                    x[k] == 0
                    and wide.get((school, int(viable[k])), np.zeros(0))[service : service + 1].any()
                ):
                    continue  # a path of residual arcs of at least its cohort: it can reach it
                forward, backward = int(arcs[k, 0]), int(arcs[k, 1])
                kept = data[forward], data[backward]
                data[forward] = data[backward] = 0  # the pair's own arcs are not a cycle
                if x[k] < viable[k]:
                    most = x[k] + maximum_flow(graph, school, service).flow_value
                    if most < viable[k]:
                        off.append(k)
                if x[k] > 0 and lo[k] == 0:
                    least = x[k] - maximum_flow(graph, service, school).flow_value
                    if least > 0:
                        on.append(k)
                data[forward], data[backward] = kept
            log.append((len(off), len(on), time.perf_counter() - started))
            if not off and not on:
                return lo, up, log
            up[off] = 0.0
            lo[on] = np.maximum(lo[on], viable[on])
        return lo, up, log


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


def small_sets(rooms: dict[int, float], above: float) -> list[tuple[int, ...]]:
    """The least sets of schools (by inclusion) whose rooms add up to more than `above`."""
    schools = sorted(rooms)
    found: list[tuple[int, ...]] = []
    for size in range(1, len(schools) + 1):
        for chosen in itertools.combinations(schools, size):
            if sum(rooms[s] for s in chosen) > above and not any(
                set(least) <= set(chosen) for least in found
            ):
                found.append(chosen)
    return found


def prove(problem: dict[str, Any], result: dict[str, Any], with_highs: bool) -> None:
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
    position = {school.id: i for i, school in enumerate(data.schools)}
    y = np.zeros(cs.m)
    for row in result["allocations"]:
        y[position[row["school"]]] += row["amount"]
    z = float(np.min(y / cs.weights))
    floors = np.maximum(np.ceil(z * cs.weights - 1e-9), cs.school_lower)
    targets = cs.targets(t_star)
    rooms = targets - floors
    extra = y - floors
    useful = float(np.minimum(extra, np.maximum(rooms, 0.0)).sum())
    distance = float(np.abs(y - targets).sum())
    print(
        f"answer: floor {z:.10g}, D {distance:.6f}; floors add up to {floors.sum():.0f} of "
        f"T* = {t_star:.0f} (slack {t_star - floors.sum():.0f}); {int((extra == 0).sum())} of "
        f"{cs.m} schools at their floor; U = {useful:.6f}"
    )
    deduction = Deduction(cs, t_star)
    upper = cs.school_upper.copy()

    def report(name: str, outcome: Any) -> bool:
        if outcome is None:
            print(f"{name}: infeasible")
            return True
        lo, up, log = outcome
        rounds = ", ".join(f"{off} off/{on} on in {s:.2f} s" for off, on, s in log)
        held_off = int((up[cs.on_off] == 0).sum())
        held_on = int((lo[cs.on_off] > 0).sum())
        print(f"{name}: not settled ({held_off} pairs off, {held_on} on; rounds: {rounds})")
        return False

    started = time.perf_counter()
    report("deduction at the floors", deduction.fixpoint(cs.implied, cs.upper, floors, upper))
    print(f"  {time.perf_counter() - started:.2f} s")
    if useful >= 1.0:
        print("U >= 1: the probes below do not cover this answer")
        return
    tolerance = 0.5 * (1e-7 + 1e-9 * distance)  # the engine's MIP gaps, on U
    wide = np.flatnonzero(rooms > useful + tolerance)
    group = (wide, float(floors[wide].sum() + 1))

    def probe(
        name: str,
        y_lower: np.ndarray,
        y_upper: np.ndarray,
        group: tuple[np.ndarray, float] | None = None,
    ) -> bool:
        """One probe by the deduction (and HiGHS, if asked): whether it is infeasible."""
        started = time.perf_counter()
        settled = report(name, deduction.fixpoint(cs.implied, cs.upper, y_lower, y_upper, group))
        print(f"  {time.perf_counter() - started:.2f} s")
        if with_highs:
            status, seconds = highs_probe(cs, t_star, y_lower, y_upper, group, 600.0)
            print(f"  HiGHS on the same probe: {status} in {seconds:.2f} s")
        return settled

    settled = probe(
        f"probe: one seat more for the {len(wide)} schools with room above U", floors, upper, group
    )
    if not settled:
        print("not proven by the probes")
        return
    narrow = np.flatnonzero((rooms > 0) & (rooms <= useful + tolerance))
    sets = small_sets({int(s): float(rooms[s]) for s in narrow}, useful + tolerance)
    if len(sets) > MAX_SETS:
        print(f"{len(sets)} sets of small-room schools to probe: more than {MAX_SETS}, stopped")
        return
    held = upper.copy()
    held[wide] = floors[wide]  # none of them can be above its floor
    for chosen in sets:
        raised = floors.copy()
        raised[list(chosen)] += 1
        settled = probe(
            f"probe: one seat more for schools {list(chosen)} at once (rooms "
            f"{', '.join(f'{rooms[s]:.4f}' for s in chosen)}), the others held at their floor",
            raised,
            held,
        )
        if not settled:
            print("not proven by the probes")
            return
    print(f"proven: no allocation with these floors has a D below {distance:.6f}")


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
