"""Every string marked for translation sits where the extraction (README, babel.cfg) sees it.

A marked string the extraction misses never reaches the catalogs, so it stays in
English on Spanish and Portuguese pages: an f-string or a variable inside `_()`,
a `_()` call inside an f-string (Python 3.11's tokenizer hands Babel the whole
f-string as one token), a gettext imported under a name the extraction does not
know, or a file outside babel.cfg's patterns.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

ROOT = Path(__file__).resolve().parent.parent
# The extraction command in the README: Babel's keywords plus -k _l -k lazy_gettext.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
# Which arguments of each marker are message ids (ngettext: singular and plural).
MESSAGE_ARGUMENTS = {
    "_": 1,
    "gettext": 1,
    "_l": 1,
    "lazy_gettext": 1,
    "ngettext": 2,
    "lazy_ngettext": 2,
}
GETTEXT_FUNCTIONS = {"gettext", "lazy_gettext", "ngettext", "lazy_ngettext", "pgettext"}

pytestmark = pytest.mark.nodb


def python_files() -> list[Path]:
    return sorted(p for p in (ROOT / "registry").rglob("*.py") if "__pycache__" not in p.parts)


def template_files() -> list[Path]:
    # Every file, not only *.html: a marked string in a template babel.cfg does not map is lost.
    return sorted(p for p in (ROOT / "templates").rglob("*") if p.is_file())


def _where(name: str, node: ast.AST) -> str:
    return f"{name}:{getattr(node, 'lineno', '?')}"


def _marker_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name) and func.id in MESSAGE_ARGUMENTS:
        return func.id
    return None


def marked_calls(tree: ast.AST) -> list[tuple[ast.Call, bool]]:
    """Each marker call, and whether it sits inside an f-string.

    A marker's own definition (`def _(text, **variables): return gettext(text, ...)`,
    whose callers the extraction reads) passes its parameter on: that call is not listed.
    """
    found: list[tuple[ast.Call, bool]] = []

    def visit(node: ast.AST, in_fstring: bool, passed_on: str | None) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in KEYWORDS:
            passed_on = node.args.args[0].arg if node.args.args else None
        if isinstance(node, ast.Call) and _marker_name(node):
            first = node.args[0] if node.args else None
            if not (isinstance(first, ast.Name) and first.id == passed_on):
                found.append((node, in_fstring))
        for child in ast.iter_child_nodes(node):
            visit(child, in_fstring or isinstance(node, ast.JoinedStr), passed_on)

    visit(tree, False, None)
    return found


def python_problems(source: str, name: str) -> list[str]:
    """Where a Python module marks a string the extraction cannot read."""
    tree = ast.parse(source, filename=name)
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "flask_babel":
            for alias in node.names:
                if alias.name in GETTEXT_FUNCTIONS and (alias.asname or alias.name) not in KEYWORDS:
                    problems.append(
                        f"{_where(name, node)} imports {alias.name} as {alias.asname}, "
                        "a name the extraction does not look for"
                    )
    for call, in_fstring in marked_calls(tree):
        marker = _marker_name(call)
        assert marker
        if in_fstring:
            problems.append(f"{_where(name, call)} {marker}() inside an f-string")
        ids = call.args[: MESSAGE_ARGUMENTS[marker]]
        if len(ids) < MESSAGE_ARGUMENTS[marker] or not all(
            isinstance(a, ast.Constant) and isinstance(a.value, str) for a in ids
        ):
            problems.append(
                f"{_where(name, call)} {ast.unparse(call)[:60]}: "
                "the message is not a plain string literal"
            )
    return problems


# A Jinja `_(` or `gettext(` (not part of a longer name), then what follows it.
TEMPLATE_CALL = re.compile(r"(?<![\w.])(_|gettext|ngettext)\(\s*")
# A literal: "…" or '…' with no escapes; then the call goes on with `,` or `)`.
TEMPLATE_LITERAL = re.compile(r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*[,)]""")


def template_problems(text: str, name: str) -> list[str]:
    """Where a template marks a string the extraction cannot read."""
    problems = []
    for match in TEMPLATE_CALL.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        if not TEMPLATE_LITERAL.match(text, match.end()):
            snippet = text[match.start() : match.start() + 60].split("\n")[0]
            problems.append(f"{name}:{line} {snippet}…: the message is not a plain string literal")
    return problems


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _keep_directory(path: str) -> bool:
    name = os.path.basename(path)
    return not name.startswith(".") and name != "__pycache__"


def extracted_ids() -> dict[str, set[str]]:
    """What the README's extraction finds: message ids by file (relative to the root)."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: dict[str, set[str]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, directory_filter=_keep_directory
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        found.setdefault(filename, set()).add(msgid)
    return found


def literal_python_ids(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        call.args[0].value
        for call, _in_fstring in marked_calls(tree)
        if call.args
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
    }


def literal_template_ids(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    ids = set()
    for match in TEMPLATE_CALL.finditer(text):
        literal = TEMPLATE_LITERAL.match(text, match.end())
        if literal:
            ids.add(ast.literal_eval(literal.group(1)))
    return ids


def test_every_marked_python_string_is_a_literal_the_extraction_can_read() -> None:
    problems = [
        problem
        for path in python_files()
        for problem in python_problems(path.read_text(encoding="utf-8"), _relative(path))
    ]
    assert problems == []


def test_every_marked_template_string_is_a_literal_the_extraction_can_read() -> None:
    problems = [
        problem
        for path in template_files()
        for problem in template_problems(path.read_text(encoding="utf-8"), _relative(path))
    ]
    assert problems == []


def test_the_extraction_finds_every_marked_string_in_every_file() -> None:
    extracted = extracted_ids()
    missing = {}
    for path in python_files():
        relative = str(path.relative_to(ROOT))
        lost = literal_python_ids(path) - extracted.get(relative, set())
        if lost:
            missing[relative] = sorted(lost)
    for path in template_files():
        relative = str(path.relative_to(ROOT))
        lost = literal_template_ids(path) - extracted.get(relative, set())
        if lost:
            missing[relative] = sorted(lost)
    assert missing == {}


# ---- the checks themselves catch what they are for ------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        'x = _(f"{n} seats")',
        "x = _(label)",
        'x = _("a " + unit)',
        'x = _("{} seats".format(n))',
        'x = _l("%s" % unit)',
        'x = ngettext("one seat", plural, n)',
        "x = f\"<summary>{_('Data for this chart')}</summary>\"",
        "from flask_babel import gettext as t",
    ],
)
def test_the_python_check_catches_a_string_the_extraction_cannot_see(source) -> None:
    assert len(python_problems(source, "probe.py")) == 1


def test_the_python_check_passes_plain_literals() -> None:
    source = (
        "from flask_babel import gettext as _, lazy_gettext as _l, ngettext\n"
        "a = _('Seats')\n"
        "b = _l('Hours %(n)s', n=3)\n"
        "c = ngettext('%(num)s seat', '%(num)s seats', n)\n"
        "d = _('A long sentence ' 'split over two literals.')\n"
        "e = f'{a}: {n}'\n"
        "def _(text, **variables):\n"
        "    return gettext(text, **variables) if ready else text % variables\n"
    )
    assert python_problems(source, "probe.py") == []


@pytest.mark.parametrize(
    "source, bad",
    [
        ('{{ _("Seats") }}', False),
        ("{{ _('Seats') }}", False),
        ('{{ _("%(n)s seats", n=count) }}', False),
        ("{{ _(label) }}", True),
        ('{{ _("CSV: " ~ name) }}', True),
        ('{{ _(unit.label ~ " left") }}', True),
        ("{{ gettext(name) }}", True),
        ("{{ ngettext(one, many, n) }}", True),
    ],
)
def test_the_template_check_catches_a_string_the_extraction_cannot_see(source, bad) -> None:
    assert bool(template_problems(source, "probe.html")) == bad
