"""The emergency Maildir: no message handed to ``pubinbox mda`` is ever lost.

The raw message is written to ``tmp/`` before anything else happens; on a
successful delivery the copy is removed, and on any other outcome (unknown
recipient, precheck failure, spam, duplicate, crash) it is moved to ``new/``
where an administrator (or a re-run) can pick it up.  Same convention as
public-inbox's ``PI_EMERGENCY`` (default ``~/.public-inbox/emergency``).

A copy is written completely or not at all: if the disk is full (or any
other error strikes) while writing, the partial file is removed and
:class:`StorageError` raised, so ``tmp/`` and ``new/`` only ever hold whole
messages.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path

from pubinbox.errors import StorageError

log = logging.getLogger(__name__)

_counter = 0


class Emergency:
    """One message parked in the emergency Maildir."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self._tmp: Path | None = None

    def prepare(self, raw: bytes) -> Path:
        """Write *raw* to tmp/ (fsync'd) and remember it; on failure nothing
        is left behind and :class:`StorageError` is raised."""
        global _counter
        try:
            for sub in ("tmp", "new", "cur"):
                (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StorageError(f"cannot write to emergency Maildir {self.maildir}: {e}") from e
        _counter += 1
        host = socket.gethostname().replace("/", "_").replace(":", "_")
        tmp = self.maildir / "tmp" / f"{int(time.time())}.{os.getpid()}_{_counter}.{host}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as e:
            raise StorageError(f"cannot write to emergency Maildir {self.maildir}: {e}") from e
        try:
            try:
                view = memoryview(raw)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException as e:
            try:
                tmp.unlink()
            except OSError:
                pass
            if isinstance(e, OSError):
                raise StorageError(f"cannot write to emergency Maildir {self.maildir}: {e}") from e
            raise
        if self._tmp is not None:
            self._discard()
        self._tmp = tmp
        return tmp

    def _discard(self) -> None:
        """Remove the copy in tmp/; a failure only costs a stale duplicate, so
        it is a warning (the message is stored, or a newer copy exists)."""
        if self._tmp is not None:
            try:
                self._tmp.unlink()
            except FileNotFoundError:
                pass
            except OSError as e:
                log.warning("cannot remove %s: %s", self._tmp, e)
            self._tmp = None

    def delivered(self) -> None:
        """The message is safely stored: drop the copy (never raises)."""
        self._discard()

    def keep(self) -> Path | None:
        """Not delivered: move the copy to new/ for a human or a retry."""
        if self._tmp is None:
            return None
        dst = self.maildir / "new" / self._tmp.name
        try:
            os.replace(self._tmp, dst)
        except OSError as e:
            raise StorageError(f"cannot move {self._tmp} to {dst.parent}: {e}") from e
        self._tmp = None
        return dst


class LateEmergency(Emergency):
    """For a sender that keeps the message until told it is stored (the
    MTA behind LMTP: a crash means no reply, and it tries again): the copy
    is only written when the message is not stored, straight to ``new/``
    (precheck failure, spam, duplicate, refused, failed), as
    :class:`Emergency` leaves it; a stored message costs no file."""

    def __init__(self, maildir: Path) -> None:
        super().__init__(maildir)
        self._raw: bytes | None = None

    def prepare(self, raw: bytes) -> Path:
        self._raw = raw
        return self.maildir / "tmp"

    def delivered(self) -> None:
        self._raw = None

    def keep(self) -> Path | None:
        if self._raw is None:
            return None
        super().prepare(self._raw)
        self._raw = None
        return super().keep()
