"""Objects read straight from a repository's pack files.

Reading a message is mostly inflating it: libgit2 spends four fifths of a
blob read in zlib.  Here a pack's ``.idx`` (version 2, mapped) gives the
object's offset, ``pread`` its bytes, ISA-L's inflate (``isal``, 21 us
for what zlib does in 45, zlib-ng in 28) the data, and dulwich's C
``apply_delta`` the delta chain; bases of deltas are kept in a cache
shared by the process (bounded in bytes, ``pubinbox.deltacache``).
Servers read this way (``GitReader(direct=True)``); the indexer keeps
libgit2 (see :mod:`pubinbox.store.git`).

Only what is certain is answered: an object that is not in a known pack
(a loose object, a pack written since the list was read and not found
after one rescan), a delta against an object of another pack, or anything
that does not decode exactly (a short inflate, a bad header) is ``None``,
and the caller asks libgit2, which also raises the errors.  A pack is
opened on its first read and checked against the checksum its index keeps,
so an index is never used with another pack (a repack that reused the
name).  Object ids are not re-hashed (libgit2 is told not to either).
Only SHA-1 repositories.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

from dulwich._pack import apply_delta as _apply_delta  # type: ignore[import-not-found]
from isal import isal_zlib as _zlib
from zlib_ng import zlib_ng as _zlib_ng

__all__ = ["BASE_CACHE_BYTES", "Packs", "drop_bases", "private_bases", "size_bases"]

#: bytes of delta bases the process keeps (all repositories together), by
#: default (``pubinbox.deltacache``).  git keeps 96 MiB for each process
#: reading a repository (``core.deltaBaseCacheLimit``), so a public-inbox
#: server holds that much per inbox and worker; libgit2 keeps 16 MiB.  The
#: bases of 1,000 messages spread over linux-f2fs-devel are 19 MiB: with 32
#: MiB, reading them again takes 28 us a message instead of 70 (a reader
#: going through the archive in order reuses a base within a few reads and
#: needs little).  A server drops the cache after a minute without a request
#: (:func:`drop_bases`).
BASE_CACHE_BYTES = 32 << 20
#: a base larger than this is not cached
_BASE_MAX = 1 << 20
_OFS_DELTA = 6
_REF_DELTA = 7
_IDX_MAGIC = b"\xfftOc"
#: bytes read at an object's start: its header and, mostly, all of a delta
_FIRST_READ = 4096
#: objects bigger than this are left to libgit2 (a damaged size field must
#: not make us allocate it)
_MAX_OBJECT = 1 << 30
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
#: delta chains longer than this are left to libgit2 (git's default depth
#: is 50, --aggressive 250; one Python frame a link, well inside the
#: interpreter's limit of 1,000)
_MAX_DEPTH = 500
#: ISA-L's inflate returns with the upper halves of the AVX registers in use
#: (XINUSE bit 2), and then every legacy-SSE instruction of the process pays
#: for it until the next VZEROUPPER: the header scan after one inflate ran
#: 64 us instead of 27 (/tmp/s9if2.py), the whole of ``pubinbox index`` 20%
#: slower.  zlib-ng's adler32 of 32 bytes or more runs AVX2 code that ends
#: with VZEROUPPER (0.1 us); tests/store/test_packread.py reads XINUSE after
#: each read.  (zlib-ng's own inflate is clean but takes 28 us where ISA-L
#: takes 21: IMAP's header fetch of a slice ran 15% slower with it.)
_CLEAN = bytes(64)
_ZLIB_ERROR: type[Exception] = _zlib.error  # type: ignore[assignment]  # typed as an instance


class _Bases:
    """Delta bases by (pack, offset), least recently used dropped first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.items: OrderedDict[tuple[bytes, int], tuple[int, bytes]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[bytes, int]) -> tuple[int, bytes] | None:
        with self.lock:
            got = self.items.get(key)
            if got is not None:
                self.items.move_to_end(key)
            return got

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.size = 0

    def put(self, key: tuple[bytes, int], value: tuple[int, bytes]) -> None:
        n = len(value[1])
        if n > _BASE_MAX or n > self.limit:
            return
        with self.lock:
            if key in self.items:
                return
            self.items[key] = value
            self.size += n
            self._shrink()

    def resize(self, limit: int) -> None:
        with self.lock:
            self.limit = max(limit, 0)
            self._shrink()

    def _shrink(self) -> None:
        while self.size > self.limit:
            _k, (_t, old) = self.items.popitem(last=False)
            self.size -= len(old)


_BASES = _Bases(BASE_CACHE_BYTES)
#: bytes of bases a private reader keeps for itself (:func:`private_bases`)
_PRIVATE_BYTES = 2 << 20
_PRIVATE: ContextVar[_Bases | None] = ContextVar("packread_private", default=None)


def drop_bases() -> None:
    """Forget the cached delta bases (an idle server gives memory back)."""
    _BASES.clear()


@contextlib.contextmanager
def private_bases() -> Iterator[None]:
    """Reads in this context (this task or thread only) keep the delta bases
    they make in a small cache of their own, not in the process's.  For
    readers that do not come back: a client going through a whole mailbox
    (an IMAP ``FETCH 1:*``, a SEARCH that reads bodies) reuses a base within
    a few reads and would otherwise push out every base that other readers
    come back to, as a sequential scan in PostgreSQL gets a ring of buffers
    of its own; a web request (its pages have a cache of their own,
    ``pubinbox.webcache``).  What the process's cache keeps is then the
    bases of NNTP and POP3 sessions, which, like git's cat-file behind
    public-inbox, it keeps between requests.  Bases already in it are used."""
    token = _PRIVATE.set(_Bases(_PRIVATE_BYTES))
    try:
        yield
    finally:
        _PRIVATE.reset(token)


def size_bases(limit: int) -> None:
    """Keep at most *limit* bytes of delta bases from now on (0: none)."""
    _BASES.resize(limit)


class _Corrupt(Exception):
    """The bytes do not decode as the format says (libgit2 will tell)."""


class _Stale(Exception):
    """The pack is gone or is not the one its index describes (a repack
    replaced it, perhaps under the same name): read the list again."""


class _Pack:
    """One ``pack-*.pack`` with its ``.idx``."""

    def __init__(self, idx_path: Path, ident: tuple[int, int] = (0, 0)) -> None:
        # mapped, not read: a big epoch's index is tens of MB, and a server
        # has a reader per thread and inbox; only the pages a lookup
        # touches are resident (and shared with every other process)
        fd = os.open(idx_path, os.O_RDONLY | _CLOEXEC)
        try:
            self.idx = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        self.fd = -1  # the pack, opened on first read
        self.pack_path = idx_path.with_suffix(".pack")
        self.ident = ident  # the index file's (inode, mtime) when listed
        idx = self.idx
        if idx[:4] != _IDX_MAGIC or struct.unpack_from(">I", idx, 4)[0] != 2:
            self.close()
            raise _Corrupt(f"{idx_path}: not a version 2 pack index")
        self.fanout = struct.unpack_from(">256I", idx, 8)
        n = self.fanout[255]
        self.names_at = 8 + 1024
        self.off32_at = self.names_at + 24 * n  # names, then CRCs
        self.off64_at = self.off32_at + 4 * n
        if len(idx) < self.off64_at + 40:  # and the two checksums
            self.close()
            raise _Corrupt(f"{idx_path}: truncated")
        #: the pack's own checksum (what its last 20 bytes must be): the key
        #: of its cached bases, the same when a reader opens it again (after
        #: an idle worker closed its readers), another for any other pack,
        #: whatever its name
        self.key = bytes(idx[len(idx) - 40 : len(idx) - 20])

    def close(self) -> None:
        fd = getattr(self, "fd", -1)  # also for a pack whose __init__ failed
        if fd >= 0:
            self.fd = -1
            os.close(fd)
        idx = getattr(self, "idx", None)
        if idx is not None:
            idx.close()

    def _pack_fd(self) -> int:
        """The pack, opened on first use and checked to be the one the
        index describes (its trailing checksum is in the index)."""
        if self.fd < 0:
            try:
                fd = os.open(self.pack_path, os.O_RDONLY | _CLOEXEC)
            except FileNotFoundError:
                raise _Stale() from None
            n = len(self.idx)
            end = os.fstat(fd).st_size
            if end < 32 or os.pread(fd, 20, end - 20) != self.idx[n - 40 : n - 20]:
                os.close(fd)
                raise _Stale()
            self.fd = fd
        return self.fd

    def __del__(self) -> None:  # readers are dropped without close() in places
        self.close()

    def offset(self, sha: bytes) -> int | None:
        """Where object *sha* (20 bytes) starts, None when not in this pack."""
        first = sha[0]
        lo = self.fanout[first - 1] if first else 0
        hi = self.fanout[first]
        idx = self.idx
        at = self.names_at
        while lo < hi:
            mid = (lo + hi) >> 1
            name = idx[at + 20 * mid : at + 20 * mid + 20]
            if name < sha:
                lo = mid + 1
            elif name > sha:
                hi = mid
            else:
                off: int = struct.unpack_from(">I", idx, self.off32_at + 4 * mid)[0]
                if off & 0x80000000:
                    off = struct.unpack_from(">Q", idx, self.off64_at + 8 * (off & 0x7FFFFFFF))[0]
                return off
        return None

    def _inflate(self, start: memoryview, pos: int, size: int) -> bytes:
        """*size* bytes inflated from the zlib stream that begins with
        *start* and goes on at *pos* in the pack."""
        if size > _MAX_OBJECT:
            raise _Corrupt("object too big")
        try:
            return self._inflate_to(start, pos, size)
        finally:
            _zlib_ng.adler32(_CLEAN)  # ISA-L left the AVX upper state dirty: see _CLEAN

    def _inflate_to(self, start: memoryview, pos: int, size: int) -> bytes:
        d = _zlib.decompressobj()
        # never more than one byte past *size* (a damaged stream may inflate
        # to anything): reaching that limit is an error below
        out = [d.decompress(start, size + 1)]
        got = len(out[0])
        # first all the rest at once (deflate's worst case: 5 bytes a stored
        # block of up to 64 KiB, 6 of framing), then 64 KiB at a time
        want = max(size - got + 64 + (size >> 12), 64)
        while not d.eof and got <= size:
            buf = os.pread(self.fd, want, pos)
            want = 1 << 16
            if not buf:
                raise _Corrupt("pack ends inside an object")
            pos += len(buf)
            chunk = d.decompress(buf, size + 1 - got)
            got += len(chunk)
            out.append(chunk)
        data = out[0] if len(out) == 1 else b"".join(out)
        if len(data) != size or not d.eof:
            raise _Corrupt("object size does not match its header")
        return data

    def read(self, off: int, depth: int = 0) -> tuple[int, bytes]:
        """(type, data) of the object at *off*."""
        head = os.pread(self._pack_fd(), _FIRST_READ, off)
        if len(head) < 2:
            raise _Corrupt("offset past the end of the pack")
        c = head[0]
        kind = (c >> 4) & 7
        size = c & 15
        shift = 4
        p = 1
        while c & 0x80:
            c = head[p]
            p += 1
            size |= (c & 0x7F) << shift
            shift += 7
        if kind == _OFS_DELTA:
            c = head[p]
            p += 1
            back = c & 0x7F
            while c & 0x80:
                c = head[p]
                p += 1
                back = ((back + 1) << 7) | (c & 0x7F)
            base_off = off - back
        elif kind == _REF_DELTA:
            got = self.offset(head[p : p + 20])
            if got is None:
                raise _Corrupt("delta against an object of another pack")
            base_off = got
            p += 20
        elif 1 <= kind <= 4:
            return kind, self._inflate(memoryview(head)[p:], off + len(head), size)
        else:
            raise _Corrupt(f"unknown object type {kind}")
        if depth >= _MAX_DEPTH or base_off <= 0 or base_off >= off and kind == _OFS_DELTA:
            raise _Corrupt("bad delta base")
        key = (self.key, base_off)
        base = _BASES.get(key)
        if base is None:
            own = _PRIVATE.get()
            base = None if own is None else own.get(key)
            if base is None:
                base = self.read(base_off, depth + 1)
                (_BASES if own is None else own).put(key, base)
        delta = self._inflate(memoryview(head)[p:], off + len(head), size)
        try:
            out = _apply_delta(base[1], delta)
        except Exception as e:  # dulwich's ApplyDeltaError and the like
            raise _Corrupt(f"bad delta: {e}") from e
        return base[0], out[0] if len(out) == 1 else b"".join(out)


class Packs:
    """The packs of one git directory; :meth:`read` answers what they hold."""

    def __init__(self, git_dir: Path) -> None:
        self.pack_dir = git_dir / "objects" / "pack"
        self.packs: list[_Pack] = []
        self.seen: dict[str, _Pack] = {}
        self.stamp: int | None = -1  # the directory's mtime when listed
        self._scan()

    def close(self) -> None:
        for p in self.packs:
            p.close()
        self.packs = []
        self.seen = {}

    def _scan(self) -> bool:
        """Read the list of packs again if the directory changed; True if it did."""
        try:
            stamp = os.stat(self.pack_dir).st_mtime_ns
        except OSError:
            stamp = None
        if stamp == self.stamp:
            return False
        self.stamp = stamp
        try:
            names = sorted(n for n in os.listdir(self.pack_dir) if n.startswith("pack-") and n.endswith(".idx"))
        except OSError:
            names = []
        keep: dict[str, _Pack] = {}
        for name in names:
            try:
                st = os.stat(self.pack_dir / name)
            except OSError:
                continue
            ident = (st.st_ino, st.st_mtime_ns)
            pack = self.seen.get(name)
            if pack is None or pack.ident != ident:  # new, or replaced under the same name
                try:
                    pack = _Pack(self.pack_dir / name, ident)
                except (OSError, ValueError, _Corrupt, struct.error):
                    continue  # e.g. a pack being written: libgit2 will do
            keep[name] = pack
        for name, pack in self.seen.items():
            if keep.get(name) is not pack:
                pack.close()
        self.seen = keep
        self.packs = list(keep.values())
        return True

    def read(self, sha: bytes) -> tuple[int, bytes] | None:
        """(type, data) of object *sha* (20 bytes), or None: ask libgit2."""
        for attempt in (0, 1):
            for pack in self.packs:
                off = pack.offset(sha)
                if off is None:
                    continue
                try:
                    return pack.read(off)
                except _Stale:  # repacked away since the list was read
                    self.stamp = -1
                    break
                except (_Corrupt, OSError, IndexError, ValueError, RecursionError, _ZLIB_ERROR):
                    return None
            if attempt or not self._scan():
                return None
        return None
