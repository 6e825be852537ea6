"""The message page ``/$INBOX/$MID/``: header block, body, links to the
neighbours in the thread, the thread overview and reply instructions.

Several messages may carry one Message-ID; they are shown one after the
other under "WARNING: multiple messages have this Message-ID", as
public-inbox does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pubinbox.extindex.reader import ExtInbox
from pubinbox.inbox import Inbox
from pubinbox.mail.msgid import in_reply_to, mids, mids_for_index
from pubinbox.mail.parse import Headers
from pubinbox.over.reader import OverRow
from pubinbox.web import seriesview
from pubinbox.web.body import render_body_cached
from pubinbox.web.html import esc, fmt_date, href_mid, ts_param, url_mid
from pubinbox.web.mboxview import display_raw
from pubinbox.web.obfuscate import Obfuscator, obfuscator_for
from pubinbox.web.page import html_end, html_top
from pubinbox.web.reply import reply_instructions
from pubinbox.web.site import Site
from pubinbox.web.skel import from_names, skeleton
from pubinbox.web.thread import thread

__all__ = ["fold_addresses", "message_page", "reply_instructions"]

COLS = 72
_MID_SPLIT = re.compile(r"<([^>]+)>")
_FOLD = re.compile(r"(.{0,64}\W(?:,|\Z)|.{1,64}(?:,|\Z)|.{1,64}|.{65,}?)(?:\s|\Z)", re.DOTALL)


def fold_addresses(v: str) -> str:
    """Fold a long To:/Cc: value on commas, as public-inbox does."""
    if len(v) <= COLS:
        return v
    v = v.rstrip()
    parts = [m.group(1) for m in _FOLD.finditer(v) if m.group(1)]
    return "\n\t".join(parts)


def _hdr(h: Headers, name: str) -> list[str]:
    try:
        return [v for v in h.decoded(name)]
    except Exception:  # noqa: BLE001 - hostile header
        return [v for v in h.raw(name)]


def _mid_link(mid: str, upfx: str = "../") -> str:
    return f'&lt;<a href="{upfx}{href_mid(mid)}/">{esc(mid)}</a>&gt;'


def _linkify_mids(v: str, upfx: str, *, raw: bool = False) -> str:
    """A header value with every ``<id>`` a link (public-inbox's
    linkify_mids; *raw* adds a link to each one's raw message)."""
    parts = _MID_SPLIT.split(v)
    out = []
    for i, p in enumerate(parts):
        if i % 2 == 0:
            out.append(esc(p))
        else:
            out.append(_mid_link(p, upfx))
            if raw:
                out.append(f' (<a href="{upfx}{href_mid(p)}/raw">raw</a>)')
    return "".join(out)


def header_block(
    h: Headers, row: OverRow, *, first: bool, upfx: str = "../", obfs: Obfuscator | None = None
) -> tuple[str, str]:
    """The ``<pre id=b>`` header lines; returns (html, page title).

    With *obfs*, addresses in From/To/Cc/Subject/Date and in the title are
    obfuscated (as public-inbox, not those in Message-IDs).
    """

    def o(html: str) -> str:
        return obfs.html(html) if obfs is not None else html

    out: list[str] = []
    title_from = ""
    for v in _hdr(h, "From"):
        if not title_from:
            title_from = o(from_names(v))
        if v:
            out.append(f"From: {o(esc(v))}\n")
    for name in ("To", "Cc"):
        for v in _hdr(h, name):
            if v:
                out.append(f"{name}: {o(esc(fold_addresses(v)))}\n")
    subjects = _hdr(h, "Subject")
    title_subj = "(no subject)"
    if subjects:
        title_subj = o(subjects[0]) or "(no subject)"
        link = " id=t" if first else ""
        out.append(f'Subject: <a href="#r"{link}>{o(esc(subjects[0]))}</a>\n')
        out.extend(f"Subject: {o(esc(s))}\n" for s in subjects[1:])
    elif first:
        out.append('<a href="#r" id=t></a>')
    for v in _hdr(h, "Date"):
        out.append(f'Date: {o(esc(v))}\t<a href="#r">[thread overview]</a>\n')
    # one id (Message-ID and X-Alt-Message-ID, as the overview counts them)
    # is shown plainly; several, as the fields are written, each id a link
    if len(mids_for_index(h)) <= 1:
        out.append(f'Message-ID: &lt;{esc(row.mid)}&gt; (<a href="raw">raw</a>)\n')
    else:
        for name in ("Message-ID", "X-Alt-Message-ID"):
            out.extend(f"{name}: {_linkify_mids(v, upfx, raw=True)}\n" for v in h.raw(name))
    irt = h.raw("In-Reply-To")
    if irt:
        out.extend(f"In-Reply-To: {_linkify_mids(v, upfx)}\n" for v in irt)  # as written, comments too
    else:
        parent = in_reply_to(h)
        if parent is not None:
            out.append(f"In-Reply-To: {_mid_link(parent, upfx)}\n")
    title = title_subj + (" - " + title_from if title_from else "")
    return "".join(out), title


def message_page(site: Site, name: str, rows: list[OverRow]) -> Iterator[str]:
    """Chunks of the message page for *rows* (all carrying one Message-ID)."""
    info = site.inboxes[name]
    obfs = obfuscator_for(site.config, info.cfg)
    first_row = rows[0]
    first_h: Headers | None = None
    for i, row in enumerate(rows):
        box: Inbox = site.inbox(name)
        raw = display_raw(box, row)
        h = Headers(raw)
        block, title = header_block(h, row, first=i == 0, obfs=obfs)
        if i == 0:
            first_h = h
            yield html_top(info, title=title, upfx="../", t_max=row.ts)
            yield "<pre id=b>" + block + "\n"
        else:
            yield "<pre>WARNING: multiple messages have this Message-ID\n</pre><pre>" + block + "\n"
        mhref = "" if len(rows) == 1 else f"../{url_mid(row.mid)}/"
        yield render_body_cached(
            site.cache, row.blob, raw, msg_url=mhref, anchor_prefix=str(i) if i else "", obfs=obfs,
            spfx="../" if info.coderepos else None,
        )  # fmt: skip
        yield "</pre><hr>"
        if i == 0 and not isinstance(box, ExtInbox):  # its patch series (issue 12)
            yield seriesview.message_block(site, name, row)
        if isinstance(box, ExtInbox):  # /all/: this message in each inbox (issue 9)
            yield _copies(box, row)
    assert first_h is not None
    yield footer(site, name, first_row, first_h, obfs)
    yield html_end(site, info, "../")


def _copies(box: ExtInbox, row: OverRow) -> str:
    """Links to the copy of a message of ``/all/`` in every inbox holding it."""
    links = [f'<a href="../../{esc(c.inbox)}/{href_mid(row.mid)}/">{esc(c.inbox)}</a>' for c in box.copies(row.num)]
    if not links:
        return ""
    return f"<pre>This message is in {len(links)} inbox{'es' if len(links) > 1 else ''}: {' '.join(links)}</pre><hr>"


def footer(site: Site, name: str, row: OverRow, h: Headers, obfs: Obfuscator | None = None) -> str:
    """Links to neighbours, the thread overview and reply instructions."""
    info = site.inboxes[name]
    box = site.inbox(name)
    t = ts_param(row.ts)
    skel = (
        f'\tother threads:[<a href="../?t={t}">~{fmt_date(row.ts)} UTC</a>|<a href="../">newest</a>]\n'
        "\n<b>Thread overview: </b>"
    )
    expand = (
        'expand[<a href="T/#u">flat</a>|<a href="t/#u">nested</a>]  '
        '<a href="t.mbox.gz">mbox.gz</a>  <a href="t.atom">Atom feed</a>'
    )
    msgs = box.over.thread(row.tid, sid=row.sid)
    parent = in_reply_to(h)  # from the header, as public-inbox (not the overview's thread references)
    next_mid = prev_mid = None
    if len(msgs) <= 1:
        if parent is not None:
            skel += f"{expand}\n [parent not found: {_mid_link(parent)}]\n"
        else:
            skel += f"<a id=r>[no followups]</a> {expand}\n"
    else:
        subj = (_hdr(h, "Subject") or [""])[0]
        roots = thread(msgs, resolve=box.over.primary_by_mid)
        # [this message] is the node of the first Message-ID, as public-inbox
        # (for a message stored under a generated id: the message whose id it
        # reused); an id generated by `pubinbox index` is not in the header
        own = mids(h)
        cur = own[0] if own and row.mid in mids_for_index(h) else row.mid
        sk = skeleton(roots, cur_mid=cur, cur_subject=subj, upfx="../", total=len(msgs), obfs=obfs)
        skel += f'{len(msgs)}+ messages / {expand}  <a href="#b">top</a>\n' + sk.html
        next_mid, prev_mid = sk.next_mid, sk.prev_mid
    nxt = prv = "    "
    par = "       "
    if next_mid:
        nxt = f'<a href="../{href_mid(next_mid)}/" rel=next>next</a>'
    u = f"../{href_mid(parent)}/" if parent else None
    if prev_mid:
        if parent and prev_mid == parent:
            prv = f'<a href="../{href_mid(prev_mid)}/" rel=prev>prev parent</a>'
            par = ""
        else:
            prv = f'<a href="../{href_mid(prev_mid)}/" rel=prev>prev</a>'
            par = f' <a href="{u}">parent</a>' if u else ""
    elif u:
        par = f' <a href="{u}" rel=prev>parent</a>'
    return f'<pre>{nxt} {prv}{par} <a href="#R">reply</a>{skel}</pre>' + reply_instructions(info, h, obfs)
