"""``pubinbox import`` with parser processes gives exactly what parsing in
one process gives: the same commits (byte-identical ids), the same article
numbers, the same overview -- on the sample archive and the hard cases,
duplicates and reused Message-IDs included."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.conftest import SAMPLE_MBOX
from tests.helpers import epoch_log, run_cli


def _import(tmp: Path, jobs: int, *sources: Path) -> Path:
    """A fresh inbox "test" under *tmp* (the name is in every commit)."""
    tmp.mkdir()
    env = {"PI_CONFIG": str(tmp / "config")}
    d = tmp / "test"
    run_cli("init", "-L", "basic", "test", str(d), "http://example.com/test", "list@example.com", env=env, check=True)
    for src in sources:
        run_cli("import", "-q", "-j", str(jobs), "test", str(src), env=env, check=True)
    return d


def _state(d: Path) -> tuple[list[str], list[tuple[object, ...]], list[tuple[object, ...]]]:
    with sqlite3.connect(d / "msgmap.sqlite3") as mm:
        nums = sorted(mm.execute("SELECT num, mid FROM msgmap").fetchall())
    with sqlite3.connect(d / "pubinbox" / "over.sqlite3") as over:
        rows = over.execute(
            "SELECT num, tid, sid, ts, ds, mid, subject, from_, to_, cc, refs, blob FROM over ORDER BY num"
        )
        got = rows.fetchall()
    return epoch_log(d / "git" / "0.git"), nums, got


def test_parallel_import_is_identical(tmp_path: Path, hard_dir: Path) -> None:
    # the hard cases as one mboxrd, after the sample (duplicates of it too)
    hard = tmp_path / "hard.mbox"
    with open(hard, "wb") as out:
        for f in sorted(hard_dir.rglob("*.eml")):
            raw = f.read_bytes()
            out.write(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n")
            body = b"".join(
                b">" + line if line.lstrip(b">").startswith(b"From ") else line for line in raw.splitlines(True)
            )
            out.write(body if body.endswith(b"\n") else body + b"\n")
            out.write(b"\n")
    one = _import(tmp_path / "j1", 1, SAMPLE_MBOX, hard, SAMPLE_MBOX)
    three = _import(tmp_path / "j3", 3, SAMPLE_MBOX, hard, SAMPLE_MBOX)
    a, b = _state(one), _state(three)
    assert len(a[0]) > 295 + 40
    assert a[0] == b[0]  # the same commit ids, in order
    assert a[1] == b[1]
    assert a[2] == b[2]
