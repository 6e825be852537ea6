"""lei 1.9 (Debian) remote queries against a live HTTP server.

``lei q --only URL`` runs ``curl -gSf -s -d '' 'URL?x=m[&t=1]&q=QUERY'`` (a
POST with an empty urlencoded body) and reads the answer as gzip members of
mboxrd; a 404 means "no results" (shared/CLIENTS.md §2).  The corpus is the
b4 one (tests/interop/b4_corpus.py), imported once with ``pubinbox import``
and served by one server for the module: ``pubinbox serve`` by default,
Debian's public-inbox-httpd with ``PUBINBOX_LIVE_SERVER=public-inbox`` (the
reference the tests were checked against; see tests/live.py).

lei runs with its own HOME and XDG_* directories, so its daemon has its own
socket; ``lei daemon-kill`` stops it at the end of the module, also when a
test fails (and a daemon still alive after that gets SIGKILL, by its pid).
Cloning (``public-inbox-clone``) is not tested here: git over HTTP comes later.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.interop import b4_corpus
from tests.interop.b4_corpus import V1_THREAD, V2_THREAD, Corpus
from tests.live import LiveServer, clean_env, isolated_environ, live_server

pytestmark = pytest.mark.peer  # lei is Debian's, with public-inbox


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    root = tmp_path_factory.mktemp("lei-corpus")
    with isolated_environ(root / "home"):
        yield b4_corpus.build(root / "c")


@pytest.fixture(scope="module")
def srv(corpus: Corpus) -> Iterator[LiveServer]:
    with live_server(corpus.config, corpus.inbox, env=clean_env(corpus.root / "server-home")) as s:
        yield s


@dataclass
class Lei:
    env: dict[str, str]
    srv: LiveServer
    out: Path

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["lei", *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.out
        )

    def q(self, name: str, *query: str, threads: bool = False) -> tuple[subprocess.CompletedProcess[str], Path]:
        """``lei q [-t] --only BASE -o mboxrd:OUT/name.mbox QUERY...``"""
        dest = self.out / f"{name}.mbox"
        args = ["q", *(["-t"] if threads else []), "--only", self.srv.base, "-o", f"mboxrd:{dest}", *query]
        return self.run(*args), dest


def _daemon_pid(env: dict[str, str]) -> int | None:
    p = subprocess.run(["lei", "daemon-pid"], env=env, capture_output=True, text=True, timeout=30, check=False)
    return int(p.stdout.strip()) if p.returncode == 0 and p.stdout.strip().isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not reaped yet) counts as gone
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


@pytest.fixture(scope="module")
def lei(tmp_path_factory: pytest.TempPathFactory, srv: LiveServer) -> Iterator[Lei]:
    if shutil.which("lei") is None:
        pytest.fail("lei not on PATH: install the Debian package lei", pytrace=False)
    t = tmp_path_factory.mktemp("lei")
    run = t / "run"
    run.mkdir(mode=0o700)
    env = clean_env(
        t / "h",
        XDG_RUNTIME_DIR=str(run),
        XDG_CONFIG_HOME=str(t / "c"),
        XDG_DATA_HOME=str(t / "d"),
        XDG_CACHE_HOME=str(t / "k"),
        XDG_STATE_HOME=str(t / "s"),
    )
    out = t / "out"
    out.mkdir()
    try:
        yield Lei(env, srv, out)
    finally:
        pid = _daemon_pid(env) if (run / "lei").exists() else None
        subprocess.run(["lei", "daemon-kill"], env=env, capture_output=True, timeout=30, check=False)
        if pid is not None:
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _read_mboxrd(path: Path) -> list[bytes]:
    """The messages of an mboxrd file, unescaped."""
    msgs: list[list[bytes]] = []
    for line in path.read_bytes().splitlines(keepends=True):
        if line.startswith(b"From "):
            msgs.append([])
            continue
        assert msgs, f"{path} does not start with a From line"
        msgs[-1].append(re.sub(rb"^>(>*From )", rb"\1", line))
    return [b"".join(m) for m in msgs]


def _mids(path: Path) -> list[str]:
    out = []
    for raw in _read_mboxrd(path):
        m = re.search(rb"^Message-ID:\s*<([^>]+)>", raw, re.MULTILINE | re.IGNORECASE)
        assert m, raw[:500]
        out.append(m.group(1).decode())
    return out


def _ok(lei: Lei, p: subprocess.CompletedProcess[str], written: int) -> None:
    log = f"{p.stderr}\n--- {lei.srv.kind} server stderr (end) ---\n{lei.srv.stderr()[-3000:]}"
    assert p.returncode == 0, f"lei exited {p.returncode}:\n{log}"
    assert f"# {written} written to " in p.stderr, log
    assert "\nE: " not in "\n" + p.stderr, log


def test_subject_terms(lei: Lei) -> None:
    # POST /test/?x=m&q=s%3Apart+s%3A2
    p, f = lei.q("subject", "s:part", "s:2")
    _ok(lei, p, 3)
    assert sorted(_mids(f)) == ["review-v1-2@example.org", "v1-2@example.org", "v2-2@example.org"]


def test_patchid(lei: Lei, corpus: Corpus) -> None:
    p, f = lei.q("patchid", f"patchid:{corpus.patch_ids['v1-2']}")
    _ok(lei, p, 2)
    assert sorted(_mids(f)) == ["v1-2@example.org", "v2-2@example.org"]


def test_patchid_threads(lei: Lei, corpus: Corpus) -> None:
    # -t: POST /test/?x=m&t=1&q=patchid%3A...: both whole threads
    p, f = lei.q("patchid-t", f"patchid:{corpus.patch_ids['v1-2']}", threads=True)
    _ok(lei, p, 9)
    mids = _mids(f)
    assert set(mids) == V1_THREAD | V2_THREAD and len(mids) == 9


def test_changed_patch_has_its_own_patchid(lei: Lei, corpus: Corpus) -> None:
    p, f = lei.q("patchid-v2-3", f"patchid:{corpus.patch_ids['v2-3']}")
    _ok(lei, p, 1)
    assert _mids(f) == ["v2-3@example.org"]


def test_from_and_date_range(lei: Lei) -> None:
    p, f = lei.q("from-bob", "f:bob@example.org")
    _ok(lei, p, 2)
    assert sorted(_mids(f)) == ["odd-reply@example.org", "review-v1-2@example.org"]
    p, f = lei.q("since-dec", "d:20251201..")
    _ok(lei, p, 4)
    assert set(_mids(f)) == V2_THREAD


def test_no_match(lei: Lei) -> None:
    # the server's 404 is "no results": exit 0, nothing written, no error
    p, f = lei.q("none", "s:nothingmatches")
    _ok(lei, p, 0)
    assert not f.exists() or f.read_bytes() == b""


def test_mboxrd_from_lines_round_trip(lei: Lei, corpus: Corpus) -> None:
    # body lines "From ..." / ">From ..." must be escaped by the server, or lei splits the message
    p, f = lei.q("escaping", "s:escaping", threads=True)
    _ok(lei, p, 2)
    msgs = {m: raw for m, raw in zip(_mids(f), _read_mboxrd(f), strict=True)}
    assert set(msgs) == {b4_corpus.ODD_MID, b4_corpus.ODD_REPLY_MID}
    sent = next(raw for mid, raw in b4_corpus.messages(corpus.repo, corpus.commits) if mid == b4_corpus.ODD_MID)
    got_body = msgs[b4_corpus.ODD_MID].split(b"\n\n", 1)[1]
    assert got_body.rstrip(b"\n") == sent.split(b"\n\n", 1)[1].rstrip(b"\n")
