"""A one-page PDF of plain text lines: the demo's stand-in for scanned paperwork.

Written by hand (a catalog, one page, a built-in font, one content stream and an exact
cross-reference table), so the same lines always give the same bytes, and so the file
passes the same check as any upload (`registry.documents.services.check_pdf`).
"""

from __future__ import annotations

FONT_SIZE = 11
LEADING = 16
TOP = 760  # the first line's baseline on a US Letter page (612 x 792 points)


def _escaped(line: str) -> str:
    """A line as a PDF literal string's body: ASCII, with \\, ( and ) escaped."""
    text = line.encode("ascii", "replace").decode("ascii")
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def placeholder_pdf(lines: list[str]) -> bytes:
    """A valid, unencrypted one-page PDF showing `lines` (non-ASCII characters become "?")."""
    text = [f"BT /F1 {FONT_SIZE} Tf {LEADING} TL 56 {TOP} Td"]
    text.extend(f"({_escaped(line)}) Tj T*" for line in lines)
    text.append("ET")
    stream = "\n".join(text).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
        b" /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
