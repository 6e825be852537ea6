"""Is an object id (or abbreviation) certainly absent from a repository?

A solve asks the code repositories about every pre-image it meets, and
most are not there (a patch against a tree nobody has here).  Answering
those from the pack indexes (``objects/pack/*.idx``, version 2, mapped
once per file) and the loose object directories, in this process, spares
a round trip to ``git cat-file`` for each; whatever might be there (a
match, anything unexpected) is left to git.  The repository's
``objects/info/alternates`` are searched too (at most :data:`MAX_DIRS`
object directories); SHA-1 and SHA-256 indexes alike.
"""

from __future__ import annotations

import bisect
import mmap
import os
import re
import struct
import threading
from pathlib import Path

__all__ = ["MAX_DIRS", "surely_absent"]

MAX_DIRS = 8
_IDX_MAGIC = b"\377tOc\0\0\0\2"
_HEX = re.compile(r"[0-9a-f]{4,64}")


class _Idx:
    """The sorted object ids of one pack index."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as f:
            self.mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if len(self.mm) < 8 + 1024 or self.mm[:8] != _IDX_MAGIC:
            raise ValueError(f"{path}: not a version 2 pack index")
        self.fanout: tuple[int, ...] = struct.unpack(">256I", self.mm[8 : 8 + 1024])
        n = self.fanout[255]
        # 4-byte CRCs and offsets follow the ids; the two trailing checksums tell the id width
        rest = len(self.mm) - 1032
        self.width = next((w for w in (20, 32) if _fits(rest, n, w)), 0)
        if not self.width:
            raise ValueError(f"{path}: unexpected size")

    def __len__(self) -> int:
        return self.fanout[255]

    def __getitem__(self, i: int) -> bytes:
        off = 1032 + i * self.width
        return self.mm[off : off + self.width]

    def has_prefix(self, hexid: str) -> bool:
        first = int(hexid[:2], 16)
        lo = self.fanout[first - 1] if first else 0
        hi = self.fanout[first]
        key = bytes.fromhex(hexid[: len(hexid) // 2 * 2])
        i = bisect.bisect_left(self, key, lo, hi)
        while i < hi:
            cand = self[i].hex()
            if cand.startswith(hexid):
                return True
            if not cand.startswith(hexid[: len(key) * 2]):
                return False
            i += 1
        return False


def _fits(rest: int, n: int, w: int) -> bool:
    """Does an index of *n* ids of *w* bytes have *rest* bytes after its fan-out
    (ids, CRCs, 4-byte offsets, some 8-byte offsets, two checksums)?"""
    base = n * (w + 8) + 2 * w
    return base <= rest <= base + 8 * n and (rest - base) % 8 == 0


_IDX: dict[tuple[str, int, int], _Idx] = {}
_LOCK = threading.Lock()


def _index(path: Path, st: os.stat_result) -> _Idx:
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _LOCK:
        got = _IDX.get(key)
        if got is None:
            if len(_IDX) >= 256:  # repacked many times: start again
                _IDX.clear()
            got = _IDX[key] = _Idx(path)
        return got


def _object_dirs(git_dir: Path) -> list[Path]:
    out: list[Path] = []
    todo = [git_dir / "objects"]
    while todo:
        d = todo.pop(0)
        if d in out:
            continue
        if len(out) >= MAX_DIRS:
            raise ValueError("too many alternates")
        out.append(d)
        try:
            alt = (d / "info" / "alternates").read_text()
        except FileNotFoundError:
            continue
        for line in alt.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                todo.append((d / line).resolve() if not line.startswith("/") else Path(line))
    return out


def surely_absent(git_dir: Path, hexid: str) -> bool:
    """True only when no object of *git_dir* (or its alternates) has an id
    starting with *hexid* (lower-case hex, 7 digits or more); False when one
    may (git decides)."""
    if not _HEX.fullmatch(hexid) or not (git_dir / "objects").is_dir():
        return False
    try:
        for objects in _object_dirs(git_dir):
            loose = objects / hexid[:2]
            if loose.is_dir() and any(n.startswith(hexid[2:]) for n in os.listdir(loose)):
                return False
            pack = objects / "pack"
            if not pack.is_dir():
                continue
            with os.scandir(pack) as it:
                for e in it:
                    if e.name.endswith(".idx") and _index(Path(e.path), e.stat()).has_prefix(hexid):
                        return False
        return True
    except (OSError, ValueError):
        return False
