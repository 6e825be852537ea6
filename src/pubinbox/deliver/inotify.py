"""Linux inotify through ctypes (no extra package): which directories had
files written or moved in, for ``pubinbox watch``.  Where inotify is not
available, :func:`open_inotify` returns None and the watcher polls."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import struct
from pathlib import Path

log = logging.getLogger(__name__)

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

#: what a Maildir delivery (rename from tmp/) or a copy (cp, rsync) looks like
FILE_EVENTS = IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF

_EVENT = struct.Struct("iIII")


class Inotify:
    """One inotify instance; :meth:`read` gives (directory, file name or
    None) for each event, None as directory on a queue overflow."""

    def __init__(self, libc: ctypes.CDLL, fd: int) -> None:
        self._libc = libc
        self.fd = fd
        self._wds: dict[int, Path] = {}

    def add(self, path: Path, mask: int = FILE_EVENTS) -> bool:
        wd = int(self._libc.inotify_add_watch(self.fd, os.fsencode(path), ctypes.c_uint32(mask)))
        if wd < 0:
            err = ctypes.get_errno()
            log.debug("inotify_add_watch %s: %s", path, os.strerror(err))
            return False
        self._wds[wd] = path
        return True

    def clear(self) -> None:
        for wd in list(self._wds):
            self._libc.inotify_rm_watch(self.fd, wd)
        self._wds.clear()

    def read(self) -> list[tuple[Path | None, str | None]]:
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        out: list[tuple[Path | None, str | None]] = []
        pos = 0
        while pos + _EVENT.size <= len(data):
            wd, mask, _cookie, size = _EVENT.unpack_from(data, pos)
            raw = data[pos + _EVENT.size : pos + _EVENT.size + size]
            pos += _EVENT.size + size
            if mask & IN_Q_OVERFLOW:
                out.append((None, None))
                continue
            where = self._wds.get(wd)
            if where is None:
                continue
            if mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF):
                self._wds.pop(wd, None)
                out.append((where, None))  # the directory went away: watch it again later
                continue
            name = os.fsdecode(raw.rstrip(b"\0"))
            out.append((where, name or None))
        return out

    def close(self) -> None:
        os.close(self.fd)


def open_inotify() -> Inotify | None:
    """An :class:`Inotify`, or None where the kernel or libc lacks it."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        init = libc.inotify_init1
    except (OSError, AttributeError):
        return None
    init.argtypes = [ctypes.c_int]
    libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    fd = int(init(IN_NONBLOCK | IN_CLOEXEC))
    if fd < 0:
        log.warning("inotify unavailable (%s): polling", os.strerror(ctypes.get_errno()))
        return None
    return Inotify(libc, fd)
