"""A message as ingest sees it: parsed once, then numbered, stored, indexed.

:class:`Message` is what its header says (:class:`~pubinbox.mail.meta.MessageMeta`,
parsed once) with its sizes; it is built from bytes as received
(:func:`prepare`, which also gives the bytes public-inbox would store:
leading ``From `` line and unwanted headers dropped, ``List-Id`` added for
``mda``) or from a blob already in git (:func:`parse_stored`).  Everything
downstream takes it from there: the overview row (:meth:`Message.over_row`,
the only place one is built), the search document (:func:`search_doc`),
the git commit (the commit fields of its meta).  :func:`generated_mid`
yields the Message-IDs public-inbox generates for a message without a
usable one; :func:`content_key` is the dedupe key.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from pubinbox.mail import hashing, meta, parse, rewrite
from pubinbox.mail.meta import MessageMeta
from pubinbox.mail.msgid import drop_primary
from pubinbox.mail.msgid import mids as mids_of
from pubinbox.over.writer import NewRow
from pubinbox.search.extract import SearchDoc, extract
from pubinbox.search.writer import crlf_size
from pubinbox.series.marks import Marks, marks_of

__all__ = [
    "Incoming",
    "Message",
    "SameContent",
    "all_mids",
    "content_key",
    "generated_mid",
    "parse_stored",
    "prepare",
    "search_doc",
    "with_extra_mid",
]


@dataclass(frozen=True, slots=True)
class Message:
    """One message's header fields (parsed once) and sizes -- not its bytes,
    so that it is cheap to hand from a parsing process to the indexer."""

    meta: MessageMeta
    size: int
    lines: int
    crlf_size: int
    #: what series detection needs from a patch's bytes (None: no patch subject)
    series: Marks | None = None

    def __reduce__(self) -> tuple[type[Message], tuple[MessageMeta, int, int, int, Marks | None]]:
        return Message, (self.meta, self.size, self.lines, self.crlf_size, self.series)

    @property
    def mids(self) -> tuple[str, ...]:
        return self.meta.mids

    def row_mids(self, mid0: str) -> tuple[str, ...]:
        """The ids the overview maps to the message numbered under *mid0*:
        that one first, then every other Message-ID and X-Alt-Message-ID
        (OverIdx ``add_overview`` takes ``mids_for_index``)."""
        return (mid0,) + tuple(m for m in self.meta.index_mids if m != mid0)

    def row_refs(self, mid0: str) -> tuple[str, ...]:
        """Its overview references when numbered under *mid0*."""
        return tuple(drop_primary(self.meta.thread_candidates, mid0))

    def over_row(self, *, num: int, mid0: str, blob: str, epoch: int) -> NewRow:
        """Its overview row, numbered *num* under *mid0*, stored as *blob*."""
        m = self.meta
        return NewRow(
            num=num,
            mids=self.row_mids(mid0),
            references=self.row_refs(mid0),
            subject=m.subject,
            subject_path=m.subject_path,
            from_=m.from_,
            to=m.to,
            cc=m.cc,
            ts=m.ts,
            ds=m.ds,
            blob=blob,
            bytes=self.crlf_size,  # public-inbox's over: NNTP :bytes, IMAP RFC822.SIZE
            lines=self.lines,
            epoch=epoch,
        )


def _message(raw: bytes, now: int, *, commit: bool = True) -> Message:
    """Parse *raw* once: the header block is split off and read once, the
    body only counted."""
    hdr, body_at = parse.header_and_body_at(raw)
    m = meta.extract_meta(raw, now, commit=commit, headers=parse.Headers(hdr, header_only=True, only=meta.META_FIELDS))
    newlines, lines, crlfs = parse.line_counts(raw, body_at)
    return Message(m, len(raw), lines, crlf_size(raw, counts=(newlines, crlfs)), marks_of(raw, m.subject))


def search_doc(raw: bytes, msg: Message) -> SearchDoc:
    """The search document of *raw*, reusing the header fields already decoded."""
    m = msg.meta
    return extract(raw, known=(m.from_, m.to, m.cc, m.subject))


def parse_for_commit(raw: bytes, *, now: int) -> Message:
    """*raw* as it is (no header dropped), with its git commit fields (an
    edited message's commit is made again from it)."""
    return _message(raw, now)


def parse_stored(raw: bytes, *, fallback_ts: int) -> Message:
    """A blob found in git; times fall back to *fallback_ts* (the commit's
    time: public-inbox-written commits carry the same time as author and
    committer when no header parses)."""
    return _message(raw, fallback_ts, commit=False)


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message as received, made ready to be committed: the bytes to
    store, the original they came from (a generated Message-ID is added to
    it, not to the rewrite), and the parsed :class:`Message` with its git
    commit fields."""

    raw: bytes
    orig: bytes
    list_id_address: str | None
    message: Message


def _incoming(orig: bytes, list_id_address: str | None, extra_mids: tuple[str, ...], now: int) -> Incoming:
    raw = rewrite.prepare_for_store(orig, list_id_address=list_id_address, extra_mids=extra_mids)
    return Incoming(raw, orig, list_id_address, _message(raw, now))


def prepare(raw: bytes, *, now: int, list_id_address: str | None = None) -> Incoming:
    """The message as public-inbox stores it, with its fields;
    *list_id_address* adds ``List-Id`` (from that address) when missing."""
    return _incoming(parse.strip_from_line(raw), list_id_address, (), now)


def with_extra_mid(inc: Incoming, mid: str, *, now: int) -> Incoming:
    """Append a generated ``Message-ID`` header (public-inbox keeps the
    original header and adds the new one after it)."""
    return _incoming(inc.orig, inc.list_id_address, (mid,), now)


def all_mids(raw: bytes) -> list[str]:
    """Message-IDs in the whole header, even past the 100 KiB that the
    parser (like public-inbox's) looks at."""
    return mids_of(parse.Headers(parse.whole_header(raw), header_only=True))


def content_key(raw: bytes) -> bytes:
    """Dedupe key: public-inbox's content hash."""
    return hashing.content_hash(raw)


class SameContent:
    """``SameContent(raw)(other)``: whether *other* has *raw*'s content hash
    (the same message, for dedupe and removal).  Most copies differ only in
    headers the hash does not read (``Received:``, list headers): equal
    :func:`~pubinbox.mail.hashing.content_inputs` say so without walking
    MIME parts and decoding them (0.04 ms a message instead of 0.5); the
    hashes are computed only when the inputs differ."""

    __slots__ = ("_inputs", "_key", "raw")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._inputs: object = None
        self._key: bytes | None = None

    def __call__(self, other: bytes) -> bool:
        if self._inputs is None:
            self._inputs = hashing.content_inputs(self.raw)
        if hashing.content_inputs(other) == self._inputs:
            return True
        if self._key is None:
            self._key = content_key(self.raw)
        return content_key(other) == self._key


def generated_mid(raw: bytes, ds: int) -> Iterator[str]:
    """Message-IDs to try, in public-inbox's order: from the content hash,
    then with the Received: headers added, then with random data."""
    dig = hashing.content_digest(raw)
    yield hashing.digest2mid(raw, ds, dig.copy())
    for value in parse.Headers(raw).raw_bytes("Received"):
        dig.update(b"Received: " + value)
    yield hashing.digest2mid(raw, ds, dig.copy())
    while True:
        dig.update(os.urandom(16))
        yield hashing.digest2mid(raw, ds, dig.copy())
