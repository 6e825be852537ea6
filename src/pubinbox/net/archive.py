"""What the mail-protocol servers read: the archive, as a typed collaborator.

The web's :class:`pubinbox.web.site.Site` satisfies it (per-thread
:class:`~pubinbox.inbox.Inbox` handles that reopen when ``pubinbox index``
replaces a file), so a worker's protocols share its handles; tests may
pass anything else with the same shape.
"""

from __future__ import annotations

from typing import Protocol

from pubinbox.config import Config
from pubinbox.inbox import Inbox

__all__ = ["Archive"]


class Archive(Protocol):
    """Read access to every inbox of one config file."""

    config: Config

    def inbox(self, name: str) -> Inbox:
        """This thread's read handle on inbox *name*."""
        ...

    def forget(self, name: str) -> None:
        """Drop this thread's handle on *name* (after a database error)."""
        ...
