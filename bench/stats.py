#!/usr/bin/env python3
"""Statistics pages benchmark (issue 17): the first computation of an
inbox's figures, then the stats page under wrk beside a message page.

    bench/stats.py [--inbox INBOXDIR | --bundle BUNDLE] [--duration 10]

--inbox uses an indexed inbox without writing to it: its overview is
copied (SQLite backup) into a work directory and everything else is linked,
so stats.sqlite3 is made in the copy.  --bundle (default: linux-f2fs-devel)
clones an epoch and indexes it first (the index time is printed: the stats
add nothing to indexing, compare with bench/README's figure).

Printed: the SQL figures counted from scratch (cold: a new process, the
overview in the OS cache), the aggregates of stats.sqlite3 built from
nothing and then updated after --new messages (held back from the copy,
then put back), the review-trailer backlog read once (what
the web's background process does), then with ``pubinbox serve -W 1``:
the first stats request of the generation, the time until the reviewers
are complete, and wrk's median and p99 for /NAME/_/stats/, its JSON and
a message page, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import _common as C

from web import free_port, parse_wrk, start_server, stop_server

NAME = "bench"


def _copy_inbox(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True)
    for p in src.iterdir():
        if p.name in ("git", "all.git", "description"):  # only read
            (dst / p.name).symlink_to(p.resolve())
    (dst / "pubinbox").mkdir()
    for db in ("msgmap.sqlite3", "pubinbox/over.sqlite3"):
        a = sqlite3.connect(f"file:{src / db}?mode=ro", uri=True)
        b = sqlite3.connect(dst / db)
        a.backup(b)
        a.close()
        b.close()


def _config(cfg: Path, inboxdir: Path) -> None:
    for k, v in (("inboxdir", str(inboxdir)), ("address", "bench@example.org"), ("url", f"http://x/{NAME}")):
        subprocess.run(["git", "config", "-f", str(cfg), f"publicinbox.{NAME}.{k}", v], check=True)
    subprocess.run(["git", "config", "-f", str(cfg), f"publicinbox.{NAME}.indexlevel", "basic"], check=True)


def _get(url: str) -> tuple[float, bytes]:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as r:
        body = r.read()
    return time.perf_counter() - t, body


def _wrk(url: str, duration: int, log: Path) -> str:
    cmd = [C.which("wrk"), "-t", "2", "-c", "4", "-d", f"{duration}s", "--latency", "--timeout", "30s", url]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n{p.stdout}{p.stderr}\n")
    r = parse_wrk(p.stdout)
    return f"p50 {r.p50_ms:.2f} ms  p99 {r.p99_ms:.2f} ms  {r.rps:.0f} req/s  non-2xx {r.non2xx}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inbox", type=Path, help="an indexed v2 inbox (not written to)")
    ap.add_argument("--bundle", type=Path, default=C.F2FS, help=f"epoch bundle to index (default {C.F2FS.name})")
    ap.add_argument("--duration", type=int, default=10, help="seconds of wrk per page (10)")
    ap.add_argument("--new", type=int, default=100, help="new messages of the incremental update (100)")
    ap.add_argument("--work", type=Path, help="work directory (default: a temporary one)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-stats-"))
    work.mkdir(parents=True, exist_ok=True)
    inbox = work / NAME
    cfg = work / "config"
    env = dict(os.environ, PI_CONFIG=str(cfg))
    pubinbox = str(C.DEFAULT_PUBINBOX)
    if args.inbox:
        _copy_inbox(args.inbox, inbox)
        _config(cfg, inbox)
    else:
        (inbox / "git").mkdir(parents=True)
        subprocess.run(["git", "clone", "-q", "--mirror", str(args.bundle), str(inbox / "git" / "0.git")], check=True)
        subprocess.run([pubinbox, "init", "-L", "basic", NAME, str(inbox), f"http://x/{NAME}", "bench@x"], env=env,
                       check=True)  # fmt: skip
        t = time.perf_counter()
        subprocess.run([pubinbox, "index", str(inbox)], env=env, check=True)
        print(f"index (basic) {time.perf_counter() - t:.1f} s")
    over = inbox / "pubinbox" / "over.sqlite3"
    n = sqlite3.connect(over).execute("SELECT COUNT(*) FROM over WHERE num > 0").fetchone()[0]
    print(f"inbox: {n} messages ({args.inbox or args.bundle.name}); commit {C.git_commit()}")

    # in a new process: the count from scratch (no aggregates), then the
    # aggregates built from nothing while the newest --new messages are held
    # back (deleted from the copy), then put back: the update of a new
    # generation that aggregates them alone
    code = (
        "import sys, time, sqlite3; from pathlib import Path\n"
        "from pubinbox.stats.compute import compute, period, parse_since\n"
        "from pubinbox.stats.aggregate import figures, posters\n"
        "from pubinbox.store.layout import Layout\n"
        "p = Path(sys.argv[1]); L = Layout(p.parent.parent); n = int(sys.argv[2])\n"
        "t0 = time.perf_counter(); d = compute(p); t1 = time.perf_counter()\n"
        "period(p, d, parse_since(None, d)); t2 = time.perf_counter()\n"
        "db = sqlite3.connect(p, isolation_level=None); top = db.execute('SELECT MAX(num) FROM over').fetchone()[0]\n"
        "rows = db.execute('SELECT * FROM over WHERE num > ?', (top - n,)).fetchall()\n"
        "db.execute('DELETE FROM over WHERE num > ?', (top - n,))\n"
        "t3 = time.perf_counter(); figures(L); t4 = time.perf_counter()\n"
        "db.executemany('INSERT INTO over VALUES (' + ','.join('?' * len(rows[0])) + ')', rows); db.close()\n"
        "t5 = time.perf_counter(); f = figures(L); t6 = time.perf_counter(); posters(L, f, parse_since(None, f))\n"
        "t7 = time.perf_counter(); assert f == compute(p), 'aggregates differ from the count'\n"
        "print(f'{t1 - t0:.3f} {t2 - t1:.3f} {t4 - t3:.3f} {t6 - t5:.3f} {t7 - t6:.3f}')"
    )
    py = str(C.DEFAULT_PUBINBOX.parent / "python")
    res = subprocess.run([py, "-c", code, str(over), str(args.new)], capture_output=True, text=True)
    if res.returncode:
        sys.exit(res.stderr)
    scratch, per, built, upd, aper = (float(x) for x in res.stdout.split())
    print(
        f"from scratch (SQL over the overview, cold process): {scratch:.3f} s; posters of the default year: {per:.3f} s"
    )
    print(f"aggregates built from nothing ({n - args.new} messages): {built:.3f} s")
    print(f"new generation after {args.new} new messages (incremental): {upd:.3f} s; posters: {aper:.3f} s")
    print(f"load average: {os.getloadavg()}")

    port = free_port()
    log = work / "serve.log"
    srv = start_server("pubinbox", [pubinbox, "serve", "--http", f"127.0.0.1:{port}", "-W", "1"], env, port, log,
                       f"/{NAME}/_/text/help/")  # fmt: skip
    try:
        base = f"{srv.origin}/{NAME}"
        first, _b = _get(f"{base}/_/stats/")
        print(f"first stats page of the generation: {first:.3f} s")
        t = time.perf_counter()
        while json.loads(_get(f"{base}/_/stats/json")[1])["reviews_pending"]:
            time.sleep(0.2)
        print(f"review trailers read (background process, whole archive): {time.perf_counter() - t + first:.1f} s")
        mid = sqlite3.connect(over).execute("SELECT mid FROM over WHERE num > 0 ORDER BY ts DESC LIMIT 1").fetchone()[0]
        msg = f"{base}/{urllib.request.quote(mid, safe='@')}/"
        for label, url in (("stats page", f"{base}/_/stats/"), ("stats json", f"{base}/_/stats/json"),
                           ("message page", msg)):  # fmt: skip
            _get(url)
            print(f"{label:13} {_wrk(url, args.duration, work / 'wrk.log')}")
    finally:
        stop_server(srv)
    print(f"work directory: {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
