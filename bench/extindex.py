#!/usr/bin/env python3
"""The cross-inbox index (/all/): ``pubinbox extindex --all`` vs
``public-inbox-extindex --all`` over the same indexed inboxes.

    .venv/bin/python bench/extindex.py [--bundle B]... [-L basic|medium|full]
                                       [--workdir DIR] [--keep]

Default: both corpus lists (linux-erofs and linux-f2fs-devel).  Each program
gets its own config and its own copies of the inboxes (``git clone --mirror``
of each bundle), indexed first by its own indexer (not timed: pubinbox at
``-L LEVEL``, default full, which its /all/ search federates over;
public-inbox at basic, the documented setup when an extindex covers every
inbox).  Then ``[extindex "all"] topdir`` is configured and the build is
timed: ``public-inbox-extindex --all TOPDIR`` (its Xapian index of every
message, default level) and ``pubinbox extindex --all`` (one overview row
per message, the copies, threads across inboxes; searches go to the
inboxes' own indexes).  Reported: wall and CPU time, messages and copies in
each index, and the ratio.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

BUNDLES = ("linux-erofs.lists.ozlabs.org.0.bundle", "linux-f2fs-devel.lists.sourceforge.net.0.bundle")


def _name(bundle: Path) -> str:
    return bundle.name.split(".")[0]


def setup(side: C.Side, bundles: list[Path], kind: str, pubinbox: str, level: str) -> None:
    env = side.env()
    for b in bundles:
        name = _name(b)
        d = side.root / name
        C.clone_epoch(b, d)
        if kind == "pi":
            cmd = [C.which("public-inbox-init"), "-V2", "-L", "basic", name, str(d), f"http://x/{name}", f"{name}@x"]
            C.run_timed(cmd, env, log_path=side.log("init"))
            C.log(f"public-inbox-index {name} ...")
            C.run_timed([C.which("public-inbox-index"), str(d)], env, log_path=side.log("index"))
        else:
            C.run_timed([pubinbox, "init", "-L", level, name, str(d), f"http://x/{name}", f"{name}@x"], env,
                        log_path=side.log("init"))  # fmt: skip
            C.log(f"pubinbox index {name} ...")
            C.run_timed([pubinbox, "index", "-q", str(d)], env, log_path=side.log("index"))
    top = side.root / "all"
    top.mkdir()
    subprocess.run(["git", "config", "-f", str(side.config), "extindex.all.topdir", str(top)], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", action="append", help="epoch bundle (repeat; default: both corpus lists)")
    ap.add_argument("-L", "--level", default="full", choices=("basic", "medium", "full"))
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--pubinbox", default=str(Path(sys.executable).parent / "pubinbox"))
    a = ap.parse_args()
    corpus = Path(
        __import__("os").environ.get("PUBINBOX_CORPUS", Path(__file__).resolve().parents[2] / "shared/corpus")
    )
    bundles = [Path(b) for b in a.bundle] if a.bundle else [corpus / "epochs" / b for b in BUNDLES]
    work, created = C.workdir(a.workdir, "bench-extindex-")
    try:
        pi = C.Side("public-inbox", work / "pi")
        pb = C.Side("pubinbox", work / "pb")
        setup(pi, bundles, "pi", a.pubinbox, a.level)
        setup(pb, bundles, "pb", a.pubinbox, a.level)
        C.log("timed: public-inbox-extindex --all ...")
        t_pi = C.run_timed([C.which("public-inbox-extindex"), "--all", str(pi.root / "all")], pi.env(),
                           log_path=pi.log("extindex"))  # fmt: skip
        C.log("timed: pubinbox extindex --all ...")
        t_pb = C.run_timed([a.pubinbox, "extindex", "--all"], pb.env(), log_path=pb.log("extindex"))
        pi_db = pi.root / "all" / "ei15" / "over.sqlite3"
        pb_db = pb.root / "all" / "pubinbox" / "over.sqlite3"
        rows = [
            ["public-inbox-extindex --all", f"{t_pi.wall:.1f}", f"{t_pi.cpu:.1f}",
             str(C.sql_count(pi_db, C.OVER_Q)), str(C.sql_count(pi_db, "SELECT COUNT(*) FROM xref3"))],
            ["pubinbox extindex --all", f"{t_pb.wall:.1f}", f"{t_pb.cpu:.1f}",
             str(C.sql_count(pb_db, C.OVER_Q)), str(C.sql_count(pb_db, "SELECT COUNT(*) FROM xref"))],
        ]  # fmt: skip
        pbv, piv = C.versions(a.pubinbox)
        print(f"# /all/ build, {', '.join(_name(b) for b in bundles)}; pubinbox {pbv} ({C.git_commit()}), "
              f"public-inbox {piv}; pubinbox inboxes at -L {a.level}, public-inbox's at basic")  # fmt: skip
        print(C.table(rows, ["build", "wall s", "cpu s", "messages", "copies"]))
        print(f"ratio (public-inbox wall / pubinbox wall): {t_pi.wall / t_pb.wall:.1f}x")
    finally:
        C.cleanup(work, a.keep, created)


if __name__ == "__main__":
    main()
