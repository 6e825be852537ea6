"""Where ``pubinbox import`` gets its messages: files, Maildirs and stdin.

:func:`iter_sources` turns command-line arguments into a stream of
:class:`SourceMessage`, one message in memory at a time, each holding the
message's exact original bytes and an ``origin`` for error reports.  Rules:

* no paths, or the path ``-``: standard input;
* a directory with both ``cur/`` and ``new/`` is a Maildir: the files of
  ``new/`` and ``cur/`` together, in delivery order (the leading number of
  the file name, the delivery time, then the name; names without one come
  last), skipping dot files, sub-directories and messages flagged ``T``
  (trashed) like public-inbox-watch; ``tmp/`` (deliveries in progress) is
  never read.  Each file is one message, taken verbatim;
* any other directory is an error: pass its files instead (``DIR/*.eml``),
  so that nothing unexpected is imported from a tree of unrelated files;
* a file, or standard input, is decompressed when it starts with the gzip
  magic (whatever its name: ``t.mbox.gz``, ``all.mbox.gz``, or a pipe from
  ``curl``), then read with :func:`pubinbox.mail.mbox.iter_mbox_entries`:
  a stream that starts with a ``From `` line is an mbox (format detected per
  message), one that starts like a header is a single message.

Origins look like ``path/to/file.mbox:1234`` (the byte offset of the
message's ``From `` line in the uncompressed stream), ``path/to/msg.eml`` for
a file holding one message, ``<stdin>:1234``, or the Maildir file's path.
Missing or unreadable inputs raise :class:`~pubinbox.errors.InputError` with
a one-line message naming the file; so do read errors and corrupt gzip data
found part-way through, after the messages before them have been yielded.
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import stat
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, cast

from pubinbox.errors import InputError
from pubinbox.mail.mbox import iter_mbox_entries

__all__ = ["SourceMessage", "count_hint", "is_maildir", "iter_sources"]

_GZIP_MAGIC = b"\x1f\x8b"
_STDIN = "-"
_STDIN_NAME = "<stdin>"


@dataclass(frozen=True, slots=True)
class SourceMessage:
    """One message to import: its original bytes and where it came from."""

    raw: bytes
    origin: str


class _Prefixed(io.RawIOBase):
    """A raw stream that first returns ``prefix``, then reads ``fp``."""

    def __init__(self, prefix: bytes, fp: BinaryIO) -> None:
        super().__init__()
        self._prefix = prefix
        self._fp = fp

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if self._prefix:
            n = min(len(view), len(self._prefix))
            view[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        read1 = getattr(self._fp, "read1", None)
        data: bytes = read1(len(view)) if read1 is not None else self._fp.read(len(view))
        view[: len(data)] = data
        return len(data)


def _read_magic(fp: BinaryIO) -> tuple[bytes, BinaryIO]:
    """Return the first two bytes of ``fp`` and a stream that still has them."""
    peek = getattr(fp, "peek", None)
    if peek is not None:
        head = cast(bytes, peek(2))[:2]
        if len(head) >= 2 or not head:
            return head, fp
    head = fp.read(2)
    stream = io.BufferedReader(_Prefixed(head, fp), buffer_size=65536)
    return head, cast(BinaryIO, stream)


def _open_stream(fp: BinaryIO) -> BinaryIO:
    """``fp`` itself, or a decompressing reader if it holds gzip data."""
    head, fp = _read_magic(fp)
    if head == _GZIP_MAGIC:
        return cast(BinaryIO, gzip.GzipFile(fileobj=fp, mode="rb"))
    return fp


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _iter_stream(fp: BinaryIO, name: str) -> Iterator[SourceMessage]:
    try:
        stream = _open_stream(fp)
        for entry in iter_mbox_entries(stream, "auto"):
            origin = f"{name}:{entry.offset}" if entry.separated else name
            yield SourceMessage(entry.raw, origin)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"error reading {name}: {_describe(exc)}") from exc


def is_maildir(path: str) -> bool:
    """True when ``path`` is a directory with ``cur/`` and ``new/``."""
    return os.path.isdir(os.path.join(path, "cur")) and os.path.isdir(os.path.join(path, "new"))


def _maildir_trashed(name: str) -> bool:
    info = name.partition(":")[2]
    return info.startswith("2,") and "T" in info[2:]


def _maildir_key(item: tuple[str, str]) -> tuple[int, int, str, str]:
    sub, name = item
    digits = name[: len(name) - len(name.lstrip("0123456789"))]
    if digits:
        return (0, int(digits), name, sub)
    return (1, 0, name, sub)


def _maildir_files(path: str) -> list[str]:
    found: list[tuple[str, str]] = []
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        try:
            with os.scandir(d) as it:
                for ent in it:
                    if ent.name.startswith("."):
                        continue
                    if _maildir_trashed(ent.name):
                        continue
                    try:
                        if not ent.is_file():
                            continue
                    except OSError:
                        pass  # report it when opening
                    found.append((sub, ent.name))
        except OSError as exc:
            raise InputError(f"cannot read Maildir {d}: {_describe(exc)}") from exc
    found.sort(key=_maildir_key)
    return [os.path.join(path, sub, name) for sub, name in found]


def _iter_maildir(path: str) -> Iterator[SourceMessage]:
    for f in _maildir_files(path):
        try:
            with open(f, "rb") as fp:
                raw = fp.read()
        except OSError as exc:
            raise InputError(f"cannot read {f}: {_describe(exc)}") from exc
        if raw.strip(b" \t\r\n"):
            yield SourceMessage(raw, f)


def _iter_path(path: str) -> Iterator[SourceMessage]:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {_describe(exc)}") from exc
    if stat.S_ISDIR(st.st_mode):
        if not is_maildir(path):
            raise InputError(
                f"{path} is a directory but not a Maildir (it has no cur/ and new/); give its files instead"
            )
        yield from _iter_maildir(path)
        return
    try:
        fp = open(path, "rb")  # noqa: SIM115 (closed below; open errors differ)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {_describe(exc)}") from exc
    with fp:
        yield from _iter_stream(cast(BinaryIO, fp), path)


def iter_sources(paths: Sequence[str], stdin: BinaryIO | None) -> Iterator[SourceMessage]:
    """Yield every message of ``paths`` (standard input when empty or ``-``).

    Paths are read lazily, in the order given; an unreadable one raises
    :class:`~pubinbox.errors.InputError` when it is reached.
    """
    for path in paths or [_STDIN]:
        if path == _STDIN:
            if stdin is None:
                raise InputError("cannot read standard input: none available")
            yield from _iter_stream(stdin, _STDIN_NAME)
        else:
            yield from _iter_path(path)


def _file_size(path: str, size: int) -> int:
    """``size``, or the uncompressed size a gzip file records, if larger."""
    try:
        with open(path, "rb") as fp:
            if fp.read(2) != _GZIP_MAGIC or size < 18:
                return size
            fp.seek(-4, os.SEEK_END)
            isize = int.from_bytes(fp.read(4), "little")
    except OSError:
        return size
    # ISIZE is the length modulo 2**32: add the wraps a sane ratio implies
    while isize < size:
        isize += 1 << 32
    return isize


def count_hint(paths: Sequence[str]) -> int | None:
    """Estimate the total bytes of the messages ``paths`` hold, cheaply.

    The figure is in uncompressed bytes (gzip files report the length their
    trailer records), so a caller can draw a byte progress bar by summing
    ``len(message.raw)``; it ends a little short of 100% because separators
    and quoting are not part of messages.  None when standard input is among
    the inputs or a path cannot be examined (the error comes later, from
    :func:`iter_sources`).
    """
    total = 0
    for path in paths or [_STDIN]:
        if path == _STDIN:
            return None
        try:
            st = os.stat(path)
            if stat.S_ISDIR(st.st_mode):
                if not is_maildir(path):
                    return None
                for f in _maildir_files(path):
                    try:
                        total += os.stat(f).st_size
                    except OSError as exc:
                        if exc.errno != errno.ENOENT:
                            raise
            else:
                total += _file_size(path, st.st_size)
        except (OSError, InputError):
            return None
    return total
