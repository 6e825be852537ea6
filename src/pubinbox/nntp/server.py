"""Start the NNTP server of a ``pubinbox serve`` worker on a listening socket.

The entry of :data:`pubinbox.net.listeners.PROTOCOLS` for ``nntp`` and
``nntps``: one :class:`~pubinbox.nntp.protocol.NNTPSession` per
connection, in the worker's event loop, over the worker's archive.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

from pubinbox.net.archive import Archive
from pubinbox.net.lineio import Hub, serve_sessions
from pubinbox.nntp.groups import Groups
from pubinbox.nntp.protocol import NNTPSession

__all__ = ["start"]


async def start(
    archive: Archive, sock: socket.socket, hub: Hub, *, tls: ssl.SSLContext | None = None, implicit: bool = False
) -> asyncio.Server:
    """Serve NNTP on *sock* (implicit TLS when *implicit*, else STARTTLS
    when *tls* is given)."""
    groups = Groups(archive)
    idle = archive.config.number("pubinbox.nntpidletimeout", NNTPSession.idle_timeout)
    hub.configure(archive.config)

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, starttls: ssl.SSLContext | None) -> None:
        s = NNTPSession(reader, writer, hub, groups, starttls)
        s.idle_timeout = idle
        await s.run()

    return await serve_sessions(sock, run, tls=tls, implicit=implicit)
