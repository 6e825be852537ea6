"""A real newsreader-side client against ``pubinbox serve --nntp``: suck.

suck (Debian) pulls every article of the group in multifile mode (MODE
READER, XHDR Message-ID, ARTICLE by Message-ID); each file equals the
server's ARTICLE for that Message-ID (LF line ends, dots unstuffed), and
a second run, from the sucknewsrc it left, gets nothing new.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.nntp.conftest import GROUP, SampleGroup
from tests.nntp.servers import Client, pubinbox_nntp

pytestmark = pytest.mark.peer


def _suck(port: int, d: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("suck")
    if tool is None:
        pytest.fail("suck not on PATH: scripts/setup installs it (Debian package suck)", pytrace=False)
    cmd = [tool, "127.0.0.1", "-N", str(port), "-dd", str(d / "data"), "-dt", str(d / "data"), "-dm", str(d / "msgs"),
           "-m", "-M", "-c"]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, cwd=d)


def test_suck_gets_every_article(sample_group: SampleGroup, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "msgs").mkdir()
    (tmp_path / "data" / "sucknewsrc").write_text(f"{GROUP} 0\n")
    with pubinbox_nntp(sample_group.config) as srv:
        p = _suck(srv.port, tmp_path)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
        files = sorted((tmp_path / "msgs").iterdir())
        assert len(files) == 295
        with Client(srv.port) as c:
            assert c.cmd(f"GROUP {GROUP}").startswith(b"211 295 ")
            for f in files:
                data = f.read_bytes()
                m = re.search(rb"(?im)^message-id:[ \t]*(<[^>\r\n]+>)", data)
                assert m, f.name
                reply = c.cmd(b"ARTICLE " + m.group(1))
                assert reply.startswith(b"220 "), reply[:100]
                body = reply.split(b"\r\n", 1)[1][: -len(b".\r\n")]
                want = re.sub(rb"(?m)^\.\.", b".", body).replace(b"\r\n", b"\n")
                assert data == want, f.name
        assert (tmp_path / "data" / "sucknewsrc").read_text().split() == [GROUP, "295"]
        for f in files:
            f.unlink()
        p = _suck(srv.port, tmp_path)  # nothing new (suck's exit status 1 says so)
        assert p.returncode == 1 and "0 Articles to download" in p.stdout, p.stdout[-2000:] + p.stderr[-2000:]
        assert list((tmp_path / "msgs").iterdir()) == []
