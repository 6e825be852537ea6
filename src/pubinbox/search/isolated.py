"""Searches in a separate process, so that no query can hurt the server.

Tantivy is native code: a query it cannot afford does not raise, it aborts
the process (an allocation of 48 GB for ``o=1000000000``), and a damaged
segment can bring a SIGBUS.  The web therefore never runs a search in a
worker.  One *search process* (:mod:`pubinbox.search.server`) owns the
:class:`~pubinbox.search.reader.Searcher` of every inbox and answers the
workers over a Unix socket, one thread per connection (Tantivy releases
the GIL, so searches from several workers run on several cores).  This
module is the workers' side of it, the limits and the wire.  Under
``pubinbox serve`` the supervisor holds the listening socket and starts the
process when a connection waits for it; elsewhere (an app built in-process)
each :class:`SearchService` starts its own.  The process leaves by itself
after ``pubinbox.searchIdle`` seconds without a query, or once it grew past
its recycle size; the next search starts a new one.

Limits (:class:`Limits`):

* memory: the process runs under ``RLIMIT_DATA`` (``pubinbox.searchMemory``);
  past it, it dies, and the searches it was answering get a 503;
* deadline: a search may run ``pubinbox.searchTimeout`` seconds, counted in
  the search process from the moment it read the request, so a search never
  pays for another worker's.  Tantivy cannot be interrupted, so a search past
  it ends the process: that search gets a 503 saying it was too long, the
  others it was answering are told to retry (:data:`RESTART`), and the next
  connection starts a new process.  The worker keeps its own deadline, one
  second later, for a process that stopped answering at all (stopped,
  stuck): it kills it and answers 503.

A worker, and every request that is not a search, never waits for any of it.

Wire format: a 4-byte big-endian length, then a JSON object, both ways.  On
accepting a connection the process sends ``{"pid": N}``; for each request it
sends an empty frame (:data:`ACK`: "read, being answered") then the reply.
A connection that closes before the ACK was never answered, so the request
is sent again on a new connection.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pubinbox.errors import (
    IndexDamaged,
    PubinboxError,
    QueryError,
    QueryTooCostly,
    SearchFailed,
    SearchUnavailable,
)
from pubinbox.search.backend import SearchResult

if TYPE_CHECKING:
    from pubinbox.config import Config

__all__ = [
    "ACK",
    "DEADLINE_EXIT",
    "RESTART",
    "InboxSearch",
    "Limits",
    "SearchService",
    "frame",
    "recv_frame",
    "server_command",
]

log = logging.getLogger(__name__)

_LEN = struct.Struct(">I")
#: largest message either side accepts (a reply holds at most 10,000 hits)
MAX_MESSAGE = 4 << 20
ACK = _LEN.pack(0)
#: the search process's exit status after a search ran past its deadline
DEADLINE_EXIT = 124
#: the worker's own deadline comes this much after the search process's
GRACE = 1.0
#: stack of a connection thread (Tantivy runs on it); counts in RLIMIT_DATA
STACK = 4 << 20
_ERRORS: dict[str, type[PubinboxError]] = {
    "query": QueryError,
    "costly": QueryTooCostly,
    "unavailable": SearchUnavailable,
    "damaged": IndexDamaged,
}
#: the reply to a search that was cut short by another one's deadline
RESTART = "restart"


@dataclass(frozen=True, slots=True)
class Limits:
    """How much the searches may take."""

    timeout: float = 5.0  # seconds one search may run
    memory: int = 1 << 30  # bytes of heap (RLIMIT_DATA) of the search process
    recycle: int = 512 << 20  # resident bytes after which the process is replaced
    idle: float = 60.0  # seconds without a search after which the process leaves

    @classmethod
    def from_config(cls, config: Config) -> Limits:
        """``pubinbox.searchTimeout``, ``searchMemory`` and ``searchIdle``."""
        d = cls()
        memory = int(config.number("pubinbox.searchmemory", d.memory))
        return cls(
            timeout=config.number("pubinbox.searchtimeout", d.timeout),
            memory=memory,
            recycle=min(d.recycle, memory // 2),
            idle=config.number("pubinbox.searchidle", d.idle),
        )

    def argv(self) -> list[str]:
        """These limits as options of ``python -m pubinbox.search.server``."""
        return ["--timeout", repr(self.timeout), "--memory", str(self.memory), "--recycle", str(self.recycle),
                "--idle", repr(self.idle)]  # fmt: skip

    @classmethod
    def parse(cls, argv: list[str]) -> tuple[Limits, int]:
        """(limits, listening fd) from the search process's command line."""
        opts = dict(zip(argv[::2], argv[1::2], strict=True))
        d = cls()
        limits = cls(
            timeout=float(opts.get("--timeout", d.timeout)),
            memory=int(opts.get("--memory", d.memory)),
            recycle=int(opts.get("--recycle", d.recycle)),
            idle=float(opts.get("--idle", d.idle)),
        )
        return limits, int(opts["--fd"])


def server_command(fd: int, limits: Limits) -> list[str]:
    """The command line of a search process listening on socket *fd*."""
    return [sys.executable, "-m", "pubinbox.search.server", "--fd", str(fd), *limits.argv()]


def describe_exit(code: int | None) -> str:
    """'exit 3', 'signal SIGABRT', ... for a process's exit status."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit {code}"


# -- the wire ------------------------------------------------------------------


def frame(obj: object) -> bytes:
    data = json.dumps(obj, separators=(",", ":")).encode()
    return _LEN.pack(len(data)) + data


def _recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                raise TimeoutError
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def recv_frame(sock: socket.socket, deadline: float | None = None) -> dict[str, Any] | None:
    """One frame: its object, None for an empty frame (:data:`ACK`)."""
    (n,) = _LEN.unpack(_recv_exact(sock, 4, deadline))
    if n == 0:
        return None
    if n > MAX_MESSAGE:
        raise ValueError(f"message of {n} bytes")
    got = json.loads(_recv_exact(sock, n, deadline))
    if not isinstance(got, dict):
        raise ValueError("not an object")  # noqa: TRY004 - a protocol error, like a bad length
    return got


# -- the worker's side -----------------------------------------------------------


class _NotStarted(Exception):
    """The connection closed before the search process took the request."""


class _Link:
    """One connection to the search process."""

    def __init__(self, address: str, deadline: float, waiting: Callable[[], None] | None = None) -> None:
        """Connect and wait for the process's hello until *deadline*, calling
        *waiting* every tenth of a second meanwhile."""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.pidfd = -1
        try:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            self.sock.connect(address)
            self.sock.settimeout(None)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                if select.select([self.sock], [], [], min(left, 0.1) if waiting else left)[0]:
                    break
                if waiting is not None:
                    waiting()
            hello = recv_frame(self.sock, deadline)
        except BaseException:
            self.sock.close()
            raise
        self.pid = int((hello or {}).get("pid", 0))
        self.taken = False  # the last request was acknowledged
        with contextlib.suppress(OSError, AttributeError):
            self.pidfd = os.pidfd_open(self.pid)  # signals reach this process, never a reused pid

    def stale(self) -> bool:
        """The other end closed (or sent something unasked) while idle."""
        try:
            return bool(select.select([self.sock], [], [], 0)[0])
        except (OSError, ValueError):
            return True

    def ask(self, req: dict[str, Any], deadline: float, run_for: float) -> dict[str, Any]:
        """Send *req*; the process must take it by *deadline* and answer
        within *run_for* seconds after that (else TimeoutError, with
        :attr:`taken` telling which)."""
        self.taken = False
        try:
            self.sock.sendall(frame(req))
            first = recv_frame(self.sock, deadline)
        except (EOFError, BrokenPipeError, ConnectionResetError) as e:
            raise _NotStarted from e
        if first is not None:
            raise ValueError("expected an acknowledgement")
        self.taken = True
        reply = recv_frame(self.sock, time.monotonic() + run_for)
        if reply is None:
            raise ValueError("empty reply")
        return reply

    def kill(self) -> None:
        """SIGKILL the search process (it stopped answering)."""
        with contextlib.suppress(OSError):  # gone already
            if self.pidfd >= 0:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            elif self.pid > 0:
                os.kill(self.pid, signal.SIGKILL)

    def close(self) -> None:
        self.sock.close()
        if self.pidfd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.pidfd)
            self.pidfd = -1


class _OwnProcess:
    """A search process of our own, for an app without ``pubinbox serve``'s
    supervisor: a listening socket in a private directory, and the process
    (re)started whenever a search finds it not running."""

    def __init__(self, limits: Limits) -> None:
        import tempfile

        self.limits = limits
        self.dir = tempfile.mkdtemp(prefix="pubinbox-search.")
        self.address = os.path.join(self.dir, "socket")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.address)
        self.listener.listen(64)
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()

    def ensure(self) -> None:
        with self.lock:
            if self.proc is not None and self.proc.poll() is None:
                return
            if self.proc is not None and self.proc.returncode not in (0, DEADLINE_EXIT):
                log.warning("search process %d died (%s)", self.proc.pid, describe_exit(self.proc.returncode))
            fd = self.listener.fileno()
            self.proc = subprocess.Popen(server_command(fd, self.limits), pass_fds=(fd,), stdin=subprocess.DEVNULL)

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.listener.close()
        with contextlib.suppress(OSError):
            os.unlink(self.address)
            os.rmdir(self.dir)


class SearchService:
    """The search process as the worker's threads see it (thread-safe).

    With *address* it connects to the socket of ``pubinbox serve``'s
    supervisor, which starts the process; without, it runs a process of its
    own.  Connections are kept for the next search.
    """

    def __init__(
        self, inboxes: Mapping[str, tuple[Path, str]], limits: Limits | None = None, address: str | None = None
    ) -> None:
        self.inboxes = dict(inboxes)  # name -> (own_dir, indexlevel)
        self.limits = limits or Limits()
        self._own = _OwnProcess(self.limits) if address is None else None
        self.address = address if address is not None else self._own.address  # type: ignore[union-attr]
        self._idle: list[_Link] = []
        self._lock = threading.Lock()
        self.restarts = 0  # search processes lost while answering (for tests and logs)

    def close(self) -> None:
        """Drop the connections (and stop our own process)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for link in idle:
            link.close()
        own, self._own = getattr(self, "_own", None), None
        if own is not None:
            own.close()

    def __del__(self) -> None:
        # an app dropped without a lifespan shutdown (in-process tests)
        with contextlib.suppress(Exception):
            self.close()

    def _link(self, deadline: float) -> _Link:
        with self._lock:
            while self._idle:
                link = self._idle.pop()
                if not link.stale():
                    return link
                link.close()
        own = self._own
        if own is not None:
            own.ensure()
        try:
            # our own process may leave while we wait (idle): start the next one
            return _Link(self.address, deadline, own.ensure if own is not None else None)
        except TimeoutError:
            raise SearchFailed(
                f"the search service did not answer within {self.limits.timeout:g}s; try again in a moment"
            ) from None
        except (OSError, EOFError, ValueError) as e:
            raise SearchFailed(f"the search service is not available ({e}); try again in a moment") from None

    def search(
        self,
        inbox: str,
        query: str,
        *,
        offset: int = 0,
        limit: int = 200,
        relevance: bool = False,
        ascending: bool = False,
        now: int | None = None,
        exact: bool = True,
    ) -> SearchResult:
        own_dir, level = self.inboxes[inbox]
        req = {"dir": str(own_dir), "level": level, "q": query, "offset": offset, "limit": limit,
               "relevance": relevance, "ascending": ascending, "now": now, "exact": exact}  # fmt: skip
        # the search process enforces the deadline on the search itself; this
        # one is for a process that does not answer at all (stopped, stuck)
        wait = self.limits.timeout + GRACE
        deadline = time.monotonic() + wait
        while True:
            link = self._link(deadline)
            try:
                reply = link.ask(req, deadline, wait)
            except _NotStarted:
                link.close()  # the process left (idle, recycled) before reading it: ask the next one
                continue
            except TimeoutError:
                link.kill()
                link.close()
                self.restarts += 1
                log.warning("search process %d stopped answering (%s within %gs) on query %r; killed", link.pid,
                            "no answer" if link.taken else "the request not taken", wait, query[:200])  # fmt: skip
                raise SearchFailed(self._too_long()) from None
            except (OSError, EOFError, ValueError) as e:
                link.close()
                self.restarts += 1
                log.warning("search process %d died while answering query %r", link.pid, query[:200])
                raise SearchFailed(
                    "the search process failed while answering (perhaps a search too large, not necessarily "
                    "this one); try again, or narrow it (a d: date range, fewer wildcards)"
                ) from e
            with self._lock:
                self._idle.append(link)
            if reply.get("error") == RESTART and time.monotonic() < deadline:
                continue  # cut short by another search's deadline: ours may well be fine
            return self._result(reply)

    def _too_long(self) -> str:
        return (
            f"the search took longer than {self.limits.timeout:g}s and was stopped; "
            "narrow it (a d: date range, fewer wildcards, fewer OR/XOR terms)"
        )

    def _result(self, reply: dict[str, Any]) -> SearchResult:
        err = reply.get("error")
        if err is not None:
            if err == "deadline":
                raise SearchFailed(self._too_long())
            if err == RESTART:
                raise SearchFailed("the search service restarted while answering; try again")
            cls = _ERRORS.get(str(err), SearchFailed)
            msg = str(reply.get("message", "search failed"))
            if issubclass(cls, QueryError):
                raise cls(msg, int(reply.get("position", 0)))
            raise cls(msg)
        return SearchResult(
            total=int(reply["total"]),
            nums=tuple(int(n) for n in reply["nums"]),
            scores=tuple(float(s) for s in reply.get("scores", ())),
            exact=bool(reply.get("exact", True)),
        )


class InboxSearch:
    """One inbox's view of a :class:`SearchService` (a SearchBackend)."""

    def __init__(self, service: SearchService, inbox: str) -> None:
        self.service = service
        self.inbox = inbox

    def search(
        self,
        query: str,
        *,
        offset: int = 0,
        limit: int = 200,
        relevance: bool = False,
        ascending: bool = False,
        now: int | None = None,
        exact: bool = True,
    ) -> SearchResult:
        return self.service.search(
            self.inbox,
            query,
            offset=offset,
            limit=limit,
            relevance=relevance,
            ascending=ascending,
            now=now,
            exact=exact,
        )
