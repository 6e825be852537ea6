"""pubinbox's IMAP server against Debian's public-inbox-imapd 1.9 on one inbox.

Same mailbox names (LIST), the same EXISTS/UIDVALIDITY/UIDNEXT, the same
UIDs and message bytes (``UID FETCH 1:* BODY.PEEK[]``) and the same
BODYSTRUCTURE of every message, except the documented public-inbox
differences:

* BODYSTRUCTURE part sizes: public-inbox counts the stored bytes with LF
  line ends; RFC 3501 §7.4.2 wants the size of the body as sent, which is
  what ``BODY[n]`` returns (CRLF).  Compared without the size fields.
* body parameters come out in Perl hash order (random between runs);
  compared as sets.
* ``UID SEARCH SUBJECT`` needs public-inbox's Xapian index ("search not
  available for mailbox" at indexlevel basic) and matches whole words only;
  ours matches substrings (tests/imap).
"""

from __future__ import annotations

import imaplib
import re
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import SAMPLE_MBOX
from tests.live import free_port, isolated_environ
from tests.nntp.conftest import GROUP, make_group
from tests.nntp.servers import _run, pubinbox_serve

pytestmark = pytest.mark.peer
BOX = f"{GROUP}.0"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[imaplib.IMAP4, imaplib.IMAP4]]:
    tmp = tmp_path_factory.mktemp("imapdiff")
    with isolated_environ(tmp / "home") as env:
        g = make_group(tmp, env, sources=(SAMPLE_MBOX,))
        p = subprocess.run(["public-inbox-index", str(g.inboxdir)], env=g.env, capture_output=True, check=False)
        assert p.returncode == 0, p.stderr
        port = free_port()
        cmd = ["public-inbox-imapd", "-W0", "-l", f"imap://127.0.0.1:{port}"]
        with pubinbox_serve(g.config, "imap") as ours, _run(cmd, port, g.env, tmp / "pi-imapd.log", b"* OK"):
            a, b = imaplib.IMAP4("127.0.0.1", ours.port), imaplib.IMAP4("127.0.0.1", port)
            for m in (a, b):
                m.login("anonymous", "anonymous")
            try:
                yield a, b
            finally:
                for m in (a, b):
                    m.logout()


def _norm_bodystructure(item: bytes) -> object:
    # drop the size after the encoding; params as sets
    s = re.sub(rb'("[^"]*") [0-9]+ ', rb"\1 N ", item)

    def params(m: re.Match[bytes]) -> bytes:
        toks = re.findall(rb'"[^"]*"', m.group(0))
        pairs = sorted(zip(toks[::2], toks[1::2], strict=True))
        return b"(" + b" ".join(k + b" " + v for k, v in pairs) + b")"

    return re.sub(rb'\((?:"[^"]*" "[^"]*" ?)+\)', params, s)


def test_same_mailboxes_and_select(pair: tuple[imaplib.IMAP4, imaplib.IMAP4]) -> None:
    a, b = pair
    assert a.list() == b.list()
    for m in (a, b):
        m.select(BOX, readonly=True)
    for key in ("EXISTS", "UIDVALIDITY", "UIDNEXT"):
        assert a.untagged_responses.get(key) == b.untagged_responses.get(key), key
    assert a.status(BOX, "(MESSAGES UIDNEXT UIDVALIDITY)") == b.status(BOX, "(MESSAGES UIDNEXT UIDVALIDITY)")


def test_same_uids_and_bytes(pair: tuple[imaplib.IMAP4, imaplib.IMAP4]) -> None:
    a, b = pair
    got = []
    for m in (a, b):
        m.select(BOX, readonly=True)
        typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
        assert typ == "OK"
        got.append([(re.search(rb"UID ([0-9]+)", x[0]).group(1), x[1]) for x in data if isinstance(x, tuple)])
    assert len(got[0]) == 295
    assert got[0] == got[1]


def test_same_bodystructure(pair: tuple[imaplib.IMAP4, imaplib.IMAP4]) -> None:
    a, b = pair
    got = []
    for m in (a, b):
        m.select(BOX, readonly=True)
        typ, data = m.uid("FETCH", "1:*", "(BODYSTRUCTURE)")
        assert typ == "OK"
        got.append([_norm_bodystructure(x if isinstance(x, bytes) else x[0]) for x in data])
    assert len(got[0]) == 295
    diffs = [(x, y) for x, y in zip(got[0], got[1], strict=True) if x != y]
    assert not diffs, diffs[:3]
