"""The few git files the solver's temporary repository needs, written and
read here rather than by spawning git: the repository skeleton (what ``git
init --bare`` makes that git reads), a one-entry index (format version 2,
as ``git update-index --index-info`` writes it), the entries of the index
``git apply --cached`` leaves, and loose objects.

Only SHA-1 repositories (the temporary repository is one); anything
unexpected raises :class:`GitFileError` and the caller asks git instead.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

__all__ = ["GitFileError", "init_bare", "read_index", "read_loose", "write_index", "write_loose"]

_SHA1_LEN = 20


class GitFileError(Exception):
    pass


def init_bare(git_dir: Path, alternates: list[Path]) -> None:
    """A bare repository at *git_dir* borrowing the objects of *alternates*."""
    (git_dir / "objects" / "info").mkdir(parents=True)
    (git_dir / "refs" / "heads").mkdir(parents=True)
    (git_dir / "refs" / "tags").mkdir()
    (git_dir / "HEAD").write_text("ref: refs/heads/master\n")
    (git_dir / "config").write_text("[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n")
    (git_dir / "objects" / "info" / "alternates").write_text("".join(f"{a}\n" for a in alternates))


def write_index(path: Path, mode: str, oid: str, name: bytes) -> None:
    """An index holding one entry (stage 0, no stat data)."""
    if len(oid) != 2 * _SHA1_LEN or b"\0" in name or not name:
        raise GitFileError(f"cannot write an index entry for {oid}")
    entry = struct.pack(">10I", 0, 0, 0, 0, 0, 0, int(mode, 8), 0, 0, 0) + bytes.fromhex(oid)
    entry += struct.pack(">H", min(len(name), 0xFFF)) + name
    entry += b"\0" * (8 - (len(entry) % 8))  # 1 to 8 NULs
    body = b"DIRC" + struct.pack(">II", 2, 1) + entry
    path.write_bytes(body + hashlib.sha1(body).digest())


def read_index(path: Path) -> list[tuple[str, str, bytes]]:
    """(mode, id, name) of each entry of an index of version 2 or 3."""
    data = path.read_bytes()
    if len(data) < 12 + _SHA1_LEN or data[:4] != b"DIRC":
        raise GitFileError("not an index")
    version, n = struct.unpack(">II", data[4:12])
    if version not in (2, 3) or hashlib.sha1(data[:-_SHA1_LEN]).digest() != data[-_SHA1_LEN:]:
        raise GitFileError(f"index version {version} or a bad checksum")
    out = []
    pos = 12
    for _ in range(n):
        start = pos
        if pos + 62 > len(data):
            raise GitFileError("index truncated")
        mode = struct.unpack(">I", data[pos + 24 : pos + 28])[0]
        oid = data[pos + 40 : pos + 60].hex()
        (flags,) = struct.unpack(">H", data[pos + 60 : pos + 62])
        pos += 62
        if flags & 0x4000:  # extended flags (version 3)
            pos += 2
        end = data.find(b"\0", pos)
        if end < 0:
            raise GitFileError("index truncated")
        name = data[pos:end]
        pos = start + ((end - start + 8) & ~7)
        if (flags >> 12) & 3 == 0:  # stage 0 only
            out.append((f"{mode:06o}", oid, name))
    return out


def read_loose(git_dir: Path, oid: str, max_size: int) -> bytes | None:
    """The blob *oid* if it is a loose object of *git_dir* (None if not
    there); larger than *max_size* or not a blob: :class:`GitFileError`."""
    try:
        raw = (git_dir / "objects" / oid[:2] / oid[2:]).read_bytes()
    except FileNotFoundError:
        return None
    d = zlib.decompressobj()
    head = d.decompress(raw, 64)
    k = head.find(b"\0")
    kind, _, size = head[:k].partition(b" ")
    if k < 0 or kind != b"blob" or not size.isdigit() or int(size) > max_size:
        raise GitFileError(f"{oid}: not a blob, or too large")
    body = head[k + 1 :] + d.decompress(d.unconsumed_tail, int(size) + 1)
    if len(body) != int(size) or hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest() != oid:
        raise GitFileError(f"{oid}: damaged loose object")
    return body


def write_loose(git_dir: Path, oid: str, data: bytes) -> None:
    """Blob *data* (whose id is *oid*) as a loose object of *git_dir*."""
    d = git_dir / "objects" / oid[:2]
    path = d / oid[2:]
    if path.exists():
        return
    d.mkdir(exist_ok=True)
    tmp = d / f"tmp_{oid[2:]}"
    tmp.write_bytes(zlib.compress(b"blob %d\0" % len(data) + data, 1))
    tmp.replace(path)
