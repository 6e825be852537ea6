"""One worker process of ``pubinbox serve``: ``python -m pubinbox.web.worker``.

Started by the supervisor (:mod:`pubinbox.web.supervisor`) with the
listening socket and the write end of a heartbeat pipe: it serves the web
app with uvicorn (the HTTP limits of :mod:`pubinbox.web.guard`) on that
socket.  It beats on the pipe once a second: ``s`` from a thread while it
starts, then ``.`` from its event loop once it serves (a loop that stops
beating gets the process replaced).  When the pipe breaks, the supervisor is
gone and the worker stops too.  Searches go to the supervisor's search
process at ``--search``.

Memory: pygit2 maps at most :data:`PACK_WINDOWS` bytes of pack files (its
default maps whole packs, which a busy worker then holds resident), and once
the worker has been idle for :data:`IDLE` seconds after serving requests it
closes its git and SQLite handles (:meth:`Site.release`) and gives its free
heap back to the system (``malloc_trim``); the delta bases of its NNTP and
POP3 sessions go after :data:`IDLE_BASES` seconds.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pubinbox.net.listeners import Listener
    from pubinbox.web.site import Site

__all__ = ["main"]

log = logging.getLogger("pubinbox.web.worker")

#: pack bytes libgit2 keeps mapped, in windows of PACK_WINDOW bytes
PACK_WINDOWS = 32 << 20
PACK_WINDOW = 1 << 20
#: seconds between heartbeats (in ticks of uvicorn's 0.1 s main loop)
BEAT_TICKS = 10
#: seconds without a request after which memory is given back
IDLE = 0.5
#: seconds a leaving worker waits, no longer accepting, before closing the
#: connections that have no request in progress (:meth:`Server.shutdown`)
LINGER = 0.3
#: seconds without a request after which the delta bases of NNTP and POP3
#: sessions (:mod:`pubinbox.store.packread`, ``pubinbox.deltacache``) go
#: too: a newsreader or mail client comes back to them after a pause (the
#: cat-file process behind public-inbox keeps them for good)
IDLE_BASES = 60.0


def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or None elsewhere."""
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _server(config: Any, beat_fd: int, site: Site, others: list[tuple[str, socket.socket]], tls: Any) -> Any:
    """uvicorn's server, beating on the supervisor's pipe and giving memory
    back when idle; it also serves *others*, the listeners of the mail
    protocols ((scheme, socket), :mod:`pubinbox.net.listeners`), in its
    event loop."""
    import sqlite3

    import uvicorn

    from pubinbox.errors import PubinboxError
    from pubinbox.net.lineio import Hub
    from pubinbox.net.listeners import parse, starter
    from pubinbox.store.packread import drop_bases

    class _Server(uvicorn.Server):
        def __init__(self, config: uvicorn.Config, beat_fd: int, site: Site) -> None:
            super().__init__(config)
            self.beat_fd = beat_fd
            self.site = site
            self.trim = _malloc_trim()
            self.seen_requests = 0
            self.busy_at = time.monotonic()
            self.trimmed = self.bases_dropped = True
            self.hub = Hub()
            self.others: list[Any] = []

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            for scheme, sock in others:
                lst = parse(f"{scheme}://0:0")
                try:
                    start = starter(lst.proto)
                    self.others.append(await start(self.site, sock, self.hub, tls=tls, implicit=lst.tls))
                except (PubinboxError, OSError, ValueError, sqlite3.Error) as e:
                    # e.g. an unwritable pop3state: fatal, not a worker to replace forever
                    log.error("worker cannot serve %s: %s", scheme, e)
                    raise SystemExit(3) from None  # the supervisor's STARTUP_FAILURE

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            for srv in self.others:
                srv.close()
            self.hub.close_all()
            # Stop taking connections (the other workers take them), then
            # give those just taken time to send their request: uvicorn
            # closes a connection with no request read yet at once, and one
            # whose request had arrived unread got a reset (seen under load
            # when SIGHUP replaced the workers).
            for server in self.servers:
                server.close()
            await asyncio.sleep(LINGER)
            await super().shutdown(sockets)

        async def on_tick(self, counter: int) -> bool:
            if counter % BEAT_TICKS == 0:
                try:
                    os.write(self.beat_fd, b".")
                except BlockingIOError:
                    pass
                except OSError:  # the supervisor is gone
                    self.should_exit = True
            now = time.monotonic()
            total = self.server_state.total_requests + self.hub.commands
            if total != self.seen_requests or self.server_state.tasks or self.hub.running:
                self.seen_requests = total
                self.busy_at = now
                self.trimmed = self.bases_dropped = False
            elif not self.trimmed and now - self.busy_at > IDLE:
                self.trimmed = True
                self.site.release()
                gc.collect()  # pygit2's repositories sit in reference cycles
                if self.trim is not None:
                    self.trim(0)
            elif not self.bases_dropped and now - self.busy_at > IDLE_BASES:
                self.bases_dropped = True
                drop_bases()
                if self.trim is not None:
                    self.trim(0)
            return await super().on_tick(counter)

    return _Server(config, beat_fd, site)


def _served(others: list[tuple[str, socket.socket]]) -> tuple[Listener, ...]:
    """The :class:`~pubinbox.net.listeners.Listener` of each mail
    protocol socket, at the address and port it is bound to (the web
    pages advertise them)."""
    from pubinbox.net.listeners import Listener, parse

    out: list[Listener] = []
    for scheme, sock in others:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            continue
        host, port = sock.getsockname()[:2]
        lst = parse(f"{scheme}://0:0")
        out.append(Listener(lst.proto, str(host), int(port), lst.tls))
    return tuple(out)


def _tls_context(cert: str | None, key: str | None) -> Any:
    """The server-side TLS context of the mail protocols, or None."""
    if not cert:
        return None
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key or cert)
    return ctx


class _StartupBeat(threading.Thread):
    """Beats while the worker imports and builds the app (no event loop yet)."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.done = threading.Event()

    def run(self) -> None:
        while True:
            try:
                os.write(self.fd, b"s")
            except BlockingIOError:
                pass
            except OSError:
                return
            if self.done.wait(BEAT_TICKS / 10):
                return


def _tune_git() -> None:
    import pygit2

    pygit2.settings.mwindow_size = PACK_WINDOW
    pygit2.settings.mwindow_mapped_limit = PACK_WINDOWS


def main(argv: list[str]) -> int:
    """``--listen SCHEME=FD ... --beat N --config PATH --search PATH
    [--access-log] [--cert PEM --key PEM]`` (``--fd N`` = ``--listen http=N``)."""
    flags = [a for a in argv if a == "--access-log"]
    rest = [a for a in argv if a != "--access-log"]
    pairs = list(zip(rest[::2], rest[1::2], strict=True))
    opts = dict(pairs)
    listen = [v.partition("=") for k, v in pairs if k == "--listen"]
    if "--fd" in opts:
        listen.append(("http", "=", opts["--fd"]))
    beat = int(opts["--beat"])
    os.set_blocking(beat, False)
    starting = _StartupBeat(beat)
    starting.start()
    logging.basicConfig(level=logging.WARNING, format="pubinbox[%(process)d]: %(message)s", stream=sys.stderr)

    import uvicorn

    from pubinbox.config import Env, load
    from pubinbox.errors import PubinboxError
    from pubinbox.web.app import App, Web
    from pubinbox.web.guard import GuardedHttp, quiet_invalid_requests
    from pubinbox.web.site import Site, conn_limits

    socks = [(scheme, socket.socket(fileno=int(fd))) for scheme, _eq, fd in listen]
    http = [s for scheme, s in socks if scheme == "http"]
    others = [(scheme, s) for scheme, s in socks if scheme != "http"]
    try:
        tls = _tls_context(opts.get("--cert"), opts.get("--key"))
        _tune_git()
        config = load(Env.from_os().config_path(opts["--config"]))
        site = Site(config, search_socket=opts["--search"], served=_served(others))
        app = App(Web(site))
        limits = conn_limits(config)
    except (PubinboxError, OSError, ValueError) as e:  # ssl.SSLError is an OSError
        log.error("worker cannot start: %s", e)
        return 3  # the supervisor's STARTUP_FAILURE
    quiet_invalid_requests()
    ucfg = uvicorn.Config(
        app,
        http=GuardedHttp,
        lifespan="on",
        log_level="warning",
        access_log=bool(flags),
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=int(limits.idle_timeout),
        timeout_graceful_shutdown=5,
    )
    server = _server(ucfg, beat, site, others, tls)
    starting.done.set()  # from here the event loop beats
    server.run(sockets=http)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
