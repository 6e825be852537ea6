"""Corpus-tier fixtures shared by the interop tests (one per test session).

``erofs_served``: the real linux-erofs epoch (../shared/corpus) cloned,
indexed by ``pubinbox index -L basic`` as the newsgroup
``org.ozlabs.lists.linux-erofs``, and served by one ``pubinbox serve
--nntp --imap --pop3`` on 127.0.0.1 for the whole session; ``raws`` holds
every stored message by article number (what IMAP ``BODY[]`` and POP3
``RETR`` must send, line ends aside).

``erofs_articles``: every ``ARTICLE n`` of that server, exact bytes read with
a plain socket (dots unstuffed, CRLF), each checked to carry the stored
message's body unchanged: what an NNTP client must store.  Its headers are
public-inbox-nntpd's (Xref, Newsgroups, Path), which
test_corpus_protocols.py checks against public-inbox-nntpd itself.

Building both takes about 20 s; nothing is built unless a test asks.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pubinbox.config import Env, load
from pubinbox.inbox import Inbox
from tests.conftest import _corpus_dir
from tests.helpers import run_cli
from tests.live import free_port, isolated_environ
from tests.nntp.servers import Client, pubinbox_serve

EROFS_BUNDLE = "epochs/linux-erofs.lists.ozlabs.org.0.bundle"
EROFS_GROUP = "org.ozlabs.lists.linux-erofs"


@dataclass(frozen=True)
class ErofsServed:
    config: Path
    inboxdir: Path
    raws: dict[int, bytes]
    nntp: int
    imap: int
    pop3: int


def index_erofs(corpus: Path, inbox: Path, config: Path, env: dict[str, str]) -> None:
    """linux-erofs from the corpus as inbox "erofs" (newsgroup EROFS_GROUP,
    -L basic) in *config*, indexed by ``pubinbox index``."""
    (inbox / "git").mkdir(parents=True)
    subprocess.run(["git", "clone", "-q", "--mirror", str(corpus / EROFS_BUNDLE), str(inbox / "git" / "0.git")],
                   check=True)  # fmt: skip
    run_cli("init", "-L", "basic", "--ng", EROFS_GROUP, "erofs", str(inbox), "http://x/erofs",
            "linux-erofs@lists.ozlabs.org", env=env, check=True)  # fmt: skip
    subprocess.run(["git", "config", "-f", str(config), "publicinbox.nntpserver", "news.example"], check=True)
    run_cli("index", str(inbox), env=env, check=True, timeout=1200)


def _body(msg: bytes) -> bytes:
    """The body of a message with LF line ends (after the first blank line)."""
    msg = msg.replace(b"\r\n", b"\n")
    return msg.split(b"\n\n", 1)[1] if b"\n\n" in msg else b""


@pytest.fixture(scope="session")
def erofs_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErofsServed]:
    corpus = _corpus_dir()
    tmp = tmp_path_factory.mktemp("erofs-served")
    inbox, config = tmp / "erofs", tmp / "config"
    with contextlib.ExitStack() as stack:
        with isolated_environ(tmp / "home") as env:
            env = dict(env, PI_CONFIG=str(config))
            index_erofs(corpus, inbox, config, env)
            cfg = load(Env.from_os().config_path(str(config))).inbox("erofs")
            with Inbox.open(cfg) as box:
                raws = {r.num: box.raw(r) for r in box.over.iter_all()}
            assert len(raws) > 15000
            imap, pop3 = free_port(), free_port()
            srv = stack.enter_context(
                pubinbox_serve(config, "nntp", "--imap", f"127.0.0.1:{imap}", "--pop3", f"127.0.0.1:{pop3}")
            )
        yield ErofsServed(config, inbox, raws, srv.port, imap, pop3)


@pytest.fixture(scope="session")
def erofs_articles(erofs_served: ErofsServed) -> dict[int, bytes]:
    """``ARTICLE n`` of every message: dots unstuffed, CRLF line ends."""
    out: dict[int, bytes] = {}
    with Client(erofs_served.nntp, timeout=120) as c:
        assert c.cmd(f"GROUP {EROFS_GROUP}").startswith(f"211 {len(erofs_served.raws)} ".encode())
        for num, raw in erofs_served.raws.items():
            reply = c.cmd(f"ARTICLE {num}")
            assert reply.startswith(f"220 {num} ".encode()), reply[:200]
            art = re.sub(rb"(?m)^\.\.", b".", reply.split(b"\r\n", 1)[1][: -len(b".\r\n")])
            assert _body(art) == _body(raw), num
            out[num] = art
    return out
