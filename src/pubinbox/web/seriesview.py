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

import email.utils
import re
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pubinbox.errors import BadRequest, CorruptObject, IndexDamaged
from pubinbox.inbox import Inbox
from pubinbox.over.reader import OverRow
from pubinbox.series import query as series_query
from pubinbox.series.am import DIFF_RE, Trailer, am_mbox, followup_trailers, make_trailer, subject_info
from pubinbox.series.detect import author_email
from pubinbox.series.query import STATES, SeriesFilter, parse_filter
from pubinbox.series.reader import SeriesReader, SeriesRow
from pubinbox.series.trailers import body_text, reply_trailers
from pubinbox.store.layout import Layout
from pubinbox.web.html import esc, fmt_date, href_mid, mid2uuid, url_mid
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
#: earlier revisions looked into to fill a partial reroll
REROLL_DEPTH = 8


@dataclass(slots=True)
class PatchInfo:
    counter: int
    row: OverRow | None  # None: missing
    #: taken from an earlier revision to fill a partial reroll (b4 am's
    #: reading): the version it is written as in the mbox
    reroll: int | None = None
    replies: int = 0
    trailers: list[tuple[str, str]] = field(default_factory=list)
    #: the trailers as ``b4 am`` adds them (its rules and spelling)
    am: list[Trailer] = field(default_factory=list)


@dataclass(slots=True)
class Detail:
    s: SeriesRow
    cover: PatchInfo | None
    patches: list[PatchInfo]
    revisions: list[SeriesRow]


_REPLY = re.compile(r"^(Re|Aw|Fwd):|^\w{2,3}:\s*\[", re.IGNORECASE)


def _from_name(from_: str) -> str:
    """The sender's name as b4 reads it (the address when there is none)."""
    pairs = email.utils.getaddresses([from_])
    if not pairs:
        return ""
    name, addr = pairs[0]
    return name if name.strip() else addr


def reader(site: Site, name: str) -> SeriesReader:
    return SeriesReader(Layout(site.inboxes[name].cfg.inboxdir))


#: a thread's rows and the Message-IDs of its series members (patches and
#: cover letters), read once per page however many patches look into it
Threads = dict[int, tuple[list[OverRow], set[str]]]


def _thread(box: Inbox, sr: SeriesReader, tid: int, threads: Threads) -> tuple[list[OverRow], set[str]]:
    got = threads.get(tid)
    if got is None:
        msgs = box.over.thread(tid, limit=100_000)
        got = threads[tid] = (msgs, {r.mid for r in msgs if sr.of_num(r.num) is not None})
    return got


_IRT = re.compile(rb"^In-Reply-To:[^\n]*?<([^>\n]+)>", re.IGNORECASE | re.MULTILINE)


def in_reply_to(raw: bytes) -> str | None:
    """The first Message-ID of the first ``In-Reply-To`` (on its first line), as b4 reads it."""
    end = raw.find(b"\n\n")
    m = _IRT.search(raw, 0, end if end >= 0 else len(raw))
    return m.group(1).decode("utf-8", "replace").strip() if m else None


def _reviews(
    box: Inbox,
    sr: SeriesReader,
    targets: dict[str, PatchInfo],
    *,
    count: bool,
    budget: list[int],
    threads: Threads,
) -> None:
    """Trailers of the replies to the messages *targets* (Message-ID ->
    the patch they count for), added to that patch; each reply counts for
    the nearest of them it refers to.  Patches of other series are not
    replies.  *budget*: how many more replies may be read; *threads*: the
    threads already read for this page."""
    tids = sorted({p.row.tid for p in targets.values() if p.row is not None})
    rows = {r.mid: r for p in targets.values() if (r := p.row) is not None}
    for tid in tids:
        # patches (and cover letters) of any series: a reply below one of
        # them counts for that one, not for a patch further up (b4's rule)
        msgs, member = _thread(box, sr, tid, threads)
        for r in msgs:
            if r.mid in targets or r.mid in member:
                continue
            near = None
            for m in reversed(r.references):
                if m in targets or m in member:
                    near = m if m in targets else None
                    break
            if near is not None and rows[near].num == r.num:
                continue
            # References out of order (a patch listed before its cover
            # letter): b4 follows In-Reply-To, read below
            if near is None and not any(m in targets for m in r.references):
                continue
            if count and near is not None:
                targets[near].replies += 1
            if budget[0] <= 0:
                continue
            budget[0] -= 1
            try:
                raw = box.raw(r)
            except CorruptObject:
                continue
            irt = in_reply_to(raw)
            if irt is not None and irt != near and irt in targets and rows[irt].num != r.num:
                near = irt
            elif irt is not None and irt != near and irt in member:
                continue  # a reply to another patch (of this series or another)
            if near is None:
                continue
            info = targets[near]
            text = body_text(raw)
            names = from_names(r.from_)
            for t in reply_trailers(text, author_email(r.from_), names):
                if t not in info.trailers:
                    info.trailers.append(t)
            is_reply = bool(_REPLY.search(r.subject)) or (bool(r.references) and not DIFF_RE.search(text))
            for tr in followup_trailers(text, _from_name(r.from_), author_email(r.from_), is_reply=is_reply):
                if not any(tr.same(x) for x in info.am):
                    info.am.append(tr)


def _cover_reviews(
    box: Inbox,
    sr: SeriesReader,
    patch: OverRow,
    into: PatchInfo,
    budget: list[int],
    threads: Threads,
    covers: dict[str, PatchInfo],
) -> None:
    """The trailers given to the cover letter that *patch* replies to (its
    series' cover, the last of its References) added to *into*.am;
    *covers*: the cover letters read so far for this page."""
    sid = sr.of_num(patch.num)
    s = sr.get(sid) if sid is not None else None
    if s is None or s.cover is None or not patch.references:
        return
    got = covers.get(s.id)
    if got is None:
        rows = box.over.by_nums([s.cover])
        if not rows:
            return
        got = covers[s.id] = PatchInfo(0, rows[0])
        _reviews(box, sr, {rows[0].mid: got}, count=False, budget=budget, threads=threads)
    if got.row is None or patch.references[-1] != got.row.mid:
        return
    into.am += [t for t in got.am if not any(t.same(x) for x in into.am)]


def detail(site: Site, name: str, sid: str, depth: int = 0) -> Detail | None:
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
        threads: Threads = {}
        own_tids = {r.tid for r in rows.values()}
        covers: dict[str, PatchInfo] = {}
        targets = {p.row.mid: p for p in infos.values() if p.row is not None}
        _reviews(box, sr, targets, count=True, budget=budget, threads=threads)
        for c, pid in sr.patchids(sid).items():
            info = infos.get(c)
            others = sr.same_patch(pid, sid)
            if info is None or not others:
                continue
            for other in box.over.by_nums(others):
                # the other copy's reviews, then only the new ones are added
                tmp = PatchInfo(c, other)
                _reviews(box, sr, {other.mid: tmp}, count=False, budget=budget, threads=threads)
                if other.tid not in own_tids:
                    # b4's code-review search: in another thread, what the
                    # cover letter right above that copy was given counts too
                    _cover_reviews(box, sr, other, tmp, budget, threads, covers)
                info.trailers += [t for t in tmp.trailers if t not in info.trailers]
                info.am += [t for t in tmp.am if not any(t.same(x) for x in info.am)]
        if s.missing and s.version > 1 and depth < REROLL_DEPTH:
            _partial_reroll(site, name, box, sr, s, infos, depth)
    finally:
        sr.close()
    patches = [infos.get(c) or PatchInfo(c, None) for c in range(1, s.total + 1)]
    return Detail(s, infos.get(0), patches, revisions)


def _partial_reroll(
    site: Site, name: str, box: Inbox, sr: SeriesReader, s: SeriesRow, infos: dict[int, PatchInfo], depth: int
) -> None:
    """A revision that re-sends only some patches, each in reply to the
    same-numbered patch of the revision before (b4's "partial reroll"):
    the missing ones are taken from that revision, as ``b4 am`` does."""
    present = [p.row for c, p in infos.items() if c and p.row is not None]
    if not present:
        return
    thread = {r.mid: r for r in box.over.thread(present[0].tid, limit=100_000)}
    for row in present:
        want = subject_info(row.subject).counters
        parent = thread.get(row.references[-1]) if row.references else None
        seen = 0
        while parent is not None and subject_info(parent.subject).counters != want and seen < 1000:
            parent = thread.get(parent.references[-1]) if parent.references else None
            seen += 1
        if parent is None:
            return
    # the revision before, in this thread (b4 reads the thread alone)
    prev = None
    for r in sorted(thread.values(), key=lambda r: (r.ts, r.num)):
        sid = sr.of_num(r.num)
        got = sr.get(sid) if sid is not None and sid != s.id else None
        if got is not None and got.version == s.version - 1:
            prev = got
            break
    if prev is None:
        return
    pd = detail(site, name, prev.id, depth + 1)
    if pd is None:
        return
    for p in pd.patches:
        if p.counter not in infos and p.row is not None:
            infos[p.counter] = PatchInfo(p.counter, p.row, trailers=list(p.trailers), am=list(p.am), reroll=s.version)
    # the cover letter too, when this revision has none (b4 copies the
    # earlier revision's, and its trailers go to every patch)
    if 0 not in infos and pd.cover is not None and pd.cover.row is not None:
        c = pd.cover
        infos[0] = PatchInfo(0, c.row, replies=c.replies, trailers=list(c.trailers), am=list(c.am), reroll=s.version)


def patch_trailers(d: Detail, p: PatchInfo) -> list[tuple[str, str]]:
    """The trailers to apply to patch *p*: its own replies', then the cover letter's."""
    out = list(p.trailers)
    for t in d.cover.trailers if d.cover is not None else []:
        if t not in out:
            out.append(t)
    return out


def am_trailers(d: Detail, p: PatchInfo, link: str | None) -> list[Trailer]:
    """What ``b4 am`` adds to patch *p*: its replies' trailers (and those
    given to the same patch elsewhere), the cover letter's, then *link*
    (``-l``: ``Link: URL``; ``-i``: ``Message-ID: <...>``)."""
    out = list(p.am)
    out += d.cover.am if d.cover is not None else []
    if link and p.row is not None:
        name, _, mask = link.partition(": ")
        out.append(make_trailer(name, mask.replace("%s", p.row.mid)))
    return out


def series_mbox(site: Site, name: str, d: Detail, link: str | None = None) -> bytes:
    """Every patch present, in order, as ``b4 am -o -`` writes them (its
    trailers from the replies and the cover letter; *link*: the trailer
    ``b4 am -l``/``-i`` adds, ``%s`` standing for the Message-ID)."""
    box = site.inbox(name)
    todo = []
    for p in d.patches:
        if p.row is None:
            continue
        try:
            raw = box.raw(p.row)
        except CorruptObject:
            continue
        todo.append((raw, am_trailers(d, p, link), p.reroll))
    return am_mbox(todo)


def version_label(s: SeriesRow) -> str:
    """``RFC v2``: the prefixes and version of a series."""
    pfx = " ".join(p.upper() if len(p) <= 6 else p for p in s.prefixes)
    return (f"{pfx} " if pfx else "") + f"v{s.version}"


def _params(request: Request) -> dict[str, list[str]]:
    qp = request.query_params
    return {k: qp.getlist(k) for k in qp}


def _filter_form(f: SeriesFilter) -> str:
    opts = "".join(f"<option{' selected' if f.state == st else ''}>{st}</option>" for st in ("", *STATES))
    return (
        '<form action="./"><pre>filter: author <input name=author type=text size=16 aria-label=author'
        f' value="{esc(f.author)}"/> state <select name=state aria-label=state>{opts}</select>'
        f' title <input name=q type=text size=24 aria-label="words of the title" value="{esc(f.q)}"/>'
        ' <input type=submit value=filter /> <a href="./">all</a></pre></form>'
    )


def list_page(site: Site, request: Request, name: str) -> Response:
    o = lenient_int(request.query_params.get("o"), "o", 0, 0, MAX_OFFSET)
    f = parse_filter(_params(request))
    v = validator(site, name, request, "series")
    if (nm := v.not_modified(request)) is not None:
        return nm
    sr = reader(site, name)
    try:
        total = series_query.count(sr, f)
        rows = series_query.recent(sr, f, o, PAGE)
    finally:
        sr.close()
    info = site.inboxes[name]
    out = [html_top(info, title=f"patch series - {name}", upfx="../"), _filter_form(f), "<pre>"]
    if not rows:
        out.append("No patch series here.\n" if f.empty else "No patch series match.\n")
    for s in rows:
        state = f"{s.present}/{s.total}" + (f", {s.missing} missing" if s.missing else "")
        state += ", reviewed" if s.is_reviewed else (f", {s.reviewed} reviewed" if s.reviewed else "")
        out.append(
            f'{fmt_date(s.ts)} <a href="{href_mid(s.id)}/"><b>[{esc(version_label(s))}] {esc(s.title)}</b></a>\n'
            f"                 by {esc(from_names(s.author))} ({state}{', cover' if s.cover else ''})\n"
        )
    out.append("</pre><hr><pre>")
    nav = []
    qs = esc(f.qs())
    if o + PAGE < total:
        nav.append(f'<a href="?o={o + PAGE}{qs}" rel=next>next (older)</a>')
    if o > 0:
        nav.append(f'<a href="?o={max(o - PAGE, 0)}{qs}" rel=prev>prev (newer)</a>')
    out.append(" | ".join(nav) + f"  {total} series</pre>")
    out.append(html_end(site, info, "../"))
    return page_response(request, "".join(out), validator=v)


def detail_html(site: Site, name: str, d: Detail) -> str:
    """The page of series *d*."""
    s = d.s
    info = site.inboxes[name]
    up = "../../"
    out = [html_top(info, title=f"[{version_label(s)}] {s.title}", upfx=up), "<pre>"]
    out.append(
        f"<b>[{esc(version_label(s))}] {esc(s.title)}</b>\nby {esc(from_names(s.author))} @ {fmt_date(s.ds)} UTC\n"
    )
    state = f"{s.present} of {s.total} patches" + (f", <b>{s.missing} missing</b>" if s.missing else "")
    state += ", <b>all reviewed</b>" if s.is_reviewed else f", {s.reviewed} reviewed"
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
            cur = " (this one)" if r.id == s.id else f' [<a href="range-diff/{href_mid(r.id)}/">range-diff</a>]'
            out.append(
                f'  <a href="../{href_mid(r.id)}/">[{esc(version_label(r))}] {esc(r.title)}</a>'
                f" @ {fmt_date(r.ts)} UTC, {r.present}/{r.total}{cur}\n"
            )
    out.append("</pre><hr>")
    out.append(html_end(site, info, up))
    return "".join(out)


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
            f"<title>[{esc(version_label(s))}] {esc(s.title)}</title><updated>{_iso(s.ts)}</updated>"
            f'<link href="{esc(url)}"/><id>{mid2uuid(s.id)}</id>'
            f'<content type="text">{esc(state)}</content></entry>'
        )
    out.append("</feed>")
    return page_response(request, "".join(out), media_type=ATOM, validator=v)


def route(site: Site, request: Request, name: str, rest: list[str]) -> Response:
    """``/$INBOX/series/...`` (*rest*: the segments after ``series``)."""
    if site.inboxes.ext is not None and name == site.inboxes.ext.name:
        return error_page(site, request, name, "404 Not Found: patch series are kept per inbox, not for /all/")
    if not rest:
        return RedirectResponse(f"/{url_mid(name)}/series/", status_code=301)
    if rest == [""]:
        return list_page(site, request, name)
    sid = rest[0]
    if rest == ["new.atom"]:
        return series_atom(site, request, name)
    if len(rest) == 1:
        return RedirectResponse(f"{url_mid(sid)}/", status_code=301)
    if len(rest) == 4 and rest[1] == "range-diff" and rest[2] and rest[3] == "":
        from pubinbox.web import seriesrd  # (it builds on this module)

        return seriesrd.page(site, request, name, sid, rest[2])
    if rest[1:] not in ([""], ["mbox"]):
        return error_page(site, request, name)
    v = validator(site, name, request, "series")
    if (nm := v.not_modified(request)) is not None:
        return nm
    # both are remembered for this content generation: a page reads every
    # reply for trailers, an mbox runs a git mailinfo per patch
    tag, _ = site.generation(name)
    if rest[1] == "mbox":
        link = _link_mask(site, request, name)
        key: tuple[str, ...] = ("series.mbox", name, sid, link or "", tag)
        body = site.cache.get(key)
        if not isinstance(body, bytes):
            d = detail(site, name, sid)
            if d is None:
                return error_page(site, request, name, "404 Not Found: no patch series with this id")
            body = series_mbox(site, name, d, link)
            site.cache.put(key, body)
        fn = (url_mid(sid)[:60] or "series").replace("%", "_")
        return page_response(
            request,
            body,
            media_type="application/mbox",
            validator=v,
            headers={"Content-Disposition": f"inline; filename={fn}.mbox"},
        )
    key = ("series.page", name, sid, request.headers.get("host", ""), tag)
    html = site.cache.get(key)
    if not isinstance(html, str):
        d = detail(site, name, sid)
        if d is None:
            return error_page(site, request, name, "404 Not Found: no patch series with this id")
        html = detail_html(site, name, d)
        site.cache.put(key, html)
    return page_response(request, html, validator=v)


def _link_mask(site: Site, request: Request, name: str) -> str | None:
    """``?l=1``: a ``Link:`` to each patch's page here (``b4 am -l`` with
    ``b4.linkmask`` set to this inbox's URL + ``%s/``); ``?i=1``: a
    ``Message-ID:`` trailer (``b4 am -i``)."""
    q = request.query_params
    for k in ("l", "i"):
        if q.get(k, "1") != "1" or len(q.getlist(k)) > 1:
            raise BadRequest(f"{k}= takes no value but 1")
    if "l" in q and "i" in q:
        raise BadRequest("l=1 and i=1 exclude each other (as b4 am -l and -i)")
    if "l" in q:
        return "Link: " + site.inboxes[name].base_url(str(request.base_url).rstrip("/")) + "%s/"
    if "i" in q:
        return "Message-ID: <%s>"
    return None


def message_block(site: Site, name: str, row: OverRow) -> str:
    """The line a patch's (or cover letter's) message page gets, in a
    block of its own (``<pre id=series>...</pre><hr>``): its series and
    that series' mbox; "" for other messages or without a series file."""
    try:
        sr = reader(site, name)
    except IndexDamaged:
        return ""
    try:
        sid = sr.of_num(row.num)
        s = sr.get(sid) if sid is not None else None
        what = next((f"{c}/{s.total}" for c, n in sr.members(s.id) if n == row.num), "") if s is not None else ""
    except IndexDamaged:
        return ""
    finally:
        sr.close()
    if s is None:
        return ""
    what = "cover letter" if what.startswith("0/") else f"patch {what}"
    state = f"{s.present} of {s.total}" + (f", {s.missing} missing" if s.missing else "")
    return (
        f'<pre id=series>{what} of the series <a href="../series/{href_mid(s.id)}/">[{esc(version_label(s))}] '
        f'{esc(s.title)}</a> ({state})  [<a href="series.mbox">mbox for git am</a>]</pre><hr>'
    )


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
