"""Blob solver: time to solve 100 sampled blobs, pubinbox vs public-inbox-httpd.

    .venv/bin/python bench/solver.py [--bundle BUNDLE] [-n 100] [--workdir DIR --keep]

The linux-erofs epoch (default) is indexed once by ``pubinbox index``
(indexlevel medium) and once by ``public-inbox-index`` in the same inbox
directory, with an empty ``coderepo`` (every blob comes from the archive's
patches), as tests/interop/test_solver_corpus.py does.  Each server gets
the same N ``/$OID/s/FILENAME?b=PATH`` requests, one at a time, each blob
asked once (cold: pubinbox caches results by blob id, so a second ask
would measure its cache).  Printed: median, p90, p99 and max per request,
found counts, and the ratio public-inbox / pubinbox (above 1: pubinbox
faster).  Then, on pubinbox only, the throughput of the help page and of
a message page (wrk, 4 connections, 10 s) alone and while 4 clients keep
asking for fresh solves.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.interop.solver_corpus import erofs_inbox, sample_index_lines
from tests.live import LiveServer, clean_env, live_server

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str) -> tuple[int, bytes]:
    try:
        with _OPENER.open(url, timeout=600) as r:
            return int(r.status), r.read()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read()


def url_of(oid: str, path: str) -> str:
    return f"{oid}/s/{urllib.parse.quote(path.rsplit('/', 1)[-1])}?b={urllib.parse.quote(path)}"


def timed(srv: LiveServer, lines: list[tuple[str, str]]) -> tuple[list[float], int]:
    times, found = [], 0
    for oid, path in lines:
        t0 = time.monotonic()
        st, _b = get(srv.base + url_of(oid, path))
        times.append(time.monotonic() - t0)
        found += st == 200
    return times, found


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def wrk(url: str) -> float:
    out = subprocess.run(["wrk", "-t2", "-c4", "-d10s", url], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return 0.0


def _churn(srv: LiveServer, todo: list[tuple[str, str]], stop: threading.Event) -> None:
    for oid, path in todo:
        if stop.is_set():
            return
        get(srv.base + url_of(oid, path))


def under_load(srv: LiveServer, lines: list[tuple[str, str]], page: str) -> tuple[float, float]:
    """wrk req/s of *page* alone, and while 4 clients ask for real solves:
    the sampled blobs under abbreviations not asked before (the cache is
    keyed by the id as asked)."""
    alone = wrk(page)
    todo = [(oid[:n], p) for n in range(8, 13) for oid, p in lines if len(oid) >= n]
    stop = threading.Event()
    ts = [threading.Thread(target=_churn, args=(srv, todo[k::4], stop), daemon=True) for k in range(4)]
    for t in ts:
        t.start()
    busy = wrk(page)
    stop.set()
    for t in ts:
        t.join(timeout=60)
    return alone, busy


def message_page(srv: LiveServer) -> str:
    """The first message linked from the inbox's index."""
    _st, body = get(srv.base)
    m = re.search(rb'href="([^"?#/]+@[^"?#/]+)/T/', body)
    return srv.base + (m.group(1).decode() if m else "_/text/help") + "/"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    corpus = Path(os.environ.get("PUBINBOX_CORPUS", ROOT.parent / "shared" / "corpus"))
    ap.add_argument("--bundle", type=Path, default=corpus / "epochs" / "linux-erofs.lists.ozlabs.org.0.bundle")
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    work = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="bench-solver-"))
    env = clean_env(work / "home")
    try:
        print("indexing (pubinbox)...", file=sys.stderr)
        config, inboxdir = erofs_inbox(work, a.bundle, ROOT / ".venv" / "bin" / "pubinbox", env)
        lines = sample_index_lines(inboxdir / "git" / "0.git", a.n)
        res = {}
        for kind in ("public-inbox", "pubinbox"):
            print(f"solving with {kind}...", file=sys.stderr)
            with live_server(config, "erofs", kind=kind, env=env, timeout=1800) as srv:
                res[kind] = timed(srv, lines)
                if kind == "pubinbox" and shutil.which("wrk"):
                    for page in (srv.base + "_/text/help/", message_page(srv)):
                        alone, busy = under_load(srv, lines, page)
                        print(f"pubinbox {page}: {alone:.0f} req/s alone, {busy:.0f} req/s while 4 solves run")
        print(f"\n{len(lines)} blobs, one request each (seconds)")
        print(f"{'server':<14}{'found':>6}{'median':>9}{'p90':>9}{'p99':>9}{'max':>9}{'total':>9}")
        for kind, (ts, found) in res.items():
            print(
                f"{kind:<14}{found:>6}{statistics.median(ts):>9.3f}{pct(ts, 90):>9.3f}"
                f"{pct(ts, 99):>9.3f}{max(ts):>9.3f}{sum(ts):>9.1f}"
            )
        pi, pb = res["public-inbox"][0], res["pubinbox"][0]
        print(
            f"ratio public-inbox/pubinbox: median {statistics.median(pi) / statistics.median(pb):.2f}x, "
            f"p99 {pct(pi, 99) / pct(pb, 99):.2f}x"
        )
    finally:
        if not a.keep:
            with contextlib.suppress(OSError):
                shutil.rmtree(work)


if __name__ == "__main__":
    main()
