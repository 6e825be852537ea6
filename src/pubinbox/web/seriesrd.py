"""``/$INBOX/series/$ID/range-diff/$OTHER/``: a range-diff between two
revisions of a series (:mod:`pubinbox.series.rangediff`), the older one
first whichever way it is asked; cached per content generation; run in a
thread (app.py), never on the event loop."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from pubinbox.errors import CorruptObject
from pubinbox.series.rangediff import Entry, Patch, normalise, range_diff
from pubinbox.series.subject import parse_subject
from pubinbox.series.trailers import body_text
from pubinbox.web import seriesview
from pubinbox.web.html import esc, href_mid
from pubinbox.web.page import error_page, html_end, html_top
from pubinbox.web.respond import page_response, validator
from pubinbox.web.site import Site

__all__ = ["page"]


def _patches(site: Site, name: str, d: seriesview.Detail) -> tuple[list[Patch], list[int]]:
    box = site.inbox(name)
    out: list[Patch] = []
    missing: list[int] = []
    for p in d.patches:
        if p.row is None:
            missing.append(p.counter)
            continue
        try:
            text = body_text(box.raw(p.row))
        except CorruptObject:
            missing.append(p.counter)
            continue
        ps = parse_subject(p.row.subject)
        title = ps.title if ps is not None else p.row.subject
        out.append(Patch(p.counter, title, normalise(title, text)))
    return out, missing


def _label(p: Patch | None) -> str:
    return f"{p.number:>3}:" if p is not None else "  -:"


def _entry(e: Entry) -> str:
    sign = {"=": "=", "!": "!", "<": "&lt;", ">": "&gt;"}[e.kind]
    title = esc((e.new or e.old).title if (e.new or e.old) is not None else "")  # type: ignore[union-attr]
    out = [f"{_label(e.old)} {sign} {_label(e.new)} {title}\n"]
    for ln in e.diff:
        cls = "add" if ln.startswith("+") else "del" if ln.startswith("-") else "hunk" if ln.startswith("@@") else ""
        text = esc("    " + ln)
        out.append(f"<span class={cls}>{text}</span>\n" if cls else text + "\n")
    if e.kind == "!" and not e.diff:
        out.append("    (changed; not compared: out of time)\n")
    return "".join(out)


def _render(site: Site, name: str, old: seriesview.Detail, new: seriesview.Detail) -> str:
    a, miss_a = _patches(site, name, old)
    b, miss_b = _patches(site, name, new)
    entries, short = range_diff(a, b)
    up = "../../../../"
    info = site.inboxes[name]
    va, vb = seriesview.version_label(old.s), seriesview.version_label(new.s)
    out = [html_top(info, title=f"range-diff [{va}] .. [{vb}] {new.s.title}", upfx=up), "<pre>"]
    out.append(
        f'range-diff <a href="{up}series/{href_mid(old.s.id)}/">[{esc(va)}] {esc(old.s.title)}</a>\n'
        f'        .. <a href="{up}series/{href_mid(new.s.id)}/">[{esc(vb)}] {esc(new.s.title)}</a>\n\n'
    )
    for label, miss in ((va, miss_a), (vb, miss_b)):
        if miss:
            nums = ", ".join(str(n) for n in miss)
            out.append(f"<b>[{esc(label)}] is incomplete: patch {nums} not in the archive; compared without</b>\n")
    out.append(
        "computed from the mail (no tree to apply the patches to): patches paired when equal, else by\n"
        "similarity; each patch is its commit message and diff, index lines and hunk line numbers left out\n\n"
    )
    out += [_entry(e) for e in entries]
    if not entries:
        out.append("(no patches to compare)\n")
    if short:
        out.append(
            "\n<b>cut short: the comparison ran out of time; some changed patches are listed without diffs</b>\n"
        )
    out.append("</pre><hr>")
    out.append(html_end(site, info, up))
    return "".join(out)


def page(site: Site, request: Request, name: str, sid: str, other: str) -> Response:
    v = validator(site, name, request, "series")
    if (nm := v.not_modified(request)) is not None:
        return nm
    tag, _ = site.generation(name)
    a, b = sorted((sid, other))
    key = ("range-diff", name, a, b, request.headers.get("host", ""), tag)
    html = site.cache.get(key)
    if not isinstance(html, str):
        d1 = seriesview.detail(site, name, sid)
        d2 = seriesview.detail(site, name, other) if other != sid else None
        if d1 is None or d2 is None:
            return error_page(site, request, name, "404 Not Found: no such pair of patch series")
        old, new = (d1, d2) if (d1.s.version, d1.s.ts) <= (d2.s.version, d2.s.ts) else (d2, d1)
        html = _render(site, name, old, new)
        site.cache.put(key, html)
    return page_response(request, html, validator=v)
