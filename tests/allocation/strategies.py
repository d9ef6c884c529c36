"""What the hypothesis tests of the engine draw their problems from: five schools, and the
locks and limits drawn over a problem's services."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

SCHOOLS = ["S0", "S1", "S2", "S3", "S4"]


def school_ids(eligible: list[Any]) -> list[str]:
    """The school ids of an `eligible` list (ids or {"school", "max"} entries)."""
    return [entry if isinstance(entry, str) else entry["school"] for entry in eligible]


def locks_and_limits(
    draw: st.DrawFn, services: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Up to two locks within their service's capacity, and up to two limits (min <= max)."""
    locks = []
    for service in draw(st.lists(st.sampled_from(services), max_size=2)):
        school = draw(st.sampled_from(school_ids(service["eligible"])))
        amount = draw(st.sampled_from([0, 1, 2, 4, 6]))
        if amount <= service["capacity"]:
            locks.append({"service": service["id"], "school": school, "amount": amount})
    limits = []
    for _ in range(draw(st.integers(0, 2))):
        limit: dict[str, Any] = {
            "school": draw(st.sampled_from(SCHOOLS)),
            "category": draw(st.sampled_from(["a", "b"])),
        }
        low = draw(st.sampled_from([None, 0, 2, 5, 11]))
        high = draw(st.sampled_from([None, 3, 8, 20]))
        if low is not None and high is not None and low > high:
            low, high = high, low
        if low is not None:
            limit["min"] = low
        if high is not None:
            limit["max"] = high
        limits.append(limit)
    return locks, limits
