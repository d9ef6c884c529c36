"""Typed text loses what only hides trouble: surrounding spaces and bidi control characters."""

from __future__ import annotations

import pytest

from registry.fields import strip_text

nodb = pytest.mark.nodb


@nodb
@pytest.mark.parametrize(
    "typed, kept",
    [
        ("  Lincoln Elementary ", "Lincoln Elementary"),
        ("Harbor\u202eYouth", "HarborYouth"),  # right-to-left override
        ("\u2067Escola\u2069 Nova", "Escola Nova"),  # isolates
        ("مدرسة لينكولن", "مدرسة لينكولن"),  # right-to-left text itself stays
        ("Café ☕", "Café ☕"),
    ],
)
def test_typed_text_keeps_letters_and_drops_bidi_controls(typed: str, kept: str) -> None:
    assert strip_text(typed) == kept


@nodb
def test_values_that_are_not_text_pass_through() -> None:
    assert strip_text(None) is None
    assert strip_text(3) == 3
