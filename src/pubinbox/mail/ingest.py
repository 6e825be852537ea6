"""From raw bytes to what the store and the overview need, in one place.

:func:`prepare` turns a message as received into the bytes public-inbox
would store (leading ``From `` line and unwanted headers dropped, ``List-Id``
added for ``mda``) plus its commit fields and overview fields.
:func:`parse_for_index` does the same for a blob already in git (no
rewriting).  :func:`generated_mid` yields the Message-IDs public-inbox
generates for a message without a usable one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from pubinbox.mail import hashing, meta, parse
from pubinbox.mail.msgid import drop_primary
from pubinbox.mail.msgid import mids as mids_of
from pubinbox.search.extract import SearchDoc, extract
from pubinbox.search.writer import crlf_size


@dataclass(frozen=True, slots=True)
class Parsed:
    """Overview fields of one stored message (``thread_candidates`` and
    ``index_mids``: see :class:`~pubinbox.mail.meta.MessageMeta`; the
    overview row takes :meth:`row_refs` and :meth:`row_mids`)."""

    blob: str
    mids: tuple[str, ...]
    thread_candidates: tuple[str, ...]
    index_mids: tuple[str, ...]
    subject: str
    subject_path: str
    from_: str
    to: str
    cc: str
    ts: int
    ds: int
    size: int
    lines: int
    search: SearchDoc | None = None  # filled when the inbox has a search index
    crlf_size: int = 0  # size with CRLF line ends (z: ranges)  # filled when the inbox has a search index

    def row_mids(self, mid0: str) -> tuple[str, ...]:
        """The ids its overview row maps, numbered under *mid0*."""
        return row_mids(mid0, self.index_mids)

    def row_refs(self, mid0: str) -> tuple[str, ...]:
        """Its overview references, numbered under *mid0*."""
        return tuple(drop_primary(self.thread_candidates, mid0))


@dataclass(frozen=True, slots=True)
class Prepared:
    """A message ready to be committed: stored bytes, commit and overview fields."""

    raw: bytes
    orig: bytes  # as received, without the From line: rewrites start from it
    list_id_address: str | None
    mids: tuple[str, ...]
    thread_candidates: tuple[str, ...]
    index_mids: tuple[str, ...]
    subject: str
    subject_path: str
    from_: str
    to: str
    cc: str
    ts: int
    ds: int
    lines: int
    author_ident: bytes
    author_time: bytes
    committer_time: bytes
    commit_subject: bytes

    def row_mids(self, mid0: str) -> tuple[str, ...]:
        """The ids its overview row maps, numbered under *mid0*."""
        return row_mids(mid0, self.index_mids)

    def row_refs(self, mid0: str) -> tuple[str, ...]:
        """Its overview references, numbered under *mid0*."""
        return tuple(drop_primary(self.thread_candidates, mid0))


def row_mids(mid0: str, index_mids: tuple[str, ...]) -> tuple[str, ...]:
    """The ids the overview maps to a message numbered under *mid0*: that
    one first, then every other Message-ID and X-Alt-Message-ID (OverIdx
    ``add_overview`` takes ``mids_for_index``)."""
    return (mid0,) + tuple(m for m in index_mids if m != mid0)


def _lines(raw: bytes) -> int:
    return parse.split_message(raw)[1].count(b"\n")


def _prepared(orig: bytes, list_id_address: str | None, extra_mids: tuple[str, ...], now: int) -> Prepared:
    raw = parse.prepare_for_store(orig, list_id_address=list_id_address, extra_mids=extra_mids)
    m = meta.extract_meta(raw, now)
    return Prepared(
        raw=raw,
        orig=orig,
        list_id_address=list_id_address,
        mids=tuple(m.mids),
        thread_candidates=m.thread_candidates,
        index_mids=m.index_mids,
        subject=m.subject,
        subject_path=m.subject_path,
        from_=m.from_,
        to=m.to,
        cc=m.cc,
        ts=m.ts,
        ds=m.ds,
        lines=_lines(raw),
        author_ident=m.author_ident,
        author_time=m.author_time,
        committer_time=m.committer_time,
        commit_subject=m.commit_subject,
    )


def prepare(raw: bytes, *, now: int, list_id_address: str | None = None) -> Prepared:
    """The message as public-inbox stores it, with its fields;
    *list_id_address* adds ``List-Id`` (from that address) when missing."""
    return _prepared(parse.strip_from_line(raw), list_id_address, (), now)


def with_extra_mid(prep: Prepared, mid: str, *, now: int) -> Prepared:
    """Append a generated ``Message-ID`` header (public-inbox keeps the
    original header and adds the new one after it)."""
    return _prepared(prep.orig, prep.list_id_address, (mid,), now)


def parse_for_index(raw: bytes, blob: str, *, fallback_ds: int, fallback_ts: int, search: bool = False) -> Parsed:
    """Overview fields of a blob found in git; times fall back to the
    commit's author/committer times when no header parses."""
    # public-inbox-written commits carry the same time as author and committer
    # when no header parses, so the committer time serves as both fallbacks
    m = meta.extract_meta(raw, fallback_ts, commit=False)
    return Parsed(
        blob=blob,
        mids=tuple(m.mids),
        thread_candidates=m.thread_candidates,
        index_mids=m.index_mids,
        subject=m.subject,
        subject_path=m.subject_path,
        from_=m.from_,
        to=m.to,
        cc=m.cc,
        ts=m.ts,
        ds=m.ds,
        size=len(raw),
        lines=_lines(raw),
        search=extract(raw, known=(m.from_, m.to, m.cc, m.subject)) if search else None,
        crlf_size=crlf_size(raw),
    )


def all_mids(raw: bytes) -> list[str]:
    """Message-IDs in the whole header, even past the 100 KiB that the
    parser (like public-inbox's) looks at."""
    blank = parse._blank_line(raw)
    hdr = raw[: blank[0]] if blank is not None else raw
    return mids_of(parse.Headers(hdr, header_only=True))


def content_key(raw: bytes) -> bytes:
    """Dedupe key: public-inbox's content hash."""
    return hashing.content_hash(raw)


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
