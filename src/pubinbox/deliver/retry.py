"""When a network watch source (IMAP, NNTP) is tried next: at its poll
interval while it answers, with a doubling delay (up to
:data:`MAX_BACKOFF`) while it is down; an outage is logged once, and
the first connection after it."""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod

__all__ = ["MAX_BACKOFF", "Retrying"]

log = logging.getLogger(__name__)

#: longest wait between two tries of a source that is down, in seconds
MAX_BACKOFF = 300.0


class Retrying(ABC):
    """The retry schedule of one source (a base of the source classes)."""

    url: str

    def __init__(self) -> None:
        self.next_try = 0.0  # when to connect (or poll) next
        self._backoff = 1.0
        self._down_logged = False

    @abstractmethod
    def close(self) -> None:
        """Drop the connection, if any."""

    def reconnected(self) -> None:
        """A connection succeeded: the outage (if any) is over."""
        if self._down_logged:
            log.warning("%s: connected again", self.url)
        self._down_logged = False
        self._backoff = 1.0

    def failed(self, e: BaseException) -> None:
        """Drop the connection; try again later (logged once per outage)."""
        self.close()
        if not self._down_logged:
            log.warning("%s: %s; trying again (up to every %.0fs)", self.url, e, MAX_BACKOFF)
            self._down_logged = True
        self.next_try = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, MAX_BACKOFF)
