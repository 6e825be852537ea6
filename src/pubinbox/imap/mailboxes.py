"""IMAP mailbox names: each newsgroup in 50K-message slices, as public-inbox-imapd.

``NEWSGROUP.K`` holds the UIDs (article numbers) K*50000+1 .. (K+1)*50000;
every dotted parent of a newsgroup (``inbox``, ``inbox.test``, the group
itself) is listed ``\\HasChildren`` and selects as an empty mailbox.  A
leading ``inbox`` is shown as ``INBOX`` (RFC 3501 §5.1: INBOX is case-
insensitive).  New slices appear as the inbox grows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pubinbox.config import InboxConfig
from pubinbox.errors import PubinboxError
from pubinbox.net.archive import Archive

__all__ = ["SLICE", "Mailboxes", "Selected", "display", "list_match"]

SLICE = 50_000


@dataclass(frozen=True, slots=True)
class Selected:
    """What a mailbox name resolves to: a slice of a group (or a parent:
    *cfg* None, always empty)."""

    name: str  # canonical (lower-case inbox prefix)
    cfg: InboxConfig | None
    slice: int

    @property
    def lo(self) -> int:
        return self.slice * SLICE + 1

    @property
    def hi(self) -> int:
        return (self.slice + 1) * SLICE


def canonical(name: str) -> str:
    if name[:5].upper() == "INBOX" and (len(name) == 5 or name[5] == "."):
        return "inbox" + name[5:]
    return name


def display(name: str) -> str:
    if name[:5] == "inbox" and (len(name) == 5 or name[5] == "."):
        return "INBOX" + name[5:]
    return name


class Mailboxes:
    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.groups = {c.newsgroup: c for c in archive.config.inboxes if c.newsgroup}
        parents: set[str] = set()
        for g in self.groups:
            parts = g.split(".")
            for i in range(1, len(parts) + 1):
                parents.add(".".join(parts[:i]))
        self.parents = parents

    def slices(self, cfg: InboxConfig) -> int:
        try:
            hi = self.archive.inbox(cfg.name).over.stats()[2]
        except PubinboxError:
            return 1
        return max((hi - 1) // SLICE, 0) + 1

    def all(self) -> list[tuple[str, str]]:
        """(name, attributes) of every mailbox, sorted."""
        out = [(p, "\\HasChildren") for p in self.parents]
        for g, cfg in self.groups.items():
            out += [(f"{g}.{k}", "\\HasNoChildren") for k in range(self.slices(cfg))]
        return sorted(out)

    def resolve(self, name: str) -> Selected | None:
        name = canonical(name)
        if name in self.parents:
            return Selected(name, None, 0)
        base, dot, k = name.rpartition(".")
        cfg = self.groups.get(base)
        ok = dot and k.isascii() and k.isdigit() and len(k) < 8 and (k == "0" or k[0] != "0")
        if ok and cfg is not None and int(k) < self.slices(cfg):
            return Selected(name, cfg, int(k))
        return None


def list_match(reference: str, pattern: str) -> re.Pattern[str]:
    """RFC 3501 §6.3.8: ``*`` matches anything, ``%`` anything but the
    hierarchy delimiter ``.``."""
    rx = ""
    for c in canonical(reference + pattern):
        rx += ".*" if c == "*" else "[^.]*" if c == "%" else re.escape(c)
    return re.compile(rx + r"\Z", re.DOTALL)
