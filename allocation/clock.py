"""Where `solve` reads the time, so that a test can make the time limit run out.

`solve` reads the time only through a `Clock`: the default is the machine's
monotonic clock; a test passes its own that moves time on as a given stage of
a given category starts, and so makes the limit run out there on any machine.
HiGHS keeps its own clock inside a run: each run is given what `Budget.left`
says is left.
"""

from __future__ import annotations

import time
from typing import Literal, Protocol

Stage = Literal["placed", "shared", "shared_floor", "floor", "floor_shared"]
"""The spec's names of the stages (also the result's ``stage``): stage 1 places T*
("placed"); ``proportional`` then minimises D ("shared") and, D held, lifts the
floor ("shared_floor"); ``maxmin`` lifts the floor ("floor") and, the floor held,
minimises D ("floor_shared")."""


class Clock(Protocol):
    """The time as `solve` sees it."""

    def now(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    def starting(self, category: str, stage: Stage) -> None:
        """`solve` is about to run `stage` of `category`."""
        ...


class MonotonicClock:
    """The machine's monotonic clock: what `solve` uses unless given another."""

    def now(self) -> float:
        return time.monotonic()

    def starting(self, category: str, stage: Stage) -> None:
        pass


class Budget:
    """The time left of a limit (none: no limit) that started when the budget was made,
    or at `started` (a reading of `clock`) if given."""

    def __init__(
        self, limit_s: float | None, clock: Clock, *, started: float | None = None
    ) -> None:
        self.clock = clock
        start = clock.now() if started is None else started
        self.deadline = None if limit_s is None else start + limit_s

    def left(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - self.clock.now())

    def expired(self) -> bool:
        left = self.left()
        return left is not None and left <= 0.0
