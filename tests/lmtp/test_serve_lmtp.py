"""pubinbox serve --lmtp: a real server (supervisor, worker) takes mail over
LMTP from smtplib, and the web archive shows it at once (and /_/health)."""

from __future__ import annotations

import json
import smtplib
import subprocess
import urllib.request
from pathlib import Path

from tests.helpers import make_msg, run_cli
from tests.live import free_port, live_server


def test_serve_lmtp_end_to_end(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    env = {"PI_CONFIG": str(cfg)}
    run_cli("init", "-L", "medium", "a", str(tmp_path / "a"), "http://x/a", "a@x.org", env=env, check=True)
    subprocess.run(["git", "config", "-f", str(cfg), "publicinboxmda.spamcheck", "none"], check=True)
    port = free_port()
    with live_server(cfg, "a", kind="pubinbox", args=("--lmtp", f"127.0.0.1:{port}")) as srv:
        with smtplib.LMTP("127.0.0.1", port) as c:
            for i in range(1, 6):
                assert c.sendmail("s@x.org", ["a@x.org"], make_msg(i, to="a@x.org", body=f"lmtpword{i}\n")) == {}
        with urllib.request.urlopen(f"{srv.base}m3@example.com/raw", timeout=30) as r:
            assert b"lmtpword3" in r.read()
        with urllib.request.urlopen(f"{srv.origin}/_/health", timeout=30) as r:
            assert json.loads(r.read())["inboxes"] == 1
