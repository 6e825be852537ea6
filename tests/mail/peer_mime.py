"""Helpers for the differential tests against the installed public-inbox Perl.

Runs tests/mail/pi_mime_dump.pl over batches of messages and formats the
Python side the same way, so both outputs can be compared line by line.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from pubinbox.mail import dates, hashing, mime
from pubinbox.mail.parse import Headers

HERE = Path(__file__).resolve().parent
PERL_HELPER = HERE / "pi_mime_dump.pl"
PERL_INC = "/usr/share/perl5"


def perl_dump(msgs: list[bytes]) -> list[str]:
    """Run the Perl helper on *msgs*; one output block per message."""
    buf = b"".join(b"%d\n" % len(m) + m for m in msgs)
    env = dict(os.environ, LC_ALL="C")
    out = subprocess.run(
        ["perl", "-I" + PERL_INC, str(PERL_HELPER)], input=buf, capture_output=True, check=True, env=env
    ).stdout.decode("latin-1")
    blocks = out.split("E\n")
    assert blocks[-1] == "", blocks[-1][:200]
    blocks = blocks[:-1]
    assert len(blocks) == len(msgs), (len(blocks), len(msgs))
    return blocks


def py_dump(raw: bytes) -> str:
    """The same report as the Perl helper, computed by pubinbox."""
    out = []
    dig = hashlib.sha256()
    for c in hashing.content_chunks(raw):
        dig.update(c)
        out.append(f"C {hashlib.sha1(c).hexdigest()} {len(c)}\n")
    for p in mime.iter_parts(raw):
        fn = "-" if p.filename is None else p.filename.encode("utf-8", "surrogatepass").hex()
        out.append(f"P {p.depth}\t{p.idx_str}\t{p.content_type}\t{fn}\t{len(p.decoded())}\n")
    ts = dates.msg_datestamp(Headers(raw), 0)[0]
    out.append(f"T {ts}\n")
    out.append(f"D {hashing.digest2mid(raw, ts, dig)}\n")
    out.append(f"H {dig.hexdigest()}\n")
    return "".join(out)


def compare(msgs: list[bytes], batch: int = 400) -> list[tuple[int, str, str]]:
    """Indices (with both reports) where Python and Perl disagree."""
    bad = []
    for start in range(0, len(msgs), batch):
        chunk = msgs[start : start + batch]
        for i, (m, pl) in enumerate(zip(chunk, perl_dump(chunk))):
            py = py_dump(m)
            if py != pl:
                bad.append((start + i, pl, py))
    return bad


def epoch_messages(git_dir: Path, limit: int) -> list[bytes]:
    """The ``m`` blobs of the first *limit* commits (newest first)."""
    revs = subprocess.run(
        ["git", "-C", str(git_dir), "log", "--format=%H", "-n", str(limit)], capture_output=True, check=True, text=True
    ).stdout.split()
    req = "".join(f"{r}:m\n" for r in revs).encode()
    out = subprocess.run(
        ["git", "-C", str(git_dir), "cat-file", "--batch"], input=req, capture_output=True, check=True
    ).stdout
    msgs = []
    pos = 0
    while pos < len(out):
        nl = out.index(b"\n", pos)
        head = out[pos:nl].split()
        pos = nl + 1
        if len(head) < 3 or head[1] != b"blob":
            continue
        size = int(head[2])
        msgs.append(out[pos : pos + size])
        pos += size + 1
    return msgs
