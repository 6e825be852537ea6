"""The ``inbox.lock`` writer lock (flock), shared with public-inbox.

Every writer (ours and public-inbox's) takes ``LOCK_EX`` on ``inbox.lock``
for each non-atomic update.  We poll with ``LOCK_NB`` so a stuck writer turns
into :class:`LockTimeout` (an MTA then retries) instead of a hang.  After a
write we bump the file's mtime so readers watching it notice new mail.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from pubinbox.errors import LockTimeout, StorageError


class InboxLock:
    """Context manager holding ``flock(LOCK_EX)`` on a lock file."""

    def __init__(self, path: Path, timeout: float = 300.0) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise StorageError(f"cannot open {self.path}: {e}") from e
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockTimeout(f"{self.path} is still locked after {self.timeout:.0f}s") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        self._fd = fd

    def release(self, *, touched: bool = False) -> None:
        if self._fd is None:
            return
        if touched:
            try:
                os.utime(self._fd)
            except OSError:
                pass
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    @property
    def fd(self) -> int | None:
        """The locked descriptor: a child that inherits it keeps the lock
        until it exits, even if we are killed first."""
        return self._fd

    def __enter__(self) -> InboxLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release(touched=exc is None)
