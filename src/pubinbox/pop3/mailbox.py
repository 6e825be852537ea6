"""POP3 mailboxes: ``UUID@NEWSGROUP[.SLICE]`` and their deletions in SQLite.

As in public-inbox-pop3d, a mailbox is anonymous: the UUID is the reader's
private cookie, the newsgroup names the inbox.  ``UUID@group`` holds the
newest :data:`SLICE` messages (a rolling window); ``UUID@group.K`` the fixed
slice K (article numbers K*SLICE+1 .. (K+1)*SLICE, 0 the oldest).  What a
reader deleted is remembered per (UUID, mailbox) in
``pop3state/pubinbox-pop3.sqlite3`` beside the config file (or in the
directory ``publicinbox.pop3state`` names), so a later session does not
show it again; a new UUID sees everything.

One session per mailbox at a time: a POSIX record lock on one byte of a
lock file per (UUID, mailbox) (released by the kernel if the worker dies),
plus a set for sessions of the same process.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import sqlite3
import time
from array import array
from dataclasses import dataclass
from pathlib import Path

from pubinbox.config import Config
from pubinbox.store.dbfile import use_wal

__all__ = ["SLICE", "Mailbox", "MailboxName", "State", "parse_user"]

#: messages per mailbox (public-inbox's 50K slices)
SLICE = 50_000

_USER = re.compile(r"\A([0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12})@(.+)\Z")


class MailboxError(ValueError):
    """A user name that names no mailbox (the text is the -ERR reply)."""


@dataclass(frozen=True, slots=True)
class MailboxName:
    uuid: str  # 32 lower-case hex digits
    group: str
    slice: int | None  # None: the newest SLICE messages

    @property
    def key(self) -> str:
        return f"{self.group}" if self.slice is None else f"{self.group}.{self.slice}"


def parse_user(user: str, groups: set[str]) -> MailboxName:
    """``UUID@NEWSGROUP`` or ``UUID@NEWSGROUP.SLICE`` (dashes in the UUID
    optional, hex in any case)."""
    m = _USER.match(user)
    if m is None:
        raise MailboxError("no UUID@ in mailbox name")
    uuid, mbox = m.group(1).replace("-", "").lower(), m.group(2)
    if mbox in groups:
        return MailboxName(uuid, mbox, None)
    base, dot, k = mbox.rpartition(".")
    if dot and base in groups and k.isascii() and k.isdigit() and len(k) < 10:
        return MailboxName(uuid, base, int(k))
    raise MailboxError(f"{mbox} does not exist")


def state_dir(config: Config) -> Path:
    d = config.get("publicinbox.pop3state")
    return Path(d) if d else config.path.parent / "pop3state"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL,
    mailbox TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    UNIQUE (uuid, mailbox)
);
CREATE TABLE IF NOT EXISTS deletes (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    uid INTEGER NOT NULL,
    PRIMARY KEY (user_id, uid)
) WITHOUT ROWID;
"""


class State:
    """The deletion database and the mailbox locks of one worker."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.db = sqlite3.connect(directory / "pubinbox-pop3.sqlite3", isolation_level=None, timeout=5)
        use_wal(self.db)
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.executescript(_SCHEMA)
        self.lock_fd = os.open(directory / "pubinbox-pop3.lock", os.O_RDWR | os.O_CREAT, 0o600)
        self.held: set[tuple[str, str]] = set()

    def lock(self, name: MailboxName) -> bool:
        """Take the mailbox for one session; False if another has it."""
        key = (name.uuid, name.key)
        if key in self.held:
            return False
        off = int.from_bytes(hashlib.sha1(f"{name.uuid}@{name.key}".encode()).digest()[:4], "big") & 0x7FFFFFFF
        try:
            fcntl.lockf(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, off)
        except OSError:
            return False
        self.held.add(key)
        return True

    def unlock(self, name: MailboxName) -> None:
        key = (name.uuid, name.key)
        if key in self.held:
            self.held.discard(key)
            off = int.from_bytes(hashlib.sha1(f"{name.uuid}@{name.key}".encode()).digest()[:4], "big") & 0x7FFFFFFF
            fcntl.lockf(self.lock_fd, fcntl.LOCK_UN, 1, off)

    def _user(self, name: MailboxName) -> int:
        self.db.execute(
            "INSERT INTO users (uuid, mailbox, last_seen) VALUES (?, ?, ?)"
            " ON CONFLICT (uuid, mailbox) DO UPDATE SET last_seen = excluded.last_seen",
            (name.uuid, name.key, int(time.time())),
        )
        return int(
            self.db.execute("SELECT id FROM users WHERE uuid = ? AND mailbox = ?", (name.uuid, name.key)).fetchone()[0]
        )

    def deleted(self, name: MailboxName, lo: int, hi: int) -> set[int]:
        uid = self._user(name)
        rows = self.db.execute("SELECT uid FROM deletes WHERE user_id = ? AND uid BETWEEN ? AND ?", (uid, lo, hi))
        return {int(u) for (u,) in rows}

    def delete(self, name: MailboxName, uids: list[int]) -> None:
        """Remember *uids* as deleted (at QUIT, RFC 1939's UPDATE state)."""
        if not uids:
            return
        uid = self._user(name)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany("INSERT OR IGNORE INTO deletes (user_id, uid) VALUES (?, ?)", [(uid, u) for u in uids])
            if name.slice is None:  # a rolling window: forget what fell out of it
                lowest = min(uids) - SLICE
                self.db.execute("DELETE FROM deletes WHERE user_id = ? AND uid < ?", (uid, lowest))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise


class Mailbox:
    """The messages of one session: article numbers and sizes (compact
    arrays: 16 bytes a message), POP3 message n = index n - 1."""

    def __init__(self, nums: array[int], sizes: array[int]) -> None:
        self.nums = nums
        self.sizes = sizes
        self.deleted: set[int] = set()  # message numbers (1-based) marked this session

    def __len__(self) -> int:
        return len(self.nums)

    def get(self, n: int) -> tuple[int, int] | None:
        """(article number, size) of message *n*, None if it does not exist
        or is marked deleted."""
        if not 1 <= n <= len(self.nums) or n in self.deleted:
            return None
        return self.nums[n - 1], self.sizes[n - 1]

    def live(self) -> list[int]:
        return [n for n in range(1, len(self.nums) + 1) if n not in self.deleted]

    def total(self) -> tuple[int, int]:
        """(count, octets) of the messages not marked deleted."""
        size = sum(self.sizes) - sum(self.sizes[n - 1] for n in self.deleted)
        return len(self.nums) - len(self.deleted), size
