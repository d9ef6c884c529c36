"""Charts as inline SVG, drawn on the server: no JavaScript, no network.

Every chart comes as one ``<figure class="chart">`` holding the SVG (with a
``<title>`` and ``<desc>`` and ``role="img"``), a caption with a one-sentence
summary, and the chart's data as a table inside ``<details>`` so screen-reader
users and anyone who prefers numbers get the same facts.

Public functions (each returns ``Markup`` ready to drop in a template):

* ``bar_chart(series, *, title, unit, summary=None)`` — grouped bars.
  ``series`` is ``[(series_name, [(group_label, value), ...]), ...]``; groups
  appear in order of first appearance, one bar per series in each group (e.g.
  ``[("Status quo", [("Q1", 0.4), ...]), ("Proposal", [("Q1", 0.2), ...])]``).
* ``line_chart(series, *, title, unit, summary=None)`` — same data shape, the
  group labels along the x axis (e.g. school years).
* ``scatter_chart(points, *, title, x_label, y_label, summary=None, listed=None,
  more=None)`` — ``points`` is ``[(label, x, y), ...]``. With more than ``listed``
  points (a state's schools), the points are drawn bare (no tooltip, one circle per
  pixel) and the data table lists the first ``listed``, then ``more`` (where the
  rest can be read, e.g. a link to a paged table): the page stays small.

All text passed in is escaped. ``unit`` names what the values measure
("share of units", "seats per student") and labels the value axis.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from flask_babel import gettext as _
from markupsafe import Markup, escape

from registry import formats

Series = Sequence[tuple[str, Sequence[tuple[str, float]]]]
Point = tuple[str, float, float]

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 56
# Colour-blind-safe (Okabe–Ito), dark enough for 3:1 against white; app.css's .swatch-1..6
# repeat them in this order (the legend's keys are classes: the CSP allows no style=).
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#8a6d00", "#56b4e9")


def format_value(value: float) -> str:
    """A value as the charts and their tables print it."""
    if value == 0:
        return formats.integer(0)
    if (value == int(value) and abs(value) >= 1) or abs(value) >= 100:
        return formats.integer(value)
    if abs(value) >= 1:
        return formats.number(value, 2)
    return formats.number(value, 3)


def _tick_label(value: float) -> str:
    """An axis label: as short as the value allows (0.25, not 0.250)."""
    return formats.number(value, 3, trim=True)


def _nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values covering [low, high] (at least 0..1 when there is no range)."""
    if high <= low:
        high = low + 1
    raw_step = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _chart_id(*parts: object) -> str:
    return "chart-" + hashlib.sha1(repr(parts).encode(), usedforsecurity=False).hexdigest()[:10]


def _figure(
    chart_id: str, title: str, summary: str, svg_body: str, table: str, legend: str = ""
) -> Markup:
    data_label = _("Data for this chart")
    return Markup(
        f'<figure class="chart" id="{chart_id}">'
        f'<svg role="img" aria-labelledby="{chart_id}-t {chart_id}-d" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" font-size="12" font-family="inherit">'
        f'<title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape(summary)}</desc>'
        f"{svg_body}</svg>"
        f"{legend}"
        f"<figcaption><strong>{escape(title)}.</strong> {escape(summary)}</figcaption>"
        f"<details><summary>{escape(data_label)}</summary>"
        f'<div class="table-scroll" tabindex="0" role="region" '
        f'aria-label="{escape(data_label)}: {escape(title)}">{table}</div></details>'
        "</figure>"
    )


def _legend(names: Sequence[str]) -> str:
    if len(names) < 2:
        return ""
    items = "".join(
        f'<li><span class="swatch swatch-{i % len(PALETTE) + 1}" '
        f'aria-hidden="true"></span>{escape(name)}</li>'
        for i, name in enumerate(names)
    )
    return f'<ul class="chart-legend">{items}</ul>'


def _axes(ticks: list[float], y_of: object, unit: str) -> str:
    """Horizontal grid lines with value labels, and the value-axis title."""
    parts = []
    for tick in ticks:
        y = y_of(tick)  # type: ignore[operator]
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#d5dae1" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#535b66">'
            f"{escape(_tick_label(tick))}</text>"
        )
    parts.append(
        f'<text x="14" y="{TOP + (HEIGHT - TOP - BOTTOM) / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {TOP + (HEIGHT - TOP - BOTTOM) / 2:.1f})" fill="#535b66">'
        f"{escape(unit)}</text>"
    )
    return "".join(parts)


def _groups(series: Series) -> list[str]:
    groups: list[str] = []
    for _name, values in series:
        for label, _value in values:
            if label not in groups:
                groups.append(label)
    return groups


def _series_table(series: Series, title: str, unit: str) -> str:
    groups = _groups(series)
    head = "".join(f'<th scope="col" class="num">{escape(name)}</th>' for name, _v in series)
    lookup = [dict(values) for _name, values in series]
    body = "".join(
        f'<tr><th scope="row">{escape(group)}</th>'
        + "".join(
            f'<td class="num">{escape(format_value(v[group])) if group in v else "—"}</td>'
            for v in lookup
        )
        + "</tr>"
        for group in groups
    )
    return (
        f"<table><caption>{escape(title)} ({escape(unit)})</caption>"
        f'<thead><tr><th scope="col"></th>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def _value_scale(values: list[float]) -> tuple[list[float], object]:
    ticks = _nice_ticks(min([0.0, *values]), max([0.0, *values]))
    low, high = ticks[0], ticks[-1]
    plot_height = HEIGHT - TOP - BOTTOM

    def y_of(value: float) -> float:
        return TOP + plot_height * (high - value) / (high - low)

    return ticks, y_of


def _default_summary(series: Series, unit: str) -> str:
    best = max(
        ((name, label, value) for name, values in series for label, value in values),
        key=lambda t: t[2],
        default=None,
    )
    if best is None:
        return _("No data.")
    name, label, value = best
    where = f"{label} ({name})" if len(series) > 1 else label
    return _(
        "Highest: %(where)s, %(value)s %(unit)s.",
        where=where,
        value=format_value(value),
        unit=unit,
    )


def bar_chart(series: Series, *, title: str, unit: str, summary: str | None = None) -> Markup:
    """Grouped vertical bars: one group per label, one bar per series in each group."""
    groups = _groups(series)
    summary = summary or _default_summary(series, unit)
    values = [v for _n, vals in series for _l, v in vals]
    ticks, y_of = _value_scale(values)
    plot_width = WIDTH - LEFT - RIGHT
    group_width = plot_width / max(len(groups), 1)
    bar_width = group_width * 0.75 / max(len(series), 1)
    zero = y_of(0.0)  # type: ignore[operator]
    parts = [_axes(ticks, y_of, unit)]
    for gi, group in enumerate(groups):
        x0 = LEFT + gi * group_width + group_width * 0.125
        for si, (name, vals) in enumerate(series):
            value = dict(vals).get(group)
            if value is None:
                continue
            y = y_of(value)  # type: ignore[operator]
            top, height = min(y, zero), abs(zero - y)
            parts.append(
                f'<rect x="{x0 + si * bar_width:.1f}" y="{top:.1f}" width="{bar_width * 0.92:.1f}" '
                f'height="{max(height, 0.5):.1f}" fill="{PALETTE[si % len(PALETTE)]}">'
                f"<title>{escape(group)} · {escape(name)}: {escape(format_value(value))}</title>"
                "</rect>"
            )
        parts.append(
            f'<text x="{LEFT + (gi + 0.5) * group_width:.1f}" y="{HEIGHT - BOTTOM + 18}" '
            f'text-anchor="middle" fill="#1b1f24">{escape(group)}</text>'
        )
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{zero:.1f}" y2="{zero:.1f}" stroke="#1b1f24"/>'
    )
    chart_id = _chart_id("bar", title, [(n, list(v)) for n, v in series])
    return _figure(
        chart_id,
        title,
        summary,
        "".join(parts),
        _series_table(series, title, unit),
        _legend([n for n, _v in series]),
    )


def line_chart(series: Series, *, title: str, unit: str, summary: str | None = None) -> Markup:
    """Lines over ordered labels (e.g. school years), one line per series."""
    groups = _groups(series)
    summary = summary or _default_summary(series, unit)
    values = [v for _n, vals in series for _l, v in vals]
    ticks, y_of = _value_scale(values)
    plot_width = WIDTH - LEFT - RIGHT
    step = plot_width / max(len(groups), 1)

    def x_of(index: int) -> float:
        return LEFT + (index + 0.5) * step

    parts = [_axes(ticks, y_of, unit)]
    for gi, group in enumerate(groups):
        parts.append(
            f'<text x="{x_of(gi):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle" '
            f'fill="#1b1f24">{escape(group)}</text>'
        )
    for si, (name, vals) in enumerate(series):
        colour = PALETTE[si % len(PALETTE)]
        lookup = dict(vals)
        coords = [(x_of(gi), y_of(lookup[g])) for gi, g in enumerate(groups) if g in lookup]  # type: ignore[operator]
        if len(coords) > 1:
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5"/>'
            )
        for gi, group in enumerate(groups):
            if group in lookup:
                x, y = x_of(gi), y_of(lookup[group])  # type: ignore[operator]
                parts.append(
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
                    f"<title>{escape(group)} · {escape(name)}: "
                    f"{escape(format_value(lookup[group]))}</title></circle>"
                )
    chart_id = _chart_id("line", title, [(n, list(v)) for n, v in series])
    return _figure(
        chart_id,
        title,
        summary,
        "".join(parts),
        _series_table(series, title, unit),
        _legend([n for n, _v in series]),
    )


def scatter_chart(
    points: Sequence[Point],
    *,
    title: str,
    x_label: str,
    y_label: str,
    summary: str | None = None,
    listed: int | None = None,
    more: str | Markup | None = None,
) -> Markup:
    """Labelled points (label, x, y); the x axis is the need index (0–1) or any other scale."""
    xs = [p[1] for p in points]
    ys = [p[2] for p in points]
    summary = summary or (_("%(count)s points.", count=len(points)) if points else _("No data."))
    ticks, y_of = _value_scale(ys)
    x_ticks = _nice_ticks(min([0.0, *xs]), max([1.0, *xs]))
    x_low, x_high = x_ticks[0], x_ticks[-1]
    plot_width = WIDTH - LEFT - RIGHT

    def x_of(value: float) -> float:
        return LEFT + plot_width * (value - x_low) / (x_high - x_low)

    parts = [_axes(ticks, y_of, y_label)]
    for tick in x_ticks:
        parts.append(
            f'<text x="{x_of(tick):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle" '
            f'fill="#535b66">{escape(_tick_label(tick))}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_width / 2:.1f}" y="{HEIGHT - 12}" text-anchor="middle" '
        f'fill="#535b66">{escape(x_label)}</text>'
    )
    compact = listed is not None and len(points) > listed
    if compact:
        drawn = {(round(x_of(x)), round(y_of(y))) for _label, x, y in points}  # type: ignore[operator]
        parts.append(f'<g fill="{PALETTE[0]}" fill-opacity="0.6">')
        parts.extend(f'<circle cx="{cx}" cy="{cy}" r="4"/>' for cx, cy in sorted(drawn))
        parts.append("</g>")
    else:
        for label, x, y in points:
            parts.append(
                f'<circle cx="{x_of(x):.1f}" cy="{y_of(y):.1f}" r="4.5" fill="{PALETTE[0]}" '  # type: ignore[operator]
                f'fill-opacity="0.75" stroke="#fff"><title>{escape(label)}: '
                f"{escape(format_value(x))}, {escape(format_value(y))}</title></circle>"
            )
    in_table = points[:listed] if compact else points
    rows = "".join(
        f'<tr><th scope="row">{escape(label)}</th><td class="num">{escape(format_value(x))}</td>'
        f'<td class="num">{escape(format_value(y))}</td></tr>'
        for label, x, y in in_table
    )
    if compact and more is not None:
        rows += f'<tr><td colspan="3">{escape(more)}</td></tr>'
    table = (
        f'<table><caption>{escape(title)}</caption><thead><tr><th scope="col"></th>'
        f'<th scope="col" class="num">{escape(x_label)}</th>'
        f'<th scope="col" class="num">{escape(y_label)}</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )
    chart_id = _chart_id("scatter", title, list(points))
    return _figure(chart_id, title, summary, "".join(parts), table)
