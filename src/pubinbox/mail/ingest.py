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
from pubinbox.mail.msgid import subject_path


@dataclass(frozen=True, slots=True)
class Parsed:
    """Overview fields of one stored message."""

    blob: str
    mids: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    subject_path: str
    from_: str
    to: str
    cc: str
    ts: int
    ds: int
    size: int
    lines: int


@dataclass(frozen=True, slots=True)
class Prepared:
    """A message ready to be committed: stored bytes, commit and overview fields."""

    raw: bytes
    mids: tuple[str, ...]
    references: tuple[str, ...]
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


def _lines(raw: bytes) -> int:
    return parse.split_message(raw)[1].count(b"\n")


def _prepared(raw: bytes, now: int) -> Prepared:
    m = meta.extract_meta(raw, now)
    return Prepared(
        raw=raw,
        mids=tuple(m.mids),
        references=tuple(m.references),
        subject=m.subject,
        subject_path=subject_path(m.subject) if m.subject else "",
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


def prepare(raw: bytes, *, now: int, list_id: str | None = None) -> Prepared:
    """The message as public-inbox stores it, with its fields."""
    raw = parse.strip_from_line(raw)
    if list_id is not None and not parse.Headers(raw).raw("List-Id"):
        raw = parse.append_header(raw, "List-Id", list_id)
    raw = parse.drop_unwanted_headers(raw)
    return _prepared(raw, now)


def with_extra_mid(prep: Prepared, mid: str, *, now: int) -> Prepared:
    """Append a generated ``Message-ID`` header (public-inbox keeps the
    original header and adds the new one after it)."""
    return _prepared(parse.append_header(prep.raw, "Message-ID", f"<{mid}>"), now)


def parse_for_index(raw: bytes, blob: str, *, fallback_ds: int, fallback_ts: int) -> Parsed:
    """Overview fields of a blob found in git; times fall back to the
    commit's author/committer times when no header parses."""
    m = meta.extract_meta(raw, fallback_ts, fallback_ds=fallback_ds)
    return Parsed(
        blob=blob,
        mids=tuple(m.mids),
        references=tuple(m.references),
        subject=m.subject,
        subject_path=subject_path(m.subject) if m.subject else "",
        from_=m.from_,
        to=m.to,
        cc=m.cc,
        ts=m.ts,
        ds=m.ds,
        size=len(raw),
        lines=_lines(raw),
    )


def content_key(raw: bytes) -> bytes:
    """Dedupe key: public-inbox's content hash."""
    return hashing.content_hash(raw)


def generated_mid(raw: bytes, ds: int) -> Iterator[str]:
    """Message-IDs to try, in public-inbox's order: from the content hash,
    then with the Received: headers added, then with random data."""
    dig = hashing.content_digest(raw)
    yield hashing.digest2mid(dig, raw)
    for value in parse.Headers(raw).raw("Received"):
        dig.update(f"Received: {value}".encode("utf-8", "surrogateescape"))
    yield hashing.digest2mid(dig, raw)
    while True:
        dig.update(os.urandom(16))
        yield hashing.digest2mid(dig, raw)
