"""A newsgroup as a ``pubinbox watch`` source
(``publicinbox.NAME.watch = nntp://[USER@]HOST[:PORT]/GROUP``, ``nntps://``
for TLS), like public-inbox-watch's.

New articles are those numbered above the last one handled for the source
(one number per source, kept in the watcher's state; articles below the
group's low-water mark are gone and skipped).  The group is polled every
``nntp.pollInterval`` seconds (default 60) over one connection kept open
between polls; a connection that fails (refused, dropped mid-ARTICLE, timed
out: ``nntp.timeout``, default 60 s) is logged once and tried again with a
growing delay (up to 5 minutes).  ``nntp.starttls`` (default true) upgrades
a plain connection when the server offers STARTTLS.  With a user in the
URL, AUTHINFO USER/PASS is sent (password from ``~/.netrc``, else ``git
credential fill``).

The client is a small one of our own (RFC 3977 ``GROUP``/``ARTICLE``):
every line and article is bounded, so a hostile server cannot make the
watcher read without end.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from pubinbox.config import Config
from pubinbox.deliver.imapsource import credential
from pubinbox.deliver.retry import Retrying

log = logging.getLogger(__name__)

#: longest status or article line read
MAX_LINE = 1 << 20
#: an article bigger than this is skipped (logged)
MAX_ARTICLE = 64 << 20
#: articles fetched per poll at most (the next poll goes on)
POLL_MAX = 5000


class NntpError(Exception):
    """The connection failed or the server said no."""


@dataclass(frozen=True, slots=True)
class NntpUrl:
    tls: bool
    user: str
    host: str
    port: int
    group: str

    @classmethod
    def parse(cls, url: str) -> NntpUrl:
        u = urlsplit(url)
        if u.scheme not in ("nntp", "nntps", "news", "snews") or not u.hostname:
            raise ValueError(f"not an nntp:// or nntps:// URL: {url}")
        group = unquote(u.path.strip("/")).split("/", 1)[0]
        if not group or any(c in group for c in " \t\r\n"):
            raise ValueError(f"no newsgroup in {url}")
        tls = u.scheme in ("nntps", "snews")
        return cls(tls, unquote(u.username or ""), u.hostname, u.port or (563 if tls else 119), group)


class NntpSource(Retrying):
    """One watched newsgroup."""

    def __init__(self, url: str, conf: Config) -> None:
        super().__init__()
        self.url = url
        self.parsed = NntpUrl.parse(url)
        self.timeout = conf.number("nntp.timeout", 60.0)
        self.poll_interval = conf.number("nntp.pollInterval", 60.0)
        self.starttls = (conf.get("nntp.starttls") or "true").lower() not in ("false", "no", "off", "0")
        self._sock: socket.socket | ssl.SSLSocket | None = None
        self._buf = b""
        self._pos = 0

    @property
    def connected(self) -> bool:
        return self._sock is not None

    # -- connection -------------------------------------------------------------
    def connect(self) -> None:
        p = self.parsed
        try:
            sock: socket.socket = socket.create_connection((p.host, p.port), timeout=self.timeout)
            if p.tls:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=p.host)
            self._sock, self._buf, self._pos = sock, b"", 0
            code, line = self._status()
            if code not in (200, 201):
                raise NntpError(f"greeting: {line}")
            if self.starttls and not p.tls and "STARTTLS" in self._capabilities():
                code, line = self._cmd("STARTTLS")
                if code != 382:
                    raise NntpError(f"STARTTLS: {line}")
                self._sock = ssl.create_default_context().wrap_socket(sock, server_hostname=p.host)
                self._buf, self._pos = b"", 0
            if p.user:
                self._login(p)
            self._cmd("MODE READER")  # some servers need it; an error is fine
        except (OSError, ValueError) as e:
            self.close()
            raise NntpError(str(e) or type(e).__name__) from e
        except NntpError:
            self.close()
            raise
        self.reconnected()

    def _capabilities(self) -> set[str]:
        code, _line = self._cmd("CAPABILITIES")
        if code != 101:
            return set()
        return {ln.split(b" ", 1)[0].decode("ascii", "replace").upper() for ln in self._lines(1 << 16)}

    def _login(self, p: NntpUrl) -> None:
        pw = credential("nntps" if p.tls else "nntp", p.host, p.user)
        if pw is None:
            raise NntpError(f"no password for {p.user}@{p.host} in ~/.netrc or git credential")
        code, line = self._cmd(f"AUTHINFO USER {p.user}")
        if code == 381:
            code, line = self._cmd(f"AUTHINFO PASS {pw}")
        if code != 281:
            raise NntpError(f"AUTHINFO: {line}")

    def polled(self) -> None:
        self.next_try = time.monotonic() + self.poll_interval

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.sendall(b"QUIT\r\n")
            except OSError:
                pass
            try:
                sock.close()
            except OSError:
                pass

    # -- protocol --------------------------------------------------------------------
    def _readline(self, limit: int = MAX_LINE) -> bytes:
        if self._sock is None:
            raise NntpError("not connected")
        while True:
            i = self._buf.find(b"\n", self._pos)
            if i >= 0:
                line = self._buf[self._pos : i + 1]
                self._pos = i + 1
                return line
            if len(self._buf) - self._pos > limit:
                raise NntpError(f"line longer than {limit} bytes")
            data = self._sock.recv(1 << 16)
            if not data:
                raise NntpError("connection closed by the server")
            self._buf = self._buf[self._pos :] + data
            self._pos = 0

    def _status(self) -> tuple[int, str]:
        line = self._readline(4096).rstrip(b"\r\n").decode("utf-8", "replace")
        code = line[:3]
        if len(code) != 3 or not code.isdigit():
            raise NntpError(f"not an NNTP reply: {line[:200]!r}")
        return int(code), line

    def _cmd(self, text: str) -> tuple[int, str]:
        if self._sock is None:
            raise NntpError("not connected")
        self._sock.sendall(text.encode() + b"\r\n")
        return self._status()

    def _lines(self, limit: int) -> Iterator[bytes]:
        """The lines of a multi-line reply (dot-unstuffed, without CRLF);
        raises past *limit* bytes, after reading the rest of the reply."""
        total = 0
        over = False
        while True:
            line = self._readline()
            if line in (b".\r\n", b".\n"):
                break
            total += len(line)
            if total > limit:
                over = True
                continue
            if line.startswith(b".."):
                line = line[1:]
            yield line.rstrip(b"\r\n")
        if over:
            raise _TooBig(total)

    # -- fetching -------------------------------------------------------------------
    def group(self) -> tuple[int, int]:
        """(low, high) article numbers of the group."""
        code, line = self._cmd(f"GROUP {self.parsed.group}")
        if code != 211:
            raise NntpError(f"GROUP {self.parsed.group}: {line}")
        parts = line.split()
        try:
            return int(parts[2]), int(parts[3])
        except (IndexError, ValueError):
            raise NntpError(f"GROUP {self.parsed.group}: {line}") from None

    def fetch_new(self, last: int, stop: list[bool]) -> Iterator[tuple[int, bytes | None]]:
        """(number, article or None when it is gone or too big) above
        *last*, oldest first, at most :data:`POLL_MAX` per call."""
        try:
            low, high = self.group()
            if high < last:
                log.warning("%s: the group's newest article is %d, below %d handled: renumbered?", self.url, high, last)
            start = max(last + 1, low)
            for num in range(start, min(high, start + POLL_MAX - 1) + 1):
                if stop and stop[0]:
                    return
                yield num, self._article(num)
        except (OSError, ValueError) as e:
            raise NntpError(str(e) or type(e).__name__) from e

    def _article(self, num: int) -> bytes | None:
        code, line = self._cmd(f"ARTICLE {num}")
        if code in (423, 430):  # expired or cancelled
            return None
        if code != 220:
            raise NntpError(f"ARTICLE {num}: {line}")
        try:
            return b"\n".join(self._lines(MAX_ARTICLE)) + b"\n"
        except _TooBig as e:
            log.warning("%s: article %d is over %d bytes (%d); skipped", self.url, num, MAX_ARTICLE, e.size)
            return None


class _TooBig(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size
