"""Lists as downloads: one description of a list's columns gives both its CSV and its XLSX.

A column says what its header is, how to get its value from a record, and what kind of
value it is. The kind decides how the value is written: a CSV for Excel (UTF-8 with a
byte-order mark, labels not codes, dates as ISO dates, numbers without float noise) and
an XLSX whose numbers are numbers with a number format (percentages as %, whole seats
and dollars without decimals, dates as dates). Cells a spreadsheet would run as formulas
are neutralised in both.

Both files stream: the response starts at once and the file is written while it is sent.
A list read from the database comes as a `Query`: its select, counted for the security log
before the file starts, and a function that reads it a batch at a time (`batched`) while
the file is sent, adding what each record shows from a fixed number of narrow queries. A
file then costs the same few queries, and about the same memory, whatever its length. A
list already in memory (a ranking, a run's tables) has its cells worked out before the
response starts: its records may be the request's objects, expired once the request ends.
The XLSX is written by openpyxl's write-only mode (rows go to a temporary file as they come)
and sent in chunks.
"""

from __future__ import annotations

import csv
import enum
import io
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import IO, Any, Generic, TypeVar

from flask import Response, current_app, request, stream_with_context
from flask_babel import get_locale, get_timezone, to_user_timezone
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import Result, Select, func, select

from registry import security_log
from registry.downloads import as_download
from registry.extensions import db

T = TypeVar("T")

FORMATS = ("csv", "xlsx")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOM = "\ufeff"

# An amount (seats, hours, dollars) is kept to the hundredth, as the registry stores it.
AMOUNT_PLACES = 2

# Records read from the database at a time (`EXPORT_BATCH_ROWS` overrides it), and about
# how many bytes of the file are sent at a time.
BATCH_ROWS = 500
CHUNK_BYTES = 64 * 1024

# Spreadsheets run a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class Kind(enum.Enum):
    TEXT = "text"
    LABEL = "label"  # a LabelledEnum member, written as the label the pages show
    YES_NO = "yes_no"
    INT = "int"  # a whole number (seats, students, ids): rounded, no decimals
    DECIMAL = "decimal"  # rounded to the column's places, shown with them all
    AMOUNT = "amount"  # seats, hours or dollars: to the hundredth, decimals shown only if any
    PCT = "pct"  # a fraction (0.594), written as a percentage (59.4%)
    DATE = "date"


@dataclass(frozen=True)
class Column(Generic[T]):
    """One exported column: its header, its value from a record, its kind.

    `places` is how many decimals a DECIMAL keeps and shows, or how many decimals of a
    percentage a PCT keeps and shows (1: 59.4%).
    """

    header: Any  # a string or a lazy string, read in the language of the request
    value: Callable[[T], Any]
    kind: Kind = Kind.TEXT
    places: int = 2


def export_format() -> str | None:
    """The download the `format` argument asks for ("csv" or "xlsx"), or None for the page."""
    wanted = request.args.get("format")
    return wanted if wanted in FORMATS else None


# ---- values -------------------------------------------------------------------------------


def _rounded(value: Any, places: int) -> Decimal | None:
    """The number rounded half up to `places` decimals (5600.000000001 → 5600)."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _plain(number: Decimal) -> int | Decimal:
    """An integral number as an int; otherwise the Decimal without trailing zeros."""
    if number == number.to_integral_value():
        return int(number)
    return number.normalize()


def _label(value: Any) -> str:
    label = getattr(value, "label", None)
    return str(label) if label is not None else str(value)


def typed_value(column: Column[T], record: T) -> Any:
    """The record's value for the column, as the kind wants it: str, int, Decimal, date, None.

    A PCT comes back as the rounded fraction (0.594), a DECIMAL as the rounded number.
    """
    return _typed(column, column.value(record))


# A label or yes/no, by (kind, value): worked out once per file, since translating a word
# costs more than writing the cell, and a file is in one language throughout.
Words = dict[tuple[Kind, Any], str]


def _typed(column: Column[Any], raw: Any, words: Words | None = None) -> Any:
    if raw is None or raw == "":
        return None
    kind = column.kind
    if kind is Kind.LABEL or kind is Kind.YES_NO:
        if words is None:
            return _word(kind, raw)
        key = (kind, raw)
        try:
            found = words.get(key)
        except TypeError:  # not hashable: not one of the few values a label column holds
            return _word(kind, raw)
        if found is None:
            found = words[key] = _word(kind, raw)
        return found
    if kind is Kind.INT:
        number = _rounded(raw, 0)
        return None if number is None else int(number)
    if kind is Kind.DECIMAL:
        number = _rounded(raw, column.places)
        return None if number is None else _plain(number)
    if kind is Kind.AMOUNT:
        number = _rounded(raw, AMOUNT_PLACES)
        return None if number is None else _plain(number)
    if kind is Kind.PCT:
        number = _rounded(raw, column.places + 2)
        return None if number is None else _plain(number)
    if kind is Kind.DATE:
        # A stored moment is UTC; its day is the day in the district's time zone.
        return to_user_timezone(raw).date() if isinstance(raw, datetime) else raw
    return str(raw)


def _word(kind: Kind, raw: Any) -> str:
    if kind is Kind.LABEL:
        return _label(raw)
    return _("Yes") if raw else _("No")


def neutralised(text: str) -> str:
    """Text a spreadsheet shows as written, never runs as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def unneutralised(text: str) -> str:
    """The text `neutralised` was given: what a file written by an export reads back as."""
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text


def csv_text(column: Column[T], record: T) -> str:
    """The cell as a CSV writes it."""
    return _csv_cell(column, _typed(column, column.value(record)))


def _csv_cell(column: Column[Any], value: Any) -> str:
    if value is None:
        return ""
    if column.kind is Kind.PCT:
        percent = _plain(Decimal(value) * 100)
        return f"{percent:f}%" if isinstance(percent, Decimal) else f"{percent}%"
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return neutralised(value)
    return str(value)


def number_format(column: Column[Any], value: Any) -> str | None:
    """The XLSX number format of the cell (None: text, no format)."""
    kind = column.kind
    if kind is Kind.INT or (kind is Kind.AMOUNT and isinstance(value, int)):
        return "#,##0"
    if kind is Kind.AMOUNT:
        return "#,##0." + "0" * AMOUNT_PLACES
    if kind is Kind.DECIMAL:
        places = column.places
        return "#,##0" + ("." + "0" * places if places else "")
    if kind is Kind.PCT:
        places = column.places
        return "0" + ("." + "0" * places if places else "") + "%"
    if kind is Kind.DATE:
        return "yyyy-mm-dd"
    return None


# ---- records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query(Generic[T]):
    """An export's records read from the database while the file is sent.

    `stmt` selects the list, filtered and in its order; `records(stmt)` reads it a batch at a
    time (`batched`) and yields the records the columns read, with whatever else they show
    loaded by a fixed number of narrow queries, never one per record.
    """

    stmt: Select[Any]
    records: Callable[[Select[Any]], Iterable[T]]

    def count(self) -> int:
        """How many records the export writes (one COUNT query)."""
        counted = select(func.count()).select_from(self.stmt.order_by(None).subquery())
        return db.session.scalar(counted) or 0


Records = Iterable[T] | Query[T]


def batch_rows() -> int:
    """How many records an export reads from the database at a time."""
    return int(current_app.config.get("EXPORT_BATCH_ROWS", BATCH_ROWS))


def batched(stmt: Select[*tuple[Any, ...]]) -> Result[*tuple[Any, ...]]:
    """The rows a select picks, fetched a batch at a time (`.scalars()`: its entities).

    Whatever a column reads beyond the select's own columns and joins must come from the
    export's narrow queries: a relationship left to load lazily would be a query per record
    (tests/test_export_streaming.py counts them).
    """
    return db.session.execute(stmt.execution_options(yield_per=batch_rows()))


def entities(stmt: Select[Any]) -> Iterator[Any]:
    """The entities an entity select picks, a batch at a time (see `batched`)."""
    return iter(batched(stmt).scalars())


def _read(records: Records[T]) -> Iterator[T]:
    if isinstance(records, Query):
        yield from records.records(records.stmt)
    else:
        yield from records


# A file's rows as the cells' typed values (see `typed_value`), in the columns' order.
TypedRows = Iterable[list[Any]]


def _typed_rows(columns: Sequence[Column[T]], records: Records[T]) -> Iterator[list[Any]]:
    words: Words = {}
    for record in _read(records):
        yield [_typed(c, c.value(record), words) for c in columns]


def _settled(columns: Sequence[Column[T]], records: Records[T]) -> tuple[int, TypedRows]:
    """How many rows there are, and their values: read while the file is sent for a Query;
    worked out now for records already in memory, which may be the request's own objects,
    expired once the request has ended (and the file is sent after that)."""
    if isinstance(records, Query):
        return records.count(), _typed_rows(columns, records)
    rows = list(_typed_rows(columns, records))
    return len(rows), rows


# ---- files --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sheet(Generic[T]):
    """A table to export: its name (the XLSX sheet's title), columns and records."""

    title: str
    columns: Sequence[Column[T]]
    records: Records[T]


def _csv_pieces(columns: Sequence[Column[Any]], rows: TypedRows) -> Iterator[bytes]:
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer)
    writer.writerow([str(c.header) for c in columns])
    # The header goes at once: the browser starts the download before the rows are read.
    yield buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    for values in rows:
        writer.writerow([_csv_cell(c, v) for c, v in zip(columns, values, strict=True)])
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def csv_chunks(columns: Sequence[Column[T]], records: Records[T]) -> Iterator[bytes]:
    """A CSV that Excel opens as UTF-8, in pieces: a byte-order mark, the header, the rows."""
    return _csv_pieces(columns, _typed_rows(columns, records))


def csv_bytes(columns: Sequence[Column[T]], records: Records[T]) -> bytes:
    """A CSV that Excel opens as UTF-8: a byte-order mark, then the header and rows."""
    return b"".join(csv_chunks(columns, records))


def _xlsx_cell(sheet: Any, column: Column[Any], value: Any) -> Any:
    if isinstance(value, Decimal):
        value = float(value)  # already rounded: no float noise survives the conversion
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        # Stored as text, and marked so Excel keeps it text when someone edits the cell.
        cell.data_type = "s"
        if value.startswith(FORMULA_STARTS):
            cell.quotePrefix = True
    elif value is not None:
        cell.number_format = number_format(column, value) or "General"
    return cell


def sheet_title(title: str) -> str:
    """A title Excel accepts for a sheet: at most 31 characters, none of []:*?/\\."""
    plain = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in title)
    return re.sub(r"[\[\]:*?/\\]", "-", plain).strip("' ")[:31].strip("' ") or "Sheet"


# A sheet to write: its title, its columns and their rows' values.
TypedSheet = tuple[str, Sequence[Column[Any]], TypedRows]


def _write_book(tables: Sequence[TypedSheet], out: IO[bytes]) -> None:
    book = Workbook(write_only=True)
    bold = Font(bold=True)
    for title, columns, rows in tables:
        sheet = book.create_sheet(title=sheet_title(title))
        sheet.freeze_panes = "A2"
        header = []
        for index, column in enumerate(columns, start=1):
            # Wide enough for the header: a write-only sheet can't measure its cells later.
            width = min(max(len(str(column.header)) + 2, 10), 40)
            sheet.column_dimensions[get_column_letter(index)].width = width
            cell = WriteOnlyCell(sheet, value=str(column.header))
            cell.data_type = "s"
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        for values in rows:
            sheet.append([_xlsx_cell(sheet, c, v) for c, v in zip(columns, values, strict=True)])
    book.save(out)


def write_xlsx(sheets: Sequence[Sheet[Any]], out: IO[bytes]) -> None:
    """A workbook with one sheet per table, written in openpyxl's streaming write-only mode
    (rows go to a temporary file as they are appended, not into memory)."""
    _write_book([(s.title, s.columns, _typed_rows(s.columns, s.records)) for s in sheets], out)


def xlsx_bytes(sheets: Sequence[Sheet[Any]]) -> bytes:
    """A workbook with one sheet per table, as bytes."""
    buffer = io.BytesIO()
    write_xlsx(sheets, buffer)
    return buffer.getvalue()


def _xlsx_pieces(tables: Sequence[TypedSheet]) -> Iterator[bytes]:
    """The workbook in pieces: written to a temporary file, then read back a chunk at a time
    (a zip's directory comes last, so nothing can be sent before the last row is read)."""
    with tempfile.TemporaryFile() as out:
        _write_book(tables, out)
        out.seek(0)
        while chunk := out.read(CHUNK_BYTES):
            yield chunk


def xlsx_chunks(sheets: Sequence[Sheet[Any]]) -> Iterator[bytes]:
    """The workbook in pieces (see `_xlsx_pieces`)."""
    return _xlsx_pieces([(s.title, s.columns, _typed_rows(s.columns, s.records)) for s in sheets])


def download(content: bytes, mimetype: str, filename: str, extension: str = "") -> Response:
    """A file to save as `filename` + `extension`, whatever characters the name holds.

    The name may come from a user (a need index's name): registry.downloads writes the header,
    and the file is never cached (Cache-Control: no-store).
    """
    return as_download(Response(content, mimetype=mimetype), filename, extension)


def streamed_download(
    chunks: Iterator[bytes], mimetype: str, filename: str, extension: str = ""
) -> Response:
    """A file sent as it is written, saved like `download`'s.

    Under a server the body is written after the request's own context has ended: Flask
    pushes it again around the stream, but the request's database session is closed by then
    and the signed-in user's row expired. So the file's language and time zone, which are
    chosen from that user, are settled now (Flask-Babel keeps them on `g`, which the stream
    shares), and the rows are read in a session of the stream's own.
    """
    get_locale()
    get_timezone()
    response = Response(stream_with_context(chunks), mimetype=mimetype)
    return as_download(response, filename, extension)


def csv_response(filename: str, columns: Sequence[Column[T]], records: Records[T]) -> Response:
    rows, values = _settled(columns, records)
    security_log.record("export", list=filename, format="csv", rows=rows)
    return streamed_download(_csv_pieces(columns, values), "text/csv", filename, ".csv")


def xlsx_response(filename: str, sheets: Sequence[Sheet[Any]]) -> Response:
    settled = [(s.title, s.columns, *_settled(s.columns, s.records)) for s in sheets]
    rows = sum(n for _, _, n, _ in settled)
    security_log.record("export", list=filename, format="xlsx", rows=rows)
    tables = [(title, columns, values) for title, columns, _, values in settled]
    return streamed_download(_xlsx_pieces(tables), XLSX_MIMETYPE, filename, ".xlsx")


def export_response(
    fmt: str, filename: str, columns: Sequence[Column[T]], records: Records[T]
) -> Response:
    """The list as the download asked for: `filename`.csv or `filename`.xlsx, streamed."""
    if fmt == "xlsx":
        return xlsx_response(filename, [Sheet(filename, columns, records)])
    return csv_response(filename, columns, records)
