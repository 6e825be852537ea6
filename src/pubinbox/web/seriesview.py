"""Patch series pages: ``/$INBOX/series/`` (newest first, ``?o=`` pages),
``/$INBOX/series/$ID/`` (every patch with the trailers and replies it got,
missing patches flagged, the other revisions) and ``/$INBOX/series/$ID/mbox``
(the patches in order, trailers from replies applied, ready for ``git am``),
``/$INBOX/series/new.atom`` (the newest series).

A series' ``$ID`` is the Message-ID of its cover letter, else of its first
patch.  The series come from ``pubinbox/series.sqlite3``
(:mod:`pubinbox.series.store`); trailers and reply counts are read from
the thread when a page is asked for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pubinbox.errors import CorruptObject
from pubinbox.inbox import Inbox
from pubinbox.mail.mbox import mboxrd_bytes
from pubinbox.over.reader import OverRow
from pubinbox.series.detect import author_email
from pubinbox.series.store import SeriesReader, SeriesRow
from pubinbox.series.trailers import apply_trailers, body_text, reply_trailers
from pubinbox.store.layout import Layout
from pubinbox.web.atom import mid2uuid
from pubinbox.web.html import esc, fmt_date, href_mid, url_mid
from pubinbox.web.page import error_page, html_end, html_top
from pubinbox.web.params import lenient_int
from pubinbox.web.respond import ATOM, page_response, validator
from pubinbox.web.site import Site
from pubinbox.web.skel import from_names

__all__ = ["Detail", "PatchInfo", "detail", "route", "series_mbox"]

PAGE = 50
#: replies read for trailers, per series
MAX_REPLIES = 2000
MAX_OFFSET = 100_000


@dataclass(slots=True)
class PatchInfo:
    counter: int
    row: OverRow | None  # None: missing
    replies: int = 0
    trailers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class Detail:
    s: SeriesRow
    cover: PatchInfo | None
    patches: list[PatchInfo]
    revisions: list[SeriesRow]


def reader(site: Site, name: str) -> SeriesReader:
    return SeriesReader(Layout(site.inboxes[name].cfg.inboxdir))


def _reviews(box: Inbox, sr: SeriesReader, targets: dict[str, PatchInfo], *, count: bool, budget: list[int]) -> None:
    """Trailers of the replies to the messages *targets* (Message-ID ->
    the patch they count for), added to that patch; each reply counts for
    the nearest of them it refers to.  Patches of other series are not
    replies.  *budget*: how many more replies may be read."""
    tids = sorted({p.row.tid for p in targets.values() if p.row is not None})
    rows = {r.mid: r for p in targets.values() if (r := p.row) is not None}
    for tid in tids:
        for r in box.over.thread(tid, limit=100_000):
            if r.mid in targets:
                continue
            near = next((m for m in reversed(r.references) if m in targets), None)
            if near is None or rows[near].num == r.num or sr.of_num(r.num) is not None:
                continue
            info = targets[near]
            if count:
                info.replies += 1
            if budget[0] <= 0:
                continue
            budget[0] -= 1
            try:
                text = body_text(box.raw(r))
            except CorruptObject:
                continue
            names = from_names(r.from_)
            for t in reply_trailers(text, author_email(r.from_), names):
                if t not in info.trailers:
                    info.trailers.append(t)


def detail(site: Site, name: str, sid: str) -> Detail | None:
    """The series *sid*: its patches, the replies they got and the trailers
    given in them (also to the same patch, by patch-id, in another series:
    a revision or a resend, as ``b4 am`` looks for), its other revisions."""
    sr = reader(site, name)
    try:
        s = sr.get(sid)
        if s is None:
            return None
        members = sr.members(sid)
        revisions = sr.revisions(s)
        box = site.inbox(name)
        rows = {r.num: r for r in box.over.by_nums([n for _c, n in members])}
        infos = {c: PatchInfo(c, rows[n]) for c, n in members if n in rows}
        budget = [MAX_REPLIES]
        _reviews(box, sr, {p.row.mid: p for p in infos.values() if p.row is not None}, count=True, budget=budget)
        for c, pid in sr.patchids(sid).items():
            info = infos.get(c)
            others = sr.same_patch(pid, sid)
            if info is None or not others:
                continue
            for other in box.over.by_nums(others):
                # the other copy's reviews, then only the new ones are added
                tmp = PatchInfo(c, other)
                _reviews(box, sr, {other.mid: tmp}, count=False, budget=budget)
                info.trailers += [t for t in tmp.trailers if t not in info.trailers]
    finally:
        sr.close()
    patches = [infos.get(c) or PatchInfo(c, None) for c in range(1, s.total + 1)]
    return Detail(s, infos.get(0), patches, revisions)


def patch_trailers(d: Detail, p: PatchInfo) -> list[tuple[str, str]]:
    """The trailers to apply to patch *p*: its own replies', then the cover letter's."""
    out = list(p.trailers)
    for t in d.cover.trailers if d.cover is not None else []:
        if t not in out:
            out.append(t)
    return out


def series_mbox(site: Site, name: str, d: Detail) -> bytes:
    """Every patch present, in order, with the trailers of the replies."""
    box = site.inbox(name)
    out = []
    for p in d.patches:
        if p.row is None:
            continue
        try:
            raw = box.raw(p.row)
        except CorruptObject:
            continue
        out.append(mboxrd_bytes(apply_trailers(raw, patch_trailers(d, p))))
    return b"".join(out)


def _version(s: SeriesRow) -> str:
    pfx = " ".join(p.upper() if len(p) <= 6 else p for p in s.prefixes)
    return (f"{pfx} " if pfx else "") + f"v{s.version}"


def list_page(site: Site, request: Request, name: str) -> Response:
    o = lenient_int(request.query_params.get("o"), "o", 0, 0, MAX_OFFSET)
    v = validator(site, name, request, "series")
    if (nm := v.not_modified(request)) is not None:
        return nm
    sr = reader(site, name)
    try:
        total = sr.count()
        rows = sr.recent(o, PAGE)
    finally:
        sr.close()
    info = site.inboxes[name]
    out = [html_top(info, title=f"patch series - {name}", upfx="../"), "<pre>"]
    if not rows:
        out.append("No patch series here.\n")
    for s in rows:
        state = f"{s.present}/{s.total}" + (f", {s.missing} missing" if s.missing else "")
        out.append(
            f'{fmt_date(s.ts)} <a href="{href_mid(s.id)}/"><b>[{esc(_version(s))}] {esc(s.title)}</b></a>\n'
            f"                 by {esc(from_names(s.author))} ({state}{', cover' if s.cover else ''})\n"
        )
    out.append("</pre><hr><pre>")
    nav = []
    if o + PAGE < total:
        nav.append(f'<a href="?o={o + PAGE}" rel=next>next (older)</a>')
    if o > 0:
        nav.append(f'<a href="?o={max(o - PAGE, 0)}" rel=prev>prev (newer)</a>')
    out.append(" | ".join(nav) + f"  {total} series</pre>")
    out.append(html_end(site, info, "../"))
    return page_response(request, "".join(out), validator=v)


def detail_page(site: Site, request: Request, name: str, d: Detail) -> Response:
    s = d.s
    info = site.inboxes[name]
    up = "../../"
    out = [html_top(info, title=f"[{_version(s)}] {s.title}", upfx=up), "<pre>"]
    out.append(f"<b>[{esc(_version(s))}] {esc(s.title)}</b>\nby {esc(from_names(s.author))} @ {fmt_date(s.ds)} UTC\n")
    state = f"{s.present} of {s.total} patches" + (f", <b>{s.missing} missing</b>" if s.missing else "")
    out.append(f"{state}  [<a href=mbox>mbox with trailers</a>]")
    out.append(f'  [<a href="{up}{href_mid(s.id)}/T/#u">thread</a>]\n\n')
    if s.change_id or s.base_commit:
        out.append(f"change-id: {esc(s.change_id or '-')}  base-commit: {esc(s.base_commit or '-')}\n\n")
    if d.cover is not None and d.cover.row is not None:
        out.append(_line(d.cover, up, "cover letter"))
    for p in d.patches:
        out.append(_line(p, up, f"{p.counter}/{s.total}"))
    if d.cover is not None and d.cover.trailers:
        out.append("\ntrailers given to the whole series (applied to every patch):\n")
        out += [f"    {esc(n)}: {esc(v)}\n" for n, v in d.cover.trailers]
    if len(d.revisions) > 1:
        out.append("\nrevisions:\n")
        for r in d.revisions:
            cur = " (this one)" if r.id == s.id else ""
            out.append(
                f'  <a href="../{href_mid(r.id)}/">[{esc(_version(r))}] {esc(r.title)}</a>'
                f" @ {fmt_date(r.ts)} UTC, {r.present}/{r.total}{cur}\n"
            )
    out.append("</pre><hr>")
    out.append(html_end(site, info, up))
    return page_response(request, "".join(out))


def _line(p: PatchInfo, up: str, label: str) -> str:
    if p.row is None:
        return f"  [{label}] <b>missing</b>\n"
    replies = f"{p.replies} repl{'y' if p.replies == 1 else 'ies'}" if p.replies else "no replies"
    out = [f'  [{label}] <a href="{up}{href_mid(p.row.mid)}/">{esc(p.row.subject)}</a> ({replies})\n']
    out += [f"      {esc(n)}: {esc(v)}\n" for n, v in p.trailers]
    return "".join(out)


FEED = 25


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(min(max(ts, 0), 253402300799)))


def series_atom(site: Site, request: Request, name: str) -> Response:
    """``/$INBOX/series/new.atom``: the newest series, one entry each."""
    v = validator(site, name, request, "series")
    if (nm := v.not_modified(request)) is not None:
        return nm
    sr = reader(site, name)
    try:
        rows = sr.recent(0, FEED)
    finally:
        sr.close()
    info = site.inboxes[name]
    base = info.base_url(str(request.base_url).rstrip("/"))
    updated = max((s.ts for s in rows), default=0)
    out = [
        '<?xml version="1.0" encoding="us-ascii"?>\n<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>{esc(info.description)}: patch series</title>",
        f'<link rel="alternate" type="text/html" href="{esc(base)}series/"/>',
        f'<link rel="self" href="{esc(base)}series/new.atom"/>',
        f"<id>{esc(base)}series/</id><updated>{_iso(updated)}</updated>",
    ]
    for s in rows:
        url = f"{base}series/{url_mid(s.id)}/"
        email = author_email(s.author)
        state = f"{s.present} of {s.total} patches" + (f", {s.missing} missing" if s.missing else "")
        out.append(
            f"<entry><author><name>{esc(from_names(s.author))}</name><email>{esc(email)}</email></author>"
            f"<title>[{esc(_version(s))}] {esc(s.title)}</title><updated>{_iso(s.ts)}</updated>"
            f'<link href="{esc(url)}"/><id>{mid2uuid(s.id)}</id>'
            f'<content type="text">{esc(state)}</content></entry>'
        )
    out.append("</feed>")
    return page_response(request, "".join(out), media_type=ATOM, validator=v)


def route(site: Site, request: Request, name: str, rest: list[str]) -> Response:
    """``/$INBOX/series/...`` (*rest*: the segments after ``series``)."""
    if not rest:
        return RedirectResponse(f"/{url_mid(name)}/series/", status_code=301)
    if rest == [""]:
        return list_page(site, request, name)
    sid = rest[0]
    if rest == ["new.atom"]:
        return series_atom(site, request, name)
    if len(rest) == 1:
        return RedirectResponse(f"{url_mid(sid)}/", status_code=301)
    if rest[1:] not in ([""], ["mbox"]):
        return error_page(site, request, name)
    v = validator(site, name, request, "series")
    if (nm := v.not_modified(request)) is not None:
        return nm
    d = detail(site, name, sid)
    if d is None:
        return error_page(site, request, name, "404 Not Found: no patch series with this id")
    if rest[1] == "mbox":
        fn = (url_mid(sid)[:60] or "series").replace("%", "_")
        return page_response(
            request,
            series_mbox(site, name, d),
            media_type="application/mbox",
            validator=v,
            headers={"Content-Disposition": f"inline; filename={fn}.mbox"},
        )
    return detail_page(site, request, name, d)


def of_message(site: Site, request: Request, name: str, rows: list[OverRow], what: str) -> Response:
    """``/$INBOX/$MID/series.mbox``: the mbox of the series (that revision)
    the message belongs to (a patch or the cover letter);
    ``/$INBOX/$MID/series/``: a redirect to that series' page."""
    sr = reader(site, name)
    try:
        sid = next((s for r in rows if (s := sr.of_num(r.num)) is not None), None)
    finally:
        sr.close()
    if sid is None:
        return error_page(site, request, name, "404 Not Found: this message is not part of a patch series")
    if what == "series":
        return RedirectResponse(f"/{url_mid(name)}/series/{url_mid(sid)}/", status_code=302)
    return route(site, request, name, [sid, "mbox"])
