"""The README's first command: ``scripts/demo`` imports the sample archive and
serves it; the pages it serves are checked over a real socket."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_demo_imports_and_serves(tmp_path: Path) -> None:
    port = _free_port()
    env = dict(os.environ, PUBINBOX_DEMO_HTTP=f"127.0.0.1:{port}")
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(ROOT / "scripts" / "demo")], stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 240
        page = b""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/sample/", timeout=5) as r:
                    page = r.read()
                    break
            except OSError:
                time.sleep(0.5)
        assert page, log.read_text(errors="replace")
        assert b"linux-erofs" in page and b"/T/#" in page
        text = log.read_text(errors="replace")
        assert "messages: 295" in text and "Serving it on" in text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
