#!/usr/bin/env python3
"""Index benchmark: public-inbox-index vs pubinbox index on the same v2 epoch.

    .venv/bin/python bench/index.py [--bundle BUNDLE] [--reindex] [--jobs N]
                                    [-L basic|medium|full] [--rounds N]
                                    [--workdir DIR] [--keep]

The epoch bundle is cloned twice (git clone -q --mirror BUNDLE DIR/git/0.git),
each copy is initialised as a v2 inbox at indexlevel basic (or -L) with its own
PI_CONFIG (public-inbox-init -V2 -L basic / pubinbox init -L basic), then
`public-inbox-index DIR` and `pubinbox index DIR` are timed one after the
other (wall clock with time.monotonic, CPU as the user+system time of the
children from getrusage(RUSAGE_CHILDREN)).  Messages indexed are counted in
each one's over.sqlite3 (num > 0).  With --reindex, `--reindex` of both is
timed afterwards on the already indexed inboxes.  With --rounds N all of
it is repeated on fresh clones and the median ratios are printed too.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--bundle", type=Path, default=C.F2FS, help=f"v2 epoch bundle (default {C.F2FS.name}; {C.EROFS} is quicker)"
    )
    ap.add_argument("--reindex", action="store_true", help="also time --reindex of both")
    ap.add_argument(
        "--level",
        "-L",
        choices=("basic", "medium", "full"),
        default="basic",
        help="indexlevel of both inboxes (default basic: overview only; full builds the search indexes too)",
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat the whole comparison on fresh clones; the table shows each round and the median "
        "(on a shared machine one round can be off by 2x)",
    )
    ap.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        help="pass -j N to pubinbox index (public-inbox-index has no shards "
        "to parallelise at indexlevel basic, so it gets no -j)",
    )
    ap.add_argument("--pubinbox", default=str(C.DEFAULT_PUBINBOX), help="pubinbox executable")
    ap.add_argument("--workdir", help="empty directory to work in (default: a temp dir in /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    if not args.bundle.exists():
        C.die(f"no such bundle: {args.bundle}")
    pi_index = C.which("public-inbox-index")
    C.which("public-inbox-init")
    work, created = C.workdir(args.workdir, "pubinbox-bench-index.")
    commit = C.git_commit()
    pb_ver, pi_ver = C.versions(args.pubinbox)
    load_start = os.getloadavg()
    try:
        pb_args = ["-j", str(args.jobs)] if args.jobs is not None else []
        runs: list[tuple[str, str, C.Timing, int | None, int | None]] = []
        for rnd in range(1, args.rounds + 1):
            sfx = f"-{rnd}" if args.rounds > 1 else ""
            pi = C.Side("public-inbox", work / f"pi{sfx}")
            pb = C.Side("pubinbox", work / f"pb{sfx}")
            for side in (pi, pb):
                C.log(f"cloning {args.bundle.name} for {side.label}")
                C.clone_epoch(args.bundle, side.inbox)
            C.init_public_inbox(pi, level=args.level)
            C.init_pubinbox(pb, args.pubinbox, level=args.level)

            def one(step: str, extra: list[str], pi: C.Side = pi, pb: C.Side = pb) -> None:
                C.log(f"{step}: public-inbox-index {' '.join(extra)}")
                t = C.run_timed([pi_index, *extra, str(pi.inbox)], pi.env(), log_path=pi.log(step))
                runs.append(
                    (
                        step,
                        pi.label,
                        t,
                        C.sql_count(C.pi_over(pi.inbox), C.OVER_Q),
                        C.sql_count(pi.inbox / "msgmap.sqlite3", C.MSGMAP_Q),
                    )
                )
                C.log(f"  {t.wall:.2f}s wall")
                C.log(f"{step}: pubinbox index {' '.join(extra + pb_args)}")
                t = C.run_timed(
                    [args.pubinbox, "index", "-q", *extra, *pb_args, str(pb.inbox)], pb.env(), log_path=pb.log(step)
                )
                runs.append(
                    (
                        step,
                        pb.label,
                        t,
                        C.sql_count(C.pb_over(pb.inbox), C.OVER_Q),
                        C.sql_count(pb.inbox / "msgmap.sqlite3", C.MSGMAP_Q),
                    )
                )
                C.log(f"  {t.wall:.2f}s wall")

            one(f"index{sfx}", [])
            if args.reindex:
                one(f"reindex{sfx}", ["--reindex"])
            if args.rounds > 1 and not args.keep:
                for side in (pi, pb):
                    shutil.rmtree(side.root, ignore_errors=True)

        print(
            f"index benchmark, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
            f"pubinbox {pb_ver} at {commit}, public-inbox {pi_ver}, "
            f"{os.cpu_count()} CPUs, load avg at start "
            + " ".join(f"{x:.1f}" for x in load_start)
            + ", at end "
            + " ".join(f"{x:.1f}" for x in os.getloadavg())
        )
        print(
            f"epoch: {args.bundle}  indexlevel: {args.level}"
            + (f"  pubinbox -j {args.jobs}" if args.jobs is not None else "")
        )
        print(
            "messages = over.sqlite3 rows with num > 0 (what the rate is computed from); "
            "msgmap = rows in msgmap.sqlite3"
        )
        print()
        rows = []
        for step, label, t, n, nmap in runs:
            rows.append(
                [
                    step,
                    label,
                    str(n),
                    str(nmap),
                    f"{t.wall:.2f}",
                    f"{t.cpu:.2f}",
                    f"{C.rate(n, t.wall):.0f}",
                    f"{C.rate(n, t.cpu):.0f}",
                ]
            )
        print(C.table(rows, ["step", "program", "messages", "msgmap", "wall s", "cpu s", "msgs/s", "msgs/cpu-s"]))
        print()
        ratios: dict[str, list[tuple[float, float]]] = {}
        for step in dict.fromkeys(r[0] for r in runs):
            (_, _, ti, ni, _), (_, _, tb, nb, _) = [r for r in runs if r[0] == step]
            ratio = C.rate(nb, tb.wall) / C.rate(ni, ti.wall) if C.rate(ni, ti.wall) else 0
            cratio = C.rate(nb, tb.cpu) / C.rate(ni, ti.cpu) if C.rate(ni, ti.cpu) else 0
            ratios.setdefault(step.split("-")[0], []).append((ratio, cratio))
            warn = "" if ni == nb else f"   (message counts differ: {ni} vs {nb})"
            print(f"{step}: pubinbox/public-inbox msgs/s ratio = {ratio:.2f} (wall), {cratio:.2f} (cpu){warn}")
        if args.rounds > 1:
            for step, got in ratios.items():
                wall = statistics.median(r[0] for r in got)
                cpu = statistics.median(r[1] for r in got)
                print(f"{step}: median of {len(got)} rounds: {wall:.2f} (wall), {cpu:.2f} (cpu)")
    finally:
        C.cleanup(work, args.keep, created)


if __name__ == "__main__":
    main()
