"""Searches in a child process, so that no query can hurt the server.

Tantivy is native code: a query it cannot afford does not raise, it aborts
the process (an allocation of 48 GB for ``o=1000000000``), and a damaged
segment can bring a SIGBUS.  The web therefore never runs a search in a
worker: each worker has one :class:`SearchService`, a child process
(``python -m pubinbox.search.isolated``) that owns the
:class:`~pubinbox.search.reader.Searcher` of every inbox and answers one
query at a time over a pipe.  The child runs under a memory cap
(``RLIMIT_DATA``); the parent gives each query a deadline.  A query that
runs past it, or a child that dies, costs that one request a
:class:`~pubinbox.errors.SearchFailed` (a 503 page) and the child is
replaced; the worker, and every other request, carries on.

Wire format: a 4-byte big-endian length, then a JSON object, both ways.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pubinbox.errors import (
    IndexDamaged,
    PubinboxError,
    QueryError,
    QueryTooCostly,
    SearchFailed,
    SearchUnavailable,
)
from pubinbox.search.backend import SearchResult

__all__ = ["InboxSearch", "SearchService"]

log = logging.getLogger(__name__)

_LEN = struct.Struct(">I")
#: largest message either side accepts (a reply holds at most 10,000 hits)
MAX_MESSAGE = 4 << 20
_ERRORS: dict[str, type[PubinboxError]] = {
    "query": QueryError,
    "costly": QueryTooCostly,
    "unavailable": SearchUnavailable,
    "damaged": IndexDamaged,
}


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one search may take."""

    timeout: float = 5.0  # seconds, waiting for the child included
    memory: int = 1 << 30  # bytes of heap (RLIMIT_DATA) of the child
    recycle: int = 512 << 20  # resident bytes after which the child is replaced


class SearchService:
    """One search child process, shared by the threads of a web worker.

    :meth:`search` is thread-safe; queries queue for the child, and time
    spent queueing counts against the deadline.  The child is started on
    first use and again after it died, was killed or asked to be recycled.
    """

    def __init__(self, inboxes: Mapping[str, tuple[Path, str]], limits: Limits | None = None) -> None:
        self.inboxes = dict(inboxes)  # name -> (own_dir, indexlevel)
        self.limits = limits or Limits()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0  # children replaced after a failure (for tests and logs)

    # -- the child's lifecycle -------------------------------------------------
    def _start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pubinbox.search.isolated", str(self.limits.memory), str(self.limits.recycle)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # the child's warnings go to the server's log
            close_fds=True,
            start_new_session=False,
        )
        self._proc = proc
        return proc

    def _reap(self, why: str, query: str) -> str:
        """Kill and collect the child; returns how it ended, for the log."""
        proc, self._proc = self._proc, None
        if proc is None:
            return "gone"
        if proc.poll() is None:
            proc.kill()
        try:
            rc = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rc = None
        for f in (proc.stdin, proc.stdout):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass
        self.restarts += 1
        how = "still running" if rc is None else f"exit {rc}" if rc >= 0 else f"signal {_signame(-rc)}"
        log.warning("search process %d %s (%s) on query %r; starting a new one", proc.pid, why, how, query[:200])
        return how

    def close(self) -> None:
        """Stop the child (it exits when its stdin closes)."""
        with self._lock:
            self._reap_quietly()

    def __del__(self) -> None:
        # an app dropped without a lifespan shutdown (in-process tests)
        self._reap_quietly()

    # -- one query ---------------------------------------------------------------
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
    ) -> SearchResult:
        own_dir, level = self.inboxes[inbox]
        req = {
            "dir": str(own_dir),
            "level": level,
            "q": query,
            "offset": offset,
            "limit": limit,
            "relevance": relevance,
            "ascending": ascending,
            "now": now,
        }
        deadline = time.monotonic() + self.limits.timeout
        if not self._lock.acquire(timeout=self.limits.timeout):
            raise SearchFailed(
                f"the search service is busy (no answer within {self.limits.timeout:g}s); try again in a moment"
            )
        try:
            return self._ask(req, query, deadline)
        finally:
            self._lock.release()

    def _ask(self, req: dict[str, Any], query: str, deadline: float) -> SearchResult:
        proc = self._proc if self._proc is not None and self._proc.poll() is None else None
        if proc is None:
            if self._proc is not None:
                self._reap("had exited", query)
            proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            _write(proc.stdin, req)
            reply = _read(proc.stdout, deadline)
        except TimeoutError:
            self._reap("ran past the deadline", query)
            raise SearchFailed(
                f"the search took longer than {self.limits.timeout:g}s and was stopped; "
                "narrow it (a d: date range, fewer wildcards, fewer OR/XOR terms)"
            ) from None
        except (OSError, EOFError, ValueError) as e:
            how = self._reap("died", query)
            raise SearchFailed(
                f"the search process failed on this query ({how}); it was probably too large: "
                "narrow it (a d: date range, fewer wildcards)"
            ) from e
        if reply.get("recycle"):
            self._reap_quietly()
        err = reply.get("error")
        if err is not None:
            cls = _ERRORS.get(str(err), SearchFailed)
            msg = str(reply.get("message", "search failed"))
            if issubclass(cls, QueryError):
                raise cls(msg, int(reply.get("position", 0)))
            raise cls(msg)
        return SearchResult(
            total=int(reply["total"]),
            nums=tuple(int(n) for n in reply["nums"]),
            scores=tuple(float(s) for s in reply.get("scores", ())),
        )

    def _reap_quietly(self) -> None:
        """Retire the child without a fuss: at shutdown, or once it grew
        past the resident-size limit."""
        proc, self._proc = getattr(self, "_proc", None), None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


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
    ) -> SearchResult:
        return self.service.search(
            self.inbox, query, offset=offset, limit=limit, relevance=relevance, ascending=ascending, now=now
        )


def _signame(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return str(n)


# -- the wire ------------------------------------------------------------------


def _write(f: IO[bytes], obj: object) -> None:
    data = json.dumps(obj, separators=(",", ":")).encode()
    f.write(_LEN.pack(len(data)) + data)
    f.flush()


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def _read(f: IO[bytes], deadline: float | None = None) -> dict[str, Any]:
    fd = f.fileno()
    (n,) = _LEN.unpack(_read_exact(fd, 4, deadline))
    if n > MAX_MESSAGE:
        raise ValueError(f"message of {n} bytes")
    got = json.loads(_read_exact(fd, n, deadline))
    if not isinstance(got, dict):
        raise ValueError("not an object")  # noqa: TRY004 - a protocol error, like a bad length
    return got


# -- the child -----------------------------------------------------------------


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _answer(searchers: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
    from pubinbox.search.reader import Searcher

    key = f"{req['dir']}\0{req['level']}"
    try:
        s = searchers.get(key)
        if s is None:
            s = searchers[key] = Searcher(Path(req["dir"]), str(req["level"]))
        res = s.search(
            str(req["q"]),
            offset=int(req["offset"]),
            limit=int(req["limit"]),
            relevance=bool(req["relevance"]),
            ascending=bool(req["ascending"]),
            now=None if req.get("now") is None else int(req["now"]),
        )
    except QueryTooCostly as e:
        return {"error": "costly", "message": e.message, "position": e.position}
    except QueryError as e:
        return {"error": "query", "message": e.message, "position": e.position}
    except SearchUnavailable as e:
        searchers.pop(key, None)
        return {"error": "unavailable", "message": str(e)}
    except IndexDamaged as e:
        searchers.pop(key, None)
        return {"error": "damaged", "message": str(e)}
    except PubinboxError as e:
        return {"error": "failed", "message": str(e)}
    except MemoryError:
        searchers.clear()
        return {"error": "failed", "message": "the search ran out of memory: narrow it", "recycle": True}
    return {"total": res.total, "nums": list(res.nums), "scores": list(res.scores)}


def child_main(argv: list[str]) -> int:
    """Answer queries from stdin until it closes."""
    import resource

    memory, recycle = int(argv[0]), int(argv[1])
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    except (ValueError, OSError) as e:  # pragma: no cover - a hard limit below ours
        log.warning("search process: cannot limit memory to %d bytes: %s", memory, e)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server's Ctrl-C is for the server
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but replies on the pipe
    searchers: dict[str, Any] = {}
    while True:
        try:
            req = _read(stdin)
        except (EOFError, OSError, ValueError):
            return 0
        reply = _answer(searchers, req)
        big = _rss() > recycle
        if big:
            reply["recycle"] = True
        _write(stdout, reply)
        if big:
            return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="pubinbox search: %(message)s", stream=sys.stderr)
    sys.exit(child_main(sys.argv[1:]))
