"""LMTP with inbox writers kept open (pubinbox.lmtp.writers): overlapping
deliveries over several connections all stored once, a 250 means the
message is in git even if the server is SIGKILLed right after, the lock is
given up when idle, when held long, and at shutdown, and new mail becomes
searchable without a restart."""

from __future__ import annotations

import fcntl
import os
import signal
import smtplib
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pubinbox.lmtp import writers
from pubinbox.store.lock import InboxLock
from tests.helpers import epoch_log, make_msg, run_cli
from tests.live import free_port, live_server
from tests.lmtp.test_lmtp import Server, _nums, _setup


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Server, Path, dict[str, str]]]:
    monkeypatch.setenv("PI_EMERGENCY", str(tmp_path / "em"))
    conf, env = _setup(tmp_path)
    srv = Server(conf)
    try:
        yield srv, tmp_path, env
    finally:
        srv.close()


def _lock_free(inbox: Path) -> bool:
    with open(inbox / "inbox.lock", "rb+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(f, fcntl.LOCK_UN)
        return True


def _found(env: dict[str, str], query: str) -> bool:
    p = run_cli("q", "-I", "a", query, env=env)
    return p.returncode == 0 and b"example.com" in p.stdout


def _wait(pred: object, limit: float = 30.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def _emergency(tmp: Path) -> list[str]:
    return sorted(p.name for sub in ("tmp", "new") for p in (tmp / "em" / sub).glob("*"))


def test_overlapping_connections_share_writer(served: tuple[Server, Path, dict[str, str]]) -> None:
    srv, tmp, env = served
    errors: list[BaseException] = []

    def client(k: int) -> None:
        try:
            with smtplib.LMTP("127.0.0.1", srv.port) as c:
                for i in range(15):
                    n = 100 * k + i
                    msg = make_msg(n, to="a@x.org, b@x.org", body=f"concurrentword{n}\n")
                    # one recipient per transaction: smtplib reads one reply after DATA
                    assert c.sendmail("s@x.org", ["a@x.org"], msg) == {}
                    assert c.sendmail("s@x.org", ["b@x.org"], msg) == {}
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors
    for name in ("a", "b"):
        assert _nums(tmp / name) == 60
        assert len(epoch_log(tmp / name / "git" / "0.git")) == 60
    # stored mail leaves no emergency copy; the writer lets go of the lock when idle
    assert _emergency(tmp) == []
    assert _wait(lambda: _lock_free(tmp / "a"))
    assert _wait(lambda: _found(env, "concurrentword314"))
    # a duplicate is not stored: its copy is kept in the emergency Maildir
    with smtplib.LMTP("127.0.0.1", srv.port) as c:
        assert c.sendmail("s@x.org", ["a@x.org"], make_msg(5, to="a@x.org, b@x.org", body="concurrentword5\n")) == {}
    assert _nums(tmp / "a") == 60 and len(_emergency(tmp)) == 1


def test_shutdown_closes_writers(served: tuple[Server, Path, dict[str, str]]) -> None:
    srv, tmp, env = served
    with smtplib.LMTP("127.0.0.1", srv.port) as c:
        for i in range(3):
            assert c.sendmail("s@x.org", ["a@x.org"], make_msg(i, to="a@x.org", body=f"closeword{i}\n")) == {}
    srv.close()  # at once: the writer is closed with the server, search committed
    assert _lock_free(tmp / "a")
    assert _found(env, "closeword2")
    assert len(epoch_log(tmp / "a" / "git" / "0.git")) == 3


def test_other_writer_gets_the_lock_while_mail_flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PI_EMERGENCY", str(tmp_path / "em"))
    monkeypatch.setattr(writers, "HOLD_SECONDS", 0.3)
    monkeypatch.setattr(writers, "IDLE_SECONDS", 60.0)  # only the hold limit lets go
    conf, _env = _setup(tmp_path)
    srv = Server(conf)
    stop = threading.Event()
    sent: list[int] = []
    errors: list[BaseException] = []

    def flow() -> None:
        try:
            with smtplib.LMTP("127.0.0.1", srv.port) as c:
                n = 0
                while not stop.is_set() and n < 2000:
                    n += 1
                    assert c.sendmail("s@x.org", ["a@x.org"], make_msg(n, to="a@x.org")) == {}
                    sent.append(n)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    t = threading.Thread(target=flow)
    t.start()
    try:
        assert _wait(lambda: len(sent) >= 3)
        lock = InboxLock(tmp_path / "a" / "inbox.lock", timeout=60)
        lock.acquire()  # another writer (mda, index, purge) waiting for the inbox
        at = len(sent)
        lock.release()
        assert _wait(lambda: len(sent) >= at + 3)  # and the flow goes on after it
    finally:
        stop.set()
        t.join(120)
        srv.close()
    assert not errors
    assert _nums(tmp_path / "a") == len(sent)


def test_acknowledged_mail_survives_sigkill(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    env = {"PI_CONFIG": str(cfg), "PI_EMERGENCY": str(tmp_path / "em")}
    run_cli("init", "-L", "medium", "a", str(tmp_path / "a"), "http://x/a", "a@x.org", env=env, check=True)
    subprocess.run(["git", "config", "-f", str(cfg), "publicinboxmda.spamcheck", "none"], check=True)
    port = free_port()
    acked = 0
    serve = live_server(cfg, "a", kind="pubinbox", env={**os.environ, **env}, args=("--lmtp", f"127.0.0.1:{port}"))
    with serve as srv, smtplib.LMTP("127.0.0.1", port) as c:
        for i in range(1, 21):
            assert c.sendmail("s@x.org", ["a@x.org"], make_msg(i, to="a@x.org", body=f"killword{i}\n")) == {}
            acked += 1
        # killed with the writer open: no chance to close anything
        os.killpg(srv.pid, signal.SIGKILL)
    assert acked == 20
    assert len(epoch_log(tmp_path / "a" / "git" / "0.git")) == 20  # every 250 is in git
    assert _nums(tmp_path / "a") == 20  # msgmap was committed with each checkpoint
    run_cli("index", str(tmp_path / "a"), env=env, check=True)
    assert _found(env, "killword20")  # the search index catches up from git
