#!/usr/bin/env python3
"""Search benchmark: public-inbox -L full (Xapian) vs pubinbox -L full (Tantivy).

    .venv/bin/python bench/search.py [--bundle BUNDLE] [--reps N] [--limit N]
                                     [--no-compact] [--workdir DIR] [--keep]

On the same v2 epoch, cloned twice, in one run:

1. build: `public-inbox-init -V2 -L full` + `public-inbox-index DIR` vs
   `pubinbox init -L full` + `pubinbox index -q DIR`, timed (wall and CPU of
   the children), messages/s of each;
2. size on disk: public-inbox's DIR/xap15 (Xapian shards, and the total with
   over.sqlite3) vs pubinbox's DIR/pubinbox/search (and DIR/pubinbox with its
   over.sqlite3), DIR/git for reference; with --compact (default) also the
   Xapian shards after `public-inbox-compact` (not part of the build time);
3. query latency, in-process and warm: ~40 queries built from the epoch
   itself (real patch-ids, Message-IDs, subjects, senders, file names, hunk
   headers...), each run --reps times by one long-lived public-inbox process
   (bench/pi_query.pl: query_approxidate + mset(limit) + mset_to_smsg, as
   the WWW search page does) and by this Python process
   (pubinbox.inbox.Inbox.search(q, limit=...), which also fetches the
   overview rows), alternating query by query so that both see the same load;
   the median per query, then the median and p90 over the queries.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import email.utils
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

PI_QUERY = Path(__file__).resolve().parent / "pi_query.pl"

# targets from the issue
TARGET_BUILD = 5.0  # pubinbox builds >= 5x faster (msgs/s ratio)
TARGET_SIZE = 1 / 3  # index <= 1/3 of Xapian's size
TARGET_LATENCY = 0.5  # median latency <= 1/2 of public-inbox's


# ---------------------------------------------------------------- sizes


def disk_usage(path: Path, skip: tuple[str, ...] = ()) -> int:
    """Bytes allocated on disk (st_blocks), like du; names in *skip* at the
    top level are left out."""
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_blocks * 512
    total = 0
    for top in path.iterdir():
        if top.name in skip:
            continue
        if top.is_file():
            total += top.stat().st_blocks * 512
            continue
        for dirpath, _dirs, files in os.walk(top):
            for f in files:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
                except OSError:
                    pass
    return total


def mb(n: int) -> str:
    return f"{n / 1e6:.1f}"


def xapian_skip(xap: Path) -> tuple[str, ...]:
    """Names in xap15/ that are not Xapian shards (the overview)."""
    return tuple(p.name for p in xap.iterdir() if not p.name.isdigit()) if xap.exists() else ()


# ---------------------------------------------------------------- queries


class Blobs:
    """`git cat-file --batch` on one epoch."""

    def __init__(self, gitdir: Path) -> None:
        self.p = subprocess.Popen(
            ["git", f"--git-dir={gitdir}", "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    def get(self, oid: str) -> bytes:
        assert self.p.stdin and self.p.stdout
        self.p.stdin.write(oid.encode() + b"\n")
        self.p.stdin.flush()
        hdr = self.p.stdout.readline().split()
        if len(hdr) < 3:
            return b""
        data = self.p.stdout.read(int(hdr[2]) + 1)
        return data[:-1]

    def close(self) -> None:
        assert self.p.stdin
        self.p.stdin.close()
        self.p.wait()


# "[PATCH v2 1/3] x", also after a list tag: "[f2fs-dev] [PATCH] x"
PATCH_SUBJ = re.compile(r"^\s*(?:\[[^\]]*\]\s*)*?\[[^\]]*PATCH[^\]]*\]\s*(.+)$", re.IGNORECASE)
COVER = re.compile(r"\b0+/\d+\]")
IDENT = re.compile(r"\b([a-z][a-z0-9]*_[a-z0-9_]{3,})\b")
WORD = re.compile(r"[A-Za-z0-9]+")
Row = tuple[Any, ...]  # an over row: num, mid, subject, from_, ds, ts, blob, refs
Result = tuple[float, int, int] | str  # (seconds, total, hits) or an error


def patch_id(raw: bytes) -> str | None:
    p = subprocess.run(["git", "patch-id", "--stable"], input=raw, capture_output=True, check=False)
    out = p.stdout.split()
    return out[0].decode() if out and re.fullmatch(rb"[0-9a-f]{40,}", out[0]) else None


def ymd(ts: int, days: int = 0) -> str:
    return (datetime.datetime.fromtimestamp(ts, datetime.UTC) + datetime.timedelta(days=days)).strftime("%Y%m%d")


def iso(ts: int) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d")


def subject_phrase(subj: str, words: int = 5) -> str:
    """The first few words of a subject without its [PATCH ...] tag, as a
    phrase both query parsers accept (no quotes, parentheses or colons)."""
    m = PATCH_SUBJ.match(subj)
    text = m.group(1) if m else subj
    return " ".join(WORD.findall(text)[:words])


def build_queries(inbox: Path, over_db: Path) -> list[tuple[str, str]]:
    """(kind, query) pairs built from what the epoch really holds."""
    con = sqlite3.connect(f"file:{over_db}?mode=ro", uri=True)
    rows = con.execute(
        "SELECT num, mid, subject, from_, ds, ts, blob, refs FROM over WHERE num > 0 ORDER BY num"
    ).fetchall()
    con.close()
    if len(rows) < 100:
        C.die(f"only {len(rows)} messages in {over_db}")
    blobs = Blobs(inbox / "git" / "0.git")

    senders: collections.Counter[str] = collections.Counter()
    names: dict[str, str] = {}
    for r in rows:
        name, addr = email.utils.parseaddr(r[3] or "")
        if addr and "@" in addr and "lists." not in addr:  # not the list itself (DMARC From: rewriting)
            senders[addr.lower()] += 1
            if name:
                names.setdefault(addr.lower(), name)
    top = [a for a, _ in senders.most_common(5)]

    patches = [r for r in rows if PATCH_SUBJ.match(r[2] or "") and not COVER.search(r[2] or "")]
    covers = [r for r in rows if PATCH_SUBJ.match(r[2] or "") and COVER.search(r[2] or "")]
    if len(patches) < 10:
        C.die("too few [PATCH] messages in the epoch to build the query set")

    # real patches spread over the epoch: patch-id, files, hunk headers, +/- identifiers
    pids: list[tuple[Row, str]] = []
    files: collections.Counter[str] = collections.Counter()
    hunks: collections.Counter[str] = collections.Counter()
    added: collections.Counter[str] = collections.Counter()
    removed: collections.Counter[str] = collections.Counter()
    step = max(1, len(patches) // 60)
    for r in patches[::step]:
        raw = blobs.get(r[6])
        text = raw.decode("utf-8", "replace")
        if "\ndiff --git " not in text:
            continue
        for f in re.findall(r"^diff --git a/(\S+) b/", text, re.MULTILINE):
            files[f] += 1
        for h in re.findall(r"^@@ [^@]* @@ .*?\b([A-Za-z_][A-Za-z0-9_]{4,})\s*\(", text, re.MULTILINE):
            hunks[h] += 1
        plus_ids: set[str] = set()
        minus_ids: set[str] = set()
        for line in text.splitlines():
            if line.startswith("+") and not line.startswith("+++"):
                plus_ids.update(IDENT.findall(line))
            elif line.startswith("-") and not line.startswith("---"):
                minus_ids.update(IDENT.findall(line))
        added.update(plus_ids)  # counted once per patch: identifiers many patches touch
        removed.update(minus_ids)
        if len(pids) < 4:
            pid = patch_id(raw)
            if pid:
                pids.append((r, pid))

    # b4 change-id trailers in cover letters (newer lists only)
    change_ids: list[str] = []
    for r in covers[-200:]:
        m = re.search(rb"^change-id: (\S+)", blobs.get(r[6]), re.MULTILINE | re.IGNORECASE)
        if m:
            change_ids.append(m.group(1).decode())
    blobs.close()

    top_file = files.most_common(1)[0][0] if files else "Makefile"
    fs = top_file.split("/")[-2] if "/" in top_file else "mm"
    top_hunk = next((h for h, _ in hunks.most_common() if h not in ("static", "struct")), "main")
    plus = next((w for w, _ in added.most_common() if w.startswith(fs)), None) or (
        added.most_common(1)[0][0] if added else "kfree"
    )
    minus = next((w for w, _ in removed.most_common() if w != plus), "kfree")

    ds_sorted = sorted(r[4] for r in rows if r[4])
    mid_ts = ds_sorted[len(ds_sorted) // 2]
    early_ts = ds_sorted[len(ds_sorted) // 10]
    late_ts = ds_sorted[len(ds_sorted) * 9 // 10]
    rts = sorted(r[5] for r in rows if r[5])
    rt_mid = rts[len(rts) // 2]

    p1, p2, p3 = patches[len(patches) // 5], patches[len(patches) // 2], patches[len(patches) * 4 // 5]
    thread_root = next((r for r in rows[len(rows) // 3 :] if not r[7] and PATCH_SUBJ.match(r[2] or "")), rows[-1])
    reply = next((r for r in rows[len(rows) * 2 // 3 :] if (r[2] or "").lower().startswith("re:")), rows[-2])

    def addr_of(r: Row) -> str:
        return email.utils.parseaddr(r[3] or "")[1] or top[0]

    def b4(r: Row) -> str:
        return f'(s:"{subject_phrase(r[2], 8)}" AND f:"{addr_of(r)}" AND d:..{ymd(r[4], 1)})'

    top_name_last = WORD.findall(names.get(top[0], "") or "x")[-1]
    q: list[tuple[str, str]] = [
        ("word", "deadlock"),
        ("word", "compression"),
        ("words", "memory leak"),
        ("words", "use after free"),
        ("phrase", '"page cache"'),
        ("phrase", '"use after free"'),
        ("s:", "s:fix"),
        ("s:", f's:"{subject_phrase(p1[2])}"'),
        ("s:", "s:v2 s:PATCH"),
        ("f:", f"f:{top[0]}"),
        ("f:", f"f:{top_name_last}"),
        ("a:", f"a:{top[1 % len(top)]}"),
        ("b:", "b:kmalloc"),
        ("b:", 'b:"Reported-by: syzbot"'),
        ("nq:", 'nq:"Tested-by"'),
        ("dfn:", f"dfn:{top_file}"),
        ("dfn:", f"dfn:{top_file.split('/')[-1]}"),
        ("dfhh:", f"dfhh:{top_hunk}"),
        ("dfa:", f"dfa:{plus}"),
        ("dfb:", f"dfb:{minus}"),
        *[("patchid:", f"patchid:{pid}") for _r, pid in pids[:3]],
        ("b4 patchid OR", " OR ".join(f"patchid:{pid}" for _r, pid in pids[:2])),
        ("mid:", f"mid:{thread_root[1]}"),
        ("mid:", f"mid:{reply[1]}"),
        ("OR", "deadlock OR livelock"),
        ("NOT", f"s:fix NOT f:{top[0]}"),
        ("AND NOT", "compression AND NOT s:Re"),
        ("bool", f"(f:{top[0]} OR f:{top[2 % len(top)]}) AND s:fix"),
        ("d: range", f"d:{ymd(mid_ts)}..{ymd(mid_ts, 30)}"),
        ("d: upto", f"d:..{ymd(early_ts)}"),
        ("d: from", f"s:fix d:{ymd(late_ts)}.."),
        ("d: day", f"d:{ymd(mid_ts)}"),
        ("d: approxidate", "d:2.weeks.ago.."),
        ("rt:", f"rt:{iso(rt_mid)}..{iso(rt_mid + 14 * 86400)}"),
        ("b4 series", b4(p2)),
        ("b4 series", b4(p3)),
        ("wildcard", f"{fs}_f*"),
        ("wildcard", f"{top_hunk[: max(6, len(top_hunk) - 5)]}*"),
        ("wildcard", "mount*"),
        ("wildcard", "s:compr*"),
        ("wildcard", f"f:{top[0][:5]}*"),
    ]
    if change_ids:
        q.append(("b4 change-id", f'nq:"change-id: {change_ids[-1]}"'))
    # one query per line to the Perl worker
    return [(k, s.replace("\n", " ")) for k, s in q]


# ---------------------------------------------------------------- latency


class PerlWorker:
    def __init__(self, side: C.Side, limit: int) -> None:
        self.p = subprocess.Popen(
            ["perl", str(PI_QUERY), side.name, str(limit)],
            env=side.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(side.log("query"), "ab"),  # noqa: SIM115 - lives as long as the worker
            text=True,
            encoding="utf-8",
        )
        assert self.p.stdout
        line = self.p.stdout.readline()
        if line.strip() != "READY":
            C.die(f"{PI_QUERY} did not start (see {side.log('query')})")

    def run(self, q: str) -> Result:
        assert self.p.stdin and self.p.stdout
        self.p.stdin.write(q + "\n")
        self.p.stdin.flush()
        parts = self.p.stdout.readline().rstrip("\n").split("\t")
        if parts[0] != "OK":
            return parts[-1] if parts else "no reply"
        return float(parts[3]), int(parts[1]), int(parts[2])

    def close(self) -> None:
        assert self.p.stdin
        self.p.stdin.close()
        self.p.wait()


class PyWorker:
    def __init__(self, side: C.Side, limit: int) -> None:
        from pubinbox.config import load
        from pubinbox.inbox import Inbox

        self.limit = limit
        self.ibx = Inbox.open(load(side.config).inbox(side.name))
        _ = self.ibx.searcher  # open the index now, not inside the first timed query

    def run(self, q: str) -> Result:
        t0 = time.perf_counter()
        try:
            hits = self.ibx.search(q, limit=self.limit)
            _mids = [r.mid for r in hits.rows]
        except Exception as e:  # noqa: BLE001 - reported per query
            return f"{type(e).__name__}: {e}"
        return time.perf_counter() - t0, hits.total, len(hits.rows)

    def close(self) -> None:
        self.ibx.close()


class PySearcherOnly:
    """The same Inbox's Searcher.search alone (article numbers, no overview
    rows): where pubinbox's time goes, for the record; not in the ratios."""

    def __init__(self, py: PyWorker) -> None:
        self.s = py.ibx.searcher
        self.limit = py.limit

    def run(self, q: str) -> Result:
        t0 = time.perf_counter()
        try:
            r = self.s.search(q, limit=self.limit)
        except Exception as e:  # noqa: BLE001 - reported per query
            return f"{type(e).__name__}: {e}"
        return time.perf_counter() - t0, r.total, len(r.nums)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


# ---------------------------------------------------------------- main


def la(t: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.1f}" for x in t)


def ok(good: bool) -> str:
    return "meets" if good else "misses"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--bundle", type=Path, default=C.F2FS, help=f"v2 epoch bundle (default {C.F2FS.name}; {C.EROFS} is quicker)"
    )
    ap.add_argument("--reps", type=int, default=5, help="timed runs of each query per program (after one warm-up)")
    ap.add_argument("--limit", type=int, default=200, help="hits fetched per query")
    ap.add_argument("--no-compact", dest="compact", action="store_false", help="skip public-inbox-compact at the end")
    ap.add_argument("--pubinbox", default=str(C.DEFAULT_PUBINBOX), help="pubinbox executable")
    ap.add_argument("--workdir", help="empty directory to work in (default: a temp dir in /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    if not args.bundle.exists():
        C.die(f"no such bundle: {args.bundle}")
    pi_index = C.which("public-inbox-index")
    C.which("public-inbox-init")
    work, created = C.workdir(args.workdir, "pubinbox-bench-search.")
    commit = C.git_commit()
    pb_ver, pi_ver = C.versions(args.pubinbox)
    load0 = os.getloadavg()
    started = datetime.datetime.now().astimezone()
    try:
        pi = C.Side("public-inbox", work / "pi")
        pb = C.Side("pubinbox", work / "pb")
        for side in (pi, pb):
            C.log(f"cloning {args.bundle.name} for {side.label}")
            C.clone_epoch(args.bundle, side.inbox)

        # 1. build
        C.log("build: public-inbox-init -V2 -L full + public-inbox-index")
        t_pi_init = C.run_timed(
            [C.which("public-inbox-init"), "-V2", "-L", "full", pi.name, str(pi.inbox), pi.url, pi.address],
            pi.env(),
            log_path=pi.log("init"),
        )
        t_pi = C.run_timed([pi_index, str(pi.inbox)], pi.env(), log_path=pi.log("index"))
        C.log(f"  {t_pi_init.wall + t_pi.wall:.2f}s wall")
        C.log("build: pubinbox init -L full + pubinbox index")
        t_pb_init = C.run_timed(
            [args.pubinbox, "init", "-L", "full", pb.name, str(pb.inbox), pb.url, pb.address],
            pb.env(),
            log_path=pb.log("init"),
        )
        t_pb = C.run_timed([args.pubinbox, "index", "-q", str(pb.inbox)], pb.env(), log_path=pb.log("index"))
        C.log(f"  {t_pb_init.wall + t_pb.wall:.2f}s wall")
        load_build = os.getloadavg()
        n_pi = C.sql_count(C.pi_over(pi.inbox), C.OVER_Q)
        n_pb = C.sql_count(C.pb_over(pb.inbox), C.OVER_Q)
        pi_wall, pi_cpu = t_pi_init.wall + t_pi.wall, t_pi_init.cpu + t_pi.cpu
        pb_wall, pb_cpu = t_pb_init.wall + t_pb.wall, t_pb_init.cpu + t_pb.cpu

        # 2. size
        xap = pi.inbox / "xap15"
        own = pb.inbox / "pubinbox"
        sizes = {
            "pi_xapian": disk_usage(xap, xapian_skip(xap)),
            "pi_total": disk_usage(xap),
            "pb_search": disk_usage(own / "search"),
            "pb_total": disk_usage(own),
            "pi_git": disk_usage(pi.inbox / "git"),
            "pb_git": disk_usage(pb.inbox / "git"),
        }
        shards = sorted(p.name for p in xap.iterdir() if p.name.isdigit())

        # 3. latency
        queries = build_queries(pb.inbox, C.pb_over(pb.inbox))
        C.log(f"latency: {len(queries)} queries x (1 warm-up + {args.reps}) runs each, alternating programs")
        perl = PerlWorker(pi, args.limit)
        commit_q = C.git_commit()  # src/ is imported now; it may have moved since the build
        py = PyWorker(pb, args.limit)
        pys = PySearcherOnly(py)
        res: dict[str, list[list[tuple[float, int, int]]]] = {
            "pi": [[] for _ in queries],
            "pb": [[] for _ in queries],
            "pbs": [[] for _ in queries],
        }
        first: dict[str, list[Result | None]] = {
            "pi": [None] * len(queries),
            "pb": [None] * len(queries),
            "pbs": [None] * len(queries),
        }
        for rep in range(args.reps + 1):
            for i, (_kind, q) in enumerate(queries):
                for key, w in (
                    (("pi", perl), ("pb", py), ("pbs", pys))
                    if (rep + i) % 2 == 0
                    else (("pb", py), ("pbs", pys), ("pi", perl))
                ):
                    r = w.run(q)
                    if rep == 0:
                        first[key][i] = r
                    elif isinstance(r, tuple):
                        res[key][i].append(r)
        perl.close()
        py.close()
        load_end = os.getloadavg()

        # compaction (not part of the build time)
        compacted = None
        if args.compact:
            C.log("public-inbox-compact")
            t_c = C.run_timed(
                [C.which("public-inbox-compact"), str(pi.inbox)], pi.env(), log_path=pi.log("compact"), check=False
            )
            if t_c.rc == 0:
                compacted = (disk_usage(xap, xapian_skip(xap)), t_c)

        # ------------------------------------------------------------ report
        print(
            f"search benchmark, {started:%Y-%m-%d %H:%M %Z}, pubinbox {pb_ver} at {commit}, "
            f"public-inbox {pi_ver}, {os.cpu_count()} CPUs"
        )
        if commit_q != commit:
            print(f"NOTE: src/ changed during the run: build at {commit}, query latency at {commit_q}")
        print(f"load average: start {la(load0)}, after build {la(load_build)}, end {la(load_end)}")
        print(f"epoch: {args.bundle}  indexlevel: full  Xapian shards: {len(shards)}")
        print()
        print("1. build (init + index; messages = over.sqlite3 rows with num > 0)")
        rows = [
            [
                "public-inbox",
                str(n_pi),
                f"{pi_wall:.2f}",
                f"{pi_cpu:.2f}",
                f"{C.rate(n_pi, pi_wall):.0f}",
                f"{C.rate(n_pi, pi_cpu):.0f}",
            ],
            [
                "pubinbox",
                str(n_pb),
                f"{pb_wall:.2f}",
                f"{pb_cpu:.2f}",
                f"{C.rate(n_pb, pb_wall):.0f}",
                f"{C.rate(n_pb, pb_cpu):.0f}",
            ],
        ]
        print(C.table(rows, ["program", "messages", "wall s", "cpu s", "msgs/s", "msgs/cpu-s"]))
        b_wall = C.rate(n_pb, pb_wall) / C.rate(n_pi, pi_wall) if C.rate(n_pi, pi_wall) else 0
        b_cpu = C.rate(n_pb, pb_cpu) / C.rate(n_pi, pi_cpu) if C.rate(n_pi, pi_cpu) else 0
        print()
        print("2. size on disk (MB, allocated blocks)")
        rows = [
            ["public-inbox xap15/ Xapian shards", mb(sizes["pi_xapian"])],
            ["public-inbox xap15/ total (+ over.sqlite3)", mb(sizes["pi_total"])],
        ]
        if compacted:
            rows.append(
                [f"public-inbox Xapian after public-inbox-compact ({compacted[1].wall:.1f}s)", mb(compacted[0])]
            )
        rows += [
            ["pubinbox pubinbox/search (Tantivy)", mb(sizes["pb_search"])],
            ["pubinbox pubinbox/ total (+ over.sqlite3)", mb(sizes["pb_total"])],
            ["git/ (public-inbox copy, for reference)", mb(sizes["pi_git"])],
            ["git/ (pubinbox copy)", mb(sizes["pb_git"])],
        ]
        print(C.table(rows, ["what", "MB"]))
        s_ratio = sizes["pb_search"] / sizes["pi_xapian"] if sizes["pi_xapian"] else 0
        s_total = sizes["pb_total"] / sizes["pi_total"] if sizes["pi_total"] else 0
        s_comp = sizes["pb_search"] / compacted[0] if compacted and compacted[0] else 0
        print()
        print(
            f"3. query latency, in-process and warm, limit {args.limit}: median of {args.reps} runs per query "
            "(ms); hits = total matches (Xapian: estimated)"
        )
        rows = []
        med: dict[str, list[float]] = {"pi": [], "pb": [], "pbs": []}
        both_pi: list[float] = []
        both_pb: list[float] = []
        both_pbs: list[float] = []
        errors = []
        for i, (kind, q) in enumerate(queries):
            cells = [kind, q if len(q) <= 70 else q[:67] + "..."]
            m = {}
            for key in ("pi", "pb"):
                if res[key][i]:
                    m[key] = statistics.median(t for t, _tot, _n in res[key][i])
                    med[key].append(m[key])
                    cells += [str(res[key][i][0][1]), f"{m[key] * 1e3:.2f}"]
                else:
                    errors.append(f"{'public-inbox' if key == 'pi' else 'pubinbox'}: {q!r}: {first[key][i]}")
                    cells += ["ERR", "-"]
            if len(m) == 2:
                both_pi.append(m["pi"])
                both_pb.append(m["pb"])
                cells.append(f"{m['pb'] / m['pi']:.2f}")
            else:
                cells.append("-")
            if res["pbs"][i] and len(m) == 2:
                both_pbs.append(statistics.median(t for t, _tot, _n in res["pbs"][i]))
                cells.append(f"{both_pbs[-1] * 1e3:.2f}")
            else:
                cells.append("-")
            rows.append(cells)
        print(
            C.table(
                rows, ["kind", "query", "pi hits", "pi ms", "pb hits", "pb ms", "pb/pi", "pb Searcher-only ms"], left=2
            )
        )
        print(
            "(pb Searcher-only = Searcher.search alone: parse + Tantivy + article numbers, "
            "without Inbox.search's overview rows; not in the ratios)"
        )
        for e in errors:
            print(f"  error: {e}")
        print()
        lrows = []
        for label, xs in (
            ("public-inbox", both_pi),
            ("pubinbox", both_pb),
            ("(pubinbox Searcher only)", both_pbs),
        ):
            lrows.append(
                [label, str(len(xs)), f"{statistics.median(xs) * 1e3:.2f}", f"{pct(xs, 0.9) * 1e3:.2f}"]
                if xs
                else [label, "0", "-", "-"]
            )
        print(C.table(lrows, ["program", "queries", "median ms", "p90 ms"]))
        l_ratio = statistics.median(both_pb) / statistics.median(both_pi) if both_pi else 0
        l_p90 = pct(both_pb, 0.9) / pct(both_pi, 0.9) if both_pi else 0
        per_query = statistics.median(b / a for a, b in zip(both_pi, both_pb)) if both_pi else 0
        differ = sum(
            1 for i in range(len(queries)) if res["pi"][i] and res["pb"][i] and res["pi"][i][0][1] != res["pb"][i][0][1]
        )
        print(f"(medians over the {len(both_pi)} queries both answered; hit counts differ on {differ} of them)")
        print()
        print("ratios pubinbox / public-inbox:")
        print(
            f"  build speed (msgs/s): {b_wall:.2f} (wall), {b_cpu:.2f} (cpu)   "
            f"target >= {TARGET_BUILD:g}: {ok(b_wall >= TARGET_BUILD)} (wall), {ok(b_cpu >= TARGET_BUILD)} (cpu)"
        )
        print(
            f"  index size: search/Xapian {s_ratio:.2f}, pubinbox/ total vs xap15/ total {s_total:.2f}"
            + (f", search/compacted Xapian {s_comp:.2f}" if compacted else "")
            + f"   target <= {TARGET_SIZE:.2f}: {ok(s_ratio <= TARGET_SIZE)}"
        )
        print(
            f"  query latency: median {l_ratio:.2f}, p90 {l_p90:.2f}, median of per-query ratios {per_query:.2f}   "
            f"target <= {TARGET_LATENCY:g}: {ok(l_ratio <= TARGET_LATENCY)}"
        )
        if n_pi != n_pb:
            print(f"  (message counts differ: {n_pi} vs {n_pb})")
    finally:
        C.cleanup(work, args.keep, created)


if __name__ == "__main__":
    main()
