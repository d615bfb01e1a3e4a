"""Every chart of the staff pages, drawn on the server as SVG: no JavaScript library,
no CDN, readable when printed, and testable as markup.  One module (issue 15: it was
two, supervisor/charts.py and staffing/chart.py, each with its own scales):

- intervals_chart: offered calls per interval (bars, left axis) with the service level
  over them (a line on the right axis, 0-100 %, the target dashed) -- reports, monthly;
- agents_chart: one bar per agent with a value axis -- reports, monthly (quality);
- day_chart: the staffing day: forecast calls (bars), required and rostered seats (step
  lines, right axis) and beneath the roster's service level with the target.

Every chart has real axes: round ticks (1, 2 or 5 times a power of ten) with grid
lines, labelled in both languages, and the bars scaled to the top tick.

Hand-written because the alternative (a vendored JS chart library) would be a
few hundred kilobytes for two simple pictures; these are pure functions of numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 52, 48, 22, 56
BAR, LINE, TARGET, GRID, MUTED = "#9fc5b5", "#0b6e4f", "#b3261e", "#e3e7eb", "#5b6775"


def ticks(highest: float, most: int = 5) -> list[float]:
    """Round ticks from 0 to at least `highest`: 0, step, 2 step... with step 1, 2 or 5
    times a power of ten, at most `most` steps (0..10 -> 0, 2, 4, 6, 8, 10).  Every axis
    counts calls, seats or answers: the step is never below 1."""
    highest = max(float(highest), 1.0)
    rough = max(highest / most, 1.0)
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    count = math.ceil(highest / step - 1e-9)
    return [int(step * k) for k in range(count + 1)]


def _number(value: float) -> str:
    return f"{value:g}"


def _grid(values: Sequence[float], y_of, left: float, right: float, label=_number, *, at_right: bool = False) -> str:
    """A grid line across the plot for each tick, and its label outside the plot (left or right)."""
    parts = []
    for value in values:
        y = y_of(value)
        parts.append(f'<line class="grid" x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        x, anchor = (right + 4, "start") if at_right else (left - 4, "end")
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{y + 3.5:.1f}" font-size="10" text-anchor="{anchor}" fill="{MUTED}">'
            f"{escape(label(value))}</text>"
        )
    return "".join(parts)


def _axis_title(text: str, x: float, y: float, anchor: str = "start") -> str:
    return f'<text class="axis-title" x="{x:.1f}" y="{y:.1f}" font-size="10" text-anchor="{anchor}" fill="{MUTED}">{escape(text)}</text>'


def intervals_chart(
    labels: Sequence[str],
    offered: Sequence[int],
    service_level: Sequence[float | None],
    target: float,
    title: str,
) -> Markup:
    """Bars of offered calls per interval (left scale) and the service level line (right scale, %)."""
    count = max(len(labels), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / count
    scale = ticks(max(offered, default=0))
    top = scale[-1]
    parts = [_frame(title)]
    parts.append(_grid(scale, lambda v: TOP + plot_h * (1 - v / top), LEFT, WIDTH - RIGHT))
    parts.append(
        _grid([0, 0.5, 1], lambda v: TOP + plot_h * (1 - v), LEFT, WIDTH - RIGHT, "{:.0%}".format, at_right=True)
    )
    parts.append(_axis_title("接入量 calls", LEFT - 4, TOP - 8, "end"))
    parts.append(_axis_title("服务水平 SL", WIDTH - RIGHT + 4, TOP - 8))
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" stroke="{MUTED}"/>'
        f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" stroke="{MUTED}"/>'
    )
    for i, (label, value) in enumerate(zip(labels, offered, strict=True)):
        h = plot_h * value / top
        x = LEFT + i * step
        parts.append(
            f'<rect class="offered" x="{x + step * 0.15:.1f}" y="{TOP + plot_h - h:.1f}" width="{step * 0.7:.1f}" '
            f'height="{h:.1f}" fill="{BAR}"><title>{escape(label)}: {value}</title></rect>'
        )
        if count <= 24 or i % max(count // 12, 1) == 0:
            parts.append(
                f'<text class="tick" x="{x + step / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="10" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    points = [
        f"{LEFT + (i + 0.5) * step:.1f},{TOP + plot_h * (1 - value):.1f}"
        for i, value in enumerate(service_level)
        if value is not None
    ]
    if points:
        parts.append(
            f'<polyline class="service-level" points="{" ".join(points)}" fill="none" stroke="{LINE}" stroke-width="2"/>'
        )
        for point in points:
            x, y = point.split(",")
            parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{LINE}"/>')
    y_target = TOP + plot_h * (1 - target)
    parts.append(
        f'<line class="target" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y_target:.1f}" y2="{y_target:.1f}" '
        f'stroke="{TARGET}" stroke-dasharray="4 3"/>'
    )
    parts.append(
        f'<text x="{WIDTH - RIGHT + 4}" y="{y_target + 4:.1f}" font-size="10" fill="{TARGET}">{target:.0%}</text>'
    )
    parts.append(_legend([(BAR, "接入量 offered"), (LINE, "服务水平 service level"), (TARGET, "目标 target")]))
    return Markup("".join(parts) + "</svg>")


def agents_chart(
    names: Sequence[str], answered: Sequence[int], title: str, occupancy: Sequence[float | None] | None = None
) -> Markup:
    """One horizontal bar per agent: calls answered, and each agent's occupancy beside it."""
    row = 22
    height = TOP + BOTTOM + row * max(len(names), 1)
    label_w = 140
    plot_w = WIDTH - label_w - RIGHT - 120  # room for the value and occupancy beside the longest bar
    scale = ticks(max(answered, default=0))
    top = scale[-1]
    parts = [_frame(title, height)]
    axis_y = TOP + row * max(len(names), 1)
    for value in scale:  # the value axis under the bars, a grid line up from each tick
        x = label_w + plot_w * value / top
        parts.append(
            f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{axis_y}" stroke="{GRID}"/>'
            f'<text class="tick" x="{x:.1f}" y="{axis_y + 14}" font-size="10" text-anchor="middle" fill="{MUTED}">'
            f"{_number(value)}</text>"
        )
    parts.append(
        f'<line class="axis" x1="{label_w}" x2="{label_w + plot_w}" y1="{axis_y}" y2="{axis_y}" stroke="{MUTED}"/>'
    )
    parts.append(_axis_title("接听量 calls answered", label_w + plot_w, axis_y + 28, "end"))
    shares = occupancy if occupancy is not None else [None] * len(names)
    for i, (name, value, share) in enumerate(zip(names, answered, shares, strict=True)):
        y = TOP + i * row
        w = plot_w * value / top
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" font-size="12" text-anchor="end">{escape(name)}</text>')
        parts.append(
            f'<rect class="answered" x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{LINE}">'
            f"<title>{escape(name)}: {value}</title></rect>"
        )
        note = "" if occupancy is None else f" · 占用率 occupancy {'—' if share is None else f'{share:.1%}'}"
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" font-size="12">{value}{escape(note)}</text>')
    return Markup("".join(parts) + "</svg>")


def _frame(title: str, height: int = HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#fff"/>'
    )


def _legend(items: list[tuple[str, str]]) -> str:
    parts, x = [], LEFT
    for colour, text in items:
        parts.append(f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{HEIGHT - 5}" font-size="11">{escape(text)}</text>')
        x += 14 + 8 * len(text)
    return "".join(parts)


# ---- the staffing day (staffing/views.py) ---------------------------------------------------------------------

DAY_WIDTH, TOP_HEIGHT, SL_HEIGHT, DAY_LEFT, DAY_RIGHT, GAP = 960, 240, 90, 56, 56, 28


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
    plot = DAY_WIDTH - DAY_LEFT - DAY_RIGHT
    bar = plot / n
    call_ticks = ticks(max([p.calls for p in points] + [1.0]))
    seat_ticks = ticks(max([p.seats for p in points] + [p.rostered or 0 for p in points] + [1]))
    max_calls, max_seats = call_ticks[-1], seat_ticks[-1]
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
        f'<svg xmlns="http://www.w3.org/2000/svg" class="staffing-chart" viewBox="0 0 {DAY_WIDTH} {height}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{DAY_LEFT}" y="{top}" width="{plot}" height="{TOP_HEIGHT}" fill="#fff" stroke="#d5dbe1"/>',
    ]
    for k, p in enumerate(points):
        x = DAY_LEFT + k * bar
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
    xs = [DAY_LEFT + k * bar for k in range(len(points))]
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
    # Axes: calls on the left (with the grid), seats on the right, each with round ticks.
    out.insert(3, _grid(call_ticks, y_calls, DAY_LEFT, DAY_LEFT + plot))
    for value in seat_ticks:
        out.append(
            f'<text class="tick" x="{DAY_LEFT + plot + 4}" y="{y_seats(value) + 3.5:.1f}" font-size="10" '
            f'fill="{MUTED}">{_number(value)}</text>'
        )
    out.append(_axis_title("来电 calls", DAY_LEFT - 4, top + 8, "end"))
    out.append(_axis_title("坐席 seats", DAY_LEFT + plot + 4, top + 8))
    # The roster's service level, 0-100%, with the target.
    out.append(f'<rect x="{DAY_LEFT}" y="{sl_top}" width="{plot}" height="{SL_HEIGHT}" fill="#fff" stroke="#d5dbe1"/>')
    out.append(
        f'<line class="target" x1="{DAY_LEFT}" x2="{DAY_LEFT + plot}" y1="{y_sl(target):.1f}" y2="{y_sl(target):.1f}" '
        'stroke="#b3261e" stroke-dasharray="4 3"/>'
    )
    out.append(_grid([0, 1], y_sl, DAY_LEFT, DAY_LEFT + plot, "{:.0%}".format))
    out.append(
        f'<text x="{DAY_LEFT + plot + 4}" y="{y_sl(target) + 4:.1f}" font-size="10" fill="#b3261e">{target:.0%}</text>'
    )
    out.append(_axis_title("服务水平 SL", DAY_LEFT - 4, sl_top - 4, "end"))
    for k, p in enumerate(points):
        if p.roster_service_level is None:
            continue
        x = DAY_LEFT + k * bar + bar / 2
        colour = "#0b6e4f" if p.roster_service_level >= target else "#b3261e"
        out.append(
            f'<circle class="sl" cx="{x:.1f}" cy="{y_sl(p.roster_service_level):.1f}" r="3" fill="{colour}">'
            f"<title>{escape(p.label)}: {p.roster_service_level:.1%}</title></circle>"
        )
    out.append("</svg>")
    return Markup("".join(out))
