"""Apply one file's diff in this process when that is certainly right.

Most patches of a chain apply exactly where their ``@@`` lines say, and the
result must hash to the post-image id the patch names anyway.  So the
solver first tries that here: every hunk at its stated line, its old
lines byte for byte, nothing else (no offsets, no fuzz, no mode changes,
renames or copies).  A result that hashes to the wanted id is the blob (the
id proves it); anything else returns None and ``git apply`` decides, as
before.  This spares a git process per patch of a long chain.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["apply_exact", "blob_id", "simple_header"]

_HUNK = re.compile(rb"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_SIMPLE = re.compile(r"(?:diff --git |index |--- |\+\+\+ |new file mode 100644\Z|new file mode 100755\Z)")


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def simple_header(text: str) -> bool:
    """Is the section's header only ``diff --git``, ``index``, ``---``,
    ``+++`` (and ``new file mode``)?  Anything else is git's to judge."""
    for line in text.split("\n"):
        if line.startswith("@@ "):
            return True
        if not _SIMPLE.match(line):
            return False
    return False


def _hunks(text: bytes) -> list[tuple[int, list[bytes], list[bytes]]] | None:
    """(old start, old lines, new lines) of each hunk."""
    out: list[tuple[int, list[bytes], list[bytes]]] = []
    old: list[bytes] = []
    new: list[bytes] = []
    last = ""
    for line in text.splitlines(keepends=True):
        m = _HUNK.match(line)
        if m is not None:
            old, new = [], []
            out.append((int(m.group(1)), old, new))
            continue
        if not out:
            continue  # the header
        c, body = line[:1], line[1:]
        if c == b" ":
            old.append(body)
            new.append(body)
            last = "both"
        elif c == b"-":
            old.append(body)
            last = "old"
        elif c == b"+":
            new.append(body)
            last = "new"
        elif c == b"\\":  # "\ No newline at end of file": the line before has none
            for side, lst in (("old", old), ("new", new)):
                if last in (side, "both") and lst and lst[-1].endswith(b"\n"):
                    lst[-1] = lst[-1][:-1]
        else:
            return None
    return out


def apply_exact(pre: bytes, text: bytes) -> bytes | None:
    """*pre* with the hunks of section *text* applied at their stated
    lines, or None if one does not match there exactly."""
    hunks = _hunks(text)
    if not hunks:
        return None
    lines = pre.splitlines(keepends=True)
    out: list[bytes] = []
    pos = 0
    for start, old, new in hunks:
        at = start - 1 if old else start  # no old lines: insert after line START
        if at < pos or lines[at : at + len(old)] != old:
            return None
        out.extend(lines[pos:at])
        out.extend(new)
        pos = at + len(old)
    out.extend(lines[pos:])
    return b"".join(out)
