"""Running an IMAP SEARCH over a mailbox, off the event loop and within a budget.

The keys (:mod:`pubinbox.imap.search`) are checked against the overview
rows of the mailbox, and the stored message of each row when a key needs it
(BODY, TEXT, HEADER, BCC).  All of it runs in a thread (git and SQLite
block), at most :data:`CONCURRENT` searches per worker at a time, so a long
search never holds up the worker's other connections.

Work per command is bounded: a search that would read more than
:data:`MAX_READ` bytes of messages from git is refused before it starts
(``NO [LIMIT]``, RFC 5530) with what to narrow.  ``BODY`` strings let the
search index rule messages out first where that is exact
(:mod:`pubinbox.imap.narrow`).
"""

from __future__ import annotations

import asyncio
import logging
from array import array
from dataclasses import dataclass

from pubinbox.errors import PubinboxError
from pubinbox.imap.narrow import PlainCache, has_diff, index_query, inner_words, is_plain, unindexed_words
from pubinbox.imap.search import Compiled
from pubinbox.net.archive import Archive
from pubinbox.over.reader import OverRow
from pubinbox.store.packread import private_bases

__all__ = ["CONCURRENT", "MAX_READ", "PLAIN", "SearchRun", "search_mailbox"]

log = logging.getLogger(__name__)

#: bytes of messages one SEARCH may read from git
MAX_READ = 512 << 20
#: searches of one worker running at a time (the others wait their turn)
CONCURRENT = 2
#: rows taken from the overview at a time
CHUNK = 1000
#: hits taken from the search index at a time (reader.MAX_LIMIT), and in all
INDEX_PAGE = 10_000
INDEX_MAX = 100_000
#: what this worker's scans learnt (see narrow.PlainCache)
PLAIN = PlainCache()
#: patches whose unindexed words one SEARCH finds at most (the indexer's
#: extraction: about a millisecond each); the others are not learnt yet
LEARN_PATCHES = 1000

_gate: asyncio.Semaphore | None = None


@dataclass(slots=True)
class SearchRun:
    """The outcome: ``hits`` (UIDs or sequence numbers), or ``refused``
    saying why not; ``read``/``skipped``: messages read from git, and ruled
    out by the search index without reading."""

    hits: list[int]
    refused: str = ""
    read: int = 0
    skipped: int = 0
    narrowed: bool = False


class _Cached:
    """The one message being checked, read once for all its keys."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def raw(self, row: OverRow) -> bytes:
        return self.data


async def search_mailbox(archive: Archive, inbox: str, uids: array[int], compiled: Compiled, *, uid: bool) -> SearchRun:
    """The messages of the mailbox (article numbers *uids*, in sequence
    order) that match *compiled*: UIDs when *uid*, else sequence numbers."""
    global _gate
    if _gate is None:
        _gate = asyncio.Semaphore(CONCURRENT)
    async with _gate:
        return await asyncio.to_thread(_scan, archive, inbox, array("q", uids), compiled, uid)


def _scan(archive: Archive, inbox: str, uids: array[int], compiled: Compiled, uid: bool) -> SearchRun:
    with private_bases():  # the messages read keep their delta bases to themselves
        return _run(archive, inbox, uids, compiled, uid)


def _index_hits(
    archive: Archive, inbox: str, uids: array[int], needles: tuple[str, ...]
) -> tuple[set[int], list[str]] | None:
    """(article numbers whose ``b:`` holds every word, the words): inner
    words of the BODY strings that no plain message lacks in the index; None
    when the index cannot narrow exactly (no such words, no index, one
    behind the overview, too many hits, an error)."""
    words: list[str] = []
    for n in needles:
        words += [w for w in inner_words(n) if w not in words and w not in PLAIN.unsafe]
    if not words or not uids:
        return None
    words = words[:8]
    box = archive.inbox(inbox)
    if box.cfg.indexlevel == "basic":
        return None
    lo, hi = uids[0], uids[-1]
    try:
        searcher = box.searcher
        if searcher.search(f"uid:{lo}..{hi}", limit=0).total != len(uids):
            return None  # messages not indexed yet (or gone): the index may miss some
        q = index_query(words, lo, hi)
        first = searcher.search(q, limit=INDEX_PAGE, ascending=True)
        if first.total > INDEX_MAX:
            return None
        hits = set(first.nums)
        offset = len(first.nums)
        while offset < first.total:
            page = searcher.search(q, offset=offset, limit=INDEX_PAGE, ascending=True)
            if not page.nums:
                break
            hits.update(page.nums)
            offset += len(page.nums)
        if len(hits) < first.total:
            return None
        return hits, words
    except PubinboxError as e:  # no index, a search that failed, a bad word: scan it all
        log.info("IMAP SEARCH on %s without the index: %s", inbox, e)
        return None


def _run(archive: Archive, inbox: str, uids: array[int], compiled: Compiled, uid: bool) -> SearchRun:
    got = _index_hits(archive, inbox, uids, compiled.body_needles) if compiled.body_needles else None
    hits, words = got if got is not None else (None, [])
    out = SearchRun([], narrowed=hits is not None)

    def skip(row: OverRow) -> bool:
        """Plain, not among the hits and lacking a word the index has for
        every plain message (checked now: other searches learn meanwhile)."""
        return (
            hits is not None
            and row.num not in hits
            and PLAIN.plain(inbox, row.num, row.blob)
            and not any(w in PLAIN.unsafe for w in words)
        )

    if compiled.reads:  # what it costs, before reading anything
        cost = 0
        for i in range(0, len(uids), CHUNK):
            box = archive.inbox(inbox)
            for r in box.over.by_nums(list(uids[i : i + CHUNK])):
                if not skip(r):
                    cost += r.bytes or 0
        if cost > MAX_READ:
            out.refused = (
                f"[LIMIT] this SEARCH would read {cost >> 20} MiB of messages, more than {MAX_READ >> 20} MiB; "
                "narrow it (UID or sequence ranges, SINCE/BEFORE, FROM/SUBJECT)"
            )
            return out
    learn = archive.inbox(inbox).cfg.indexlevel != "basic"  # without an index, nothing to learn for
    patches = LEARN_PATCHES
    for i in range(0, len(uids), CHUNK):
        box = archive.inbox(inbox)
        rows = {r.num: r for r in box.over.by_nums(list(uids[i : i + CHUNK]))}
        for m in range(i + 1, min(i + CHUNK, len(uids)) + 1):
            row = rows.get(uids[m - 1])
            if row is None:
                continue
            if compiled.reads:
                if skip(row):
                    out.skipped += 1
                    continue  # plain and without the words: the string cannot be in it
                data = box.raw(row)
                out.read += 1
                if learn and not PLAIN.plain(inbox, row.num, row.blob):
                    if not is_plain(data):
                        PLAIN.learn(inbox, row.num, row.blob, None)
                    elif not has_diff(data):
                        PLAIN.learn(inbox, row.num, row.blob, set())
                    elif patches > 0:
                        patches -= 1
                        PLAIN.learn(inbox, row.num, row.blob, unindexed_words(data))
                if compiled.pred(m, row, _Cached(data)):
                    out.hits.append(row.num if uid else m)
            elif compiled.pred(m, row, box):
                out.hits.append(row.num if uid else m)
    return out
