#!/usr/bin/env python3
"""API vs HTML benchmark (issue 12): the JSON API's message, thread and
search endpoints against the HTML pages of the same data, wrk against one
``pubinbox serve`` in the same run ("API at least as fast as the HTML").

    .venv/bin/python bench/api.py [--config FILE --inbox NAME] [--bundle BUNDLE]
                                  [--duration 10] [--rounds 2] [--warmup 2]
                                  [--connections 8] [--threads 2] [--workers 2]
                                  [--mids 300] [--workdir DIR] [--keep]

Without --config, one clone of the epoch (default linux-erofs) is made an
inbox at indexlevel full and indexed (`pubinbox init -L full`, `pubinbox
index`); with --config/--inbox an inbox indexed before is used as it is
(it must be searchable).  `pubinbox serve -W WORKERS` on 127.0.0.1, then for
each pair of endpoints, the same Message-IDs (a deterministic sample of
--mids, SHA-1 order) or the same queries (bench/web.py's frequent subject
words) on both sides:

    message   /$INBOX/$MID/          vs  /api/v1/inboxes/$INBOX/messages/$MID
    thread    /$INBOX/$MID/T/        vs  /api/v1/inboxes/$INBOX/threads/$MID
    search    /$INBOX/?q=Q           vs  /api/v1/inboxes/$INBOX/search?q=Q&limit=200

(the HTML search page shows 200 hits, so the API is asked for 200).  Every
path is fetched once (not 200: left out, with a warning), then wrk runs on
the HTML list and the API list in turn, --rounds times (which goes first
alternates), each after an unrecorded --warmup run (bench/web.py's wrk
script and parsing).  Both sides are served as in production: the API
remembers a document by its ETag and pages have their own caches, so the
paths are many and distinct (--webcache 1 serves without the document
cache, to compare the rendering itself).  The table gives requests/s, p50 and p99 of
each (means of the rounds) and the ratios API / HTML.  On a loaded machine
the absolute figures are noise; the ratios of the same run are the result.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import types
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

import web as W

PAIRS = ("message", "thread", "search")


def mids_of(over_db: Path, n: int) -> list[str]:
    db = sqlite3.connect(f"file:{over_db}?mode=ro", uri=True)
    try:
        got = [str(m) for (m,) in db.execute("SELECT mid FROM over WHERE num > 0") if m and "\n" not in str(m)]
    finally:
        db.close()
    return sorted(got, key=lambda m: hashlib.sha1(m.encode()).hexdigest())[:n]


def pair_paths(name: str, mids: list[str], queries: list[str]) -> dict[str, tuple[list[str], list[str]]]:
    base, api = f"/{name}/", f"/api/v1/inboxes/{name}/"
    m = [W.mid_url(x) for x in mids]
    q = [urllib.parse.quote_plus(x) for x in queries]
    return {
        "message": ([f"{base}{x}/" for x in m], [f"{api}messages/{x}" for x in m]),
        "thread": ([f"{base}{x}/T/" for x in m], [f"{api}threads/{x}" for x in m]),
        "search": ([f"{base}?q={x}" for x in q], [f"{api}search?q={x}&limit=200" for x in q]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, help="a config whose --inbox is indexed (else one is built)")
    ap.add_argument("--inbox", help="the inbox of --config")
    ap.add_argument("--bundle", type=Path, default=C.EROFS)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--connections", "-c", type=int, default=8)
    ap.add_argument("--threads", "-t", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--mids", type=int, default=300)
    ap.add_argument("--webcache", type=int, help="serve with pubinbox.webcache = BYTES (1: nothing fits)")
    ap.add_argument("--pubinbox", default=str(C.DEFAULT_PUBINBOX))
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    wrk = C.which("wrk")
    root, created = C.workdir(a.workdir, "bench-api-")
    try:
        if a.config is not None:
            if not a.inbox:
                C.die("--config needs --inbox")
            config, name = a.config.resolve(), str(a.inbox)
            inboxdir = Path(
                subprocess.run(["git", "config", "-f", str(config), f"publicinbox.{name}.inboxdir"],
                                 capture_output=True, text=True, check=True).stdout.strip()
            )  # fmt: skip
            env = dict(os.environ) | {"PI_CONFIG": str(config)}
        else:
            side = C.Side("api", root / "inbox", name=W.NAME)
            C.log(f"cloning {a.bundle.name}")
            C.clone_epoch(a.bundle, side.inbox)
            C.init_pubinbox(side, a.pubinbox, level="full")
            C.log("pubinbox index (-L full)")
            C.run_timed([a.pubinbox, "index", "-q", str(side.inbox)], side.env(), log_path=side.log("index"))
            config, name, inboxdir, env = side.config, W.NAME, side.inbox, side.env()
        if a.webcache is not None:  # a copy of the config, with the cache size
            copy = root / "serve.config"
            shutil.copyfile(config, copy)
            subprocess.run(["git", "config", "-f", str(copy), "pubinbox.webcache", str(a.webcache)], check=True)
            config = copy
            env = env | {"PI_CONFIG": str(copy)}
        over_db = inboxdir / "pubinbox" / "over.sqlite3"
        mids = mids_of(over_db, a.mids)
        queries = W.search_queries(types.SimpleNamespace(inbox=inboxdir), 30)
        port = W.free_port()
        log = root / "serve.log"
        srv = W.start_server("pubinbox", [a.pubinbox, "--config", str(config), "serve", "--http",
                                          f"127.0.0.1:{port}", "--workers", str(a.workers)],
                             env, port, log, f"/{name}/")  # fmt: skip
        script = root / "rotate.lua"
        script.write_text(W.LUA)
        rows = []
        try:
            for pair, (html, api) in pair_paths(name, mids, queries).items():
                ok_h, _ = W.check_paths({"s": srv.origin}, html)
                ok_a, _ = W.check_paths({"s": srv.origin}, api)
                keep = [i for i, (h, p) in enumerate(zip(html, api, strict=True)) if h in ok_h and p in ok_a]
                if len(keep) < len(html):
                    C.log(f"warning: {pair}: {len(html) - len(keep)} of {len(html)} paths left out (not 200)")
                if not keep:
                    C.die(f"{pair}: no path answers 200")
                files = {}
                for kind, paths in (("html", html), ("api", api)):
                    f = root / f"{pair}-{kind}.txt"
                    f.write_text("".join(paths[i] + "\n" for i in keep))
                    files[kind] = f
                got: dict[str, list[W.WrkResult]] = {"html": [], "api": []}
                for r in range(a.rounds):
                    for kind in ("html", "api") if r % 2 == 0 else ("api", "html"):
                        C.log(f"{pair} {kind} round {r + 1}")
                        if a.warmup:
                            W.run_wrk(wrk, srv.origin, script, files[kind], a, a.warmup, root / "wrk.log")
                        got[kind].append(W.run_wrk(wrk, srv.origin, script, files[kind], a, a.duration,
                                                   root / "wrk.log"))  # fmt: skip
                h, p = W.mean_result(got["html"]), W.mean_result(got["api"])
                if h.non2xx or p.non2xx:
                    C.log(f"warning: {pair}: non-2xx answers html {h.non2xx}, api {p.non2xx}")
                per_round = " ".join(f"{x.rps / y.rps:.2f}" for x, y in zip(got["api"], got["html"], strict=True))
                rows.append([pair, str(len(keep)), f"{h.rps:.0f}", f"{p.rps:.0f}", f"{p.rps / h.rps:.2f}",
                             W.fmt_ms(h.p50_ms), W.fmt_ms(p.p50_ms), W.fmt_ms(h.p99_ms), W.fmt_ms(p.p99_ms),
                             f"{p.p99_ms / h.p99_ms:.2f}", f"{h.bytes_per_req / 1024:.1f}",
                             f"{p.bytes_per_req / 1024:.1f}", per_round])  # fmt: skip
        finally:
            W.stop_server(srv)
        print(f"# bench/api.py at {C.git_commit()}, {os.cpu_count()} cores, serve -W {a.workers},"
              f" wrk -t {a.threads} -c {a.connections}, {a.rounds} x {a.duration} s per side; inbox {name}"
              + ("" if a.webcache is None else f", pubinbox.webcache = {a.webcache}"))  # fmt: skip
        print(C.table(rows, ["endpoint", "paths", "html req/s", "api req/s", "api/html", "html p50",
                             "api p50", "html p99", "api p99", "p99 api/html", "html KiB", "api KiB",
                             "api/html per round"]))  # fmt: skip
    finally:
        C.cleanup(root, a.keep, created)


if __name__ == "__main__":
    main()
