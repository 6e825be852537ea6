"""Hostile input for the IMAP and POP3 servers: fuzzed parsers and sessions.

The IMAP argument parsers raise nothing but ``Bad`` (a tagged BAD) on any
input; a live IMAP session and a live POP3 session answer every fuzzed
line with a well-formed reply (never an internal error) and keep serving.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pubinbox.imap.commands import Bad, parse_date, parse_fetch_atts, parse_seqset, tokenize
from pubinbox.imap.message import body_section, bodystructure, envelope, parse
from pubinbox.pop3.mailbox import MailboxError, parse_user
from tests.nntp.conftest import GROUP, SampleGroup
from tests.nntp.servers import Server, pubinbox_serve

TOKENS = ["1", "1:*", "*", "2:4,7", "0", "4294967296", "(", ")", "UID", "BODY[]", "BODY.PEEK[HEADER.FIELDS (A B)]<0.10>",
          "BODY[1.2.MIME]", "BODY[", "ENVELOPE", "BODYSTRUCTURE", "ALL", "FAST", '"x"', "{3}", "SUBJECT", "NOT", "OR",
          "SINCE", "1-Jan-2020", "INBOX", GROUP + ".0", '""', "%", "(MESSAGES UIDNEXT)", "DEFLATE"]  # fmt: skip
VERBS = ["FETCH", "UID FETCH", "SEARCH", "UID SEARCH", "SELECT", "EXAMINE", "STATUS", "LIST", "LSUB", "NOOP", "CHECK",
         "CAPABILITY", "CLOSE", "STORE", "COPY", "FOO", "UID", "COMPRESS", "LOGIN", "AUTHENTICATE"]  # fmt: skip


@given(st.binary(max_size=300))
def test_tokenize_any_bytes(data: bytes) -> None:
    try:
        toks = tokenize(data)
    except Bad:
        return
    try:
        parse_fetch_atts(toks)
    except Bad:
        pass


@given(st.text(max_size=40), st.integers(0, 2**32))
def test_seqsets_and_dates(s: str, star: int) -> None:
    for fn in (lambda: parse_seqset(s, star), lambda: parse_date(s)):
        try:
            fn()
        except Bad:
            pass


@given(st.binary(max_size=2000), st.sampled_from(["", "1", "2", "1.1", "1.MIME", "HEADER", "TEXT", "2.HEADER"]))
def test_mime_any_bytes(data: bytes, section: str) -> None:
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    top = parse(data)
    assert bodystructure(top).startswith(b"(") and envelope(top).startswith(b"(")
    body_section(data, section, ())


@given(st.text(max_size=80))
def test_pop3_user_names(user: str) -> None:
    try:
        name = parse_user(user, {GROUP})
    except MailboxError:
        return
    assert len(name.uuid) == 32 and name.group == GROUP


@pytest.fixture(scope="module")
def servers(sample_group: SampleGroup) -> Iterator[tuple[Server, int]]:
    from tests.live import free_port

    pop = free_port()
    with pubinbox_serve(sample_group.config, "imap", "--pop3", f"127.0.0.1:{pop}") as s:
        yield s, pop


class _Imap:
    def __init__(self, port: int) -> None:
        self.port = port
        self._open()

    def _open(self) -> None:
        self.s = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        self.f = self.s.makefile("rb")
        assert self.f.readline().startswith(b"* OK")
        self.n = 0

    def send(self, line: bytes) -> None:
        self.n += 1
        tag = b"t%d" % self.n
        self.s.sendall(tag + b" " + line + b"\r\n")
        while True:
            ln = self.f.readline()
            if not ln:  # closed (error budget, LOGOUT): a new connection
                self.s.close()
                self._open()
                return
            assert not re.match(rb"\S+ NO \[SERVERBUG\]", ln), (line, ln)
            if ln.startswith(b"+ "):  # a literal we announced: send its bytes
                self.s.sendall(b"abc\r\n")
                continue
            m = re.search(rb"\{([0-9]+)\}\r\n\Z", ln)
            if m:
                self.f.read(int(m.group(1)))
                continue
            if ln.startswith((tag + b" ", b"* BAD")):
                assert re.match(rb"t[0-9]+ (OK|NO|BAD) |\* BAD ", ln), (line, ln)
                if ln.startswith(tag + b" "):
                    return


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_imap_session(servers: tuple[Server, int], data: st.DataObject) -> None:
    c = _Imap(servers[0].port)
    try:
        c.send(b"LOGIN a b")
        for _ in range(data.draw(st.integers(1, 8))):
            verb = data.draw(st.sampled_from(VERBS))
            args = data.draw(st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=10)), max_size=5))
            line = " ".join([verb, *args]).encode("utf-8", "surrogateescape")
            if b"\n" in line or b"\r" in line or b"{" in line:
                continue
            c.send(line)
        c.send(b"NOOP")
    finally:
        c.s.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(
    st.sampled_from(["CAPA", "STAT", "LIST", "LIST 1", "UIDL 2", "RETR 1", "TOP 1 0", "DELE 1", "RSET", "NOOP",
                     "USER 00000000-0000-0000-0000-000000000000@" + GROUP, "PASS anonymous", "APOP x y", "STLS"]),
    st.text(max_size=40)), max_size=10))  # fmt: skip
def test_fuzzed_pop3_session(servers: tuple[Server, int], lines: list[str]) -> None:
    s = socket.create_connection(("127.0.0.1", servers[1]), timeout=20)
    f = s.makefile("rb")
    try:
        assert f.readline().startswith(b"+OK")
        for line in lines:
            raw = line.encode("utf-8", "surrogateescape")
            if b"\n" in raw or b"\r" in raw:
                continue
            s.sendall(raw + b"\r\n")
            first = f.readline()
            if not first:
                return  # closed after the error budget
            assert first.startswith((b"+OK", b"-ERR")) and b"[SYS/TEMP] internal" not in first, (line, first)
            up = line.split(" ")[0].upper()
            multi = first.startswith(b"+OK") and (
                up in ("CAPA", "RETR", "TOP") or (up in ("LIST", "UIDL") and len(line.split(" ")) == 1)
            )
            while multi:
                ln = f.readline()
                assert ln, line
                if ln == b".\r\n":
                    break
        s.sendall(b"QUIT\r\n")
    finally:
        s.close()


def test_thousand_imap_and_pop3_connections_bounded_memory(servers: tuple[Server, int]) -> None:
    """500 IMAP and 500 POP3 connections, idle after their greeting: the
    worker stays within 32 MiB more (measured ~6 MiB) and each answers."""
    from tests.nntp.test_fuzz import _rss, _worker

    srv, pop = servers
    worker = _worker(srv.proc.pid)
    before = _rss(worker)
    socks = []
    try:
        for i in range(1000):
            socks.append(socket.create_connection(("127.0.0.1", srv.port if i % 2 else pop), timeout=30))
        for s in socks:
            assert s.recv(200)[:3] in (b"* O", b"+OK")
        for i, s in enumerate(socks[::50]):
            s.sendall(b"a NOOP\r\n" if s.getpeername()[1] == srv.port else b"NOOP\r\n")
            assert s.recv(200)[:1] in (b"a", b"-", b"+")
        growth = _rss(worker) - before
        print(f"1,000 idle IMAP/POP3 connections: worker RSS +{growth >> 10} KiB")
        assert growth < 32 << 20
    finally:
        for s in socks:
            s.close()
