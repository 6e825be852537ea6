"""Growth to a million messages: does pubinbox stay fast as an inbox grows?

Builds one inbox of ``--total`` messages (default 1,000,000) from the two
corpus lists (erofs + f2fs, 37K messages): copy *k* of every message gets
``.sK`` appended to the local part of every Message-ID, In-Reply-To and
References id (threads stay threads, copies never collide), its Date and
Received dates moved into a time slot of its own (copy *k* in slot *k* of
1995 to last month, the corpus' span compressed into one slot, so that
copies follow each other in time, oldest first, and every date is one a
real list could have: dates before 1970 are no dates to public-inbox's
rules, and a message without a usable date gets the time of its import)
and
`` (sK)`` appended to its Subject (else every subject comes back once per
copy, and ``/T/``, which also lists other threads of the same subject as
public-inbox's does, grows with the number of copies, not with the inbox).  The
messages are fed to ``pubinbox import`` 100,000 at a time (as mboxrd on a
pipe: nothing is written to disk but the inbox), and for each slice the
import rate is reported (store + overview + search at the inbox's level),
then the disk use per message (git, overview, msgmap, search).

Latency (median and p99 over repeated requests, ``pubinbox serve -W 2``):
a message page, its ``/T/``, the inbox index and 20 searches, measured once
the inbox holds the first ~15K messages and again at the end; the table
gives the ratio (end / start, ≤ 2 wanted).

    .venv/bin/python bench/scale.py                     # 1M messages, -L full: an hour or more
    .venv/bin/python bench/scale.py --total 200000 --level basic   # quicker look

pubinbox only (public-inbox is not run: this measures growth, not a ratio).
Needs ~10 GB of disk per million messages at -L full.
"""

from __future__ import annotations

import argparse
import datetime
import email.utils
import math
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_PUBINBOX, EROFS, F2FS, MAIN, die, git_commit, log

SLICE = 100_000
_MID_RE = re.compile(rb"<([^<>@\s]+)@([^<>\s]+)>")
_DATE_HDR = re.compile(rb"^(Date|Received):[^\n]*(?:\n[ \t][^\n]*)*", re.MULTILINE | re.IGNORECASE)
_DATE_ONLY = re.compile(rb"^Date:([^\n]*(?:\n[ \t][^\n]*)*)", re.MULTILINE | re.IGNORECASE)
_SUBJECT_HDR = re.compile(rb"^Subject:[^\n]*(?:\n[ \t][^\n]*)*", re.MULTILINE | re.IGNORECASE)
_ID_HDR = re.compile(rb"^(Message-ID|In-Reply-To|References):[^\n]*(?:\n[ \t][^\n]*)*", re.MULTILINE | re.IGNORECASE)
SEARCHES = [
    "erofs",
    "f2fs",
    "s:fix",
    "f:gao",
    "b:deadlock",
    '"page cache"',
    "s:erofs f:xiang",
    "d:2024-01-01..2024-02-01",
    "dfn:fs/f2fs/segment.c",
    "compression",
    "lz4 OR zstd",
    "s:PATCH -s:RFC",
    "nq:applied",
    "folio*",
    "checkpoint",
    "bs:crash",
    "t:linux-f2fs-devel",
    "s:v2",
    "garbage collection",
    "mount option",
]


def corpus_messages() -> list[bytes]:
    """Every message of both corpus epochs, in commit order."""
    out: list[bytes] = []
    for bundle in (EROFS, F2FS):
        tmp = Path(tempfile.mkdtemp(prefix="scale-src-"))
        subprocess.run(["git", "clone", "-q", "--mirror", str(bundle), str(tmp / "e.git")], check=True)
        revs = subprocess.run(
            ["git", f"--git-dir={tmp / 'e.git'}", "rev-list", "--reverse", "master"],
            capture_output=True,
            check=True,
            text=True,
        ).stdout.split()
        batch = subprocess.Popen(
            ["git", f"--git-dir={tmp / 'e.git'}", "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert batch.stdin is not None and batch.stdout is not None
        for rev in revs:
            batch.stdin.write(f"{rev}:m\n".encode())
            batch.stdin.flush()
            head = batch.stdout.readline().split()
            if len(head) < 3 or head[1] != b"blob":
                continue
            data = batch.stdout.read(int(head[2]))
            batch.stdout.read(1)
            out.append(data)
        batch.stdin.close()
        batch.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _parse_date(text: str) -> datetime.datetime | None:
    try:
        return email.utils.parsedate_to_datetime(" ".join(text.split()))
    except (TypeError, ValueError, OverflowError, OSError, IndexError):
        return None


def corpus_span(msgs: list[bytes]) -> tuple[int, int]:
    """The earliest and the latest Date: of the corpus (1990 to now)."""
    stamps = []
    for raw in msgs:
        m = _DATE_ONLY.search(raw, 0, max(0, raw.find(b"\n\n")) or len(raw))
        dt = _parse_date(m.group(1).decode("latin-1")) if m else None
        if dt is not None and 631152000 <= dt.timestamp() <= time.time():
            stamps.append(int(dt.timestamp()))
    return min(stamps), max(stamps)


def _shift_date(m: re.Match[bytes], remap: Callable[[float], float]) -> bytes:
    line = m.group(0)
    name, _, value = line.partition(b":")
    text = value.decode("latin-1")
    date_part = text.rsplit(";", 1)[-1] if name.lower() == b"received" else text
    dt = _parse_date(date_part)
    if dt is None:
        return line
    try:
        new = email.utils.format_datetime(dt.fromtimestamp(remap(dt.timestamp()), dt.tzinfo))
    except (TypeError, ValueError, OverflowError, OSError):
        return line
    if name.lower() == b"received":
        return name + b":" + (text.rsplit(";", 1)[0] + "; " + new).encode("latin-1")
    return name + b": " + new.encode("latin-1")


def copy_of(raw: bytes, k: int, remap: Callable[[float], float]) -> bytes:
    """Copy *k* of a message: ids suffixed, dates moved by *remap*."""
    end = raw.find(b"\n\n")
    head, body = (raw, b"") if end < 0 else (raw[: end + 1], raw[end + 1 :])
    sfx = b".s%d" % k

    def ids(m: re.Match[bytes]) -> bytes:
        return _MID_RE.sub(lambda x: b"<" + x.group(1) + sfx + b"@" + x.group(2) + b">", m.group(0))

    head = _ID_HDR.sub(ids, head)
    head = _DATE_HDR.sub(lambda m: _shift_date(m, remap), head)
    # a subject of its own per copy: public-inbox's /T/ also shows the
    # other threads with the same subject, and real lists don't repeat
    # every subject once per 37K messages
    head = _SUBJECT_HDR.sub(lambda m: m.group(0) + b" (s%d)" % k, head, count=1)
    return head + body


def stream(msgs: list[bytes], total: int) -> Iterator[bytes]:
    """*total* messages: copies of *msgs*, oldest copy first."""
    n = len(msgs)
    copies = -(-total // n)
    t0, t1 = corpus_span(msgs)
    base = 788918400  # 1995-01-01
    slot = (time.time() - 30 * 86400 - base) / copies
    scale = slot / max(1, t1 - t0)
    sent = 0
    for k in range(copies):
        start = base + k * slot

        def remap(t: float, start: float = start) -> float:
            return start + (t - t0) * scale

        for raw in msgs:
            if sent >= total:
                return
            yield copy_of(raw, k, remap)
            sent += 1


def mboxrd(raw: bytes) -> bytes:
    body = re.sub(rb"(?m)^(>*From )", rb">\1", raw)
    if not body.endswith(b"\n"):
        body += b"\n"
    return b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + body + b"\n"


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


Times = dict[str, dict[str, list[float]]]


def latency(pb: str, cfg: Path, name: str, mids: list[str], rounds: int) -> Times:
    """ms of each request of each page kind against a fresh `serve -W 2`,
    by path (an error page, e.g. 501 without search, gets no times)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = subprocess.Popen(
        [pb, "--config", str(cfg), "serve", "-W", "2", "--http", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}/{name}/"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        for _ in range(200):
            try:
                opener.open(base + "_/text/help/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        kinds = {
            "message": [base + urllib.parse.quote(m, safe="@") + "/" for m in mids],
            "/T/": [base + urllib.parse.quote(m, safe="@") + "/T/" for m in mids],
            "index": [base] * len(mids),
            "search": [base + "?q=" + urllib.parse.quote(q) for q in SEARCHES],
        }
        out: Times = {}
        for kind, urls in kinds.items():
            times: dict[str, list[float]] = {}
            out[kind] = times
            for _r in range(rounds):
                for u in urls:
                    t0 = time.monotonic()
                    try:
                        opener.open(u, timeout=60).read()
                    except OSError:  # an error page (e.g. 501: no search at -L basic) is no page
                        continue
                    times.setdefault(u.removeprefix(base), []).append((time.monotonic() - t0) * 1000)
        return out
    finally:
        import os
        import signal

        os.killpg(srv.pid, signal.SIGTERM)
        srv.wait(timeout=30)


def _stats(by_path: dict[str, list[float]]) -> tuple[float, float]:
    """Median and p99 of every time in *by_path* (NaN when there is none)."""
    times = sorted(t for ts in by_path.values() for t in ts)
    if not times:
        return float("nan"), float("nan")
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def sample_mids(inboxdir: Path, k: int = 20) -> list[str]:
    import sqlite3

    with sqlite3.connect(inboxdir / "pubinbox" / "over.sqlite3") as db:
        (hi,) = db.execute("SELECT MAX(num) FROM over").fetchone()
        step = max(1, hi // k)
        rows = db.execute("SELECT mid FROM over WHERE num > 0 AND num % ? = 0 LIMIT ?", (step, k)).fetchall()
    return [r[0] for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--total", type=int, default=1_000_000)
    ap.add_argument("--level", default="full", choices=["basic", "medium", "full"])
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--rounds", type=int, default=5, help="latency: rounds over the 20 pages of each kind")
    ap.add_argument("--pubinbox", default=str(DEFAULT_PUBINBOX))
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pubinbox-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    if any(work.iterdir()):
        die(f"{work} is not empty")
    pb, cfg, inboxdir, name = args.pubinbox, work / "config", work / "scale", "scale"
    env_cfg = ["--config", str(cfg)]
    log(f"pubinbox {git_commit()} ({MAIN}); work in {work}")
    msgs = corpus_messages()
    log(f"{len(msgs)} corpus messages; building {args.total} at -L {args.level}")
    subprocess.run([pb, *env_cfg, "init", "-L", args.level, name, str(inboxdir), "http://x/scale", "s@x"], check=True)
    rows: list[tuple[int, float, float]] = []
    early: Times | None = None
    gen = stream(msgs, args.total)
    done = 0
    while done < args.total:
        size = min(SLICE, args.total - done)
        first = done == 0
        if first:  # a first small slice: the latency baseline at ~15K
            size = min(15_000, size)
        with open(work / "import.log", "ab") as errlog:  # cross-posts: "reused for mismatched content"
            imp = subprocess.Popen([pb, *env_cfg, "import", "-q", name], stdin=subprocess.PIPE, stderr=errlog)
        assert imp.stdin is not None
        t0 = time.monotonic()
        for _ in range(size):
            imp.stdin.write(mboxrd(next(gen)))
        imp.stdin.close()
        if imp.wait() != 0:
            die("pubinbox import failed")
        dt = time.monotonic() - t0
        done += size
        rows.append((done, size / dt, du(inboxdir) / done))
        log(f"{done:>9} messages: slice of {size} at {size / dt:.0f} msgs/s, {du(inboxdir) / done:.0f} B/msg")
        if first:
            early = latency(pb, cfg, name, sample_mids(inboxdir), args.rounds)
    late = latency(pb, cfg, name, sample_mids(inboxdir), args.rounds)
    assert early is not None
    print(f"## scale, {args.total} messages, -L {args.level}, pubinbox {git_commit()}\n")
    print("| messages | import msgs/s (this slice) | disk B/msg (all so far) |\n|---:|---:|---:|")
    for n, rate, per in rows:
        print(f"| {n} | {rate:.0f} | {per:.0f} |")
    rates = [r for _n, r, _p in rows[1:]] or [rows[0][1]]
    print(f"\nslices of 100K: min {min(rates):.0f}, max {max(rates):.0f} msgs/s (spread {max(rates) / min(rates):.2f})")
    parts = {p: du(inboxdir / p) for p in ("git", "pubinbox/search")}
    parts["overview"] = sum(f.stat().st_size for f in (inboxdir / "pubinbox").glob("over.sqlite3*"))
    parts["msgmap"] = (inboxdir / "msgmap.sqlite3").stat().st_size
    print("\n| disk | bytes/msg |\n|---|---:|")
    for p, b in parts.items():
        print(f"| {p} | {b / args.total:.0f} |")
    print(f"\n| page | median ms at {rows[0][0]} | p99 | median ms at {args.total} | p99 | ratio (median) |")
    print("|---|---:|---:|---:|---:|---:|")
    notes = []
    for kind in late:
        small, large = early[kind], late[kind]
        if kind == "search":
            # the same queries at both sizes: one answered at one size only
            # (e.g. a 400 "too many terms" at 1M) would skew the comparison
            gone = sorted(set(small) ^ set(large))
            if gone:
                notes.append(
                    f"{kind}: left out, answered at one size only: {', '.join(map(urllib.parse.unquote, gone))}"
                )
            small = {k: v for k, v in small.items() if k in large}
            large = {k: v for k, v in large.items() if k in small}
        (m0, p0), (m1, p1) = _stats(small), _stats(large)
        if math.isnan(m0) or math.isnan(m1):  # every request failed
            print(f"| {kind} | - | - | - | - | no answers (search needs -L medium or full) |")
            continue
        print(f"| {kind} | {m0:.1f} | {p0:.1f} | {m1:.1f} | {p1:.1f} | {m1 / m0:.2f} |")
    for note in notes:
        print(f"\n{note}")
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
