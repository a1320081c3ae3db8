"""The dashboard's inline SVG charts, as pure code: geometry, accessibility, escaping."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from datetime import date

from switchyard.http.svg_chart import (
    MAX_SERIES,
    OTHER,
    Chart,
    Series,
    format_micro_usd,
    format_tokens,
    last_days,
    nice_ticks,
    render_chart,
    series_by_day,
)

SVG = "{http://www.w3.org/2000/svg}"
DAYS = last_days(date(2026, 11, 30), 7)


def _parse(chart: Chart) -> ET.Element:
    return ET.fromstring(str(render_chart(chart)))


def _chart(series: tuple[Series, ...], **kw: object) -> Chart:
    fields = {"chart_id": "usage", "title": "Tokens by day", "description": "Tokens per model."}
    return Chart(days=DAYS, series=series, **{**fields, **kw})  # type: ignore[arg-type]


def test_last_days_ends_today_oldest_first() -> None:
    assert DAYS[0] == date(2026, 11, 24) and DAYS[-1] == date(2026, 11, 30)
    assert len(DAYS) == 7


def test_series_by_day_fills_missing_days_and_sums_duplicates() -> None:
    rows = [(DAYS[0], "a", 5.0), (DAYS[0], "a", 2.0), (DAYS[3], "b", 9.0)]
    rows.append((date(2020, 1, 1), "a", 99.0))  # outside the chart's days
    series = series_by_day(rows, DAYS)
    assert [s.name for s in series] == ["b", "a"]  # largest total first
    assert series[1].values == (7.0, 0, 0, 0, 0, 0, 0)
    assert series[0].values[3] == 9.0 and sum(series[0].values) == 9.0


def test_series_beyond_the_limit_fold_into_other() -> None:
    rows = [(DAYS[-1], f"m{i}", float(i + 1)) for i in range(MAX_SERIES + 3)]
    series = series_by_day(rows, DAYS)
    assert len(series) == MAX_SERIES
    assert series[-1].name == OTHER
    kept = sum(s.values[-1] for s in series[:-1])
    assert kept + series[-1].values[-1] == sum(range(1, MAX_SERIES + 4))


def test_nice_ticks_are_round_and_cover_the_peak() -> None:
    assert nice_ticks(0) == [0.0, 1.0]
    assert nice_ticks(97) == [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    ticks = nice_ticks(1234)
    assert ticks[0] == 0 and ticks[-1] >= 1234
    step = ticks[1] - ticks[0]
    assert all(abs((b - a) - step) < 1e-9 for a, b in itertools.pairwise(ticks))
    assert step in (200.0, 500.0)


def test_chart_has_accessible_name_axes_points_and_table() -> None:
    series = (Series("llama", (1, 2, 3, 4, 5, 6, 7)), Series("qwen", (0, 0, 0, 10, 0, 0, 0)))
    figure = _parse(_chart(series))
    svg = figure.find(f"{SVG}svg")
    assert svg is not None and svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "usage-title usage-desc"
    assert svg.findtext(f"{SVG}title") == "Tokens by day"
    assert svg.findtext(f"{SVG}desc") == "Tokens per model."
    assert len(svg.findall(f".//{SVG}line[@class='axis']")) == 2
    groups = svg.findall(f"{SVG}g[@class='series']")
    assert [g.get("data-series") for g in groups] == ["llama", "qwen"]
    circles = svg.findall(f".//{SVG}circle")
    assert len(circles) == 14
    tips = [c.findtext(f"{SVG}title") for c in circles]
    assert "qwen, Nov 27: 10" in tips
    # The highest point touches the top tick, zero sits on the x axis.
    ys = {c.findtext(f"{SVG}title"): float(c.get("cy", "nan")) for c in circles}
    assert ys["qwen, Nov 27: 10"] < ys["llama, Nov 30: 7"] < ys["qwen, Nov 24: 0"]
    tick_labels = [t.text for t in svg.findall(f"{SVG}text[@class='tick']")]
    assert "Nov 30" in tick_labels and "10" in tick_labels
    rows = figure.findall(".//table/tbody/tr")
    assert len(rows) == 7
    assert [td.text for td in rows[3].findall("td")] == ["4", "10"]
    assert ["".join(li.itertext()) for li in figure.findall(".//ul[@class='legend']/li")] == [
        "llama",
        "qwen",
    ]


def test_many_days_get_thinned_x_labels_including_today() -> None:
    days = last_days(date(2026, 11, 30), 30)
    chart = Chart("c", "t", "d", days, (Series("x", tuple(range(30))),))
    labels = [t.text for t in _parse(chart).iter(f"{SVG}text")][-7:]
    assert labels[-1] == "Nov 30"
    assert len([t for t in _parse(chart).iter(f"{SVG}text") if "Nov" in (t.text or "")]) <= 5


def test_names_from_providers_are_escaped() -> None:
    evil = '<script>alert(1)</script>"&'
    html = str(render_chart(_chart((Series(evil, (1,) * 7),), title="<b>t</b>")))
    assert "<script>" not in html and "<b>" not in html
    figure = ET.fromstring(html)  # still well-formed
    assert figure.find(f".//{SVG}g").get("data-series") == evil  # type: ignore[union-attr]


def test_an_empty_chart_says_so_and_still_has_axes() -> None:
    figure = _parse(_chart(()))
    texts = [t.text for t in figure.iter(f"{SVG}text")]
    assert "No data in this period" in texts
    assert not list(figure.iter(f"{SVG}circle"))
    assert len(figure.findall(f".//{SVG}line[@class='axis']")) == 2


def test_a_single_day_chart_centres_its_point() -> None:
    chart = Chart("one", "t", "d", (date(2026, 1, 1),), (Series("x", (5.0,)),))
    (circle,) = _parse(chart).iter(f"{SVG}circle")
    assert float(circle.get("cx", "0")) > 96


def test_value_formats() -> None:
    assert format_micro_usd(1_230_000) == "$1.23"
    assert format_micro_usd(1_200) == "$0.0012"
    assert format_micro_usd(0) == "$0.00"
    assert format_tokens(950) == "950"
    assert format_tokens(12_500) == "12.5k"
    assert format_tokens(3_000_000) == "3M"
