"""Real mail clients against ``pubinbox serve``: fetchmail (POP3) and mbsync (IMAP).

Every message of the sample retrieved, equal to the stored one (line ends
normalised; fetchmail's own Received: header removed).  fetchmail is the
strict RFC 1939 check: it sends ``LIST n`` and fails on public-inbox 1.9's
multi-line answer.  mbsync syncs the ``INBOX.test.erofs.0`` slice into a
Maildir; a second run changes nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pubinbox.config import Env, load
from pubinbox.inbox import Inbox
from tests.live import free_port
from tests.nntp.conftest import GROUP, SampleGroup
from tests.nntp.servers import Server, pubinbox_serve

pytestmark = pytest.mark.peer

_X_TUID = re.compile(rb"^X-TUID: [^\n]*\n", re.MULTILINE)
_FETCHMAIL_RECEIVED = re.compile(rb"^Received: from 127\.0\.0\.1 [^\n]*\n(?:[ \t][^\n]*\n)*", re.MULTILINE)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not on PATH: scripts/setup installs it (Debian package)", pytrace=False)
    return path


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
    fetchmail = _tool("fetchmail")
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
    assert "POP3> LIST" in log  # it checks each size with LIST n
    got = {_lf(_FETCHMAIL_RECEIVED.sub(b"", f.read_bytes(), count=1)) for f in out.iterdir()}
    assert len(list(out.iterdir())) == 295
    assert got == _want(sample_group)


def test_mbsync(servers: tuple[Server, int], sample_group: SampleGroup, tmp_path: Path) -> None:
    mbsync = _tool("mbsync")
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
    assert {_lf(_X_TUID.sub(b"", f.read_bytes(), count=1)) for f in files} == _want(sample_group)
    assert b"error" not in p.stderr.lower()
