"""One IMAP4rev1 session, read-only (RFC 3501; RFC 2177 IDLE, RFC 4978 COMPRESS).

Like public-inbox-imapd: anonymous login, a mailbox per 50K-message slice
of each newsgroup (:mod:`.mailboxes`), UID = article number, UIDVALIDITY =
msgmap's created_at, FLAGS always empty, SELECT = EXAMINE (read-only).
SEARCH matches substrings, case-insensitively, as RFC 3501 §6.4.4 says
(public-inbox matches whole words only).  IDLE reports new messages within
:data:`IDLE_POLL` seconds.  Commands that would change anything answer NO.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import enum
import logging
import ssl
import time
from array import array
from collections.abc import Awaitable, Callable

from pubinbox.errors import PubinboxError
from pubinbox.imap.commands import Bad, FetchAtt, Token, parse_fetch_atts, parse_seqset, tokenize
from pubinbox.imap.mailboxes import Mailboxes, Selected, display, list_match
from pubinbox.imap.message import astring, body_section, bodystructure, envelope, parse
from pubinbox.net.archive import Archive, created_at
from pubinbox.net.lineio import CommandSession, ConnClosed, Hub, LineTooLong, sanitize, to_crlf
from pubinbox.over.reader import OverRow
from pubinbox.store.packread import private_bases

__all__ = ["IMAPSession"]

log = logging.getLogger(__name__)

#: seconds between checks for new mail while IDLE
IDLE_POLL = 2.0
#: the largest literal a client may send, and a whole command's size
MAX_LITERAL = 8000
MAX_COMMAND = 64 << 10
MAX_ERRORS = 30
#: a FETCH of this many messages or more reads them as a scan (store/packread.private_bases)
SCAN_FROM = 16
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_READ_ONLY = {"STORE", "COPY", "MOVE", "APPEND", "EXPUNGE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE"}


class St(enum.Enum):
    NOAUTH = 1
    AUTH = 2
    SELECTED = 3


class _No(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


Handler = Callable[["IMAPSession", str, list[Token]], Awaitable[None]]
_COMMANDS: dict[str, tuple[Handler, frozenset[St]]] = {}
ANY = (St.NOAUTH, St.AUTH, St.SELECTED)
AUTHED = (St.AUTH, St.SELECTED)


def command(name: str, *states: St) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        _COMMANDS[name] = (fn, frozenset(states))
        return fn

    return deco


def internaldate(ts: int) -> str:
    t = time.gmtime(ts)
    return f'"{t.tm_mday:2d}-{_MONTHS[t.tm_mon - 1]}-{t.tm_year} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"'


def _astring(t: Token) -> str:
    if isinstance(t, list):
        raise Bad("string expected")
    return t.decode("utf-8", "surrogateescape") if isinstance(t, bytes) else t


def _tag_ok(tag: bytes) -> bool:
    """RFC 3501's tag: ASTRING-CHARs but "+" (no blanks, controls or specials)."""
    return bool(tag) and all(0x21 <= c < 0x7F and c not in b'(){%*"\\+' for c in tag)


class IMAPSession(CommandSession):
    """One client of the IMAP server."""

    max_line = 8000
    idle_timeout = 1800.0  # RFC 3501 §5.4: an autologout timer of at least 30 minutes

    def __init__(self, reader, writer, hub: Hub, archive: Archive, mailboxes: Mailboxes,  # type: ignore[no-untyped-def]
                 tls_ctx: ssl.SSLContext | None) -> None:  # fmt: skip
        super().__init__(reader, writer, hub)
        self.archive = archive
        self.mailboxes = mailboxes
        self.tls_ctx = tls_ctx
        self.st = St.NOAUTH
        self.sel: Selected | None = None
        self.uids = array("q")
        self.errors = 0
        self.quit = False

    def caps(self) -> str:
        c = ["IMAP4rev1", "IDLE", "LITERAL+", "CHILDREN", "UNSELECT"]
        if self.st is St.NOAUTH:
            c.append("AUTH=ANONYMOUS")
            if self.tls_ctx is not None and not self.tls:
                c.append("STARTTLS")
        elif self.deflate is None:
            c.append("COMPRESS=DEFLATE")
        return " ".join(c)

    # -- the loop ---------------------------------------------------------------------
    def greeting(self) -> bytes:
        return f"* OK [CAPABILITY {self.caps()}] pubinbox IMAP4rev1 ready\r\n".encode()

    async def too_long(self) -> None:
        # tagged when the line began with a tag (RFC 3501 §7.1.3): a client
        # waits for its tag and would hang on an untagged BAD
        tag, sp, _ = self.long_head.partition(b" ")
        self.long_head = b""
        if not sp or not _tag_ok(tag):
            tag = b"*"
        await self._error(tag + b" BAD line too long")

    async def read_command(self) -> bytes | None:
        """One command with its literals (``{n}`` answered with a
        continuation, ``{n+}`` not), bounded in size."""
        line = await self.readline()
        if line is None:
            return None
        out = bytearray()
        while True:
            if len(out) + len(line) > MAX_COMMAND:
                self.long_head = bytes(out[:100] or line[:100])
                raise LineTooLong()
            if line.endswith(b"}") and b"{" in line:
                head, _, spec = line.rpartition(b"{")
                plus = spec.endswith(b"+}")
                digits = spec[:-2] if plus else spec[:-1]
                if digits.isdigit() and len(digits) < 8:
                    n = int(digits)
                    if n > MAX_LITERAL:
                        self.send(b"* BAD literal too large\r\n")
                        await self.flush()
                        self.long_head = bytes(out[:100] or line[:100])
                        raise LineTooLong()
                    if not plus:
                        self.send(b"+ go ahead\r\n")
                        await self.flush()
                    data = await self.read_exact(n)
                    if data is None:
                        return None
                    # a literal inside the tokenizer's syntax: a quoted string
                    out += head + b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
                    nxt = await self.readline()
                    if nxt is None:
                        return None
                    line = nxt
                    continue
            out += line
            return bytes(out)

    async def _error(self, line: bytes) -> None:
        self.errors += 1
        self.send(line + b"\r\n")
        if self.errors >= MAX_ERRORS:
            self.send(b"* BYE too many errors\r\n")
            self.quit = True
        await self.flush()

    async def dispatch(self, line: bytes) -> None:
        tag_b, _, rest = line.partition(b" ")
        tag = tag_b.decode("ascii", "replace")
        if not _tag_ok(tag_b) or not rest:
            await self._error(b"* BAD no tag or no command")
            return
        verb_b, _, args_b = rest.partition(b" ")
        verb = verb_b.decode("ascii", "replace").upper()
        uid = verb == "UID"
        if uid:
            verb_b, _, args_b = args_b.partition(b" ")
            verb = "UID " + verb_b.decode("ascii", "replace").upper()
        got = _COMMANDS.get(verb)
        if got is None:
            if verb.removeprefix("UID ") in _READ_ONLY:
                self.send(f"{tag} NO [READ-ONLY] this archive is read-only\r\n".encode())
                await self.flush()
                return
            await self._error(f"{tag} BAD Unknown command".encode())
            return
        fn, states = got
        if self.st not in states:
            await self._error(f"{tag} BAD {verb} not allowed now".encode())
            return
        self.busy = True
        self.hub.running += 1
        try:
            args = tokenize(args_b)
            await fn(self, tag, args)
            self.errors = 0
        except Bad as e:
            await self._error(f"{tag} BAD {e}".encode())
        except _No as e:
            self.send(f"{tag} NO {e.text}\r\n".encode())
        except PubinboxError as e:
            log.warning("%s: %s: %s", self.peer, sanitize(line), e)
            self.send(f"{tag} NO [UNAVAILABLE] archive unavailable, try again later\r\n".encode())
        except ConnClosed:
            raise
        except Exception:
            log.exception("%s: %s", self.peer, sanitize(line))
            self.send(f"{tag} NO [SERVERBUG] internal error\r\n".encode())
        finally:
            self.busy = False
            self.hub.running -= 1
            self.hub.commands += 1
        await self.flush()

    # -- any state ------------------------------------------------------------------------
    @command("CAPABILITY", *ANY)
    async def cmd_capability(self, tag: str, args: list[Token]) -> None:
        self.send(f"* CAPABILITY {self.caps()}\r\n{tag} OK CAPABILITY completed\r\n".encode())

    @command("NOOP", *ANY)
    async def cmd_noop(self, tag: str, args: list[Token]) -> None:
        self._refresh()
        self.send(f"{tag} OK NOOP completed\r\n".encode())

    @command("CHECK", St.SELECTED)
    async def cmd_check(self, tag: str, args: list[Token]) -> None:
        await self.cmd_noop(tag, args)

    @command("LOGOUT", *ANY)
    async def cmd_logout(self, tag: str, args: list[Token]) -> None:
        self.send(f"* BYE logging out\r\n{tag} OK LOGOUT completed\r\n".encode())
        self.quit = True

    # -- not authenticated ------------------------------------------------------------------
    @command("LOGIN", St.NOAUTH)
    async def cmd_login(self, tag: str, args: list[Token]) -> None:
        if len(args) != 2:
            raise Bad("LOGIN wants a user and a password")
        self.st = St.AUTH
        self.send(f"{tag} OK [CAPABILITY {self.caps()}] anonymous access to the archive\r\n".encode())

    @command("AUTHENTICATE", St.NOAUTH)
    async def cmd_authenticate(self, tag: str, args: list[Token]) -> None:
        if not args or _astring(args[0]).upper() != "ANONYMOUS":
            raise _No("only AUTHENTICATE ANONYMOUS")
        if len(args) < 2:  # RFC 4505: the trace comes after a continuation
            self.send(b"+ \r\n")
            await self.flush()
            if await self.readline() is None:
                raise ConnClosed("eof")
        self.st = St.AUTH
        self.send(f"{tag} OK [CAPABILITY {self.caps()}] anonymous access to the archive\r\n".encode())

    @command("STARTTLS", St.NOAUTH)
    async def cmd_starttls(self, tag: str, args: list[Token]) -> None:
        if self.tls_ctx is None or self.tls:
            raise Bad("STARTTLS not available")
        self.send(f"{tag} OK Begin TLS negotiation now\r\n".encode())
        await self.flush()
        await self.start_tls(self.tls_ctx)

    # -- authenticated ------------------------------------------------------------------------
    @command("COMPRESS", *AUTHED)
    async def cmd_compress(self, tag: str, args: list[Token]) -> None:
        if len(args) != 1 or _astring(args[0]).upper() != "DEFLATE":
            raise Bad("COMPRESS DEFLATE only")
        if self.deflate is not None:
            raise _No("[COMPRESSIONACTIVE] already compressing")
        self.send(f"{tag} OK DEFLATE active\r\n".encode())
        await self.flush()
        self.start_compress()

    @command("LIST", *AUTHED)
    async def cmd_list(self, tag: str, args: list[Token]) -> None:
        if len(args) != 2:
            raise Bad("LIST wants a reference and a pattern")
        ref, pat = _astring(args[0]), _astring(args[1])
        if pat == "":
            self.send(b'* LIST (\\Noselect) "." ""\r\n')
        else:
            rx = list_match(ref, pat)
            for name, attrs in self.mailboxes.all():
                if rx.match(name):
                    await self.send_more(f'* LIST ({attrs}) "." '.encode() + astring(display(name)) + b"\r\n")
        self.send(f"{tag} OK LIST completed\r\n".encode())

    @command("LSUB", *AUTHED)
    async def cmd_lsub(self, tag: str, args: list[Token]) -> None:
        if len(args) != 2:
            raise Bad("LSUB wants a reference and a pattern")
        self.send(f"{tag} OK LSUB completed\r\n".encode())

    def _load(self, sel: Selected) -> array[int]:
        uids = array("q")
        if sel.cfg is None:
            return uids
        over = self.archive.inbox(sel.cfg.name).over
        last = sel.lo - 1
        while True:
            got = over.query("SELECT num FROM over WHERE num > ? AND num <= ? ORDER BY num LIMIT 10000", (last, sel.hi))
            if not got:
                return uids
            uids.extend(int(n) for (n,) in got)
            last = int(got[-1][0])

    def _uidvalidity(self, sel: Selected) -> int:
        return created_at(sel.cfg) if sel.cfg is not None else 1

    def _uidnext(self, sel: Selected, uids: array[int]) -> int:
        return uids[-1] + 1 if uids else sel.lo

    @command("SELECT", *AUTHED)
    async def cmd_select(self, tag: str, args: list[Token]) -> None:
        await self._select(tag, args, "SELECT")

    async def _select(self, tag: str, args: list[Token], verb: str) -> None:
        if len(args) != 1:
            raise Bad(f"{verb} wants a mailbox")
        sel = self.mailboxes.resolve(_astring(args[0]))
        if sel is None:
            self.st, self.sel = St.AUTH, None
            raise _No("[NONEXISTENT] no such mailbox")
        self.uids = self._load(sel)
        self.sel, self.st = sel, St.SELECTED
        n = len(self.uids)
        self.send(
            f"* {n} EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen)\r\n"
            f"* OK [PERMANENTFLAGS ()] read-only\r\n"
            f"* OK [UIDVALIDITY {self._uidvalidity(sel)}] UIDs valid\r\n"
            f"* OK [UIDNEXT {self._uidnext(sel, self.uids)}] predicted next UID\r\n"
            f"{tag} OK [READ-ONLY] {verb} completed\r\n".encode()
        )

    @command("EXAMINE", *AUTHED)
    async def cmd_examine(self, tag: str, args: list[Token]) -> None:
        await self._select(tag, args, "EXAMINE")

    @command("STATUS", *AUTHED)
    async def cmd_status(self, tag: str, args: list[Token]) -> None:
        if len(args) != 2 or not isinstance(args[1], list):
            raise Bad("STATUS wants a mailbox and a list of items")
        name = _astring(args[0])
        sel = self.mailboxes.resolve(name)
        if sel is None:
            raise _No("[NONEXISTENT] no such mailbox")
        uids = self._load(sel)
        vals = {"MESSAGES": len(uids), "RECENT": 0, "UIDNEXT": self._uidnext(sel, uids),
                "UIDVALIDITY": self._uidvalidity(sel), "UNSEEN": len(uids)}  # fmt: skip
        out = []
        for it in args[1]:
            key = _astring(it).upper()
            if key not in vals:
                raise Bad(f"unknown STATUS item {key}")
            out.append(f"{key} {vals[key]}")
        self.send(b"* STATUS " + astring(name) + f" ({' '.join(out)})\r\n{tag} OK STATUS completed\r\n".encode())

    # -- selected -------------------------------------------------------------------------------
    @command("CLOSE", St.SELECTED)
    async def cmd_close(self, tag: str, args: list[Token]) -> None:
        self.sel, self.st, self.uids = None, St.AUTH, array("q")
        self.send(f"{tag} OK CLOSE completed\r\n".encode())

    @command("UNSELECT", St.SELECTED)
    async def cmd_unselect(self, tag: str, args: list[Token]) -> None:
        await self.cmd_close(tag, args)

    def _refresh(self) -> None:
        """Report messages that arrived in the selected slice."""
        if self.sel is None or self.sel.cfg is None:
            return
        last = self.uids[-1] if self.uids else self.sel.lo - 1
        got = self.archive.inbox(self.sel.cfg.name).over.query(
            "SELECT num FROM over WHERE num > ? AND num <= ? ORDER BY num", (last, self.sel.hi)
        )
        if got:
            self.uids.extend(int(n) for (n,) in got)
            self.send(f"* {len(self.uids)} EXISTS\r\n".encode())

    def _msns(self, seqset: str, uid: bool) -> list[int]:
        """Message sequence numbers named by a set of UIDs or numbers."""
        n = len(self.uids)
        if uid:
            star = self.uids[-1] if n else 0
            out: list[int] = []
            for lo, hi in parse_seqset(seqset, star):
                i = bisect.bisect_left(self.uids, lo)
                j = bisect.bisect_right(self.uids, hi)
                out += range(i + 1, j + 1)
            return sorted(set(out))
        ranges = parse_seqset(seqset, n)
        if any(hi > n or lo < 1 for lo, hi in ranges):
            raise Bad("message sequence number out of range")
        return sorted({m for lo, hi in ranges for m in range(lo, hi + 1)})

    @command("IDLE", St.SELECTED, St.AUTH)
    async def cmd_idle(self, tag: str, args: list[Token]) -> None:
        self.send(b"+ idling\r\n")
        await self.flush()
        deadline = time.monotonic() + self.idle_timeout
        self.busy = False  # an idling client may be evicted like an idle one
        while time.monotonic() < deadline:
            try:
                line = await asyncio.wait_for(self.readline(), IDLE_POLL)
            except TimeoutError:
                self._refresh()
                await self.flush()
                continue
            if line is None:
                raise ConnClosed("eof in IDLE")
            if line.strip().upper() == b"DONE":
                self.send(f"{tag} OK IDLE terminated\r\n".encode())
                return
            raise Bad("DONE expected")
        raise ConnClosed("idle")

    @command("FETCH", St.SELECTED)
    async def cmd_fetch(self, tag: str, args: list[Token]) -> None:
        await self._fetch(tag, args, uid=False)

    async def _fetch(self, tag: str, args: list[Token], *, uid: bool) -> None:
        if len(args) < 2:
            raise Bad("FETCH wants a set and items")
        atts = parse_fetch_atts(args[1:])
        if uid and not any(a.name == "UID" for a in atts):
            atts.insert(0, FetchAtt("UID"))
        assert self.sel is not None
        msns = self._msns(_astring(args[0]), uid)
        if self.sel.cfg is not None and msns:
            name = self.sel.cfg.name
            need_raw = any(a.name not in ("UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE") for a in atts)
            # a fetch of many messages keeps its delta bases to itself
            with private_bases() if need_raw and len(msns) >= SCAN_FROM else contextlib.nullcontext():
                for i in range(0, len(msns), 500):
                    chunk = msns[i : i + 500]
                    box = self.archive.inbox(name)
                    rows = {r.num: r for r in box.over.by_nums([self.uids[m - 1] for m in chunk])}
                    for m in chunk:
                        row = rows.get(self.uids[m - 1])
                        if row is None:
                            continue
                        raw = to_crlf(box.raw(row)) if need_raw else b""
                        await self.send_more(self._fetch_line(m, row, raw, atts))
        self.send(f"{tag} OK {'UID ' if uid else ''}FETCH completed\r\n".encode())

    @command("UID FETCH", St.SELECTED)
    async def cmd_uid_fetch(self, tag: str, args: list[Token]) -> None:
        await self._fetch(tag, args, uid=True)

    def _fetch_line(self, msn: int, row: OverRow, raw: bytes, atts: list[FetchAtt]) -> bytes:
        items: list[bytes] = []
        top = None
        for a in atts:
            if a.name == "UID":
                items.append(b"UID %d" % row.num)
            elif a.name == "FLAGS":
                items.append(b"FLAGS ()")
            elif a.name == "INTERNALDATE":
                items.append(f"INTERNALDATE {internaldate(row.ts)}".encode())
            elif a.name == "RFC822.SIZE":
                items.append(b"RFC822.SIZE %d" % row.bytes)
            elif a.name in ("ENVELOPE", "BODY", "BODYSTRUCTURE"):
                top = top or parse(raw)
                if a.name == "ENVELOPE":
                    items.append(b"ENVELOPE " + envelope(top))
                else:
                    items.append(a.name.encode() + b" " + bodystructure(top, extensible=a.name == "BODYSTRUCTURE"))
            elif a.name in ("RFC822", "RFC822.HEADER", "RFC822.TEXT"):
                section = {"RFC822": "", "RFC822.HEADER": "HEADER", "RFC822.TEXT": "TEXT"}[a.name]
                data = body_section(raw, section, ())
                items.append(a.name.encode() + b" " + _literal(data))
            else:
                data = body_section(raw, a.section, a.fields)
                if data is not None and a.partial is not None:
                    start, count = a.partial
                    data = data[start : start + count]
                items.append(a.label().encode() + b" " + _literal(data))
        return b"* %d FETCH (" % msn + b" ".join(items) + b")\r\n"

    @command("SEARCH", St.SELECTED)
    async def cmd_search(self, tag: str, args: list[Token]) -> None:
        await self._search(tag, args, uid=False)

    async def _search(self, tag: str, args: list[Token], *, uid: bool) -> None:
        if args and isinstance(args[0], str) and args[0].upper() == "CHARSET":
            if len(args) < 2 or _astring(args[1]).upper() not in ("UTF-8", "US-ASCII"):
                raise _No("[BADCHARSET (UTF-8 US-ASCII)] unsupported charset")
            args = args[2:]
        if not args:
            raise Bad("SEARCH wants keys")
        from pubinbox.imap.scan import search_mailbox
        from pubinbox.imap.search import compile_keys

        assert self.sel is not None
        compiled = compile_keys(args, self)
        hits: list[int] = []
        if self.sel.cfg is not None:
            run = await search_mailbox(self.archive, self.sel.cfg.name, self.uids, compiled, uid=uid)
            if run.refused:
                raise _No(run.refused)
            hits = run.hits
        self.send(
            (
                "* SEARCH"
                + "".join(f" {h}" for h in hits)
                + f"\r\n{tag} OK {'UID ' if uid else ''}SEARCH completed\r\n"
            ).encode()
        )

    @command("UID SEARCH", St.SELECTED)
    async def cmd_uid_search(self, tag: str, args: list[Token]) -> None:
        await self._search(tag, args, uid=True)


def _literal(data: bytes | None) -> bytes:
    if data is None:
        return b"NIL"
    return b"{%d}\r\n" % len(data) + data
