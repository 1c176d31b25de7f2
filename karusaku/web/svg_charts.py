"""Small server-rendered SVG charts: vertical bars (stacked when there are several series),
horizontal bars and a line. No script, no style attribute (the CSP forbids both): colours come
from classes in app.css, and every piece of text is escaped. Each chart is an
<svg role="img"> with a <title>; the page shows the same numbers in a table.
"""
import math

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 330
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 44, 78
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
TICKS = 4


def _fmt(value, unit=""):
    """A number as shown on a chart: 1,234 for counts, 8.3% for percentages."""
    if unit == "%":
        return f"{value:.1f}%"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _tick_step(top, integer=True):
    """A round step (1, 2, 2.5 or 5 × 10^k) so that TICKS steps reach past `top`."""
    if top <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(top / TICKS))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * magnitude
        if integer and step != int(step):
            continue
        if step * TICKS >= top:
            return step
    return 10 * magnitude


def _text(x, y, content, cls="label", anchor="middle", size=12, rotate=None):
    turn = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate is not None else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" class="{escape(cls)}" text-anchor="{anchor}" '
            f'font-size="{size}"{turn}>{escape(content)}</text>')


def _svg(title, height, parts, desc=""):
    description = f"<desc>{escape(desc)}</desc>" if desc else ""
    return Markup(
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>{description}'
        + "".join(parts) + "</svg>")


def _y_axis(top, unit, y_label):
    """Grid lines with their values, the axis title, and the scale: value -> y."""
    step = _tick_step(top, integer=unit != "%")
    scale_top = step * TICKS
    parts = []
    for i in range(TICKS + 1):
        y = TOP + PLOT_H - PLOT_H * i / TICKS
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(_text(LEFT - 6, y + 4, _fmt(step * i, unit), "tick", "end", 11))
    parts.append(_text(14, TOP + PLOT_H / 2, y_label, "axis-title", "middle", 12, rotate=-90))
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{TOP + PLOT_H}" '
                 f'y2="{TOP + PLOT_H}"/>')
    return parts, lambda value: TOP + PLOT_H - PLOT_H * value / scale_top


def _x_labels(labels, x_label):
    """Category labels under the slots (slanted and thinned out when the slots are narrow),
    and the chart's height that leaves room for them."""
    slot = PLOT_W / max(len(labels), 1)
    level = slot >= 50
    every = 1 if level else math.ceil(17 / slot)
    parts = []
    for i, label in enumerate(labels):
        if i % every:
            continue
        x, y = LEFT + slot * (i + .5), TOP + PLOT_H + 16
        if level:
            parts.append(_text(x, y, label, "tick", "middle", 11))
        else:
            parts.append(_text(x + 3, y - 4, label, "tick", "end", 11, rotate=-45))
    height = TOP + PLOT_H + 50 if level else HEIGHT
    parts.append(_text(LEFT + PLOT_W / 2, height - 6, x_label, "axis-title", "middle", 12))
    return parts, height


def _value_label(x, y, value, unit, slot):
    """A value just above a bar or point: level when there is room, upright when not."""
    if slot >= 34:
        return _text(x, y - 5, _fmt(value, unit), "value", "middle", 12)
    return _text(x + 3.5, y - 4, _fmt(value, unit), "value", "start", 10, rotate=-90)


def _legend(series):
    parts, x = [], LEFT
    for name, _, cls in series:
        parts.append(f'<rect class="swatch {escape(cls)}" x="{x}" y="10" width="14" height="14"/>')
        parts.append(_text(x + 20, 22, name, "legend", "start", 12))
        x += 34 + 13 * len(name)
    return parts


def bar_chart(title, labels, series, y_label, x_label, unit="", desc=""):
    """One bar per label; with several series [(name, values, css class)] the bars stack,
    with a legend. Each bar's total stands above it."""
    totals = [sum(values[i] for _, values, _ in series) for i in range(len(labels))]
    parts, y_of = _y_axis(max(totals, default=0) * 1.08, unit, y_label)
    slot = PLOT_W / max(len(labels), 1)
    width = max(slot * .66, 1)
    for i, label in enumerate(labels):
        x, base = LEFT + slot * i + (slot - width) / 2, TOP + PLOT_H
        for name, values, cls in series:
            height = TOP + PLOT_H - y_of(values[i])
            hint = f"{label} {name}: {_fmt(values[i], unit)}" if len(series) > 1 else \
                f"{label}: {_fmt(values[i], unit)}"
            parts.append(f'<rect class="bar {escape(cls)}" x="{x:.1f}" y="{base - height:.1f}" '
                         f'width="{width:.1f}" height="{height:.1f}"><title>{escape(hint)}</title></rect>')
            if len(series) > 1 and height >= 16 and width >= 22 and values[i] > 0:
                parts.append(_text(x + width / 2, base - height / 2 + 4, _fmt(values[i], unit),
                                   "value-in", "middle", 11))
            base -= height
        parts.append(_value_label(x + width / 2, y_of(totals[i]), totals[i], unit, slot))
    if len(series) > 1:
        parts += _legend(series)
    labelled, height = _x_labels(labels, x_label)
    return _svg(title, height, parts + labelled, desc)


def line_chart(title, labels, values, y_label, x_label, unit="", cls="line-1", desc="",
               empty="データがありません"):
    """A line through the values (None leaves a gap), a point at each, and its value when
    the points are far enough apart."""
    known = [v for v in values if v is not None]
    top = max(known, default=0) * 1.15
    parts, y_of = _y_axis(min(top, 100) if unit == "%" else top, unit, y_label)
    slot = PLOT_W / max(len(labels), 1)
    points, runs = [], [[]]
    for i, value in enumerate(values):
        if value is None:
            runs.append([])
            continue
        x, y = LEFT + slot * (i + .5), y_of(value)
        runs[-1].append(f"{x:.1f},{y:.1f}")
        points.append(f'<circle class="point {escape(cls)}" cx="{x:.1f}" cy="{y:.1f}" r="4">'
                      f'<title>{escape(labels[i])}: {escape(_fmt(value, unit))}</title></circle>')
        if slot >= 30:  # narrower, the values would cover the line: the table has them
            points.append(_value_label(x, y - 3, value, unit, slot))
    for run in runs:
        if len(run) > 1:
            parts.append(f'<polyline class="line {escape(cls)}" fill="none" points="{" ".join(run)}"/>')
    if not known:
        parts.append(_text(LEFT + PLOT_W / 2, TOP + PLOT_H / 2, empty, "empty-note", "middle", 14))
    labelled, height = _x_labels(labels, x_label)
    return _svg(title, height, parts + points + labelled, desc)


def hbar_chart(title, labels, values, x_label, unit="", cls="bar-1", desc="",
               empty="データがありません", name_chars=9):
    """A horizontal bar per label (long labels shortened; the table has them in full)."""
    row, label_w, top = 34, 150, 12
    height = top + row * max(len(labels), 1) + 52
    plot_w = WIDTH - label_w - RIGHT - 40
    step = _tick_step(max(values, default=0) * 1.05)
    scale_top = step * TICKS
    parts = []
    for i in range(TICKS + 1):
        x = label_w + plot_w * i / TICKS
        parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{height - 40}"/>')
        parts.append(_text(x, height - 26, _fmt(step * i, unit), "tick", "middle", 11))
    parts.append(_text(label_w + plot_w / 2, height - 6, x_label, "axis-title", "middle", 12))
    for i, (label, value) in enumerate(zip(labels, values)):
        y = top + row * i
        short = label if len(label) <= name_chars else label[:name_chars - 1] + "…"
        parts.append(_text(label_w - 8, y + row / 2 + 4, short, "tick", "end", 12))
        width = plot_w * value / scale_top
        parts.append(f'<rect class="bar {escape(cls)}" x="{label_w}" y="{y + 6}" '
                     f'width="{width:.1f}" height="{row - 12}"><title>{escape(label)}: '
                     f'{escape(_fmt(value, unit))}</title></rect>')
        parts.append(_text(label_w + width + 6, y + row / 2 + 4, _fmt(value, unit), "value",
                           "start", 12))
    if not labels:
        parts.append(_text(label_w + plot_w / 2, top + row / 2 + 4, empty, "empty-note",
                           "middle", 14))
    parts.append(f'<line class="axis" x1="{label_w}" x2="{label_w}" y1="{top}" y2="{height - 40}"/>')
    return _svg(title, height, parts, desc)
