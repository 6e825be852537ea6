"""``pubinbox serve --nntp`` with real clients: nntplib and raw sockets.

One server per module over the sample archive (295 messages); tests that
change the inbox or need other settings start their own.
"""

from __future__ import annotations

import datetime
import socket
import subprocess
import time
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from pubinbox.config import Env, load
from pubinbox.inbox import Inbox
from tests.helpers import make_msg, run_cli
from tests.live import isolated_environ
from tests.nntp.conftest import GROUP, SERVER, SampleGroup, make_group
from tests.nntp.servers import Client, Server, pubinbox_nntp

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import nntplib


@pytest.fixture(scope="module")
def server(sample_group: SampleGroup) -> Iterator[Server]:
    with pubinbox_nntp(sample_group.config) as s:
        yield s


def _raw_messages(g: SampleGroup) -> dict[int, bytes]:
    cfg = load(Env.from_os().config_path(str(g.config))).inbox("test")
    with Inbox.open(cfg) as box:
        return {r.num: box.raw(r) for r in box.over.iter_all()}


def test_nntplib_reads_every_message(server: Server, sample_group: SampleGroup) -> None:
    """nntplib: the group's counts, the overview, and every article's body
    equal to the stored message's (line by line, dots unstuffed)."""
    raws = _raw_messages(sample_group)
    with nntplib.NNTP("127.0.0.1", server.port, timeout=30) as n:
        caps = n.getcapabilities()
        assert "READER" in caps and "OVER" in caps and caps["COMPRESS"] == ["DEFLATE"]
        _resp, count, first, last, name = n.group(GROUP)
        assert (count, first, last, name) == (295, 1, 295, GROUP)
        _resp, overviews = n.over((1, 295))
        assert [num for num, _ in overviews] == list(range(1, 296))
        assert all(ov["xref"] == f"{SERVER} {GROUP}:{num}" for num, ov in overviews)
        for num, raw in raws.items():
            _resp, info = n.body(num)
            body = raw.split(b"\n\n", 1)[1] if b"\n\n" in raw else b""
            want = body.replace(b"\r\n", b"\n").split(b"\n")
            if want and want[-1] == b"":
                want.pop()
            assert info.lines == want, num
            _resp, info = n.article(f"<{overviews[num - 1][1]['message-id'][1:-1]}>")
            assert info.number == num
        _resp, groups = n.list()
        assert [(g.group, g.last, g.first) for g in groups] == [(GROUP, "295", "1")]
        _resp, ids = n.newnews(GROUP, datetime.datetime(2000, 1, 1))
        assert len(ids) == 295
        _resp, subjects = n.xhdr("subject", "1-3")
        assert [s[0] for s in subjects] == ["1", "2", "3"]
        assert n.date()[1].year >= 2024


def test_commands_and_errors(server: Server) -> None:
    with Client(server.port) as c:
        assert c.greeting == f"201 {SERVER} ready - post via email\r\n".encode()
        assert c.cmd("ARTICLE 1") == b"412 no newsgroup has been selected\r\n"
        assert c.cmd("NEXT") == b"412 no newsgroup has been selected\r\n"
        assert c.cmd(f"LISTGROUP {GROUP} 293-") == f"211 295 1 295 {GROUP} list of article numbers follows\r\n293\r\n294\r\n295\r\n.\r\n".encode()  # fmt: skip
        assert c.cmd("LAST").startswith(b"422 ")  # LISTGROUP put the current article on the first
        assert c.cmd("STAT 295").startswith(b"223 295 <")
        assert c.cmd("NEXT") == b"421 no next article in this group\r\n"
        assert c.cmd("LISTGROUP x 1-") == b"411 no such news group\r\n"
        assert c.cmd("OVER 1-99999999999999999999") == b"501 command syntax error\r\n"
        assert c.cmd("OVER -5") == b"501 command syntax error\r\n"
        assert c.cmd("NEWNEWS * 20251301 000000") == b"501 command syntax error\r\n"
        assert c.cmd("NEWGROUPS 20000101 000000 UTC") == b"501 command syntax error\r\n"
        assert c.cmd("LIST ACTIVE [") == b"501 command syntax error\r\n"
        assert c.cmd("XPATH nope") == b"501 command syntax error\r\n"
        assert c.cmd("COMPRESS GZIP").startswith(b"503 ")
        assert c.cmd("STARTTLS") == b"502 Command unavailable\r\n"  # no certificate configured
        assert c.cmd("") == b"500 command not recognized\r\n"
        assert c.cmd(b"\xff\xfe GROUP") == b"500 command not recognized\r\n"
        assert c.cmd("group " + GROUP) == f"211 295 1 295 {GROUP}\r\n".encode()  # verbs in any case
        assert c.cmd("QUIT") == b"205 closing connection - goodbye!\r\n"
        assert c.f.read() == b""


def test_long_lines_and_error_budget(server: Server) -> None:
    with Client(server.port) as c:
        assert c.cmd(b"GROUP " + b"x" * 5000) == b"500 command line too long\r\n"
        assert c.cmd(b"X" * 511) == b"500 command line too long\r\n"  # 511 + CRLF > 512
        assert c.cmd("DATE").startswith(b"111 ")  # still in step
        for _ in range(30):  # the budget: 30 in a row (DATE above started it afresh)
            assert c.cmd("FOO") == b"500 command not recognized\r\n"
        assert c.f.readline() == b"400 too many errors, closing\r\n"
        assert c.f.read() == b""


def test_missing_articles_are_no_errors(server: Server) -> None:
    """A newsreader walking a range with gaps (purged or spam-removed
    articles) gets 423 many times in a row: the connection stays."""
    with Client(server.port) as c:
        assert c.cmd("GROUP " + GROUP).startswith(b"211 ")
        for n in range(1000, 1100):
            assert c.cmd(f"ARTICLE {n}") == b"423 no such article number in this group\r\n"
            assert c.cmd(f"STAT <gone{n}@example.com>").startswith(b"430 ")
        assert c.cmd("STAT 1").startswith(b"223 1 ")


def test_pipelined_commands(server: Server) -> None:
    """Many commands in one write: answered in order, none lost."""
    with Client(server.port) as c:
        c.sock.sendall(f"GROUP {GROUP}\r\n".encode() + b"".join(b"STAT %d\r\n" % n for n in range(1, 201)))
        assert c.reply().startswith(b"211 ")
        for n in range(1, 201):
            assert c.reply().startswith(b"223 %d <" % n)


def test_compress_deflate(server: Server) -> None:
    """RFC 8054: after 206 both directions are one raw DEFLATE stream;
    the replies are the same bytes as uncompressed."""
    with Client(server.port) as plain:
        plain.cmd(f"GROUP {GROUP}")
        want = plain.cmd("OVER 1-") + plain.cmd("ARTICLE 7")
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"COMPRESS DEFLATE\r\n")
    assert f.readline() == b"206 Compression active\r\n"
    z, unz = zlib.compressobj(6, zlib.DEFLATED, -15), zlib.decompressobj(-15)
    s.sendall(
        z.compress(f"GROUP {GROUP}\r\nOVER 1-\r\nARTICLE 7\r\nCOMPRESS DEFLATE\r\n".encode())
        + z.flush(zlib.Z_SYNC_FLUSH)
    )
    got = b""
    end = b"502 compression already active\r\n"
    while not got.endswith(end):
        data = s.recv(65536)
        assert data, got[-300:]
        got += unz.decompress(data)
    assert got == f"211 295 1 295 {GROUP}\r\n".encode() + want + end
    s.close()


def test_client_that_never_reads(server: Server) -> None:
    """A client asking for the whole overview a thousand times without
    reading: the server stops producing once the socket buffers are full,
    and other clients are served meanwhile."""
    s = socket.create_connection(("127.0.0.1", server.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(f"GROUP {GROUP}\r\n".encode() + b"OVER 1-\r\n" * 1000)
    time.sleep(1.0)
    with Client(server.port) as c:
        assert c.cmd("DATE").startswith(b"111 ")
        c.cmd(f"GROUP {GROUP}")
        assert c.cmd("OVER 1-").count(b"\r\n") == 297
    s.close()


@pytest.fixture
def own_group(tmp_path: Path) -> Iterator[SampleGroup]:
    with isolated_environ(tmp_path / "home") as env:
        yield make_group(tmp_path, env, sources=())


def test_new_mail_without_restart(own_group: SampleGroup) -> None:
    """Mail delivered while a client is connected shows in GROUP, OVER and
    ARTICLE on the same connection."""
    g = own_group
    with pubinbox_nntp(g.config) as srv, Client(srv.port) as c:
        assert c.cmd(f"GROUP {GROUP}") == f"211 0 1 0 {GROUP}\r\n".encode()
        assert c.cmd("ARTICLE").startswith(b"420 ")
        for n in (1, 2):
            p = run_cli(
                "mda", "--no-precheck", stdin=make_msg(n), env=dict(g.env, ORIGINAL_RECIPIENT="test@example.com")
            )
            assert p.returncode == 0, p.stderr
        assert c.cmd(f"GROUP {GROUP}") == f"211 2 1 2 {GROUP}\r\n".encode()
        art = c.cmd("ARTICLE 2")
        assert art.startswith(b"220 2 <m2@example.com>") and b"\r\nbody of message 2\r\n.\r\n" in art
        assert c.cmd("XPATH <m1@example.com>") == f"223 {GROUP}/1\r\n".encode()


def test_idle_timeout(own_group: SampleGroup) -> None:
    g = own_group
    subprocess.run(["git", "config", "-f", str(g.config), "pubinbox.nntpIdleTimeout", "1"], check=True)
    with pubinbox_nntp(g.config) as srv, Client(srv.port) as c:
        assert c.cmd("DATE").startswith(b"111 ")
        c.sock.settimeout(20)
        assert c.f.read() == b""  # closed by the server


def test_serve_needs_no_http(own_group: SampleGroup) -> None:
    """--nntp alone listens for NNTP only; --http and --nntp together both."""
    from tests.live import free_port

    g = own_group
    web = free_port()
    with pubinbox_nntp(g.config, "--http", f"127.0.0.1:{web}") as srv:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{web}/test/_/text/help/", timeout=30) as r:
            assert r.status == 200
        with Client(srv.port) as c:
            assert c.cmd("LIST").endswith(f"{GROUP} 0 1 n\r\n.\r\n".encode())
    p = run_cli("--config", str(g.config), "serve", "--nntp", "imap://127.0.0.1:1", env=g.env)
    assert p.returncode != 0 and b"that is" in p.stderr or b"unknown protocol" in p.stderr
    p = run_cli("--config", str(g.config), "serve", "--nntp", "nntps://127.0.0.1:1", env=g.env)
    assert p.returncode != 0 and b"--cert" in p.stderr
