"""Wide tables scroll in regions a keyboard can reach and a screen reader can name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.nodb

OPENING = re.compile(r"<div\b[^>]*\bclass=\"(?:[^\"]*\s)?table-(?:scroll|wrap)\b[^>]*>", re.S)


@pytest.mark.parametrize(
    "path",
    sorted(
        [*ROOT.glob("templates/**/*.html"), ROOT / "registry" / "equity" / "charts.py"],
        key=str,
    ),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_every_table_scroller_is_a_named_focusable_region(path: Path) -> None:
    for tag in OPENING.findall(path.read_text(encoding="utf-8")):
        assert "table-wrap" not in tag, f"{path}: use .table-scroll, a focusable region"
        assert 'tabindex="0"' in tag and 'role="region"' in tag and "aria-label=" in tag, tag
