"""Line charts as inline SVG: the report's curves without a plotting dependency (no matplotlib, no script, no
network; a browser draws them as they are)."""
from __future__ import annotations

import html
import math

PALETTE = ("#1f5ac8", "#d9480f", "#2b8a3e", "#862e9c", "#c92a2a", "#0b7285", "#5c940d", "#e67700")
Series = list[tuple[float, float]]


def smooth(values: list[float], weight: float) -> list[float]:
    """Exponential moving average with TensorBoard's debiasing: out_i = EMA_i / (1 - weight^(i+1)); weight in
    [0, 1) (0: the values as they are); non-finite values pass through and do not enter the average."""
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    out, ema, seen = [], 0.0, 0
    for v in values:
        if not math.isfinite(v):
            out.append(v)
            continue
        ema, seen = weight * ema + (1 - weight) * v, seen + 1
        out.append(ema / (1 - weight ** seen))
    return out


def wants_log_scale(series: dict[str, Series]) -> bool:
    """A log y axis helps when every value is positive and they span more than a factor of 20."""
    ys = [y for pts in series.values() for _, y in pts if math.isfinite(y)]
    return bool(ys) and min(ys) > 0 and max(ys) / min(ys) > 20


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if not high > low:
        return [low]
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _label(v: float) -> str:
    return f"{v:.4g}"


def line_chart(series: dict[str, Series], title: str, x_label: str = "step", log_y: bool | None = None,
               width: int = 460, height: int = 260) -> str:
    """One SVG chart of named (x, y) series on shared axes (log y when ``log_y``, or by ``wants_log_scale``
    when None); non-finite points are dropped; an empty chart says so."""
    clean = {k: [(x, y) for x, y in pts if math.isfinite(x) and math.isfinite(y)] for k, pts in series.items()}
    clean = {k: pts for k, pts in clean.items() if pts}
    log_y = wants_log_scale(clean) if log_y is None else log_y
    if log_y:
        clean = {k: [(x, y) for x, y in pts if y > 0] for k, pts in clean.items()}
        clean = {k: pts for k, pts in clean.items() if pts}
    esc = html.escape
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">'
            f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{esc(title)}'
            f'{" (log scale)" if log_y and clean else ""}</text>')
    if not clean:
        return head + f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" font-size="12">no finite ' \
                      'values</text></svg>'
    left, right, top, bottom = 58, 12, 26, 40
    xs = [x for pts in clean.values() for x, _ in pts]
    ys = [math.log10(y) if log_y else y for pts in clean.values() for _, y in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad = (y1 - y0) * 0.05
    y0, y1 = y0 - pad, y1 + pad

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def py(y: float) -> float:
        v = math.log10(y) if log_y else y
        return height - bottom - (v - y0) / (y1 - y0) * (height - top - bottom)

    parts = [head, f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
                   'fill="none" stroke="#999"/>']
    yticks = [10 ** e for e in range(math.ceil(y0), math.floor(y1) + 1)] if log_y else nice_ticks(y0, y1)
    if log_y and len(yticks) < 2:  # less than a decade: plain ticks at their logs
        yticks = [t for t in nice_ticks(10 ** y0, 10 ** y1) if t > 0]
    for t in yticks:
        y = py(t)
        if top - 0.5 <= y <= height - bottom + 0.5:
            parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                         f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{_label(t)}</text>')
    for t in nice_ticks(x0, x1):
        x = px(t)
        if left - 0.5 <= x <= width - right + 0.5:
            parts.append(f'<text x="{x:.1f}" y="{height - bottom + 14}" text-anchor="middle" font-size="10">'
                         f'{_label(t)}</text>')
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 6}" text-anchor="middle" font-size="11">'
                 f'{esc(x_label)}</text>')
    for i, (name, pts) in enumerate(clean.items()):
        colour = PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        if len(pts) == 1:
            x, y = pts[0]
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{colour}"/>')
        else:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{coords}"/>')
        if len(clean) > 1:
            parts.append(f'<text x="{left + 6}" y="{top + 12 + 12 * i}" font-size="10" fill="{colour}">'
                         f'{esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
