"""One POP3 session (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS).

Like public-inbox-pop3d -- anonymous mailboxes ``UUID@NEWSGROUP[.SLICE]``
with the password ``anonymous`` (USER/PASS or APOP), UIDL = the message's
git blob id, ``EXPIRE 0`` (a client that asked CAPA has what it retrieved
deleted at QUIT) -- but correct to RFC 1939 where public-inbox 1.9 is
not: ``LIST n`` and ``UIDL n`` answer on one line.  Deletions take effect
at QUIT only (the UPDATE state); a dropped connection deletes nothing.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
import ssl
import time
from array import array
from collections.abc import Awaitable, Callable

from pubinbox.errors import PubinboxError
from pubinbox.net.archive import Archive
from pubinbox.net.lineio import CommandSession, ConnClosed, Hub, dot_stuff, sanitize, to_crlf
from pubinbox.pop3.mailbox import SLICE, Mailbox, MailboxError, MailboxName, State, parse_user

__all__ = ["POP3Session"]

log = logging.getLogger(__name__)

MAX_ERRORS = 30


class St(enum.Enum):
    AUTH = "AUTHORIZATION"
    TRANS = "TRANSACTION"


Handler = Callable[["POP3Session", list[str]], Awaitable[None]]
_COMMANDS: dict[str, tuple[Handler, frozenset[St]]] = {}


def command(name: str, *states: St) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        _COMMANDS[name] = (fn, frozenset(states))
        return fn

    return deco


class _Err(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def crlf_message(raw: bytes) -> bytes:
    """The message with CRLF line ends, ending in CRLF (what LIST's size counts)."""
    data = to_crlf(raw)
    return data if data.endswith(b"\r\n") or not data else data + b"\r\n"


class POP3Session(CommandSession):
    """One client of the POP3 server."""

    max_line = 255  # RFC 2449 §4: 255 octets with CRLF
    idle_timeout = 600.0  # RFC 1939 §3: an autologout timer of at least 10 minutes

    def __init__(self, reader, writer, hub: Hub, archive: Archive, groups: dict[str, str], state: State,  # type: ignore[no-untyped-def]
                 tls_ctx: ssl.SSLContext | None) -> None:  # fmt: skip
        super().__init__(reader, writer, hub)
        self.archive = archive
        self.groups = groups  # newsgroup -> inbox name
        self.state = state
        self.tls_ctx = tls_ctx
        self.st = St.AUTH
        self.user: str | None = None
        self.name: MailboxName | None = None
        self.box: Mailbox | None = None
        self.capa = False
        self.retrieved: set[int] = set()
        self.errors = 0
        self.quit = False
        self.stamp = f"<{os.getpid()}.{time.time_ns()}.{os.urandom(4).hex()}@pubinbox>"

    def greeting(self) -> bytes:
        return f"+OK pubinbox POP3 server ready {self.stamp}\r\n".encode()

    async def too_long(self) -> None:
        await self._error("-ERR line too long")

    def finish(self) -> None:
        if self.name is not None:
            self.state.unlock(self.name)

    async def _error(self, text: str) -> None:
        self.errors += 1
        self.send(text.encode() + b"\r\n")
        if self.errors >= MAX_ERRORS:
            self.send(b"-ERR too many errors, closing\r\n")
            self.quit = True
        await self.flush()

    async def dispatch(self, line: bytes) -> None:
        parts = line.decode("utf-8", "surrogateescape").split(" ")
        verb, args = parts[0].upper(), parts[1:]
        got = _COMMANDS.get(verb)
        if got is None:
            await self._error("-ERR unknown command")
            return
        fn, states = got
        if self.st not in states:
            await self._error(f"-ERR {verb} not allowed in the {self.st.value} state")
            return
        self.busy = True
        self.hub.running += 1
        try:
            await fn(self, args)
            self.errors = 0
        except _Err as e:
            await self._error(f"-ERR {e.text}")
        except PubinboxError as e:
            log.warning("%s: %s: %s", self.peer, sanitize(line), e)
            self.send(b"-ERR [SYS/TEMP] archive unavailable, try again later\r\n")
        except ConnClosed:
            raise
        except Exception:
            log.exception("%s: %s", self.peer, sanitize(line))
            self.send(b"-ERR [SYS/TEMP] internal error\r\n")
        finally:
            self.busy = False
            self.hub.running -= 1
            self.hub.commands += 1
        await self.flush()

    # -- authorization -----------------------------------------------------------------
    @command("CAPA", St.AUTH, St.TRANS)
    async def cmd_capa(self, args: list[str]) -> None:
        self.capa = True
        caps = ["TOP", "USER", "PIPELINING", "UIDL", "EXPIRE 0", "RESP-CODES", "IMPLEMENTATION pubinbox"]
        if self.st is St.AUTH and self.tls_ctx is not None and not self.tls:
            caps.append("STLS")
        self.send(("+OK Capability list follows\r\n" + "".join(c + "\r\n" for c in caps) + ".\r\n").encode())

    @command("STLS", St.AUTH)
    async def cmd_stls(self, args: list[str]) -> None:
        if self.tls_ctx is None or self.tls:
            raise _Err("STLS not available")
        self.send(b"+OK begin TLS negotiation\r\n")
        await self.flush()
        await self.start_tls(self.tls_ctx)

    @command("USER", St.AUTH)
    async def cmd_user(self, args: list[str]) -> None:
        if len(args) != 1:
            raise _Err("USER wants one name")
        self.user = args[0]
        self.send(b"+OK anonymous login: the password is `anonymous'\r\n")

    @command("PASS", St.AUTH)
    async def cmd_pass(self, args: list[str]) -> None:
        if self.user is None:
            raise _Err("USER first")
        user, self.user = self.user, None
        if " ".join(args) != "anonymous":
            raise _Err("[AUTH] password is not `anonymous'")
        await self._login(user)

    @command("APOP", St.AUTH)
    async def cmd_apop(self, args: list[str]) -> None:
        if len(args) != 2:
            raise _Err("APOP wants a name and a digest")
        want = hashlib.md5((self.stamp + "anonymous").encode(), usedforsecurity=False).hexdigest()
        if args[1].lower() != want:
            raise _Err("[AUTH] digest does not match the password `anonymous'")
        await self._login(args[0])

    async def _login(self, user: str) -> None:
        try:
            name = parse_user(user, set(self.groups))
        except MailboxError as e:
            raise _Err(f"[AUTH] {e}") from None
        if name.slice is not None:  # a slice past the newest does not exist (as public-inbox-pop3d)
            newest = max(self.archive.inbox(self.groups[name.group]).over.stats()[2] - 1, 0) // SLICE
            if name.slice > newest:
                raise _Err(f"[AUTH] {name.key} does not exist ({name.group}.{newest} does)")
        if not self.state.lock(name):
            raise _Err("[IN-USE] the mailbox is open in another session")
        try:
            self.box = self._load(name)
        except BaseException:
            self.state.unlock(name)
            raise
        self.name = name
        self.st = St.TRANS
        n, size = self.box.total()
        self.send(f"+OK {n} messages ({size} octets)\r\n".encode())

    def _load(self, name: MailboxName) -> Mailbox:
        over = self.archive.inbox(self.groups[name.group]).over
        if name.slice is None:
            hi = over.stats()[2]
            lo = max(hi - SLICE + 1, 1)
        else:
            lo, hi = name.slice * SLICE + 1, (name.slice + 1) * SLICE
        gone = self.state.deleted(name, lo, hi)
        nums, sizes = array("q"), array("q")
        last = lo - 1
        while True:
            rows = over.query(
                "SELECT num, bytes FROM over WHERE num > ? AND num <= ? AND num > 0 ORDER BY num LIMIT 5000", (last, hi)
            )
            if not rows:
                break
            for num, size in rows:
                if num not in gone:
                    nums.append(int(num))
                    sizes.append(int(size or 0))
            last = int(rows[-1][0])
        return Mailbox(nums, sizes)

    @command("QUIT", St.AUTH, St.TRANS)
    async def cmd_quit(self, args: list[str]) -> None:
        if self.st is St.TRANS and self.box is not None and self.name is not None:
            marked = set(self.box.deleted) | (self.retrieved if self.capa else set())
            self.state.delete(self.name, sorted(self.box.nums[n - 1] for n in marked))
        self.send(b"+OK pubinbox POP3 server signing off\r\n")
        self.quit = True

    # -- transaction -----------------------------------------------------------------------
    def _msg(self, args: list[str], nargs: int = 1) -> tuple[int, int, int]:
        """(message number, article number, size) named by args[0]."""
        if len(args) != nargs or not args[0].isascii() or not args[0].isdigit() or len(args[0]) > 9:
            raise _Err("bad message number")
        assert self.box is not None
        n = int(args[0])
        got = self.box.get(n)
        if got is None:
            raise _Err("no such message" if not 1 <= n <= len(self.box) else f"message {n} is deleted")
        return n, got[0], got[1]

    @command("NOOP", St.TRANS)
    async def cmd_noop(self, args: list[str]) -> None:
        self.send(b"+OK\r\n")

    @command("STAT", St.TRANS)
    async def cmd_stat(self, args: list[str]) -> None:
        assert self.box is not None
        n, size = self.box.total()
        self.send(f"+OK {n} {size}\r\n".encode())

    @command("LIST", St.TRANS)
    async def cmd_list(self, args: list[str]) -> None:
        assert self.box is not None
        if args:
            n, _num, size = self._msg(args)
            self.send(f"+OK {n} {size}\r\n".encode())  # one line (RFC 1939 §5)
            return
        count, total = self.box.total()
        self.send(f"+OK {count} messages ({total} octets)\r\n".encode())
        for n in self.box.live():
            await self.send_more(f"{n} {self.box.sizes[n - 1]}\r\n".encode())
        self.send(b".\r\n")

    @command("UIDL", St.TRANS)
    async def cmd_uidl(self, args: list[str]) -> None:
        assert self.box is not None and self.name is not None
        over = self.archive.inbox(self.groups[self.name.group]).over
        if args:
            n, num, _size = self._msg(args)
            row = over.by_num(num)
            if row is None:
                raise _Err("no such message")
            self.send(f"+OK {n} {row.blob}\r\n".encode())  # one line (RFC 1939 §7)
            return
        self.send(b"+OK unique-id listing follows\r\n")
        live = self.box.live()
        for i in range(0, len(live), 1000):
            chunk = live[i : i + 1000]
            nums = [self.box.nums[n - 1] for n in chunk]
            blobs = {r.num: r.blob for r in over.by_nums(nums)}
            for n, num in zip(chunk, nums, strict=True):
                if num in blobs:
                    await self.send_more(f"{n} {blobs[num]}\r\n".encode())
        self.send(b".\r\n")

    async def _send_message(self, num: int, top: int | None) -> None:
        assert self.name is not None
        box = self.archive.inbox(self.groups[self.name.group])
        where = box.over.locate(num)
        if where is None:
            raise _Err("message is gone from the archive")
        data = crlf_message(box.raw_at(*where))
        if top is None:
            self.send(f"+OK {len(data)} octets\r\n".encode())
        else:  # the header, the blank line, and *top* lines of the body
            end = data.find(b"\r\n\r\n")
            if end >= 0:
                lines = data[end + 4 :].split(b"\r\n")
                if lines and lines[-1] == b"":
                    lines.pop()
                data = data[: end + 4] + b"".join(ln + b"\r\n" for ln in lines[:top])
            self.send(b"+OK top of message follows\r\n")
        data = dot_stuff(data)
        for i in range(0, len(data), 1 << 16):
            await self.send_more(data[i : i + (1 << 16)])
        self.send(b".\r\n")

    @command("RETR", St.TRANS)
    async def cmd_retr(self, args: list[str]) -> None:
        n, num, _size = self._msg(args)
        await self._send_message(num, None)
        self.retrieved.add(n)

    @command("TOP", St.TRANS)
    async def cmd_top(self, args: list[str]) -> None:
        if len(args) != 2 or not args[1].isascii() or not args[1].isdigit() or len(args[1]) > 9:
            raise _Err("TOP wants a message number and a number of lines")
        _n, num, _size = self._msg(args[:1])
        await self._send_message(num, int(args[1]))

    @command("DELE", St.TRANS)
    async def cmd_dele(self, args: list[str]) -> None:
        assert self.box is not None
        n, _num, _size = self._msg(args)
        self.box.deleted.add(n)
        self.send(f"+OK message {n} deleted\r\n".encode())

    @command("RSET", St.TRANS)
    async def cmd_rset(self, args: list[str]) -> None:
        assert self.box is not None
        self.box.deleted.clear()
        self.retrieved.clear()
        n, size = self.box.total()
        self.send(f"+OK {n} messages ({size} octets)\r\n".encode())
