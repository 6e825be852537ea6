#!/usr/bin/env python3
"""NNTP, IMAP and POP3 benchmark: public-inbox-nntpd/-imapd/-pop3d vs pubinbox serve, in one run.

    .venv/bin/python bench/nntp.py [--bundle BUNDLE] [--articles 1000] [--rounds 3]
                                   [--idle 100] [--workdir DIR] [--keep] [--reuse DIR]

One clone of the epoch (default linux-f2fs-devel) becomes an inbox with a
newsgroup, indexed by both programs in place (``pubinbox index``, then
``public-inbox-index``; same article numbers).  Both servers read the same
config and git data, one worker each:

    public-inbox-{nntpd,imapd,pop3d} -W0 -l {nntp,imap,pop3}://127.0.0.1:P
    pubinbox serve --nntp 127.0.0.1:P --pop3 127.0.0.1:P --imap 127.0.0.1:P -W 1

Measured, --rounds times each (which server goes first alternates), with one
client on one connection:

* OVER of the whole group (articles/s);
* ARTICLE by number of --articles numbers spread over the group (articles/s);
* POP3 RETR of --articles messages (messages/s), one at a time, then all
  sent at once (pipelined: shown, no target);
* IMAP ``UID FETCH 1:* (BODY.PEEK[HEADER])`` of the slice ``GROUP.0`` (messages/s);
* RSS of the serving processes with --idle idle NNTP connections open.

The table shows the medians, the ratio pubinbox / public-inbox (target:
>= 1.5 for the rates; RSS no more than public-inbox's) and the ratio of each
round (the first reads every blob cold; later rounds find delta bases in
each server's cache: git's 96 MiB per repository, our pubinbox.deltacache).
"""

from __future__ import annotations

import argparse
import imaplib
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

NAME = "bench"
#: a row without a target (the issue's rates are of one command at a time)
PIPELINED = "POP3 RETR pipelined /s (no target)"
GROUP = "bench.example"


class Conn:
    def __init__(self, port: int) -> None:
        self.s = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.f = self.s.makefile("rb", buffering=1 << 16)
        self.greeting = self.f.readline()

    def line(self, cmd: bytes) -> bytes:
        self.s.sendall(cmd + b"\r\n")
        return self.f.readline()

    def block(self) -> int:
        """Read a multi-line block to its end; returns its lines."""
        n = 0
        readline = self.f.readline
        while True:
            ln = readline()
            if ln == b".\r\n" or not ln:
                return n
            n += 1

    def close(self) -> None:
        self.s.close()


def wait(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            C.die(f"server on {port} exited {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(50)[:1] in (b"2", b"+", b"*"):
                    return
        except OSError:
            time.sleep(0.1)
    C.die(f"server on {port} not ready")


def tree_rss(pid: int) -> int:
    """KiB of RSS of *pid* and its descendants."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += kids.get(p, [])
        try:
            for ln in Path(f"/proc/{p}/status").read_text().splitlines():
                if ln.startswith("VmRSS:"):
                    total += int(ln.split()[1])
        except OSError:
            pass
    return total


def bench_over(port: int) -> float:
    c = Conn(port)
    _n, lo, hi = (int(x) for x in c.line(f"GROUP {GROUP}".encode()).split()[1:4])
    t0 = time.perf_counter()
    assert c.line(f"OVER {lo}-{hi}".encode()).startswith(b"224")
    got = c.block()
    dt = time.perf_counter() - t0
    c.close()
    return got / dt


def bench_article(port: int, nums: list[int]) -> float:
    c = Conn(port)
    c.line(f"GROUP {GROUP}".encode())
    t0 = time.perf_counter()
    for n in nums:
        assert c.line(b"ARTICLE %d" % n).startswith(b"220")
        c.block()
    dt = time.perf_counter() - t0
    c.close()
    return len(nums) / dt


def bench_imap(port: int) -> float:
    """``UID FETCH 1:* (BODY.PEEK[HEADER])`` of the first slice: messages/s."""
    m = imaplib.IMAP4("127.0.0.1", port, timeout=300)
    m.login("anonymous", "anonymous")
    m.select(f"{GROUP}.0", readonly=True)
    t0 = time.perf_counter()
    typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[HEADER])")
    dt = time.perf_counter() - t0
    assert typ == "OK"
    n = sum(1 for d in data if isinstance(d, tuple))
    m.logout()
    return n / dt


def bench_retr(port: int, count: int) -> float:
    c = Conn(port)
    c.line(f"USER {uuid.uuid4()}@{GROUP}".encode())
    assert c.line(b"PASS anonymous").startswith(b"+OK")
    total = int(c.line(b"STAT").split()[1])
    step = max(total // count, 1)
    picks = list(range(1, total + 1, step))[:count]
    t0 = time.perf_counter()
    for n in picks:
        assert c.line(b"RETR %d" % n).startswith(b"+OK")
        c.block()
    dt = time.perf_counter() - t0
    c.line(b"RSET")
    c.close()
    return len(picks) / dt


def bench_retr_pipelined(port: int, count: int) -> float:
    """RETR of the same messages, every command sent at once (RFC 2449
    PIPELINING; no target: it shows what a pipelining client gets)."""
    c = Conn(port)
    c.line(f"USER {uuid.uuid4()}@{GROUP}".encode())
    assert c.line(b"PASS anonymous").startswith(b"+OK")
    total = int(c.line(b"STAT").split()[1])
    picks = list(range(1, total + 1, max(total // count, 1)))[:count]
    t0 = time.perf_counter()
    sender = threading.Thread(target=c.s.sendall, args=(b"".join(b"RETR %d\r\n" % n for n in picks),))
    sender.start()
    for _ in picks:
        assert c.f.readline().startswith(b"+OK")
        c.block()
    dt = time.perf_counter() - t0
    sender.join()
    c.line(b"RSET")
    c.close()
    return len(picks) / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, default=C.F2FS)
    ap.add_argument("--articles", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--idle", type=int, default=100)
    ap.add_argument("--pubinbox", default=str(C.DEFAULT_PUBINBOX))
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--reuse", type=Path)
    a = ap.parse_args()
    if a.reuse:
        work, created = a.reuse, False
    else:
        work, created = C.workdir(a.workdir, "bench-nntp-")
    side = C.Side("both", work, name=NAME)
    try:
        if not (work / "READY").exists():
            C.log(f"cloning {a.bundle.name}")
            C.clone_epoch(a.bundle, side.inbox)
            C.init_pubinbox(side, a.pubinbox, config={f"publicinbox.{NAME}.newsgroup": GROUP,
                                                      "publicinbox.nntpserver": "news.example"})  # fmt: skip
            t = C.run_timed([a.pubinbox, "--config", str(side.config), "index", "-q", str(side.inbox)], side.env(),
                            log_path=side.log("pb-index"))  # fmt: skip
            C.log(f"pubinbox index {t.wall:.1f}s")
            t = C.run_timed([C.which("public-inbox-index"), str(side.inbox)], side.env(), log_path=side.log("pi-index"))
            C.log(f"public-inbox-index {t.wall:.1f}s")
            (work / "READY").write_text("ok\n")
        subprocess.run(["git", "config", "-f", str(side.config), "publicinbox.pop3state", str(work / "pop3state")],
                       check=True)  # fmt: skip
        ports = {k: C_free() for k in ("pi-nntp", "pi-pop3", "pi-imap", "pb-nntp", "pb-pop3", "pb-imap")}
        env = side.env()
        procs = {
            "public-inbox": [
                subprocess.Popen([C.which("public-inbox-nntpd"), "-W0", "-l", f"nntp://127.0.0.1:{ports['pi-nntp']}"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True),
                subprocess.Popen([C.which("public-inbox-imapd"), "-W0", "-l", f"imap://127.0.0.1:{ports['pi-imap']}"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True),
                subprocess.Popen([C.which("public-inbox-pop3d"), "-W0", "-l", f"pop3://127.0.0.1:{ports['pi-pop3']}"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True),
            ],
            "pubinbox": [
                subprocess.Popen([a.pubinbox, "--config", str(side.config), "serve", "-W", "1",
                                  "--nntp", f"127.0.0.1:{ports['pb-nntp']}", "--pop3", f"127.0.0.1:{ports['pb-pop3']}",
                                  "--imap", f"127.0.0.1:{ports['pb-imap']}"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True),
            ],
        }  # fmt: skip
        try:
            wait(ports["pi-nntp"], procs["public-inbox"][0])
            wait(ports["pi-imap"], procs["public-inbox"][1])
            wait(ports["pi-pop3"], procs["public-inbox"][2])
            wait(ports["pb-imap"], procs["pubinbox"][0])
            wait(ports["pb-nntp"], procs["pubinbox"][0])
            wait(ports["pb-pop3"], procs["pubinbox"][0])
            c = Conn(ports["pb-nntp"])
            n, lo, hi = (int(x) for x in c.line(f"GROUP {GROUP}".encode()).split()[1:4])
            c.close()
            step = max((hi - lo + 1) // a.articles, 1)
            nums = list(range(lo, hi + 1, step))[: a.articles]
            C.log(f"{n} articles {lo}-{hi}; {len(nums)} ARTICLE/RETR per run, {a.rounds} rounds")
            res: dict[str, dict[str, list[float]]] = {"public-inbox": {}, "pubinbox": {}}
            for r in range(a.rounds):
                order = ["public-inbox", "pubinbox"] if r % 2 == 0 else ["pubinbox", "public-inbox"]
                for who in order:
                    pre = "pi" if who == "public-inbox" else "pb"
                    d = res[who]
                    d.setdefault("OVER articles/s", []).append(bench_over(ports[f"{pre}-nntp"]))
                    d.setdefault("ARTICLE /s", []).append(bench_article(ports[f"{pre}-nntp"], nums))
                    d.setdefault("POP3 RETR /s", []).append(bench_retr(ports[f"{pre}-pop3"], a.articles))
                    d.setdefault(PIPELINED, []).append(bench_retr_pipelined(ports[f"{pre}-pop3"], a.articles))
                    d.setdefault("IMAP UID FETCH 1:* BODY.PEEK[HEADER] /s", []).append(bench_imap(ports[f"{pre}-imap"]))
            rss: dict[str, int] = {}
            for who, plist in procs.items():
                pre = "pi" if who == "public-inbox" else "pb"
                idle = [Conn(ports[f"{pre}-nntp"]) for _ in range(a.idle)]
                time.sleep(0.5)
                rss[who] = sum(tree_rss(p.pid) for p in plist)
                for cn in idle:
                    cn.close()
            rows = []
            for k in res["pubinbox"]:
                pi, pb = statistics.median(res["public-inbox"][k]), statistics.median(res["pubinbox"][k])
                met = "-" if k == PIPELINED else "yes" if pb / pi >= 1.5 else "no"
                per = " ".join(f"{b / a:.2f}" for a, b in zip(res["public-inbox"][k], res["pubinbox"][k], strict=True))
                rows.append([k, f"{pi:,.0f}", f"{pb:,.0f}", f"{pb / pi:.2f}x", per, met])
            pi, pb = rss["public-inbox"], rss["pubinbox"]
            rows.append([f"RSS, {a.idle} idle NNTP conns (MiB)", f"{pi / 1024:.0f}", f"{pb / 1024:.0f}",
                         f"{pb / pi:.2f}x", "", "yes" if pb <= pi else "no"])  # fmt: skip
            print(C.table(rows, ["measure", "public-inbox", "pubinbox", "ratio", "ratio per round", "target met"]))
        finally:
            for plist in procs.values():
                for p in plist:
                    C.stop(p, signal.SIGTERM, timeout=20)
    finally:
        C.cleanup(work, a.keep or a.reuse is not None, created)  # --reuse: the inbox is for the next run


def C_free() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    main()
