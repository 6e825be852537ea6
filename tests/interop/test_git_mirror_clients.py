"""Mirroring clients against a live ``pubinbox serve``: public-inbox-clone and
public-inbox-fetch (Debian's public-inbox 1.9) and grokmirror's grok-pull
(PyPI), each epoch's refs and objects compared with the origin's; new mail
is picked up by the next fetch, and an unchanged origin is reported as such
(public-inbox-fetch --exit-code: 127; grok-pull: manifest 304)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import make_msg, run_cli
from tests.live import LiveServer, clean_env, live_server
from tests.mirror.origin import build_origin, epochs, objects, refs
from tests.web.conftest import Archive, config_with

pytestmark = pytest.mark.peer
GROK_PULL = Path(sys.executable).parent / "grok-pull"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Archive, LiveServer]]:
    root = tmp_path_factory.mktemp("mirror-clients")
    origin = build_origin(root / "o")
    cfg = config_with(origin.config, root)  # url http://127.0.0.1/sample: the site manifest lists it
    with live_server(cfg, origin.name, kind="pubinbox", args=("-W", "2")) as srv:
        yield Archive(cfg, origin.name, origin.inboxdir, origin.address), srv


def _same(origin: Path, mirror: Path) -> None:
    assert epochs(mirror) == epochs(origin)
    for n in epochs(origin):
        a, b = origin / "git" / f"{n}.git", mirror / "git" / f"{n}.git"
        assert refs(b) == refs(a), n
        assert objects(b) == objects(a), n


def _deliver(origin: Archive, first: int, count: int) -> None:
    mbox = b"".join(
        b"From x Thu Jan  1 00:00:00 1970\n" + make_msg(i, to=origin.address, body=f"new {i}\n") + b"\n"
        for i in range(first, first + count)
    )
    run_cli("import", origin.name, stdin=mbox, env={"PI_CONFIG": str(origin.config)}, check=True)


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = clean_env(cwd / "home")
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_public_inbox_clone_and_fetch(served: tuple[Archive, LiveServer], tmp_path: Path) -> None:
    origin, srv = served
    if shutil.which("public-inbox-clone") is None:
        pytest.fail("public-inbox-clone missing: install Debian's public-inbox", pytrace=False)
    p = _run(["public-inbox-clone", srv.base, str(tmp_path / "m")], tmp_path)
    assert p.returncode == 0, p.stderr
    _same(origin.inboxdir, tmp_path / "m")
    assert "sample" in (tmp_path / "m" / "inbox.config.example").read_text()
    p = _run(["public-inbox-fetch", "--exit-code", "-C", str(tmp_path / "m")], tmp_path)
    assert p.returncode == 127, p.stderr  # nothing new
    _deliver(origin, 9000, 3)
    p = _run(["public-inbox-fetch", "--exit-code", "-C", str(tmp_path / "m")], tmp_path)
    assert p.returncode == 0, p.stderr
    _same(origin.inboxdir, tmp_path / "m")


def test_grok_pull(served: tuple[Archive, LiveServer], tmp_path: Path) -> None:
    origin, srv = served
    top = tmp_path / "grok"
    top.mkdir()
    conf = tmp_path / "grok.conf"
    conf.write_text(
        f"[core]\ntoplevel = {top}\nmanifest = ${{toplevel}}/manifest.js.gz\nlog = ${{toplevel}}/grok.log\n"
        f"[remote]\nsite = {srv.origin}\nmanifest = ${{site}}/manifest.js.gz\n[pull]\ninclude = *\n"
    )
    p = _run([str(GROK_PULL), "-c", str(conf), "-v"], tmp_path)
    assert p.returncode == 0, p.stderr
    _same(origin.inboxdir, top / origin.name)
    # the manifest's Last-Modified is a second early while its second is not
    # over (a ref may still move in it): then only the run after sees a 304
    for _ in range(2):
        time.sleep(1.1)
        p = _run([str(GROK_PULL), "-c", str(conf), "-v"], tmp_path)
        assert p.returncode == 0, p.stderr
    assert "unchanged" in p.stdout + p.stderr, p.stdout + p.stderr
    _deliver(origin, 9100, 2)
    p = _run([str(GROK_PULL), "-c", str(conf), "-v"], tmp_path)
    assert p.returncode == 0, p.stderr
    _same(origin.inboxdir, top / origin.name)


def test_lei_add_external_mirror(served: tuple[Archive, LiveServer], tmp_path: Path) -> None:
    """lei (1.9) mirrors and indexes the inbox; its article numbers are the origin's."""
    origin, srv = served
    if shutil.which("lei") is None:
        pytest.fail("lei missing: install Debian's lei", pytrace=False)
    x = {
        k: str(tmp_path / k.lower())
        for k in ("XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")
    }
    for d in x.values():
        Path(d).mkdir(mode=0o700)
    env = clean_env(tmp_path / "home", **x)
    dst = tmp_path / "lei-mirror"
    try:
        p = subprocess.run(["lei", "add-external", "-q", "-L", "basic", "--mirror", srv.base, str(dst)],
                           env=env, capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
        assert p.returncode == 0, p.stderr
    finally:
        subprocess.run(["lei", "daemon-kill"], env=env, capture_output=True, timeout=60, check=False)
    _same(origin.inboxdir, dst)
    assert _msgmap(dst) == _msgmap(origin.inboxdir)


def _msgmap(inboxdir: Path) -> list[tuple[int, str]]:
    import sqlite3

    db = sqlite3.connect(f"file:{inboxdir / 'msgmap.sqlite3'}?mode=ro", uri=True)
    try:
        return list(db.execute("SELECT num, mid FROM msgmap ORDER BY num"))
    finally:
        db.close()
