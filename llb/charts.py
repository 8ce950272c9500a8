"""Small line charts as inline SVG, rendered on the server: no JavaScript, no chart library.

Shared by the service dashboard (sessions_admin) and the teachers' reading trends (reading.admin),
so it lives in the project package, which both may import (docs/decisions/0045).
"""

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

COLORS = ("#417690", "#e08a00", "#ba2121", "#3a8f3a")
WIDTH, HEIGHT = 560, 160
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 10, 42  # margins: axis labels left, legend below


def _nice_ceiling(value: float) -> float:
    """A round axis maximum at or above value (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(f * magnitude for f in (1, 2, 5, 10) if f * magnitude >= value)


def _label(value: float) -> str:
    return f"{value:g}"


def _segments(points: list[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    """Runs of consecutive points; a bucket without data breaks the line."""
    runs: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for point in points:
        if point is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(point)
    if current:
        runs.append(current)
    return runs


def line_chart(
    title: str,
    starts: list[datetime],
    lines: Mapping[str, Sequence[float | None]],
    unit: str = "",
    stamp: str = "%H:%M",
) -> SafeString:
    """An SVG chart of one or more series sharing the time axis `starts`, labelled with the
    strftime format `stamp` (hours for a day's buckets, dates for days)."""
    values = [v for series in lines.values() for v in series if v is not None]
    top = _nice_ceiling(max(values, default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = max(len(starts), 1)

    def x(i: int) -> float:
        return LEFT + plot_w * (i / (count - 1) if count > 1 else 0.5)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="llb-chart" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for fraction in (0, 0.5, 1):
        gy = y(top * fraction)
        parts.append(
            f'<line x1="{LEFT}" y1="{gy:.1f}" x2="{WIDTH - RIGHT}" y2="{gy:.1f}" stroke="#ddd" stroke-width="1"/>'
            f'<text x="{LEFT - 4}" y="{gy + 4:.1f}" font-size="10" text-anchor="end" fill="#666">'
            f"{escape(_label(top * fraction))}{escape(unit)}</text>"
        )
    for i in sorted({0, (count - 1) // 2, count - 1}):
        if i < len(starts):
            label = timezone.localtime(starts[i]).strftime(stamp)
            anchor = "start" if i == 0 else "end" if i == count - 1 else "middle"
            parts.append(
                f'<text x="{x(i):.1f}" y="{TOP + plot_h + 14}" font-size="10" text-anchor="{anchor}" fill="#666">'
                f"{escape(label)}</text>"
            )
    for n, (name, series) in enumerate(lines.items()):
        color = COLORS[n % len(COLORS)]
        points = [None if v is None else (x(i), y(v)) for i, v in enumerate(series)]
        for run in _segments(points):
            if len(run) == 1:
                parts.append(f'<circle cx="{run[0][0]:.1f}" cy="{run[0][1]:.1f}" r="2" fill="{color}"/>')
            else:
                coords = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{coords}"/>')
        lx = LEFT + n * 130
        parts.append(
            f'<rect x="{lx}" y="{HEIGHT - 14}" width="10" height="10" fill="{color}"/>'
            f'<text x="{lx + 14}" y="{HEIGHT - 5}" font-size="11" fill="#333">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every interpolated text above is escaped
