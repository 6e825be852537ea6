"""Corpus tier: series detection against a hand-checked fixture
(tests/data/series_threads.json): 54 threads of linux-erofs and
linux-f2fs-devel (picked at random among threads holding a patch, a
thread of 60+ messages left out), each with the series it holds
(version, N, the Message-ID of every number, 0 for the cover letter).
Each thread was read (subjects, senders, In-Reply-To) and its answer
checked by hand; one (the netfs v2 thread) was written by hand for a
reply titled like a patch (issue 12)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.live import isolated_environ

pytestmark = [pytest.mark.corpus, pytest.mark.slow]

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "series_threads.json"
EXPECTED: dict[str, list[dict[str, object]]] = json.loads(FIXTURE.read_text())


def _found(d: Path, mid: str) -> list[tuple[int, int, dict[str, str]]]:
    over = sqlite3.connect(d / "pubinbox" / "over.sqlite3")
    ser = sqlite3.connect(d / "pubinbox" / "series.sqlite3")
    try:
        (tid,) = over.execute("SELECT tid FROM over WHERE mid = ?", (mid,)).fetchone()
        mids = dict(over.execute("SELECT num, mid FROM over WHERE tid = ?", (tid,)).fetchall())
        out = []
        for (sid,) in ser.execute("SELECT DISTINCT series_id FROM series_msg WHERE tid = ?", (tid,)).fetchall():
            version, total = ser.execute("SELECT version, total FROM series WHERE id = ?", (sid,)).fetchone()
            members = {
                str(c): mids[n]
                for n, c in ser.execute("SELECT num, counter FROM series_msg WHERE series_id = ?", (sid,))
            }
            out.append((version, total, members))
        return sorted(out, key=lambda s: (s[0], s[1], sorted(s[2].values())))
    finally:
        over.close()
        ser.close()


@pytest.mark.parametrize("bundle", sorted(EXPECTED))
def test_series_of_hand_checked_threads(bundle: str, corpus_dir: Path, tmp_path: Path) -> None:
    d = tmp_path / "l"
    (d / "git").mkdir(parents=True)
    with isolated_environ(tmp_path / "home"):
        subprocess.run(["git", "clone", "-q", "--mirror", str(corpus_dir / "epochs" / bundle), str(d / "git" / "0.git")],
                       check=True)  # fmt: skip
        env = {"PI_CONFIG": str(tmp_path / "config")}
        run_cli("init", "-L", "basic", "l", str(d), "http://x/l", "l@x", env=env, check=True)
        run_cli("index", str(d), env=env, check=True, timeout=1200)
    bad = []
    for t in EXPECTED[bundle]:
        want = sorted(
            ((int(s["version"]), int(s["total"]), dict(s["members"])) for s in t["series"]),  # type: ignore[attr-defined,arg-type,call-overload]
            key=lambda s: (s[0], s[1], sorted(s[2].values())),
        )
        got = _found(d, str(t["thread"]))
        if got != want:
            bad.append(f"{t['thread']}:\n  want {want}\n  got  {got}")
    assert not bad, "\n".join(bad)
    assert len(EXPECTED[bundle]) >= 25
