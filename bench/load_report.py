"""Tables, target checks and the plot of bench/load.py (pure apart from the PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TTFT_AT_200 = {"p50": 2.0, "p99": 10.0}
AT_1000 = {"ttft_p99": 50.0, "inter_token_p99": 25.0}
TOKENS_PER_S = 30_000
OF_DIRECT = 0.5
STREAM_RATE = 30.0  # tokens/s per stream the latency targets are stated at


def _sub(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 2)


def compare(direct: dict[str, Any], through: dict[str, Any]) -> dict[str, Any]:
    """What the coordinator adds at one point: latency differences and throughput ratios."""
    d, t = direct["load"], through["load"]
    ratio = t["tokens_per_s"] / d["tokens_per_s"] if d["tokens_per_s"] else None
    return {
        "added_ttft_ms": {q: _sub(t["ttft_ms"][q], d["ttft_ms"][q]) for q in d["ttft_ms"]},
        "added_inter_token_ms": {
            q: _sub(t["inter_token_ms"][q], d["inter_token_ms"][q]) for q in d["inter_token_ms"]
        },
        "tokens_per_s_vs_direct": None if ratio is None else round(ratio, 3),
    }


def check_targets(points: list[dict[str, Any]], ceiling: dict[str, Any] | None) -> list[dict]:
    """Issue 8's targets against what was measured (only those this run could measure).

    The latency targets are read off sweep points at 30 tokens/s per stream, the rate the
    issue names; the throughput targets off the ceiling scenario.
    """
    out: list[dict[str, Any]] = []

    def add(name: str, value: float | None, bound: float, lower_is_better: bool = True) -> None:
        ok = value is not None and (value <= bound if lower_is_better else value >= bound)
        sign = "≤" if lower_is_better else "≥"
        out.append({"target": name, "bound": f"{sign} {bound:g}", "measured": value, "met": ok})

    by_c = {p["concurrency"]: p for p in points if p["timing"]["tokens_per_s"] == STREAM_RATE}
    if 200 in by_c:
        added = by_c[200]["added"]["added_ttft_ms"]
        add("added TTFT p50 @200 (ms)", added["p50"], TTFT_AT_200["p50"])
        add("added TTFT p99 @200 (ms)", added["p99"], TTFT_AT_200["p99"])
    if 1000 in by_c:
        point = by_c[1000]
        add("errors @1000", point["through"]["load"]["errors"], 0)
        added_ttft = point["added"]["added_ttft_ms"]["p99"]
        add("added TTFT p99 @1000 (ms)", added_ttft, AT_1000["ttft_p99"])
        add(
            "added inter-token p99 @1000 (ms)",
            point["added"]["added_inter_token_ms"]["p99"],
            AT_1000["inter_token_p99"],
        )
    if ceiling is not None:
        through = ceiling["through"]["load"]["tokens_per_s"]
        add("relayed tokens/s (ceiling)", through, TOKENS_PER_S, lower_is_better=False)
        add("tokens/s vs direct", ceiling["added"]["tokens_per_s_vs_direct"], OF_DIRECT, False)
    return out


def _fmt(value: Any, width: int) -> str:
    if value is None:
        return f"{'-':>{width}}"
    if isinstance(value, float):
        return f"{value:>{width},.1f}" if abs(value) >= 100 else f"{value:>{width}.2f}"
    return f"{value:>{width},}" if isinstance(value, int) else f"{value!s:>{width}}"


def point_rows(label: str, point: dict[str, Any]) -> list[str]:
    """Two rows (direct, through) and one row of differences for one measured point."""
    rows = []
    for path in ("direct", "through"):
        r = point[path]
        load, cpu = r["load"], r["cpu_cores"]
        rows.append(
            f"{label:>10} {path:8}"
            + _fmt(load["requests_per_s"], 9)
            + _fmt(load["tokens_per_s"], 10)
            + "".join(_fmt(load["ttft_ms"][q], 8) for q in ("p50", "p90", "p99"))
            + _fmt(load["inter_token_ms"]["p99"], 8)
            + _fmt(load["errors"], 7)
            + _fmt(cpu.get("server"), 7)
            + _fmt(cpu.get("providers"), 7)
            + _fmt(cpu.get("client"), 7)
            + _fmt(r.get("coordinator_cpu_s_per_1000_requests"), 9)
            + _fmt(r.get("coordinator_cpu_us_per_token"), 8)
            + _fmt(r.get("coordinator_peak_rss_mb"), 8)
        )
    added = point["added"]
    rows.append(
        f"{'':>10} {'added':8}{'':9}"
        + _fmt(added["tokens_per_s_vs_direct"], 10)
        + "".join(_fmt(added["added_ttft_ms"][q], 8) for q in ("p50", "p90", "p99"))
        + _fmt(added["added_inter_token_ms"]["p99"], 8)
    )
    return rows


HEADER = (
    f"{'streams':>10} {'path':8}{'req/s':>9}{'tok/s':>10}{'ttft50':>8}{'ttft90':>8}"
    f"{'ttft99':>8}{'itl99':>8}{'errors':>7}{'srvCPU':>7}{'provCPU':>7}{'cliCPU':>7}"
    f"{'cpu/1k':>9}{'µs/tok':>8}{'RSS MB':>8}"
)
NOTE = (
    "times in ms; tok/s of the 'added' row is through ÷ direct; *CPU columns are cores "
    "(server = coordinator or sim servers); cpu/1k = coordinator CPU s per 1,000 requests,\n"
    "µs/tok = coordinator CPU µs per relayed token (request costs included)"
)


def table(points: list[dict[str, Any]], ceiling: dict[str, Any] | None) -> str:
    lines = [HEADER]
    for point in points:
        lines += point_rows(str(point["concurrency"]), point)
    if ceiling is not None:
        lines += point_rows(f"ceil {ceiling['concurrency']}", ceiling)
    lines.append(NOTE)
    return "\n".join(lines)


def targets_table(targets: list[dict[str, Any]]) -> str:
    lines = [f"{'target':36}{'bound':>10}{'measured':>12}  met"]
    for t in targets:
        lines.append(
            f"{t['target']:36}{t['bound']:>10}{_fmt(t['measured'], 12)}  "
            + ("yes" if t["met"] else "NO")
        )
    return "\n".join(lines)


def plot(points: list[dict[str, Any]], path: Path) -> Path | None:
    """Added TTFT (p50, p90, p99) and inter-token p99 vs concurrency as a PNG.

    The y axis is symmetric-log (linear below 1 ms) so both the few-millisecond region and
    the seconds of an overloaded coordinator are readable. None when matplotlib is missing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    xs = [p["concurrency"] for p in points]
    fig, ax = plt.subplots(figsize=(7.0, 4.4), dpi=100)
    for q, style in (("p50", "o-"), ("p90", "s--"), ("p99", "^-")):
        ys = [p["added"]["added_ttft_ms"][q] for p in points]
        ax.plot(xs, [float("nan") if y is None else y for y in ys], style, label=f"TTFT {q}")
    itl = [p["added"]["added_inter_token_ms"]["p99"] for p in points]
    ax.plot(xs, [float("nan") if y is None else y for y in itl], "x:", label="inter-token p99")
    for bound, text in ((2, "2 ms"), (10, "10 ms"), (50, "50 ms")):
        ax.axhline(bound, color="grey", linewidth=0.6, linestyle="--")
        ax.annotate(text, (xs[0], bound), fontsize=7, color="grey", va="bottom")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1.0)
    plotted = [y for line in ax.get_lines() for y in line.get_ydata() if y == y]
    if plotted and min(plotted) >= 0:
        ax.set_ylim(bottom=0)
    ax.set_xlabel("concurrent streams")
    ax.set_ylabel("added by the coordinator (ms)")
    timing = points[0]["timing"]
    ax.set_title(
        "Through the coordinator minus direct "
        f"({timing['tokens_per_s']:g} tok/s per stream, {timing['output_tokens']} tokens)",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
