"""TLS for the mail protocols: STARTTLS/STLS and implicit-TLS listeners.

A self-signed certificate for 127.0.0.1 is made in the test with ``openssl
req``; clients verify it (it is their only CA).  nntps:// and pop3s://
speak TLS from the first byte; on plain listeners STARTTLS (NNTP, RFC
4642) and STLS (POP3, RFC 2595) upgrade, and are offered only before the
upgrade.
"""

from __future__ import annotations

import imaplib
import poplib
import re
import socket
import ssl
import subprocess
import uuid
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import free_port
from tests.nntp.conftest import GROUP, SampleGroup
from tests.nntp.servers import pubinbox_serve

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import nntplib


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True,
    )  # fmt: skip
    return crt, key


def _client_ctx(crt: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(crt))
    return ctx


@pytest.fixture(scope="module")
def servers(sample_group: SampleGroup, cert: tuple[Path, Path]) -> Iterator[dict[str, int]]:
    """One ``pubinbox serve`` with nntp, nntps, pop3 and pop3s listeners."""
    crt, key = cert
    ports = {k: free_port() for k in ("nntp", "nntps", "pop3", "pop3s", "imap", "imaps")}
    tls = ["--cert", str(crt), "--key", str(key)]
    extra = ["--nntp", f"nntps://127.0.0.1:{ports['nntps']}", "--pop3", f"127.0.0.1:{ports['pop3']}",
             "--pop3", f"pop3s://127.0.0.1:{ports['pop3s']}", "--imap", f"127.0.0.1:{ports['imap']}",
             "--imap", f"imaps://127.0.0.1:{ports['imaps']}", *tls]  # fmt: skip
    with pubinbox_serve(sample_group.config, "nntp", *extra, port=ports["nntp"]):
        yield ports


def test_nntp_starttls(servers: dict[str, int], cert: tuple[Path, Path]) -> None:
    with nntplib.NNTP("127.0.0.1", servers["nntp"], timeout=30) as n:
        assert "STARTTLS" in n.getcapabilities()
        n.starttls(_client_ctx(cert[0]))
        assert "STARTTLS" not in n.getcapabilities()
        assert n.group(GROUP)[1] == 295
        assert n.body(3)[1].number == 3


def test_nntps(servers: dict[str, int], cert: tuple[Path, Path]) -> None:
    with nntplib.NNTP_SSL("127.0.0.1", servers["nntps"], ssl_context=_client_ctx(cert[0]), timeout=30) as n:
        assert "STARTTLS" not in n.getcapabilities()
        assert n.group(GROUP)[1] == 295
        assert n.article(295)[1].number == 295


def test_nntps_refuses_plain_text(servers: dict[str, int]) -> None:
    with socket.create_connection(("127.0.0.1", servers["nntps"]), timeout=30) as s:
        s.sendall(b"CAPABILITIES\r\n")
        assert not s.recv(100).startswith(b"101")


def test_pop3_stls(servers: dict[str, int], cert: tuple[Path, Path]) -> None:
    p = poplib.POP3("127.0.0.1", servers["pop3"], timeout=30)
    try:
        assert "STLS" in p.capa()
        p.stls(_client_ctx(cert[0]))
        assert "STLS" not in p.capa()
        p.user(f"{uuid.uuid4()}@{GROUP}")
        p.pass_("anonymous")
        assert p.stat()[0] == 295
    finally:
        p.quit()


def test_pop3s(servers: dict[str, int], cert: tuple[Path, Path]) -> None:
    p = poplib.POP3_SSL("127.0.0.1", servers["pop3s"], context=_client_ctx(cert[0]), timeout=30)
    try:
        p.user(f"{uuid.uuid4()}@{GROUP}")
        p.pass_("anonymous")
        assert p.retr(1)[0].startswith(b"+OK")
    finally:
        p.quit()


def test_a_broken_handshake_harms_nobody(servers: dict[str, int], cert: tuple[Path, Path]) -> None:
    with socket.create_connection(("127.0.0.1", servers["nntp"]), timeout=30) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"STARTTLS\r\n")
        assert f.readline().startswith(b"382")
        s.sendall(b"this is not a TLS client hello\r\n" * 10)
        while s.recv(4096):  # a TLS alert maybe, then the server closes it
            pass
    with nntplib.NNTP_SSL("127.0.0.1", servers["nntps"], ssl_context=_client_ctx(cert[0]), timeout=30) as n:
        assert n.group(GROUP)[1] == 295


def test_bad_certificate_fails_at_start(sample_group: SampleGroup, tmp_path: Path) -> None:
    """A key that does not load: the workers cannot start and serve says so."""
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    port = free_port()
    from tests.live import PUBINBOX_BIN

    cmd = [str(PUBINBOX_BIN), "--config", str(sample_group.config), "serve", "--nntp", f"nntps://127.0.0.1:{port}",
           "--cert", str(bad)]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
    assert p.returncode != 0
    assert b"cannot start" in p.stderr


def test_imap_starttls(servers: dict[str, int], cert: tuple[Path, Path]) -> None:
    m = imaplib.IMAP4("127.0.0.1", servers["imap"], timeout=30)
    assert "STARTTLS" in m.capabilities
    m.starttls(_client_ctx(cert[0]))
    m.login("anonymous", "anonymous")
    assert m.select(f"{GROUP}.0", readonly=True) == ("OK", [b"295"])
    m.logout()


def test_imaps_and_compress(servers: dict[str, int], cert: tuple[Path, Path]) -> None:
    """imaps://, then COMPRESS=DEFLATE inside TLS (RFC 4978): a raw
    session reads a message through both layers."""
    ctx = _client_ctx(cert[0])
    raw = ctx.wrap_socket(
        socket.create_connection(("127.0.0.1", servers["imaps"]), timeout=30), server_hostname="127.0.0.1"
    )
    f = raw.makefile("rb")
    assert f.readline().startswith(b"* OK [CAPABILITY IMAP4rev1")
    raw.sendall(b"a LOGIN x y\r\nb COMPRESS DEFLATE\r\n")
    assert f.readline().startswith(b"a OK")
    assert f.readline() == b"b OK DEFLATE active\r\n"
    z, unz = zlib.compressobj(6, zlib.DEFLATED, -15), zlib.decompressobj(-15)
    raw.sendall(
        z.compress(f"c EXAMINE {GROUP}.0\r\nd UID FETCH 7 (UID RFC822.SIZE)\r\ne LOGOUT\r\n".encode())
        + z.flush(zlib.Z_SYNC_FLUSH)
    )
    got = b""
    while b"e OK LOGOUT" not in got:
        data = raw.recv(65536)
        assert data, got
        got += unz.decompress(data)
    assert b"* 295 EXISTS\r\n" in got and re.search(rb"\* 7 FETCH \(UID 7 RFC822.SIZE [0-9]+\)\r\nd OK", got)
    raw.close()
