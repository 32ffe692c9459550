"""The load summary's chart: per phase, p50, p95 and p99 latency as bars on a logarithmic scale,
with the phase's latency target drawn across its bars, as a self-contained SVG (no plotting
library: a few rectangles and lines, so the report needs nothing beyond the standard library)."""

import math
from xml.sax.saxutils import escape

from local.load.profile import Phase
from local.load.report import Figures

WIDTH, HEIGHT = 720, 360
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 40, 76
BARS = (("p50", "#7aa6d8"), ("p95", "#2f6fb5"), ("p99", "#163d6b"))
TARGET_COLOUR = "#b3261e"
FLOOR_MS = 1.0  # the axis starts at 1 ms: a log scale has no zero


def _ticks(top_ms: float) -> list[float]:
    """1, 10, 100 ... up to the first power of ten at or above the slowest figure."""
    return [10.0**k for k in range(math.ceil(math.log10(max(top_ms, 10.0))) + 1)]


def _duration(ms: float) -> str:
    return f"{ms:g} ms" if ms < 1000 else f"{ms / 1000:g} s"


def latency_svg(rows: list[tuple[Phase, Figures]], title: str) -> str:
    """An SVG image: one group of three bars per phase; a dashed line where a phase has a p95 or p99 target."""
    ticks = _ticks(max([f.p99 for _, f in rows] + [p.max_p99_ms or p.max_p95_ms or 0 for p, _ in rows] + [10.0]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = math.log10(ticks[-1])

    def y(ms: float) -> float:
        return TOP + plot_h * (1 - math.log10(max(ms, FLOOR_MS)) / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    for tick in ticks:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e3e7ee"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{_duration(tick)}</text>')
    slot = plot_w / max(len(rows), 1)
    bar_w = slot * 0.6 / len(BARS)
    for index, (phase, result) in enumerate(rows):
        left = LEFT + index * slot + slot * 0.2
        for offset, (name, colour) in enumerate(BARS):
            value = getattr(result, name)
            x, top_y = left + offset * bar_w, y(value)
            parts.append(
                f'<rect class="bar" data-phase="{escape(phase.name)}" data-figure="{name}" x="{x:.1f}" y="{top_y:.1f}" '
                f'width="{bar_w - 2:.1f}" height="{TOP + plot_h - top_y:.1f}" fill="{colour}">'
                f"<title>{escape(phase.name)} {name}: {value:.0f} ms</title></rect>"
            )
        for name, target in (("p95", phase.max_p95_ms), ("p99", phase.max_p99_ms)):
            if target is not None:
                parts.append(
                    f'<line class="target" data-phase="{escape(phase.name)}" x1="{left - 4:.1f}" '
                    f'x2="{left + slot * 0.6 + 4:.1f}" y1="{y(target):.1f}" y2="{y(target):.1f}" stroke="{TARGET_COLOUR}" '
                    f'stroke-width="2" stroke-dasharray="6 3"><title>{escape(phase.name)} target: {name} ≤ {target:.0f} ms'
                    "</title></line>"
                )
                parts.append(
                    f'<text x="{left + slot * 0.3:.1f}" y="{TOP + plot_h + 32}" text-anchor="middle" '
                    f'fill="{TARGET_COLOUR}" font-size="11">{name} ≤ {target:.0f} ms</text>'
                )
        parts.append(
            f'<text x="{left + slot * 0.3:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{escape(phase.name)}</text>'
        )
    legend_y = HEIGHT - 14
    for index, (name, colour) in enumerate(BARS):
        x = LEFT + index * 70
        parts.append(f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="{legend_y}">{name}</text>')
    x = LEFT + len(BARS) * 70
    parts.append(
        f'<line x1="{x}" x2="{x + 20}" y1="{legend_y - 4}" y2="{legend_y - 4}" stroke="{TARGET_COLOUR}" '
        'stroke-width="2" stroke-dasharray="6 3"/>'
    )
    parts.append(f'<text x="{x + 26}" y="{legend_y}">target</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
