"""Every message of linux-erofs through each real client (corpus tier).

One ``pubinbox serve --nntp --imap --pop3`` over the indexed epoch per
session (tests/interop/conftest.py); each client retrieves the whole list
(15,171 messages) and what it stored is compared byte for byte, as a
multiset, with the reference:

* NNTP (nntplib, suck, slrnpull): the server's ``ARTICLE`` (stored message,
  body unchanged, public-inbox-nntpd's Xref/Newsgroups/Path headers), with
  the line ends each client stores;
* IMAP (imapclient, mbsync) and POP3 (fetchmail): the stored message, with
  only what the client itself changes taken out (mbsync's ``X-TUID:``;
  fetchmail's ``Received:``, and ``Return-Path:``, which its BSMTP output
  turns into ``MAIL FROM``).

getmail6 (POP3) re-serialises every message through Python's email
package, so it is compared after taking out what that changes (folding,
blanks, ``>From``); it delivers over LMTP to this process.  imaplib and
poplib over the whole list are in test_corpus_protocols.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import uuid
import warnings
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import Envelope
from imapclient import IMAPClient

from tests.helpers import FETCHMAIL_RECEIVED, X_TUID, require_tool
from tests.interop.conftest import EROFS_GROUP, ErofsServed
from tests.live import free_port

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import nntplib

pytestmark = [pytest.mark.corpus, pytest.mark.slow]


def _lf(b: bytes) -> bytes:
    b = b.replace(b"\r\n", b"\n")
    return b if b.endswith(b"\n") else b + b"\n"


def _crlf(b: bytes) -> bytes:
    return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _digests(items: Iterable[bytes]) -> Counter[bytes]:
    return Counter(hashlib.sha256(b).digest() for b in items)


def _same(got: Counter[bytes], want: Counter[bytes]) -> None:
    """Equal multisets of messages, with a short account when they are not."""
    missing, extra = want - got, got - want
    assert not missing and not extra, (
        f"{sum(got.values())} stored, {sum(want.values())} expected: "
        f"{sum(missing.values())} missing, {sum(extra.values())} not expected"
    )


def _files(d: Path, pattern: str = "*") -> list[Path]:
    return [f for f in d.rglob(pattern) if f.is_file()]


# -- NNTP ----------------------------------------------------------------------
def test_nntplib_every_article(erofs_served: ErofsServed, erofs_articles: dict[int, bytes]) -> None:
    with nntplib.NNTP("127.0.0.1", erofs_served.nntp, timeout=120) as n:
        _resp, count, first, last, _name = n.group(EROFS_GROUP)
        assert (count, first, last) == (len(erofs_articles), min(erofs_articles), max(erofs_articles))
        differ = []
        for num, want in erofs_articles.items():
            _resp, info = n.article(num)
            if info.number != num or b"".join(ln + b"\r\n" for ln in info.lines) != want:
                differ.append(num)
    assert not differ, differ[:20]


def test_suck_every_article(erofs_served: ErofsServed, erofs_articles: dict[int, bytes], tmp_path: Path) -> None:
    """suck in multifile mode: XHDR Message-ID, then ARTICLE by Message-ID."""
    for sub in ("data", "msgs"):
        (tmp_path / sub).mkdir()
    (tmp_path / "data" / "sucknewsrc").write_text(f"{EROFS_GROUP} 0\n")
    cmd = [require_tool("suck"), "127.0.0.1", "-N", str(erofs_served.nntp), "-dd", "data", "-dt", "data", "-dm", "msgs",
           "-m", "-M", "-c", "-q"]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False, cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert (tmp_path / "data" / "sucknewsrc").read_text().split() == [EROFS_GROUP, str(max(erofs_articles))]
    _same(_digests(f.read_bytes() for f in _files(tmp_path / "msgs")), _digests(map(_lf, erofs_articles.values())))


def test_slrnpull_every_article(erofs_served: ErofsServed, erofs_articles: dict[int, bytes], tmp_path: Path) -> None:
    """slrnpull into its spool (one file per article number); a second run
    fetches nothing."""
    (tmp_path / "slrnpull.conf").write_text(f"default 0 0 0\n{EROFS_GROUP} 0 0 0\n")
    cmd = [require_tool("slrnpull"), "-d", str(tmp_path), "-h", f"127.0.0.1:{erofs_served.nntp}", "--no-post"]
    spool = tmp_path.joinpath("news", *EROFS_GROUP.split("."))
    for _ in range(2):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
        files = {int(f.name): f for f in spool.iterdir() if f.name.isdigit()}
        assert sorted(files) == sorted(erofs_articles)
    differ = [n for n, f in files.items() if f.read_bytes() != _lf(erofs_articles[n])]
    assert not differ, differ[:20]
    assert (tmp_path / "data" / "active").read_text().split()[:3] == [
        EROFS_GROUP, str(max(erofs_articles)), str(min(erofs_articles))]  # fmt: skip


# -- IMAP ----------------------------------------------------------------------
def test_imapclient_every_message(erofs_served: ErofsServed) -> None:
    box = f"{EROFS_GROUP}.0"
    with IMAPClient("127.0.0.1", port=erofs_served.imap, ssl=False, timeout=300) as c:
        c.login("anonymous", "anonymous")
        assert [name for _flags, _sep, name in c.list_folders(EROFS_GROUP)] == [EROFS_GROUP, box]
        info = c.select_folder(box, readonly=True)
        assert info[b"EXISTS"] == len(erofs_served.raws)
        uids = c.search("ALL")
        assert uids == sorted(erofs_served.raws)
        differ = []
        for i in range(0, len(uids), 1000):  # a UID list of 1,000 fits a command line
            chunk = uids[i : i + 1000]
            got = c.fetch(chunk, ["BODY.PEEK[]", "RFC822.SIZE"])
            assert sorted(got) == chunk
            for uid, item in got.items():
                body = item[b"BODY[]"]
                if body != _crlf(erofs_served.raws[uid]) or item[b"RFC822.SIZE"] != len(body):
                    differ.append(uid)
    assert not differ, differ[:20]


def test_mbsync_every_message(erofs_served: ErofsServed, tmp_path: Path) -> None:
    mail = tmp_path / "mail"
    mail.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(
        f"IMAPAccount pi\nHost 127.0.0.1\nPort {erofs_served.imap}\nUser anonymous\nPass anonymous\nSSLType None\n"
        "AuthMechs LOGIN\n\nIMAPStore pi-remote\nAccount pi\n\n"
        f"MaildirStore pi-local\nPath {mail}/\nInbox {mail}/INBOX\nSubFolders Verbatim\n\n"
        f"Channel pi\nFar :pi-remote:\nNear :pi-local:\nPatterns *\nSync Pull\nCreate Near\n"
    )
    env = dict(os.environ, HOME=str(tmp_path))
    p = subprocess.run(
        [require_tool("mbsync"), "-c", str(rc), "pi"], env=env, capture_output=True, timeout=900, check=False
    )
    assert p.returncode == 0, p.stderr.decode(errors="replace")[-3000:]
    box = mail.joinpath(*EROFS_GROUP.split("."), "0")
    files = [f for f in _files(box) if f.parent.name in ("cur", "new")]
    # mbsync adds its X-TUID: tracking header to what it stores
    got = _digests(_lf(X_TUID.sub(b"", f.read_bytes(), count=1)) for f in files)
    _same(got, _digests(map(_lf, erofs_served.raws.values())))


# -- POP3 ----------------------------------------------------------------------
_RETURN_PATH = re.compile(rb"^Return-Path:[^\n]*\n(?:[ \t][^\n]*\n)*", re.MULTILINE | re.IGNORECASE)


def _without_return_path(msg: bytes) -> bytes:
    head, sep, body = msg.partition(b"\n\n")
    return _RETURN_PATH.sub(b"", head + b"\n")[:-1] + sep + body


def test_fetchmail_every_message(erofs_served: ErofsServed, tmp_path: Path) -> None:
    """fetchmail writes what it retrieves as one BSMTP file (no process per
    message): records ``MAIL FROM``/``RCPT TO``/``DATA``, each message
    dot-stuffed up to a lone dot.  It moves ``Return-Path:`` into
    ``MAIL FROM`` and adds its ``Received:``; all else is as served."""
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        f'poll 127.0.0.1 service {erofs_served.pop3} protocol pop3 user "{uuid.uuid4()}@{EROFS_GROUP}" '
        'password "anonymous" sslproto "" keep fetchall\n'
    )
    rc.chmod(0o600)
    out = tmp_path / "out.bsmtp"
    env = dict(os.environ, HOME=str(tmp_path), FETCHMAILHOME=str(tmp_path))
    p = subprocess.run([require_tool("fetchmail"), "-f", str(rc), "--nosyslog", "-N", "--bsmtp", str(out)], env=env,
                       capture_output=True, timeout=900, check=False)  # fmt: skip
    assert p.returncode == 0, (p.stdout + p.stderr).decode(errors="replace")[-3000:]
    records = re.split(rb"(?m)^MAIL FROM:[^\n]*\nRCPT TO:[^\n]*\nDATA\n", out.read_bytes().replace(b"\r\n", b"\n"))
    assert records[0] == b"" and all(r.endswith(b"\n.\n") for r in records[1:])
    msgs = (re.sub(rb"(?m)^\.\.", b".", r[: -len(b".\n")]) for r in records[1:])
    got = _digests(_without_return_path(_lf(FETCHMAIL_RECEIVED.sub(b"", m, count=1))) for m in msgs)
    _same(got, _digests(_without_return_path(_lf(r)) for r in erofs_served.raws.values()))


class _Collect:
    """aiosmtpd handler: keeps each message as it came over LMTP."""

    def __init__(self) -> None:
        self.got: list[bytes] = []

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        assert envelope.original_content is not None
        self.got.append(envelope.original_content)
        return "250 2.0.0 OK"


class _LMTPController(Controller):
    def factory(self) -> LMTP:
        return LMTP(self.handler, enable_SMTPUTF8=True, data_size_limit=None)


def _reserialised(msg: bytes) -> bytes:
    """*msg* as far as getmail6 keeps it: it parses every message with
    Python's email package and writes it out again, which re-folds header
    fields (MIME part headers too), drops blanks at line ends, quotes body
    lines starting with ``From `` and puts a blank line after the end of a
    nested multipart.  Those differences (blank lines, runs of blanks,
    folding, ``>From``) are taken out of both sides."""
    head, sep, body = _lf(msg).partition(b"\n\n")
    head = re.sub(rb"(?m)^([!-9;-~]+): ?", rb"\1: ", head)
    msg = head + sep + re.sub(rb"(?m)^>From ", b"From ", body)
    msg = re.sub(rb"[ \t]+", b" ", re.sub(rb"[ \t]*\n[ \t]+", b" ", re.sub(rb"(?m)[ \t]+$", b"", msg)))
    return re.sub(rb"\n+", b"\n", msg)


def test_getmail_every_message(erofs_served: ErofsServed, tmp_path: Path) -> None:
    """getmail6 (POP3) delivering over LMTP to a collector in this process:
    its Maildir and mbox deliveries fork a child per message and race their
    own SIGCHLD handler (a hang every few hundred messages), LMTP does not
    fork.  getmail re-serialises each message (see :func:`_reserialised`)."""
    handler = _Collect()
    lmtp = _LMTPController(handler, hostname="127.0.0.1", port=free_port())
    lmtp.start()
    try:
        gm = tmp_path / "gm"
        gm.mkdir()
        (gm / "getmailrc").write_text(
            f"[retriever]\ntype = SimplePOP3Retriever\nserver = 127.0.0.1\nport = {erofs_served.pop3}\n"
            f"username = {uuid.uuid4()}@{EROFS_GROUP}\npassword = anonymous\n"
            f"[destination]\ntype = MDA_lmtp\nhost = 127.0.0.1\nport = {lmtp.port}\noverride = test@example.com\n"
            "[options]\nread_all = false\ndelete = false\ndelivered_to = false\nreceived = false\nverbose = 0\n"
        )
        p = subprocess.run([require_tool("getmail"), "--getmaildir", str(gm), "--rcfile", "getmailrc"], capture_output=True,
                           timeout=900, check=False, env=dict(os.environ, HOME=str(tmp_path)))  # fmt: skip
        assert p.returncode == 0, (p.stdout + p.stderr).decode(errors="replace")[-3000:]
    finally:
        lmtp.stop()
    assert len(handler.got) == len(erofs_served.raws)
    _same(_digests(map(_reserialised, handler.got)), _digests(map(_reserialised, erofs_served.raws.values())))
