"""The emergency Maildir: no message handed to ``pubinbox mda`` is ever lost.

The raw message is written to ``tmp/`` before anything else happens; on a
successful delivery the copy is removed, and on any other outcome (unknown
recipient, precheck failure, spam, duplicate, crash) it is moved to ``new/``
where an administrator (or a re-run) can pick it up.  Same convention as
public-inbox's ``PI_EMERGENCY`` (default ``~/.public-inbox/emergency``).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from pubinbox.errors import StorageError

_counter = 0


class Emergency:
    """One message parked in the emergency Maildir."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self._tmp: Path | None = None

    def prepare(self, raw: bytes) -> Path:
        """Write *raw* to tmp/ (fsync'd) and remember it."""
        global _counter
        try:
            for sub in ("tmp", "new", "cur"):
                (self.maildir / sub).mkdir(parents=True, exist_ok=True)
            _counter += 1
            host = socket.gethostname().replace("/", "_").replace(":", "_")
            name = f"{int(time.time())}.{os.getpid()}_{_counter}.{host}"
            tmp = self.maildir / "tmp" / name
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(raw)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            raise StorageError(f"cannot write to emergency Maildir {self.maildir}: {e}") from e
        if self._tmp is not None:
            self._discard()
        self._tmp = tmp
        return tmp

    def _discard(self) -> None:
        if self._tmp is not None:
            try:
                self._tmp.unlink()
            except FileNotFoundError:
                pass
            self._tmp = None

    def delivered(self) -> None:
        """The message is safely stored: drop the copy."""
        self._discard()

    def keep(self) -> Path | None:
        """Not delivered: move the copy to new/ for a human or a retry."""
        if self._tmp is None:
            return None
        dst = self.maildir / "new" / self._tmp.name
        os.replace(self._tmp, dst)
        self._tmp = None
        return dst
