"""Series detection on a real inbox (``pubinbox import`` of an mbox, the
overview, ``series.sqlite3``): covers, revisions sent as replies,
unthreaded series, duplicates, interleaved series, quoted patches,
odd encodings, a 500-patch series; ``index --reindex`` gives the same
answer as the incremental updates; mda keeps it up to date (issue 12)."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from pubinbox.series.reader import SeriesReader, SeriesRow
from pubinbox.store.layout import Layout
from tests.helpers import make_msg, run_cli

DIFF = "---\n a | 1 +\n\ndiff --git a/a b/a\n--- a/a\n+++ b/a\n@@ -1 +1,2 @@\n a\n+{n}\n"


def _date(minute: int) -> str:
    return f"Mon, 02 Jan 2023 {10 + minute // 60:02d}:{minute % 60:02d}:00 +0000"


def _msg(n: int, subject: str, *, mid: str, refs: list[str] | None = None, minute: int = 0,
         frm: str = "Alice Example <alice@example.com>", body: str | None = None) -> bytes:  # fmt: skip
    b = body if body is not None else f"change {n}\n\nSigned-off-by: {frm}\n" + DIFF.format(n=n)
    return make_msg(n, mid=mid, subject=subject, refs=refs, date=_date(minute), frm=frm, body=b)


def _mbox(msgs: list[bytes]) -> bytes:
    return b"".join(b"From x@y Thu Jan  1 00:00:00 1970\n" + m.replace(b"\nFrom ", b"\n>From ") + b"\n" for m in msgs)


def _inbox(tmp: Path, msgs: list[bytes]) -> tuple[dict[str, str], Path]:
    cfg = tmp / "config"
    env = {"PI_CONFIG": str(cfg), "PI_EMERGENCY": str(tmp / "em")}
    d = tmp / "t"
    run_cli("init", "-L", "basic", "t", str(d), "http://x/t", "t@x.org", env=env, check=True)
    (tmp / "in.mbox").write_bytes(_mbox(msgs))
    run_cli("import", "t", str(tmp / "in.mbox"), env=env, check=True)
    return env, d


def _all(d: Path) -> dict[str, tuple[SeriesRow, list[tuple[int, int]]]]:
    sr = SeriesReader(Layout(d))
    try:
        return {s.id: (s, sr.members(s.id)) for s in sr.recent(0, 10_000)}
    finally:
        sr.close()


def _corpus() -> list[bytes]:
    m: list[bytes] = []
    # v1: cover + 3 patches, a review
    m.append(_msg(1, "[PATCH 0/3] feature", mid="v1-0@x", minute=0))
    for i in (1, 2, 3):
        m.append(_msg(1 + i, f"[PATCH {i}/3] feature part {i}", mid=f"v1-{i}@x", refs=["v1-0@x"], minute=i))
    m.append(
        _msg(5, "Re: [PATCH 2/3] feature part 2", mid="rev-1@x", refs=["v1-0@x", "v1-2@x"], minute=10,
             frm="Bob Reviewer <bob@example.org>",
             body="> [PATCH 2/3] feature part 2\n> +quoted diff\n\nReviewed-by: Bob Reviewer <bob@example.org>\n")
    )  # fmt: skip
    # v2 sent as a reply to v1's cover: its own series, linked as a revision
    m.append(_msg(6, "[PATCH v2 0/3] feature", mid="v2-0@x", refs=["v1-0@x"], minute=60))
    for i in (1, 2, 3):
        m.append(
            _msg(6 + i, f"[PATCH v2 {i}/3] feature part {i}", mid=f"v2-{i}@x", refs=["v1-0@x", "v2-0@x"], minute=60 + i)
        )
    # unthreaded, no 0/N, PATCHv3 spelling
    for i in (1, 2):
        m.append(_msg(10 + i, f"[PATCHv3 {i}/2] other thing {i}", mid=f"un-{i}@x", minute=200 + i,
                      frm="Carol <carol@example.net>"))  # fmt: skip
    # duplicate numbers in one thread (a resend of 1/2 in the same thread)
    m.append(_msg(13, "[PATCH 0/2] dup", mid="dup-0@x", minute=300, frm="Dan <dan@example.com>"))
    m.append(_msg(14, "[PATCH 1/2] dup one", mid="dup-1@x", refs=["dup-0@x"], minute=301, frm="Dan <dan@example.com>"))
    m.append(
        _msg(15, "[PATCH 1/2] dup one again", mid="dup-1b@x", refs=["dup-0@x"], minute=302, frm="Dan <dan@example.com>")
    )
    # a cover letter without patches (0/N alone): a series with all missing
    m.append(_msg(16, "[PATCH 0/4] lonely cover", mid="lonely@x", minute=400, frm="Eve <eve@example.com>"))
    # a reply quoting a whole patch: not a patch
    m.append(_msg(17, "Re: [PATCH v2 3/3] feature part 3", mid="quote@x", refs=["v1-0@x", "v2-0@x", "v2-3@x"],
                  minute=70, frm="Bob Reviewer <bob@example.org>", body="> " + DIFF.format(n=9).replace("\n", "\n> ")))  # fmt: skip
    # two series of two authors interleaved in time, each threaded
    for i in (1, 2):
        m.append(_msg(17 + 2 * i, f"[PATCH {i}/2] left {i}", mid=f"l-{i}@x", refs=["l-1@x"] if i == 2 else None,
                      minute=500 + i, frm="Fay <fay@example.com>"))  # fmt: skip
        m.append(_msg(18 + 2 * i, f"[PATCH {i}/2] right {i}", mid=f"r-{i}@x", refs=["r-1@x"] if i == 2 else None,
                      minute=500 + i, frm="Gus <gus@example.com>"))  # fmt: skip
    # an encoded subject
    m.append(_msg(23, "=?utf-8?q?=5BPATCH_v2=5D_caf=C3=A9=3A_fix?=", mid="enc@x", minute=600))
    # a reply whose mailer dropped "Re:" (seen on linux-erofs): not a patch
    m.append(_msg(24, "[PATCH v2 1/3] feature part 1", mid="nore@x", refs=["v1-0@x", "v2-0@x", "v2-1@x"], minute=80,
                  frm="Bob Reviewer <bob@example.org>", body="> quoted\n\nThis breaks my build.\n"))  # fmt: skip
    return m


def test_detection(tmp_path: Path) -> None:
    _env, d = _inbox(tmp_path, _corpus())
    got = _all(d)
    v1, v1m = got["v1-0@x"]
    assert (v1.version, v1.total, v1.present, v1.cover is not None, v1.title) == (1, 3, 3, True, "feature")
    assert [c for c, _n in v1m] == [0, 1, 2, 3]
    v2, v2m = got["v2-0@x"]
    assert (v2.version, v2.total, v2.present) == (2, 3, 3)
    assert [c for c, _n in v2m] == [0, 1, 2, 3]  # the quoting reply is not a patch
    un, unm = got["un-1@x"]
    assert (un.version, un.total, un.present, un.cover) == (3, 2, 2, None)
    assert len(unm) == 2
    dup, dupm = got["dup-0@x"]
    assert (dup.present, dup.missing, dup.dups) == (1, 1, 1)
    assert dupm[1][1] == dupm[0][1] + 2  # 1/2 is the later of the two (imported right after)
    lonely, _ = got["lonely@x"]
    assert (lonely.present, lonely.missing, lonely.total) == (0, 4, 4)
    assert got["l-1@x"][0].present == 2 and got["r-1@x"][0].present == 2
    assert "nore@x" not in got and got["v2-0@x"][0].dups == 0  # the Re:-less reply took no patch's place
    assert got["enc@x"][0].title == "café: fix" and got["enc@x"][0].version == 2
    # nothing else: replies are no series
    assert set(got) == {"v1-0@x", "v2-0@x", "un-1@x", "dup-0@x", "lonely@x", "l-1@x", "r-1@x", "enc@x"}
    sr = SeriesReader(Layout(d))
    assert [r.version for r in sr.revisions(v1)] == [1, 2]
    sr.close()


def _dump(d: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(d / "pubinbox" / "series.sqlite3")
    try:
        return (
            db.execute("SELECT * FROM series ORDER BY id").fetchall()
            + db.execute("SELECT * FROM series_msg ORDER BY num").fetchall()
        )
    finally:
        db.close()


def test_incremental_equals_reindex(tmp_path: Path) -> None:
    """mda one message at a time (cover letter last, the unthreaded patches
    an hour apart at most) gives what a rebuild from scratch gives."""
    msgs = _corpus()
    env, d = _inbox(tmp_path, [])
    subprocess.run(["git", "config", "-f", env["PI_CONFIG"], "publicinboxmda.spamcheck", "none"], check=True)
    order = msgs[1:4] + msgs[:1] + msgs[4:]
    for raw in order:
        raw = raw.replace(b"To: test@example.com", b"To: t@x.org")
        p = run_cli("mda", stdin=raw, env=dict(env, ORIGINAL_RECIPIENT="t@x.org"))
        assert p.returncode == 0, p.stderr
    before = _dump(d)
    assert len(before) > 20
    run_cli("index", "--reindex", str(d), env=env, check=True)
    assert _dump(d) == before


def test_big_series(tmp_path: Path) -> None:
    n = 500
    msgs = [_msg(0, f"[PATCH 000/{n}] big", mid="big-0@x", minute=0)]
    msgs += [
        _msg(i, f"[PATCH {i:03d}/{n}] big {i}", mid=f"big-{i}@x", refs=["big-0@x"], minute=1) for i in range(1, n + 1)
    ]
    _env, d = _inbox(tmp_path, msgs)
    s, members = _all(d)["big-0@x"]
    assert (s.total, s.present, len(members)) == (n, n, n + 1)


def test_revisions_by_change_id_and_patch_id(tmp_path: Path) -> None:
    """Retitled revisions are linked by the cover letter's change-id:, a
    resend under another title by a patch they share (patch-id)."""
    tail = "\n-- \nbase-commit: 0123456789abcdef0123456789abcdef01234567\nchange-id: 20260101-thing-0123abcd\n"
    msgs = [
        _msg(1, "[PATCH 0/1] first title", mid="c1@x", minute=0, body="cover\n" + tail),
        _msg(2, "[PATCH 1/1] part", mid="c1-1@x", refs=["c1@x"], minute=1),
        _msg(3, "[PATCH v2 0/1] second title", mid="c2@x", minute=100, body="cover v2\n" + tail),
        _msg(4, "[PATCH v2 1/1] part changed", mid="c2-1@x", refs=["c2@x"], minute=101, body="x\n" + DIFF.format(n=7)),
        # the same patch as c1-1 (same diff), re-sent alone with another subject
        _msg(2, "[PATCH] part, resent", mid="p-1@x", minute=300),
        # same diff from someone else: not a revision
        _msg(2, "[PATCH] part", mid="o-1@x", minute=400, frm="Other <other@example.com>"),
    ]
    _env, d = _inbox(tmp_path, msgs)
    got = _all(d)
    s1 = got["c1@x"][0]
    assert s1.change_id == "20260101-thing-0123abcd"
    assert s1.base_commit == "0123456789abcdef0123456789abcdef01234567"
    sr = SeriesReader(Layout(d))
    try:
        assert [r.id for r in sr.revisions(s1)] == ["c1@x", "p-1@x", "c2@x"]
        assert [r.id for r in sr.revisions(got["o-1@x"][0])] == ["o-1@x"]
    finally:
        sr.close()


def test_patches_take_their_cover_letters_version(tmp_path: Path) -> None:
    """``[PATCH 1/2]`` in reply to ``[PATCH v3 0/2]`` of the same author is
    v3 (a v3 and a v4 sent that way in one thread stay two series); from
    someone else, or in reply to a patch 2/2, it keeps version 1."""
    m = []
    for v, minute in ((3, 0), (4, 100)):
        m.append(_msg(v * 10, f"[PATCH v{v} 0/2] blk", mid=f"c{v}@x", refs=["c3@x"] if v == 4 else None, minute=minute))
        for i in (1, 2):
            m.append(_msg(v * 10 + i, f"[PATCH {i}/2] blk part {i}", mid=f"p{v}-{i}@x",
                          refs=(["c3@x"] if v == 4 else []) + [f"c{v}@x"], minute=minute + i))  # fmt: skip
    m.append(_msg(50, "[PATCH 1/2] other", mid="o-1@x", refs=["c3@x"], minute=300, frm="Zed <zed@example.com>"))
    _env, d = _inbox(tmp_path, m)
    got = _all(d)
    assert (got["c3@x"][0].version, got["c3@x"][0].present, got["c3@x"][0].dups) == (3, 2, 0)
    assert (got["c4@x"][0].version, got["c4@x"][0].present, got["c4@x"][0].dups) == (4, 2, 0)
    assert got["o-1@x"][0].version == 1  # another author's
