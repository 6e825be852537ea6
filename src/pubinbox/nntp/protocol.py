"""One NNTP reader session (RFC 3977, RFC 8054 COMPRESS, RFC 4642 STARTTLS).

Read-only, like public-inbox-nntpd: every command it answers, with the
same replies, but exact GROUP counts and working LISTGROUP ranges.
Article numbers are msgmap's.  Each command reads the overview afresh, so
new mail shows without a restart; long listings (OVER, LISTGROUP, HDR,
NEWNEWS) are read in batches and sent through the connection's bounded
output buffer (:class:`~pubinbox.net.lineio.LineConn`).  Client errors get
their reply code; anything unexpected is logged and answered ``403``.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Awaitable, Callable

from pubinbox.errors import PubinboxError
from pubinbox.net.lineio import CommandSession, ConnClosed, Hub, sanitize
from pubinbox.nntp.article import article_parts, nntp_date, over_line, references
from pubinbox.nntp.commands import Syntax, is_msgid, parse_datetime, parse_range, split_command, wildmat
from pubinbox.nntp.groups import Group, Groups
from pubinbox.over.reader import OverRow

__all__ = ["NNTPSession"]

log = logging.getLogger(__name__)

#: rows read from the overview per batch of a long listing
BATCH = 1000
#: consecutive unknown or malformed commands before the connection is closed
MAX_ERRORS = 30
#: the fields HDR/XHDR answer (those of the overview, as public-inbox)
HDR_FIELDS = ("subject", "from", "date", "message-id", "references", ":bytes", ":lines", "xref", "to", "cc")
OVERVIEW_FMT = ("Subject:", "From:", "Date:", "Message-ID:", "References:", ":bytes", ":lines", "Xref:full")
LIST_HEADERS = ("Subject", "From", "Date", "Message-ID", "References", ":bytes", ":lines", "Xref", "To", "Cc")

Handler = Callable[["NNTPSession", list[str]], Awaitable[None]]
_COMMANDS: dict[str, Handler] = {}


def command(*names: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for n in names:
            _COMMANDS[n] = fn
        return fn

    return deco


class _Reply(Exception):
    """Answer the current command with this one line."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


NO_GROUP = "412 no newsgroup has been selected"
NO_CURRENT = "420 no current article has been selected"
NO_NUM = "423 no such article number in this group"
NO_MID = "430 No article with that message-id"


class NNTPSession(CommandSession):
    """One client of the NNTP server."""

    max_line = 512

    def __init__(self, reader, writer, hub: Hub, groups: Groups, tls_ctx: ssl.SSLContext | None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(reader, writer, hub)
        self.groups = groups
        self.tls_ctx = tls_ctx
        self.group: Group | None = None
        self.current: int | None = None
        self.errors = 0
        self.quit = False

    # -- the loop (net.lineio.CommandSession.run) ------------------------------------
    def greeting(self) -> bytes:
        return f"201 {self.groups.server} ready - post via email\r\n".encode()

    async def too_long(self) -> None:
        await self._error("500 command line too long")

    async def _error(self, reply: str) -> None:
        self.errors += 1
        self.send(reply.encode() + b"\r\n")
        if self.errors >= MAX_ERRORS:
            self.send(b"400 too many errors, closing\r\n")
            self.quit = True
        await self.flush()

    async def dispatch(self, line: bytes) -> None:
        verb, args = split_command(line)
        fn = _COMMANDS.get(verb)
        if fn is None:
            await self._error("500 command not recognized")
            return
        self.busy = True
        self.hub.running += 1
        try:
            await fn(self, args)
            self.errors = 0
        except _Reply as r:
            # 4xx (no such article, no group selected...) is an answer a
            # newsreader walking a range with gaps gets many times in a row;
            # only unknown or malformed commands count towards MAX_ERRORS
            if r.line[:1] in "1234":
                self.send(r.line.encode() + b"\r\n")
                self.errors = 0
            else:
                await self._error(r.line)
        except Syntax:
            await self._error("501 command syntax error")
        except PubinboxError as e:
            log.warning("%s: %s: %s", self.peer, sanitize(line), e)
            if self.group is not None:
                self.groups.archive.forget(self.group.inbox)
            self.send(b"403 archive unavailable, try again later\r\n")
        except ConnClosed:
            raise
        except Exception:
            log.exception("%s: %s", self.peer, sanitize(line))
            self.send(b"403 internal fault\r\n")
        finally:
            self.busy = False
            self.hub.running -= 1
            self.hub.commands += 1
        await self.flush()

    # -- helpers ----------------------------------------------------------------------
    def _need_group(self) -> Group:
        if self.group is None:
            raise _Reply(NO_GROUP)
        return self.group

    def _find(self, args: list[str]) -> tuple[Group, OverRow]:
        """The article an ARTICLE-like command names (and the current
        article moved when named by number)."""
        if len(args) > 1:
            raise Syntax()
        if args and is_msgid(args[0]):
            found = self._by_mid(args[0][1:-1])
            if found is None:
                raise _Reply(NO_MID)
            return found
        g = self._need_group()
        if args:
            num, hi = parse_range(args[0])
            if hi != num:
                raise Syntax()
        elif self.current is None:
            raise _Reply(NO_CURRENT)
        else:
            num = self.current
        row = self.groups.archive.inbox(g.inbox).over.by_num(num)
        if row is None:
            raise _Reply(NO_NUM if args else NO_CURRENT)
        self.current = num
        return g, row

    def _by_mid(self, mid: str) -> tuple[Group, OverRow] | None:
        order = list(self.groups)
        if self.group is not None:
            order.remove(self.group)
            order.insert(0, self.group)
        for g in order:
            try:
                rows = self.groups.archive.inbox(g.inbox).over.by_mid(mid)
            except PubinboxError:
                continue
            if rows:
                return g, rows[0]
        return None

    def _range(self, g: Group, args: list[str]) -> tuple[int, int]:
        """The range of a command's argument (default: the current article)."""
        if not args:
            if self.current is None:
                raise _Reply(NO_CURRENT)
            return self.current, self.current
        lo, hi = parse_range(args[0])
        if hi is None:
            hi = max(self.groups.stats(g)[2], lo)
        return lo, hi

    async def _rows(self, g: Group, lo: int, hi: int):  # type: ignore[no-untyped-def]
        """Rows lo..hi in batches (a fresh handle per batch: the worker may
        close idle handles between them)."""
        while lo <= hi:
            rows = self.groups.archive.inbox(g.inbox).over.by_range(lo, hi, BATCH)
            if not rows:
                return
            for r in rows:
                yield r
            lo = rows[-1].num + 1

    async def _lines(self, lines: list[bytes]) -> None:
        for ln in lines:
            await self.send_more(ln)

    # -- session commands ---------------------------------------------------------------
    @command("CAPABILITIES")
    async def cmd_capabilities(self, args: list[str]) -> None:
        caps = ["VERSION 2", "READER", "NEWNEWS", "LIST ACTIVE ACTIVE.TIMES NEWSGROUPS OVERVIEW.FMT HEADERS",
                "HDR", "OVER", "IMPLEMENTATION pubinbox"]  # fmt: skip
        if self.deflate is None:
            caps.append("COMPRESS DEFLATE")
        if self.tls_ctx is not None and not self.tls and self.deflate is None:
            caps.append("STARTTLS")
        self.send(("101 Capability list:\r\n" + "".join(c + "\r\n" for c in caps) + ".\r\n").encode())

    @command("MODE")
    async def cmd_mode(self, args: list[str]) -> None:
        if len(args) != 1 or args[0].upper() != "READER":
            raise Syntax()
        self.send(b"201 Posting prohibited\r\n")

    @command("QUIT")
    async def cmd_quit(self, args: list[str]) -> None:
        if args:
            raise Syntax()
        self.send(b"205 closing connection - goodbye!\r\n")
        self.quit = True

    @command("DATE")
    async def cmd_date(self, args: list[str]) -> None:
        if args:
            raise Syntax()
        self.send(time.strftime("111 %Y%m%d%H%M%S\r\n", time.gmtime()).encode())

    @command("HELP")
    async def cmd_help(self, args: list[str]) -> None:
        if args:
            raise Syntax()
        self.send(b"100 help text follows\r\n.\r\n")

    @command("POST")
    async def cmd_post(self, args: list[str]) -> None:
        g = self.group
        raise _Reply(f"440 mailto:{g.address} to post" if g else "440 posting not allowed")

    @command("IHAVE")
    async def cmd_ihave(self, args: list[str]) -> None:
        if len(args) != 1 or not is_msgid(args[0]):
            raise Syntax()
        raise _Reply("435 article not wanted")

    @command("SLAVE")
    async def cmd_slave(self, args: list[str]) -> None:
        if args:
            raise Syntax()
        self.send(b"202 slave status noted\r\n")

    @command("COMPRESS")
    async def cmd_compress(self, args: list[str]) -> None:
        if len(args) != 1:
            raise Syntax()
        if args[0].upper() != "DEFLATE":
            raise _Reply("503 compression algorithm not supported")
        if self.deflate is not None:
            raise _Reply("502 compression already active")
        self.send(b"206 Compression active\r\n")
        await self.flush()
        self.start_compress()

    @command("STARTTLS")
    async def cmd_starttls(self, args: list[str]) -> None:
        if args:
            raise Syntax()
        if self.tls_ctx is None or self.tls or self.deflate is not None:
            raise _Reply("502 Command unavailable")
        self.send(b"382 Continue with TLS negotiation\r\n")
        await self.flush()
        await self.start_tls(self.tls_ctx)

    # -- groups -----------------------------------------------------------------------------
    def _active(self, g: Group) -> bytes:
        _n, lo, hi = self.groups.stats(g)
        return f"{g.name} {hi} {lo} n\r\n".encode()

    @command("LIST")
    async def cmd_list(self, args: list[str]) -> None:
        kw = args[0].upper() if args else "ACTIVE"
        if len(args) > 2:
            raise Syntax()
        match = wildmat(args[1]) if len(args) == 2 else None
        groups = [g for g in self.groups if match is None or match(g.name)]
        if kw == "ACTIVE":
            lines = [self._active(g) for g in groups]
            head = "215 list of newsgroups follows" if not args else "215 information follows"
        elif kw == "ACTIVE.TIMES":
            lines = [f"{g.name} {g.created_at} <{g.address}>\r\n".encode() for g in groups]
            head = "215 information follows"
        elif kw == "NEWSGROUPS":
            lines = [f"{g.name} {g.description}\r\n".encode() for g in groups]
            head = "215 information follows"
        elif kw in ("OVERVIEW.FMT", "HEADERS") and match is None:
            lines = [f"{x}\r\n".encode() for x in (OVERVIEW_FMT if kw == "OVERVIEW.FMT" else LIST_HEADERS)]
            head = "215 information follows"
        else:
            raise Syntax()
        self.send(head.encode() + b"\r\n")
        await self._lines(lines)
        self.send(b".\r\n")

    @command("XGTITLE")
    async def cmd_xgtitle(self, args: list[str]) -> None:
        if len(args) > 1:
            raise Syntax()
        match = wildmat(args[0]) if args else None
        self.send(b"282 list of groups and descriptions follows\r\n")
        await self._lines([f"{g.name} {g.description}\r\n".encode() for g in self.groups if not match or match(g.name)])
        self.send(b".\r\n")

    @command("GROUP")
    async def cmd_group(self, args: list[str]) -> None:
        if len(args) != 1:
            raise Syntax()
        g = self.groups.get(args[0])
        if g is None:
            raise _Reply("411 no such news group")
        n, lo, hi = self.groups.stats(g)
        self.group, self.current = g, (lo if n else None)
        self.send(f"211 {n} {lo} {hi} {g.name}\r\n".encode())

    @command("LISTGROUP")
    async def cmd_listgroup(self, args: list[str]) -> None:
        if len(args) > 2:
            raise Syntax()
        if args:
            g = self.groups.get(args[0])
            if g is None:
                raise _Reply("411 no such news group")
        else:
            g = self._need_group()
        lo, hi = parse_range(args[1]) if len(args) == 2 else (1, None)
        n, low, high = self.groups.stats(g)
        self.group, self.current = g, (low if n else None)
        self.send(f"211 {n} {low} {high} {g.name} list of article numbers follows\r\n".encode())
        hi = high if hi is None else hi
        while lo <= hi:
            nums = self.groups.archive.inbox(g.inbox).over.nums(lo, min(hi, lo + 10 * BATCH - 1))
            await self._lines([b"%d\r\n" % x for x in nums])
            lo += 10 * BATCH
        self.send(b".\r\n")

    @command("NEWGROUPS")
    async def cmd_newgroups(self, args: list[str]) -> None:
        if len(args) not in (2, 3):
            raise Syntax()
        since = parse_datetime(args[0], args[1], args[2] if len(args) > 2 else None)
        self.send(b"231 list of new newsgroups follows\r\n")
        await self._lines([self._active(g) for g in self.groups if g.created_at >= since])
        self.send(b".\r\n")

    @command("NEWNEWS")
    async def cmd_newnews(self, args: list[str]) -> None:
        if len(args) not in (3, 4):
            raise Syntax()
        match = wildmat(args[0])
        since = parse_datetime(args[1], args[2], args[3] if len(args) > 3 else None)
        self.send(b"230 list of new articles by message-id follows\r\n")
        for g in self.groups:
            if not match(g.name):
                continue
            last = 0
            while True:
                got = self.groups.archive.inbox(g.inbox).over.query(
                    "SELECT num, mid FROM over WHERE num > ? AND ts >= ? ORDER BY num LIMIT ?", (last, since, BATCH)
                )
                if not got:
                    break
                await self._lines([f"<{mid}>\r\n".encode("utf-8", "surrogateescape") for _n, mid in got])
                last = int(got[-1][0])
        self.send(b".\r\n")

    # -- articles -------------------------------------------------------------------------------
    async def _article(self, args: list[str], code: int) -> None:
        g, row = self._find(args)
        what = {220: "head and body follow", 221: "head follows", 222: "body follows", 223: "request text separately"}
        first = f"{code} {row.num} <{row.mid}> article retrieved - {what[code]}\r\n".encode("utf-8", "surrogateescape")
        if code == 223:
            self.send(first)
            return
        raw = self.groups.archive.inbox(g.inbox).raw(row)
        head, body = article_parts(raw, row, self.groups.xref(g, row))
        self.send(first)
        if code in (220, 221):
            await self.send_more(head)
        if code == 220:
            self.send(b"\r\n")
        if code in (220, 222):
            for i in range(0, len(body), 1 << 16):
                await self.send_more(body[i : i + (1 << 16)])
        self.send(b".\r\n")

    @command("ARTICLE")
    async def cmd_article(self, args: list[str]) -> None:
        await self._article(args, 220)

    @command("HEAD")
    async def cmd_head(self, args: list[str]) -> None:
        await self._article(args, 221)

    @command("BODY")
    async def cmd_body(self, args: list[str]) -> None:
        await self._article(args, 222)

    @command("STAT")
    async def cmd_stat(self, args: list[str]) -> None:
        await self._article(args, 223)

    async def _step(self, args: list[str], forward: bool) -> None:
        if args:
            raise Syntax()
        g = self._need_group()
        if self.current is None:
            raise _Reply(NO_CURRENT)
        over = self.groups.archive.inbox(g.inbox).over
        if forward:
            got = over.query("SELECT MIN(num) FROM over WHERE num > ?", (self.current,))[0][0]
        else:
            got = over.query("SELECT MAX(num) FROM over WHERE num > 0 AND num < ?", (self.current,))[0][0]
        row = over.by_num(int(got)) if got else None
        if row is None:
            raise _Reply("421 no next article in this group" if forward else "422 no previous article in this group")
        self.current = row.num
        self.send(f"223 {row.num} <{row.mid}> article retrieved - request text separately\r\n".encode())

    @command("NEXT")
    async def cmd_next(self, args: list[str]) -> None:
        await self._step(args, True)

    @command("LAST")
    async def cmd_last(self, args: list[str]) -> None:
        await self._step(args, False)

    @command("XPATH")
    async def cmd_xpath(self, args: list[str]) -> None:
        if len(args) != 1 or not is_msgid(args[0]):
            raise Syntax()
        paths = []
        for g in self.groups:
            rows = self.groups.archive.inbox(g.inbox).over.by_mid(args[0][1:-1])
            if rows:
                paths.append(f"{g.name}/{rows[0].num}")
        if not paths:
            raise _Reply("430 no such article on server")
        self.send(f"223 {' '.join(paths)}\r\n".encode())

    # -- overview ---------------------------------------------------------------------------------
    @command("OVER", "XOVER")
    async def cmd_over(self, args: list[str]) -> None:
        if len(args) > 1:
            raise Syntax()
        if args and is_msgid(args[0]):
            g, row = self._find(args)
            self.send(b"224 Overview information follows\r\n")
            self.send(over_line(row, self.groups.xref(g, row)))
            self.send(b".\r\n")
            return
        g = self._need_group()
        lo, hi = self._range(g, args)
        first = True
        async for row in self._rows(g, lo, hi):
            if first:
                self.send(f"224 Overview information follows for {lo} to {hi}\r\n".encode())
                first = False
            await self.send_more(over_line(row, self.groups.xref(g, row)))
        if first:
            raise _Reply(NO_NUM if args else NO_CURRENT)
        self.send(b".\r\n")

    @command("XROVER")
    async def cmd_xrover(self, args: list[str]) -> None:
        await self._hdr(["References", *args], "224 Overview information follows")

    @command("HDR")
    async def cmd_hdr(self, args: list[str]) -> None:
        await self._hdr(args, "225 Headers follow (multi-line)")

    @command("XHDR")
    async def cmd_xhdr(self, args: list[str]) -> None:
        await self._hdr(args, "221 Header follows")

    def _field(self, g: Group, row: OverRow, field: str) -> str:
        if field == "subject":
            return row.subject
        if field == "from":
            return row.from_
        if field == "date":
            return nntp_date(row.ds)
        if field == "message-id":
            return f"<{row.mid}>"
        if field == "references":
            return references(row)
        if field == ":bytes":
            return str(row.bytes)
        if field == ":lines":
            return str(row.lines)
        if field == "xref":
            return self.groups.xref(g, row)
        if field == "to":
            return row.to
        return row.cc

    async def _hdr(self, args: list[str], head: str) -> None:
        if not 1 <= len(args) <= 2:
            raise Syntax()
        field = args[0].lower()
        if field not in HDR_FIELDS:
            raise _Reply(f"503 HDR not permitted on {args[0]}")
        if len(args) == 2 and is_msgid(args[1]):
            g, row = self._find(args[1:])
            self.send(head.encode() + b"\r\n")
            self.send(f"{row.num} {self._field(g, row, field)}\r\n".encode("utf-8", "surrogateescape"))
            self.send(b".\r\n")
            return
        g = self._need_group()
        lo, hi = self._range(g, args[1:])
        first = True
        async for row in self._rows(g, lo, hi):
            if first:
                self.send(head.encode() + b"\r\n")
                first = False
            await self.send_more(f"{row.num} {self._field(g, row, field)}\r\n".encode("utf-8", "surrogateescape"))
        if first:
            raise _Reply(NO_NUM if len(args) > 1 else NO_CURRENT)
        self.send(b".\r\n")
