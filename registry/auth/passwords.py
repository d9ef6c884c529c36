"""The password policy (ASVS 6.2.4, 6.2.11, 6.2.12): long enough, not common, not about us.

`zxcvbn` (offline: its frequency lists ship with the package) must rate the password
3 or more out of 4, given the words an attacker would try first: the user's email and
name, the product's name and the district's. zxcvbn alone still rates
``demo-district-2026`` a 4 (it does not join dictionary words across separators), so a
password made only of those words, digits and punctuation is refused as well.

Applies to every password a person chooses (the account forms, the change and reset
pages, `flask create-user`). The demo accounts of `flask seed-demo` are fictional data
and set their password directly, so they are exempt.
"""

from __future__ import annotations

import re

from zxcvbn import zxcvbn

MIN_LENGTH = 12
MAX_LENGTH = 200
MIN_SCORE = 3
# The product, the district, and what the registry is about.
CONTEXT_WORDS = (
    "partnership",
    "partnerships",
    "partner",
    "partners",
    "registry",
    "demo",
    "district",
    "fictional",
    "worcester",
    "school",
    "schools",
    "public",
    "password",
    "admin",
)
_WORD = re.compile(r"[^\W\d_]+")
# zxcvbn's cost grows with length; past this it adds nothing but time.
_RATED_LENGTH = 100


def context_words(email: str = "", name: str = "") -> list[str]:
    """The words an attacker guessing this user's password tries first."""
    words = [*CONTEXT_WORDS]
    email = (email or "").lower()
    if email:
        words.append(email)
        words.extend(_WORD.findall(email))
    words.extend(_WORD.findall((name or "").lower()))
    return [w for w in dict.fromkeys(words) if w]


def _only_context(password: str, words: list[str]) -> bool:
    # Only when some context word is in it: a long string of random digits is zxcvbn's to rate.
    rest = password.lower()
    for word in sorted(words, key=len, reverse=True):
        if len(word) >= 3:
            rest = rest.replace(word, " ")
    return rest != password.lower() and len("".join(_WORD.findall(rest))) < 4


def problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """None if the password is good enough, else what is wrong with it.

    "short", "long", "context" (made of the user's, the product's or the district's
    words), "repeats" (a guessable pattern: repeats, sequences) or "common".
    """
    if len(password) < MIN_LENGTH:
        return "short"
    if len(password) > MAX_LENGTH:
        return "long"
    words = context_words(email, name)
    if _only_context(password, words):
        return "context"
    rating = zxcvbn(password[:_RATED_LENGTH], user_inputs=words)
    if rating["score"] < MIN_SCORE:
        patterns = {m.get("pattern") for m in rating.get("sequence") or []}
        return "repeats" if patterns & {"repeat", "sequence", "spatial"} else "common"
    return None
