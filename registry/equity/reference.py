"""A published need index (a "reference", e.g. Boston's Opportunity Index) set against ours.

Pure functions (no Flask, no database); `services.reference_comparison` loads the rows.

* Reading: a CSV (UTF-8, or Windows-1252 as Excel writes it; comma, semicolon or
  tab) or the first sheet of an XLSX, parsed in memory and never stored, at most
  `MAX_BYTES`. A header names the school-code column ("School code", "DESE code",
  "Org code", "Code", "RC", …) and the score column ("Score", "Index", "Opportunity
  index", …); a file of just two columns without a recognised header is read as
  (code, score). A row whose score is not a number is listed, not used; so is a
  second row for the same code.
* Matching: by DESE code (digits, left-padded with zeros to 8: "350020" is
  "00350020"), else by the school's local code; rows matching no school are listed.
* Ranks: 1 = most need (the highest score, unless the file's scores run the other
  way); equal values share the better rank (1, 2, 2, 4), as in `need_index`.
* Spearman's ρ: `need_index.spearman` over the n schools with both scores.
* Decile overlap: with ``k = ⌈n / 10⌉``, the top decile of a scoring is its k
  highest schools (ties broken by school id), the bottom decile its k lowest; the
  overlap is how many schools both scorings put there, and its share ``overlap / k``.
* Disagreement: ``our rank − reference rank`` (positive: the reference ranks the
  school needier than we do); the 10 largest in absolute value are shown, ties by
  school id.
* Fitted weights (non-negative least squares): the indicators reported by at least
  half the matched schools are fitted, on the matched schools reporting all of them.
  Each indicator is normalised as the need index does (percentile rank among the
  district's schools that report it); the columns and the reference scores are
  centred (so a constant offset needs no weight), and ``β = argmin ‖Xβ − y‖, β ≥ 0``
  (`scipy.optimize.nnls`). The weights are ``β / Σβ`` (only their ratios matter to a
  need index). With every β zero nothing non-negative follows the reference: no fit.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from flask_babel import gettext as _
from openpyxl import load_workbook
from scipy.optimize import nnls  # type: ignore[import-untyped]  # no stubs shipped

from registry.equity.need_index import spearman
from registry.refusals import Refused

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 20_000
DISAGREEMENTS_SHOWN = 10
FIT_SHARE = 0.5  # an indicator is fitted when at least this share of matched schools report it

_CODE_HEADERS = {
    "school code",
    "dese code",
    "dese id",
    "org code",
    "organization code",
    "school id",
    "school number",
    "code",
    "rc",
    "local code",
    "id",
}
_SCORE_WORDS = ("score", "index", "opportunity", "oi", "value", "need")


@dataclass(frozen=True)
class ReferenceRow:
    line: int  # in the file, 1 = the first line
    code: str
    score: float


@dataclass(frozen=True)
class Skipped:
    line: int
    text: str  # what the row said
    reason: str


@dataclass(frozen=True)
class ParsedReference:
    rows: list[ReferenceRow]
    skipped: list[Skipped]


# ---- reading ------------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _csv_lines(raw: bytes) -> Iterator[list[str]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    for cells in csv.reader(io.StringIO(text), dialect):
        yield [c.strip() for c in cells]


def _xlsx_lines(raw: bytes) -> Iterator[list[str]]:
    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many kinds on a damaged file
        raise Refused(_("This file could not be read as an XLSX workbook."), field="file") from err
    try:
        sheet = book.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield [_cell_text(v) for v in row]
    finally:
        book.close()


def _header_key(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def parse_score(text: str) -> float | None:
    """A score as a number: "0.45", "0,45" (decimal comma), "45%" (→ 45); None if not one."""
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "").rstrip("%")
    if "," in cleaned and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    try:
        number = float(cleaned)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _columns(header: list[str]) -> tuple[int, int] | None:
    keys = [_header_key(h) for h in header]
    code = next((i for i, k in enumerate(keys) if k in _CODE_HEADERS), None)
    if code is None:
        code = next((i for i, k in enumerate(keys) if "code" in k.split()), None)
    if code is None:
        return None
    score = next(
        (
            i
            for i, k in enumerate(keys)
            if i != code and any(word in k.split() for word in _SCORE_WORDS)
        ),
        None,
    )
    return (code, score) if score is not None else None


def read_reference(raw: bytes) -> ParsedReference:
    """The (code, score) rows of an uploaded file; refused when it cannot be read at all."""
    if len(raw) > MAX_BYTES:
        raise Refused(
            _("The file is larger than %(mb)s MB.", mb=MAX_BYTES // (1024 * 1024)), field="file"
        )
    lines = _xlsx_lines(raw) if raw[:4] == b"PK\x03\x04" else _csv_lines(raw)
    numbered = [(n, cells) for n, cells in enumerate(lines, 1) if any(c for c in cells)]
    if not numbered:
        raise Refused(_("The file is empty."), field="file")
    header = numbered[0][1]
    columns = _columns(header)
    body = numbered[1:]
    if columns is None:
        width = len([c for c in header if c])
        if width == 2 and parse_score(header[1]) is not None:
            columns, body = (0, 1), numbered  # two columns, no header: code, score
        elif width == 2:
            columns = (0, 1)  # two columns under headers we do not know: code, score
        else:
            raise Refused(
                _(
                    "No school code and score columns were found: name them “School code” "
                    "and “Score” (or give a file of just those two columns)."
                ),
                field="file",
            )
    if len(body) > MAX_ROWS:
        raise Refused(_("The file has more than %(n)s rows.", n=MAX_ROWS), field="file")
    code_at, score_at = columns
    rows: list[ReferenceRow] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    for line, cells in body:
        code = cells[code_at].strip() if code_at < len(cells) else ""
        text = cells[score_at].strip() if score_at < len(cells) else ""
        shown = ", ".join(c for c in (code, text) if c)
        score = parse_score(text)
        if not code:
            skipped.append(Skipped(line, shown, _("no school code")))
        elif score is None:
            skipped.append(Skipped(line, shown, _("the score is not a number")))
        elif code.upper() in seen:
            skipped.append(Skipped(line, shown, _("a second row for this code")))
        else:
            seen.add(code.upper())
            rows.append(ReferenceRow(line, code, score))
    return ParsedReference(rows, skipped)


def dese_key(code: str) -> str | None:
    """A code as a DESE code: its digits left-padded to 8; None when it cannot be one."""
    digits = code.strip()
    if digits.isdigit() and len(digits) <= 8:
        return digits.zfill(8)
    return None


# ---- comparing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    school_id: int
    ours: float
    reference: float


@dataclass(frozen=True)
class Overlap:
    count: int
    size: int  # k, the decile's size

    @property
    def share(self) -> float:
        return self.count / self.size if self.size else 0.0


@dataclass(frozen=True)
class Disagreement:
    school_id: int
    ours: float
    reference: float
    rank_ours: int
    rank_reference: int

    @property
    def difference(self) -> int:
        """Our rank minus the reference's: positive when the reference ranks it needier."""
        return self.rank_ours - self.rank_reference


@dataclass(frozen=True)
class Agreement:
    n: int
    spearman: float | None
    top: Overlap
    bottom: Overlap
    disagreements: list[Disagreement]


def ranks_by_value(values: Mapping[int, float]) -> dict[int, int]:
    """1 = the highest value; equal values share the better rank (1, 2, 2, 4)."""
    ordered = sorted(values.values(), reverse=True)
    first: dict[float, int] = {}
    for position, value in enumerate(ordered, 1):
        first.setdefault(value, position)
    return {sid: first[v] for sid, v in values.items()}


def decile_size(n: int) -> int:
    return math.ceil(n / 10)


def _decile(values: Mapping[int, float], k: int, top: bool) -> set[int]:
    sign = -1 if top else 1
    return {sid for sid in sorted(values, key=lambda s: (sign * values[s], s))[:k]}


def agreement(pairs: Sequence[Pair]) -> Agreement:
    """How far two scorings of the same schools agree (see the module docstring)."""
    n = len(pairs)
    ours = {p.school_id: p.ours for p in pairs}
    theirs = {p.school_id: p.reference for p in pairs}
    k = decile_size(n)
    top = Overlap(len(_decile(ours, k, True) & _decile(theirs, k, True)), k)
    bottom = Overlap(len(_decile(ours, k, False) & _decile(theirs, k, False)), k)
    rank_ours, rank_theirs = ranks_by_value(ours), ranks_by_value(theirs)
    rows = [
        Disagreement(
            p.school_id, p.ours, p.reference, rank_ours[p.school_id], rank_theirs[p.school_id]
        )
        for p in pairs
    ]
    rows.sort(key=lambda d: (-abs(d.difference), d.school_id))
    rho = spearman([p.ours for p in pairs], [p.reference for p in pairs])
    return Agreement(n, rho, top, bottom, [d for d in rows if d.difference][:DISAGREEMENTS_SHOWN])


# ---- fitting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FittedWeights:
    weights: dict[str, float]  # indicator → share of the weight (> 0, summing to 1)
    indicators: list[str]  # the indicators fitted (some may get no weight)
    n: int  # schools the fit rests on


def fit_indicators(
    normalised: Mapping[int, Mapping[str, float]],
    reference: Mapping[int, float],
    candidates: Sequence[str],
) -> list[str]:
    """The candidates reported by at least half the schools with a reference score."""
    matched = [sid for sid in reference if sid in normalised]
    if not matched:
        return []
    return [
        name
        for name in candidates
        if sum(1 for sid in matched if name in normalised[sid]) >= FIT_SHARE * len(matched)
    ]


def fit_weights(
    normalised: Mapping[int, Mapping[str, float]],
    reference: Mapping[int, float],
    indicators: Sequence[str],
) -> FittedWeights | None:
    """Non-negative weights over the indicators that best follow the reference scores.

    ``normalised`` holds each school's normalised indicators (0–1, as the need index
    puts them); None when too few schools report them all, or no weight is positive.
    """
    rows = [
        sid
        for sid in sorted(reference)
        if sid in normalised and all(name in normalised[sid] for name in indicators)
    ]
    if not indicators or len(rows) < len(indicators) + 2:
        return None
    x = np.array([[normalised[sid][name] for name in indicators] for sid in rows], dtype=float)
    y = np.array([reference[sid] for sid in rows], dtype=float)
    x -= x.mean(axis=0)
    y -= y.mean()
    beta, _residual = nnls(x, y)
    total = float(beta.sum())
    if not total > 0:
        return None
    weights = {
        name: float(b) / total for name, b in zip(indicators, beta, strict=True) if b / total > 1e-9
    }
    return FittedWeights(weights, list(indicators), len(rows))
