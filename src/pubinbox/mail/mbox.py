"""Streaming mbox reading and public-inbox compatible mboxrd writing.

Reading (:func:`iter_mbox`, :func:`iter_mbox_entries`) handles mboxrd,
mboxo, mboxcl and mboxcl2, one message at a time, without seeking (pipes and
gzip streams work), and never holds more than one message in memory.  Every
message comes back as its original bytes: the ``From `` separator line and the
one blank line the mbox format appends after each message are removed, the
``>From `` quoting of the chosen format is undone, and nothing else is
touched (CRLF stays CRLF, a missing final newline stays missing).

Detection rules (``fmt="auto"``), applied from the start of the stream:

1. Leading lines holding only spaces, tabs, CR or LF are looked past.
2. If the first other line starts with ``From `` the stream is an mbox and
   that line is the first separator, whatever follows ``From ``.  Later
   separators must look like a real ``From_`` line (public-inbox's strict
   pattern: ``From SENDER DAY MON DD HH:MM:SS YEAR``, extra fields such as a
   time zone allowed; or a bare ``From -`` as gmime writes), so ordinary body lines that begin with ``From `` in an
   unescaped mboxo/mboxcl2 body do not split a message.
3. If the first other line looks like a header field (``Name:``, optionally
   behind a UTF-8 BOM) or is an mbox-quoted ``>From `` envelope line, the
   stream is a single message (an .eml): it is yielded whole and verbatim,
   leading whitespace included, and never split.
4. Anything else is garbage before the mailbox: it is skipped up to the first
   strict separator line.  If no separator ever comes, the whole stream is
   yielded as one message (nothing is lost).

Then, for each message of an mbox, in ``auto`` mode:

* a separator whose sender names the format, as public-inbox and lei write
  them (``From mboxrd@z ...``, ``From mboxrd@git ...``, ``From OID@mboxcl2
  ...``: a ``FORMAT@`` prefix or an ``@FORMAT`` suffix), selects that format;
* otherwise, a message with exactly one numeric ``Content-Length`` header that
  is *consistent* (the given number of body bytes is followed only by blank
  lines and then EOF or a strict separator line) is read as mboxcl2: exactly
  that many body bytes, no unescaping (mboxcl2 is the lossless choice; pass
  ``fmt="mboxcl"`` for mutt-style files that also ``>From``-quote);
* otherwise the message runs to the next strict separator and is unescaped
  as mboxrd (one ``>`` is removed from every ``>+From `` line).  mboxrd
  unescaping is public-inbox's own output format and undoes mboxo's escaping
  of ``From `` lines identically; it differs only on ``>>From `` lines, which
  an mboxo writer never produces from a ``From `` line.

Explicit formats: ``mboxrd`` and ``mboxo`` split on separator lines only
(``mboxo`` removes a ``>`` from ``>From `` lines only); ``mboxcl2`` and
``mboxcl`` use Content-Length when it is consistent and fall back to the next
separator line when it is missing or wrong (``mboxcl`` then un-quotes
``>From `` lines of the body as mboxo does).  A message that is empty or
holds only whitespace is skipped, as public-inbox does.

Trailing newline rule: after a separator-delimited message, one final line
that is empty (``\\n`` or ``\\r\\n``) is removed, the blank line the writer
added.  So ``iter_mbox(mboxrd_bytes(m))`` gives back ``m`` exactly when ``m``
ends with ``\\n``, and ``m + b"\\n"`` when it does not (mboxrd cannot store a
message without a final newline; public-inbox behaves the same), provided
``m`` holds something other than whitespace.

Writing (:func:`mboxrd_bytes`, :func:`write_mboxrd`, :func:`gzip_mboxrd`)
matches public-inbox's ``PublicInbox::Mbox`` output: the separator line
``From mboxrd@z Thu Jan  1 00:00:00 1970``, ended like the message's header
ends (CRLF for CRLF messages), the message with every ``>*From `` line given one more ``>``, a
``\\n`` if the message lacks a final newline, then one blank ``\\n``.  Unlike
public-inbox no header is dropped (public-inbox removes Lines, Bytes,
Content-Length and Status, and a stray leading ``From `` line) and header
lines are quoted too, so the round trip is lossless.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, NamedTuple

from pubinbox import deflate
from pubinbox.errors import InputError

__all__ = [
    "FORMATS",
    "MboxEntry",
    "gzip_mboxrd",
    "iter_mbox",
    "iter_mbox_entries",
    "mboxrd_bytes",
    "write_mboxrd",
]

#: the values ``fmt`` may take
FORMATS = ("auto", "mboxrd", "mboxo", "mboxcl", "mboxcl2")

#: a Content-Length larger than this is never trusted (it would make us read
#: that much ahead just to check it)
MAX_CONTENT_LENGTH = 256 * 1024 * 1024

#: public-inbox's strict From_ line (MboxReader.pm ``$from_strict``), or the
#: bare ``From -`` line of gmime/Mozilla tools; a line cut short by EOF counts
_FROM_STRICT = re.compile(
    rb"From (?:\S+ +\S+ \S+ +\S+ [^\n:]+:[^\n:]+:[^\n:]+ [^\n:]+|-[ \t\r]*)"
    rb"(?:\n|\Z)"
)
_HEADER_LINE = re.compile(rb"(?:\xef\xbb\xbf)?[!-9;-~]+[ \t]*:|>+From ")
_CONTENT_LENGTH = re.compile(rb"content-length[ \t]*:", re.IGNORECASE)
_CONTENT_LENGTH_VALUE = re.compile(rb"content-length[ \t]*:[ \t]*([0-9]+)[ \t]*\r?\n", re.IGNORECASE)
_ESCAPE = re.compile(rb"^(>*From )", re.MULTILINE)
_MBOXO_UNESCAPE = re.compile(rb"^>(From )", re.MULTILINE)
_MBOXRD_UNESCAPE = re.compile(rb"^>(>*From )", re.MULTILINE)
_ANY_CONTENT_LENGTH = re.compile(rb"content-length", re.IGNORECASE)
#: bytes read from the stream at a time
_CHUNK = 1 << 20
_WHITESPACE = b" \t\r\n"
_BLANK = (b"\n", b"\r\n")
_SEPARATOR = b"From mboxrd@z Thu Jan  1 00:00:00 1970"
_HEADER_END = re.compile(rb"\r?\n(\r?\n)")
_EOL = re.compile(rb"\r?\n")


class MboxEntry(NamedTuple):
    """One message read from a stream, with where it started."""

    #: byte offset of its ``From `` separator line in the (uncompressed)
    #: stream, or of its first byte for a single message
    offset: int
    #: the message's original bytes
    raw: bytes
    #: False when the stream was one message without a ``From `` line
    separated: bool


class _Input:
    """A line reader over a binary stream that can push bytes back."""

    __slots__ = ("_buf", "_fp", "_pos", "offset")

    def __init__(self, fp: BinaryIO) -> None:
        self._fp = fp
        self._buf = b""
        self._pos = 0
        #: bytes consumed so far
        self.offset = 0

    def readline(self) -> bytes:
        if self._pos < len(self._buf):
            i = self._buf.find(b"\n", self._pos)
            if i >= 0:
                line = self._buf[self._pos : i + 1]
                self._pos = i + 1
                if self._pos == len(self._buf):
                    self._buf = b""
                    self._pos = 0
            else:
                line = self._buf[self._pos :]
                self._buf = b""
                self._pos = 0
                line += self._fp.readline()
        else:
            line = self._fp.readline()
        self.offset += len(line)
        return line

    def read(self, n: int) -> bytes:
        """Read up to ``n`` bytes; fewer only at EOF."""
        parts: list[bytes] = []
        if self._pos < len(self._buf):
            part = self._buf[self._pos : self._pos + n]
            self._pos += len(part)
            if self._pos == len(self._buf):
                self._buf = b""
                self._pos = 0
            parts.append(part)
            n -= len(part)
        while n > 0:
            part = self._fp.read(n)
            if not part:
                break
            parts.append(part)
            n -= len(part)
        data = b"".join(parts)
        self.offset += len(data)
        return data

    def read_rest(self) -> bytes:
        data = self._buf[self._pos :] + self._fp.read()
        self._buf = b""
        self._pos = 0
        self.offset += len(data)
        return data

    def _fill(self) -> bool:
        """Append the next chunk of the stream to the buffer (the consumed
        part is dropped); False at EOF."""
        # read1: what the stream has at hand (a gzip stream decompresses
        # one block), so the messages before a damaged part still come out
        read = getattr(self._fp, "read1", None) or self._fp.read
        data = read(_CHUNK)
        if not data:
            return False
        self._buf = self._buf[self._pos :] + data
        self._pos = 0
        return True

    def until_separator(self) -> tuple[bytes, bytes | None]:
        """Everything up to the next strict separator line (the lines
        :func:`_scan` would read, found with bytes.find instead of line by
        line), and that line, or None at EOF."""
        parts: list[bytes] = []
        eof = False
        while True:
            buf, start = self._buf, self._pos
            n = len(buf)
            i = start  # always at the start of a line
            keep = -1  # where an incomplete line starts
            while i < n:
                if buf.startswith(b"From ", i):
                    j = buf.find(b"\n", i)
                    if j < 0 and not eof:
                        keep = i
                        break
                    end = n if j < 0 else j + 1
                    if _FROM_STRICT.match(buf, i, end):
                        parts.append(buf[start:i])
                        self._pos = end
                        self.offset += end - start
                        return b"".join(parts), buf[i:end]
                k = buf.find(b"\nFrom ", i)
                if k < 0:
                    break
                i = k + 1
            if eof:
                parts.append(buf[start:])
                self._buf, self._pos = b"", 0
                self.offset += n - start
                return b"".join(parts), None
            if keep < 0:  # the last line may be the start of a separator
                keep = buf.rfind(b"\n", start) + 1 or start
            parts.append(buf[start:keep])
            self.offset += keep - start
            self._pos = keep
            eof = not self._fill()

    def header_block(self) -> bytes | None:
        """The bytes up to the first line that is only ``\\n`` or ``\\r\\n``
        (what :func:`_try_content_length` reads as the header), without
        consuming them; None when it is not in the next few MiB."""
        while True:
            buf, pos = self._buf, self._pos
            if buf.startswith(b"\n", pos) or buf.startswith(b"\r\n", pos):
                return b""
            k1 = buf.find(b"\n\n", pos)
            k2 = buf.find(b"\n\r\n", pos, k1 if k1 >= 0 else len(buf))
            k = k2 if k2 >= 0 else k1
            if k >= 0:
                return buf[pos : k + 1]
            if len(buf) - pos > 4 * _CHUNK or not self._fill():
                return None

    def unread(self, data: bytes) -> None:
        if data:
            self._buf = data + self._buf[self._pos :]
            self._pos = 0
            self.offset -= len(data)


def _is_separator(line: bytes) -> bool:
    return line.startswith(b"From ") and _FROM_STRICT.match(line) is not None


def _is_blank(line: bytes) -> bool:
    return not line.strip(_WHITESPACE)


def _hinted_format(separator: bytes) -> str | None:
    """The format a public-inbox/lei/b4 separator line names, if any."""
    fields = separator.split(None, 2)
    if len(fields) < 2:
        return None
    sender = fields[1]
    for fmt in ("mboxrd", "mboxcl2", "mboxcl", "mboxo"):
        name = fmt.encode()
        if sender.startswith(name + b"@") or sender.endswith(b"@" + name):
            return fmt
    return None


def _scan(inp: _Input, unescape: str | None) -> tuple[bytes, bytes | None]:
    """Read one message up to the next separator line (or EOF).

    Returns the message (unescaped, final blank line removed) and the
    separator line that ended it, or None at EOF.
    """
    data, separator = inp.until_separator()
    if unescape is not None and b">From " in data:
        pattern = _MBOXRD_UNESCAPE if unescape == "mboxrd" else _MBOXO_UNESCAPE
        data = pattern.sub(rb"\1", data)
    # the blank line the writer added after the message
    if data.endswith(b"\n\n") or data == b"\n":
        data = data[:-1]
    elif data.endswith(b"\n\r\n") or data == b"\r\n":
        data = data[:-2]
    return data, separator


def _try_content_length(inp: _Input, unescape_body: bool) -> tuple[bytes, bytes | None] | None:
    """Read one message delimited by a consistent Content-Length header.

    On success returns the message and the separator line that follows it
    (None at EOF).  Otherwise everything read is pushed back and None is
    returned.
    """
    consumed: list[bytes] = []
    length: int | None = None
    seen = 0
    while True:
        line = inp.readline()
        if not line:
            inp.unread(b"".join(consumed))
            return None
        if line.startswith(b"From ") and _is_separator(line):
            consumed.append(line)
            inp.unread(b"".join(consumed))
            return None
        consumed.append(line)
        if line in _BLANK:
            break
        if line[:1] in (b"C", b"c") and _CONTENT_LENGTH.match(line):
            seen += 1
            m = _CONTENT_LENGTH_VALUE.fullmatch(line)
            length = int(m.group(1)) if m else None
    if seen != 1 or length is None or length > MAX_CONTENT_LENGTH:
        inp.unread(b"".join(consumed))
        return None
    header = b"".join(consumed)
    body = inp.read(length)
    consumed.append(body)
    separator: bytes | None = None
    ok = len(body) == length
    while ok:
        line = inp.readline()
        if not line:
            break
        consumed.append(line)
        if line in _BLANK:
            continue
        if _is_separator(line):
            separator = line
        else:
            ok = False
        break
    if not ok:
        inp.unread(b"".join(consumed))
        return None
    if unescape_body:
        body = _MBOXO_UNESCAPE.sub(rb"\1", body)
    return header + body, separator


def iter_mbox_entries(fp: BinaryIO, fmt: str = "auto") -> Iterator[MboxEntry]:
    """Yield every message of ``fp`` with its offset; see the module docs.

    Read errors of ``fp`` (:class:`OSError`, :class:`EOFError` of a truncated
    gzip stream, ...) propagate; callers that know the file name turn them
    into :class:`~pubinbox.errors.InputError`.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown mbox format {fmt!r} (expected one of {', '.join(FORMATS)})")
    inp = _Input(fp)
    leading: list[bytes] = []
    while True:
        line = inp.readline()
        if not line:
            return  # empty, or whitespace only
        if not _is_blank(line):
            break
        leading.append(line)
    offset = inp.offset - len(line)
    separator: bytes | None
    if line.startswith(b"From "):
        separator = line
    elif _HEADER_LINE.match(line):
        yield MboxEntry(0, b"".join(leading) + line + inp.read_rest(), False)
        return
    else:  # garbage before the first separator
        leading.append(line)
        while True:
            line = inp.readline()
            if not line:
                yield MboxEntry(0, b"".join(leading), False)
                return
            if _is_separator(line):
                break
            leading.append(line)
        separator = line
        offset = inp.offset - len(line)
    del leading

    while separator is not None:
        mode = fmt
        if mode == "auto":
            mode = _hinted_format(separator) or "auto"
        result: tuple[bytes, bytes | None] | None = None
        if mode in ("auto", "mboxcl", "mboxcl2"):
            hdr = inp.header_block()
            # the usual message has no Content-Length: no line-by-line look
            if hdr is None or _ANY_CONTENT_LENGTH.search(hdr):
                result = _try_content_length(inp, mode == "mboxcl")
        if result is None:
            unescape = {
                "auto": "mboxrd",
                "mboxrd": "mboxrd",
                "mboxo": "mboxo",
                "mboxcl": "mboxo",
                "mboxcl2": None,
            }[mode]
            result = _scan(inp, unescape)
        raw, separator = result
        if not _is_blank(raw):
            yield MboxEntry(offset, raw, True)
        if separator is not None:
            offset = inp.offset - len(separator)


def iter_mbox(fp: BinaryIO, fmt: str = "auto") -> Iterator[bytes]:
    """Yield the original bytes of every message in ``fp``.

    ``fmt`` is one of :data:`FORMATS`; the detection and unescaping rules are
    in the module documentation.
    """
    for entry in iter_mbox_entries(fp, fmt):
        yield entry.raw


def _eol(msg: bytes) -> bytes:
    """The line ending public-inbox's Eml would pick for ``msg``."""
    if b"\r" not in msg:
        # no CR at all (most mail): always LF.  One memchr; a two-byte
        # search like b"\r\n" in msg scans ~10x slower
        return b"\n"
    if b"\r\n" not in msg and b"\n\n" in msg:
        return b"\n"
    m = _HEADER_END.search(msg)
    if m:
        return m.group(1)
    m = _EOL.search(msg)
    return m.group(0) if m else b"\n"


def mboxrd_bytes(msg: bytes) -> bytes:
    """Return ``msg`` as one mboxrd entry, exactly as public-inbox writes it."""
    # most messages have no "From " line at all: skip the line-by-line scan
    body = _ESCAPE.sub(rb">\1", msg) if b"From " in msg else msg
    tail = b"\n" if body.endswith(b"\n") else b"\n\n"
    return b"".join((_SEPARATOR, _eol(msg), body, tail))  # one copy of the body, not three


def write_mboxrd(msg: bytes, out: BinaryIO) -> None:
    """Write ``msg`` to ``out`` as one mboxrd entry (see :func:`mboxrd_bytes`)."""
    out.write(mboxrd_bytes(msg))


def gzip_mboxrd(
    msgs: Iterable[bytes],
    *,
    level: int = 6,
    chunk_size: int = 65536,
    entry: Callable[[bytes], bytes] | None = None,
) -> Iterator[bytes]:
    """Yield a gzip-compressed mboxrd of ``msgs``, chunk by chunk.

    Messages are consumed lazily; compressed output is yielded whenever at
    least ``chunk_size`` bytes are ready, and the rest at the end.  The gzip
    header carries no name and a zero mtime, so output is deterministic.
    *entry* turns one message into its mbox entry (default
    :func:`mboxrd_bytes`).
    """
    entry = entry or mboxrd_bytes
    z = deflate.compressobj(level, deflate.GZIP)
    pending: list[bytes] = []
    size = 0
    for msg in msgs:
        out = z.compress(entry(msg))
        if out:
            pending.append(out)
            size += len(out)
            if size >= chunk_size:
                yield b"".join(pending)
                pending = []
                size = 0
    pending.append(z.flush())
    yield b"".join(pending)
