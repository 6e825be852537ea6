"""What ``pubinbox watch`` reads of the config (its sources and their
routing) and what it remembers between runs (:class:`State`)."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pubinbox.config import Config, InboxConfig
from pubinbox.mail.parse import Headers
from pubinbox.store.dbfile import use_wal

log = logging.getLogger(__name__)

IMAP = ("imap://", "imaps://")
NNTP = ("nntp://", "nntps://", "news://", "snews://")


@dataclass(slots=True)
class Source:
    """One watched Maildir and the inboxes it feeds (none: the spam Maildir)."""

    path: Path
    inboxes: list[InboxConfig] = field(default_factory=list)
    spam: bool = False
    missing: bool = False


def maildir_path(url: str) -> Path | None:
    if url.startswith("maildir:"):
        return Path(os.path.expanduser(url[len("maildir:") :])).absolute()
    return None


def sources(conf: Config) -> list[Source]:
    """The Maildirs of the config; other kinds of source are logged once."""
    out: dict[Path, Source] = {}
    for ibx in conf.inboxes:
        for url in ibx.extra.get("watch", ()):
            path = maildir_path(url)
            if path is None:
                if not url.startswith(IMAP + NNTP):
                    log.warning(
                        "%s: watch = %s: only maildir:, imap(s):// and nntp(s):// are supported; ignored", ibx.name, url
                    )
                continue
            out.setdefault(path, Source(path)).inboxes.append(ibx)
    for url in conf.get_all("publicinboxwatch.watchspam"):
        path = maildir_path(url)
        if path is None:
            if not url.startswith(IMAP + NNTP):
                log.warning(
                    "publicinboxwatch.watchspam = %s: only maildir:, imap(s):// and nntp(s):// are supported; ignored",
                    url,
                )
        elif path in out:
            log.warning("%s is both an inbox's watch and watchspam; watched for the inbox only", path)
        else:
            out[path] = Source(path, spam=True)
    return list(out.values())


def net_sources(conf: Config, schemes: tuple[str, ...]) -> dict[str, list[InboxConfig]]:
    """IMAP folders or newsgroups (by *schemes*) of the config and the
    inboxes they feed."""
    out: dict[str, list[InboxConfig]] = {}
    for ibx in conf.inboxes:
        for url in ibx.extra.get("watch", ()):
            if url.startswith(schemes):
                out.setdefault(url, []).append(ibx)
    return out


def net_spam(conf: Config, schemes: tuple[str, ...]) -> list[str]:
    """The IMAP folders or newsgroups (by *schemes*) of ``publicinboxwatch.watchspam``."""
    return [url for url in conf.get_all("publicinboxwatch.watchspam") if url.startswith(schemes)]


def wanted(ibx: InboxConfig, h: Headers) -> bool:
    """public-inbox's watchheader/listid routing: no rule takes everything."""
    rules: list[tuple[str, str]] = []
    for rule in ibx.extra.get("watchheader", ()):
        name, sep, value = rule.partition(":")
        if sep:
            rules.append((name.strip(), value.strip()))
    if not rules and not ibx.listids:
        return True
    for name, value in rules:
        if any(v.strip() == value for v in h.raw(name)):
            return True
    for value in h.raw("List-Id"):
        m = re.search(r"<[ \t]*(.+?)[ \t]*>", value)
        if m and any(m.group(1).lower() == x.lower() for x in ibx.listids):
            return True
    return False


def split_name(name: str) -> tuple[str, str]:
    """(unique part, flags) of a Maildir file name."""
    base, _sep, info = name.partition(":")
    return base, info[2:] if info.startswith("2,") else ""


class State:
    """What was handled so far, per source (SQLite): Maildir file names and
    IMAP UIDs (``seen``), the last article number of a newsgroup (``marks``)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        use_wal(self.db)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS seen (source TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (source, name)) WITHOUT ROWID"
        )
        self.db.execute("CREATE TABLE IF NOT EXISTS marks (source TEXT PRIMARY KEY NOT NULL, num INTEGER NOT NULL)")

    def load(self, source: str) -> set[str]:
        return {str(n) for (n,) in self.db.execute("SELECT name FROM seen WHERE source = ?", (str(source),))}

    def add(self, items: Iterable[tuple[str, str]]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?)", items)

    def mark(self, source: str) -> int:
        """The last article number handled for *source* (0: none yet)."""
        row = self.db.execute("SELECT num FROM marks WHERE source = ?", (source,)).fetchone()
        return int(row[0]) if row else 0

    def set_marks(self, marks: dict[str, int]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO marks VALUES (?, ?)", marks.items())

    def close(self) -> None:
        self.db.close()


def state_path(conf: Config) -> Path:
    explicit = conf.get("pubinbox.watchstate")
    return Path(os.path.expanduser(explicit)) if explicit else conf.path.parent / "pubinbox-watch.sqlite3"


@dataclass(slots=True)
class Batch:
    """Messages read and not stored yet."""

    adds: dict[str, tuple[InboxConfig, list[bytes]]] = field(default_factory=dict)
    spam: list[bytes] = field(default_factory=list)
    names: list[tuple[str, str]] = field(default_factory=list)
    marks: dict[str, int] = field(default_factory=dict)  # newsgroup source -> last article read
    marked: int = 0  # articles read for *marks*
    started: float = 0.0

    def __len__(self) -> int:
        return len(self.names) + self.marked
