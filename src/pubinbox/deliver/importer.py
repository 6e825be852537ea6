"""Bulk import (``pubinbox import``): mbox, Maildir, .eml or stdin into an inbox.

Messages go through the same :class:`InboxWriter` as ``mda`` (same dedupe and
numbering rules) but without prechecks or filters: an import takes what it
is given.  Only things that are not messages at all (empty input) are
rejected, each with its reason and origin.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pubinbox.config import DEFAULT_EPOCH_SIZE, InboxConfig
from pubinbox.errors import InputError
from pubinbox.mail.sources import SourceMessage
from pubinbox.ingest.writer import InboxWriter


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


def import_messages(
    ibx: InboxConfig,
    messages: Iterable[SourceMessage],
    *,
    epoch_size: int = DEFAULT_EPOCH_SIZE,
    progress: Callable[[int], None] | None = None,
    checkpoint_every: int = 2000,
    lock_timeout: float = 300.0,
) -> ImportStats:
    """Store every message; returns what happened."""
    stats = ImportStats()
    stopped: BaseException | None = None
    with InboxWriter(ibx, epoch_size=epoch_size, checkpoint_every=checkpoint_every, lock_timeout=lock_timeout) as w:
        try:
            for msg in messages:
                if progress is not None:
                    progress(len(msg.raw))
                why = reject_reason(msg.raw)
                if why is not None:
                    stats.rejected[why] += 1
                    stats.examples.setdefault(why, msg.origin)
                    continue
                res = w.add(msg.raw)
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
