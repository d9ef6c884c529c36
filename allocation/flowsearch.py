"""Whole allocations meeting school floors, by branch and propagate over maximum flows.

The question: whole amounts ``x_k`` (one per pair of service ``j`` and school ``s``)
with each service's row at most ``C_j``, ``sum x = T*``, ``f_s <= y_s <= U_s`` and each
cohort pair 0 or in ``[v_j, u_k]``. For fixed on/off choices this is a circulation with
lower bounds (source -> service ``[0, C_j]``, service -> school ``[l_k, u_k]``, school ->
sink ``[f_s, U_s]``, sink -> source ``[T*, T*]``), whose feasibility and a whole point
one maximum flow gives. The search keeps one whole circulation and changes it only
along cycles of its residual graph:

- *repair*: a pair below its cohort (``0 < x_k < v``) is moved to 0 or up to ``v``
  along one cycle through its own arc that keeps every other pair legal (no other
  pair is moved into ``(0, v)``); the number of such pairs never grows;
- *branch*: when no repair is left, a pair below its cohort is held on (``x_k >= v``)
  or off (``x_k = 0``), the side nearer its amount first; the circulation is moved to
  the new bound by augmenting paths in the residual graph (which exist exactly when
  the new bounds admit a circulation: the difference of two circulations is a sum of
  cycles), and the other side is tried on backtracking.

Optionally, at the root only, a deduction (`_deduce`) first holds off every pair that
cannot carry its cohort in any circulation and on every pair that carries something in
all of them (one maximum flow a pair in the residual graph, repeated to a fixpoint); on
exact fits it proves infeasible in a fraction of a second questions the plain search
cannot settle. A question may also ask for a group of schools to receive at least g
seats together (a node of its own between those schools and the sink).

Depth first, every move deterministic (breadth-first paths, ties by index). The work
is counted in path searches and maximum flows, so a budget repeats exactly on every
machine. On district-int seed 2 `tutoring` (2,435 cohort pairs, an exact fit) it finds
an allocation at the optimum's floors after 570 path searches (about 0.1 s), where
the MILP repairs took 5.6 s (see `bench/flow_search.py`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

BIG = 2**30  # an unbounded arc in the integer graphs
STOP_EVERY = 16  # units of work between two looks at the caller's `stop` (the time limit)


@functools.cache
def _graphs() -> Any:
    """scipy's sparse graphs, imported when first needed: importing them takes about
    0.3 s, which a solve with no cohort category should not pay."""
    from scipy.sparse import csr_matrix  # type: ignore[import-untyped]  # no stubs shipped
    from scipy.sparse.csgraph import (  # type: ignore[import-untyped]
        breadth_first_order,
        maximum_flow,
    )

    return SimpleNamespace(
        csr_matrix=csr_matrix, breadth_first_order=breadth_first_order, maximum_flow=maximum_flow
    )


@dataclass
class Outcome:
    """What the finder ended with: whole amounts (None: not found), the work spent, and
    whether it proved that there are none (the search was exhausted within budget)."""

    amounts: np.ndarray | None
    work: int
    exhausted: bool
    nodes: int
    backtracks: int = 0


class _OutOfWork(Exception):
    pass


class FlowFinder:
    """One category's network; `find` answers one question (floors, caps, fixings)."""

    def __init__(
        self,
        pair_service: np.ndarray,
        pair_school: np.ndarray,
        pair_lower: np.ndarray,
        pair_upper: np.ndarray,
        viable: np.ndarray,
        capacity: np.ndarray,
    ) -> None:
        self.n = len(pair_service)
        self.services = len(capacity)
        self.pair_service = np.asarray(pair_service, dtype=np.int64)
        self.pair_school = np.asarray(pair_school, dtype=np.int64)
        self.pair_lower = np.round(np.asarray(pair_lower, dtype=np.float64)).astype(np.int64)
        self.pair_upper = np.round(np.asarray(pair_upper, dtype=np.float64)).astype(np.int64)
        self.viable = np.round(np.asarray(viable, dtype=np.float64)).astype(np.int64)
        self.capacity = np.round(np.asarray(capacity, dtype=np.float64)).astype(np.int64)
        # One question's state (`find`): the circulation on each arc and its bounds.
        self.flow: np.ndarray = np.zeros(0, dtype=np.int64)
        self.lo: np.ndarray = np.zeros(0, dtype=np.int64)
        self.hi: np.ndarray = np.zeros(0, dtype=np.int64)
        self.work = 0
        self.budget = 0
        self.members: np.ndarray | None = None
        self.stop: Callable[[], bool] | None = None

    def _spend(self) -> None:
        """One unit of work (a path search, a maximum flow): out of work past the budget,
        or when the caller's `stop` says so (looked at every `STOP_EVERY` units)."""
        self.work += 1
        if self.work > self.budget:
            raise _OutOfWork
        if self.stop is not None and self.work % STOP_EVERY == 0 and self.stop():
            raise _OutOfWork

    # --- the network ------------------------------------------------------------------

    def _network(self, m: int, members: np.ndarray | None = None) -> None:
        """Arcs: source -> service (J), service -> school (n pairs), school -> sink (m),
        sink -> source (1), and with a group of schools (`members`) group -> sink (1),
        their school arcs ending at the group node instead. Nodes: 0 source, 1..J
        services, then schools, then sink, then the group node if any."""
        j, n = self.services, self.n
        self.m = m
        self.sink = j + m + 1
        grouped = members is not None
        self.nodes = j + m + 2 + int(grouped)
        service_nodes = 1 + np.arange(j)
        school_nodes = j + 1 + np.arange(m)
        ends = np.full(m, self.sink)
        if members is not None:
            ends[members] = self.sink + 1
        self.tail = np.concatenate(
            [
                np.zeros(j, dtype=np.int64),
                1 + self.pair_service,
                school_nodes,
                [self.sink],
                [self.sink + 1] if grouped else [],
            ]
        ).astype(np.int64)
        self.head = np.concatenate(
            [service_nodes, j + 1 + self.pair_school, ends, [0], [self.sink] if grouped else []]
        ).astype(np.int64)
        self.first_pair = j
        self.first_school = j + n
        arcs = len(self.tail)
        # Which arc runs from one node to another: sorted keys tail * nodes + head (a
        # dense nodes x nodes table would take gigabytes on a state-sized category).
        keys = self.tail * self.nodes + self.head
        self.key_order = np.argsort(keys, kind="stable")
        self.sorted_keys: np.ndarray = keys[self.key_order]
        assert len(np.unique(keys)) == arcs, "two arcs between the same nodes"
        # The residual graph's candidate edges: every arc forwards, then backwards.
        self.edge_tail = np.concatenate([self.tail, self.head])
        self.edge_head = np.concatenate([self.head, self.tail])
        self.cohort_arc = np.zeros(arcs, dtype=bool)
        self.cohort_arc[j : j + n] = self.viable > 0
        self.arc_viable = np.zeros(arcs, dtype=np.int64)
        self.arc_viable[j : j + n] = self.viable

    def _initial(self) -> np.ndarray | None:
        """A whole circulation within [lo, hi], or None (one maximum flow)."""
        lo, hi = self.lo, self.hi
        excess = np.zeros(self.nodes, dtype=np.int64)
        np.add.at(excess, self.head, lo)
        np.subtract.at(excess, self.tail, lo)
        ss, tt = self.nodes, self.nodes + 1
        feed = np.flatnonzero(excess > 0)
        drain = np.flatnonzero(excess < 0)
        tails = np.concatenate([self.tail, np.full(len(feed), ss), drain])
        heads = np.concatenate([self.head, feed, np.full(len(drain), tt)])
        caps = np.concatenate([hi - lo, excess[feed], -excess[drain]])
        caps = np.minimum(caps, BIG).astype(np.int32)
        graph = _graphs().csr_matrix((caps, (tails, heads)), shape=(self.nodes + 2, self.nodes + 2))
        result = _graphs().maximum_flow(graph, ss, tt)
        if result.flow_value < int(excess[feed].sum()):
            return None
        flow = result.flow
        carried = np.asarray(flow[self.tail, self.head]).ravel().astype(np.int64)
        return lo + carried

    def _circulation(self, x: np.ndarray) -> np.ndarray | None:
        """The circulation carrying whole pair amounts `x`, if it is within [lo, hi]."""
        if np.any(x != np.round(x)):
            return None
        pairs = np.round(x).astype(np.int64)
        load = np.bincount(self.pair_service, weights=pairs, minlength=self.services)
        y = np.bincount(self.pair_school, weights=pairs, minlength=self.m)
        grouped = [y[self.members].sum()] if self.members is not None else []
        flow = np.concatenate([load, pairs, y, [pairs.sum()], grouped]).astype(np.int64)
        if np.any(flow < self.lo) or np.any(flow > self.hi):
            return None
        return flow

    # --- residual paths ---------------------------------------------------------------

    def _path(
        self, start: int, end: int, amount: int, safe: bool, skip: int
    ) -> list[tuple[int, int]] | None:
        """A residual path start -> end that can carry `amount` on every edge, as
        (arc, +1 forwards / -1 backwards), fewest edges first; None when there is none.
        `safe`: no cohort pair is moved into (0, v) unless it is there already."""
        self._spend()
        f, lo, hi = self.flow, self.lo, self.hi
        up_ok = f + amount <= hi
        down_ok = f - amount >= lo
        if safe:
            v = self.arc_viable
            cohort = self.cohort_arc
            below = cohort & (f > 0) & (f < v)
            up_new = f + amount
            down_new = f - amount
            up_ok &= ~cohort | below | (up_new >= v)
            down_ok &= ~cohort | below | (down_new == 0) | (down_new >= v)
        if skip >= 0:
            up_ok[skip] = down_ok[skip] = False
        keep = np.concatenate([up_ok, down_ok])
        tails, heads = self.edge_tail[keep], self.edge_head[keep]
        graph = _graphs().csr_matrix(
            (np.ones(len(tails), dtype=np.int8), (tails, heads)), shape=(self.nodes, self.nodes)
        )
        _, pred = _graphs().breadth_first_order(
            graph, start, directed=True, return_predecessors=True
        )
        if end != start and pred[end] < 0:
            return None
        path: list[tuple[int, int]] = []
        node = end
        while node != start:
            prev = int(pred[node])
            arc = self._arc(prev, node)
            if arc >= 0 and up_ok[arc]:
                path.append((arc, 1))
            else:
                path.append((self._arc(node, prev), -1))
            node = prev
        return path

    def _arc(self, tail: int, head: int) -> int:
        """The arc from `tail` to `head`, or -1."""
        key = tail * self.nodes + head
        at = int(np.searchsorted(self.sorted_keys, key))
        if at < len(self.sorted_keys) and self.sorted_keys[at] == key:
            return int(self.key_order[at])
        return -1

    def _push(self, path: list[tuple[int, int]], amount: int) -> None:
        for arc, sign in path:
            self.flow[arc] += sign * amount

    def _bottleneck(self, path: list[tuple[int, int]]) -> int:
        room = BIG
        for arc, sign in path:
            left = self.hi[arc] - self.flow[arc] if sign > 0 else self.flow[arc] - self.lo[arc]
            room = min(room, int(left))
        return room

    def _route(self, start: int, end: int, amount: int, skip: int) -> bool:
        """Move `amount` from `start` to `end` through the residual graph (several paths
        if need be; safe ones first), or leave the flow as it was and say False."""
        saved = self.flow.copy()
        left = amount
        path = self._path(start, end, left, True, skip)
        if path is not None:
            self._push(path, left)
            return True
        while left > 0:
            path = self._path(start, end, 1, False, skip)
            if path is None:
                self.flow = saved
                return False
            step = min(left, self._bottleneck(path))
            self._push(path, step)
            left -= step
        return True

    # --- moves ------------------------------------------------------------------------

    def _below(self) -> np.ndarray:
        """The pair arcs carrying less than their cohort (but something)."""
        f = self.flow[self.first_pair : self.first_school]
        return np.flatnonzero((f > 0) & (f < self.viable))

    def _repair(self) -> None:
        """Move pairs below their cohort to 0 or v along safe cycles while any can be."""
        progress = True
        while progress:
            progress = False
            for k in self._below().tolist():
                arc = self.first_pair + k
                a, v = int(self.flow[arc]), int(self.viable[k])
                if not 0 < a < v:
                    continue  # moved by an earlier repair this round
                service, school = int(self.tail[arc]), int(self.head[arc])
                moves = [("down", a), ("up", v - a)]
                if 2 * a >= v:
                    moves.reverse()
                for side, amount in moves:
                    if side == "down":
                        if self.flow[arc] - amount < self.lo[arc]:
                            continue
                        path = self._path(service, school, amount, True, arc)
                        sign = -1
                    else:
                        if self.flow[arc] + amount > self.hi[arc]:
                            continue
                        path = self._path(school, service, amount, True, arc)
                        sign = 1
                    if path is not None:
                        self._push(path, amount)
                        self.flow[arc] += sign * amount
                        progress = True
                        break

    def _set_bounds(self, arc: int, low: int, high: int) -> bool:
        """Hold arc within [low, high], moving the flow there; False if impossible
        (the bounds and flow are then as they were)."""
        if low > high:
            return False
        value = int(self.flow[arc])
        service, school = int(self.tail[arc]), int(self.head[arc])
        old = self.lo[arc], self.hi[arc]
        self.lo[arc], self.hi[arc] = low, high
        if value > high:
            ok = self._route(service, school, value - high, arc)
            if ok:
                self.flow[arc] = high
        elif value < low:
            ok = self._route(school, service, low - value, arc)
            if ok:
                self.flow[arc] = low
        else:
            ok = True
        if not ok:
            self.lo[arc], self.hi[arc] = old
        return ok

    def _deduce(self, rounds: int = 20) -> bool:
        """Hold off every undecided cohort pair that carries less than its cohort in every
        circulation within the bounds, and on (at v or more) every one that carries
        something in every one, until nothing changes; False when that leaves no
        circulation (no allocation within these bounds).

        The most pair k can carry is its amount plus the most that can circulate from
        its school back to its service in the residual graph without its own arcs (a
        maximum flow); the least, its amount less what can circulate the other way. A
        pair at 0 with a residual path of arcs of at least v from its school to its
        service can carry v and needs no maximum flow (one breadth-first search for
        each school and cohort size). Each maximum flow and search counts as work.
        """
        j, n = self.services, self.n
        arcs = len(self.tail)
        pair_arcs = j + np.arange(n)
        for _ in range(rounds):
            f, lo, hi = self.flow, self.lo, self.hi
            caps = np.concatenate([hi - f, f - lo])
            caps = np.clip(caps, 0, BIG).astype(np.int32)
            key = self.edge_tail * self.nodes + self.edge_head
            order = np.argsort(key, kind="stable")
            position = np.empty(len(key), dtype=np.int64)
            position[order] = np.arange(len(key))
            indptr = np.searchsorted(self.edge_tail[order], np.arange(self.nodes + 1))
            graph = _graphs().csr_matrix(
                (caps[order], self.edge_head[order], indptr), shape=(self.nodes, self.nodes)
            )
            data = graph.data
            pair_f = f[pair_arcs]
            pair_lo, pair_hi = lo[pair_arcs], hi[pair_arcs]
            v = self.viable
            undecided = np.flatnonzero((v > 0) & (pair_lo == 0) & (pair_hi >= v))
            reached: dict[tuple[int, int], np.ndarray] = {}
            zero = undecided[pair_f[undecided] == 0]
            for size in np.unique(v[zero]).tolist():
                strong = graph.copy()
                strong.data = np.where(strong.data >= size, strong.data, 0)
                strong.eliminate_zeros()
                for school in np.unique(self.head[j + zero[v[zero] == size]]).tolist():
                    self._spend()
                    found = np.zeros(self.nodes, dtype=bool)
                    found[
                        _graphs().breadth_first_order(strong, school, return_predecessors=False)
                    ] = True
                    reached[(school, size)] = found
            off: list[int] = []
            on: list[int] = []
            for k in undecided.tolist():
                arc = j + k
                service, school = int(self.tail[arc]), int(self.head[arc])
                amount, cohort = int(pair_f[k]), int(v[k])
                if amount == 0 and reached[(school, cohort)][service]:
                    continue
                forward, backward = int(position[arc]), int(position[arcs + arc])
                kept = data[forward], data[backward]
                data[forward] = data[backward] = 0
                if amount < cohort:
                    self._spend()
                    if amount + _graphs().maximum_flow(graph, school, service).flow_value < cohort:
                        off.append(arc)
                if amount > 0:
                    self._spend()
                    if amount - _graphs().maximum_flow(graph, service, school).flow_value > 0:
                        on.append(arc)
                data[forward], data[backward] = kept
            if not off and not on:
                return True
            for arc in off:
                if not self._set_bounds(arc, 0, 0):
                    return False
            for arc in on:
                if not self._set_bounds(arc, int(self.viable[arc - j]), int(self.hi[arc])):
                    return False
        return True

    def _choose(self, below: np.ndarray) -> int:
        """The pair to branch on: the one its flow has most nearly decided (nearest 0 or
        its cohort, relative to the cohort), the first such by index."""
        f = self.flow[self.first_pair + below]
        share = f / self.viable[below]
        return int(below[int(np.argmax(np.abs(share - 0.5)))])

    # --- the search -------------------------------------------------------------------

    def find(
        self,
        floors: np.ndarray,
        t_star: float,
        y_upper: np.ndarray | None = None,
        on: np.ndarray | None = None,
        off: np.ndarray | None = None,
        budget: int = 5000,
        start: np.ndarray | None = None,
        deduce: bool = False,
        group: tuple[np.ndarray, float] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Outcome:
        """Whole amounts meeting every constraint with y >= floors (and <= y_upper), the
        cohort pairs in `on` at v or more and those in `off` at 0; within `budget` path
        searches. `start`: whole amounts to begin from (cohorts aside, they must meet
        every bound; if they do not, one maximum flow finds a start). `deduce`: first
        hold off the pairs that cannot carry their cohort in any circulation and on those
        that carry something in every one (`_deduce`, a maximum flow a pair). `group`:
        (schools, g), with sum of y over those schools at least g. `stop`: asked now and
        then; True ends the search unsettled (the caller's time limit)."""
        m = len(floors)
        self.members = None if group is None else np.asarray(group[0], dtype=np.int64)
        self._network(m, self.members)
        j, n = self.services, self.n
        upper = np.full(m, BIG, dtype=np.int64) if y_upper is None else y_upper
        upper = np.minimum(np.where(np.isinf(upper), BIG, upper), BIG)
        t = round(t_star)
        least = [] if group is None else [math.ceil(group[1] - 1e-9)]
        self.lo = np.concatenate(
            [
                np.zeros(j, np.int64),
                self.pair_lower,
                np.round(floors).astype(np.int64),
                [t],
                least,
            ]
        ).astype(np.int64)
        self.hi = np.concatenate(
            [
                self.capacity,
                self.pair_upper,
                np.round(upper).astype(np.int64),
                [t],
                [] if group is None else [BIG],
            ]
        ).astype(np.int64)
        pair_lo = self.lo[j : j + n]
        pair_hi = self.hi[j : j + n]
        cohort = self.viable > 0
        pair_lo[cohort & (pair_lo > 0)] = np.maximum(
            pair_lo[cohort & (pair_lo > 0)], self.viable[cohort & (pair_lo > 0)]
        )
        if on is not None:
            pair_lo[on] = np.maximum(pair_lo[on], self.viable[on])
        if off is not None:
            pair_hi[off] = 0
        pair_hi[cohort & (pair_hi < self.viable)] = 0  # it cannot carry its cohort
        self.work = 0
        self.budget = budget
        self.stop = stop
        nodes = backtracks = 0
        if t >= BIG or int(self.capacity.sum()) >= BIG:
            return Outcome(None, 0, False, 0)  # beyond the integer graphs: not settled
        if np.any(self.lo > self.hi):
            return Outcome(None, 0, True, 0)
        flow = None if start is None else self._circulation(start)
        if flow is None:
            flow = self._initial()
        if flow is None:
            return Outcome(None, 0, True, 0)
        self.flow = flow
        try:
            if deduce and not self._deduce():
                return Outcome(None, self.work, True, 0)
        except _OutOfWork:
            return Outcome(None, self.work, False, 0)
        # Each frame: (pair arc, sides left, the flow and bounds before the branch).
        stack: list[tuple[int, list[tuple[int, int]], np.ndarray, np.ndarray, np.ndarray]] = []
        try:
            while True:
                nodes += 1
                self._repair()
                below = self._below()
                if not len(below):
                    return Outcome(
                        self.flow[j : j + n].astype(np.float64),
                        self.work,
                        False,
                        nodes,
                        backtracks,
                    )
                k = self._choose(below)
                arc = j + k
                a, v = int(self.flow[arc]), int(self.viable[k])
                sides = [(v, int(self.hi[arc])), (0, 0)]
                if 2 * a < v:
                    sides.reverse()
                stack.append((arc, sides, self.flow.copy(), self.lo.copy(), self.hi.copy()))
                while stack:
                    arc, sides, flow, lo, hi = stack[-1]
                    if not sides:
                        stack.pop()
                        continue
                    low, high = sides.pop(0)
                    if not sides:
                        backtracks += 1  # the second side of this branch
                    self.flow, self.lo, self.hi = flow.copy(), lo.copy(), hi.copy()
                    if self._set_bounds(arc, low, high):
                        break
                else:
                    return Outcome(None, self.work, True, nodes, backtracks)
        except _OutOfWork:
            return Outcome(None, self.work, False, nodes, backtracks)


def check(
    network: FlowFinder,
    x: np.ndarray,
    floors: np.ndarray,
    t_star: float,
    y_upper: np.ndarray | None = None,
) -> list[str]:
    """Every constraint an allocation must meet in `network`'s category (its pairs,
    bounds, cohorts and capacities), checked plainly: what it breaks."""
    pair_service, pair_school = network.pair_service, network.pair_school
    pair_lower, pair_upper = network.pair_lower, network.pair_upper
    viable, capacity = network.viable, network.capacity
    broken = []
    if np.any(x != np.round(x)):
        broken.append("not whole")
    if np.any(x < pair_lower) or np.any(x > pair_upper):
        broken.append("pair bounds")
    cohort = viable > 0
    if np.any(cohort & (x > 0) & (x < viable)):
        broken.append("cohort")
    used = np.zeros(len(capacity))
    y = np.zeros(len(floors))
    for k in range(len(x)):
        used[pair_service[k]] += x[k]
        y[pair_school[k]] += x[k]
    if np.any(used > capacity):
        broken.append("capacity")
    if np.any(y < floors):
        broken.append("floors")
    if y_upper is not None and np.any(y > y_upper):
        broken.append("school upper")
    if abs(float(x.sum()) - t_star) > 1e-9:
        broken.append("total")
    return broken
