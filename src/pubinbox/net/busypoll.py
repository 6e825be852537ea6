"""Adaptive busy-polling for the line protocols (NNTP, IMAP, POP3).

A client that sends one command, waits for the reply, then sends the next
(nntplib, fetchmail, a newsreader fetching articles) pays, on every
command, for the server's event loop going to sleep in ``epoll_wait`` and
being woken when the command arrives: on a virtual machine that is tens to
hundreds of microseconds, more than a POP3 RETR takes to answer.  So after
each reply the worker's loop keeps polling (``epoll_wait`` with no timeout,
through a callback that reschedules itself) for a short window, and the
next command is picked up without a wake-up.

The window is each connection's own and follows its pace, the way Linux's
``haltpoll`` sizes its poll: a command that arrives after the window but
within :attr:`BusyPoll.max_wait` doubles it (from :attr:`BusyPoll.start`),
one that arrives later halves it (below ``start``: no polling at all).  A
client across a network, whose commands come milliseconds apart, soon
costs nothing; a local one that answers at once gets the loop polling for
it.  The loop polls until the latest window of its connections ends; other
connections' events are handled as usual meanwhile (each poll is a loop
iteration).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["DEFAULT_MAX_US", "BusyPoll", "Pace"]

#: microseconds at most a worker polls for a connection's next command
DEFAULT_MAX_US = 200


class Pace:
    """One connection's polling window (seconds) and when it last replied."""

    __slots__ = ("replied_at", "window")

    def __init__(self) -> None:
        self.window = 0.0
        self.replied_at = 0.0  # 0: no reply waiting for its next command


class BusyPoll:
    """The busy-polling of one worker's event loop."""

    def __init__(self, max_us: float = DEFAULT_MAX_US, clock: Callable[[], float] = time.perf_counter) -> None:
        self.max_wait = max_us / 1e6
        self.start = min(20e-6, self.max_wait)
        self.clock = clock
        self.until = 0.0  # the loop polls until then
        self.polling = False
        self.polls = 0  # loop iterations spent polling (tests, statistics)

    def replied(self, pace: Pace) -> None:
        """A reply to *pace*'s connection is sent: poll for its next command
        while its window lasts."""
        now = self.clock()
        pace.replied_at = now
        if pace.window <= 0:
            return
        self.until = max(self.until, now + pace.window)
        if not self.polling:
            self.polling = True
            asyncio.get_running_loop().call_soon(self._poll)

    def arrived(self, pace: Pace) -> None:
        """Input came on *pace*'s connection: size its window by how long
        after the last reply it came."""
        if not pace.replied_at or not self.max_wait:
            return
        gap = self.clock() - pace.replied_at
        pace.replied_at = 0.0
        if gap <= pace.window:
            return  # caught while polling
        if gap <= self.max_wait:
            pace.window = min(self.max_wait, max(self.start, pace.window * 2))
        else:
            pace.window = pace.window / 2 if pace.window / 2 >= self.start else 0.0

    def _poll(self) -> None:
        if self.clock() < self.until:
            self.polls += 1
            asyncio.get_running_loop().call_soon(self._poll)
        else:
            self.polling = False
