"""The inbox index ``/$INBOX/``: recent topics, and ``new.html``.

The index takes the 200 most recently received messages (``?t=`` pages to
older or newer windows), threads them and lists topics by their newest Date,
with the later subjects of each topic indented below it.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pubinbox.mail.msgid import subject_normalized
from pubinbox.over.reader import OverRow
from pubinbox.web.html import esc, fmt_date, href_mid, ts_param
from pubinbox.web.obfuscate import Obfuscator, obfuscator_for
from pubinbox.web.page import html_end, html_top
from pubinbox.web.site import Site
from pubinbox.web.skel import dedupe_subject, indent_for
from pubinbox.web.thread import thread, walk

__all__ = ["Window", "index_page", "parse_t", "recent_window"]

WINDOW = 200


def parse_t(t: str) -> tuple[int | None, int | None]:
    """``?t=YYYYMMDD[HHMMSS]`` → (None, before); ``…-`` → (after, None)."""
    after = before = None
    m = re.match(r"\A([0-9]{8,14})-", t)
    if m:
        after = _str2ts(m.group(1))
        t = t[m.end() :]
    m = re.fullmatch(r"([0-9]{8,14})", t)
    if m:
        before = _str2ts(m.group(1))
    return after, before


def _str2ts(s: str) -> int | None:
    s = s.ljust(14, "0")
    try:
        return calendar.timegm(
            (int(s[0:4]), int(s[4:6]), int(s[6:8]), int(s[8:10]), int(s[10:12]), int(s[12:14]), 0, 0, 0)
        )
    except (ValueError, OverflowError):
        return None


@dataclass(slots=True)
class Window:
    rows: list[OverRow]
    next_page: str = ""
    prev_page: str = ""
    has_t: bool = False


def recent_window(site: Site, name: str, t: str, limit: int) -> Window:
    """The *limit* messages of a ``?t=`` window and its pagination links."""
    over = site.inbox(name).over
    after, before = parse_t(t)
    # public-inbox's ?t= bounds are inclusive; recent() takes exclusive cursors
    rows = over.recent(
        limit,
        before=None if before is None else before + 1,
        after=None if after is None else after - 1,
    )
    if len(rows) < limit and after is not None:
        after = before = None
        rows = over.recent(limit)
    w = Window(rows, has_t=bool(t))
    if rows:
        newest = max(r.ts for r in rows)
        oldest = min(r.ts for r in rows)
        more = len(rows) == limit
        if more:
            w.next_page = f'<a href="?t={ts_param(oldest)}" rel=next>next (older)</a>'
        if before is not None or after is not None:
            w.prev_page = f'<a href="?t={ts_param(newest)}-" rel=prev>prev (newer)</a>'
    return w


def pagination_footer(w: Window, latest: str = ".") -> str:
    nxt, prv = w.next_page, w.prev_page
    if prv:
        nxt = f"{nxt} | " if nxt else "             | "
        prv += f' | <a href="{latest}">latest</a>'
    return f"<hr><pre>page: {nxt}{prv}</pre>" if (nxt or prv) else ""


@dataclass(slots=True)
class _Topic:
    ds: int
    n: int
    seen: dict[str, str] = field(default_factory=dict)
    top: str | None = None
    extra: list[tuple[int, str]] = field(default_factory=list)


def topics_html(
    rows: list[OverRow], resolve: Callable[[str], OverRow | None] | None = None, obfs: Obfuscator | None = None
) -> str:
    """The topic list of a window of rows; *resolve* fills in parents that
    are outside the window (public-inbox looks them up the same way).
    *obfs* obfuscates addresses in the later subjects of a topic (public-inbox
    leaves the first one as it is)."""
    roots = thread(rows, resolve=resolve)
    order: list[_Topic] = []
    cur: _Topic | None = None
    for level, node, _idx in walk(roots):
        row = node.row
        if row is None:
            if level == 0:
                cur = _Topic(-666, 0)
                order.append(cur)
            continue
        subj = subject_normalized(row.subject) or "(no subject)"
        if level == 0 or cur is None:
            cur = _Topic(row.ds, 1, {subj: row.mid}, subj)
            order.append(cur)
            continue
        cur.ds = max(cur.ds, row.ds)
        cur.n += 1
        if cur.top is None:
            cur.top = subj
        elif subj not in cur.seen:
            cur.extra.append((level, subj))
        cur.seen[subj] = row.mid
    out: list[str] = []
    for topic in sorted(order, key=lambda t: -t.ds):
        if topic.top is None:
            continue
        mid = topic.seen.pop(topic.top, None)
        if mid is None:
            continue
        prev = topic.top.split(" ")
        if topic.n == 1:
            n, anchor = "", "#u"
        else:
            n, anchor = f" ({topic.n}+ messages)", "#t"
        s = f'<a href="{href_mid(mid)}/T/{anchor}">{esc(topic.top)}</a>\n {fmt_date(topic.ds)} UTC {n}\n'
        for level, subj in topic.extra:
            xmid = topic.seen.pop(subj, None)
            if xmid is None:
                continue
            words = subj.split(" ")
            nxt = list(words)
            omit = dedupe_subject(prev, words, " &#34;")
            prev = nxt
            s_html = esc(" ".join(words))
            if obfs is not None:
                s_html = obfs.html(s_html)
            s += indent_for(level) + f'<a href="{href_mid(xmid)}/T/#u">{s_html}</a>{omit}\n'
        out.append(s)
    return "\n".join(out)


def index_page(site: Site, name: str, t: str) -> tuple[int, Iterator[str]]:
    info = site.inboxes[name]
    w = recent_window(site, name, t, WINDOW)
    obfs = obfuscator_for(site.config, info.cfg)
    body = topics_html(w.rows, site.inbox(name).over.primary_by_mid, obfs) if w.rows else ""
    status = 200 if body else 404
    tip = f"<pre>{body}</pre>" if body else "<pre>[No topics in range]</pre>"

    def gen() -> Iterator[str]:
        yield html_top(info, title=info.description, has_t=w.has_t)
        yield tip
        yield pagination_footer(w)
        yield html_end(site, info)

    return status, gen()
