"""Real mail clients against ``pubinbox serve``: fetchmail (POP3), mbsync (IMAP), getmail6 (both).

Every message of the sample retrieved, equal to the stored one (line ends
normalised; fetchmail's own Received: header removed).  fetchmail is the
strict RFC 1939 check: it sends ``LIST n`` and fails on public-inbox 1.9's
multi-line answer.  mbsync syncs the ``INBOX.test.erofs.0`` slice into a
Maildir; a second run changes nothing.  getmail6 (which refuses to
deliver as root: run as ``nobody`` in a directory of its own) retrieves the
POP3 mailbox and the IMAP slice into Maildirs; a second run gets nothing new.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pubinbox.config import Env, load
from pubinbox.inbox import Inbox
from tests.helpers import FETCHMAIL_RECEIVED, X_TUID, require_tool
from tests.live import free_port
from tests.nntp.conftest import GROUP, SampleGroup
from tests.nntp.servers import Server, pubinbox_serve

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def servers(sample_group: SampleGroup) -> Iterator[tuple[Server, int]]:
    imap = free_port()
    with pubinbox_serve(sample_group.config, "pop3", "--imap", f"127.0.0.1:{imap}") as s:
        yield s, imap


def _want(g: SampleGroup) -> set[bytes]:
    cfg = load(Env.from_os().config_path(str(g.config))).inbox("test")
    with Inbox.open(cfg) as box:
        return {_lf(box.raw(r)) for r in box.over.iter_all()}


def _lf(b: bytes) -> bytes:
    b = b.replace(b"\r\n", b"\n")
    return b if b.endswith(b"\n") else b + b"\n"


def test_fetchmail(servers: tuple[Server, int], sample_group: SampleGroup, tmp_path: Path) -> None:
    fetchmail = require_tool("fetchmail")
    out = tmp_path / "msgs"
    out.mkdir()
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        f'poll 127.0.0.1 service {servers[0].port} protocol pop3 user "{uuid.uuid4()}@{GROUP}" '
        f'password "anonymous" sslproto "" keep fetchall mda "cat > {out}/m.$$"\n'
    )
    rc.chmod(0o600)
    env = dict(os.environ, HOME=str(tmp_path), FETCHMAILHOME=str(tmp_path))
    p = subprocess.run([fetchmail, "-f", str(rc), "--nosyslog", "-N", "-v"], env=env, capture_output=True, timeout=300,
                       check=False)  # fmt: skip
    log = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    assert p.returncode == 0, log[-3000:]
    assert re.search(r"POP3> LIST \d+\n", log)  # it checks each size with LIST n
    assert re.search(r"POP3< \+OK \d+ \d+\n", log)  # one line (RFC 1939), unlike public-inbox 1.9
    got = {_lf(FETCHMAIL_RECEIVED.sub(b"", f.read_bytes(), count=1)) for f in out.iterdir()}
    assert len(list(out.iterdir())) == 295
    assert got == _want(sample_group)


def test_mbsync(servers: tuple[Server, int], sample_group: SampleGroup, tmp_path: Path) -> None:
    mbsync = require_tool("mbsync")
    mail = tmp_path / "mail"
    mail.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(
        f"IMAPAccount pi\nHost 127.0.0.1\nPort {servers[1]}\nUser anonymous\nPass anonymous\nSSLType None\n"
        "AuthMechs LOGIN\n\nIMAPStore pi-remote\nAccount pi\n\n"
        f"MaildirStore pi-local\nPath {mail}/\nInbox {mail}/INBOX\nSubFolders Verbatim\n\n"
        "Channel pi\nFar :pi-remote:\nNear :pi-local:\nPatterns *\nSync Pull\nCreate Near\n"
    )
    env = dict(os.environ, HOME=str(tmp_path))
    for _ in range(2):  # the second run finds nothing new
        p = subprocess.run([mbsync, "-c", str(rc), "pi"], env=env, capture_output=True, timeout=300, check=False)
        assert p.returncode == 0, p.stderr.decode(errors="replace")[-3000:]
        files = [
            f
            for f in (mail / "INBOX" / "test" / "erofs" / "0").rglob("*")
            if f.is_file() and f.parent.name in ("cur", "new")
        ]
        assert len(files) == 295
    # mbsync adds its X-TUID: tracking header to what it stores
    assert {_lf(X_TUID.sub(b"", f.read_bytes(), count=1)) for f in files} == _want(sample_group)
    assert b"error" not in p.stderr.lower()


@contextlib.contextmanager
def _getmail_home() -> Iterator[tuple[Path, list[str]]]:
    """A directory getmail6 can write to and the command prefix that runs
    it unprivileged (getmail6 will not deliver as root)."""
    # nobody must reach it: not under pytest's 0700 tree nor $TMPDIR
    d = Path(tempfile.mkdtemp(prefix="pubinbox-getmail-", dir="/tmp"))
    try:
        d.chmod(0o755)
        prefix: list[str] = []
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            prefix = [
                require_tool("setpriv"),
                f"--reuid={nobody.pw_uid}",
                f"--regid={nobody.pw_gid}",
                "--clear-groups",
                "--",
            ]
            for sub in ("gm", "Maildir", "Maildir/cur", "Maildir/new", "Maildir/tmp"):
                (d / sub).mkdir()
                os.chown(d / sub, nobody.pw_uid, nobody.pw_gid)
        else:
            for sub in ("gm", "Maildir", "Maildir/cur", "Maildir/new", "Maildir/tmp"):
                (d / sub).mkdir()
        yield d, prefix
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _getmail(retriever: str, home: Path, prefix: list[str]) -> list[Path]:
    rc = home / "gm" / "getmailrc"
    rc.write_text(
        f"[retriever]\n{retriever}\ntimeout = 10\n[destination]\ntype = Maildir\npath = {home}/Maildir/\n\n"
        "[options]\nread_all = false\ndelete = false\ndelivered_to = false\nreceived = false\nverbose = 0\n"
    )
    rc.chmod(0o644)
    getmail = require_tool("getmail")
    clean = first = 0
    for _ in range(8):
        p = subprocess.run([*prefix, getmail, "--getmaildir", str(home / "gm"), "--rcfile", "getmailrc"],
                           env=dict(os.environ, HOME=str(home)), capture_output=True, timeout=300, check=False)  # fmt: skip
        files = [f for f in (home / "Maildir").rglob("*") if f.is_file() and f.parent.name in ("cur", "new")]
        if p.returncode != 0:
            # getmail6's own race: the SIGCHLD of its delivery child can come
            # before it waits for it, and then it waits for the retriever's
            # timeout; the next run goes on (it may deliver again what the
            # failed run did not record as seen)
            assert re.fullmatch(rb"getmailrc: operation error \(waiting child pid \d+ timed out\)\n", p.stderr), (
                p.stdout + p.stderr
            ).decode(errors="replace")[-3000:]
            continue
        clean += 1
        if clean == 1:
            first = len(files)
        else:  # a second clean run retrieves nothing new
            assert len(files) == first
            break
    assert clean == 2
    assert len({f.read_bytes() for f in files}) == 295
    return files


def _unfolded(msg: bytes) -> bytes:
    """*msg* with its header unfolded and blanks collapsed: getmail6 stores
    what Python's email package re-serialises, which folds long header
    lines anew and puts a blank after each field's colon (the body is
    compared as is)."""
    head, sep, body = msg.partition(b"\n\n")
    head = re.sub(rb"[ \t]+", b" ", re.sub(rb"\n[ \t]+", b" ", head))
    return re.sub(rb"(?m)^([!-9;-~]+): ?", rb"\1: ", head) + sep + body


def test_getmail_pop3(servers: tuple[Server, int], sample_group: SampleGroup) -> None:
    with _getmail_home() as (home, prefix):
        files = _getmail(
            f"type = SimplePOP3Retriever\nserver = 127.0.0.1\nport = {servers[0].port}\n"
            f"username = {uuid.uuid4()}@{GROUP}\npassword = anonymous",
            home,
            prefix,
        )
        assert {_unfolded(_lf(f.read_bytes())) for f in files} == {_unfolded(m) for m in _want(sample_group)}


def test_getmail_imap(servers: tuple[Server, int], sample_group: SampleGroup) -> None:
    with _getmail_home() as (home, prefix):
        files = _getmail(
            f"type = SimpleIMAPRetriever\nserver = 127.0.0.1\nport = {servers[1]}\n"
            f"username = anonymous\npassword = anonymous\nrecord_mailbox = false\nmailboxes = ('{GROUP}.0',)",
            home,
            prefix,
        )
        assert {_unfolded(_lf(f.read_bytes())) for f in files} == {_unfolded(m) for m in _want(sample_group)}
