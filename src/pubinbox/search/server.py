"""The search process: ``python -m pubinbox.search.server --fd N [limits]``.

It accepts connections on the listening Unix socket it inherits (fd *N*),
answers each connection's requests in a thread of its own, and keeps one
:class:`~pubinbox.search.reader.Searcher` per inbox for all of them.  The
main thread accepts, and watches the searches: one that runs past the
deadline ends the process (Tantivy cannot be interrupted) after every
search in flight got its answer -- "too long" for the culprit,
:data:`~pubinbox.search.isolated.RESTART` for the others.  The process
leaves by itself (exit 0) after ``idle`` seconds without a search, once its
resident size passed ``recycle``, on SIGTERM, or when its parent is gone:
it stops accepting (waiting connections stay in the socket's queue for the
next process), closes the connections that wait for a request, finishes
the searches it took, and exits.  After :data:`RELEASE` seconds without a
search it closes its searchers, which unmaps the index files.  The wire is
described in :mod:`pubinbox.search.isolated`.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import resource
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pubinbox.errors import IndexDamaged, PubinboxError, QueryError, QueryTooCostly, SearchUnavailable
from pubinbox.search.isolated import ACK, DEADLINE_EXIT, RESTART, STACK, Limits, frame, recv_frame

__all__ = ["SearchServer", "main"]

log = logging.getLogger(__name__)

#: how often the main thread looks at deadlines, idleness and its parent
TICK = 0.1
#: seconds without a search after which the searchers are closed.  Tantivy
#: maps an index's files, and every page a search touched counts in the
#: process's resident size for as long as the map lives (15 MB after the web
#: bench's searches of linux-erofs; public-inbox's Xapian reads with pread and
#: holds none); the pages stay in the page cache, so reopening is cheap (3 ms
#: against 0.3 for a search, /tmp/s9srch.py)
RELEASE = 1.0


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class _Conn:
    """One worker's connection, and the request it is answering."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.wlock = threading.Lock()  # replies come from its thread or from the watchdog
        self.seq = 0  # requests taken
        self.answered = 0  # requests answered
        self.since: float | None = None  # when the request being answered was taken
        self.query = ""

    def send(self, data: bytes, seq: int | None = None) -> bool:
        """Send *data*; with *seq*, only as the one answer to request *seq*."""
        with self.wlock:
            if seq is not None:
                if self.answered >= seq:
                    return False
                self.answered = seq
            try:
                self.sock.sendall(data)
            except OSError:
                return False
            return True


class SearchServer:
    """Answers searches on *listener* until it is time to leave."""

    def __init__(
        self, listener: socket.socket, limits: Limits, open_searcher: Callable[[Path, str], Any] | None = None
    ) -> None:
        self.listener = listener
        self.limits = limits
        self._open_searcher = open_searcher or _default_searcher
        self.lock = threading.Lock()
        self.conns: set[_Conn] = set()
        self.searchers: dict[tuple[str, str], Any] = {}
        self.slock = threading.Lock()
        self.last = time.monotonic()  # the last search started or ended
        self.retiring = False
        self.leave = ""  # why to retire, set from any thread or a signal handler
        self.parent = os.getppid()

    # -- the main thread ---------------------------------------------------------------
    def serve(self) -> int:
        """Accept and watch until done; returns the exit status."""
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ)
        try:
            while True:
                for _key, _ev in sel.select(TICK):
                    self._accept()
                status = self._watch()
                if status is not None:
                    return status
                self._release_if_idle()
                if not self.retiring:
                    why = self.leave or self._why_leave()
                    if why:
                        log.info("search process %d leaving: %s", os.getpid(), why)
                        sel.unregister(self.listener)
                        self._retire()
                if self.retiring:
                    with self.lock:
                        if not self.conns:
                            return 0
        finally:
            sel.close()

    def _accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:  # out of file descriptors: let it wait in the queue
            log.warning("search process %d: accept: %s", os.getpid(), e)
            time.sleep(TICK)
            return
        sock.setblocking(True)
        conn = _Conn(sock)
        with self.lock:
            self.conns.add(conn)
        try:
            threading.Thread(target=self._serve_conn, args=(conn,), daemon=True).start()
        except RuntimeError:  # no room for another thread (memory cap): the worker asks again
            with self.lock:
                self.conns.discard(conn)
            sock.close()

    def _why_leave(self) -> str:
        if os.getppid() != self.parent:
            return "the server is gone"
        with self.lock:
            busy = any(c.since is not None for c in self.conns)
        if not busy and time.monotonic() - self.last > self.limits.idle:
            return f"no search for {self.limits.idle:g}s"
        return ""

    def _release_if_idle(self) -> None:
        """Close the searchers (unmap their index files) once no search ran
        for :data:`RELEASE` seconds; the next search opens its index again.
        A search that got its searcher before keeps it until it is done."""
        if not self.searchers or time.monotonic() - self.last <= RELEASE:
            return
        with self.lock:
            if any(c.since is not None for c in self.conns):
                return
        with self.slock:
            self.searchers = {}
        gc.collect()  # Tantivy's objects unmap when freed

    def _watch(self) -> int | None:
        """DEADLINE_EXIT once a search ran past the deadline, after answering
        every search in flight."""
        now = time.monotonic()
        with self.lock:
            busy = [(c, c.seq, c.since, c.query) for c in self.conns if c.since is not None]
        late = [b for b in busy if b[2] is not None and now - b[2] > self.limits.timeout]
        if not late:
            return None
        for c, seq, _since, _q in busy:
            c.send(frame({"error": "deadline" if any(c is x[0] for x in late) else RESTART}), seq)
        log.warning("search process %d ran past the deadline (%gs) on query %r; restarting",
                    os.getpid(), self.limits.timeout, late[0][3][:200])  # fmt: skip
        return DEADLINE_EXIT

    def _retire(self) -> None:
        """Stop accepting; close the connections waiting for a request (their
        workers send it again elsewhere); the busy ones close when done."""
        with self.lock:
            self.retiring = True
            idle = [c for c in self.conns if c.since is None]
        self.listener.close()
        for c in idle:
            with contextlib.suppress(OSError):
                c.sock.shutdown(socket.SHUT_RDWR)

    # -- one connection --------------------------------------------------------------------
    def _serve_conn(self, conn: _Conn) -> None:
        try:
            if not conn.send(frame({"pid": os.getpid()})):
                return
            while True:
                try:
                    req = recv_frame(conn.sock)
                except (EOFError, OSError, ValueError):
                    return
                if req is None:
                    return
                with self.lock:
                    if self.retiring:
                        return  # not acknowledged: the worker sends it to the next process
                    conn.seq += 1
                    seq = conn.seq
                    conn.since = self.last = time.monotonic()
                    conn.query = str(req.get("q", ""))
                if not conn.send(ACK):
                    return
                reply = self._answer(req)
                with self.lock:
                    conn.since = None
                    self.last = time.monotonic()
                conn.send(frame(reply), seq)
                if _rss() > self.limits.recycle:
                    self.leave = f"resident size past {self.limits.recycle >> 20} MB"
                if self.retiring or self.leave:
                    return
        finally:
            with self.lock:
                self.conns.discard(conn)
            conn.sock.close()

    def _searcher(self, own_dir: str, level: str) -> Any:
        key = (own_dir, level)
        with self.slock:  # one thread opens or reopens an index; the others then find it fresh
            s = self.searchers.get(key)
            if s is None:
                s = self.searchers[key] = self._open_searcher(Path(own_dir), level)
            s.refresh()
            return s

    def _forget(self, own_dir: str, level: str) -> None:
        with self.slock:
            self.searchers.pop((own_dir, level), None)

    def _answer(self, req: dict[str, Any]) -> dict[str, Any]:
        own_dir, level = str(req["dir"]), str(req["level"])
        try:
            res = self._searcher(own_dir, level).search(
                str(req["q"]),
                offset=int(req["offset"]),
                limit=int(req["limit"]),
                relevance=bool(req["relevance"]),
                ascending=bool(req["ascending"]),
                now=None if req.get("now") is None else int(req["now"]),
                exact=bool(req.get("exact", True)),
            )
        except QueryTooCostly as e:
            return {"error": "costly", "message": e.message, "position": e.position}
        except QueryError as e:
            return {"error": "query", "message": e.message, "position": e.position}
        except SearchUnavailable as e:
            self._forget(own_dir, level)
            return {"error": "unavailable", "message": str(e)}
        except IndexDamaged as e:
            self._forget(own_dir, level)
            return {"error": "damaged", "message": str(e)}
        except PubinboxError as e:
            return {"error": "failed", "message": str(e)}
        except MemoryError:
            self.leave = "out of memory"
            return {"error": "failed", "message": "the search ran out of memory: narrow it"}
        return {"total": res.total, "nums": list(res.nums), "scores": list(res.scores), "exact": res.exact}


def _default_searcher(own_dir: Path, level: str) -> Any:
    from pubinbox.search.reader import Searcher

    return Searcher(own_dir, level)


def main(argv: list[str]) -> int:
    """Serve on the inherited socket until it is time to leave."""
    logging.basicConfig(level=logging.WARNING, format="pubinbox[%(process)d]: %(message)s", stream=sys.stderr)
    limits, fd = Limits.parse(argv)
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (limits.memory, limits.memory))
    except (ValueError, OSError) as e:  # pragma: no cover - a hard limit below ours
        log.warning("search process: cannot limit memory to %d bytes: %s", limits.memory, e)
    threading.stack_size(STACK)
    server = SearchServer(socket.socket(fileno=fd), limits)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server's Ctrl-C is for the server
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "leave", "asked to stop"))
    sys.stdout = sys.stderr  # nothing but replies on the sockets
    status = server.serve()
    logging.shutdown()
    os._exit(status)  # threads may be inside Tantivy: do not wait for them


if __name__ == "__main__":
    main(sys.argv[1:])
