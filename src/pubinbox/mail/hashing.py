"""Content hash and generated Message-IDs compatible with public-inbox.

``content_chunks`` yields exactly the byte chunks
PublicInbox::ContentHash::content_digest feeds to SHA-256: References and
In-Reply-To ids minus the message's own (:mod:`pubinbox.mail.msgid`),
From or Sender, Subject, Date, To, Cc as ``header_str`` gives them
(:meth:`~pubinbox.mail.parse.Headers.perl_decoded`), then per MIME part
(:mod:`pubinbox.mail.mime`) its depth and index path, file name,
descriptions and ``msg_part_text`` or raw body.  What makes it this path's
and not the page's is the Perl string handling, kept here: a header value
is ``utf8::encode``-d as it is, so raw 8-bit bytes are encoded a second
time (latin-1 upgrade), and ``\\s``/``lc`` in the address rule are ASCII
on a byte string and Unicode on a decoded one.  ``digest2mid`` builds the
``YYYYMMDDHHMMSS.<b64>@z`` Message-ID public-inbox appends when a
Message-ID is reused for different content.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Iterator

from pubinbox.mail.dates import msg_datestamp
from pubinbox.mail.mime import Part, iter_parts
from pubinbox.mail.msgid import mids_perl, references_perl
from pubinbox.mail.parse import Headers, header_str, parse_layout
from pubinbox.mail.perlstr import ASCII_SPACE, UNICODE_SPACE, perl_utf8_encode

__all__ = ["HASHED_FIELDS", "content_chunks", "content_digest", "content_hash", "content_inputs", "digest2mid"]

#: every field :func:`content_chunks` reads from a message's header (the
#: message's own, and the top-level part's in :func:`iter_parts`)
HASHED_FIELDS = (
    "Message-ID", "References", "In-Reply-To", "From", "Sender", "Subject", "Date", "To", "Cc",
    "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Content-Description",
)  # fmt: skip

# digest_addr: s/@([a-z0-9\_\.\-\(\)]*([A-Z])\S*)/'@'.lc($1)/ge
_AT_LC = {
    True: re.compile("@([a-z0-9_.\\-()]*([A-Z])[^" + UNICODE_SPACE + "]*)"),
    False: re.compile("@([a-z0-9_.\\-()]*([A-Z])[^" + ASCII_SPACE + "]*)"),
}
_SQUEEZE = re.compile("[\r\n\t ]+")
_ASCII_LOWER = {c: c + 32 for c in range(65, 91)}


def _digest_addr(name: str, v: str, flagged: bool) -> bytes:
    """``digest_addr``: no quotes, blanks squeezed, domains lower-cased."""
    v = _SQUEEZE.sub(" ", v.replace('"', ""))
    if flagged:
        v = _AT_LC[True].sub(lambda m: "@" + m.group(1).lower(), v)
    else:
        v = _AT_LC[False].sub(lambda m: "@" + m.group(1).translate(_ASCII_LOWER), v)
    return name.encode() + b"\0" + perl_utf8_encode(v) + b"\0"


def _part_chunks(part: Part) -> Iterator[bytes]:
    """``content_dig_i`` for one part."""
    yield b"\0%d:%s\0" % (part.depth, part.idx_str.encode())
    if part.filename is not None:
        yield b"fn\0" + perl_utf8_encode(part.filename) + b"\0"
    for d, _ in header_str(part.header, "Content-Description"):
        yield b"d\0" + perl_utf8_encode(d) + b"\0"
    yield b"b\0"
    text = part.text()
    if text is None:
        yield part.decoded()
    else:
        s, flagged = text
        # s/\r\n/\n/gs; s/\s*\z//s
        yield perl_utf8_encode(s.replace("\r\n", "\n").rstrip(UNICODE_SPACE if flagged else ASCII_SPACE))


def content_chunks(raw: bytes) -> Iterator[bytes]:
    """The byte strings public-inbox feeds to SHA-256, in order."""
    h = Headers(raw)
    seen = set(mids_perl(h))
    for mid in references_perl(h):
        if mid not in seen:
            seen.add(mid)
            yield b"ref\0" + mid.encode("latin-1") + b"\0"
    for name in ("From", "Sender"):  # Sender only without From
        vals = h.perl_decoded(name)
        if vals:
            for v, flagged in vals:
                yield _digest_addr(name, v, flagged)
            break
    for name in ("Subject", "Date"):
        for v in h.decoded(name, utf8=False):
            yield name.encode() + b"\0" + perl_utf8_encode(v) + b"\0"
    for name in ("To", "Cc"):
        for v, flagged in h.perl_decoded(name):
            yield _digest_addr(name, v, flagged)
    for part in iter_parts(raw):
        yield from _part_chunks(part)


def content_inputs(raw: bytes) -> tuple[bytes, bytes | None, tuple[tuple[bytes, ...], ...]]:
    """All that :func:`content_hash` depends on: the header's line ending,
    the body, and the raw values of :data:`HASHED_FIELDS`.  Two messages
    with equal inputs have the same content hash (the same message stored
    twice, a copy differing in ``Received:`` or list headers), found
    without walking their MIME parts; unequal inputs say nothing."""
    lay = parse_layout(raw)
    h = Headers(lay.header, header_only=True)
    return lay.eol, lay.body, tuple(tuple(h.raw_bytes(name)) for name in HASHED_FIELDS)


def content_digest(raw: bytes) -> hashlib._Hash:
    """A SHA-256 object fed like PublicInbox::ContentHash::content_digest."""
    dig = hashlib.sha256()
    for c in content_chunks(raw):
        dig.update(c)
    return dig


def content_hash(raw: bytes) -> bytes:
    """The 32-byte content hash public-inbox uses for duplicate detection."""
    return content_digest(raw).digest()


def _gm_stamp(ts: int) -> str:
    try:
        return time.strftime("%Y%m%d%H%M%S", time.gmtime(ts))
    except (OverflowError, OSError, ValueError):
        return time.strftime("%Y%m%d%H%M%S", time.gmtime(0))


def digest2mid(raw: bytes, date_ts: int | None = None, digest: hashlib._Hash | None = None) -> str:
    """Generated Message-ID like PublicInbox::Import::digest2mid.

    *date_ts* is public-inbox's ``msg_datestamp`` of the message (Date:,
    else the first parseable Received:, else the import time); when None
    it is computed with :func:`pubinbox.mail.dates.msg_datestamp` (falling
    back to now).  *digest* lets callers pass an extended digest
    (public-inbox adds the Received: headers, then random data, when the
    first ID is taken).
    """
    dig = digest if digest is not None else content_digest(raw)
    b64 = base64.b64encode(dig.digest()).decode()
    b64 = b64.replace("+", "-").replace("/", "_").replace("=", "")
    ts = msg_datestamp(Headers(raw), int(time.time()))[0] if date_ts is None else date_ts
    return f"{_gm_stamp(ts)}.{b64}@z"
