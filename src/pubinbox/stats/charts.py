"""SVG charts of the figures, drawn with drawsvg.

Every mark is filled with ``currentColor`` (a second series with a lower
opacity), so an inline chart takes the page's text colour and follows its
light or dark scheme; every mark has a ``<title>`` (the exact figure, what
a pointer or a screen reader shows); the charts scale to the page width
(``viewBox``, ``width: 100%``).  No script, no external reference.  Text
from mail (names) has control characters and bidi overrides replaced, and
drawsvg escapes the markup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import drawsvg as dw

__all__ = ["bars", "clean", "hbars", "sparkline"]

W = 640  # viewBox width of the full-size charts
FONT = 11
CHAR_W = 7.5  # width of a character of FONT (monospace), with a margin
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff]")
_LIGHT = 0.35  # opacity of the first series (the whole), the second is solid


def clean(s: str, limit: int = 200) -> str:
    """Text from mail, safe to show: controls and bidi overrides become U+FFFD."""
    return _UNSAFE.sub("\ufffd", s)[:limit]


def _svg(d: dw.Drawing, label: str) -> str:
    """The drawing as an inline ``<svg>`` element (no XML declaration)."""
    out: str = d.as_svg()
    out = out[out.index("<svg") :]
    return out.replace("<svg ", f'<svg role="img" aria-label="{_attr(label)}" ', 1).replace("<defs>\n</defs>\n", "")


def _attr(s: str) -> str:
    return clean(s).replace("&", "&amp;").replace('"', "&#34;").replace("<", "&lt;").replace(">", "&gt;")


def _drawing(w: float, h: float) -> dw.Drawing:
    return dw.Drawing(w, h, style="display:block;max-width:100%;height:auto", font_family="monospace", font_size=FONT)


def _nice(top: int) -> int:
    """A round number at least *top* for the y axis."""
    top = max(top, 1)
    step = 1
    while step * 10 <= top:
        step *= 10
    for m in (1, 2, 5, 10):
        if m * step >= top:
            return m * step
    return 10 * step


def bars(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    unit: str = "",
    ticks: Sequence[int] = (),
    tick_labels: Sequence[str] = (),
    height: int = 180,
) -> str:
    """Vertical bars, one group per label: the first series light and
    full width, the next ones solid and narrower in front of it (the
    second is a part of the first, or a second figure: each bar's title
    says which)."""
    left, bottom, top_pad = 48, 18, 16
    n = max(len(labels), 1)
    plot_w = W - left - 4
    plot_h = height - bottom - top_pad
    top = _nice(int(max((v for _n, vals in series for v in vals), default=0) + 0.999))
    d = _drawing(W, height)
    d.append(dw.Text(clean(title), FONT, left, 11, fill="currentColor", font_weight="bold"))
    x_legend: float = W - 4  # right to left; text anchored at its end, so a wide font cannot overflow
    for i, (name, _vals) in reversed(list(enumerate(series))):
        d.append(dw.Text(clean(name), FONT, x_legend, 11, fill="currentColor", text_anchor="end"))
        x_legend -= len(name) * CHAR_W + 4
        sq = dw.Rectangle(x_legend - 9, 3, 9, 9, fill="currentColor", fill_opacity=_LIGHT if i == 0 else 1)
        sq.append_title(clean(name))
        d.append(sq)
        x_legend -= 20
    base = top_pad + plot_h
    for frac in (0.0, 0.5, 1.0):
        y = base - frac * plot_h
        d.append(dw.Line(left, y, W - 4, y, stroke="currentColor", stroke_opacity=0.25, stroke_width=0.5))
        d.append(dw.Text(_num(top * frac), FONT - 1, left - 4, y + 3.5, fill="currentColor", text_anchor="end"))
    step = plot_w / n
    for k, lab in enumerate(labels):
        x = left + k * step
        for i, (name, vals) in enumerate(series):
            v = vals[k] if k < len(vals) else 0
            h = plot_h * v / top
            inset = 0.0 if i == 0 else step * 0.2
            r = dw.Rectangle(
                x + inset + step * 0.05,
                base - h,
                max(step * 0.9 - 2 * inset, 0.5),
                h,
                fill="currentColor",
                fill_opacity=_LIGHT if i == 0 else 1,
            )
            r.append_title(clean(f"{lab}: {_num(v)}{unit} {name}"))
            d.append(r)
    for k, tl in zip(ticks, tick_labels, strict=False):
        x = left + k * step
        if x + len(tl) * CHAR_W > W:
            continue  # no room for the label at the right end
        d.append(dw.Line(x, base, x, base + 4, stroke="currentColor", stroke_width=0.5))
        d.append(dw.Text(clean(tl), FONT - 1, x + 1, base + 14, fill="currentColor"))
    return _svg(d, title)


def hbars(rows: Sequence[tuple[str, int]], *, title: str, what: str) -> str:
    """Horizontal bars, one per (name, count), largest first."""
    row_h, name_w, pad = 15, 230, 18
    height = pad + row_h * max(len(rows), 1) + 4
    d = _drawing(W, height)
    d.append(dw.Text(clean(title), FONT, 0, 11, fill="currentColor", font_weight="bold"))
    top = max((n for _nm, n in rows), default=1) or 1
    for k, (name, n) in enumerate(rows):
        y = pad + k * row_h
        label = clean(name, 28) + ("\u2026" if len(name) > 28 else "")
        d.append(dw.Text(label, FONT, name_w - 6, y + 10, fill="currentColor", text_anchor="end"))
        w = (W - name_w - 50) * n / top
        r = dw.Rectangle(name_w, y + 1, max(w, 0.5), row_h - 4, fill="currentColor", fill_opacity=0.6)
        r.append_title(clean(f"{name}: {n} {what}"))
        d.append(r)
        d.append(dw.Text(str(n), FONT - 1, name_w + w + 4, y + 10, fill="currentColor"))
    return _svg(d, title)


def sparkline(values: Sequence[tuple[str, int]], *, label: str) -> str:
    """A small bar per (week, count): the ``/`` listing's 52 weeks."""
    bw, h = 2, 16
    d = dw.Drawing(bw * max(len(values), 1), h, style="vertical-align:middle")
    top = max((v for _w, v in values), default=0) or 1
    for k, (week, v) in enumerate(values):
        bh = max(h * v / top, 0.5 if v else 0.0)
        r = dw.Rectangle(k * bw, h - bh, bw - 0.4, bh if v else 0.5, fill="currentColor", fill_opacity=1 if v else 0.3)
        r.append_title(f"week of {week}: {v} messages")
        d.append(r)
    return _svg(d, label)


def _num(v: float) -> str:
    return f"{int(v)}" if float(v).is_integer() else f"{v:.1f}"
