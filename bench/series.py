#!/usr/bin/env python3
"""Patch series benchmark (issue 12): detection cost and page latency on
the biggest inbox the corpus gives.

    .venv/bin/python bench/series.py [--level full] [--requests 200] [--workers 2]
                                     [--workdir DIR] [--keep] [--reuse DIR]

One v2 inbox is made of both corpus lists, linux-erofs as epoch 0 and
linux-f2fs-devel as epoch 1 (git clones of the bundles, ~37K messages),
and indexed with `pubinbox index -L LEVEL` (which computes the series at
the end).  Then, on that inbox:

- the series computed again from scratch (`series.sqlite3` removed,
  `pubinbox.series.store.sync`): its time against the index run's,
  i.e. what detection adds to `index` (target <= 15 % at -L full);
- `pubinbox serve -W WORKERS` on 127.0.0.1, one keep-alive client, each
  request timed: a page of 50 series (`/series/?o=K`, K distinct so no
  cache answers; target median < 50 ms), the same filtered
  (`state=latest`, `author=`, `q=`), the API's list (`limit=50`, a
  distinct cursor each), one series page, its mbox (b4 am's format: a git
  mailinfo per patch) the first time and again (cached), and a
  range-diff between two revisions.  Median, p90 and max in ms.

Run by hand; prints one table.  Figures are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DEFAULT_PUBINBOX,
    EROFS,
    F2FS,
    MAIN,
    Side,
    cleanup,
    die,
    git_commit,
    init_pubinbox,
    log,
    run_timed,
    stop,
    table,
    workdir,
)

PAGE = 50


def build(side: Side, pubinbox: str, level: str) -> float:
    for n, bundle in enumerate((EROFS, F2FS)):
        if not bundle.exists():
            die(f"{bundle} missing: set PUBINBOX_CORPUS")
        dest = side.inbox / "git" / f"{n}.git"
        dest.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", "--mirror", str(bundle), str(dest)], check=True)
    init_pubinbox(side, pubinbox, level=level)
    log(f"pubinbox index -L {level} (two epochs)")
    t = run_timed([pubinbox, "index", str(side.inbox)], side.env(), log_path=side.log("index"))
    return t.wall


def resync(side: Side) -> float:
    db = side.inbox / "pubinbox" / "series.sqlite3"
    for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        p.unlink(missing_ok=True)
    code = (
        "import sys, time; from pathlib import Path; from pubinbox.series.store import sync;"
        "from pubinbox.store.layout import Layout;"
        "t = time.monotonic(); sync(Layout(Path(sys.argv[1]))); print(time.monotonic() - t)"
    )
    py = str(MAIN / ".venv" / "bin" / "python")
    out = subprocess.run([py, "-c", code, str(side.inbox)], env=side.env(), capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, path: str) -> tuple[int, float, bytes]:
        t = time.perf_counter()
        self.conn.request("GET", path)
        r = self.conn.getresponse()
        body = r.read()
        return r.status, (time.perf_counter() - t) * 1000, body


def serve(side: Side, pubinbox: str, workers: int) -> tuple[subprocess.Popen[bytes], int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(side.log("serve"), "ab") as out:
        proc = subprocess.Popen(
            [pubinbox, "serve", "--http", f"127.0.0.1:{port}", "-W", str(workers)],
            env=side.env(), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    for _ in range(300):
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/")
            return proc, port
        except OSError:
            time.sleep(0.1)
    stop(proc)
    die("pubinbox serve did not start")
    raise AssertionError


def stats(ms: list[float]) -> list[str]:
    s = sorted(ms)
    return [str(len(s)), f"{statistics.median(s):.1f}", f"{s[int(len(s) * 0.9) - 1 if len(s) > 1 else 0]:.1f}",
            f"{s[-1]:.1f}"]  # fmt: skip


def measure(c: Client, paths: list[str]) -> list[float]:
    out = []
    for p in paths:
        status, ms, _ = c.get(p)
        if status != 200:
            die(f"GET {p}: {status}")
        out.append(ms)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--level", default="full", choices=("basic", "medium", "full"))
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--pubinbox", default=str(DEFAULT_PUBINBOX))
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--reuse", help="an inbox left by an earlier --keep run (DIR/pubinbox)")
    a = ap.parse_args()
    if a.reuse:
        root, created = Path(a.reuse).resolve(), False
        side = Side("pubinbox", root / "pubinbox")
        # the index time of the run that made it, from its log ("... in 282.7s, ...")
        got = re.search(r" in ([0-9.]+)s, ", side.log("index").read_text()) if side.log("index").exists() else None
        index_s = float(got.group(1)) if got else None
    else:
        root, created = workdir(a.workdir, "bench-series-")
        side = Side("pubinbox", root / "pubinbox")
        index_s = build(side, a.pubinbox, a.level)
    try:
        layout_db = side.inbox / "pubinbox"
        over = sqlite3.connect(layout_db / "over.sqlite3")
        msgs = over.execute("SELECT COUNT(*) FROM over").fetchone()[0]
        over.close()
        log("series again from scratch")
        series_s = resync(side)
        db = sqlite3.connect(layout_db / "series.sqlite3")
        nseries = db.execute("SELECT COUNT(*) FROM series").fetchone()[0]
        multi = db.execute("SELECT COUNT(*) FROM series WHERE total > 1").fetchone()[0]
        big = db.execute(
            "SELECT s.id FROM series s WHERE s.present = s.total AND s.total >= 5 ORDER BY s.total DESC LIMIT 20"
        ).fetchall()
        pair = db.execute(
            "SELECT a.id, b.id FROM series a JOIN series b ON a.email = b.email AND a.norm = b.norm"
            " AND b.version = a.version + 1 WHERE a.total >= 3 AND a.present = a.total AND b.present = b.total"
            " ORDER BY a.total DESC LIMIT 1"
        ).fetchone()
        author = db.execute("SELECT email FROM series GROUP BY email ORDER BY COUNT(*) DESC LIMIT 1").fetchone()[0]
        db.close()
        proc, port = serve(side, a.pubinbox, a.workers)
        try:
            c = Client(port)
            n = a.requests
            pages = max(nseries // PAGE, 1)
            offs = random.Random(12).sample(range(pages), min(n, pages))
            base = f"/{side.name}/series/"
            q = urllib.parse.quote
            rows = []
            measure(c, [base] * 3)  # warm up
            rows.append(["list page (50 series)", *stats(measure(c, [f"{base}?o={o * PAGE}" for o in offs]))])
            rows.append(
                ["  state=latest", *stats(measure(c, [f"{base}?o={o * PAGE}&state=latest" for o in offs[: n // 4]]))]
            )
            rows.append(
                [
                    "  author= (busiest)",
                    *stats(measure(c, [f"{base}?author={q(author)}&o={o}" for o in range(0, 40 * PAGE, PAGE)])),
                ]
            )
            rows.append(["  q=fix", *stats(measure(c, [f"{base}?q=fix&o={o * PAGE}" for o in offs[: n // 4]]))])
            api = f"/api/v1/inboxes/{side.name}/series?limit={PAGE}"
            rows.append(
                [
                    "API list (limit=50)",
                    *stats(measure(c, [api] + [f"{api}&state=latest&q=f{i}" for i in range(n // 4)])),
                ]
            )
            ids = [r[0] for r in big]
            rows.append(["one series page", *stats(measure(c, [f"{base}{q(i, safe='@')}/" for i in ids]))])
            rows.append(["its mbox (b4 am), first", *stats(measure(c, [f"{base}{q(i, safe='@')}/mbox" for i in ids]))])
            rows.append(["its mbox, cached", *stats(measure(c, [f"{base}{q(i, safe='@')}/mbox" for i in ids]))])
            if pair:
                rd = f"{base}{q(pair[1], safe='@')}/range-diff/{q(pair[0], safe='@')}/"
                rows.append(["range-diff, first", *stats(measure(c, [rd]))])
                rows.append(["range-diff, cached", *stats(measure(c, [rd] * 10))])
        finally:
            stop(proc)
        print(f"# bench/series.py at {git_commit()}, {os.cpu_count()} cores, serve -W {a.workers}")
        print(f"# inbox: linux-erofs + linux-f2fs-devel as two epochs: {msgs:,} messages, {nseries:,} series"
              f" ({multi:,} of several patches)")  # fmt: skip
        if index_s is not None:
            share = series_s / max(index_s - series_s, 1e-9) * 100
            print(f"# pubinbox index -L {a.level}: {index_s:.1f} s, of which series {series_s:.2f} s (+{share:.1f} %)")
        else:
            print(f"# series from scratch: {series_s:.2f} s")
        print(table(rows, ["request", "n", "median ms", "p90 ms", "max ms"]))
    finally:
        cleanup(root, a.keep or bool(a.reuse), created)
        if not a.keep and not a.reuse and created:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
