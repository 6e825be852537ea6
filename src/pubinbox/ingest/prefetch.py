"""Parsing the newest messages while the indexer is still walking git.

The indexer numbers messages oldest first, so it needs the whole walk of an
epoch before its first message; on a first index that walk (every commit
and tree read) is a quarter of a second for 22,000 messages, with the
parsing processes idle.  The walk goes from the tip back
(:meth:`~pubinbox.store.git.GitReader.changes`), so it meets the newest
messages first: they are handed to the pool in chunks as they come, never
more than a few chunks queued (the oldest, which are numbered first, must
not wait behind them), and never more than *limit* messages kept in all.
Their results wait here, by commit, until numbering reaches them; the rest
is parsed in order as before.  Which commits get parsed ahead changes
nothing but when they are parsed.
"""

from __future__ import annotations

from pubinbox.ingest.parsing import Parsed, Unreadable, parse_chunk, unpack
from pubinbox.ingest.pool import Pool, Task
from pubinbox.store.git import Change

__all__ = ["Prefetch"]


class Prefetch:
    """Chunks of commits parsed ahead, while they are being walked."""

    def __init__(self, pool: Pool, inboxdir: str, *, search: bool, chunk: int, start_after: int, limit: int) -> None:
        self.pool = pool
        self.inboxdir = inboxdir
        self.search = search
        self.chunk = chunk
        #: parse nothing ahead before the walk has this many messages (a
        #: small delivery is parsed in its own process, without a pool)
        self.start_after = start_after
        self.limit = limit
        self._seen = 0
        self._queued: list[Change] = []
        self._epoch = -1
        self._flying: list[Task[bytes]] = []
        #: commit -> (its chunk's task, its place in the chunk)
        self._at: dict[str, tuple[Task[bytes], int]] = {}
        #: id(task) -> its results, and how many of them are still to take
        self._done: dict[int, tuple[list[Parsed | Unreadable], list[int]]] = {}

    def walked(self, epoch: int, change: Change) -> None:
        """A commit the walk just read (newest first)."""
        if change.kind != "m":
            return
        if epoch != self._epoch:
            self._queued = []
            self._epoch = epoch
        self._seen += 1
        self._queued.append(change)
        if self._seen < self.start_after or len(self._queued) < self.chunk:
            return
        batch = self._queued[-self.chunk :]
        self._queued = []
        self._flying = [f for f in self._flying if not f.done()]
        if len(self._flying) >= 2 * self.pool.jobs or len(self._at) + len(batch) > self.limit:
            return  # the workers are busy: these are parsed in their turn
        task = self.pool.submit(
            parse_chunk, (self.inboxdir, epoch, [(c.blob, c.commit_time) for c in batch], self.search)
        )
        self._flying.append(task)
        for i, c in enumerate(batch):
            self._at[c.commit] = (task, i)

    def __len__(self) -> int:
        return len(self._at)

    def __contains__(self, commit: str) -> bool:
        return commit in self._at

    def take(self, commit: str) -> Parsed | Unreadable:
        """The result of a commit parsed ahead (once)."""
        task, i = self._at.pop(commit)
        key = id(task)
        got = self._done.get(key)
        if got is None:
            results = unpack(task.result())
            got = self._done[key] = (results, [len(results)])
        got[1][0] -= 1
        if not got[1][0]:
            del self._done[key]
        return got[0][i]

    def clear(self) -> None:
        self._at.clear()
        self._done.clear()
        self._flying.clear()
        self._queued.clear()
