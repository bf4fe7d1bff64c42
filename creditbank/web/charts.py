"""Charts as inline SVG, drawn on the server: they need no script, no font download and no other host.

Each chart is an ``<svg role="img">`` with a ``<title>`` and ``<desc>`` (screen readers read them)
and the page puts the same numbers in a table beside it. Colours come from the page's stylesheet
through class names, so the charts follow its light and dark themes and no inline style is needed
(the content security policy allows none).
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape


@dataclass(frozen=True)
class TimePoint:
    day: dt.date
    total: Decimal


@dataclass(frozen=True)
class CategoryBar:
    label: str
    available: Decimal
    converted: Decimal

    @property
    def total(self) -> Decimal:
        return self.available + self.converted


def _nice_ceiling(value: Decimal) -> Decimal:
    """A round axis maximum at or above ``value`` (1, 2, 2.5, 5 times a power of ten)."""
    if value <= 0:
        return Decimal(1)
    magnitude = Decimal(10) ** (len(str(int(value))) - 1)
    for step in (1, 2, Decimal("2.5"), 5, 10):
        candidate = magnitude * step
        if candidate >= value:
            return candidate
    return magnitude * 10  # pragma: no cover - the loop always returns


def _num(value: Decimal | float) -> str:
    return f"{float(value):.1f}"


def _credits(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _text(cls: str, x: float, y: float, content: str, anchor: str = "start") -> str:
    return f'<text class="{cls}" x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}">{escape(content)}</text>'


def _rect(cls: str, x: float, y: float, w: float, h: float, tip: str | None = None) -> str:
    inner = f"<title>{escape(tip)}</title>" if tip else ""
    return (
        f'<rect class="{cls}" x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(h)}">{inner}</rect>'
    )


def _frame(chart_id: str, width: int, height: int, title: str, desc: str, body: Sequence[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-labelledby="{chart_id}-t {chart_id}-d" focusable="false">'
        f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(desc)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every text part is escaped above


def credits_over_time(
    points: Sequence[TimePoint], *, title: str, desc: str, empty: str, chart_id: str = "c-time"
) -> Markup:
    """A step line of the cumulative balance, one step per ledger date."""
    width, height = 640, 260
    left, right, top, bottom = 52, 16, 16, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    body: list[str] = []
    if not points:
        body.append(_text("chart-empty", width / 2, height / 2, empty, "middle"))
        return _frame(chart_id, width, height, title, desc, body)
    first, last = points[0].day, points[-1].day
    span = max((last - first).days, 1)
    peak = _nice_ceiling(max(*(p.total for p in points), Decimal(0)))

    def x(day: dt.date) -> float:
        if first == last:
            return left + plot_w / 2
        return left + plot_w * (day - first).days / span

    def y(value: Decimal) -> float:
        return top + plot_h - float(plot_h * max(value, Decimal(0)) / peak)

    # 1. grid and y labels
    for fraction in (0, Decimal("0.5"), 1):
        value = peak * fraction
        gy = y(value)
        body.append(
            f'<line class="chart-grid" x1="{left}" y1="{_num(gy)}" x2="{left + plot_w}" y2="{_num(gy)}"/>'
        )
        body.append(_text("chart-label", left - 6, gy + 4, _credits(value), "end"))
    # 2. x labels: first and last day
    base = top + plot_h + 20
    body.append(_text("chart-label", left, base, first.isoformat()))
    if last != first:
        body.append(_text("chart-label", left + plot_w, base, last.isoformat(), "end"))
    # 3. the step line, an area under it, and a dot per date
    path = [f"M{_num(x(first))},{_num(y(Decimal(0)))}"]
    for point in points:
        path.append(f"H{_num(x(point.day))}V{_num(y(point.total))}")
    path.append(f"H{_num(left + plot_w if first != last else x(last))}")
    line = "".join(path)
    body.append(f'<path class="chart-area" d="{line}V{_num(y(Decimal(0)))}Z"/>')
    body.append(f'<path class="chart-line" d="{line}"/>')
    for point in points:
        tip = f"{point.day.isoformat()}: {_credits(point.total)}"
        body.append(
            f'<circle class="chart-dot" cx="{_num(x(point.day))}" cy="{_num(y(point.total))}" r="3.5">'
            f"<title>{escape(tip)}</title></circle>"
        )
    return _frame(chart_id, width, height, title, desc, body)


def credits_by_category(
    bars: Sequence[CategoryBar],
    *,
    title: str,
    desc: str,
    empty: str,
    legend: tuple[str, str],
    chart_id: str = "c-cat",
) -> Markup:
    """Horizontal stacked bars: available and converted credits per category."""
    width, row, label_w, top = 640, 30, 180, 30
    height = top + max(len(bars), 1) * row + 10
    plot_w = width - label_w - 60
    body: list[str] = [
        _rect("bar-available", label_w, 6, 12, 12),
        _text("chart-label", label_w + 18, 16, legend[0]),
    ]
    if legend[1]:  # a chart of one value per bar names only the first
        body += [
            _rect("bar-converted", label_w + 110, 6, 12, 12),
            _text("chart-label", label_w + 128, 16, legend[1]),
        ]
    if not bars:
        body.append(_text("chart-empty", width / 2, top + 18, empty, "middle"))
        return _frame(chart_id, width, height, title, desc, body)
    peak = _nice_ceiling(max(b.total for b in bars))
    for i, bar in enumerate(bars):
        y0 = top + i * row
        w_avail = float(plot_w * bar.available / peak)
        w_conv = float(plot_w * bar.converted / peak)
        body.append(_text("chart-label", label_w - 8, y0 + 17, bar.label, "end"))
        tip = f"{bar.label}: {legend[0]} {_credits(bar.available)}"
        body.append(_rect("bar-available", label_w, y0 + 4, w_avail, 18, tip))
        if bar.converted > 0:
            tip = f"{bar.label}: {legend[1]} {_credits(bar.converted)}"
            body.append(_rect("bar-converted", label_w + w_avail, y0 + 4, w_conv, 18, tip))
        body.append(_text("chart-value", label_w + w_avail + w_conv + 6, y0 + 17, _credits(bar.total)))
    return _frame(chart_id, width, height, title, desc, body)


@dataclass(frozen=True)
class PairBar:
    """One group of a grouped bar chart: two values side by side (e.g. posted and recognised)."""

    label: str
    first: Decimal
    second: Decimal


def paired_columns(
    groups: Sequence[PairBar],
    *,
    title: str,
    desc: str,
    empty: str,
    legend: tuple[str, str],
    chart_id: str = "c-pairs",
) -> Markup:
    """Vertical columns, two per group (a month), with the first and last labels under the axis."""
    width, height = 640, 260
    left, right, top, bottom = 52, 16, 30, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    body: list[str] = [
        _rect("bar-available", left, 6, 12, 12),
        _text("chart-label", left + 18, 16, legend[0]),
        _rect("bar-converted", left + 140, 6, 12, 12),
        _text("chart-label", left + 158, 16, legend[1]),
    ]
    if not groups:
        body.append(_text("chart-empty", width / 2, height / 2, empty, "middle"))
        return _frame(chart_id, width, height, title, desc, body)
    peak = _nice_ceiling(max(max(g.first, g.second) for g in groups))
    slot = plot_w / len(groups)
    bar = max(slot * 0.4, 1.0)
    for fraction in (0, Decimal("0.5"), 1):
        value = peak * fraction
        gy = top + plot_h - float(plot_h * fraction)
        body.append(
            f'<line class="chart-grid" x1="{left}" y1="{_num(gy)}" x2="{left + plot_w}" y2="{_num(gy)}"/>'
        )
        body.append(_text("chart-label", left - 6, gy + 4, _credits(value), "end"))
    for i, group in enumerate(groups):
        x0 = left + i * slot + slot * 0.1
        for j, (cls, value, name) in enumerate(
            (("bar-available", group.first, legend[0]), ("bar-converted", group.second, legend[1]))
        ):
            h = float(plot_h * value / peak)
            tip = f"{group.label}: {name} {_credits(value)}"
            body.append(_rect(cls, x0 + j * bar, top + plot_h - h, bar, h, tip))
    base = top + plot_h + 20
    body.append(_text("chart-label", left, base, groups[0].label))
    if len(groups) > 1:
        body.append(_text("chart-label", left + plot_w, base, groups[-1].label, "end"))
    return _frame(chart_id, width, height, title, desc, body)
