"""Real newsreader-side clients against ``pubinbox serve --nntp``: suck and slrnpull.

suck (Debian) pulls every article of the group in multifile mode (MODE
READER, XHDR Message-ID, ARTICLE by Message-ID); each file equals the
server's ARTICLE for that Message-ID (LF line ends, dots unstuffed), and
a second run, from the sucknewsrc it left, gets nothing new.

slrnpull (Debian, slrn's offline puller) spools the group one file per
article number; each file equals ``ARTICLE n`` the same way, and a later
run fetches only the message delivered meanwhile.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import make_msg, run_cli
from tests.live import isolated_environ
from tests.nntp.conftest import GROUP, SampleGroup, make_group
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


def _slrnpull(port: int, root: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("slrnpull")
    if tool is None:
        pytest.fail("slrnpull not on PATH: scripts/setup installs it (Debian package slrnpull)", pytrace=False)
    cmd = [tool, "-d", str(root), "-h", f"127.0.0.1:{port}", "--no-post"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def own_group(tmp_path: Path) -> Iterator[SampleGroup]:
    """The sample as a group of this test's own (it delivers to it)."""
    with isolated_environ(tmp_path / "home") as env:
        yield make_group(tmp_path, env)


def test_slrnpull_spools_every_article(own_group: SampleGroup, tmp_path: Path) -> None:
    """slrnpull (slrn's offline puller) spools the group, one file per
    article number, each the server's ARTICLE (LF, dots unstuffed); its
    active file has the group's range; new mail comes in on the next run
    under its own number, and nothing is fetched twice."""
    root = tmp_path / "slrnpull"
    root.mkdir()
    (root / "slrnpull.conf").write_text(f"default 0 0 0\n{GROUP} 0 0 0\n")
    spool = root.joinpath("news", *GROUP.split("."))
    with pubinbox_nntp(own_group.config) as srv:
        p = _slrnpull(srv.port, root)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
        files = {int(f.name): f for f in spool.iterdir() if f.name.isdigit()}
        assert sorted(files) == list(range(1, 296))
        assert (root / "data" / "active").read_text().split() == [GROUP, "295", "1", "y"]
        with Client(srv.port) as c:
            assert c.cmd(f"GROUP {GROUP}").startswith(b"211 295 ")
            for num, f in files.items():
                reply = c.cmd(f"ARTICLE {num}")
                assert reply.startswith(f"220 {num} ".encode()), reply[:100]
                body = reply.split(b"\r\n", 1)[1][: -len(b".\r\n")]
                assert f.read_bytes() == re.sub(rb"(?m)^\.\.", b".", body).replace(b"\r\n", b"\n"), num
        for f in files.values():
            f.unlink()  # what a second run fetched would show up again
        run_cli("mda", "--no-precheck", stdin=make_msg(1, mid="slrnpull-new@example.com"),
                env=dict(own_group.env, ORIGINAL_RECIPIENT="test@example.com"), check=True)  # fmt: skip
        p = _slrnpull(srv.port, root)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
        assert sorted(f.name for f in spool.iterdir() if f.name.isdigit()) == ["296"]
        assert b"Message-ID: <slrnpull-new@example.com>" in (spool / "296").read_bytes()
        assert (root / "data" / "active").read_text().split() == [GROUP, "296", "1", "y"]
