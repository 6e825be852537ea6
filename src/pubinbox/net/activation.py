"""Listening sockets inherited from systemd (socket activation).

systemd (``.socket`` units), ``systemd-socket-activate`` and their kin
start a server with its listening sockets already open: file descriptors
3, 4, ... (``SD_LISTEN_FDS_START``), ``LISTEN_FDS`` of them, meant for the
process ``LISTEN_PID``, optionally named by ``LISTEN_FDNAMES``
(``FileDescriptorName=``, colon-separated); see sd_listen_fds(3).
``pubinbox serve`` takes them like public-inbox's daemons do
(public-inbox-daemon(8)); the protocol of each socket is, first found:

1. its name: a scheme (``http``, ``nntp``, ``nntps``, ``imap``, ``imaps``,
   ``pop3``, ``pop3s``, ``lmtp``), or the name of a ``.socket`` unit whose
   last ``-`` part is one (``pubinbox-nntps.socket``, systemd's default
   name);
2. a ``--http``/``--nntp``/... option for the socket's address (same port,
   same host or either on every address): that option is then served by the
   inherited socket instead of binding its own (public-inbox matches
   ``--listen`` to inherited sockets by address too);
3. its port, when well known: 80 HTTP, 119 NNTP, 563 NNTPS, 143 IMAP,
   993 IMAPS, 110 POP3, 995 POP3S (public-inbox's rule; the implicit-TLS
   ones need ``--cert``);
4. else HTTP, ``pubinbox serve``'s own protocol.

Standard library only (``pubinbox serve`` runs it before it becomes the
supervisor).
"""

from __future__ import annotations

import os
import socket
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass

from pubinbox.net.listeners import PROTOCOLS, Listener, ListenerError

__all__ = ["WELL_KNOWN", "Inherited", "classify", "inherited", "take"]

#: the first inherited descriptor (sd_listen_fds(3))
LISTEN_FDS_START = 3
#: more than this many descriptors is taken for a broken environment
MAX_FDS = 1024
#: public-inbox's well-known ports of inherited sockets
WELL_KNOWN = {80: "http", 119: "nntp", 563: "nntps", 143: "imap", 993: "imaps", 110: "pop3", 995: "pop3s"}
_WILDCARD = ("", "0.0.0.0", "::")


@dataclass(frozen=True, slots=True)
class Inherited:
    """One inherited listening socket and what ``pubinbox serve`` speaks on it."""

    fd: int
    scheme: str  # nntp, nntps, http, ...
    where: str  # its address, for messages: HOST:PORT or a Unix socket path


def inherited(env: MutableMapping[str, str], pid: int) -> list[tuple[int, str]]:
    """(fd, name) of each socket passed to process *pid* by *env*'s
    ``LISTEN_*`` (name "" when unnamed), and the variables removed from
    *env* (the workers must not take them again: sd_listen_fds(3)'s
    *unset_environment*).  Variables meant for another process (a
    ``LISTEN_PID`` not *pid*) give nothing."""
    fds, target, names = (env.pop(k, None) for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"))
    if fds is None:
        return []
    if not (target or "").strip().isdigit() or int(target or "0") != pid:
        return []
    if not fds.strip().isdigit() or not 0 < int(fds) <= MAX_FDS:
        raise ListenerError(f"LISTEN_FDS={fds!r}: want a number of descriptors (1 to {MAX_FDS})")
    n = int(fds)
    given = (names or "").split(":") if names else []
    labels = [given[i] if i < len(given) else "" for i in range(n)]
    return [(LISTEN_FDS_START + i, "" if name in ("unknown", "") else name) for i, name in enumerate(labels)]


def _scheme_of_name(name: str) -> str:
    """The scheme a descriptor name gives ('' for none)."""
    name = name.strip().lower()
    if name.endswith(".socket"):
        name = name[: -len(".socket")].rsplit("-", 1)[-1].split("@", 1)[0]
    known = {p.name for p in PROTOCOLS.values()} | {p.tls_name for p in PROTOCOLS.values() if p.tls_name}
    return name if name in known else ""


def _same_address(lst: Listener, host: str, port: int) -> bool:
    return lst.port == port and (lst.host == host or lst.host in _WILDCARD or host in _WILDCARD)


def classify(sock: socket.socket, name: str, options: Sequence[Listener]) -> tuple[str, Listener | None]:
    """(scheme, the option it serves or None) of an inherited socket (the
    rules of this module's docstring)."""
    if scheme := _scheme_of_name(name):
        return scheme, None
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        host, port = sock.getsockname()[:2]
        for lst in options:
            if _same_address(lst, str(host), int(port)):
                return lst.scheme, lst
        if int(port) in WELL_KNOWN:
            return WELL_KNOWN[int(port)], None
    return "http", None


def _where(sock: socket.socket) -> str:
    addr = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return addr.decode(errors="replace") if isinstance(addr, bytes) else str(addr) or "(unnamed unix socket)"
    host, port = addr[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def take(env: MutableMapping[str, str], options: Sequence[Listener]) -> tuple[list[Inherited], list[Listener]]:
    """The inherited sockets of this process with their protocols, and the
    *options* no inherited socket serves (still to be bound).  A descriptor
    that is not a listening stream socket is an error."""
    got: list[Inherited] = []
    served: set[Listener] = set()
    for fd, name in inherited(env, os.getpid()):
        try:
            sock = socket.socket(fileno=fd)
        except OSError as e:
            raise ListenerError(f"inherited descriptor {fd}: {e.strerror or e}") from None
        try:
            ok = sock.type == socket.SOCK_STREAM and sock.family in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX)
            listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
            if not ok or not listening:
                raise ListenerError(f"inherited descriptor {fd} is not a listening TCP or Unix stream socket")
            scheme, option = classify(sock, name, options)
            if option is not None:
                served.add(option)
            got.append(Inherited(fd, scheme, _where(sock)))
        finally:
            sock.detach()  # the descriptor stays open for the supervisor
    return got, [lst for lst in options if lst not in served]
