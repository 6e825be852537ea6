#!/usr/bin/env python3
"""Web benchmark: public-inbox-httpd vs pubinbox serve, wrk against both in one run.

    .venv/bin/python bench/web.py [--bundle BUNDLE] [--duration 10] [--rounds 2] [--connections 8]
                                  [--threads 2] [--pi-workers 2] [--pb-workers 2]
                                  [--mids 300] [--gzip] [--endpoints msg,T,...]
                                  [--workdir DIR] [--keep] [--reuse DIR]

One clone of the epoch (default linux-erofs) is made an inbox at indexlevel
full and indexed by both programs in place: `pubinbox init -L full` +
`pubinbox index` (overview + Tantivy in DIR/pubinbox, and msgmap.sqlite3),
then `public-inbox-index` (overview + Xapian in DIR/xap15, same article
numbers).  Both servers read the same config file and the same git data:

    public-inbox-httpd -W PI_WORKERS -l http://127.0.0.1:PORT   (PI_CONFIG=DIR/config)
    pubinbox --config DIR/config serve --http 127.0.0.1:PORT --workers PB_WORKERS

For every endpoint a list of paths is built (a deterministic sample of
--mids Message-IDs known to both, shuffled by SHA-1; ~30 search queries made
of frequent subject words), every path is fetched once from both servers
(paths that are not 200 on both are excluded, with a warning), then wrk runs
against each server in turn, --rounds times (which one goes first
alternates), each run after a --warmup run that is not recorded:

    wrk -t THREADS -c CONNECTIONS -d DURATION --latency --timeout 30s -s rotate.lua URL -- PATHS

rotate.lua gives each wrk thread its own starting point in the list and
walks it round-robin.  The table shows requests/s and the 99th percentile
latency of each (means of the rounds), the ratios pubinbox / public-inbox
(and the req/s ratio of each round, to show the noise), and whether the target
(req/s ratio >= 1.5 and p99 no worse) is met.  --reuse DIR skips the setup
and uses an inbox left by an earlier --keep run.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import datetime
import hashlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

NAME = "bench"
ENDPOINTS = ("msg", "T", "t", "index", "search", "atom", "mbox", "raw")
DESCR = {
    "msg": "message page /$MID/",
    "T": "thread, flat /$MID/T/",
    "t": "thread, nested /$MID/t/",
    "index": "index /$INBOX/",
    "search": "search /$INBOX/?q=",
    "atom": "/$INBOX/new.atom",
    "mbox": "/$MID/t.mbox.gz",
    "raw": "/$MID/raw",
}
TARGET_RPS = 1.5
_MID_SAFE = "-._~!$&'()*+,;=:@"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

LUA = r"""
-- round-robin over the paths in the file given after "--"; each thread
-- starts at its own place in the list
local paths = {}
local n = 0
local i = 0
local nthreads = 0

setup = function(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
end

init = function(args)
  for line in io.lines(args[1]) do
    n = n + 1
    paths[n] = line
  end
  local k = tonumber(args[2]) or 1
  i = math.floor((tid or 0) * n / k)
end

request = function()
  i = i % n + 1
  return wrk.format("GET", paths[i], HEADERS)
end
"""


def mid_url(mid: str) -> str:
    return urllib.parse.quote(mid, safe=_MID_SAFE)


def _h(s: str) -> str:
    return hashlib.sha1(s.encode()).hexdigest()


# ---------------------------------------------------------------- setup


def setup_inbox(work: Path, bundle: Path, pubinbox: str) -> C.Side:
    side = C.Side("both", work, name=NAME)
    C.log(f"cloning {bundle.name}")
    C.clone_epoch(bundle, side.inbox)
    C.init_pubinbox(side, pubinbox, level="full")
    C.log("pubinbox index (-L full)")
    t = C.run_timed([pubinbox, "--config", str(side.config), "index", "-q", str(side.inbox)], side.env(),
                    log_path=side.log("pb-index"))  # fmt: skip
    C.log(f"  {t.wall:.1f}s")
    C.log("public-inbox-index (-L full, same inbox, xap15/)")
    t = C.run_timed([C.which("public-inbox-index"), str(side.inbox)], side.env(), log_path=side.log("pi-index"))
    C.log(f"  {t.wall:.1f}s")
    (work / "READY").write_text(f"{bundle}\n")
    return side


# ---------------------------------------------------------------- paths


def sample_mids(side: C.Side, n: int) -> list[str]:
    """*n* Message-IDs known to both overviews, in SHA-1 order (a shuffle)."""
    pi = sqlite3.connect(f"file:{side.inbox / 'xap15' / 'over.sqlite3'}?mode=ro", uri=True)
    theirs = {str(m) for (m,) in pi.execute("SELECT mid FROM msgid")}
    pb = sqlite3.connect(f"file:{side.inbox / 'pubinbox' / 'over.sqlite3'}?mode=ro", uri=True)
    ours = [str(m) for (m,) in pb.execute("SELECT mid FROM over WHERE num > 0")]
    both = sorted((m for m in ours if m in theirs and "\n" not in m), key=_h)
    return both[:n]


STOP = {"patch", "re", "fwd", "the", "and", "for", "with", "from", "into", "when", "that", "this", "erofs", "f2fs"}


def search_queries(side: C.Side, n: int = 30) -> list[str]:
    """Frequent subject words (as words, s: and b:), plus two f: names."""
    pb = sqlite3.connect(f"file:{side.inbox / 'pubinbox' / 'over.sqlite3'}?mode=ro", uri=True)
    words: collections.Counter[str] = collections.Counter()
    froms: collections.Counter[str] = collections.Counter()
    for subj, frm in pb.execute("SELECT subject, from_ FROM over WHERE num > 0"):
        for w in re.findall(r"[a-z]{5,}", (subj or "").lower()):
            if w not in STOP:
                words[w] += 1
        m = re.search(r"<([^@>\s]+)@", frm or "")
        if m:
            froms[m.group(1)] += 1
    common = [w for w, _ in words.most_common(n)]
    qs = []
    for i, w in enumerate(common):
        qs.append(w if i % 3 == 0 else f"s:{w}" if i % 3 == 1 else f"b:{w}")
    qs += [f"f:{f}" for f, _ in froms.most_common(2)]
    qs += [f"{common[0]} {common[1]}", f'"{common[2]} {common[3]}"']
    return qs


def endpoint_paths(mids: list[str], queries: list[str]) -> dict[str, list[str]]:
    base = f"/{NAME}/"
    m = [base + mid_url(x) + "/" for x in mids]
    return {
        "msg": m,
        "T": [p + "T/" for p in m],
        "t": [p + "t/" for p in m],
        "index": [base],
        "search": [base + "?q=" + urllib.parse.quote_plus(q) for q in queries],
        "atom": [base + "new.atom"],
        "mbox": [p + "t.mbox.gz" for p in m],
        "raw": [p + "raw" for p in m],
    }


def status_of(url: str) -> tuple[int, int]:
    """(HTTP status, body bytes); status 0 on a connection error."""
    try:
        with _OPENER.open(url, timeout=120) as r:
            return int(r.status), len(r.read())
    except urllib.error.HTTPError as e:
        return int(e.code), 0
    except OSError:
        return 0, 0


def check_paths(servers: dict[str, str], paths: list[str]) -> tuple[list[str], list[tuple[str, dict[str, int]]]]:
    """(paths that are 200 on every server, [(path, {server: status})] of the others)."""
    jobs = [(p, k, servers[k] + p) for p in paths for k in servers]
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda j: status_of(j[2])[0], jobs))
    st: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for (p, k, _u), s in zip(jobs, got, strict=True):
        st[p][k] = s
    ok = [p for p in paths if all(v == 200 for v in st[p].values())]
    bad = [(p, st[p]) for p in paths if p not in ok]
    return ok, bad


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    label: str
    proc: subprocess.Popen[bytes]
    origin: str
    log: Path


def start_server(label: str, cmd: list[str], env: dict[str, str], port: int, log: Path, probe: str) -> Server:
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True)  # fmt: skip
    srv = Server(label, proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            C.die(f"{label} exited {proc.returncode}: {' '.join(cmd)}\n{log.read_text(errors='replace')[-2000:]}")
        if status_of(srv.origin + probe)[0] == 200:
            return srv
        time.sleep(0.1)
    stop_server(srv)
    C.die(f"{label} not ready after 120 s: {' '.join(cmd)}")
    raise AssertionError


def stop_server(srv: Server) -> None:
    if srv.proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(srv.proc.pid, sig)  # its own session: only what we started
        try:
            srv.proc.wait(15)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass
class Rss:
    """Resident memory of a server, MB: its process group (the server and the
    workers and helpers that stay in its group) and its whole session (also
    helpers that run in a process group of their own, like public-inbox's
    ``git cat-file --batch``)."""

    group: float
    session: float

    def max(self, other: Rss) -> Rss:
        return Rss(max(self.group, other.group), max(self.session, other.session))


def server_rss(srv: Server) -> Rss:
    """Sum of VmRSS over the server's process group and over its session
    (shared pages are counted once per process, as VmRSS does)."""
    group = session = 0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            pgid, sid = int(fields[2]), int(fields[3])
            if sid != srv.proc.pid:
                continue
            for line in (d / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    kb = int(line.split()[1])
                    session += kb
                    if pgid == srv.proc.pid:
                        group += kb
        except (OSError, ValueError, IndexError):
            continue
    return Rss(group / 1024, session / 1024)


# ---------------------------------------------------------------- wrk


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    bytes_per_req: float
    non2xx: int
    errors: str


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}
_SIZE = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def _ms(v: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", v)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def parse_wrk(out: str) -> WrkResult:
    def grab(pat: str) -> str | None:
        m = re.search(pat, out, re.MULTILINE)
        return m.group(1) if m else None

    rps = float(grab(r"^Requests/sec:\s+([\d.]+)") or 0)
    reqs_m = re.search(r"^\s+(\d+) requests in [\d.]+\w+, ([\d.]+)(B|KB|MB|GB) read", out, re.MULTILINE)
    reqs = int(reqs_m.group(1)) if reqs_m else 0
    read = float(reqs_m.group(2)) * _SIZE[reqs_m.group(3)] if reqs_m else 0.0
    errs = grab(r"^\s+Socket errors: (.+)$") or ""
    return WrkResult(
        rps=rps,
        p50_ms=_ms(grab(r"^\s+50%\s+(\S+)") or ""),
        p99_ms=_ms(grab(r"^\s+99%\s+(\S+)") or ""),
        requests=reqs,
        bytes_per_req=read / reqs if reqs else 0.0,
        non2xx=int(grab(r"^\s+Non-2xx or 3xx responses: (\d+)") or 0),
        errors=errs,
    )


def mean_result(rs: list[WrkResult]) -> WrkResult:
    """Rounds combined: req/s, p50, p99 the mean of the rounds;
    bytes per request over all requests; errors joined."""
    n = len(rs)
    return WrkResult(
        rps=sum(r.rps for r in rs) / n,
        p50_ms=sum(r.p50_ms for r in rs) / n,
        p99_ms=sum(r.p99_ms for r in rs) / n,
        requests=sum(r.requests for r in rs),
        bytes_per_req=sum(r.bytes_per_req * r.requests for r in rs) / max(sum(r.requests for r in rs), 1),
        non2xx=sum(r.non2xx for r in rs),
        errors="; ".join(r.errors for r in rs if r.errors),
    )


def run_wrk(
    wrk: str, origin: str, script: Path, paths_file: Path, args: argparse.Namespace, duration: int, log: Path
) -> WrkResult:
    cmd = [wrk, "-t", str(args.threads), "-c", str(args.connections), "-d", f"{duration}s", "--latency",
           "--timeout", "30s", "-s", str(script), origin + "/", "--", str(paths_file), str(args.threads)]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n{p.stdout}{p.stderr}\n")
    if p.returncode != 0:
        C.die(f"wrk failed ({p.returncode}): {p.stderr[-1000:]}")
    return parse_wrk(p.stdout)


# ---------------------------------------------------------------- main


def fmt_ms(v: float) -> str:
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, default=C.EROFS, help=f"v2 epoch bundle (default {C.EROFS.name})")
    ap.add_argument("--duration", type=int, default=10, help="seconds of wrk per endpoint and server (10)")
    ap.add_argument("--rounds", type=int, default=2, help="runs per endpoint and server, alternating (2)")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of unrecorded wrk before each run (2)")
    ap.add_argument("--connections", "-c", type=int, default=8, help="wrk connections (8)")
    ap.add_argument("--threads", "-t", type=int, default=2, help="wrk threads (2)")
    ap.add_argument("--pi-workers", type=int, default=2, help="public-inbox-httpd -W (default 2 = CPUs)")
    ap.add_argument("--pb-workers", type=int, default=2, help="pubinbox serve --workers (default 2 = CPUs)")
    ap.add_argument("--mids", type=int, default=300, help="Message-IDs to rotate over (300)")
    ap.add_argument("--gzip", action="store_true", help="send Accept-Encoding: gzip (as browsers do)")
    ap.add_argument("--endpoints", default=",".join(ENDPOINTS), help=f"subset of {','.join(ENDPOINTS)}")
    ap.add_argument("--pubinbox", default=str(C.DEFAULT_PUBINBOX), help="pubinbox executable")
    ap.add_argument("--workdir", help="empty directory to work in (default: a temp dir in /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (and the logs)")
    ap.add_argument("--reuse", type=Path, help="work directory of an earlier --keep run: skip clone and indexing")
    args = ap.parse_args()

    endpoints = [e for e in args.endpoints.split(",") if e]
    for e in endpoints:
        if e not in ENDPOINTS:
            C.die(f"unknown endpoint {e!r} (known: {', '.join(ENDPOINTS)})")
    wrk = C.which("wrk")
    pi_httpd = C.which("public-inbox-httpd")
    commit = C.git_commit()
    pb_ver, pi_ver = C.versions(args.pubinbox)
    if args.reuse:
        work, created = args.reuse.resolve(), False
        if not (work / "READY").exists():
            C.die(f"--reuse {work}: no READY marker (not a finished --keep run)")
        side = C.Side("both", work, name=NAME)
    else:
        if not args.bundle.exists():
            C.die(f"no such bundle: {args.bundle}")
        work, created = C.workdir(args.workdir, "pubinbox-bench-web.")
        side = setup_inbox(work, args.bundle, args.pubinbox)
    bundle_name = (work / "READY").read_text().strip().rsplit("/", 1)[-1]
    servers: list[Server] = []
    try:
        env = side.env()
        probe = f"/{NAME}/_/text/help/"
        pi_port, pb_port = free_port(), free_port()
        pi_cmd = [pi_httpd, "-W", str(args.pi_workers), "-l", f"http://127.0.0.1:{pi_port}"]
        pb_cmd = [args.pubinbox, "--config", str(side.config), "serve", "--http", f"127.0.0.1:{pb_port}",
                  "--workers", str(args.pb_workers)]  # fmt: skip
        C.log(" ".join(pi_cmd))
        pi = start_server("public-inbox", pi_cmd, env, pi_port, work / "pi-httpd.log", probe)
        servers.append(pi)
        C.log(" ".join(pb_cmd))
        pb = start_server("pubinbox", pb_cmd, env, pb_port, work / "pb-serve.log", probe)
        servers.append(pb)
        by_label = {"public-inbox": pi.origin, "pubinbox": pb.origin}

        mids = sample_mids(side, args.mids)
        queries = search_queries(side)
        all_paths = endpoint_paths(mids, queries)
        script = work / "rotate.lua"
        headers = '{["Accept-Encoding"] = "gzip"}' if args.gzip else "nil"
        script.write_text(LUA.replace("HEADERS", headers))
        wrk_log = work / "wrk.log"

        rows: list[list[str]] = []
        results: dict[str, dict[str, WrkResult]] = {}
        excluded: dict[str, int] = {}
        peak = {"public-inbox": Rss(0, 0), "pubinbox": Rss(0, 0)}
        t_start = datetime.datetime.now(datetime.UTC)
        load0 = os.getloadavg()
        for n, ep in enumerate(endpoints):
            C.log(f"{ep}: checking {len(all_paths[ep])} paths on both servers")
            ok, bad = check_paths(by_label, all_paths[ep])
            if bad:
                excluded[ep] = len(bad)
                C.log(f"  WARNING: {len(bad)} of {len(all_paths[ep])} paths excluded (not 200 on both), e.g.:")
                for p, st in bad[:5]:
                    C.log(f"    {p}  {st}")
            if not ok:
                C.log(f"  WARNING: no path of {ep} answers 200 on both servers: endpoint skipped")
                continue
            paths_file = work / f"paths-{ep}.txt"
            paths_file.write_text("".join(p + "\n" for p in ok))
            runs: dict[str, list[WrkResult]] = {"public-inbox": [], "pubinbox": []}
            for rnd in range(args.rounds):
                order = [pi, pb] if (n + rnd) % 2 == 0 else [pb, pi]
                for srv in order:
                    if args.warmup > 0:
                        run_wrk(wrk, srv.origin, script, paths_file, args, args.warmup, wrk_log)
                    r = run_wrk(wrk, srv.origin, script, paths_file, args, args.duration, wrk_log)
                    peak[srv.label] = peak[srv.label].max(server_rss(srv))  # at once: still as loaded
                    runs[srv.label].append(r)
                    C.log(
                        f"  {srv.label:12s} {r.rps:8.1f} req/s  p50 {fmt_ms(r.p50_ms)} ms  p99 {fmt_ms(r.p99_ms)} ms"
                        f"  {r.requests} reqs, {r.bytes_per_req / 1024:.1f} KB/req"
                        + (f"  NON-2xx {r.non2xx}" if r.non2xx else "")
                        + (f"  socket errors: {r.errors}" if r.errors else "")
                    )
                    time.sleep(1)
            a, b = mean_result(runs["public-inbox"]), mean_result(runs["pubinbox"])
            results[ep] = {"public-inbox": a, "pubinbox": b}
            per_round = [
                y.rps / x.rps if x.rps else float("inf") for x, y in zip(runs["public-inbox"], runs["pubinbox"])
            ]
            ratio = b.rps / a.rps if a.rps else float("inf")
            p99r = b.p99_ms / a.p99_ms if a.p99_ms else float("inf")
            met = ratio >= TARGET_RPS and p99r <= 1.0
            rows.append(
                [
                    ep,
                    str(len(ok)),
                    f"{a.rps:.1f}",
                    f"{b.rps:.1f}",
                    f"{ratio:.2f}",
                    " ".join(f"{x:.2f}" for x in per_round),
                    fmt_ms(a.p99_ms),
                    fmt_ms(b.p99_ms),
                    f"{p99r:.2f}",
                    f"{a.bytes_per_req / 1024:.1f}/{b.bytes_per_req / 1024:.1f}",
                    "yes" if met else "NO",
                ]
            )
        load1 = os.getloadavg()
        rss = {s.label: server_rss(s) for s in servers}
    finally:
        for s in servers:
            stop_server(s)

    header = ["endpoint", "paths", "pi req/s", "pb req/s", "ratio", "per round", "pi p99 ms", "pb p99 ms",
              "p99 ratio", "KB/req pi/pb", "target"]  # fmt: skip
    print()
    print(
        f"# web: {bundle_name}, wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s"
        f" (+{args.warmup:g}s warm-up) x {args.rounds} rounds, public-inbox-httpd -W{args.pi_workers},"
        f" pubinbox serve --workers {args.pb_workers}{', gzip' if args.gzip else ''}"
    )
    print(
        f"# {t_start:%Y-%m-%d %H:%M} UTC, pubinbox {pb_ver} at {commit}, public-inbox {pi_ver},"
        f" {os.cpu_count()} CPUs, load {load0[0]:.1f} -> {load1[0]:.1f}"
    )
    pi_m, pb_m = rss["public-inbox"], rss["pubinbox"]
    print(
        f"# server RSS after the runs (process group, idle 1 s): public-inbox {pi_m.group:.0f} MB,"
        f" pubinbox {pb_m.group:.0f} MB ({pb_m.group / pi_m.group:.2f}x); whole session (with helpers in"
        f" process groups of their own): {pi_m.session:.0f} / {pb_m.session:.0f} MB"
    )
    pi_p, pb_p = peak["public-inbox"], peak["pubinbox"]
    print(
        f"# highest RSS right after a run (process group): public-inbox {pi_p.group:.0f} MB,"
        f" pubinbox {pb_p.group:.0f} MB; whole session: {pi_p.session:.0f} / {pb_p.session:.0f} MB"
    )
    print(f"# target: pubinbox >= {TARGET_RPS}x public-inbox req/s and p99 no worse")
    if excluded:
        print("# excluded paths (not 200 on both): " + ", ".join(f"{k} {v}" for k, v in excluded.items()))
    print(C.table(rows, header))
    print()
    print(
        "| endpoint | paths | public-inbox req/s | pubinbox req/s | ratio | ratio per round"
        " | public-inbox p99 ms | pubinbox p99 ms | p99 ratio | KB/req (pi/pb) | target |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        r2 = [f"{row[0]} ({DESCR[row[0]]})", *row[1:]]
        r2[4] = f"**{r2[4]}**"
        print("| " + " | ".join(r2) + " |")
    if not args.reuse:
        C.cleanup(work, args.keep, created)


if __name__ == "__main__":
    main()
