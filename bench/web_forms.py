"""What bench/web.py and its locust workload (bench/web_workload.py) share, without locust.

Importing locust patches the standard library for gevent, so bench/web.py (and the
smoke test) import this module and never the workload itself.
"""

from __future__ import annotations

from html.parser import HTMLParser

PLAN_ENV = "BENCH_WEB_PLAN"
SAMPLES_ENV = "BENCH_WEB_SAMPLES"
# Seconds of steady load (every visitor started and signed in) after which locust quits.
STEADY_ENV = "BENCH_WEB_STEADY_S"
SEPARATOR = " | "

# Groups, as reported.
LOGIN = "sign-in"
DASHBOARD = "dashboard"
LISTS = "lists"
DETAILS = "details"
KPI_API = "KPI API"
TOKEN_API = "token API"
DIRECTORY = "directory"
PARTNER_PAGES = "partner pages"
PARTNER_EDIT = "partner edit"
GROUPS = (
    DASHBOARD,
    LISTS,
    DETAILS,
    KPI_API,
    TOKEN_API,
    DIRECTORY,
    PARTNER_PAGES,
    PARTNER_EDIT,
    LOGIN,
)


# ---- reading forms ------------------------------------------------------------------------


class FormReader(HTMLParser):
    """Every form of a page as the browser would submit it: the fields' current values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[list[tuple[str, str]]] = []
        self._form: list[tuple[str, str]] | None = None
        self._textarea: str | None = None
        self._text: list[str] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._multiple = False
        self._option_value: str | None = None
        self._option_selected = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = []
            self.forms.append(self._form)
        if self._form is None:
            return
        name = a.get("name", "")
        if tag == "input" and name and "disabled" not in a:
            kind = a.get("type", "text").lower()
            if kind in {"submit", "button", "image", "file", "reset"}:
                return
            if kind in {"checkbox", "radio"} and "checked" not in a:
                return
            self._form.append((name, a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []
        elif tag == "select" and name:
            self._select, self._options, self._multiple = name, [], "multiple" in a
        elif tag == "option" and self._select is not None:
            self._option_value = a.get("value")
            self._option_selected = "selected" in a
            self._text = []

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._form is None:
            return
        if tag == "textarea" and self._textarea is not None:
            text = "".join(self._text)
            # The HTML parser keeps the newline that follows <textarea>; a browser drops it.
            self._form.append((self._textarea, text.removeprefix("\n")))
            self._textarea = None
        elif tag == "option" and self._select is not None:
            value = self._option_value
            self._options.append(
                (value if value is not None else "".join(self._text).strip(), self._option_selected)
            )
        elif tag == "select" and self._select is not None:
            chosen = [v for v, selected in self._options if selected]
            if not chosen and not self._multiple and self._options:
                chosen = [self._options[0][0]]
            self._form.extend((self._select, v) for v in chosen)
            self._select = None
        elif tag == "form":
            self._form = None


def form_with(html: str, field: str) -> list[tuple[str, str]]:
    """The fields of the page's first form that has `field`."""
    reader = FormReader()
    reader.feed(html)
    for form in reader.forms:
        if any(name == field for name, _value in form):
            return form
    raise LookupError(f"no form with a {field!r} field")
