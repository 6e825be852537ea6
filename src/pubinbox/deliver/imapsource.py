"""An IMAP folder as a ``pubinbox watch`` source
(``publicinbox.NAME.watch = imap://USER@HOST[:PORT]/MAILBOX``, ``imaps://``
for TLS), like public-inbox-watch's.

The folder is opened read-only (EXAMINE: flags are never changed).  New
messages are those with a UID above the highest one handled for the
folder's UIDVALIDITY (kept in the watcher's state; a new UIDVALIDITY starts
over, and the writer drops what it already has).  Between fetches the
connection waits in IDLE when the server offers it (renewed every
``imap.idleInterval`` seconds, default 600), else the folder is polled
every ``imap.pollInterval`` seconds (default 60).  A connection that fails
(refused, dropped mid-FETCH, timed out: ``imap.timeout``, default 60 s) is
logged once and tried again with a growing delay (up to 5 minutes).

The password comes from ``~/.netrc`` (machine HOST login USER password P),
else from ``git credential fill``.
"""

from __future__ import annotations

import imaplib
import logging
import netrc
import re
import ssl
import subprocess
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from pubinbox.config import Config
from pubinbox.deliver.retry import Retrying

log = logging.getLogger(__name__)

#: messages per UID FETCH
FETCH_BATCH = 64
#: a message bigger than this is skipped (logged), never read into memory
MAX_MESSAGE = 64 << 20

_UID_RE = re.compile(rb"UID (\d+)")
_FLAGS_RE = re.compile(rb"FLAGS \(([^)]*)\)")
_EXISTS_RE = re.compile(rb"^\* \d+ EXISTS", re.IGNORECASE)


class ImapError(Exception):
    """The connection failed or the server said no."""


@dataclass(frozen=True, slots=True)
class ImapUrl:
    tls: bool
    user: str
    host: str
    port: int
    mailbox: str

    @classmethod
    def parse(cls, url: str) -> ImapUrl:
        u = urlsplit(url)
        if u.scheme not in ("imap", "imaps") or not u.hostname:
            raise ValueError(f"not an imap:// or imaps:// URL: {url}")
        user = unquote((u.username or "").split(";", 1)[0])
        box = unquote(u.path.lstrip("/")).split(";", 1)[0] or "INBOX"
        tls = u.scheme == "imaps"
        return cls(tls, user, u.hostname, u.port or (993 if tls else 143), box)


def password(url: ImapUrl) -> str | None:
    """From ~/.netrc, else git's credential helpers."""
    return credential("imaps" if url.tls else "imap", url.host, url.user)


def credential(protocol: str, host: str, user: str) -> str | None:
    """The password of *user* at *host*: ~/.netrc, else ``git credential fill``."""
    try:
        auth = netrc.netrc().authenticators(host)
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        auth = None
    if auth is not None and (not user or auth[0] == user):
        return auth[2]
    desc = f"protocol={protocol}\nhost={host}\n"
    if user:
        desc += f"username={user}\n"
    try:
        proc = subprocess.run(
            ["git", "credential", "fill"],
            input=desc + "\n",
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in proc.stdout.splitlines():
        if line.startswith("password="):
            return line[len("password=") :]
    return None


class ImapSource(Retrying):
    """One watched IMAP folder."""

    def __init__(self, url: str, conf: Config) -> None:
        super().__init__()
        self.url = url
        self.parsed = ImapUrl.parse(url)
        self.timeout = conf.number("imap.timeout", 60.0)
        self.poll_interval = conf.number("imap.pollInterval", 60.0)
        self.idle_interval = conf.number("imap.idleInterval", 600.0)
        self.conn: imaplib.IMAP4 | None = None
        self.uidvalidity = 0
        self.can_idle = False
        self.idling = False
        self.news = False  # an EXISTS seen while entering IDLE
        self._idle_tag = b""
        self._idle_since = 0.0

    # -- connection -------------------------------------------------------------
    def fileno(self) -> int | None:
        if self.conn is None or not self.idling:
            return None
        return int(self.conn.socket().fileno())

    def connect(self) -> None:
        p = self.parsed
        try:
            if p.tls:
                conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    p.host, p.port, ssl_context=ssl.create_default_context(), timeout=self.timeout
                )
            else:
                conn = imaplib.IMAP4(p.host, p.port, timeout=self.timeout)
            pw = password(p)
            if pw is None:
                raise ImapError(f"no password for {p.user or '(no user)'}@{p.host} in ~/.netrc or git credential")
            conn.login(p.user, pw)
            typ, _data = conn.select(_quote(p.mailbox), readonly=True)
            if typ != "OK":
                raise ImapError(f"cannot open folder {p.mailbox}")
            uv = conn.response("UIDVALIDITY")[1]
            self.uidvalidity = int(uv[0]) if uv and uv[0] else 0
            self.can_idle = "IDLE" in conn.capabilities
        except (OSError, imaplib.IMAP4.error, ValueError) as e:
            raise ImapError(str(e) or type(e).__name__) from e
        self.conn = conn
        self.idling = False
        self.reconnected()

    def close(self) -> None:
        conn, self.conn = self.conn, None
        self.idling = False
        if conn is not None:
            try:
                conn.shutdown()
            except (OSError, imaplib.IMAP4.error):
                pass

    # -- fetching -------------------------------------------------------------------
    def fetch_new(self, last_uid: int, stop: list[bool]) -> list[tuple[int, bytes, str]]:
        """(uid, message, flags) above *last_uid*, oldest first."""
        assert self.conn is not None
        try:
            typ, data = self.conn.uid("SEARCH", f"UID {last_uid + 1}:*")
            if typ != "OK":
                raise ImapError(f"UID SEARCH: {data!r}")
            uids = sorted(int(x) for x in (data[0] or b"").split() if int(x) > last_uid)
            out: list[tuple[int, bytes, str]] = []
            for i in range(0, len(uids), FETCH_BATCH):
                if stop and stop[0]:
                    break
                chunk = ",".join(str(u) for u in uids[i : i + FETCH_BATCH])
                out += self._fetch(chunk)
            return out
        except (OSError, imaplib.IMAP4.error, ValueError) as e:
            raise ImapError(str(e) or type(e).__name__) from e

    def _fetch(self, uid_set: str) -> list[tuple[int, bytes, str]]:
        assert self.conn is not None
        typ, data = self.conn.uid("FETCH", uid_set, "(UID RFC822.SIZE FLAGS)")
        if typ != "OK":
            raise ImapError(f"UID FETCH: {data!r}")
        wanted = []
        for item in data:
            head = item[0] if isinstance(item, tuple) else item
            if not isinstance(head, bytes):
                continue
            m, size = _UID_RE.search(head), re.search(rb"RFC822\.SIZE (\d+)", head)
            if m is None:
                continue
            if size is not None and int(size.group(1)) > MAX_MESSAGE:
                log.warning("%s: UID %s is %s bytes; skipped", self.url, m.group(1).decode(), size.group(1).decode())
                continue
            wanted.append(m.group(1).decode())
        if not wanted:
            return []
        typ, data = self.conn.uid("FETCH", ",".join(wanted), "(UID FLAGS BODY.PEEK[])")
        if typ != "OK":
            raise ImapError(f"UID FETCH: {data!r}")
        out = []
        for item in data:
            if not isinstance(item, tuple) or len(item) < 2:
                continue
            head, body = item[0], item[1]
            m = _UID_RE.search(head)
            if m is None or not isinstance(body, bytes):
                continue
            fl = _FLAGS_RE.search(head)
            out.append((int(m.group(1)), body.replace(b"\r\n", b"\n"), (fl.group(1) if fl else b"").decode()))
        return sorted(out)

    # -- waiting -------------------------------------------------------------------
    def idle_start(self) -> None:
        """Enter IDLE (or schedule the next poll)."""
        assert self.conn is not None
        if not self.can_idle:
            self.next_try = time.monotonic() + self.poll_interval
            return
        try:
            tag = self.conn._new_tag()  # imaplib has no IDLE before 3.14
            self.conn.send(tag + b" IDLE\r\n")
            while True:  # untagged news (mail that came since the fetch) may come first
                line = self.conn.readline()
                if line.startswith(b"+"):
                    break
                if not line.startswith(b"* ") or line.startswith(b"* BYE"):
                    raise ImapError(f"IDLE refused: {line.strip()!r}")
                self.news = self.news or bool(_EXISTS_RE.match(line))
        except (OSError, imaplib.IMAP4.error) as e:
            raise ImapError(str(e) or type(e).__name__) from e
        self._idle_tag = tag
        self._idle_since = time.monotonic()
        self.idling = True
        self.next_try = self._idle_since + self.idle_interval

    def buffered(self) -> bool:
        """True when a reply already sits in imaplib's buffer (read with the
        "+" of IDLE, say), where select() cannot see it."""
        if self.conn is None:
            return False
        if self.news:
            return True
        sock = self.conn.socket()
        old = sock.gettimeout()
        try:
            sock.settimeout(0.0)
            peek = getattr(self.conn.file, "peek", None)
            return bool(peek(1)) if peek is not None else False
        except OSError:
            return False
        finally:
            sock.settimeout(old)

    def idle_read(self) -> bool:
        """The socket is readable: True when the folder has new mail."""
        assert self.conn is not None
        if self.news:
            self.news = False
            return True
        try:
            line = self.conn.readline()
        except (OSError, imaplib.IMAP4.error) as e:
            raise ImapError(str(e) or type(e).__name__) from e
        if not line:
            raise ImapError("connection closed by the server")
        if line.startswith(b"* BYE"):
            raise ImapError(f"server said {line.strip().decode(errors='replace')}")
        return bool(_EXISTS_RE.match(line))

    def idle_done(self) -> None:
        """Leave IDLE (the tagged reply is read)."""
        if self.conn is None or not self.idling:
            return
        self.idling = False
        try:
            self.conn.send(b"DONE\r\n")
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:
                line = self.conn.readline()
                if not line:
                    raise ImapError("connection closed by the server")
                if line.startswith(self._idle_tag + b" "):
                    return
            raise ImapError("no reply to DONE")
        except (OSError, imaplib.IMAP4.error) as e:
            raise ImapError(str(e) or type(e).__name__) from e


def _quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'
