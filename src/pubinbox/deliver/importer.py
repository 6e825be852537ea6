"""Bulk import (``pubinbox import``): mbox, Maildir, .eml or stdin into an inbox.

Messages go through the same :class:`InboxWriter` as ``mda`` (same dedupe and
numbering rules) but without prechecks or filters: an import takes what it
is given.  Only things that are not messages at all (empty input) are
rejected, each with its reason and origin.

The writer numbers, commits and indexes in input order in this process
while ``git fast-import`` compresses in its own; on more than two cores,
parsing (:func:`pubinbox.ingest.message.prepare`) runs in worker processes
too, batches of messages a bounded window ahead of the writer: every core works.  Nothing is acknowledged before the
writer's checkpoint has it in git.
"""

from __future__ import annotations

import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from pubinbox.config import DEFAULT_EPOCH_SIZE, InboxConfig
from pubinbox.errors import InputError
from pubinbox.ingest.message import Incoming, Message, prepare
from pubinbox.ingest.pool import ordered_map
from pubinbox.ingest.writer import InboxWriter
from pubinbox.mail.parse import strip_from_line
from pubinbox.mail.sources import SourceMessage

#: messages per task sent to a parsing process
BATCH = 64
#: batches parsed ahead of the writer, per worker
WINDOW = 2


@dataclass(slots=True)
class ImportStats:
    """Counts for the one-line summary."""

    added: int = 0
    duplicates: int = 0
    reused_mid: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    stopped: BaseException | None = None  # what ended the import early

    def summary(self) -> str:
        rej = sum(self.rejected.values())
        line = f"added {self.added}, duplicates {self.duplicates}, rejected {rej}"
        if rej:
            line += " (" + ", ".join(f"{why}: {n}, e.g. {self.examples[why]}" for why, n in self.rejected.items()) + ")"
        if self.reused_mid:
            line += f"; {self.reused_mid} reused Message-IDs stored under generated ones"
        return line


def reject_reason(raw: bytes) -> str | None:
    """Why *raw* is not a message at all (``import`` skips it, ``mda``
    answers 65), or None."""
    if not raw.strip():
        return "empty message"
    return None


def _prepare_batch(items: tuple[int, list[bytes]]) -> list[tuple[bytes | None, Message]]:
    """In a worker: parse a batch of messages; the stored bytes come back
    only when they differ from the input (headers dropped), to keep the
    pipe light."""
    now, raws = items
    out: list[tuple[bytes | None, Message]] = []
    for raw in raws:
        inc = prepare(raw, now=now)
        out.append(((None if inc.raw == inc.orig else inc.raw), inc.message))
    return out


def _batches(
    messages: Iterator[SourceMessage], now: int
) -> Iterator[tuple[list[SourceMessage], tuple[int, list[bytes]]]]:
    batch: list[SourceMessage] = []
    for msg in messages:
        batch.append(msg)
        if len(batch) >= BATCH:
            yield batch, (now, [m.raw for m in batch])
            batch = []
    if batch:
        yield batch, (now, [m.raw for m in batch])


def _prepared(messages: Iterator[SourceMessage], now: int, jobs: int) -> Iterator[tuple[SourceMessage, Incoming]]:
    """*messages* with their :class:`Incoming`, in order, parsed by *jobs*
    worker processes, batches of :data:`BATCH` at most ``WINDOW * jobs``
    batches ahead."""
    if jobs <= 1:
        for msg in messages:
            yield msg, prepare(msg.raw, now=now)
        return
    held: deque[list[SourceMessage]] = deque()

    def tasks() -> Iterator[tuple[int, list[bytes]]]:
        for batch, task in _batches(messages, now):
            held.append(batch)
            yield task

    for parsed in ordered_map(_prepare_batch, tasks(), jobs=jobs, window=WINDOW * jobs):
        for msg, (raw, message) in zip(held.popleft(), parsed, strict=True):
            orig = strip_from_line(msg.raw)
            yield msg, Incoming(orig if raw is None else raw, orig, None, message)


def import_messages(
    ibx: InboxConfig,
    messages: Iterable[SourceMessage],
    *,
    epoch_size: int = DEFAULT_EPOCH_SIZE,
    progress: Callable[[int], None] | None = None,
    checkpoint_every: int = 2000,
    lock_timeout: float = 300.0,
    jobs: int | None = None,
) -> ImportStats:
    """Store every message; returns what happened.  *jobs*: parser
    processes (1 parses in this process; default: the cores left once the
    writer and ``git fast-import`` have one each -- measured on 2 cores,
    parser processes only add pickling and contention there)."""
    stats = ImportStats()
    stopped: BaseException | None = None
    njobs = jobs if jobs is not None else max(1, (os.cpu_count() or 1) - 2)
    now = int(time.time())

    def wanted() -> Iterator[SourceMessage]:
        for msg in messages:
            if progress is not None:
                progress(len(msg.raw))
            why = reject_reason(msg.raw)
            if why is not None:
                stats.rejected[why] += 1
                stats.examples.setdefault(why, msg.origin)
                continue
            yield msg

    with InboxWriter(ibx, epoch_size=epoch_size, checkpoint_every=checkpoint_every, lock_timeout=lock_timeout) as w:
        try:
            for _msg, inc in _prepared(wanted(), now, njobs):
                res = w.add_incoming(inc, now=now)
                if res.status == "added":
                    stats.added += 1
                    if res.reused_mid:
                        stats.reused_mid += 1
                else:
                    stats.duplicates += 1
        except (InputError, KeyboardInterrupt) as e:
            # an unreadable input or ^C: keep everything stored so far (the
            # writer closes normally), then report
            stopped = e
    if stopped is not None:
        stats.stopped = stopped
    return stats
