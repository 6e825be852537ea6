#!/usr/bin/env python3
"""LMTP benchmark: messages/s delivered over one LMTP connection to
``pubinbox serve --lmtp`` vs ``pubinbox mda`` run once per message (the
pipe an MTA uses without LMTP).

    .venv/bin/python bench/lmtp.py [--mbox MBOX] [--limit N] [-L LEVEL] [--connections N] [--workdir DIR] [--keep]

The first N messages (default 500) of MBOX (default sample/sample.mbox,
then the linux-erofs epoch of the corpus when more are asked for) go to two
fresh inboxes at the same indexlevel (default medium), spamcheck none,
``--no-precheck`` semantics are not used: both paths run the mda's checks
(the sample's messages are addressed to the list, so To/Cc is rewritten to
the inbox address first).  Timed: the whole loop of deliveries.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C


def messages(mbox: Path, limit: int, address: str) -> list[bytes]:
    sys.path.insert(0, str(C.MAIN / "src"))
    from pubinbox.mail.mbox import iter_mbox

    out = []
    with open(mbox, "rb") as f:
        for raw in iter_mbox(f):
            head, sep, body = raw.partition(b"\n\n")
            head = re.sub(rb"(?im)^(To|Cc):.*(\n[ \t].*)*\n?", b"", head + b"\n").rstrip(b"\n")
            out.append(head + f"\nTo: {address}".encode() + sep + body)
            if len(out) >= limit:
                break
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mbox", type=Path, default=C.MAIN / "sample" / "sample.mbox")
    ap.add_argument("--limit", type=int, default=500)
    ap.add_argument("-L", "--level", default="medium", choices=["basic", "medium", "full"])
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--connections", type=int, default=1, help="LMTP connections delivering at once (default 1)")
    ap.add_argument("--pubinbox", default=str(C.DEFAULT_PUBINBOX))
    args = ap.parse_args()
    work, created = C.workdir(args.workdir, "bench-lmtp-")
    try:
        mbox = args.mbox
        if args.limit > 295 and mbox == C.MAIN / "sample" / "sample.mbox":
            mbox = C.make_mbox(C.EROFS, work, args.limit)
        nospam = {"publicinboxmda.spamcheck": "none"}
        pipe, lmtp = C.Side("mda pipe", work / "pipe"), C.Side("lmtp", work / "lmtp")
        for side in (pipe, lmtp):
            C.init_pubinbox(side, args.pubinbox, config=nospam, level=args.level)
        msgs = messages(mbox, args.limit, pipe.address)
        rows, took = [], {}
        # the pipe: one process per message
        env = dict(pipe.env(), ORIGINAL_RECIPIENT=pipe.address)
        t0 = time.monotonic()
        for raw in msgs:
            subprocess.run([args.pubinbox, "mda"], input=raw, env=env, capture_output=True, check=False)
        took["mda pipe"] = time.monotonic() - t0
        # LMTP: one connection to a running server
        port = _free_port()
        logf = open(lmtp.log("serve"), "wb")  # noqa: SIM115 (closed below)
        proc = subprocess.Popen(
            [args.pubinbox, "serve", "--lmtp", f"127.0.0.1:{port}"], env=lmtp.env(), stdout=logf, stderr=logf
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    smtplib.LMTP("127.0.0.1", port).quit()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        C.die("pubinbox serve --lmtp did not start")
                    time.sleep(0.1)
            t0 = time.monotonic()
            n = max(1, args.connections)
            threads = [threading.Thread(target=_deliver, args=(port, lmtp.address, msgs[i::n])) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            took["lmtp"] = time.monotonic() - t0
        finally:
            C.stop(proc, 15)
            logf.close()
        for side in (pipe, lmtp):
            n = C.sql_count(side.inbox / "msgmap.sqlite3", C.MSGMAP_Q)
            rows.append([side.label, str(n), f"{took[side.label]:.1f}", f"{C.rate(n, took[side.label]):.1f}"])
        print(f"# lmtp benchmark {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M}Z, pubinbox {C.git_commit()}")
        print(
            f"# {len(msgs)} messages from {mbox.name}, indexlevel {args.level}, "
            f"{args.connections} LMTP connection(s), load {os.getloadavg()[0]:.2f}"
        )
        print(C.table(rows, ["path", "messages", "seconds", "msg/s"]))
        print(f"ratio (pipe time / lmtp time): {took['mda pipe'] / took['lmtp']:.2f}")
    finally:
        C.cleanup(work, args.keep, created)


def _deliver(port: int, address: str, msgs: list[bytes]) -> None:
    """One LMTP connection delivering *msgs* one after the other."""
    with smtplib.LMTP("127.0.0.1", port) as c:
        for raw in msgs:
            try:
                c.sendmail("bench@example.org", [address], raw)
            except smtplib.SMTPDataError as e:  # refused (HTML): the pipe's exit 65
                C.log(f"lmtp: {e.smtp_code} {e.smtp_error[:80]!r}")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    main()
