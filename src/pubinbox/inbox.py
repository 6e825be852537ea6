"""Inbox: the read-only facade the web, NNTP, IMAP and POP3 layers use.

It bundles an inbox's configuration with its overview reader and git
reader: rows come from the overview, raw messages from git by blob id.
Open one per thread (SQLite connections are per thread).
"""

from __future__ import annotations

from types import TracebackType

from pubinbox.config import InboxConfig
from pubinbox.errors import MessageNotFound
from pubinbox.over.reader import OverReader, OverRow
from pubinbox.store.git import GitReader
from pubinbox.store.layout import Layout


class Inbox:
    """Read access to one inbox."""

    def __init__(self, cfg: InboxConfig, over: OverReader, git: GitReader) -> None:
        self.cfg = cfg
        self.layout = Layout(cfg.inboxdir)
        self.over = over
        self.git = git

    @classmethod
    def open(cls, cfg: InboxConfig) -> Inbox:
        layout = Layout(cfg.inboxdir)
        layout.check()
        return cls(cfg, OverReader(layout.over_db), GitReader(layout))

    def close(self) -> None:
        self.over.close()

    def __enter__(self) -> Inbox:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def name(self) -> str:
        return self.cfg.name

    def raw(self, row: OverRow) -> bytes:
        """The stored bytes of a message."""
        return self.git.blob(row.blob, row.epoch)

    def raw_by_mid(self, mid: str) -> list[tuple[OverRow, bytes]]:
        rows = self.over.by_mid(mid)
        if not rows:
            raise MessageNotFound(f"<{mid}> is not in {self.name}")
        return [(r, self.raw(r)) for r in rows]

    def raw_by_num(self, num: int) -> tuple[OverRow, bytes]:
        row = self.over.by_num(num)
        if row is None:
            raise MessageNotFound(f"article {num} is not in {self.name}")
        return row, self.raw(row)

    def thread_count(self) -> int:
        return int(self.over.db.execute("SELECT COUNT(DISTINCT tid) FROM over WHERE num > 0").fetchone()[0])
