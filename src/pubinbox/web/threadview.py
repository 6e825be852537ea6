"""Thread pages: ``/$INBOX/$MID/T/`` (flat, by date) and ``/t/`` (nested
``<ul>`` by reply structure).  Every message of the thread in full, each with
a small tree of its neighbours, then the overview whose links jump within
the page.  Streamed message by message; threads are capped at 1000 messages
(the mbox.gz has them all).
"""

from __future__ import annotations

from collections.abc import Iterator

from pubinbox.mail.msgid import id_compress, in_reply_to
from pubinbox.mail.parse import Headers
from pubinbox.over.reader import OverRow
from pubinbox.web.body import render_body_cached
from pubinbox.web.cache import ByteCache
from pubinbox.web.html import esc, fmt_date, href_mid, ts_param, url_mid
from pubinbox.web.mboxview import display_raw
from pubinbox.web.message import fold_addresses
from pubinbox.web.obfuscate import Obfuscator, obfuscator_for
from pubinbox.web.page import html_end, html_top
from pubinbox.web.site import Site
from pubinbox.web.skel import Skeleton, from_names, indent_for, skeleton
from pubinbox.web.thread import Node, thread

__all__ = ["thread_page"]

UPFX = "../../"


def _names(h: Headers, name: str) -> str:
    try:
        vals = h.decoded(name)
    except Exception:  # noqa: BLE001
        vals = h.raw(name)
    if not vals:
        return ""
    # 7-bit now, as public-inbox folds it: a non-ASCII letter counts as its
    # numeric reference (&#252;) when To/Cc lines are wrapped
    return esc(from_names(",".join(vals))).encode("ascii", "xmlcharrefreplace").decode("ascii")


def _nr(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


class EntryCtx:
    """What every message entry of one page shares.  Three kinds of page
    show messages in full, as public-inbox's eml_entry: thread pages (mini
    tree, flat|nested links), nested search results (*results*: mini tree,
    relevance) and new.html (no skeleton: an In-Reply-To line instead)."""

    def __init__(
        self,
        sk: Skeleton | None,
        s_nr: str,
        root_anchor: str,
        flat: bool,
        obfs: Obfuscator | None,
        *,
        upfx: str = UPFX,
        results: dict[str, int | None] | None = None,
        headers_obfuscated: bool = True,
        cache: ByteCache | None = None,
        spfx: str | None = None,
    ) -> None:
        self.sk = sk
        self.spfx = spfx  # way back to /$INBOX/ for /$OID/s/ links (inboxes with a coderepo)
        self.cache = cache if cache is not None else ByteCache(0)  # rendered bodies, by blob
        self.obfs = obfs
        self.s_nr = s_nr
        self.root_anchor = root_anchor
        self.flat = flat
        self.upfx = upfx
        self.results = results
        self.headers_obfuscated = headers_obfuscated  # new.html: bodies only, as public-inbox
        self.index = {id(node): (idx, level) for level, node, idx in sk.order} if sk is not None else {}


def _line(ctx: EntryCtx, mid: str | None) -> str:
    if mid is None or ctx.sk is None:
        return "(?)\n"
    # "" (outside the search results) leaves the bare pad, as public-inbox
    return "  " + ctx.sk.lines.get(mid, "(?)\n")


def _pad_link(mid: str | None, level: int, s: str) -> str:
    href = f"<a href=#r{id_compress(mid, True)}>({s})</a>\n" if mid is not None else f"({s})\n"
    return " " * 19 + indent_for(level) + href


def _index_lite(ctx: EntryCtx, node: Node) -> str:
    """The few overview lines around a message (parent, siblings, replies)."""
    pad = "  "
    entry = ctx.index.get(id(node))
    if entry is None:
        return ""
    idx, level = entry
    out: list[str] = []
    parent = node.parent
    siblings: list[Node] = parent.children if parent is not None else []
    nr_s = max(len(siblings) - 1, 0)
    if parent is not None:
        out.append(_line(ctx, parent.mid))
        if idx > 0:
            prev = siblings[idx - 1]
            if idx > 2:
                out.append(_pad_link(prev.mid, level, f"{idx - 1} preceding siblings ..."))
            elif idx == 2:
                out.append(_line(ctx, siblings[0].mid))
            out.append(_line(ctx, prev.mid))
    plain = ctx.sk.plain.get(node.mid, "") if ctx.sk is not None else ""
    out.append(f"<b>@ {plain}</b>\n")
    kids = node.children
    if kids:
        out.append(_line(ctx, kids[0].mid))
        if len(kids) > 2:
            out.append(_pad_link(kids[0].mid, level + 1, f"{len(kids) - 1} more replies"))
        elif len(kids) == 2:
            out.append(_line(ctx, kids[1].mid))
    if parent is not None and 0 <= idx < len(siblings) - 1:
        nxt = siblings[idx + 1]
        out.append(_line(ctx, nxt.mid))
        nnext = nr_s - idx
        if nnext > 2:
            out.append(_pad_link(nxt.mid, level, f"{nnext - 1} subsequent siblings"))
        elif idx + 2 < len(siblings):
            out.append(_line(ctx, siblings[idx + 2].mid))
    aid = id_compress(node.mid, True)
    out.append(
        f"{pad}<a href=#r{aid}>{_nr(nr_s, 'sibling', 'siblings')}, {_nr(len(kids), 'reply', 'replies')}; {ctx.s_nr}</a>\n"
    )
    return "".join(out)


def entry(ctx: EntryCtx, node: Node | None, row: OverRow, raw: bytes, *, more: bool) -> str:
    """One message in full (*node*: its place in the page's skeleton, None
    on new.html); *more*: other entries follow."""
    h = Headers(raw)
    UPFX = ctx.upfx
    aid = id_compress(row.mid, True)
    obfs = ctx.obfs

    def o(html: str) -> str:
        return obfs.html(html) if obfs is not None and ctx.headers_obfuscated else html

    subj = o(f"<b>{esc(row.subject or '(no subject)')}</b>")
    if ctx.root_anchor == "m" + aid:
        subj = f"<u id=u>{subj}</u>"
    out = [f"<a href=#e{aid} id=m{aid}>*</a> {subj}\n", _index_lite(ctx, node) if node is not None else ""]
    mhref = f"{UPFX}{href_mid(row.mid)}/"
    out.append(
        f"From: {o(_names(h, 'From'))} @ {fmt_date(row.ds)} UTC"
        f' (<a href="{mhref}">permalink</a> / <a href="{mhref}raw">raw</a>)\n'
    )
    to = fold_addresses(_names(h, "To"))
    cc = fold_addresses(_names(h, "Cc"))
    if len(to) + len(cc) > 72:
        to_cc = (f"  To: {to}\n" if to else "") + (f"  Cc: {cc}\n" if cc else "")
    elif to:
        to_cc = f"  To: {to}" + (f"; <b>+Cc:</b> {cc}" if cc else "") + "\n"
    elif cc:
        to_cc = f"  Cc: {cc}\n"
    else:
        to_cc = "\n"
    out.append(o(to_cc))
    irt = in_reply_to(h) if node is None else None  # no skeleton on the page: say what it replies to
    if irt is not None:
        out.append(f'In-Reply-To: &lt;<a href="{UPFX}{href_mid(irt)}/">{esc(irt)}</a>&gt;\n')
    out.append("\n")
    out.append(
        render_body_cached(
            ctx.cache,
            row.blob,
            raw,
            msg_url=f"{UPFX}{url_mid(row.mid)}/",
            anchor_prefix=aid[:8],
            obfs=obfs,
            spfx=ctx.spfx,
        )
    )
    out.append(
        f'\n<a href=#m{aid} id=e{aid}>^</a> <a href="{mhref}">permalink</a> <a href="{mhref}raw">raw</a>'
        f' <a href="{mhref}#R">reply</a>'
    )
    hr = True
    if ctx.results is not None:
        pct = ctx.results.get(row.mid)
        out.append(f"\t[relevance {pct}%]" if pct is not None else "")
    elif node is not None:
        flat, nested = ("<b>flat</b>", "nested") if ctx.flat else ("flat", "<b>nested</b>")
        out.append(
            f'\t[<a href="{mhref}T/#u">{flat}</a>|<a href="{mhref}t/#u">{nested}</a>] <a href=#r{aid}>{ctx.s_nr}</a>'
        )
        hr = ctx.flat
    if hr:
        out.append("</pre><hr><pre>" if more else "</pre>")
    return "".join(out)


def thread_page(site: Site, name: str, mid: str, rows: list[OverRow], *, flat: bool) -> Iterator[str]:
    """Chunks of the /T/ (flat) or /t/ (nested) page of *mid*'s thread."""
    info = site.inboxes[name]
    box = site.inbox(name)
    msgs = box.over.thread(rows[0].tid, sid=rows[0].sid, limit=1000)
    nr = len(msgs)
    total = box.over.thread_size(rows[0].tid) if nr >= 1000 else nr
    roots = thread(msgs, resolve=box.over.primary_by_mid)
    t_max = max(r.ts for r in msgs)
    s_nr = (f"{nr}+ messages" if nr > 1 else "only message") + " in thread"
    obfs = obfuscator_for(site.config, info.cfg)
    sk = skeleton(roots, cur_mid=None, focus=mid, cur_subject=None, upfx=UPFX, in_page=True, total=total, obfs=obfs)
    # as public-inbox, the page title (the thread's subject) is not obfuscated
    spfx = UPFX if info.coderepos else None
    ctx = EntryCtx(sk, s_nr, "m" + id_compress(mid, True), flat, obfs, cache=site.cache, spfx=spfx)
    first = next((n.row for _l, n, _i in sk.order if n.row is not None), rows[0])
    yield html_top(info, title=first.subject or "(no subject)", upfx=UPFX, t_max=t_max)
    if flat:
        yield "<pre>"
        # the thread query's order (strict by date, then loose newest first),
        # and only its messages: parents looked up for the overview are not
        # shown in full (as public-inbox)
        by_num = {n.row.num: n for _l, n, _i in sk.order if n.row is not None}
        real = [by_num[r.num] for r in msgs if r.num in by_num]
        for i, node in enumerate(real):
            assert node.row is not None
            raw = display_raw(site.inbox(name), node.row)
            yield entry(ctx, node, node.row, raw, more=i + 1 < len(real))
    else:
        cur_level = 0
        seen_real = False
        for level, node, _idx in sk.order:
            if node.row is None and not seen_real:
                continue  # as public-inbox: ghosts above the first message are only in the overview
            seen_real = True
            beg, end, cur_level = _adj_level(cur_level, level)
            if node.row is None:
                yield f'{beg}<pre>[parent not found: &lt;<a href="{UPFX}{href_mid(node.mid)}/">{esc(node.mid)}</a>&gt;]</pre>{end}'
                continue
            raw = display_raw(site.inbox(name), node.row)
            yield f"{beg}<pre>{entry(ctx, node, node.row, raw, more=False)}</pre>{end}"
        beg, _end, cur_level = _adj_level(cur_level, 0)
        yield beg
    t = ts_param(t_max)
    yield (
        "<hr><pre>"
        + ("only message in thread" if nr == 1 else "end of thread")
        + f', other threads:[<a href="{UPFX}?t={t}">~{fmt_date(t_max)} UTC</a> | <a href="{UPFX}">newest</a>]\n\n'
        + "<b id=t>Thread overview:</b> "
        + ("(only message)" if nr == 1 else f"{nr}+ messages")
        + ' (download: <a href="../t.mbox.gz">mbox.gz</a> / follow: <a href="../t.atom">Atom feed</a>)\n'
        + (f"-- only the first {nr} of {total} messages are shown; the mbox.gz has them all --\n" if total > nr else "")
        + "-- links below jump to the message on this page --\n"
        + sk.html
        + "</pre>"
    )
    yield html_end(site, info, UPFX)


def _adj_level(cur: int, level: int) -> tuple[str, str, int]:
    """(markup before, markup after, new level) for nested <ul><li> output."""
    if level <= 0:
        if cur == 0:
            return "", "", 0
        beg = "</ul></li>" * (cur - 1) if cur > 1 else ""
        return beg + "</ul>", "", 0
    if level == cur:
        return "<li>", "</li>", cur
    if level < cur:
        beg = "</ul></li>" * (cur - level) if cur > 1 else ""
        return beg + "<li>", "</li>", level
    beg = ("<li>" if cur else "") + "<ul><li>"
    return beg, "</li>", level
