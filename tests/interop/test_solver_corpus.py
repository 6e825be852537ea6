"""The blob solver on the whole linux-erofs list against public-inbox-httpd.

100 ``index`` lines sampled from the list's real patches
(:func:`tests.interop.solver_corpus.sample_index_lines`); the inbox's
coderepo is empty, so every blob must be rebuilt from the archive (new
files, and chains of patches starting from one).  For each, the raw
``/$OID/s/FILENAME?b=PATH`` must get the same verdict from both servers
(200 or not) and, when found, the same bytes.  public-inbox 1.9 answers
500 where its ``git apply`` fails; that counts as "not found".  A solve
pubinbox stopped at its 5-second budget (its log says so) is reported but
not counted as a difference if public-inbox took longer than that.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.interop.solver_corpus import erofs_inbox, sample_index_lines
from tests.live import PUBINBOX_BIN, LiveServer, isolated_environ, live_server
from tests.web.conftest import fetch

pytestmark = [pytest.mark.corpus, pytest.mark.peer, pytest.mark.slow]

N = 100
BUNDLE = "epochs/linux-erofs.lists.ozlabs.org.0.bundle"


def _url(oid: str, path: str) -> str:
    return f"{oid}/s/{quote(path.rsplit('/', 1)[-1])}?b={quote(path)}"


def answers(srv: LiveServer, lines: list[tuple[str, str]]) -> dict[str, tuple[int, bytes, float]]:
    out = {}
    for oid, path in lines:
        t0 = time.monotonic()
        r = fetch(srv.base + _url(oid, path), timeout=300)
        out[oid] = (404 if r.status == 500 else r.status, r.body if r.status == 200 else b"", time.monotonic() - t0)
    return out


def test_corpus_solver_differential(tmp_path: Path, corpus_dir: Path) -> None:
    with isolated_environ(tmp_path / "home") as env:
        config, inboxdir = erofs_inbox(tmp_path, corpus_dir / BUNDLE, PUBINBOX_BIN, env)
        lines = sample_index_lines(inboxdir / "git" / "0.git", N)
        assert len(lines) == N
        with live_server(config, "erofs", kind="public-inbox", timeout=900) as pi:
            theirs = answers(pi, lines)
        with live_server(config, "erofs", kind="pubinbox") as pb:
            ours = answers(pb, lines)
            slow = {oid for oid, (st, _b, t) in ours.items() if st != 200 and t >= 4.5}
            for oid in slow:
                page = fetch(pb.base + f"{oid}/s/").text()
                assert "gave up after" in page or "stopped:" in page
    found = sum(1 for st, _b, _t in theirs.values() if st == 200)
    bad = []
    for oid, path in lines:
        (st_t, b_t, t_t), (st_o, b_o, _t_o) = theirs[oid], ours[oid]
        if (st_t, b_t) == (st_o, b_o):
            continue
        if oid in slow and st_t == 200 and t_t >= 5.0:
            print(f"{oid} {path}: public-inbox found it in {t_t:.1f} s, over pubinbox's budget")
            continue
        bad.append(f"{oid} {path}: public-inbox {st_t} ({len(b_t)} B), pubinbox {st_o} ({len(b_o)} B)")
    print(f"{N} index lines: public-inbox found {found}, differences {len(bad)}")
    for who, got in (("public-inbox", theirs), ("pubinbox", ours)):
        ts = sorted(t for _s, _b, t in got.values())
        print(f"{who}: median {ts[len(ts) // 2]:.3f} s, p99 {ts[min(len(ts) - 1, round(0.99 * (len(ts) - 1)))]:.3f} s")
    assert found > 0
    assert not bad, "\n".join(bad)
