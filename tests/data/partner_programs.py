"""The PartnerBPS-style listing the partner-program tests import (and tests/data/ holds).

Three partners, five programs, twelve school rows. "Rafael Hernandez School" and
"Boston Latin Acad." match only once names are normalised; "Hernandez Dual
Language" matches no school and needs review. Run this module to write
tests/data/partner_programs.xlsx and tests/data/partner_programs_cp1252.csv again.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from openpyxl import Workbook

HEADERS = [
    "School Name",
    "RC",
    "Organization Name",
    "Website",
    "Program Name",
    "Program Areas",
    "Program Subareas",
    "Program Description",
    "Days of Operation",
    "Time",
    "Grades Served",
    "Average Weekly Dosage per Student",
    "Service Capacity",
    "Student Fees?",
]
BGC = "Boys & Girls Clubs of Boston, Inc."
CITY_YEAR = "City Year Boston"
ZUMIX = "Zumix"
SCRIPT = "Youth radio <script>alert(1)</script> & podcasts"

# School, RC, organization, website, program, areas, description, days, time, grades,
# dosage, capacity, fees.
ROWS: list[list[str]] = [
    ["Mission Hill K-8 School", "101", BGC, "https://bgcb.org", "Homework Club",
     "Academic Support", "Homework help", "Mon-Thu", "3:00 PM - 5:00 PM", "'K2','1','2'",
     "4 hours", "20", "No"],
    ["Rafael Hernandez School", "", BGC, "https://bgcb.org", "Homework Club",
     "Academic Support", "", "Mon-Thu", "3:00 PM - 5:00 PM", "'1','2'", "4 hours", "15", "No"],
    ["Boston Latin Acad.", "", BGC, "", "Teen Center Arts", "Arts", "Studio arts", "Fri",
     "2:30 PM - 4:30 PM", "'7','8'", "2 hours", "", "No"],
    ["Charlestown High School", "", BGC, "", "Teen Center Arts", "Arts", "", "Fri",
     "2:30 PM - 4:30 PM", "'9','10','11','12'", "2 hours", "30", "Yes"],
    ["Mission Hill School", "101", CITY_YEAR, "https://cityyear.org", "Whole School Whole Child",
     "Academic Support, Social Emotional", "In-class tutoring", "Mon-Fri", "School day",
     "'3','4','5'", "5 hours", "100", "No"],
    ["Orchard Gardens K-8", "", CITY_YEAR, "https://cityyear.org", "Whole School Whole Child",
     "Academic Support, Social Emotional", "", "Mon-Fri", "School day", "'K2','1'", "5 hours",
     "80", "No"],
    ["Hernandez Dual Language", "", CITY_YEAR, "", "Whole School Whole Child",
     "Academic Support", "", "Mon-Fri", "School day", "'2'", "5 hours", "40", "No"],
    ["Boston Latin Academy", "103", CITY_YEAR, "", "Attendance Coaching", "Health & Wellness",
     "Check-ins", "Mon, Wed", "8:00 AM", "'7','8'", "1 hour", "50", "No"],
    ["Charlestown High School", "", CITY_YEAR, "", "Attendance Coaching", "Health & Wellness",
     "", "Mon, Wed", "8:00 AM", "'9'", "1 hour", "1,000", "No"],
    ["Orchard Gardens K-8", "", ZUMIX, "https://zumix.org", "Radio Zumix", "Youth Media",
     SCRIPT, "Sat", "10:00 AM", "'K0','K1'", "3 hours", "12", "$50"],
    ["Mission Hill K-8 School", "101", ZUMIX, "https://zumix.org", "Radio Zumix", "Youth Media",
     "", "Sat", "10:00 AM", "'5'", "3 hours", "12", "$50"],
    ["Charlestown High School", "", ZUMIX, "", "Radio Zumix", "Youth Media", "", "Sat",
     "10:00 AM", "'9','10'", "3 hours", "10", "$50"],
]  # fmt: skip


def table(rows: list[list[str]] | None = None) -> list[list[str]]:
    """The header and rows, each row laid out in the listing's 14 columns."""
    out = [HEADERS]
    for school, rc, org, web, program, areas, desc, days, time, grades, dose, cap, fees in (
        rows or ROWS
    ):
        out.append(
            [school, rc, org, web, program, areas, "", desc, days, time, grades, dose, cap, fees]
        )
    return out


def xlsx_bytes(rows: list[list[str]] | None = None) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for line in table(rows):
        sheet.append(line)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv_text(rows: list[list[str]] | None = None) -> str:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(table(rows))
    return buffer.getvalue()


def with_accents(rows: list[list[str]]) -> list[list[str]]:
    """The rows with Hernández spelled as Windows Excel would save it."""
    return [[r[0].replace("Hernandez School", "Hernández School"), *r[1:]] for r in rows]


if __name__ == "__main__":
    data = Path(__file__).parent / "data"
    (data / "partner_programs.xlsx").write_bytes(xlsx_bytes())
    (data / "partner_programs_cp1252.csv").write_bytes(
        csv_text(with_accents(ROWS)).encode("cp1252")
    )
