"""LMTP (RFC 2033) for ``pubinbox serve --lmtp HOST:PORT``: an MTA delivers
over a socket instead of running ``pubinbox mda`` per message.

aiosmtpd speaks the protocol; every accepted recipient is one delivery
exactly like ``pubinbox mda`` with ``ORIGINAL_RECIPIENT`` set to that
recipient (routing, prechecks, spam check, filter, emergency Maildir), run
in a thread so the worker's event loop never waits for git.  The inbox
writers stay open between deliveries (:mod:`pubinbox.lmtp.writers`: a 250
is sent once the message is committed in git; overlapping deliveries share
one commit), and the emergency copy is only written for a message that is
not stored (the MTA keeps it until it gets a reply).  After DATA there is
one reply per recipient, from the mda's outcome:

- 250 delivered (also a duplicate, a precheck failure or spam: kept in the
  emergency Maildir, as the mda's exit 0);
- 550 no inbox for that address (already at RCPT TO);
- 554 the message is refused (the inbox filter, an empty message);
- 451 anything local or transient (the MTA retries).

Bounds: lines of up to :data:`MAX_LINE` bytes (patches break RFC 5321's
1000), ``pubinbox.lmtpMaxSize`` bytes of message (default 10 MiB: 552 past
it), :data:`MAX_RCPT` recipients (452 for more), ``pubinbox.lmtpTimeout``
seconds without a command (default 60) closes the connection.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import Envelope, Session

from pubinbox.config import Config, Env
from pubinbox.deliver.mda import EX_DATAERR, EX_NOUSER, EX_OK, mda
from pubinbox.lmtp.writers import Writers
from pubinbox.net.archive import Archive
from pubinbox.net.lineio import Hub

log = logging.getLogger(__name__)

MAX_RCPT = 50
DEFAULT_MAX_SIZE = 10 << 20
DEFAULT_TIMEOUT = 60.0
#: longest line of a message: mail (patches above all) breaks RFC 5321's
#: 1000 octets; the archive keeps such lines as they came
MAX_LINE = 1 << 20


class ArchiveLMTP(LMTP):
    """aiosmtpd's LMTP taking long message lines."""

    line_length_limit = MAX_LINE


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    line = "".join(c if " " <= c < "\x7f" else "?" for c in line)
    return line if len(line) <= limit else line[: limit - 3] + "..."


class Handler:
    """aiosmtpd hooks: recipients checked against the config, deliveries
    through the mda."""

    def __init__(self, config: Config, hub: Hub) -> None:
        self.config = config
        self.hub = hub
        self.writers = Writers(config)
        env = Env.from_os()
        self.env = Env(
            pi_config=str(config.path),
            pi_emergency=env.pi_emergency,
            home=env.home,
            original_recipient=None,
        )

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RCPT:
            return f"452 4.5.3 Too many recipients (at most {MAX_RCPT} per message)"
        if not self.config.by_address(address):
            return f"550 5.1.1 <{_one_line(address, 200)}>: no such inbox"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):  # pragma: no cover - decode_data is off
            raw = raw.encode("utf-8", "surrogateescape")
        raw = raw.replace(b"\r\n", b"\n")
        replies = []
        self.hub.running += 1
        try:
            for rcpt in envelope.rcpt_tos:
                replies.append(await asyncio.to_thread(self._deliver, raw, rcpt))
        finally:
            self.hub.running -= 1
            self.hub.commands += 1
        return "\r\n".join(replies)

    def _deliver(self, raw: bytes, rcpt: str) -> str:
        env = Env(self.env.pi_config, self.env.pi_emergency, self.env.home, rcpt)
        try:
            out = mda(raw, env, self.config.path, conf=self.config, store_fn=self.writers.store, late_copy=True)
        except Exception as e:  # noqa: BLE001 - a bug is a transient failure for the MTA, not a dead worker
            log.warning("lmtp: <%s>: %s: %s", rcpt, type(e).__name__, e)
            return f"451 4.3.0 <{_one_line(rcpt, 200)}> internal error; try again later"
        note = f" ({_one_line(out.message)})" if out.message else ""
        who = f"<{_one_line(rcpt, 200)}>"
        if out.status == EX_OK:
            return f"250 2.0.0 {who} delivered{note}"
        if out.status == EX_NOUSER:
            return f"550 5.1.1 {who} no such inbox{note}"
        if out.status == EX_DATAERR:
            return f"554 5.6.0 {who} refused{note}"
        log.warning("lmtp: %s: status %d%s", who, out.status, note)
        return f"451 4.3.0 {who} not delivered, try again later{note}"


class LMTPServer:
    """The listening server and the inbox writers it keeps open."""

    def __init__(self, server: asyncio.Server, writers: Writers) -> None:
        self.server = server
        self.writers = writers

    def close(self) -> None:
        """Stop listening, then close the writers (deliveries in progress
        finish first)."""
        self.server.close()
        self.writers.close()

    async def serve_forever(self) -> None:
        await self.server.serve_forever()


async def start(
    archive: Archive, sock: socket.socket, hub: Hub, *, tls: ssl.SSLContext | None = None, implicit: bool = False
) -> LMTPServer:
    """Serve LMTP on *sock* (plain: LMTP is for a local MTA; *tls* and
    *implicit* are not used)."""
    config = archive.config
    handler = Handler(config, hub)
    size = int(config.number("pubinbox.lmtpmaxsize", DEFAULT_MAX_SIZE))
    timeout = config.number("pubinbox.lmtptimeout", DEFAULT_TIMEOUT)
    loop = asyncio.get_running_loop()

    def factory() -> LMTP:
        return ArchiveLMTP(
            handler,
            data_size_limit=size,
            hostname=socket.getfqdn(),
            ident="pubinbox LMTP",
            timeout=timeout,
            command_call_limit=1000,
        )

    return LMTPServer(await loop.create_server(factory, sock=sock), handler.writers)
