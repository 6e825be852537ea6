"""References read one way everywhere: public-inbox-httpd (1.9) vs ``pubinbox serve``.

A small thread built here (issue 15), imported with ``pubinbox import`` and
served by both on the same inbox (public-inbox indexes it into ``xap15/``):

* ``References: <Message-ID: <abc@example.com>>`` -- a mail client pasted
  the header name into the brackets.  public-inbox's rule
  (``PublicInbox::MID::references``: ``<([^>]+)>``) takes ONE reference,
  ``Message-ID: <abc@example.com``, one ghost above the thread; pubinbox
  used to split the stored ``<a> <b>`` on blanks and showed two;
* a Message-ID reused with other content (stored under a generated id,
  which public-inbox threads under the first message of that id);
* a message with an X-Alt-Message-ID (the overview maps it to the message);
* a self reference in References with no In-Reply-To (the "parent" link of
  the message page and the In-Reply-To line come from the header, as
  public-inbox's ``in_reply_to``, not from the overview's thread refs).

Compared: the message pages' thread overview, ``/T/`` and ``/t/`` (order and
depth), every line of text of those pages, the parent links, the
``thr:in-reply-to`` of ``new.atom``, and the status of every Message-ID's page.
"""

from __future__ import annotations

import contextlib
import difflib
import html
import re
import sqlite3
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.interop.test_web_differential import (
    fetch,
    mid_url,
    norm_tags,
    page_text,
    parse_overview,
    parse_thread_page,
)
from tests.live import isolated_environ, live_server

pytestmark = [pytest.mark.peer, pytest.mark.slow]

NAME = "refs"
GHOST = "Message-ID: <abc@example.com"


def _msg(n: int, mid: str, extra: str = "", body: str = "", subject: str = "[PATCH] frob: fix the frobnicator") -> str:
    return (
        f"From: Author {n} <a{n}@example.com>\nTo: refs@example.com\nSubject: {subject}\n"
        f"Date: Mon, 02 Jan 2023 {n:02d}:00:00 +0000\nMessage-ID: <{mid}>\n{extra}"
        f"\n{body or f'body of message {n}'}\n"
    )


MESSAGES = [
    # the root of what is shown: it replies to a message nobody has, named badly
    _msg(1, "t1@example.com", f"References: <{GHOST}>>\nIn-Reply-To: <{GHOST}>>\n"),
    _msg(2, "t2@example.com", f"References: <{GHOST}>> <t1@example.com>\nIn-Reply-To: <t1@example.com>\n"),
    _msg(3, "t3@example.com", f"References: <{GHOST}>>\n <t1@example.com> <t2@example.com>\n"),
    # t2 again with other content: stored under a generated Message-ID
    _msg(4, "t2@example.com", "In-Reply-To: <t1@example.com>\n", body="another text under a reused id"),
    # an X-Alt-Message-ID
    _msg(5, "t5@example.com", "X-Alt-Message-ID: <alt5@example.com>\nIn-Reply-To: <t3@example.com>\n"),
    # a self reference, last, and no In-Reply-To
    _msg(6, "t6@example.com", "References: <t1@example.com> <t6@example.com>\n"),
    # a mangled In-Reply-To only
    _msg(7, "t7@example.com", "In-Reply-To: <Message-ID: <t6@example.com>>\n", subject="Re: other"),
    # feeds: no From (Sender instead), two Subject fields; two authors, a Received time
    (
        "Sender: Sam Sender <sam@example.com>\nSubject: first subject\nSubject: second subject\n"
        "Date: Mon, 02 Jan 2023 08:00:00 +0000\nMessage-ID: <t8@example.com>\nIn-Reply-To: <t1@example.com>\n\nbody 8\n"
    ),
    (
        "From: Ann One <a1@example.com>, Bob Two <b2@example.com>\nSubject: Re: [PATCH] frob\n"
        "Received: from a.example.com by b.example.com; Tue, 03 Jan 2023 10:00:00 +0000\n"
        "Date: Mon, 02 Jan 2023 09:00:00 +0000\nMessage-ID: <t9@example.com>\nReferences: <t1@example.com>\n\nbody 9\n"
    ),
]


@dataclass
class Pair:
    inbox: Path
    pi: str
    pb: str
    mids: list[str]  # every Message-ID of a message, generated and X-Alt ones too


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("refsdiff")
    with isolated_environ(root / "home") as env, contextlib.ExitStack() as stack:
        inbox = root / "inbox"
        config = root / "config"
        env["PI_CONFIG"] = str(config)
        mbox = root / "thread.mbox"
        mbox.write_text("".join(f"From mboxrd@z Thu Jan  1 00:00:00 1970\n{m}\n" for m in MESSAGES))
        run_cli("--config", str(config), "init", "-L", "basic", NAME, str(inbox), f"http://example.invalid/{NAME}",
                "refs@example.com", check=True)  # fmt: skip
        run_cli("--config", str(config), "import", NAME, str(mbox), check=True)
        db = sqlite3.connect(inbox / "pubinbox" / "over.sqlite3")
        mids = [
            str(m)
            for (m,) in db.execute(
                "SELECT msgid.mid FROM msgid JOIN id2num ON id2num.id = msgid.id"
                " JOIN over ON over.num = id2num.num WHERE over.num > 0 ORDER BY msgid.id"
            )
        ]
        db.close()
        pi = stack.enter_context(live_server(config, NAME, kind="public-inbox", env=env, timeout=120))
        pb = stack.enter_context(live_server(config, NAME, kind="pubinbox", env=env, timeout=120))
        yield Pair(inbox, pi.base, pb.base, mids)


def _unquote_hrefs(line: str) -> str:
    # pubinbox writes ':' as %3A in links (web/html.py, on purpose)
    return re.sub(r'href="([^"]*)"', lambda m: f'href="{urllib.parse.unquote(m.group(1))}"', line)


def _overview(page: str, mid: str) -> tuple[str, list[object]] | None:
    o = parse_overview(page, mid)
    if o is None:
        return None
    return o.head, [_unquote_hrefs(e) if isinstance(e, str) else e for e in o.entries]


def _both(pair: Pair, path: str) -> tuple[tuple[int, str], tuple[int, str]]:
    return fetch(pair.pi + path), fetch(pair.pb + path)


def test_one_ghost_for_a_mangled_reference(pair: Pair) -> None:
    (s1, p1), (s2, p2) = _both(pair, f"{mid_url('t2@example.com')}/")
    assert (s1, s2) == (200, 200)
    a, b = parse_overview(p1, "t2@example.com"), parse_overview(p2, "t2@example.com")
    assert a is not None and b is not None
    ghosts = [e.mid for e in a.entries if not isinstance(e, str) and e.kind == "ghost"]
    # public-inbox: one reference, ``Message-ID: <abc@example.com``, never
    # ``Message-ID:`` and ``abc@example.com`` (alt5: t5's X-Alt-Message-ID,
    # which the overview's references carry, as public-inbox's do)
    assert sorted(ghosts) == sorted([GHOST, "alt5@example.com"])
    assert _overview(p1, "t2@example.com") == _overview(p2, "t2@example.com")


def test_thread_overviews_and_pages_agree(pair: Pair) -> None:
    bad = []
    for mid in pair.mids:
        (s1, p1), (s2, p2) = _both(pair, f"{mid_url(mid)}/")
        if (s1, s2) != (200, 200):
            bad.append(f"/{mid}/: status public-inbox {s1}, pubinbox {s2}")
            continue
        a, b = _overview(p1, mid), _overview(p2, mid)
        if a is None or b is None or a != b:
            bad.append(f"/{mid}/ overview:\n  public-inbox {a}\n  pubinbox     {b}")
        for sub in ("T", "t"):
            (s1, p1), (s2, p2) = _both(pair, f"{mid_url(mid)}/{sub}/")
            x, y = parse_thread_page(p1, sub == "t"), parse_thread_page(p2, sub == "t")
            if (s1, s2) != (200, 200) or x != y:
                bad.append(f"/{mid}/{sub}/: {s1} {s2}\n  public-inbox {x}\n  pubinbox     {y}")
    assert not bad, "\n".join(bad)


def test_page_text_agrees(pair: Pair) -> None:
    """Every line a reader sees: header block (Message-ID and In-Reply-To
    lines), overview, parent/prev/next links, reply instructions; and
    new.html (each message's In-Reply-To line)."""
    paths = [f"{mid_url(mid)}/{sub}" for mid in pair.mids for sub in ("", "T/", "t/")]
    bad = []
    for path in [*paths, "new.html"]:
        (s1, p1), (s2, p2) = _both(pair, path)
        # public-inbox 1.9's new.html ends with a stray "SCALAR(0x...)" (a bug of its own)
        a, b = page_text(re.sub(r"SCALAR\(0x[0-9a-f]+\)", "", p1)), page_text(p2)
        if (s1, s2) != (200, 200) or a != b:
            diff = list(difflib.unified_diff(a, b, "public-inbox", "pubinbox", lineterm="", n=1))
            bad.append(f"{path}: {s1} {s2}\n" + "\n".join(diff[:30]))
    assert not bad, "\n\n".join(bad)


_LINK = re.compile(r'<a href="([^"]*)"(?: rel=prev)?>(parent|prev parent)</a>')


def _parent_links(page: str) -> list[tuple[str, str]]:
    # hrefs unescaped: pubinbox writes ':' as %3A in links (web/html.py, on purpose)
    return [(urllib.parse.unquote(html.unescape(h)), t) for h, t in _LINK.findall(norm_tags(page))]


def test_parent_links_and_atom(pair: Pair) -> None:
    for mid in ("t3@example.com", "t5@example.com", "t6@example.com", "t7@example.com"):
        (_s1, p1), (_s2, p2) = _both(pair, f"{mid_url(mid)}/")
        assert _parent_links(p1) == _parent_links(p2) != [], mid
    # the self reference: public-inbox's in_reply_to is the last of References
    assert _parent_links(_both(pair, "t6@example.com/")[1][1]) == [("../t6@example.com/", "parent")]
    (_s1, a1), (_s2, a2) = _both(pair, "new.atom")
    assert _atom_entries(a1, pair.pi) == _atom_entries(a2, pair.pb) != []


_ENTRY = re.compile(r"<entry>(.*?)</entry>", re.DOTALL)
_TAGS = ("name", "email", "title", "updated", "id")


def _atom_entries(atom: str, base: str) -> list[dict[str, str]]:
    """Per entry: author name and address, title, updated, id and the
    parent (thr:in-reply-to), as text."""
    out = []
    for e in _ENTRY.findall(norm_tags(atom)):
        d = {t: html.unescape(m.group(1)) for t in _TAGS if (m := re.search(rf"<{t}[^>]*>(.*?)</{t}>", e))}
        irt = re.search(r'<thr:in-reply-to ref="([^"]+)" href="([^"]+)"', e)
        if irt:
            d["irt"] = irt.group(1) + " " + urllib.parse.unquote(html.unescape(irt.group(2))).removeprefix(base)
        out.append(d)
    return out


def test_x_alt_message_id_is_found(pair: Pair) -> None:
    (s1, _p1), (s2, _p2) = _both(pair, "alt5@example.com/")
    assert (s1, s2) == (200, 200)
