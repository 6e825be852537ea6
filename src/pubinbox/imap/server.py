"""Start the IMAP server of a ``pubinbox serve`` worker on a listening socket
(the ``imap``/``imaps`` entry of :data:`pubinbox.net.listeners.PROTOCOLS`)."""

from __future__ import annotations

import asyncio
import socket
import ssl

from pubinbox.imap.mailboxes import Mailboxes
from pubinbox.imap.protocol import IMAPSession
from pubinbox.net.archive import Archive
from pubinbox.net.lineio import Hub, serve_sessions

__all__ = ["start"]


async def start(
    archive: Archive, sock: socket.socket, hub: Hub, *, tls: ssl.SSLContext | None = None, implicit: bool = False
) -> asyncio.Server:
    """Serve IMAP on *sock* (implicit TLS when *implicit*, else STARTTLS
    when *tls* is given)."""
    mailboxes = Mailboxes(archive)
    hub.configure(archive.config)

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, starttls: ssl.SSLContext | None) -> None:
        await IMAPSession(reader, writer, hub, archive, mailboxes, starttls).run()

    return await serve_sessions(sock, run, tls=tls, implicit=implicit)
