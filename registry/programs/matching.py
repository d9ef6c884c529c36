"""Names as listings spell them, made comparable, and schools found for a listing's row.

A school is found, in order, by its DESE code, by the district's own code (the
listing's "RC"), by its name once normalised (case, accents, punctuation,
"School", "K-8", abbreviations such as "Acad."), and last by a name a
coordinator matched by hand before (a `SchoolAlias`).
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select

from registry.extensions import db
from registry.models import School, SchoolAlias

# Abbreviations listings use, as whole words after punctuation is gone.
ABBREVIATIONS: dict[str, str] = {
    "acad": "academy",
    "acd": "academy",
    "ctr": "center",
    "cntr": "center",
    "comm": "community",
    "elem": "elementary",
    "ms": "middle",
    "mid": "middle",
    "hs": "high",
    "intl": "international",
    "prep": "preparatory",
    "st": "saint",
    "mt": "mount",
    "sch": "school",
    "schl": "school",
    "tech": "technical",
    "voc": "vocational",
    "jr": "junior",
    "sr": "senior",
}
# Words that say nothing about which school it is.
NOISE_WORDS = frozenset({"school", "schools", "the", "of", "public", "bps"})
# Grade spans written into names: "K-8", "K8", "PK-5", "6-12".
_GRADE_SPAN = re.compile(r"\b(?:pk|k[0-2]?|\d{1,2})\s*[-–]\s*(?:k[0-2]?|\d{1,2})\b|\bk[0-2]?8\b")
# Words dropped from organisation names: legal forms.
ORGANISATION_NOISE = frozenset(
    {"the", "inc", "incorporated", "llc", "ltd", "corp", "co", "corporation"}
)


def _ascii_words(text: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    plain = plain.replace("&", " and ").replace("'", "").replace("\u2019", "")
    return re.sub(r"[^a-z0-9]+", " ", plain).split()


def school_key(name: str) -> str:
    """A school name as a key: 'Hernández K-8 School' and 'HERNANDEZ' give the same."""
    decomposed = unicodedata.normalize("NFKD", name or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    plain = _GRADE_SPAN.sub(" ", plain)
    words: list[str] = []
    for word in _ascii_words(plain):
        expanded = ABBREVIATIONS.get(word, word)
        words.extend(w for w in expanded.split() if w not in NOISE_WORDS)
    return " ".join(words)[:200]


def partner_key(name: str) -> str:
    """An organisation name as a key: 'Boys & Girls Club, Inc.' = 'boys and girls club'."""
    return " ".join(w for w in _ascii_words(name or "") if w not in ORGANISATION_NOISE)[:200]


def text_key(text: str) -> str:
    """Any other name as a key (programs, program areas): case, accents and punctuation off."""
    return " ".join(_ascii_words(text or ""))[:200]


def dese_code_of(text: str) -> str | None:
    """An 8-digit DESE code from a cell (leading zeros a spreadsheet dropped restored), or None."""
    code = (text or "").strip()
    if code.endswith(".0"):
        code = code[:-2]
    if not code or not code.isascii() or not code.isdigit() or len(code) > 8:
        return None
    return code.zfill(8)


class MatchedBy(enum.StrEnum):
    DESE_CODE = "dese_code"
    LOCAL_CODE = "local_code"
    NAME = "name"
    ALIAS = "alias"


@dataclass(frozen=True)
class SchoolRef:
    """What matching needs of a school."""

    id: int
    name: str
    dese_code: str
    local_code: str | None


class SchoolMatcher:
    """Every school, indexed the four ways a listing's row can name one."""

    def __init__(
        self, schools: Iterable[SchoolRef], aliases: Mapping[str, int] | None = None
    ) -> None:
        self.schools = {school.id: school for school in schools}
        self.by_dese = {s.dese_code: s for s in self.schools.values()}
        self.by_local = {
            s.local_code.strip().lower(): s for s in self.schools.values() if s.local_code
        }
        by_name: dict[str, list[SchoolRef]] = {}
        for school in self.schools.values():
            by_name.setdefault(school_key(school.name), []).append(school)
        # Two schools with the same normalised name: the name alone decides nothing.
        self.by_name = {key: found[0] for key, found in by_name.items() if len(found) == 1}
        self.aliases: dict[str, SchoolRef] = {}
        for key, school_id in (aliases or {}).items():
            if school_id in self.schools:
                self.aliases[key] = self.schools[school_id]

    @classmethod
    def load(cls) -> SchoolMatcher:
        """Every school and remembered alias in the database."""
        rows = db.session.execute(
            select(School.id, School.name, School.dese_code, School.local_code)
        )
        schools = [SchoolRef(id, name, code, local) for id, name, code, local in rows]
        aliases = db.session.execute(select(SchoolAlias.name_key, SchoolAlias.school_id))
        return cls(schools, {str(key): int(school_id) for key, school_id in aliases})

    def remember(self, name_key: str, school_id: int) -> None:
        """Use a choice from now on (not stored: see services.remember_school)."""
        self.aliases[name_key] = self.schools[school_id]

    def match(
        self, name: str, local_code: str = "", dese_code: str = ""
    ) -> tuple[SchoolRef, MatchedBy] | None:
        """The school a row names, and how it was found; None when a person must choose."""
        code = dese_code_of(dese_code)
        if code and code in self.by_dese:
            return self.by_dese[code], MatchedBy.DESE_CODE
        local = (local_code or "").strip().lower()
        if local.endswith(".0"):
            local = local[:-2]
        if local and local in self.by_local:
            return self.by_local[local], MatchedBy.LOCAL_CODE
        key = school_key(name)
        if key and key in self.by_name:
            return self.by_name[key], MatchedBy.NAME
        if key and key in self.aliases:
            return self.aliases[key], MatchedBy.ALIAS
        return None

    def find_code(self, code: str) -> SchoolRef | None:
        """A school by its DESE code or its local code (a --match file names either)."""
        dese = dese_code_of(code)
        if dese and dese in self.by_dese:
            return self.by_dese[dese]
        return self.by_local.get(code.strip().lower())

    def suggestions(self, name: str, limit: int = 5) -> list[SchoolRef]:
        """Schools whose normalised names share the most words with a name, best first."""
        words = set(school_key(name).split())
        if not words:
            return []
        scored = []
        for school in self.schools.values():
            theirs = set(school_key(school.name).split())
            common = len(words & theirs)
            if common:
                scored.append((-common / len(words | theirs), school.name.lower(), school))
        scored.sort(key=lambda item: (item[0], item[1]))
        return [school for _score, _name, school in scored[:limit]]
