"""pubinbox.deflate: what it writes, any zlib reads."""

from __future__ import annotations

import gzip
import zlib

from hypothesis import given
from hypothesis import strategies as st

from pubinbox import deflate


def test_backend_is_zlib_ng() -> None:
    # a dependency (pyproject.toml): the fallback is for platforms without its wheel
    assert deflate.BACKEND.startswith("zlib-ng ")


@given(st.lists(st.binary(max_size=3000), max_size=8))
def test_gzip_and_raw_streams_read_back(chunks: list[bytes]) -> None:
    data = b"".join(chunks)
    assert gzip.decompress(deflate.gzip_bytes(data)) == data
    z = deflate.compressobj(6, deflate.GZIP)
    assert gzip.decompress(b"".join([z.compress(c) for c in chunks] + [z.flush()])) == data
    # raw deflate with a sync flush after each chunk (COMPRESS DEFLATE): each
    # chunk is readable as soon as it is flushed
    z = deflate.compressobj(6, deflate.RAW)
    d = zlib.decompressobj(-15)
    for c in chunks:
        assert d.decompress(z.compress(c) + z.flush(deflate.Z_SYNC_FLUSH)) == c


def test_gzip_bytes_are_deterministic() -> None:
    data = b"From a@b Thu Jan  1 00:00:00 1970\nSubject: x\n\nbody\n" * 100
    assert deflate.gzip_bytes(data) == deflate.gzip_bytes(data)
    assert deflate.gzip_bytes(data)[4:8] == b"\0\0\0\0"  # mtime 0
