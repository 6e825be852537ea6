"""Connection limits for ``pubinbox serve``: slow, idle and greedy clients.

uvicorn's HTTP protocol (httptools) has no deadline for a request's
headers, keeps a connection that never sends a byte forever, buffers a URL
or a header value whole before any size check, and accepts connections until
the process runs out of file descriptors.  :class:`GuardedHttp` is that
protocol with the limits a public archive needs (:class:`ConnLimits`):

* a request's line and headers must arrive within ``header_timeout``
  seconds of its first byte (of the connection, for the first request), and
  within ``max_head`` bytes (URL: ``max_url``; at most ``max_headers``
  fields) -- else 408, 414 or 431 and the connection is closed;
* an idle keep-alive connection is closed after ``idle_timeout``;
* each worker holds at most ``max_connections`` connections, at most
  ``max_per_client`` of them from one client address.  When a new
  connection would pass either cap, the longest-idle connection (of that
  address, or of anyone) is closed to make room; connections busy with a
  request are never closed for that, and when all are busy the newcomer
  gets a 503.

The accounting lives in one :class:`Guard` per server (kept on uvicorn's
per-server state object), so each worker process counts its own.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["ConnLimits", "Guard", "GuardedHttp", "quiet_invalid_requests"]

log = logging.getLogger("pubinbox.web.guard")


@dataclass(frozen=True, slots=True)
class ConnLimits:
    """What one worker allows its clients."""

    header_timeout: float = 10.0
    idle_timeout: float = 30.0
    max_connections: int = 4096
    max_per_client: int = 128
    max_url: int = 16 << 10
    max_head: int = 64 << 10
    max_headers: int = 100

    def fitted(self) -> ConnLimits:
        """These limits with ``max_connections`` lowered to what the process's
        file-descriptor limit allows (raised to its hard limit first)."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and soft < hard:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
                soft = hard
            except (ValueError, OSError):
                pass
        room = max(64, soft - 256) if soft != resource.RLIM_INFINITY else self.max_connections
        if room >= self.max_connections:
            return self
        log.warning("at most %d connections per worker (the file limit is %d)", room, soft)
        return ConnLimits(
            self.header_timeout,
            self.idle_timeout,
            room,
            min(self.max_per_client, room),
            self.max_url,
            self.max_head,
            self.max_headers,
        )


class _DropInvalid(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Invalid HTTP request")


def quiet_invalid_requests() -> None:
    """Stop uvicorn logging a line per malformed or refused request: on the
    open internet that is a log flood anyone can cause (the client gets its
    4xx answer either way)."""
    logging.getLogger("uvicorn.error").addFilter(_DropInvalid())


def _response(status: str, text: str) -> bytes:
    body = text.encode()
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


class Guard:
    """Open connections of one worker: counted in all and per client
    address, and the idle ones in the order they became idle."""

    def __init__(self, limits: ConnLimits) -> None:
        self.limits = limits
        self.count = 0
        self.per_client: dict[str, int] = {}
        self.idle: dict[GuardedHttp, None] = {}  # insertion order = oldest idle first
        self.idle_by_client: dict[str, dict[GuardedHttp, None]] = {}
        self.evicted = 0
        self.refused = 0

    def admit(self, conn: GuardedHttp) -> bool:
        """Count *conn* in, closing the longest-idle connection when a cap is
        reached; False when there is nothing to close (all are busy)."""
        lim = self.limits
        ip = conn.client_ip
        if self.per_client.get(ip, 0) >= lim.max_per_client and not self._evict(self.idle_by_client.get(ip)):
            self.refused += 1
            return False
        if self.count >= lim.max_connections and not self._evict(self.idle):
            self.refused += 1
            return False
        self.count += 1
        self.per_client[ip] = self.per_client.get(ip, 0) + 1
        return True

    def _evict(self, pool: dict[GuardedHttp, None] | None) -> bool:
        while pool:
            victim = next(iter(pool))
            self.set_busy(victim)  # takes it out of every idle list
            if victim.evict():
                self.evicted += 1
                return True
        return False

    def release(self, conn: GuardedHttp) -> None:
        self.set_busy(conn)
        ip = conn.client_ip
        self.count -= 1
        left = self.per_client.get(ip, 1) - 1
        if left > 0:
            self.per_client[ip] = left
        else:
            self.per_client.pop(ip, None)

    def set_idle(self, conn: GuardedHttp) -> None:
        self.idle[conn] = None
        self.idle_by_client.setdefault(conn.client_ip, {})[conn] = None

    def set_busy(self, conn: GuardedHttp) -> None:
        self.idle.pop(conn, None)
        mine = self.idle_by_client.get(conn.client_ip)
        if mine is not None:
            mine.pop(conn, None)
            if not mine:
                del self.idle_by_client[conn.client_ip]


def _guard_of(server_state: Any, app: Any) -> Guard:
    """The server's Guard, made on first use from the app's limits."""
    guard: Guard | None = getattr(server_state, "pubinbox_guard", None)
    if guard is None:
        while app is not None and not hasattr(app, "conn_limits") and hasattr(app, "app"):
            app = app.app  # under uvicorn's middlewares
        limits: ConnLimits = getattr(app, "conn_limits", None) or ConnLimits()
        guard = Guard(limits.fitted())
        server_state.pubinbox_guard = guard
    return guard


class GuardedHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol within :class:`ConnLimits`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = _guard_of(self.server_state, self.app)
        self.client_ip = ""
        self._admitted = False
        self._in_head = True  # reading a request line and headers (or waiting for one)
        self._head_bytes = 0
        self._url_parts: list[bytes] = []
        self._url_len = 0
        self._nheaders = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refusal: bytes | None = None

    # -- connection ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.client_ip = self.client[0] if self.client else ""
        if not self.guard.admit(self):
            transport.write(_response("503 Service Unavailable", "503 too many connections; try again later\n"))
            transport.close()
            return
        self._admitted = True
        self.guard.set_idle(self)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        if self._admitted:
            self._admitted = False
            self.guard.release(self)
        super().connection_lost(exc)

    def evict(self) -> bool:
        """Close this idle connection to make room; False if already closing."""
        if self.transport is None or self.transport.is_closing():
            return False
        self.transport.close()
        return True

    # -- the request head -----------------------------------------------------------
    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.guard.limits.header_timeout, self._head_timeout)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _in_flight(self) -> bool:
        """A request is being answered on this connection."""
        return self.cycle is not None and not self.cycle.response_complete

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self._in_flight():
            return
        if self._head_bytes:  # a request started and stalled: tell it why
            self._reject("408 Request Timeout", "408 the request headers took too long\n")
        else:  # a connection that never sent anything: just close it
            self.transport.close()

    def _reject(self, status: str, text: str) -> None:
        self._cancel_head_timer()
        if not self.transport.is_closing():
            self.transport.write(_response(status, text))
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.guard.limits.max_head:
                self._reject("431 Request Header Fields Too Large", "431 request headers too large\n")
                return
            if not self._in_flight():
                self._arm_head_timer()
        super().data_received(data)
        if self._refusal is not None:
            status, _, text = self._refusal.decode().partition("|")
            self._refusal = None
            self._reject(status, text)

    def send_400_response(self, msg: str) -> None:
        if self._refusal is not None:  # a limit, raised from a parser callback
            status, _, text = self._refusal.decode().partition("|")
            self._refusal = None
            self._reject(status, text)
            return
        super().send_400_response(msg)

    def _refuse(self, status: str, text: str) -> None:
        """From a parser callback: stop parsing, answer *status*."""
        self._refusal = f"{status}|{text}".encode()
        raise ValueError(status)  # httptools turns it into HttpParserCallbackError

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._url_parts = []
        self._url_len = 0
        self._nheaders = 0
        if not self._in_flight():
            self._arm_head_timer()
            self.guard.set_idle(self)  # still only "reading a head": evictable

    def on_url(self, url: bytes) -> None:
        self._url_len += len(url)
        if self._url_len > self.guard.limits.max_url:
            self._refuse("414 URI Too Long", "414 the URL is too long\n")
        self._url_parts.append(url)  # joined once, not += per chunk (quadratic)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._nheaders += 1
        if self._nheaders > self.guard.limits.max_headers:
            self._refuse("431 Request Header Fields Too Large", "431 too many header fields\n")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.url = b"".join(self._url_parts)
        self._in_head = False
        self._head_bytes = 0
        self._cancel_head_timer()
        self.guard.set_busy(self)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self._admitted:
            self.guard.set_idle(self)  # uvicorn arms its keep-alive timer (idle_timeout)
