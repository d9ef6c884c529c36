"""Reading the registry's downloads back in tests."""

from __future__ import annotations

import codecs
import csv
import io
from typing import Any

from openpyxl import load_workbook


def csv_text(response: Any) -> str:
    """A CSV download's text, after checking it starts with the UTF-8 byte-order mark."""
    data = response.get_data()
    assert data.startswith(codecs.BOM_UTF8), "a CSV for Excel starts with a byte-order mark"
    return data.decode("utf-8-sig")


def csv_rows(response: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(csv_text(response), newline="")))


def csv_records(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(csv_text(response), newline="")))


def xlsx_book(response: Any) -> Any:
    assert response.mimetype.endswith("spreadsheetml.sheet")
    return load_workbook(io.BytesIO(response.get_data()))
