"""Charts drawn on the server as SVG: no JavaScript library, no CDN, readable when
printed, and testable as markup.  Two kinds are all the reports need: offered calls
per interval (bars) with the service level over them (a line on a 0-100 % scale,
the target dashed), and one bar per agent.

Hand-written because the alternative (a vendored JS chart library) would be a
few hundred kilobytes for two simple pictures; these are pure functions of numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 44, 16, 40
BAR, LINE, TARGET = "#9fc5b5", "#0b6e4f", "#b3261e"


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
    top = max(max(offered, default=0), 1)
    parts = [_frame(title)]
    for i, (label, value) in enumerate(zip(labels, offered, strict=True)):
        h = plot_h * value / top
        x = LEFT + i * step
        parts.append(
            f'<rect class="offered" x="{x + step * 0.15:.1f}" y="{TOP + plot_h - h:.1f}" width="{step * 0.7:.1f}" '
            f'height="{h:.1f}" fill="{BAR}"><title>{escape(label)}: {value}</title></rect>'
        )
        if count <= 24 or i % max(count // 12, 1) == 0:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="10" text-anchor="middle">'
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
    parts.append(
        f'<text x="4" y="{TOP + 10}" font-size="10">{top}</text><text x="4" y="{TOP + plot_h}" font-size="10">0</text>'
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
    plot_w = WIDTH - label_w - RIGHT
    top = max(max(answered, default=0), 1)
    parts = [_frame(title, height)]
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
        parts.append(f'<rect x="{x}" y="{HEIGHT - 16}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{HEIGHT - 7}" font-size="11">{escape(text)}</text>')
        x += 14 + 8 * len(text)
    return "".join(parts)
