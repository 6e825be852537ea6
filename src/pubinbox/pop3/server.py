"""Start the POP3 server of a ``pubinbox serve`` worker on a listening socket
(the ``pop3``/``pop3s`` entry of :data:`pubinbox.net.listeners.PROTOCOLS`)."""

from __future__ import annotations

import asyncio
import socket
import ssl

from pubinbox.net.archive import Archive
from pubinbox.net.lineio import Hub, serve_sessions
from pubinbox.pop3.mailbox import State, state_dir
from pubinbox.pop3.protocol import POP3Session

__all__ = ["start"]


async def start(
    archive: Archive, sock: socket.socket, hub: Hub, *, tls: ssl.SSLContext | None = None, implicit: bool = False
) -> asyncio.Server:
    """Serve POP3 on *sock* (implicit TLS when *implicit*, else STLS when
    *tls* is given)."""
    groups = {c.newsgroup: c.name for c in archive.config.inboxes if c.newsgroup}
    state = State(state_dir(archive.config))
    hub.configure(archive.config)

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, starttls: ssl.SSLContext | None) -> None:
        await POP3Session(reader, writer, hub, archive, groups, state, starttls).run()

    return await serve_sessions(sock, run, tls=tls, implicit=implicit)
