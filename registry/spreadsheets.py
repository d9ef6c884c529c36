"""Uploaded spreadsheets, as districts send them: an XLSX workbook or a CSV file.

What a file is (by its bytes, not its name) and a CSV's text, for every importer.
"""

from __future__ import annotations


def is_xlsx(raw: bytes) -> bool:
    """Whether a file is an XLSX workbook (a zip archive) rather than a CSV."""
    return raw[:4] == b"PK\x03\x04"


def is_binary(raw: bytes) -> bool:
    """Whether a file that is no workbook holds bytes no CSV has (a PDF, an image, an
    Excel 97-2003 .xls): NUL bytes, which no text encoding a spreadsheet saves uses."""
    return not is_xlsx(raw) and b"\x00" in raw


def decode_csv(raw: bytes) -> str:
    """A CSV's text: UTF-8 (with or without a byte-order mark), else Windows' cp1252."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")
