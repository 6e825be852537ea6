#!/usr/bin/env python3
"""Watch benchmark: messages dropped into a watched Maildir at once, time
until all are stored and searchable: pubinbox watch vs public-inbox-watch.

    .venv/bin/python bench/watch.py [--bundle BUNDLE] [--limit N] [-L LEVEL]
                                    [--workdir DIR] [--keep]

The first N messages (default 10,000) of an epoch (default linux-erofs) are
written as mboxrd by ../shared/corpus/tools/epoch2mboxrd.py and split.  Each
side gets a fresh v2 inbox (indexlevel medium by default: searchable means
in the overview and the full-text index) with
``publicinbox.bench.watch = maildir:DIR`` and spamcheck none, and its
watcher is started on the empty Maildir and given 3 s to settle (not
timed).  Timed: from the first message written (tmp/ then renamed into
new/, as an MDA does, all N as fast as possible) to the poll that sees N
rows in the overview (``xap15/over.sqlite3`` / ``pubinbox/over.sqlite3``,
polled every 0.1 s), or the last change of that count when it stays
unchanged for --settle seconds (the corpus holds exact copies, which both
drop).  Then the watcher is stopped (SIGQUIT / SIGTERM).
"""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C


def drop(msgs: list[bytes], md: Path) -> None:
    for i, raw in enumerate(msgs):
        name = f"1700000000.{i:06d}.bench"
        tmp = md / "tmp" / name
        tmp.write_bytes(raw)
        os.rename(tmp, md / "new" / name)


def run_side(
    side: C.Side, cmd: list[str], over: Path, msgs: list[bytes], timeout: float, sig: int, settle: float
) -> tuple[float, int | None]:
    md = side.root / "maildir"
    for sub in ("new", "cur", "tmp"):
        (md / sub).mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "config", "-f", str(side.config), f"publicinbox.{side.name}.watch", f"maildir:{md}"], check=True
    )
    logf = open(side.log("watch"), "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(cmd, env=side.env(), stdout=logf, stderr=logf)
    try:
        time.sleep(3.0)
        t0 = time.monotonic()
        drop(msgs, md)
        C.log(f"{side.label}: {len(msgs)} messages written in {time.monotonic() - t0:.1f}s")
        n: int | None = None
        last_n, last_change = -1, t0
        while time.monotonic() - t0 < timeout:
            time.sleep(0.1)
            now = time.monotonic()
            got = C.sql_count(over, C.OVER_Q)
            if got is None:
                continue
            if got != last_n:
                last_n, last_change, n = got, now, got
            if got >= len(msgs) or now - last_change >= settle:
                break  # all, or no change for a while (the corpus has exact copies)
        wall = last_change - t0
    finally:
        C.stop(proc, sig)
        logf.close()
    return wall, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, default=C.EROFS)
    ap.add_argument("--limit", type=int, default=10_000)
    ap.add_argument("-L", "--level", default="medium", choices=["basic", "medium", "full"])
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--settle", type=float, default=60.0, help="done when the count stays for this long")
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--pubinbox", default=str(C.DEFAULT_PUBINBOX))
    args = ap.parse_args()
    work, created = C.workdir(args.workdir, "bench-watch-")
    try:
        msgs = C.read_mboxrd(C.make_mbox(args.bundle, work, args.limit))
        nospam = {"publicinboxmda.spamcheck": "none", "publicinboxwatch.spamcheck": "none"}
        pi = C.Side("public-inbox", work / "pi")
        pb = C.Side("pubinbox", work / "pb")
        C.init_public_inbox(pi, config=nospam, level=args.level)
        C.init_pubinbox(pb, args.pubinbox, config=nospam, level=args.level)
        rows = []
        got = {}
        for side, cmd, over, sig in (
            (pb, [args.pubinbox, "watch", "-q"], C.pb_over(pb.inbox), signal.SIGTERM),
            (pi, [C.which("public-inbox-watch")], C.pi_over(pi.inbox), signal.SIGQUIT),
        ):
            wall, n = run_side(side, cmd, over, msgs, args.timeout, sig, args.settle)
            got[side.label] = wall
            rows.append([side.label, str(n), f"{wall:.1f}", f"{C.rate(n, wall):.0f}"])
            C.log(f"{side.label}: {n} in the overview after {wall:.1f}s")
        print(f"# watch benchmark {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M}Z, pubinbox {C.git_commit()}")
        print(f"# {len(msgs)} messages from {args.bundle.name}, indexlevel {args.level}, load {os.getloadavg()[0]:.2f}")
        print(C.table(rows, ["program", "messages", "seconds", "msg/s"]))
        print(f"ratio (public-inbox time / pubinbox time): {got['public-inbox'] / got['pubinbox']:.2f}")
    finally:
        C.cleanup(work, args.keep, created)


if __name__ == "__main__":
    main()
