"""Postfix's own ``lmtp`` client delivering to ``pubinbox serve --lmtp``.

A throwaway Postfix (Debian's postfix package) runs from a temporary
directory with its own config_directory, queue_directory and
data_directory, listening for SMTP on a loopback port; mail for ``x.org``
goes over LMTP to pubinbox, everything else (bounces) is discarded, and no
DNS is asked.  What Postfix's log says must match the archive: delivered
(two recipients in one LMTP transaction: one reply each), bounced for an
unknown address (550) and for HTML (554), deferred while the inbox is
locked (451) and delivered by Postfix's retry once it is free."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import smtplib
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import make_msg, run_cli
from tests.live import free_port, live_server

pytestmark = pytest.mark.peer

WAIT = 60.0


class Postfix:
    """A Postfix instance of its own, in a temporary directory."""

    def __init__(self, lmtp_port: int) -> None:
        exe = shutil.which("postfix") or "/usr/sbin/postfix"
        if not os.path.exists(exe):
            pytest.fail("postfix missing: install the Debian package postfix (scripts/setup does)")
        self.exe = exe
        # the postfix user must reach the data directory: not under pytest's 0700 tmp
        self.top = Path(tempfile.mkdtemp(prefix="pubinbox-postfix-"))
        self.top.chmod(0o755)
        self.etc, spool, data = self.top / "etc", self.top / "spool", self.top / "data"
        for d in (self.etc, spool, data):
            d.mkdir()
        shutil.chown(data, "postfix")
        self.log = self.top / "maillog"
        self.port = free_port()
        (self.etc / "main.cf").write_text(
            f"""compatibility_level = 3.6
queue_directory = {spool}
data_directory = {data}
maillog_file = {self.log}
maillog_file_prefixes = {self.top}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mta.pubinbox.test
mydomain = pubinbox.test
myorigin = pubinbox.test
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains = x.org
relayhost =
transport_maps = inline:{{ x.org=lmtp:inet:127.0.0.1:{lmtp_port}, sender.test=discard: }}
default_transport = error:no mail leaves this test
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
biff = no
smtputf8_enable = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
"""
        )
        services = [
            f"127.0.0.1:{self.port} inet n - n - - smtpd",
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "smtp unix - - n - - smtp",
            "relay unix - - n - - smtp",
            "lmtp unix - - n - - lmtp",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ]
        (self.etc / "master.cf").write_text("\n".join(services) + "\n")
        self._postfix("start")

    def _postfix(self, *args: str) -> None:
        p = subprocess.run(
            [self.exe, "-c", str(self.etc), *args], capture_output=True, text=True, timeout=60, check=False
        )
        if p.returncode != 0:
            pytest.fail(f"postfix {' '.join(args)} failed ({p.returncode}):\n{p.stderr}\n{self.maillog()}")

    def maillog(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def statuses(self, rcpt: str) -> list[tuple[str, str]]:
        """(status, reply) of each delivery attempt to *rcpt* in Postfix's log."""
        pat = re.compile(rf"to=<{re.escape(rcpt)}>, relay=.*?, status=(\w+) \((.*)\)$", re.MULTILINE)
        return [(m.group(1), m.group(2)) for m in pat.finditer(self.maillog())]

    def stop(self) -> None:
        subprocess.run([self.exe, "-c", str(self.etc), "stop"], capture_output=True, timeout=60, check=False)
        pid_file = self.top / "spool" / "pid" / "master.pid"
        deadline = time.monotonic() + 20
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.rmtree(self.top, ignore_errors=True)


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[tuple[Path, int, dict[str, str]]]:
    cfg = tmp_path / "config"
    env = {"PI_CONFIG": str(cfg), "PI_EMERGENCY": str(tmp_path / "em")}
    for name in ("a", "b"):
        run_cli(
            "init", "-L", "medium", name, str(tmp_path / name), f"http://x/{name}", f"{name}@x.org", env=env, check=True
        )
    for k, v in (("publicinboxmda.spamcheck", "none"), ("pubinbox.locktimeout", "1")):
        subprocess.run(["git", "config", "-f", str(cfg), k, v], check=True)
    port = free_port()
    with live_server(cfg, "a", kind="pubinbox", env={**os.environ, **env}, args=("--lmtp", f"127.0.0.1:{port}")):
        yield tmp_path, port, env


def _nums(d: Path) -> int:
    return int(sqlite3.connect(d / "msgmap.sqlite3").execute("SELECT COUNT(*) FROM msgmap").fetchone()[0])


def _until(pred: object) -> bool:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_postfix_lmtp_client(archive: tuple[Path, int, dict[str, str]]) -> None:
    tmp, lmtp_port, _env = archive
    pf = Postfix(lmtp_port)
    try:
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=60) as c:
            for i in range(1, 6):
                c.sendmail("s@sender.test", ["a@x.org"], make_msg(i, to="a@x.org"))
            # two recipients: one LMTP transaction, one reply per recipient
            c.sendmail("s@sender.test", ["a@x.org", "b@x.org"], make_msg(6, to="a@x.org, b@x.org"))
            c.sendmail("s@sender.test", ["nobody@x.org"], make_msg(7, to="nobody@x.org"))
            html = make_msg(8, to="a@x.org").replace(b"\n\n", b"\nContent-Type: text/html\n\n", 1)
            c.sendmail("s@sender.test", ["a@x.org"], html)
        assert _until(lambda: len(pf.statuses("a@x.org")) >= 7 and pf.statuses("nobody@x.org")), pf.maillog()
        a = pf.statuses("a@x.org")
        assert sorted(s for s, _ in a) == ["bounced"] + ["sent"] * 6, a
        assert any(s == "bounced" and "554" in r for s, r in a)
        assert all("250 2.0.0 <a@x.org> delivered" in r for s, r in a if s == "sent")
        assert [s for s, _ in pf.statuses("b@x.org")] == ["sent"]
        assert pf.statuses("nobody@x.org")[0][0] == "bounced" and "550" in pf.statuses("nobody@x.org")[0][1]
        assert _nums(tmp / "a") == 6 and _nums(tmp / "b") == 1

        # b's inbox locked by someone else past pubinbox.lockTimeout: 451, Postfix keeps
        # the message and delivers it on a retry once the lock is free
        with open(tmp / "b" / "inbox.lock", "rb+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with smtplib.SMTP("127.0.0.1", pf.port, timeout=60) as c:
                c.sendmail("s@sender.test", ["b@x.org"], make_msg(9, to="b@x.org"))
            assert _until(lambda: any(s == "deferred" for s, _ in pf.statuses("b@x.org"))), pf.maillog()
            assert _nums(tmp / "b") == 1
        assert _until(lambda: [s for s, _ in pf.statuses("b@x.org")].count("sent") == 2), pf.maillog()
        deferred = [r for s, r in pf.statuses("b@x.org") if s == "deferred"]
        assert deferred and "451" in deferred[0]
        assert _nums(tmp / "b") == 2
        assert "Name service" not in pf.maillog()  # no DNS was asked
    finally:
        pf.stop()
