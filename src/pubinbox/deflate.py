"""Deflate compressors for what pubinbox sends: ``*.mbox.gz``, gzip'd pages,
NNTP/IMAP ``COMPRESS DEFLATE``.

zlib-ng (the ``zlib-ng`` package) when it is installed, else the
standard library's zlib: the same formats (gzip, raw deflate) that every
zlib reads, made twice as fast.  Measured on 3,000 linux-erofs messages at
level 6: zlib 61.7 MB/s, zlib-ng 119.2 MB/s, for 1.5 % more bytes
(0.266 of the input against 0.262); compressing was 47 % of a web worker's
time serving ``t.mbox.gz`` (docs/notes/2026-12-04-s6.md).  Reading
(inflate) stays with the standard library.
"""

from __future__ import annotations

import types
import zlib
from typing import Protocol, cast

__all__ = ["GZIP", "RAW", "Z_SYNC_FLUSH", "Compressor", "compressobj", "gzip_bytes"]

#: wbits of a gzip stream and of a raw deflate stream (RFC 4978 / RFC 8054)
GZIP = 16 + zlib.MAX_WBITS
RAW = -zlib.MAX_WBITS
Z_SYNC_FLUSH = zlib.Z_SYNC_FLUSH
Z_FINISH = zlib.Z_FINISH


class Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...
    def flush(self, mode: int = Z_FINISH, /) -> bytes: ...


_impl: types.ModuleType
try:
    from zlib_ng import zlib_ng

    _impl = zlib_ng
    BACKEND = "zlib-ng " + str(getattr(zlib_ng, "ZLIBNG_VERSION", "?"))
except ImportError:  # pragma: no cover - zlib-ng is a dependency; a platform without its wheel
    _impl = zlib
    BACKEND = "zlib " + zlib.ZLIB_RUNTIME_VERSION


def compressobj(level: int, wbits: int) -> Compressor:
    """A deflate compressor at *level*, gzip (:data:`GZIP`) or raw (:data:`RAW`)."""
    return cast(Compressor, _impl.compressobj(level, zlib.DEFLATED, wbits))


def gzip_bytes(data: bytes, level: int = 6) -> bytes:
    """*data* as one gzip member (no name, zero mtime: the same bytes every time)."""
    z = compressobj(level, GZIP)
    return z.compress(data) + z.flush()
