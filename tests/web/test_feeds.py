"""Atom feeds against feedparser and a strict reading of the XML.

Two archives: the sample (sample/sample.mbox, 295 real messages) and a small
one whose Message-IDs hold ``/``, ``+`` and ``%`` and whose authors and
subjects are not ASCII, with replies whose parent is present, replies whose
parent is missing and an author without a name.  For ``new.atom``, a
thread's ``t.atom`` and a search ``?q=...&x=A``:

* served as ``application/atom+xml``, 7-bit, well-formed (xml.etree), an
  Atom ``<feed>``; feedparser reads it with ``bozo == 0``;
* every entry: ``id`` = ``urn:uuid:`` + the first 32 hex digits of the
  SHA-1 of its Message-ID as 8-4-4-4-12, ``link`` = the inbox URL +
  the escaped Message-ID + ``/``, ``updated`` (RFC 3339, the received time, as public-inbox), an
  author name and a title;
* an entry of a reply carries ``<thr:in-reply-to ref="urn:uuid:PARENT"
  href=".../PARENT/"/>`` (RFC 4685) for its parent (the last of References
  + In-Reply-To), and an entry of a thread root carries none.
"""

from __future__ import annotations

import gzip
import hashlib
import mailbox
import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

import feedparser  # type: ignore[import-untyped]
import pytest

from tests.conftest import SAMPLE_MBOX
from tests.live import LiveServer, clean_env, live_server
from tests.web.conftest import Archive, Fetched, build_inbox, fetch, mid_url

A = "{http://www.w3.org/2005/Atom}"
THR = "{http://purl.org/syndication/thread/1.0}"
UUID_RE = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")
_MID_RE = re.compile(rb"<([^<>\s]+)>")


def uuid_of(mid: str) -> str:
    h = hashlib.sha1(mid.encode("utf-8")).hexdigest()
    return f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _header(raw: bytes, name: str) -> bytes:
    """The unfolded value(s) of a header field, joined by a space."""
    head = raw.split(b"\n\n", 1)[0].replace(b"\r\n", b"\n")
    head = re.sub(rb"\n[ \t]+", b" ", head)
    vals = [ln.split(b":", 1)[1] for ln in head.split(b"\n") if ln.lower().startswith(name.lower().encode() + b":")]
    return b" ".join(vals)


@dataclass(frozen=True)
class Msg:
    mid: str
    parent: str | None  # last of References + In-Reply-To (de-duplicated)


def index_messages(raws: list[bytes]) -> dict[str, Msg]:
    out: dict[str, Msg] = {}
    for raw in raws:
        m = _MID_RE.search(_header(raw, "Message-ID"))
        if m is None:
            continue
        mid = m.group(1).decode()
        refs: list[str] = []
        for field in ("References", "In-Reply-To"):
            for r in _MID_RE.findall(_header(raw, field)):
                s = r.decode("utf-8", "replace")
                if s not in refs and s != mid:
                    refs.append(s)
        out.setdefault(mid, Msg(mid, refs[-1] if refs else None))
    return out


# ------------------------------------------------------------------ archives

SMALL = [
    (
        "root/slash+plus%pct@feeds.example",
        "Zo\u00eb \u00dcn\u00efcode <zoe@feeds.example>",
        "Gr\u00fc\u00dfe aus K\u00f6ln",
        [],
    ),
    (
        "reply1@feeds.example",
        "Bob <bob@feeds.example>",
        "Re: Gr\u00fc\u00dfe aus K\u00f6ln",
        ["root/slash+plus%pct@feeds.example"],
    ),
    (
        "reply2@feeds.example",
        "Carol <carol@feeds.example>",
        "Re: Gr\u00fc\u00dfe",
        ["root/slash+plus%pct@feeds.example", "reply1@feeds.example"],
    ),
    ("orphan@feeds.example", "Dave <dave@feeds.example>", "Re: lost parent", ["missing@feeds.example"]),
    ("plain@feeds.example", "bare@feeds.example", "feedword a & b < c", []),
]


def _small_raw(i: int, mid: str, frm: str, subject: str, refs: list[str]) -> bytes:
    from email.header import Header

    lines = [
        f"From: {frm if frm.isascii() else Header(frm.split(' <')[0], 'utf-8').encode() + ' <' + frm.split(' <')[1]}",
        "To: feeds@feeds.example",
        f"Subject: {subject if subject.isascii() else Header(subject, 'utf-8').encode()}",
        f"Date: Tue, 03 Jan 2023 {10 + i:02d}:00:00 +0100",
        f"Message-ID: <{mid}>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if refs:
        lines += ["References: " + " ".join(f"<{r}>" for r in refs), f"In-Reply-To: <{refs[-1]}>"]
    body = f"feedword body {i} \u00e9t\u00e9 <b>not bold</b> & more\n> quoted\n"
    return ("\n".join(lines) + "\n\n" + body).encode()


@dataclass
class Served:
    srv: LiveServer
    messages: dict[str, Msg]

    def get(self, path: str) -> Fetched:
        return fetch(self.srv.base + path)

    @property
    def bases(self) -> tuple[str, ...]:
        """Where entry links may point: the inbox on the requested host (as
        public-inbox does) or the inbox's configured ``url`` (as pubinbox
        does today; see test_links_use_the_requested_host)."""
        return (self.srv.base, f"http://127.0.0.1/{self.srv.inbox}/")

    def split(self, link: str) -> tuple[str, str]:
        """(base, escaped Message-ID) of an entry link ``BASE/MID/``."""
        for b in self.bases:
            if link.startswith(b) and link.endswith("/"):
                return b, link[len(b) : -1]
        raise AssertionError(f"{link} is not under {self.bases}")


@pytest.fixture(scope="module")
def sample(sample_archive: Archive) -> Iterator[Served]:
    box = mailbox.mbox(str(SAMPLE_MBOX), create=False)
    try:
        msgs = index_messages([box.get_bytes(k) for k in box.iterkeys()])
    finally:
        box.close()
    env = clean_env(sample_archive.config.parent / "server-home-feeds")
    with live_server(sample_archive.config, sample_archive.name, env=env) as s:
        yield Served(s, msgs)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("feeds-small")
    raws = [_small_raw(i, *m) for i, m in enumerate(SMALL)]
    files = []
    for i, raw in enumerate(raws):
        f = root / f"{i}.eml"
        f.write_bytes(raw)
        files.append(f)
    archive = build_inbox(root, "feeds", "feeds@feeds.example", *files)
    with live_server(archive.config, archive.name, env=clean_env(root / "server-home")) as s:
        yield Served(s, index_messages(raws))


# which feeds of which archive
SAMPLE_THREAD = "akpjd2Cgu-nlCkLR@debian"
FEEDS = {
    "sample-new": ("sample", "new.atom"),
    "sample-atom.xml": ("sample", "atom.xml"),
    "sample-thread": ("sample", f"{SAMPLE_THREAD}/t.atom"),
    "sample-search": ("sample", "?q=xarray&x=A"),
    "small-new": ("small", "new.atom"),
    "small-thread": ("small", mid_url("", SMALL[0][0]) + "t.atom"),
    "small-search": ("small", "?q=feedword&x=A"),
}


@pytest.fixture(params=list(FEEDS))
def feed(request: pytest.FixtureRequest) -> tuple[Served, str, Fetched]:
    which, path = FEEDS[request.param]
    served: Served = request.getfixturevalue(which)
    return served, path, served.get(path)


# ------------------------------------------------------------------ tests


def test_served_as_wellformed_atom(feed: tuple[Served, str, Fetched]) -> None:
    _served, _path, r = feed
    assert r.status == 200, f"GET {r.url}: {r.status}"
    assert r.media_type == "application/atom+xml", r.content_type
    assert r.body.isascii(), "feed is not 7-bit"
    assert r.body.startswith(b'<?xml version="1.0"'), r.body[:80]
    root = ET.fromstring(r.body)
    assert root.tag == f"{A}feed"
    assert root.find(f"{A}title") is not None and root.find(f"{A}id") is not None
    assert RFC3339.fullmatch(root.findtext(f"{A}updated") or ""), root.findtext(f"{A}updated")
    assert root.findall(f"{A}entry"), f"GET {r.url}: no entries"


def test_feedparser_reads_it(feed: tuple[Served, str, Fetched]) -> None:
    served, _path, r = feed
    d = feedparser.parse(r.body, response_headers={"content-type": r.content_type})
    assert d.bozo == 0, f"GET {r.url}: bozo {d.get('bozo_exception')!r}"
    assert d.version == "atom10", d.version
    assert d.feed.get("title")
    assert d.entries
    for e in d.entries:
        assert UUID_RE.fullmatch(e.id), e.id
        served.split(e.link)
        assert e.get("updated_parsed") is not None, e
        assert e.get("author"), f"entry {e.id} has no author name"
        assert e.get("title") is not None


def _entry_mid(served: Served, link: str) -> str:
    _base, seg = served.split(link)
    assert "/" not in seg, f"{link}: the Message-ID is not one path segment"
    return urllib.parse.unquote(seg)


def test_entries_ids_links_authors(feed: tuple[Served, str, Fetched]) -> None:
    served, _path, r = feed
    root = ET.fromstring(r.body)
    for entry in root.findall(f"{A}entry"):
        links = [ln.get("href", "") for ln in entry.findall(f"{A}link")]
        assert len(links) == 1, links
        mid = _entry_mid(served, links[0])
        assert mid in served.messages, f"{links[0]}: <{mid}> is not a message of the archive"
        base, _seg = served.split(links[0])
        assert links[0] == mid_url(base, mid) or urllib.parse.unquote(links[0]) == base + mid + "/"
        assert entry.findtext(f"{A}id") == uuid_of(mid), f"<{mid}>: id {entry.findtext(f'{A}id')}"
        assert RFC3339.fullmatch(entry.findtext(f"{A}updated") or ""), entry.findtext(f"{A}updated")
        assert (entry.findtext(f"{A}author/{A}name") or "").strip(), f"<{mid}>: no author name"
        assert entry.find(f"{A}title") is not None
        assert entry.find(f"{A}content") is not None


def test_replies_carry_thr_in_reply_to(feed: tuple[Served, str, Fetched]) -> None:
    served, _path, r = feed
    root = ET.fromstring(r.body)
    seen_reply = False
    for entry in root.findall(f"{A}entry"):
        mid = _entry_mid(served, entry.find(f"{A}link").get("href", ""))  # type: ignore[union-attr]
        parent = served.messages[mid].parent
        irt = entry.findall(f"{THR}in-reply-to")
        if parent is None:
            assert not irt, f"<{mid}> has no parent, yet thr:in-reply-to {[e.attrib for e in irt]}"
            continue
        seen_reply = True
        assert len(irt) == 1, f"<{mid}> replies to <{parent}>: thr:in-reply-to {[e.attrib for e in irt]}"
        assert irt[0].get("ref") == uuid_of(parent), (mid, parent, irt[0].attrib)
        href = irt[0].get("href", "")
        assert _entry_mid(served, href) == parent, (mid, parent, href)
    assert seen_reply, f"GET {r.url}: no reply among the entries"


# Feed links (entry link, thr:in-reply-to href, feed alternate/self) are
# built from the requested host, as public-inbox 1.9's Inbox::base_url does
# for web requests (the configured ``url`` is for non-web uses).


@pytest.mark.parametrize("which", ["sample", "small"])
def test_links_use_the_requested_host(request: pytest.FixtureRequest, which: str) -> None:
    served: Served = request.getfixturevalue(which)
    for path in ("new.atom", "?q=feedword+OR+xarray&x=A"):
        root = ET.fromstring(served.get(path).body)
        hrefs = [ln.get("href", "") for ln in root.iter(f"{A}link")]
        hrefs += [e.get("href", "") for e in root.iter(f"{THR}in-reply-to")]
        assert hrefs
        wrong = [h for h in hrefs if not h.startswith(served.srv.base)]
        assert not wrong, f"GET {served.srv.base}{path}: links not on {served.srv.base}: {wrong[:5]}"


def test_raw_xml_has_thr_namespace(small: Served) -> None:
    r = small.get("new.atom")
    assert b'xmlns:thr="http://purl.org/syndication/thread/1.0"' in r.body
    assert re.search(rb"<thr:in-reply-to ref=\"urn:uuid:[0-9a-f-]{36}\" href=\"[^\"]+/\"/>", r.body), r.body[:2000]


def test_thread_feed_is_the_thread(sample: Served) -> None:
    """t.atom holds exactly the messages of the thread's mbox."""
    mbox = gzip.decompress(sample.get(f"{SAMPLE_THREAD}/t.mbox.gz").body)
    want = {m.decode() for m in re.findall(rb"(?mi)^Message-ID:\s*<([^>]+)>", mbox)}
    root = ET.fromstring(sample.get(f"{SAMPLE_THREAD}/t.atom").body)
    got = {_entry_mid(sample, e.find(f"{A}link").get("href", "")) for e in root.findall(f"{A}entry")}  # type: ignore[union-attr]
    assert got == want
    assert len(got) >= 10


def test_new_atom_is_the_newest(sample: Served) -> None:
    d = feedparser.parse(sample.get("new.atom").body)
    assert len(d.entries) == 25  # feedmax


def test_search_feed_title_and_hits(sample: Served, small: Served) -> None:
    d = feedparser.parse(sample.get("?q=xarray&x=A").body)
    assert "xarray" in d.feed.title and "search results" in d.feed.title, d.feed.title
    d = feedparser.parse(small.get("?q=feedword&x=A").body)
    assert {_entry_mid(small, e.link) for e in d.entries} == {m[0] for m in SMALL}


def test_non_ascii_and_markup_survive(small: Served) -> None:
    d = feedparser.parse(small.get("new.atom").body)
    by_mid = {_entry_mid(small, e.link): e for e in d.entries}
    root = by_mid[SMALL[0][0]]
    assert root.author_detail.name == "Zo\u00eb \u00dcn\u00efcode", root.author_detail
    assert root.title == "Gr\u00fc\u00dfe aus K\u00f6ln", root.title
    plain = by_mid["plain@feeds.example"]
    assert plain.title == "feedword a & b < c", plain.title
    assert plain.author_detail.name  # a name-less From still names the author
    assert plain.author_detail.email == "bare@feeds.example"
    content = plain.content[0].value
    assert "&lt;b&gt;not bold&lt;/b&gt;" in content and "\u00e9t\u00e9" in content, content


@pytest.mark.parametrize("path", ["new.atom", "?q=feedword&x=A"])
def test_orphan_reply_points_at_missing_parent(small: Served, path: str) -> None:
    root = ET.fromstring(small.get(path).body)
    for entry in root.findall(f"{A}entry"):
        if entry.findtext(f"{A}id") == uuid_of("orphan@feeds.example"):
            irt = entry.find(f"{THR}in-reply-to")
            assert irt is not None and irt.get("ref") == uuid_of("missing@feeds.example")
            return
    raise AssertionError("orphan entry missing")
