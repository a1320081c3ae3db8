"""Inline SVG line charts for the dashboard: pure code, no browser script, no CDN.

`series_by_day(rows, days)` folds `(day, name, value)` rows into a `Chart`'s series (one
per name, missing days as zero, at most `MAX_SERIES` lines: the smallest are summed into
"other"), and `render_chart(chart)` returns a `<figure>`: an SVG with both axes, y ticks at
round numbers, thinned x labels, one polyline and one `<circle>` per point (each with a
`<title>` tooltip), a legend, `role="img"` with `<title>`/`<desc>` for screen readers, and
a `<table>` of the same numbers as the fallback. Every name is escaped (model and node
names come from providers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

MAX_SERIES = 6
OTHER = "other"
WIDTH, HEIGHT = 560, 260
LEFT, RIGHT, TOP, BOTTOM = 96, 36, 16, 40  # plot margins inside the viewBox (room for labels)
MAX_X_LABELS = 5
# Okabe-Ito: distinguishable with the common colour-vision deficiencies, dark enough on white.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#7a6400", "#56B4E9", "#000000")


@dataclass(frozen=True)
class Series:
    """One line: a name and one value per day of the chart."""

    name: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class Chart:
    """What `render_chart` draws: days on x, one or more series on y."""

    chart_id: str  # unique in the page: ids of the title and description derive from it
    title: str
    description: str
    days: tuple[date, ...]
    series: tuple[Series, ...]
    format_value: Callable[[float], str] = lambda v: f"{v:,.0f}"


def series_by_day(
    rows: Iterable[tuple[date, str, float]], days: Sequence[date]
) -> tuple[Series, ...]:
    """One `Series` per name over `days` (rows outside them are ignored), largest first.

    Beyond `MAX_SERIES` names, all but the largest `MAX_SERIES - 1` become one "other".
    """
    index = {day: i for i, day in enumerate(days)}
    totals: dict[str, list[float]] = {}
    for day, name, value in rows:
        if day in index:
            totals.setdefault(name, [0.0] * len(days))[index[day]] += value
    ordered = sorted(totals.items(), key=lambda item: (-sum(item[1]), item[0]))
    if len(ordered) > MAX_SERIES:
        keep, rest = ordered[: MAX_SERIES - 1], ordered[MAX_SERIES - 1 :]
        other = [sum(values[i] for _, values in rest) for i in range(len(days))]
        ordered = [*keep, (OTHER, other)]
    return tuple(Series(name, tuple(values)) for name, values in ordered)


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to at least `top` (steps of 1, 2 or 5 times a power of 10),
    at most `count + 1` intervals."""
    if top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw = top / (count + 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _label_days(days: Sequence[date]) -> list[int]:
    """Indexes of the days that get an x label: at most MAX_X_LABELS, always the last."""
    if not days:
        return []
    stride = max(1, math.ceil(len(days) / MAX_X_LABELS))
    picked = list(range(len(days) - 1, -1, -stride))
    return sorted(picked)


def _short(day: date) -> str:
    return day.strftime("%b %d").replace(" 0", " ")


def render_chart(chart: Chart) -> Markup:
    """The chart's `<figure>` (SVG, legend and table fallback) as safe HTML."""
    title_id, desc_id = f"{chart.chart_id}-title", f"{chart.chart_id}-desc"
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    peak = max((v for s in chart.series for v in s.values), default=0.0)
    ticks = nice_ticks(peak)
    top = ticks[-1]
    n = len(chart.days)

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * (value / top if top else 0.0)

    parts: list[str] = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{title_id} {desc_id}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{title_id}">{escape(chart.title)}</title>',
        f'<desc id="{desc_id}">{escape(chart.description)}</desc>',
    ]
    for tick in ticks:
        ty = y(tick)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">'
            f"{escape(chart.format_value(tick))}</text>"
        )
    base = TOP + plot_h
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}"/>'
        f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{base}"/>'
    )
    for i in _label_days(chart.days):
        parts.append(
            f'<text class="tick" x="{x(i):.1f}" y="{base + 24}" text-anchor="middle">'
            f"{escape(_short(chart.days[i]))}</text>"
        )
    if not chart.series:
        parts.append(
            f'<text class="empty" x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h / 2:.1f}" '
            'text-anchor="middle">No data in this period</text>'
        )
    for number, series in enumerate(chart.series):
        color = PALETTE[number % len(PALETTE)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(series.values))
        parts.append(
            f'<g class="series" data-series="{escape(series.name)}">'
            f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"/>'
        )
        for i, value in enumerate(series.values):
            tip = f"{series.name}, {_short(chart.days[i])}: {chart.format_value(value)}"
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="3" fill="{color}">'
                f"<title>{escape(tip)}</title></circle>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    legend = "".join(
        f'<li><svg class="swatch" viewBox="0 0 10 10" aria-hidden="true">'
        f'<rect width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/></svg>'
        f"{escape(s.name)}</li>"
        for i, s in enumerate(chart.series)
    )
    return Markup(
        f'<figure class="chart-figure" id="{chart.chart_id}">'
        f"<figcaption>{escape(chart.title)}</figcaption>"
        + "".join(parts)
        + (f'<ul class="legend">{legend}</ul>' if legend else "")
        + _table(chart)
        + "</figure>"
    )


def _table(chart: Chart) -> str:
    """The same numbers as a table (the fallback for whoever cannot see the lines)."""
    head = "".join(f'<th scope="col">{escape(s.name)}</th>' for s in chart.series)
    rows = "".join(
        f'<tr><th scope="row">{day.isoformat()}</th>'
        + "".join(
            f'<td class="num">{escape(chart.format_value(s.values[i]))}</td>' for s in chart.series
        )
        + "</tr>"
        for i, day in enumerate(chart.days)
    )
    return (
        f'<details class="chart-data"><summary>{escape(chart.title)}: data table</summary>'
        f'<table><thead><tr><th scope="col">Day</th>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></details>"
    )


def last_days(today: date, count: int) -> tuple[date, ...]:
    """The `count` days ending with `today`, oldest first."""
    return tuple(date.fromordinal(today.toordinal() - i) for i in range(count - 1, -1, -1))


def format_micro_usd(value: float) -> str:
    """Micro-dollars as dollars: `$1.23`; below a cent as many digits as it takes
    (`$0.0012`, `$0.00002`)."""
    dollars = value / 1_000_000
    if dollars and abs(dollars) < 0.01:
        return "$" + f"{dollars:.6f}".rstrip("0")
    return f"${dollars:,.2f}"


def format_tokens(value: float) -> str:
    """Token counts short: 950, 12.5k, 3.2M."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}".removesuffix(".0") + suffix
    return f"{value:,.0f}"
