"""The day's chart as server-side SVG (no JavaScript library, nothing from a CDN):
bars of forecast calls per interval, required seats as a step line, rostered seats
as a second step line, and beneath, the service level the roster gives with the
target drawn across.  Pure: values in, an SVG string out (escaped by markupsafe)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, TOP_HEIGHT, SL_HEIGHT, LEFT, RIGHT, GAP = 960, 240, 90, 48, 48, 28


@dataclass(frozen=True)
class Point:
    label: str  # "08:00"
    calls: float
    seats: int
    rostered: int | None  # seats the roster keeps filled
    roster_service_level: float | None
    met: bool


def _step(xs: Sequence[float], ys: Sequence[float], width: float) -> str:
    parts = []
    for x, y in zip(xs, ys, strict=True):
        parts.append(f"{'M' if not parts else 'L'}{x:.1f},{y:.1f} L{x + width:.1f},{y:.1f}")
    return " ".join(parts)


def day_chart(points: Sequence[Point], *, target: float, title: str) -> Markup:
    n = max(1, len(points))
    plot = WIDTH - LEFT - RIGHT
    bar = plot / n
    max_calls = max([p.calls for p in points] + [1.0])
    max_seats = max([p.seats for p in points] + [p.rostered or 0 for p in points] + [1])
    height = TOP_HEIGHT + GAP + SL_HEIGHT + 30
    top = 10

    def y_calls(v: float) -> float:
        return top + TOP_HEIGHT - v / max_calls * TOP_HEIGHT

    def y_seats(v: float) -> float:
        return top + TOP_HEIGHT - v / max_seats * TOP_HEIGHT

    sl_top = top + TOP_HEIGHT + GAP

    def y_sl(v: float) -> float:
        return sl_top + SL_HEIGHT - v * SL_HEIGHT

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="staffing-chart" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{LEFT}" y="{top}" width="{plot}" height="{TOP_HEIGHT}" fill="#fff" stroke="#d5dbe1"/>',
    ]
    for k, p in enumerate(points):
        x = LEFT + k * bar
        h = top + TOP_HEIGHT - y_calls(p.calls)
        fill = "#9cc9b6" if p.met else "#e8a29c"
        out.append(
            f'<rect class="calls" x="{x + 1:.1f}" y="{y_calls(p.calls):.1f}" width="{max(bar - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{fill}"><title>{escape(p.label)}: {p.calls:.1f} calls, {p.seats} seats'
            f"{'' if p.met else ' (cannot meet)'}</title></rect>"
        )
        if k % max(1, n // 12) == 0:
            out.append(
                f'<text x="{x:.1f}" y="{sl_top + SL_HEIGHT + 16}" font-size="11" fill="#5b6775">{escape(p.label)}</text>'
            )
    xs = [LEFT + k * bar for k in range(len(points))]
    out.append(
        f'<path class="required" d="{_step(xs, [y_seats(p.seats) for p in points], bar)}" '
        'fill="none" stroke="#1d2733" stroke-width="2"/>'
    )
    if any(p.rostered is not None for p in points):
        ys = [y_seats(p.rostered or 0) for p in points]
        out.append(
            f'<path class="rostered" d="{_step(xs, ys, bar)}" fill="none" stroke="#0b6e4f" '
            'stroke-width="2" stroke-dasharray="6 3"/>'
        )
    # Axes: calls on the left, seats on the right.
    out.append(f'<text x="4" y="{top + 10}" font-size="11" fill="#5b6775">{max_calls:.0f} calls</text>')
    out.append(f'<text x="{WIDTH - RIGHT + 4}" y="{top + 10}" font-size="11" fill="#5b6775">{max_seats} seats</text>')
    # The roster's service level, 0-100%, with the target.
    out.append(f'<rect x="{LEFT}" y="{sl_top}" width="{plot}" height="{SL_HEIGHT}" fill="#fff" stroke="#d5dbe1"/>')
    out.append(
        f'<line class="target" x1="{LEFT}" x2="{LEFT + plot}" y1="{y_sl(target):.1f}" y2="{y_sl(target):.1f}" '
        'stroke="#b3261e" stroke-dasharray="4 3"/>'
    )
    out.append(f'<text x="4" y="{y_sl(target) + 4:.1f}" font-size="11" fill="#b3261e">{target:.0%}</text>')
    for k, p in enumerate(points):
        if p.roster_service_level is None:
            continue
        x = LEFT + k * bar + bar / 2
        colour = "#0b6e4f" if p.roster_service_level >= target else "#b3261e"
        out.append(
            f'<circle class="sl" cx="{x:.1f}" cy="{y_sl(p.roster_service_level):.1f}" r="3" fill="{colour}">'
            f"<title>{escape(p.label)}: {p.roster_service_level:.1%}</title></circle>"
        )
    out.append("</svg>")
    return Markup("".join(out))
