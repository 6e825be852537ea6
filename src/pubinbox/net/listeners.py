"""Listener specs of ``pubinbox serve``: which protocol on which address.

Standard library only: the supervisor (:mod:`pubinbox.web.supervisor`)
imports this module and stays small.  A listener travels as one string,
``PROTO://HOST:PORT`` (``nntps://`` etc. for implicit TLS), from the CLI to
the supervisor, which binds it, and as ``PROTO=FD`` from the supervisor to
each worker, which serves it in its event loop.

To add a protocol: one :data:`PROTOCOLS` entry (its ``start`` function,
``async (archive, sock, ssl_context) -> asyncio.Server``, and whether it
needs a certificate), and one ``--NAME HOST:PORT`` option in
``pubinbox.cli.serve`` (it goes through :func:`parse`); the supervisor and
the worker need no change.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

__all__ = ["PROTOCOLS", "Listener", "ListenerError", "Protocol", "parse", "starter"]


class ListenerError(ValueError):
    """A listener spec that cannot be used."""


@dataclass(frozen=True, slots=True)
class Protocol:
    """One protocol ``pubinbox serve`` can listen for."""

    name: str  # the scheme (nntp, imap, pop3, http)
    tls_name: str  # the scheme of its implicit-TLS form ("" if none)
    start: str  # "module:function" that starts a server on a socket ("" for http: uvicorn)


#: every protocol of ``pubinbox serve``, by scheme
PROTOCOLS: dict[str, Protocol] = {
    "http": Protocol("http", "", ""),
    "nntp": Protocol("nntp", "nntps", "pubinbox.nntp.server:start"),
    "pop3": Protocol("pop3", "pop3s", "pubinbox.pop3.server:start"),
    "imap": Protocol("imap", "imaps", "pubinbox.imap.server:start"),
    "lmtp": Protocol("lmtp", "", "pubinbox.lmtp.server:start"),
}


@dataclass(frozen=True, slots=True)
class Listener:
    """One address to listen on, and what to speak there."""

    proto: str  # a key of PROTOCOLS
    host: str
    port: int
    tls: bool = False  # implicit TLS (nntps://, imaps://, pop3s://)

    @property
    def scheme(self) -> str:
        return PROTOCOLS[self.proto].tls_name if self.tls else self.proto

    def spec(self) -> str:
        """``SCHEME://HOST:PORT`` (parsed back by :func:`parse`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse(spec: str, default_proto: str = "") -> Listener:
    """``[SCHEME://]HOST:PORT`` -> :class:`Listener`; the scheme names the
    protocol (and implicit TLS), else *default_proto*."""
    scheme, sep, rest = spec.partition("://")
    if not sep:
        scheme, rest = default_proto, spec
    scheme = scheme.lower()
    proto, tls = "", False
    for p in PROTOCOLS.values():
        if scheme == p.name:
            proto = p.name
        elif p.tls_name and scheme == p.tls_name:
            proto, tls = p.name, True
    if not proto:
        raise ListenerError(f"unknown protocol {scheme!r} in {spec!r} (known: {', '.join(sorted(PROTOCOLS))})")
    rest = rest.rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ListenerError(f"{spec!r}: want HOST:PORT")
    return Listener(proto, host.strip("[]") or "127.0.0.1", int(port), tls)


def starter(proto: str) -> Any:
    """The function that starts a server of *proto* (imported on demand)."""
    mod, _, fn = PROTOCOLS[proto].start.partition(":")
    return getattr(importlib.import_module(mod), fn)
