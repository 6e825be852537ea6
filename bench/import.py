#!/usr/bin/env python3
"""Import benchmark: pubinbox import vs public-inbox-watch (and -mda) on one mbox.

    .venv/bin/python bench/import.py [--bundle BUNDLE] [--limit N] [--mda-limit M]
                                     [--settle S] [--workdir DIR] [--keep]

The first N messages (default 5000) of an epoch (default linux-erofs) are
written as mboxrd by ../shared/corpus/tools/epoch2mboxrd.py.  Then, each
into a fresh v2 inbox at indexlevel basic with its own PI_CONFIG:

* pubinbox:      `pubinbox import NAME MBOX` (timed to exit);
* public-inbox:  1.9 has no bulk importer, so its documented fastest path,
  public-inbox-watch on a Maildir: the messages are written to the Maildir's
  new/ first (not timed), `publicinbox.NAME.watch=maildir:PATH` is set,
  public-inbox-watch is started and msgmap.sqlite3 is polled; the time is
  from start to the poll that first sees the final count (equal to the
  expected count, or unchanged for --settle seconds), then watch is stopped
  with SIGQUIT.  CPU includes watch's shutdown.
* per-message delivery: the first M messages (default 300) through
  `public-inbox-mda --no-precheck` and `pubinbox mda --no-precheck`, one
  process per message (ORIGINAL_RECIPIENT routes it), timed in total.

publicinboxmda.spamcheck and publicinboxwatch.spamcheck are `none`.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

NOSPAM = {"publicinboxmda.spamcheck": "none", "publicinboxwatch.spamcheck": "none"}


def counts(side: C.Side, over: Path) -> tuple[int | None, int | None]:
    return (C.sql_count(side.inbox / "msgmap.sqlite3", C.MSGMAP_Q), C.sql_count(over, C.OVER_Q))


def bench_watch(side: C.Side, expected: int, settle: float, timeout: float) -> C.Timing:
    """Start public-inbox-watch, poll msgmap until it holds every message."""
    db = side.inbox / "msgmap.sqlite3"
    base = C.sql_count(db, C.MSGMAP_Q) or 0
    logf = open(side.log("watch"), "wb")  # noqa: SIM115 (closed in finally)
    cpu0 = C._children_cpu()
    t0 = time.monotonic()
    proc = subprocess.Popen([C.which("public-inbox-watch")], env=side.env(), stdout=logf, stderr=logf)
    last_n, last_change = base, t0
    try:
        while True:
            time.sleep(0.1)
            now = time.monotonic()
            n = C.sql_count(db, C.MSGMAP_Q)
            if n is not None and n != last_n:
                last_n, last_change = n, now
            if last_n - base >= expected:
                break
            if last_n > base and now - last_change >= settle:
                C.log(f"watch: count settled at {last_n - base} of {expected} expected")
                break
            if proc.poll() is not None:
                C.die(f"public-inbox-watch exited {proc.returncode}, see {side.log('watch')}")
            if now - t0 > timeout:
                C.log(f"watch: timeout after {timeout}s at {last_n - base} messages")
                break
        wall = last_change - t0
    finally:
        C.stop(proc)
        logf.close()
    return C.Timing(wall, C._children_cpu() - cpu0, proc.returncode or 0)


def bench_mda(cmd: list[str], side: C.Side, msgs: list[bytes]) -> tuple[C.Timing, dict[int, int]]:
    env = side.env()
    env["ORIGINAL_RECIPIENT"] = side.address
    rcs: dict[int, int] = {}
    cpu0 = C._children_cpu()
    t0 = time.monotonic()
    with open(side.log("mda"), "ab") as logf:
        for raw in msgs:
            rc = subprocess.run(cmd, env=env, input=raw, stdout=logf, stderr=logf, check=False).returncode
            rcs[rc] = rcs.get(rc, 0) + 1
    return C.Timing(time.monotonic() - t0, C._children_cpu() - cpu0), rcs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--bundle", type=Path, default=C.EROFS, help=f"v2 epoch bundle the mbox is made from (default {C.EROFS.name})"
    )
    ap.add_argument("--limit", type=int, default=5000, help="messages in the mbox (default 5000; 0 = the whole epoch)")
    ap.add_argument(
        "--mda-limit", type=int, default=300, help="messages delivered one by one with -mda (default 300; 0 = skip)"
    )
    ap.add_argument(
        "--settle",
        type=float,
        default=30.0,
        help="stop waiting for public-inbox-watch after its count is unchanged "
        "this long (default 30 s; only if it never reaches the expected count)",
    )
    ap.add_argument("--timeout", type=float, default=3600.0, help="give up on watch after this")
    ap.add_argument("--pubinbox", default=str(C.DEFAULT_PUBINBOX), help="pubinbox executable")
    ap.add_argument("--workdir", help="empty directory to work in (default: a temp dir in /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    if not args.bundle.exists():
        C.die(f"no such bundle: {args.bundle}")
    for prog in ("public-inbox-init", "public-inbox-watch", "public-inbox-mda"):
        C.which(prog)
    work, created = C.workdir(args.workdir, "pubinbox-bench-import.")
    commit = C.git_commit()
    pb_ver, pi_ver = C.versions(args.pubinbox)
    try:
        C.log(f"writing mbox from {args.bundle.name}" + (f" (first {args.limit} messages)" if args.limit else ""))
        mbox = C.make_mbox(args.bundle, work, args.limit or None)
        msgs = C.read_mboxrd(mbox)
        n_in = len(msgs)
        maildir = work / "maildir"
        C.write_maildir(msgs, maildir)
        mbox_mb = mbox.stat().st_size / 1e6

        results: list[tuple[str, str, C.Timing, int | None, int | None, str]] = []

        # pubinbox import
        pb = C.Side("pubinbox", work / "pb")
        C.init_pubinbox(pb, args.pubinbox, config=NOSPAM)
        C.log(f"pubinbox import ({n_in} messages)")
        t = C.run_timed([args.pubinbox, "import", pb.name, str(mbox)], pb.env(), log_path=pb.log("import"))
        nmap, nover = counts(pb, C.pb_over(pb.inbox))
        results.append(("bulk", "pubinbox import (mbox)", t, nmap, nover, ""))
        C.log(
            f"  {t.wall:.2f}s wall, {nmap} in msgmap; "
            + pb.log("import").read_text(errors="replace").strip().splitlines()[-1]
        )

        # public-inbox-watch on the Maildir
        pi = C.Side("public-inbox", work / "pi")
        C.init_public_inbox(pi, config=NOSPAM, extra=["-c", f"watch=maildir:{maildir}"])
        expected = nmap or n_in
        C.log(f"public-inbox-watch (expecting {expected} messages, as pubinbox stored)")
        t = bench_watch(pi, expected, args.settle, args.timeout)
        nmap_w, nover_w = counts(pi, C.pi_over(pi.inbox))
        results.append(("bulk", "public-inbox-watch (Maildir)", t, nmap_w, nover_w, ""))
        C.log(f"  {t.wall:.2f}s wall, {nmap_w} in msgmap")

        # per-message delivery
        if args.mda_limit:
            sub = msgs[: args.mda_limit]
            pim = C.Side("public-inbox", work / "pi-mda")
            C.init_public_inbox(pim, config=NOSPAM)
            C.log(f"public-inbox-mda --no-precheck x {len(sub)}")
            t, rcs = bench_mda([C.which("public-inbox-mda"), "--no-precheck"], pim, sub)
            nm, no = counts(pim, C.pi_over(pim.inbox))
            results.append(
                (
                    "per-message",
                    "public-inbox-mda --no-precheck",
                    t,
                    nm,
                    no,
                    " ".join(f"rc{k}:{v}" for k, v in sorted(rcs.items())),
                )
            )
            C.log(f"  {t.wall:.2f}s wall")
            pbm = C.Side("pubinbox", work / "pb-mda")
            C.init_pubinbox(pbm, args.pubinbox, config=NOSPAM)
            C.log(f"pubinbox mda --no-precheck x {len(sub)}")
            t, rcs = bench_mda([args.pubinbox, "mda", "--no-precheck"], pbm, sub)
            nm, no = counts(pbm, C.pb_over(pbm.inbox))
            results.append(
                (
                    "per-message",
                    "pubinbox mda --no-precheck",
                    t,
                    nm,
                    no,
                    " ".join(f"rc{k}:{v}" for k, v in sorted(rcs.items())),
                )
            )
            C.log(f"  {t.wall:.2f}s wall")

        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"import benchmark, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
            f"pubinbox {pb_ver} at {commit}, public-inbox {pi_ver}, "
            f"{os.cpu_count()} CPUs, load avg at end {load}"
        )
        print(
            f"input: {n_in} messages ({mbox_mb:.1f} MB mboxrd) from {args.bundle.name}; "
            f"indexlevel basic; spamcheck none"
        )
        print("stored = rows in msgmap.sqlite3 (the rate is computed from it); over = over.sqlite3 rows with num > 0")
        print()
        rows = []
        for kind, label, t, nm, no, note in results:
            rows.append(
                [
                    kind,
                    label,
                    str(nm),
                    str(no),
                    f"{t.wall:.2f}",
                    f"{t.cpu:.2f}",
                    f"{C.rate(nm, t.wall):.1f}",
                    f"{C.rate(nm, t.cpu):.1f}",
                    note,
                ]
            )
        print(
            C.table(
                rows, ["mode", "program", "stored", "over", "wall s", "cpu s", "msgs/s", "msgs/cpu-s", "exit codes"]
            )
        )
        print()
        by = {r[1]: r for r in results}

        def ratio(a: str, b: str) -> str:
            ta, na = by[a][2], by[a][3]
            tb, nb = by[b][2], by[b][3]
            w = C.rate(na, ta.wall) / C.rate(nb, tb.wall) if C.rate(nb, tb.wall) else 0
            c = C.rate(na, ta.cpu) / C.rate(nb, tb.cpu) if C.rate(nb, tb.cpu) else 0
            return f"{w:.2f} (wall), {c:.2f} (cpu)"

        print(
            "pubinbox import / public-inbox-watch msgs/s = "
            + ratio("pubinbox import (mbox)", "public-inbox-watch (Maildir)")
        )
        if args.mda_limit:
            print(
                "pubinbox import / public-inbox-mda   msgs/s = "
                + ratio("pubinbox import (mbox)", "public-inbox-mda --no-precheck")
            )
            print(
                "pubinbox mda    / public-inbox-mda   msgs/s = "
                + ratio("pubinbox mda --no-precheck", "public-inbox-mda --no-precheck")
            )
    finally:
        C.cleanup(work, args.keep, created)


if __name__ == "__main__":
    main()
