"""The newsgroups of one config: which inbox each is, and Xref headers.

Every inbox with a ``newsgroup`` is a group (inboxes without one are not
served over NNTP, as in public-inbox).  Counts and water marks are read
from the overview at each command, so new mail shows without a restart.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from pubinbox.config import Config, InboxConfig
from pubinbox.errors import PubinboxError
from pubinbox.net.archive import Archive, created_at
from pubinbox.over.reader import OverRow

__all__ = ["Group", "Groups"]


@dataclass(frozen=True, slots=True)
class Group:
    """One newsgroup."""

    name: str
    cfg: InboxConfig
    description: str
    created_at: int  # msgmap's created_at (also IMAP's UIDVALIDITY)

    @property
    def inbox(self) -> str:
        return self.cfg.name

    @property
    def address(self) -> str:
        return self.cfg.primary_address


def _description(d: Path) -> str:
    try:
        text = (d / "description").read_text("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text.splitlines()[0] if text else "(no description)"


def server_name(config: Config) -> str:
    """``publicinbox.nntpserver`` (the first), else the host name."""
    for v in config.get_all("publicinbox.nntpserver"):
        if v:
            return v
    return socket.gethostname()


class Groups:
    """The newsgroups of a config, by name, in name order."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        config = archive.config
        self.server = server_name(config)
        found = [Group(c.newsgroup, c, _description(c.inboxdir), created_at(c)) for c in config.inboxes if c.newsgroup]
        self.by_name: dict[str, Group] = {g.name: g for g in sorted(found, key=lambda g: g.name)}
        self._lower = {n.lower(): g for n, g in self.by_name.items()}
        # (address, group) for the Xref of cross-posted messages
        self._addresses = [(a.lower(), g) for g in self.by_name.values() for a in g.cfg.addresses]

    def get(self, name: str) -> Group | None:
        return self.by_name.get(name) or self._lower.get(name.lower())

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.by_name.values())

    def stats(self, g: Group) -> tuple[int, int, int]:
        """(count, low, high) of *g*; (0, 1, 0) when empty or unreadable."""
        try:
            n, lo, hi = self.archive.inbox(g.inbox).over.stats()
        except PubinboxError:
            self.archive.forget(g.inbox)
            return 0, 1, 0
        return (n, lo, hi) if n else (0, 1, 0)

    def xref(self, g: Group, row: OverRow) -> str:
        """``SERVER group:num [other:num ...]``: other groups whose address
        is in To/Cc and that hold the same Message-ID, by name."""
        out = f"{self.server} {g.name}:{row.num}"
        if len(self._addresses) <= len(g.cfg.addresses):
            return out
        rcpt = f"{row.to} {row.cc}".lower()
        others: dict[str, int] = {}
        for addr, other in self._addresses:
            if other is g or other.name in others or addr not in rcpt:
                continue
            try:
                rows = self.archive.inbox(other.inbox).over.by_mid(row.mid)
            except PubinboxError:
                continue
            if rows:
                others[other.name] = rows[0].num
        for name in sorted(others):
            out += f" {name}:{others[name]}"
        return out
