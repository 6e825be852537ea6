"""``pubinbox serve --imap`` with Python's imaplib: read-only IMAP4rev1.

Mailboxes are 50K slices of each newsgroup (``inbox.test.erofs.0``) under
``INBOX``-style parents; UID = article number; every message fetched with
BODY.PEEK[] equal to the stored one (CRLF); SEARCH matches substrings
(public-inbox 1.9 only whole words); IDLE reports mail delivered meanwhile.
"""

from __future__ import annotations

import imaplib
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pubinbox.config import Env, load
from pubinbox.inbox import Inbox
from tests.helpers import make_msg, run_cli
from tests.live import isolated_environ
from tests.nntp.conftest import GROUP, SampleGroup, make_group
from tests.nntp.servers import Server, pubinbox_serve

BOX = f"{GROUP}.0"


@pytest.fixture(scope="module")
def server(sample_group: SampleGroup) -> Iterator[Server]:
    with pubinbox_serve(sample_group.config, "imap") as s:
        yield s


def _raws(g: SampleGroup) -> dict[int, bytes]:
    cfg = load(Env.from_os().config_path(str(g.config))).inbox("test")
    with Inbox.open(cfg) as box:
        return {r.num: box.raw(r) for r in box.over.iter_all()}


def _crlf(b: bytes) -> bytes:
    return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.fixture
def imap(server: Server) -> Iterator[imaplib.IMAP4]:
    m = imaplib.IMAP4("127.0.0.1", server.port, timeout=30)
    m.login("anonymous", "anonymous")
    try:
        yield m
    finally:
        try:
            m.logout()
        except (imaplib.IMAP4.error, OSError):
            m.shutdown()


def test_capabilities_and_mailboxes(imap: imaplib.IMAP4) -> None:
    assert "IDLE" in imap.capabilities and "AUTH=ANONYMOUS" in imap.capabilities  # the greeting's
    caps = imap.capability()[1][0].split()
    assert b"COMPRESS=DEFLATE" in caps and b"AUTH=ANONYMOUS" not in caps  # after login
    typ, lines = imap.list()
    assert typ == "OK"
    names = [ln.decode().rsplit(" ", 1)[1].strip('"') for ln in lines if ln]
    # a leading "inbox" shows as INBOX (RFC 3501 §5.1), as public-inbox-imapd does
    assert names == ["INBOX", "INBOX.test", "INBOX.test.erofs", "INBOX.test.erofs.0"]
    assert any(b"\\HasNoChildren" in ln and ln.endswith(b"INBOX.test.erofs.0") for ln in lines)
    typ, data = imap.status(BOX, "(MESSAGES UIDNEXT UIDVALIDITY)")
    assert typ == "OK" and re.search(rb"MESSAGES 295 UIDNEXT 296 UIDVALIDITY [1-9][0-9]*", data[0])
    assert imap.select("INBOX.test", readonly=True)[1] == [b"0"]  # a parent: selectable and empty
    assert imap.select("nope", readonly=True)[0] == "NO"
    assert imap.lsub()[1] == [None]


def test_every_message_byte_exact(imap: imaplib.IMAP4, sample_group: SampleGroup) -> None:
    raws = _raws(sample_group)
    typ, data = imap.select(BOX, readonly=True)
    assert typ == "OK" and data == [b"295"]
    typ, data = imap.uid("FETCH", "1:*", "(UID RFC822.SIZE BODY.PEEK[])")
    assert typ == "OK"
    got = {}
    for item in data:
        if isinstance(item, tuple):
            uid = int(re.search(rb"UID ([0-9]+)", item[0]).group(1))
            size = int(re.search(rb"RFC822.SIZE ([0-9]+)", item[0]).group(1))
            assert size == len(item[1])
            got[uid] = item[1]
    assert got == {n: _crlf(raw) for n, raw in raws.items()}


def test_sections_envelope_bodystructure(imap: imaplib.IMAP4, sample_group: SampleGroup) -> None:
    raw = _crlf(_raws(sample_group)[5])
    head, _, body = raw.partition(b"\r\n\r\n")
    imap.select(BOX, readonly=True)
    typ, data = imap.fetch("5", "(BODY.PEEK[HEADER] BODY.PEEK[TEXT] BODY.PEEK[]<10.20> FLAGS INTERNALDATE)")
    assert typ == "OK"
    parts = [x for x in data if isinstance(x, tuple)]
    assert parts[0][1] == head + b"\r\n\r\n"
    assert parts[1][1] == body
    assert parts[2][1] == raw[10:30] and b"BODY[]<10>" in parts[2][0]
    typ, data = imap.fetch("5", "(BODY.PEEK[HEADER.FIELDS (SUBJECT MESSAGE-ID)])")
    fields = data[0][1]
    assert fields.lower().startswith((b"subject:", b"message-id:")) and fields.endswith(b"\r\n\r\n")
    typ, data = imap.fetch("1:3", "(ENVELOPE BODYSTRUCTURE)")
    assert typ == "OK"
    flat = b" ".join(d if isinstance(d, bytes) else b" ".join(d) for d in data if d)
    assert flat.count(b"ENVELOPE (") == 3 and flat.count(b"BODYSTRUCTURE (") == 3


def test_search_substrings(imap: imaplib.IMAP4) -> None:
    imap.select(BOX, readonly=True)
    typ, data = imap.uid("SEARCH", "SUBJECT", "fsck.ero")  # a part of a word
    assert typ == "OK"
    uids = [int(x) for x in data[0].split()]
    assert 2 in uids
    typ, data = imap.search(None, "FROM", '"HSIANGKAO@"', "NOT", "SUBJECT", "erofs-utils")
    assert typ == "OK" and data[0]
    typ, data = imap.uid("SEARCH", "UID", "290:*")
    assert data[0].split() == [b"290", b"291", b"292", b"293", b"294", b"295"]
    with pytest.raises(imaplib.IMAP4.error, match="unknown search key"):
        imap.search(None, "BOGUS")


def test_read_only_and_errors(server: Server) -> None:
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    f = s.makefile("rb")
    assert f.readline().startswith(b"* OK [CAPABILITY IMAP4rev1")

    def cmd(line: bytes) -> bytes:
        s.sendall(line + b"\r\n")
        out = b""
        tag = line.split(b" ", 1)[0]
        while True:
            ln = f.readline()
            out += ln
            if not ln or ln.startswith(tag + b" ") or ln.startswith(b"* BAD") and tag == b"*":
                return out

    assert cmd(b"a SELECT x").endswith(b"a BAD SELECT not allowed now\r\n")
    assert cmd(b"a LOGIN u p").startswith(b"a OK")
    assert cmd(f"b SELECT {BOX}".encode()).endswith(b"b OK [READ-ONLY] SELECT completed\r\n")
    assert cmd(b"c STORE 1 +FLAGS (\\Seen)") == b"c NO [READ-ONLY] this archive is read-only\r\n"
    assert cmd(b"d FETCH 0 UID").startswith(b"d BAD")
    assert cmd(b"e FETCH 1:999 UID").startswith(b"e BAD")
    assert cmd(b"f FETCH 1 (BODY[HEADER.FIELDS])").startswith(b"f BAD")
    assert cmd(b"g UID FETCH 4294967296 UID").startswith(b"g BAD")
    assert cmd(b"h UID FETCH 99999 UID") == b"h OK UID FETCH completed\r\n"
    assert cmd(b"i SEARCH (((((((((((ALL)))))))))))").startswith(b"i BAD")
    assert cmd(b"j FROB").startswith(b"j BAD")
    assert cmd(b"k FETCH 1 BODY[9]") == b"* 1 FETCH (BODY[9] NIL)\r\nk OK FETCH completed\r\n"
    # an over-long command gets a BAD with its tag, which the client waits for
    assert cmd(b"k2 UID FETCH " + b",".join(b"%d" % i for i in range(1, 2000)) + b" UID") == b"k2 BAD line too long\r\n"
    s.sendall(b"l LOGIN {5}\r\n")
    assert f.readline() == b"+ go ahead\r\n"
    s.sendall(b"x" * 300 + b"\r\n" + b"X" * 9000 + b"\r\n")
    assert f.readline().startswith(b"l BAD")  # the literal ate the line; LOGIN now not allowed
    assert f.readline() == b"* BAD line too long\r\n"
    assert cmd(b"m LOGOUT").endswith(b"m OK LOGOUT completed\r\n")
    s.close()


@pytest.fixture
def own_group(tmp_path: Path) -> Iterator[SampleGroup]:
    with isolated_environ(tmp_path / "home") as env:
        yield make_group(tmp_path, env, sources=())


def test_idle_reports_new_mail(own_group: SampleGroup) -> None:
    g = own_group
    with pubinbox_serve(g.config, "imap") as srv:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        f = s.makefile("rb")
        f.readline()
        s.sendall(f"a LOGIN x y\r\nb SELECT {BOX}\r\nc IDLE\r\n".encode())
        lines = []
        while not (lines and lines[-1].startswith(b"+ ")):
            lines.append(f.readline())
        assert b"* 0 EXISTS\r\n" in lines
        p = run_cli("mda", "--no-precheck", stdin=make_msg(1), env=dict(g.env, ORIGINAL_RECIPIENT="test@example.com"))
        assert p.returncode == 0, p.stderr
        assert f.readline() == b"* 1 EXISTS\r\n"
        s.sendall(b"DONE\r\n")
        assert f.readline() == b"c OK IDLE terminated\r\n"
        s.sendall(b"d UID FETCH 1 (UID BODY.PEEK[TEXT])\r\n")
        assert f.readline() == b"* 1 FETCH (UID 1 BODY[TEXT] {19}\r\n"
        assert f.read(19) == b"body of message 1\r\n"
        s.close()
