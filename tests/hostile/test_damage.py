"""Damaged and replaced data under a running ``pubinbox serve`` (issue 16,
defects 4, 5 and 7): a truncated or deleted overview, a deleted or
truncated search index, a missing git object.  The server answers 503 (or
501, 404) with a page that says what is wrong -- never a 500, never a dead
worker -- and ``pubinbox index``, run while it serves, repairs the files;
the running server picks the new files up without a restart.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import SAMPLE_MBOX
from tests.helpers import make_msg, run_cli
from tests.hostile.conftest import alive, serving, workers
from tests.live import LiveServer
from tests.web.conftest import Archive, build_inbox, fetch, mid_url

MID = "20260615084011.325686-1-hsiangkao@linux.alibaba.com"  # in sample/sample.mbox, with replies


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    """A fresh copy of the sample archive for each test (they damage it)."""
    return build_inbox(tmp_path / "a", "sample", "sample@example.com", SAMPLE_MBOX)


def _index(a: Archive) -> subprocess.CompletedProcess[bytes]:
    p = run_cli("index", str(a.inboxdir), env={"PI_CONFIG": str(a.config)}, timeout=300)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    assert b"Traceback" not in p.stderr
    return p


def _status(srv: LiveServer, path: str) -> tuple[int, bytes]:
    r = fetch(srv.base + path, timeout=30)
    assert b"Traceback" not in r.body
    return r.status, r.body


def _pages(srv: LiveServer) -> dict[str, int]:
    return {
        p: _status(srv, p)[0]
        for p in ("", mid_url("", MID), mid_url("", MID) + "T/", mid_url("", MID) + "raw", "?q=erofs", "new.atom")
    }


def _truncate(path: Path, keep: float = 0.5) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(int(size * keep))


@pytest.mark.parametrize("nworkers", [1, 2])
def test_truncated_overview(archive: Archive, tmp_path: Path, nworkers: int) -> None:
    with serving(archive, tmp_path / "s", workers=nworkers) as srv:
        assert set(_pages(srv).values()) == {200}
        before = workers(srv)
        over = archive.inboxdir / "pubinbox" / "over.sqlite3"
        _truncate(over, 0.3)
        got = _pages(srv)
        assert set(got.values()) <= {503}, got
        status, body = _status(srv, mid_url("", MID))
        assert status == 503 and b"damaged" in body, body[:300]
        assert workers(srv) == before
        _index(archive)  # repairs while the server holds the old file open
        assert set(_pages(srv).values()) == {200}
        assert workers(srv) == before
        assert "Traceback" not in srv.stderr()


def test_overview_deleted_and_rebuilt_while_serving(archive: Archive, tmp_path: Path) -> None:
    """Defect 4: after ``rm over.sqlite3*`` and ``pubinbox index`` under a
    running server, new mail is found and searches count right."""
    env = {"PI_CONFIG": str(archive.config)}
    with serving(archive, tmp_path / "s", workers=2) as srv:
        assert set(_pages(srv).values()) == {200}
        for f in (archive.inboxdir / "pubinbox").glob("over.sqlite3*"):
            f.unlink()
        status, _body = _status(srv, mid_url("", MID))
        assert status == 503
        _index(archive)
        new = make_msg(1, mid="after-rebuild@example.com", subject="zqxjfrobnicate after rebuild", to=archive.address)
        run_cli("import", archive.name, stdin=new, env=env, check=True)
        for _ in range(3):  # every worker, whichever answers
            assert _status(srv, mid_url("", "after-rebuild@example.com"))[0] == 200
            status, body = _status(srv, "?q=zqxjfrobnicate")
            assert status == 200 and b"after rebuild" in body, body[:300]
            status, body = _status(srv, "?q=" + quote("d:1970-01-01.."))
            m = re.search(rb"Results 1-200 of (\d+)", body)
            assert status == 200 and m is not None, body[-600:]
            assert int(m.group(1)) == 296  # 295 + the new one, none twice


def test_search_index_removed(archive: Archive, tmp_path: Path) -> None:
    with serving(archive, tmp_path / "s", workers=1) as srv:
        assert _status(srv, "?q=erofs")[0] == 200
        shutil.rmtree(archive.inboxdir / "pubinbox" / "search")
        status, body = _status(srv, "?q=erofs")
        assert status == 501, body[:300]
        assert b"pubinbox index" in body
        assert _status(srv, mid_url("", MID))[0] == 200  # the rest of the archive is fine
        _index(archive)
        assert _status(srv, "?q=erofs")[0] == 200
        alive(srv)


@pytest.mark.parametrize("nworkers", [1, 2])
def test_search_segment_truncated(archive: Archive, tmp_path: Path, nworkers: int) -> None:
    with serving(archive, tmp_path / "s", workers=nworkers) as srv:
        assert _status(srv, "?q=erofs")[0] == 200
        before = workers(srv)
        sdir = archive.inboxdir / "pubinbox" / "search"
        for f in sdir.iterdir():
            if f.suffix in (".idx", ".term", ".pos", ".store", ".fast"):
                _truncate(f, 0.5)
        for q in ("erofs", "s:fix", "b:page", "dfn:zdata.c"):
            status, body = _status(srv, "?q=" + quote(q))
            assert status in (200, 404, 503), (q, status, body[:300])
        assert workers(srv) == before, "a worker died"
        assert _status(srv, mid_url("", MID))[0] == 200
        _index(archive)
        status, body = _status(srv, "?q=erofs")
        assert status == 200, body[:300]
        assert workers(srv) == before
        alive(srv)


def _loose_blob(a: Archive, mid: str) -> tuple[str, Path]:
    """Make the epoch's objects loose; the blob of *mid* and its file."""
    import sqlite3

    with sqlite3.connect(a.inboxdir / "pubinbox" / "over.sqlite3") as db:
        (blob,) = db.execute("SELECT blob FROM over WHERE mid = ?", (mid,)).fetchone()
    git_dir = a.inboxdir / "git" / "0.git"
    packs = list((git_dir / "objects" / "pack").glob("*.pack"))
    for pack in packs:
        extras = [f for f in pack.parent.glob(pack.stem + ".*") if f != pack]
        moved = pack.with_name("unpack.tmp")
        pack.rename(moved)
        for extra in extras:
            extra.unlink()
        with open(moved, "rb") as f:
            subprocess.run(["git", f"--git-dir={git_dir}", "unpack-objects", "-q"], stdin=f, check=True)
        moved.unlink()
    obj = git_dir / "objects" / blob[:2] / blob[2:]
    assert obj.exists()
    return blob, obj


def test_missing_blob_pages(archive: Archive, tmp_path: Path) -> None:
    """A message whose git object is gone: /raw is a 404 that says so, its
    page and thread still render (with a note in place of the text), the
    thread's mbox.gz leaves it out."""
    blob, obj = _loose_blob(archive, MID)
    os.unlink(obj)
    with serving(archive, tmp_path / "s", workers=1) as srv:
        r = fetch(srv.base + mid_url("", MID) + "raw", timeout=30)
        assert r.status == 404, r.body[:300]
        assert b"missing" in r.body and blob.encode() in r.body
        for page in ("", "T/", "t/"):
            r = fetch(srv.base + mid_url("", MID) + page, timeout=30)
            assert r.status == 200, (page, r.status)
            assert b"missing from the archive" in r.body
        r = fetch(srv.base + mid_url("", MID) + "t.mbox.gz", timeout=30)
        assert r.status == 200
        import gzip

        assert f"Message-ID: <{MID}>".encode() not in gzip.decompress(r.body)
        assert "Traceback" not in srv.stderr()
        alive(srv)
