"""``/$INBOX/series/$ID/mbox`` against ``b4 am -o -`` run on a live
``pubinbox serve`` of the sample archive: for every series of linux-erofs
in it (complete or not), the same bytes -- b4's ``From git@z`` separator,
rewritten headers and trailer blocks, the trailers of the replies, of the
cover letter and of the same patch elsewhere, partial rerolls filled from
the revision before -- except for the differences documented below; with
``?l=1``, the same bytes as ``b4 am -l`` (issue 12)."""

from __future__ import annotations

import difflib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import LiveServer, clean_env, live_server
from tests.web.conftest import Archive, fetch

B4 = Path(sys.executable).parent / "b4"
#: series id -> why b4's answer differs from ours
DIFFERENCES = {
    "20260706061048.16349-1-nithurshen.dev@gmail.com": (
        "v3 1/2 sent twice in one thread: b4 keeps the first and shifts the other to 2/3 "
        "('assume additional patch'), we take the later one"
    ),
    "20260624133732.18218-1-hudson@cyzhu.com": (
        "v1 sent twice in one thread with a patch renamed in between (b4 warns 'duplicate messages'): "
        "b4 keeps both copies, we take the later one"
    ),
}


@pytest.fixture(scope="module")
def srv(sample_archive: Archive) -> Iterator[LiveServer]:
    with live_server(sample_archive.config, "sample", kind="pubinbox") as s:
        yield s


def b4_am(srv: LiveServer, tmp_path: Path, *args: str) -> bytes:
    home = tmp_path / "home"
    env = clean_env(home, XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    (home / ".gitconfig").write_text(
        "[user]\n\tname = T\n\temail = t@example.org\n"
        f"[b4]\n\tmidmask = {srv.base}%s\n\tlinkmask = {srv.base}%s/\n\tattestation-policy = off\n"
    )
    p = subprocess.run(
        [str(B4), "-n", "--no-stdin", "am", "-o", "-", *args], cwd=tmp_path, env=env, capture_output=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    return p.stdout


def _diff(a: bytes, b: bytes) -> str:
    d = difflib.unified_diff(a.decode("utf-8", "replace").splitlines(), b.decode("utf-8", "replace").splitlines(),
                             "b4", "pubinbox", lineterm="", n=1)  # fmt: skip
    return "\n".join(list(d)[:20])


def test_series_mbox_is_b4_am(srv: LiveServer, sample_archive: Archive, tmp_path: Path) -> None:
    db = sqlite3.connect(sample_archive.inboxdir / "pubinbox" / "series.sqlite3")
    try:
        series = db.execute("SELECT id, version, present < total FROM series ORDER BY ts DESC").fetchall()
    finally:
        db.close()
    assert len(series) >= 60
    same, differ, partial, reviewed = 0, {}, 0, 0
    for sid, version, incomplete in series:
        ours = fetch(f"{srv.base}series/{sid}/mbox").body
        theirs = b4_am(srv, tmp_path, "-v", str(version), sid)
        if ours == theirs:
            same += 1
            partial += bool(incomplete) and ours.count(b"From git@z ") > 1
            reviewed += b"\nReviewed-by: " in ours or b"\nAcked-by: " in ours
        else:
            differ[sid] = _diff(theirs, ours)
    undocumented = {k: v for k, v in differ.items() if k not in DIFFERENCES}
    assert not undocumented, "\n\n".join(f"{k}:\n{v}" for k, v in undocumented.items())
    print(f"{same} of {len(series)} series byte-identical to b4 am -o -; documented: {sorted(differ)}")
    assert same >= len(series) - len(DIFFERENCES)
    assert partial >= 3 and reviewed >= 8  # partial rerolls filled; trailers from replies


def test_link_trailer_is_b4_am_l(srv: LiveServer, tmp_path: Path) -> None:
    sid = "20260708093446.3370200-1-gscrivan@redhat.com"
    ours = fetch(f"{srv.base}series/{sid}/mbox?l=1").body
    assert b"\nLink: " in ours
    assert ours == b4_am(srv, tmp_path, "-l", sid)
