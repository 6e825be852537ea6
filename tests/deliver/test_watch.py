"""pubinbox watch on real Maildirs: a running daemon (inotify and polling),
watchheader routing, watchspam, restart without double imports, SIGHUP
reload, a Maildir that appears late, SIGTERM."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import PUBINBOX, epoch_log, git, make_msg, run_cli

WAIT = 60.0  # generous: the machine is shared; never an assertion on speed


def _maildir(p: Path) -> Path:
    for sub in ("new", "cur", "tmp"):
        (p / sub).mkdir(parents=True, exist_ok=True)
    return p


def _drop(md: Path, name: str, raw: bytes, *, sub: str = "new", flags: str = "") -> None:
    tmp = md / "tmp" / name
    tmp.write_bytes(raw)
    os.rename(tmp, md / sub / (name + (f":2,{flags}" if sub == "cur" else "")))


def _count(d: Path) -> int:
    if not (d / "msgmap.sqlite3").exists():
        return 0
    return int(sqlite3.connect(d / "msgmap.sqlite3").execute("SELECT COUNT(*) FROM msgmap").fetchone()[0])


def _until(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Setup:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.cfg = tmp / "config"
        self.env = dict(os.environ, PI_CONFIG=str(self.cfg), PI_EMERGENCY=str(tmp / "em"))
        self.procs: list[subprocess.Popen[bytes]] = []

    def inbox(self, name: str, *extra: str) -> Path:
        d = self.tmp / name
        args = ["init", "-L", "medium", *extra, name, str(d), f"http://x/{name}", f"{name}@example.com"]
        p = run_cli(*args, env=self.env)
        assert p.returncode == 0, p.stderr
        return d

    def config(self, key: str, value: str) -> None:
        subprocess.run(["git", "config", "-f", str(self.cfg), "--add", key, value], check=True)

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / "watch.log", "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen([*PUBINBOX, "watch", *args], env=self.env, stdout=log, stderr=log)
        log.close()
        self.procs.append(proc)
        return proc

    def log(self) -> str:
        return (self.tmp / "watch.log").read_text(errors="replace")

    def stop(self, proc: subprocess.Popen[bytes]) -> int:
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=WAIT)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    s = Setup(tmp_path)
    try:
        yield s
    finally:
        for p in s.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def _searchable(s: Setup, name: str, mid: str) -> bool:
    p = run_cli("q", "-I", name, f"m:{mid}", env=s.env)
    return mid in p.stdout.decode()


@pytest.mark.parametrize("mode", [[], ["--no-inotify", "--poll", "0.2"]], ids=["inotify", "poll"])
def test_daemon_stores_new_mail_and_searches_it(setup: Setup, mode: list[str]) -> None:
    md = _maildir(setup.tmp / "md")
    d = setup.inbox("a", "-c", f"watch=maildir:{md}")
    _drop(md, "1.a.host", make_msg(1, to="a@example.com"))  # there before the start: the rescan
    proc = setup.start(*mode)
    _until(lambda: _count(d) == 1, "the rescan")
    _drop(md, "2.a.host", make_msg(2, to="a@example.com", body="quixotic words\n"))
    _drop(md, "3.a.host", make_msg(3, to="a@example.com"), sub="cur", flags="S")
    _drop(md, "4.a.host", make_msg(4, to="a@example.com"), sub="cur", flags="DS")  # a draft: skipped
    _drop(md, "5.a.host", make_msg(5, to="a@example.com"), sub="cur", flags="ST")  # trashed: skipped
    _until(lambda: _searchable(setup, "a", "m2@example.com"), "m2 searchable")
    _until(lambda: _count(d) == 3, "m3")
    # moving a file new/ -> cur/ (a mail client reading it) is not a new message
    os.rename(md / "new" / "2.a.host", md / "cur" / "2.a.host:2,S")
    _drop(md, "6.a.host", make_msg(6, to="a@example.com"))
    _until(lambda: _count(d) == 4, "m6")
    assert setup.stop(proc) == 0
    assert len(epoch_log(d / "git" / "0.git")) == 4
    assert "added 4" in setup.log()
    assert sorted(os.listdir(md / "cur")) == ["2.a.host:2,S", "3.a.host:2,S", "4.a.host:2,DS", "5.a.host:2,ST"]


def test_restart_imports_nothing_twice_and_misses_nothing(setup: Setup) -> None:
    md = _maildir(setup.tmp / "md")
    d = setup.inbox("a", "-c", f"watch=maildir:{md}")
    for i in range(1, 6):
        _drop(md, f"{i}.a.host", make_msg(i, to="a@example.com"))
    p = run_cli("watch", "--once", env=setup.env)
    assert p.returncode == 0, p.stderr
    assert _count(d) == 5 and b"added 5" in p.stderr
    tip = epoch_log(d / "git" / "0.git")
    # nothing new: nothing done, not even a duplicate check
    p = run_cli("watch", "--once", env=setup.env)
    assert b"added 0, duplicates 0" in p.stderr and epoch_log(d / "git" / "0.git") == tip
    # removed by learn: a restart must not bring it back
    p = run_cli("learn", "rm", stdin=make_msg(2, to="a@example.com"), env=setup.env)
    assert p.returncode == 0 and _count(d) == 4
    # arrived while down
    _drop(md, "7.a.host", make_msg(7, to="a@example.com"))
    proc = setup.start()
    _until(lambda: _count(d) == 5, "m7")
    assert setup.stop(proc) == 0
    assert len(epoch_log(d / "git" / "0.git")) == 7  # 5 + the rm + m7
    # the state is lost: the writer's duplicate check still stores nothing twice
    (setup.tmp / "pubinbox-watch.sqlite3").unlink()
    p = run_cli("watch", "--once", env=setup.env)
    assert b"added 1, duplicates 5" in p.stderr  # m2, removed, comes back: as public-inbox-watch would


def test_watchheader_routes_a_shared_maildir(setup: Setup) -> None:
    md = _maildir(setup.tmp / "md")
    a = setup.inbox("a", "-c", f"watch=maildir:{md}", "-c", "watchheader=List-Id:<a.example.com>")
    b = setup.inbox("b", "-c", f"watch=maildir:{md}", "-c", "listid=b.example.com")
    for i, lid in enumerate(["<a.example.com>", "b list <B.example.com>", "<c.example.com>", "<a.example.com>"]):
        raw = make_msg(i, to="x@example.com").replace(b"\n\n", f"\nList-Id: {lid}\n\n".encode(), 1)
        _drop(md, f"{i}.h", raw)
    p = run_cli("watch", "--once", env=setup.env)
    assert p.returncode == 0, p.stderr
    assert (_count(a), _count(b)) == (2, 1)
    assert b"skipped 1" in p.stderr


def test_watchspam_removes_seen_messages_everywhere(setup: Setup) -> None:
    md, spam = _maildir(setup.tmp / "md"), _maildir(setup.tmp / "spam")
    a = setup.inbox("a", "-c", f"watch=maildir:{md}")
    b = setup.inbox("b", "-c", f"watch=maildir:{md}")
    setup.config("publicinboxwatch.watchspam", f"maildir:{spam}")
    junk = make_msg(1, to="a@example.com", subject="buy now")
    _drop(md, "1.x", junk)
    _drop(md, "2.x", make_msg(2, to="a@example.com"))
    proc = setup.start()
    _until(lambda: _count(a) == 2 and _count(b) == 2, "both inboxes")
    _drop(spam, "s1.x", junk)  # unread in new/: not yet
    _drop(spam, "s2.x", make_msg(2, to="a@example.com", body="not the archived one\n"), sub="cur", flags="S")
    time.sleep(1.0)
    assert (_count(a), _count(b)) == (2, 2)
    os.rename(spam / "new" / "s1.x", spam / "cur" / "s1.x:2,S")  # read and kept: spam
    _until(lambda: _count(a) == 1 and _count(b) == 1, "spam removal")
    assert setup.stop(proc) == 0
    for d in (a, b):
        assert git(d / "git" / "0.git", "log", "-1", "--format=%s").strip() == "spam"


def test_sighup_reloads_and_a_late_maildir_is_found(setup: Setup) -> None:
    d = setup.inbox("a")
    proc = setup.start()
    _until(lambda: "nothing to watch" in setup.log(), "the first config")
    md = setup.tmp / "late"
    setup.config("publicinbox.a.watch", f"maildir:{md}")
    proc.send_signal(signal.SIGHUP)
    _until(lambda: "not a readable Maildir" in setup.log(), "the reload")
    _maildir(md)
    _drop(md, "1.x", make_msg(1, to="a@example.com"))
    _until(lambda: _count(d) == 1, "the late Maildir")  # tried again every 10 s
    assert setup.stop(proc) == 0
    assert "Traceback" not in setup.log()


def test_odd_files_do_not_stop_it(setup: Setup) -> None:
    md = _maildir(setup.tmp / "md")
    d = setup.inbox("a", "-c", f"watch=maildir:{md}")
    (md / "new" / "adir").mkdir()  # not a file
    (md / "new" / ".hidden").write_bytes(make_msg(9))
    (md / "new" / "empty").write_bytes(b"")
    big = make_msg(1, to="a@example.com", body="x" * 100 + "\n" * 1 + ("y" * 999 + "\n") * 50_000)  # 50 MB
    _drop(md, "big", big)
    p = run_cli("watch", "--once", env=setup.env)
    assert p.returncode == 0, p.stderr
    assert b"Traceback" not in p.stderr
    assert _count(d) == 1


def test_sigterm_in_the_middle_of_a_batch(setup: Setup) -> None:
    """SIGTERM while a batch is being read: what was read is stored and
    recorded, the rest comes with the next run, nothing twice."""
    md = _maildir(setup.tmp / "md")
    d = setup.inbox("a", "-c", f"watch=maildir:{md}")
    n = 3000  # more than one batch (BATCH_MAX)
    for i in range(n):
        _drop(md, f"{i:04d}.x", make_msg(i, to="a@example.com"))
    proc = setup.start()
    _until(lambda: "added #1 " in setup.log(), "the writer busy with the first batch")
    assert setup.stop(proc) == 0
    first = _count(d)
    assert first == len(epoch_log(d / "git" / "0.git"))
    p = run_cli("watch", "--once", env=setup.env)
    assert p.returncode == 0, p.stderr
    assert f"added {n - first}, duplicates 0".encode() in p.stderr  # the state says exactly what was stored
    assert _count(d) == n == len(epoch_log(d / "git" / "0.git"))
