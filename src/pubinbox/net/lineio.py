"""Bounded line I/O for the line protocols (NNTP, POP3, IMAP) on asyncio streams.

A :class:`LineConn` reads CRLF (or LF) terminated command lines of at most
``max_line`` bytes (a longer line is read to its end and discarded, and
reported as :class:`LineTooLong`), waits at most ``idle_timeout`` seconds
for a command, and writes replies through a bounded buffer: output is sent
in pieces and each piece waits for the client to take the previous ones
(``send_timeout`` seconds at most, then the connection is closed), so a
client that never reads holds no more than about :data:`OUT_HIGH` bytes.
It also does RFC 8054 / RFC 4978 DEFLATE and STARTTLS.

A :class:`Hub` knows every connection of one worker: it caps their number
(closing the longest-idle one past the cap, never one that is running a
command), tells the worker whether any command is running, and keeps the
loop polling for the next command of clients that wait for each reply
(:mod:`pubinbox.net.busypoll`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pubinbox import deflate
from pubinbox.errors import ConfigError
from pubinbox.net.busypoll import DEFAULT_MAX_US, BusyPoll, Pace

if TYPE_CHECKING:
    from pubinbox.config import Config

__all__ = [
    "OUT_HIGH",
    "CommandSession",
    "Hub",
    "LineConn",
    "LineTooLong",
    "dot_stuff",
    "sanitize",
    "serve_sessions",
    "to_crlf",
]

log = logging.getLogger(__name__)

#: bytes of output a connection may have queued before it waits for the client
OUT_HIGH = 64 << 10
#: bytes read from the socket at a time
READ_CHUNK = 16 << 10


class LineTooLong(Exception):
    """A command line longer than the protocol allows (already discarded)."""


class ConnClosed(Exception):
    """The client went away, idled out or stopped reading."""


def to_crlf(data: bytes) -> bytes:
    """Every LF not after a CR becomes CRLF (bare CRs stay): str.replace
    at C speed instead of a look-behind regex."""
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    return data.replace(b"\n", b"\r\n")


_DOT_LINE = re.compile(rb"\n\.")


def dot_stuff(data: bytes) -> bytes:
    """A leading ``.`` doubled on every line (RFC 3977 §3.1.1, RFC 1939 §3)."""
    if _DOT_LINE.search(data):  # a regex with a literal first byte scans faster than replace()
        data = _DOT_LINE.sub(b"\n..", data)
    return b"." + data if data.startswith(b".") else data


def sanitize(data: bytes, limit: int = 120) -> str:
    """A command line fit for a log line: printable ASCII, shortened."""
    text = data[:limit].decode("ascii", "replace")
    return "".join(c if " " <= c < "\x7f" else "?" for c in text)


class Hub:
    """The protocol connections of one worker."""

    def __init__(self, max_connections: int = 4096) -> None:
        self.max_connections = max_connections
        self.conns: set[LineConn] = set()
        self.commands = 0  # commands answered (the worker's idle check)
        self.running = 0  # commands being answered now
        self.poll = BusyPoll()

    def configure(self, config: Config) -> None:
        """The settings of *config*: ``pubinbox.workerconnections`` and
        ``pubinbox.busypoll``."""
        self.max_connections = int(config.number("pubinbox.workerconnections", self.max_connections))
        self.poll = BusyPoll(busy_poll_us(config))

    def add(self, conn: LineConn) -> None:
        if len(self.conns) >= self.max_connections:
            idle = [c for c in self.conns if not c.busy]
            if idle:
                min(idle, key=lambda c: c.last_active).abort()
        self.conns.add(conn)

    def discard(self, conn: LineConn) -> None:
        self.conns.discard(conn)

    def close_all(self) -> None:
        for c in list(self.conns):
            c.abort()


def busy_poll_us(config: Config) -> int:
    """``pubinbox.busypoll``: microseconds, 0 to never poll."""
    raw = config.get("pubinbox.busypoll")
    if raw is None:
        return DEFAULT_MAX_US
    try:
        us = int(raw.strip())
    except ValueError:
        us = -1
    if not 0 <= us <= 100_000:
        raise ConfigError(f"{config.path}: pubinbox.busypoll must be microseconds from 0 to 100000, not {raw!r}")
    return us


class LineConn:
    """One client connection: bounded reads and writes, DEFLATE, STARTTLS."""

    max_line = 512  # bytes, CRLF included (RFC 3977 §3.1)
    idle_timeout = 180.0  # seconds without a command (RFC 3977 §3.1: at least 3 minutes)
    send_timeout = 60.0  # seconds a client may take to accept queued output

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hub: Hub) -> None:
        self.reader = reader
        self.writer = writer
        self.hub = hub
        self.inbuf = bytearray()
        self.inflate: zlib._Decompress | None = None
        self.deflate: deflate.Compressor | None = None
        self.zdirty = False  # compressed input not yet flushed
        self.pending: list[bytes] = []
        self.pending_len = 0
        self.busy = False
        self.last_active = time.monotonic()
        self.pace = Pace()
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.closed = False
        #: the start of the last over-long line (an IMAP server answers its tag)
        self.long_head = b""

    # -- reading ------------------------------------------------------------------
    async def _fill(self, timeout: float) -> bool:
        """Read more into :attr:`inbuf`; False at the end of input."""
        try:
            async with asyncio.timeout(timeout):
                data = await self.reader.read(READ_CHUNK)
        except TimeoutError:
            raise ConnClosed("idle") from None
        except (ConnectionError, ssl.SSLError, OSError) as e:
            raise ConnClosed(str(e)) from None
        if not data:
            return False
        self.hub.poll.arrived(self.pace)
        if self.inflate is not None:
            try:
                # bounded: at most max_line * 8 bytes of input per read
                data = self.inflate.decompress(self.inflate.unconsumed_tail + data, self.max_line * 8)
            except zlib.error as e:
                raise ConnClosed(f"bad deflate stream: {e}") from None
        self.inbuf += data
        return True

    async def readline(self) -> bytes | None:
        """The next line without its line ending, None at the end of input;
        raises :class:`LineTooLong` (after discarding it) or ConnClosed."""
        deadline = time.monotonic() + self.idle_timeout
        too_long = False
        while True:
            nl = self.inbuf.find(b"\n")
            if nl >= 0:
                line = bytes(self.inbuf[:nl])
                del self.inbuf[: nl + 1]
                if too_long or nl + 1 > self.max_line:
                    if not too_long:
                        self.long_head = line[:100]
                    raise LineTooLong()
                self.last_active = time.monotonic()
                return line.removesuffix(b"\r")
            if len(self.inbuf) > self.max_line:
                if not too_long:
                    self.long_head = bytes(self.inbuf[:100])
                too_long = True
                self.inbuf.clear()
            if self.inflate is not None and self.inflate.unconsumed_tail:
                data = self.inflate.decompress(self.inflate.unconsumed_tail, self.max_line * 8)
                self.inbuf += data
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConnClosed("idle")
            if not await self._fill(left):
                return None

    async def read_exact(self, n: int) -> bytes | None:
        """The next *n* bytes (an IMAP literal; the caller bounds *n*),
        None at the end of input."""
        deadline = time.monotonic() + self.idle_timeout
        while len(self.inbuf) < n:
            if self.inflate is not None and self.inflate.unconsumed_tail:
                self.inbuf += self.inflate.decompress(self.inflate.unconsumed_tail, self.max_line * 8)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConnClosed("idle")
            if not await self._fill(left):
                return None
        out = bytes(self.inbuf[:n])
        del self.inbuf[:n]
        return out

    # -- writing ------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Queue *data*; :meth:`flush` sends it (callers flush at least
        every :data:`OUT_HIGH` bytes, see :meth:`send_more`)."""
        if self.deflate is not None:
            self.zdirty = self.zdirty or bool(data)
            data = self.deflate.compress(data)
        if data:
            self.pending.append(data)
            self.pending_len += len(data)

    async def send_more(self, data: bytes) -> None:
        """Queue *data* and, past :data:`OUT_HIGH` queued bytes, wait until
        the client has taken them."""
        self.send(data)
        if self.pending_len >= OUT_HIGH:
            await self.flush(sync=False)

    async def flush(self, *, sync: bool = True) -> None:
        """Send what is queued and wait (bounded) for the client to take it."""
        if self.deflate is not None and sync and self.zdirty:
            # only after new output: an empty flush block makes some
            # clients (mbsync) read an empty line
            self.zdirty = False
            tail = self.deflate.flush(deflate.Z_SYNC_FLUSH)
            if tail:
                self.pending.append(tail)
        if self.closed:
            raise ConnClosed("closed")
        if self.pending:
            self.writer.write(b"".join(self.pending) if len(self.pending) > 1 else self.pending[0])
            self.pending.clear()
            self.pending_len = 0
        transport = self.writer.transport
        if not transport.is_closing() and transport.get_write_buffer_size() == 0:
            return  # all sent already: nothing to wait for (and no timer to set)
        try:
            async with asyncio.timeout(self.send_timeout):
                await self.writer.drain()
        except TimeoutError:
            raise ConnClosed("client does not read") from None
        except (ConnectionError, ssl.SSLError, OSError) as e:
            raise ConnClosed(str(e)) from None

    # -- layers -------------------------------------------------------------------
    def start_compress(self) -> None:
        """Raw DEFLATE both ways from the next byte on (RFC 8054 §2.2.2:
        the reply to COMPRESS is sent uncompressed, before this)."""
        self.deflate = deflate.compressobj(6, deflate.RAW)
        self.inflate = zlib.decompressobj(-15)
        if self.inbuf:  # bytes after the COMPRESS line are compressed already
            data, self.inbuf = bytes(self.inbuf), bytearray()
            try:
                self.inbuf += self.inflate.decompress(data, self.max_line * 8)
            except zlib.error as e:
                raise ConnClosed(f"bad deflate stream: {e}") from None

    async def start_tls(self, ctx: ssl.SSLContext) -> None:
        """Upgrade to TLS (STARTTLS/STLS); input pipelined before it is
        dropped (RFC 4642 §2.2.1)."""
        self.inbuf.clear()
        try:
            async with asyncio.timeout(self.idle_timeout):
                await self.writer.start_tls(ctx)
        except (TimeoutError, ConnectionError, ssl.SSLError, OSError) as e:
            raise ConnClosed(f"TLS: {e}") from None

    @property
    def tls(self) -> bool:
        return self.writer.get_extra_info("sslcontext") is not None

    def abort(self) -> None:
        """Close now, dropping queued output."""
        self.closed = True
        with contextlib.suppress(Exception):
            self.writer.transport.abort()

    async def close(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            self.writer.close()
            async with asyncio.timeout(2):
                await self.writer.wait_closed()


class CommandSession(LineConn):
    """A line protocol's session: a greeting, then one command after another
    until the client quits or goes, then :meth:`finish` and close.  Each
    protocol says how a command is read (:meth:`read_command`, one line by
    default), answered (:meth:`dispatch`) and what an over-long one gets
    (:meth:`too_long`)."""

    quit = False

    def greeting(self) -> bytes:
        raise NotImplementedError

    async def read_command(self) -> bytes | None:
        return await self.readline()

    async def dispatch(self, command: bytes) -> None:
        raise NotImplementedError

    async def too_long(self) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Release what the session holds (before the connection closes)."""

    async def run(self) -> None:
        self.hub.add(self)
        try:
            self.send(self.greeting())
            await self.flush()
            while not self.quit and not self.closed:
                try:
                    command = await self.read_command()
                except LineTooLong:
                    await self.too_long()
                    continue
                if command is None:
                    break
                await self.dispatch(command)
                self.hub.poll.replied(self.pace)
        except ConnClosed as e:
            log.debug("%s: %s", self.peer, e)
        finally:
            self.finish()
            self.hub.discard(self)
            await self.close()


#: seconds a client has to finish a TLS handshake
HANDSHAKE = 30.0


async def serve_sessions(
    sock: socket.socket,
    run: Callable[[asyncio.StreamReader, asyncio.StreamWriter, ssl.SSLContext | None], Awaitable[None]],
    *,
    tls: ssl.SSLContext | None,
    implicit: bool,
    limit: int = 1 << 16,
) -> asyncio.Server:
    """Accept connections on *sock*, each run by *run*(reader, writer,
    STARTTLS context): TLS from the first byte when *implicit*, else
    STARTTLS offered when *tls* is given."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await run(reader, writer, None if implicit else tls)

    return await asyncio.start_server(
        session,
        sock=sock,
        ssl=tls if implicit else None,
        ssl_handshake_timeout=HANDSHAKE if implicit else None,
        limit=limit,
    )
