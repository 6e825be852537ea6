"""What the mail-protocol servers read: the archive, as a typed collaborator.

The web's :class:`pubinbox.web.site.Site` satisfies it (per-thread
:class:`~pubinbox.inbox.Inbox` handles that reopen when ``pubinbox index``
replaces a file), so a worker's protocols share its handles; tests may
pass anything else with the same shape.
"""

from __future__ import annotations

import sqlite3
from typing import Protocol

from pubinbox.config import Config, InboxConfig
from pubinbox.inbox import Inbox
from pubinbox.store.layout import Layout

__all__ = ["Archive", "created_at"]


class Archive(Protocol):
    """Read access to every inbox of one config file."""

    config: Config

    def inbox(self, name: str) -> Inbox:
        """This thread's read handle on inbox *name*."""
        ...

    def forget(self, name: str) -> None:
        """Drop this thread's handle on *name* (after a database error)."""
        ...


def created_at(cfg: InboxConfig) -> int:
    """msgmap's ``created_at`` of an inbox (NNTP's ACTIVE.TIMES, IMAP's
    UIDVALIDITY); 0 when it cannot be read."""
    try:
        db = sqlite3.connect(f"file:{Layout(cfg.inboxdir).msgmap}?mode=ro", uri=True, timeout=2)
        try:
            row = db.execute("SELECT val FROM meta WHERE key = 'created_at'").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return 0
    return int(row[0]) if row and str(row[0]).isdigit() else 0
