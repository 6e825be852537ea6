"""Real clients of ``/all/`` (issue 9): b4 with a host-only midmask (it
then asks ``/all/MSGID/t.mbox.gz``) and lei with ``-I URL/all/`` (a
``POST /all/?x=m&q=`` search), against ``pubinbox serve`` on 127.0.0.1."""

from __future__ import annotations

import json
import mailbox
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.extindex.sites import SPLIT_A, SPLIT_B, Site, _db, build_site
from tests.live import LiveServer, clean_env, live_server

B4_BIN = Path(sys.executable).parent / "b4"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return build_site(tmp_path_factory.mktemp("ext-clients"), extindex_first=True)


@pytest.fixture(scope="module")
def srv(site: Site) -> Iterator[LiveServer]:
    with live_server(site.config, "all", kind="pubinbox") as s:
        yield s


def _mids(path: Path) -> list[str]:
    box = mailbox.mbox(path, create=False)
    try:
        return [str(m["Message-ID"]).strip().strip("<>") for m in box]
    finally:
        box.close()


def _spanning_thread(site: Site) -> tuple[str, set[str]]:
    """A thread with messages only in a, only in b, and in both: (its first
    Message-ID, all of its Message-IDs)."""
    db = _db(site)
    names = dict(db.execute("SELECT ibx, name FROM inboxes"))
    where: dict[int, set[str]] = {}
    for tid, ibx in db.execute("SELECT over.tid, xref.ibx FROM over JOIN xref ON xref.num = over.num"):
        where.setdefault(tid, set()).add(names[ibx])
    for tid in sorted(where):
        per = {
            n: c
            for n, c in db.execute(
                "SELECT over.num, COUNT(*) FROM over JOIN xref ON xref.num = over.num WHERE over.tid = ?"
                " GROUP BY over.num",
                (tid,),
            )
        }
        ibxs = {frozenset(names[i] for (i,) in db.execute("SELECT ibx FROM xref WHERE num = ?", (n,))) for n in per}
        if {frozenset({"a"}), frozenset({"b"}), frozenset({"a", "b"})} <= ibxs:
            rows = db.execute("SELECT mid FROM over WHERE tid = ? AND num > 0 ORDER BY ds, num", (tid,)).fetchall()
            return rows[0][0], {m for (m,) in rows}
    pytest.fail(f"no thread of the sample spans messages {SPLIT_B}..{SPLIT_A} of both inboxes", pytrace=False)


def test_b4_host_only_midmask(site: Site, srv: LiveServer, tmp_path: Path) -> None:
    """``b4 mbox`` with ``midmask = http://HOST/%s`` fetches the whole
    thread from /all/: the messages of both inboxes, each once."""
    if not B4_BIN.exists():
        pytest.fail(f"{B4_BIN} missing: b4 is installed in the venv by scripts/setup", pytrace=False)
    first, thread = _spanning_thread(site)
    env = clean_env(tmp_path / "home", XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    out = tmp_path / "out"
    out.mkdir()
    p = subprocess.run(
        [str(B4_BIN), "-n", "--no-stdin", "-c", f"b4.midmask={srv.origin}/%s", "-c", "b4.attestation-policy=off",
         "mbox", "-C", "-o", str(out), first],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr + srv.stderr()[-2000:]
    (mbox,) = out.glob("*.mbx")
    got = _mids(mbox)
    assert len(got) == len(set(got)) and set(got) == thread


@pytest.mark.peer  # lei is Debian's, with public-inbox
def test_lei_all_external(site: Site, srv: LiveServer, tmp_path: Path) -> None:
    """``lei q -I http://HOST/all/``: every inbox's hits, a cross-post once."""
    if shutil.which("lei") is None:
        pytest.fail("lei not on PATH: install the Debian package lei", pytrace=False)
    x = {
        k: str(tmp_path / k.lower()) for k in ("XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")
    }
    for d in x.values():
        Path(d).mkdir(mode=0o700)
    env = clean_env(tmp_path / "home", **x)
    dest = tmp_path / "out.mbox"
    try:
        p = subprocess.run(
            ["lei", "q", "-I", f"{srv.origin}/all/", "-o", f"mboxrd:{dest}", "s:erofs"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert p.returncode == 0, p.stderr
    finally:
        subprocess.run(["lei", "daemon-kill"], env=env, capture_output=True, timeout=60, check=False)
    got = _mids(dest)
    union: set[str] = set()
    for name in ("a", "b"):
        hits = site.cli("q", "-I", name, "-n", "10000", "s:erofs")
        union |= {r["mid"] for r in json.loads(hits)}
    assert len(got) == len(set(got)) and set(got) == union
    db = _db(site)
    both = {
        m for (m,) in db.execute("SELECT over.mid FROM over JOIN xref USING (num) GROUP BY num HAVING COUNT(*) = 2")
    }
    assert both & set(got)  # cross-posts among the hits, each once
