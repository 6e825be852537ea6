"""``pubinbox serve --imap`` driven by imapclient (PyPI), over the sample archive.

imapclient parses every response itself (LIST, SELECT/EXAMINE, STATUS,
UID SEARCH, FETCH with ENVELOPE and BODYSTRUCTURE), so a malformed reply
fails here even where imaplib would pass it through.  Expectations come
from the stored messages, parsed with Python's email package: each
message's bytes, Message-ID, Subject, From and MIME structure.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import imaplib
import re
from collections.abc import Iterator
from email.message import Message

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from pubinbox.config import Env, load
from pubinbox.inbox import Inbox
from tests.nntp.conftest import GROUP, SampleGroup
from tests.nntp.servers import Server, pubinbox_serve

BOX = f"{GROUP}.0"


@pytest.fixture(scope="module")
def server(sample_group: SampleGroup) -> Iterator[Server]:
    with pubinbox_serve(sample_group.config, "imap") as s:
        yield s


@pytest.fixture(scope="module")
def raws(sample_group: SampleGroup) -> dict[int, bytes]:
    cfg = load(Env.from_os().config_path(str(sample_group.config))).inbox("test")
    with Inbox.open(cfg) as box:
        return {r.num: box.raw(r) for r in box.over.iter_all()}


@pytest.fixture
def client(server: Server) -> Iterator[IMAPClient]:
    c = IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=30)
    c.login("anonymous", "anonymous")
    try:
        yield c
    finally:
        c.logout()


def _crlf(b: bytes) -> bytes:
    return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def _unfold(v: str) -> bytes:
    """A header value as ENVELOPE gives it: each fold and the blanks after
    it one space (public-inbox-imapd's rule, which pubinbox follows)."""
    return re.sub(r"\r?\n[ \t]*", " ", v).encode("utf-8", "surrogateescape")


def test_list_select_examine_status(client: IMAPClient) -> None:
    caps = client.capabilities()
    assert b"IMAP4REV1" in caps and b"IDLE" in caps
    folders = client.list_folders()
    # a leading "inbox" shows as INBOX (RFC 3501 §5.1)
    assert [name for _f, _d, name in folders] == ["INBOX", "INBOX.test", "INBOX.test.erofs", "INBOX.test.erofs.0"]
    assert all(d == b"." for _f, d, _n in folders)
    assert b"\\HasNoChildren" in folders[-1][0] and b"\\HasChildren" in folders[0][0]
    st = client.folder_status(BOX, ["MESSAGES", "UIDNEXT", "UIDVALIDITY"])
    assert st[b"MESSAGES"] == 295 and st[b"UIDNEXT"] == 296 and st[b"UIDVALIDITY"] > 0
    info = client.select_folder(BOX, readonly=True)  # EXAMINE
    assert info[b"EXISTS"] == 295 and info[b"UIDNEXT"] == 296
    assert info[b"UIDVALIDITY"] == st[b"UIDVALIDITY"] and info[b"READ-ONLY"] == [b""]
    client.unselect_folder()
    with pytest.raises(IMAPClientError):
        client.select_folder(f"{GROUP}.1", readonly=True)  # no second slice


def test_select_is_read_only(server: Server) -> None:
    """SELECT answers [READ-ONLY], which imaplib (under imapclient) makes an
    error; its connection is of no more use after that."""
    c = IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=30)
    try:
        c.login("anonymous", "anonymous")
        with pytest.raises(imaplib.IMAP4.readonly, match="not writable"):
            c.select_folder(BOX)
    finally:
        c.shutdown()


def test_uid_search(client: IMAPClient, raws: dict[int, bytes]) -> None:
    client.select_folder(BOX, readonly=True)
    assert client.search("ALL") == sorted(raws)
    assert client.search(["UID", "290:*"]) == [290, 291, 292, 293, 294, 295]
    heads = {n: _parse(r) for n, r in raws.items()}

    def having(field: str, s: str) -> list[int]:
        return sorted(n for n, m in heads.items() if any(s.lower() in v.lower() for v in m.get_all(field, [])))

    for field, s in (("FROM", "hsiangkao@"), ("SUBJECT", "fsck.ero"), ("SUBJECT", "[PATCH v2")):
        want = having(field, s)
        assert want and len(want) < len(raws)  # a real sieve
        assert client.search([field, s]) == want, (field, s)
    not_want = sorted(set(raws) - set(having("SUBJECT", "erofs-utils")))
    assert client.search(["NOT", "SUBJECT", "erofs-utils"]) == not_want
    with pytest.raises(IMAPClientError):
        client.search(["FROB"])


def test_fetch_bodies_envelope_bodystructure(client: IMAPClient, raws: dict[int, bytes]) -> None:
    client.select_folder(BOX, readonly=True)
    uids = client.search("ALL")
    got = client.fetch(uids, ["BODY.PEEK[]", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE", "FLAGS"])
    assert sorted(got) == sorted(raws)
    multipart = 0
    for uid, item in got.items():
        raw, msg = _crlf(raws[uid]), _parse(raws[uid])
        assert item[b"BODY[]"] == raw, uid
        assert item[b"RFC822.SIZE"] == len(raw)
        assert item[b"FLAGS"] == ()
        env = item[b"ENVELOPE"]
        assert env.message_id == _unfold(msg["Message-ID"]).strip(), uid
        assert env.subject == _unfold(msg["Subject"]), uid
        _name, addr = email.utils.parseaddr(msg["From"])
        sender = env.from_[0]
        assert f"{sender.mailbox.decode()}@{sender.host.decode()}".lower() == addr.lower(), uid
        bs = item[b"BODYSTRUCTURE"]
        if msg.is_multipart():
            multipart += 1
            assert bs.is_multipart, uid
            parts, subtype = bs[0], bs[1]
            assert subtype.lower() == msg.get_content_subtype().encode()
            assert len(parts) == len(msg.get_payload()), uid
        else:
            assert not bs.is_multipart, uid
            assert (bs[0].lower(), bs[1].lower()) == (msg.get_content_maintype().encode(),
                                                      msg.get_content_subtype().encode()), uid  # fmt: skip
            assert bs[6] == len(raw.partition(b"\r\n\r\n")[2]), uid  # body size in octets
    assert 0 < multipart < len(raws)


def test_long_uid_list_is_an_error_not_a_hang(client: IMAPClient) -> None:
    """imapclient sends a UID list as it is given (1,2,3,...): past the
    server's 8,000-byte line it gets a tagged BAD at once (it waits for its
    tag), and the connection goes on."""
    client.select_folder(BOX, readonly=True)
    with pytest.raises(IMAPClientError, match="line too long"):
        client.fetch(list(range(1, 2001)), ["UID"])
    assert sorted(client.fetch(list(range(1, 1001)), ["UID"])) == list(range(1, 296))
