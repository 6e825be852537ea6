"""The thread overview ("skeleton"): one line per message of a thread, with
its date, indentation by depth, subject (when it changed) and author, as at
the bottom of public-inbox's message page and thread pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pubinbox.mail import address
from pubinbox.mail.msgid import id_compress, subject_normalized
from pubinbox.web.html import esc, fmt_date, href_mid
from pubinbox.web.obfuscate import Obfuscator
from pubinbox.web.thread import Node, root_first, walk

__all__ = ["STRICT_LOOSE_NOTE", "Skeleton", "from_names", "indent_for", "skeleton"]

INDENT = "  "
TCHILD = "` "
STRICT_LOOSE_NOTE = "  -- strict thread matches above, loose matches on Subject: below --\n"


def indent_for(level: int) -> str:
    return INDENT * (level - 1) + TCHILD if level else ""


def from_names(from_: str) -> str:
    """Display names of a From: value, as public-inbox's from_name."""
    try:
        names = address.names(from_)
    except Exception:  # noqa: BLE001 - hostile header
        names = []
    return ", ".join(names) if names else from_


def dedupe_subject(prev: list[str], cur: list[str], mark: str) -> str:
    """Drop the words *cur* shares at its end with *prev* (more than one);
    returns *mark* when something was dropped.  Mutates both lists."""
    omit = ""
    prev_pop: list[str] = []
    cur_pop: list[str] = []
    while prev and cur and cur[-1] == prev[-1]:
        prev_pop.append(prev.pop())
        cur_pop.append(cur.pop())
        omit = mark
    if cur and cur[-1].lower().startswith("re:"):
        cur.pop()
    if len(cur_pop) == 1:
        omit = ""
        prev.extend(prev_pop)
        cur.extend(cur_pop)
    return omit


@dataclass(slots=True)
class Skeleton:
    """A rendered overview plus what the message page's links need."""

    html: str = ""
    prev_mid: str | None = None
    next_mid: str | None = None
    count: int = 0
    lines: dict[str, str] = field(default_factory=dict)  # mid -> line (in-page links; thread pages)
    plain: dict[str, str] = field(default_factory=dict)  # mid -> "DATE ` FROM" (thread pages)
    order: list[tuple[int, Node, int]] = field(default_factory=list)


def skeleton(
    roots: list[Node],
    *,
    cur_mid: str | None,
    cur_subject: str | None,
    upfx: str,
    in_page: bool = False,
    total: int = 0,
    focus: str | None = None,
    obfs: Obfuscator | None = None,
    results: dict[str, int | None] | None = None,
) -> Skeleton:
    """Render the overview of *roots*.

    *cur_mid* is marked ``[this message]`` (message page); *in_page* links to
    ``#m…`` anchors on the same page (thread pages) instead of message pages.
    *obfs* obfuscates addresses in authors and subjects.  *results* (search
    results, nested view) maps the Message-IDs found to their relevance
    (None when unknown): a column of percentages, in-page links for results
    and links to the message pages for the rest of their threads.
    """
    sk = Skeleton()
    focus = focus or cur_mid
    roots, moved = root_first(roots, focus) if focus else (roots, False)
    note = STRICT_LOOSE_NOTE if moved else ""
    if moved and total > 1000:
        note += f"  -- use mbox.gz link to download all {total} messages --\n"
    # the first line shows its whole subject unless it is the page's own
    # (message pages); thread pages and search results pass None
    prev_subj = subject_normalized(cur_subject or "(no subject)").split(" ") if cur_subject is not None else []
    out: list[str] = []
    seen_root = False
    cur: str | None = cur_mid
    for level, node, idx in walk(roots):
        sk.order.append((level, node, idx))
        row = node.row
        if row is None:
            d = "     [not found] " + ("    " if results is not None else "") + indent_for(level)
            mid_h = esc(node.mid)
            if in_page:
                aid = _cid(node.mid)
                sk.lines[node.mid] = f"{d}&lt;<a href=#r{aid}>{mid_h}</a>&gt;\n"
                out.append(f'{d}&lt;<a href="{upfx}{href_mid(node.mid)}/" id=r{aid}>{mid_h}</a>&gt;\n')
            else:
                out.append(f'{d}&lt;<a href="{upfx}{href_mid(node.mid)}/">{mid_h}</a>&gt;\n')
            continue
        if level == 0:
            if seen_root and note:
                out.append(note)
                note = ""
            seen_root = True
        sk.count += 1
        f = esc(from_names(row.from_))
        if obfs is not None:
            f = obfs.html(f)
        d = fmt_date(row.ds)
        linked = in_page
        if results is not None:
            linked = row.mid in results
            pct = results.get(row.mid)
            d += f" {pct:>2}%" if pct is not None else "    "
            if not linked:
                sk.lines[row.mid] = ""  # not a result: its own page, no mini-tree line
        d += " " + indent_for(level)
        if cur is not None:
            if cur == row.mid:
                cur = None
                out.append(f'<b>{d}<a id=r href="#t">{f} [this message]</a></b>\n')
                continue
            sk.prev_mid = row.mid
        elif sk.next_mid is None and cur_mid is not None:
            sk.next_mid = row.mid
        subj = subject_normalized(row.subject).split(" ")
        prev = prev_subj
        prev_subj = list(subj)
        omit = dedupe_subject(prev, subj, "&#34; ")
        subj = [w for w in subj if w != ""]
        s_html = esc(" ".join(subj))
        if obfs is not None:
            s_html = obfs.html(s_html)
        end = f"{s_html}</a> {omit}{f}\n" if subj else f"{f}</a>\n"
        if linked:
            aid = _cid(row.mid)
            sk.lines[row.mid] = f'{d}<a href="#m{aid}">{end}'
            sk.plain[row.mid] = d + f
            out.append(f'{d}<a href="#m{aid}" id=r{aid}>{end}')
        else:
            out.append(f'{d}<a href="{upfx}{href_mid(row.mid)}/">{end}')
    sk.html = "".join(out)
    return sk


def _cid(mid: str) -> str:
    return id_compress(mid, True)
