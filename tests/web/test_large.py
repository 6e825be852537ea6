"""A thread larger than a page may show (1,100 messages), over a real
socket: thread pages stop at 1,000 messages and say so, the message page
still renders, and the mbox.gz has every message."""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

import pytest

from tests.helpers import make_msg, run_cli
from tests.live import live_server

N = 1100


@pytest.mark.slow
def test_big_thread(tmp_path: Path) -> None:
    import urllib.request

    cfg = tmp_path / "config"
    env = {"PI_CONFIG": str(cfg)}
    run_cli("init", "-L", "basic", "big", str(tmp_path / "big"), "http://x/big", "big@example.com", env=env, check=True)
    out = io.BytesIO()
    for i in range(N):
        refs = ["m0@example.com"] + ([f"m{i - 1}@example.com"] if i > 1 and i % 10 else []) if i else None
        date = f"Mon, 02 Jan 2023 {i // 60 % 24:02d}:{i % 60:02d}:00 +0000"
        msg = make_msg(i, mid=f"m{i}@example.com", subject="Re: big" if i else "big", refs=refs, date=date)
        out.write(b"From x Thu Jan  1 00:00:00 1970\n" + msg + b"\n")
    (tmp_path / "big.mbox").write_bytes(out.getvalue())
    run_cli("import", "big", str(tmp_path / "big.mbox"), env=env, check=True)
    with live_server(cfg, "big") as srv:
        for kind in ("T", "t"):
            with urllib.request.urlopen(f"{srv.base}m5@example.com/{kind}/", timeout=60) as r:
                assert r.status == 200
                page = r.read().decode("ascii")
            assert "only the first 1000 of 1100 messages are shown" in page
            assert page.count("permalink</a>") == 2 * 1000
            assert page.rstrip().endswith("</html>")
        with urllib.request.urlopen(f"{srv.base}m5@example.com/", timeout=60) as r:
            assert r.status == 200 and "[this message]" in r.read().decode()
        with urllib.request.urlopen(f"{srv.base}m5@example.com/t.mbox.gz", timeout=60) as r:
            data = gzip.decompress(r.read())
        assert len(re.findall(rb"(?m)^From mboxrd@z ", data)) == N
