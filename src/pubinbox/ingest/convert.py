"""``pubinbox convert OLD_V1 NEW_V2``: a v1 inbox (one git repository, a
file per message) copied into a new v2 inbox, like public-inbox-convert.

Every v1 commit becomes v2 commits with the same author, committer, times
and message: a message added is an ``m`` commit, a message removed a ``d``
commit naming its blob; epochs roll over at the configured size.  The v1
``msgmap.sqlite3`` (``public-inbox/`` in the old repository) is copied, so
article numbers (and the IMAP UIDVALIDITY) stay the same; then the new inbox
is indexed.  The old inbox and the config are left alone.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pubinbox.errors import InboxNotFound, StorageError
from pubinbox.store.fastimport import FastImport
from pubinbox.store.layout import BRANCH, Layout, ensure_all_git, init_epoch, init_inbox, is_v1
from pubinbox.store.lock import InboxLock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class V1Change:
    kind: str  # "m" | "d"
    blob: str
    author: bytes
    author_time: bytes
    committer: bytes
    committer_time: bytes
    subject: bytes


def _sig(line: bytes) -> tuple[bytes, bytes]:
    """``NAME <EMAIL> TIME TZ`` -> (``NAME <EMAIL>``, ``TIME TZ``)."""
    ident, _sp, rest = line.partition(b"> ")
    return ident + b">", rest.strip()


def changes(repo: Any) -> Iterator[tuple[V1Change, bytes]]:
    """The v1 history, oldest first: (change, blob bytes)."""
    import pygit2

    try:
        tip = repo.references[BRANCH].target
    except KeyError:
        try:
            tip = repo.head.target
        except pygit2.GitError:
            return
    chain = []
    c = repo.get(tip)
    while c is not None:
        chain.append(c)
        c = c.parents[0] if c.parents else None
    odb = repo.odb
    for commit in reversed(chain):
        _k, data = odb.read(commit.id)
        head, _sep, msg = bytes(data).partition(b"\n\n")
        fields = {ln.split(b" ", 1)[0]: ln.split(b" ", 1)[1] for ln in head.split(b"\n") if b" " in ln}
        author, at = _sig(fields[b"author"])
        committer, ct = _sig(fields[b"committer"])
        subject = msg[:-1] if msg.endswith(b"\n") else msg
        if commit.parents:
            diff = commit.parents[0].tree.diff_to_tree(commit.tree)
        else:
            diff = commit.tree.diff_to_tree(swap=True)
        for delta in diff.deltas:
            if delta.status == pygit2.enums.DeltaStatus.DELETED:
                kind, oid = "d", delta.old_file.id
            elif delta.status in (pygit2.enums.DeltaStatus.ADDED, pygit2.enums.DeltaStatus.MODIFIED):
                kind, oid = "m", delta.new_file.id
            else:
                continue
            _bk, raw = odb.read(oid)
            yield V1Change(kind, str(oid), author, at, committer, ct, subject), bytes(raw)


def convert(old: Path, new: Path, *, epoch_size: int, description: str | None = None) -> tuple[int, int]:
    """Copy v1 *old* into a new v2 inbox *new*; returns (messages added,
    removals).  *new* must not exist or be empty."""
    import pygit2

    if not is_v1(old):
        raise InboxNotFound(f"{old}: not a v1 inbox (a bare git repository)")
    if new.exists() and any(new.iterdir()):
        raise StorageError(f"{new}: exists and is not empty")
    try:
        repo = pygit2.Repository(str(old))
    except pygit2.GitError as e:
        raise StorageError(f"{old}: {e}") from e
    layout = Layout(new)
    new.mkdir(parents=True, exist_ok=True)
    desc = description
    if desc is None:
        try:
            desc = (old / "description").read_text(errors="replace").strip() or None
        except OSError:
            desc = None
    init_inbox(layout, desc or f"public inbox converted from {old.name}")
    added = removed = 0
    with InboxLock(layout.lock_file) as lock:
        epoch, size = 0, 0
        fi = FastImport(layout.epoch(epoch), lock_fd=lock.fd)
        try:
            for ch, raw in changes(repo):
                if ch.kind == "m" and size and size + len(raw) > epoch_size:
                    fi.done()
                    epoch, size = epoch + 1, 0
                    init_epoch(layout, epoch)
                    fi = FastImport(layout.epoch(epoch), lock_fd=lock.fd)
                fi.add(
                    raw,
                    author=ch.author,
                    author_time=ch.author_time,
                    committer=ch.committer,
                    committer_time=ch.committer_time,
                    subject=ch.subject,
                    path=ch.kind,
                )
                if ch.kind == "m":
                    size += len(raw)
                    added += 1
                else:
                    removed += 1
            fi.done()
        except BaseException:
            fi.abort()
            raise
        ensure_all_git(layout)
        _copy_msgmap(old / "public-inbox" / "msgmap.sqlite3", layout.msgmap)
    return added, removed


def _copy_msgmap(src: Path, dst: Path) -> None:
    """The v1 article numbers, if the v1 inbox was ever indexed."""
    if not src.exists():
        log.warning("%s: missing (the v1 inbox was never indexed): numbers are given in history order", src)
        return
    dst.unlink(missing_ok=True)
    with sqlite3.connect(f"file:{src}?mode=ro", uri=True) as s, sqlite3.connect(dst) as d:
        s.backup(d)
    d.close()
    s.close()
