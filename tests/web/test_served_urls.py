"""The web advertises the NNTP/IMAP/POP3 listeners ``pubinbox serve`` has.

public-inbox's pages name only the configured ``publicinbox.nntpserver``
(``imapserver``, ``pop3server``); pubinbox adds its own listeners: the
footer of every inbox page says newsgroups/folders exist, and
``_/text/mirror/`` (and ``_/text/config/raw``, the JSON API) give their URLs
with the scheme, address and port served -- and those URLs work with
nntplib, imaplib and poplib.  A listener on every address takes the host
the reader reached the web at; one on a loopback address is not shown to
readers elsewhere.
"""

from __future__ import annotations

import http.client
import imaplib
import json
import poplib
import re
import ssl
import subprocess
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pubinbox.net.listeners import Listener
from pubinbox.web.site import served_urls
from tests.live import free_port, isolated_environ
from tests.nntp.conftest import GROUP, SERVER, SampleGroup, make_group
from tests.nntp.servers import pubinbox_serve

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import nntplib


@dataclass
class Served:
    http: int
    ports: dict[str, int]
    crt: Path


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleGroup]:
    tmp = tmp_path_factory.mktemp("served")
    with isolated_environ(tmp / "home") as env:
        yield make_group(tmp, env)


@pytest.fixture(scope="module")
def served(group: SampleGroup) -> Iterator[Served]:
    d = group.config.parent
    crt, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True,
    )  # fmt: skip
    ports = {k: free_port() for k in ("http", "nntp", "nntps", "imap", "pop3")}
    extra = ["--http", f"127.0.0.1:{ports['http']}", "--nntp", f"nntps://127.0.0.1:{ports['nntps']}",
             "--imap", f"127.0.0.1:{ports['imap']}", "--pop3", f"0.0.0.0:{ports['pop3']}",
             "--cert", str(crt), "--key", str(key)]  # fmt: skip
    with pubinbox_serve(group.config, "nntp", *extra, port=ports["nntp"]):
        _get(ports["http"], "/test/_/text/help/")  # HTTP is up too
        yield Served(ports["http"], ports, crt)


def _get(port: int, path: str, host: str | None = None) -> str:
    deadline = time.monotonic() + 30
    while True:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            c.putrequest("GET", path, skip_host=True)
            c.putheader("Host", host or f"127.0.0.1:{port}")
            c.endheaders()
            r = c.getresponse()
            body = r.read().decode()
            assert r.status == 200, (r.status, body[:300])
            return body
        except ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        finally:
            c.close()


def test_mirror_page_lists_served_urls_that_work(served: Served) -> None:
    p = served.ports
    raw = _get(served.http, "/test/_/text/mirror/raw")
    # the configured server first (public-inbox's rule), then what serve listens on
    nntp = [
        f"nntp://{SERVER}/{GROUP}",
        f"nntp://127.0.0.1:{p['nntp']}/{GROUP}",
        f"nntps://127.0.0.1:{p['nntps']}/{GROUP}",
    ]
    assert "Newsgroups are available over NNTP:\n  " + "\n  ".join(nntp) + "\n" in raw
    imap = f"imap://;AUTH=ANONYMOUS@127.0.0.1:{p['imap']}/{GROUP}"
    assert f"IMAP subfolder(s) are available under:\n  {imap}\n" in raw
    assert f"POP3 access is available:\n  pop3://127.0.0.1:{p['pop3']}\n" in raw  # 0.0.0.0: the reader's host
    # each advertised URL reaches the newsgroup with a real client
    for u in nntp[1:]:
        url = urlsplit(u)
        assert url.hostname and url.port
        group = url.path.strip("/")
        if url.scheme == "nntps":
            ctx = ssl.create_default_context(cafile=str(served.crt))
            n: nntplib.NNTP = nntplib.NNTP_SSL(url.hostname, url.port, ssl_context=ctx, timeout=30)
        else:
            n = nntplib.NNTP(url.hostname, url.port, timeout=30)
        with n:
            assert n.group(group)[1] == 295
    m = re.fullmatch(r"imap://;AUTH=ANONYMOUS@([^/:]+):(\d+)/(.+)", imap)
    assert m
    with imaplib.IMAP4(m[1], int(m[2]), timeout=30) as im:
        im.login("anonymous", "x")
        assert im.list('""', f"{m[3]}.*")[1] != [None]  # its 50K-message folders
        typ, data = im.select(f"{m[3]}.0", readonly=True)
        assert typ == "OK" and data == [b"295"]
    pop = poplib.POP3("127.0.0.1", p["pop3"], timeout=30)
    try:
        pop.user(f"{uuid.uuid4()}@{GROUP}")
        pop.pass_("anonymous")
        assert pop.stat()[0] == 295
    finally:
        pop.quit()


def test_footer_and_config_raw(served: Served) -> None:
    p = served.ports
    page = _get(served.http, "/test/")
    assert "as well as URLs for read-only IMAP folder(s) and NNTP newsgroup(s)." in page
    conf = _get(served.http, "/test/_/text/config/raw")
    assert f"\timapmirror = imap://127.0.0.1:{p['imap']}/{GROUP}\n" in conf
    assert f"\tnntpmirror = nntps://127.0.0.1:{p['nntps']}/{GROUP}\n" in conf
    doc = json.loads(_get(served.http, "/api/v1/inboxes/test"))
    assert doc["pop3_urls"] == [f"pop3://127.0.0.1:{p['pop3']}"]
    assert f"nntp://127.0.0.1:{p['nntp']}/{GROUP}" in doc["nntp_urls"]


def test_reader_elsewhere_sees_no_loopback_listener(served: Served) -> None:
    """A reader who came by lore.example.org (a proxy) is not sent to
    127.0.0.1; the POP3 listener on every address is on that host."""
    p = served.ports
    raw = _get(served.http, "/test/_/text/mirror/raw", host="lore.example.org")
    assert "127.0.0.1" not in raw
    assert f"Newsgroup available over NNTP:\n  nntp://{SERVER}/{GROUP}\n" in raw
    assert "IMAP subfolder" not in raw
    assert f"POP3 access is available:\n  pop3://lore.example.org:{p['pop3']}\n" in raw


def test_served_urls_rules() -> None:
    lst = (
        Listener("nntp", "0.0.0.0", 119),
        Listener("nntp", "::", 563, tls=True),
        Listener("nntp", "2001:db8::1", 1119),
        Listener("imap", "192.0.2.7", 993, tls=True),
        Listener("pop3", "127.0.0.1", 110),
    )
    assert served_urls(lst, "nntp", "a.b", "news.example") == (
        "nntp://news.example/a.b",
        "nntps://news.example/a.b",
        "nntp://[2001:db8::1]:1119/a.b",
    )
    assert served_urls(lst, "imap", "a.b", "x") == ("imaps://192.0.2.7/a.b",)
    assert served_urls(lst, "pop3", "a.b", "x") == ()
    assert served_urls(lst, "pop3", "a.b", "localhost") == ("pop3://127.0.0.1",)
    assert served_urls(lst, "pop3", "a.b", "::1") == ("pop3://127.0.0.1",)
    assert served_urls(lst, "nntp", None, "x") == ()  # no newsgroup: none of the protocols serves it
