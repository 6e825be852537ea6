#!/usr/bin/env python3
"""Mirroring benchmark: git over HTTP from pubinbox serve vs public-inbox-httpd,
and (with --clone-index) a whole mirror made with pubinbox clone vs
public-inbox-clone + public-inbox-init + public-inbox-index.

    .venv/bin/python bench/mirror.py [--bundle BUNDLE] [--rounds N] [-W N]
                                     [--clone-index] [-L basic|medium|full]
                                     [--workdir DIR] [--keep]

One v2 inbox is made from the epoch bundle (git clone --mirror BUNDLE
DIR/git/0.git, public-inbox-init -V2) and served at once by both servers
from the same config: ``pubinbox serve -W N`` and ``public-inbox-httpd -W N``
on 127.0.0.1.  Each round times ``git clone --mirror -q`` (smart HTTP,
protocol v2) of ``/bench/git/0.git`` from each server, alternating which goes
first; throughput is the cloned pack's size over the wall-clock time, and the
median of the rounds is reported with the ratio pubinbox / public-inbox.

--clone-index then times, from public-inbox-httpd (the same origin for both):
``pubinbox clone -L LEVEL URL DIR`` (clone, configure, index) against
``public-inbox-clone URL DIR`` + ``public-inbox-init -V2 -L LEVEL`` +
``public-inbox-index DIR``, and compares both mirrors' article numbers with
the origin's.  (public-inbox-index 1.9 leaves out messages whose Message-ID
was taken by an earlier, different message: the writer stored them under a
generated ``…@z`` Message-ID and numbered them; ``pubinbox index`` numbers
them as the writer did.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            C.die(f"server exited {proc.returncode} before it was ready ({url})")
        try:
            with opener.open(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    C.die(f"{url} not ready after {timeout}s")


def pack_bytes(git_dir: Path) -> int:
    return sum(p.stat().st_size for p in (git_dir / "objects" / "pack").glob("*.pack"))


def msgmap(inbox: Path) -> list[tuple[int, str]]:
    import sqlite3

    db = sqlite3.connect(f"file:{inbox / 'msgmap.sqlite3'}?mode=ro", uri=True)
    try:
        return list(db.execute("SELECT num, mid FROM msgmap ORDER BY num"))
    finally:
        db.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, default=C.EROFS, help=f"v2 epoch bundle (default {C.EROFS.name})")
    ap.add_argument("--rounds", type=int, default=3, help="clones per server (median reported)")
    ap.add_argument("-W", "--workers", type=int, default=1, help="worker processes of each server")
    ap.add_argument("--clone-index", action="store_true", help="also time a whole mirror: clone + index")
    ap.add_argument("-L", "--level", choices=("basic", "medium", "full"), default="full")
    ap.add_argument("--pubinbox", default=str(C.DEFAULT_PUBINBOX))
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if not a.bundle.is_file():
        C.die(f"{a.bundle}: no such bundle (set PUBINBOX_CORPUS)")
    work, created = C.workdir(a.workdir, "bench-mirror-")
    origin = C.Side("origin", work / "origin")
    procs: list[subprocess.Popen] = []
    try:
        C.clone_epoch(a.bundle, origin.inbox)
        C.init_public_inbox(origin, level="basic")
        # msgmap and overview (public-inbox-httpd serves git without them;
        # pubinbox clone's mirror gets the config snippet either way)
        C.run_timed([a.pubinbox, "index", "-q", str(origin.inbox)], origin.env(), log_path=origin.log("index"))
        env = origin.env()
        p1, p2 = free_port(), free_port()
        errs = open(work / "servers.log", "ab")  # noqa: SIM115 -- the servers' whole life
        procs.append(subprocess.Popen([a.pubinbox, "serve", "--http", f"127.0.0.1:{p1}", "-W", str(a.workers)],
                                      env=env, stdout=errs, stderr=errs, start_new_session=True))  # fmt: skip
        procs.append(subprocess.Popen([C.which("public-inbox-httpd"), "-W", str(a.workers), "-l", f"http://127.0.0.1:{p2}"],
                                      env=env, stdout=errs, stderr=errs, start_new_session=True))  # fmt: skip
        servers = {"pubinbox": f"http://127.0.0.1:{p1}", "public-inbox": f"http://127.0.0.1:{p2}"}
        for (_k, url), proc in zip(servers.items(), procs, strict=True):
            wait_ready(f"{url}/{origin.name}/git/0.git/info/refs?service=git-upload-pack", proc)
        C.log(
            f"pubinbox {C.versions(a.pubinbox)[0]}, public-inbox {C.versions(a.pubinbox)[1]}, commit {C.git_commit()}"
        )
        C.log(f"bundle {a.bundle.name}, {a.rounds} rounds, -W {a.workers}, load {os.getloadavg()[0]:.2f}")
        genv = {**os.environ, "HOME": str(work / "home"), "GIT_CONFIG_NOSYSTEM": "1"}
        (work / "home").mkdir(exist_ok=True)
        times: dict[str, list[float]] = {k: [] for k in servers}
        size = 0
        for r in range(a.rounds):
            order = list(servers) if r % 2 == 0 else list(reversed(servers))
            for kind in order:
                dst = work / f"clone-{kind}"
                shutil.rmtree(dst, ignore_errors=True)
                t = C.run_timed(["git", "-c", "protocol.version=2", "clone", "-q", "--mirror",
                                 f"{servers[kind]}/{origin.name}/git/0.git", str(dst)], genv)  # fmt: skip
                times[kind].append(t.wall)
                size = pack_bytes(dst)
                C.log(f"round {r + 1}: {kind}: {t.wall:.2f}s ({size / t.wall / 1e6:.1f} MB/s)")
        med = {k: statistics.median(v) for k, v in times.items()}
        rows = [[k, f"{med[k]:.2f}", f"{size / med[k] / 1e6:.1f}"] for k in servers]
        print(C.table(rows, ["git clone --mirror (smart HTTP v2)", "median s", "MB/s"]))
        print(
            f"pack {size / 1e6:.1f} MB; throughput pubinbox / public-inbox = {med['public-inbox'] / med['pubinbox']:.2f}x"
        )
        if a.clone_index:
            url = f"{servers['public-inbox']}/{origin.name}/"
            mine = C.Side("pubinbox", work / "mirror-pubinbox")
            theirs = C.Side("public-inbox", work / "mirror-public-inbox")
            for s in (mine, theirs):
                s.root.mkdir(parents=True, exist_ok=True)
            t_mine = C.run_timed([a.pubinbox, "clone", "-q", "-L", a.level, url, str(mine.inbox)], mine.env(),
                                 log_path=mine.log("clone"))  # fmt: skip
            t1 = C.run_timed(
                [C.which("public-inbox-clone"), url, str(theirs.inbox)], theirs.env(), log_path=theirs.log("clone")
            )
            t2 = C.run_timed([C.which("public-inbox-init"), "-V2", "-L", a.level, origin.name, str(theirs.inbox), url,
                              origin.address], theirs.env(), log_path=theirs.log("init"))  # fmt: skip
            t3 = C.run_timed(
                [C.which("public-inbox-index"), str(theirs.inbox)], theirs.env(), log_path=theirs.log("index")
            )
            t_theirs = t1.wall + t2.wall + t3.wall
            ref = msgmap(origin.inbox)
            same = {"pubinbox": msgmap(mine.inbox) == ref, "public-inbox": msgmap(theirs.inbox) == ref}
            n = len(msgmap(mine.inbox))
            print(C.table(
                [["pubinbox clone", f"{t_mine.wall:.1f}", f"{C.rate(n, t_mine.wall):.0f}"],
                 ["public-inbox-clone + init + index", f"{t_theirs:.1f}", f"{C.rate(n, t_theirs):.0f}"]],
                [f"mirror {n} messages, -L {a.level}", "s", "msg/s"]))  # fmt: skip
            print(f"pubinbox clone is {t_theirs / t_mine.wall:.2f}x faster")
            print(f"article numbers equal to the origin's: pubinbox {same['pubinbox']}, public-inbox {same['public-inbox']}"
                  f" ({len(msgmap(theirs.inbox))} numbered by public-inbox-index)")  # fmt: skip
    finally:
        for p in procs:
            C.stop(p)
        C.cleanup(work, a.keep, created)


if __name__ == "__main__":
    main()
