"""Splitting raw mail into header and body, and reading header fields.

This module reproduces how public-inbox 1.9's ``Eml`` reads a message: how
the header block is separated from the body (:func:`parse_layout`), how a
field is found and unfolded (``header_raw``: :func:`header_raw`,
:meth:`Headers.raw_bytes`), and how it is decoded (``header_str``:
:meth:`Headers.perl_decoded`: RFC 2047 for Subject, Content-Description and
Content-Type, per address phrase and comment for address fields).
Everything works on bytes and never raises for hostile input.

Values are Perl strings (:mod:`pubinbox.mail.perlstr`): the latin-1 view of
the header bytes, plus the utf8 flag once decoded.  public-inbox decodes a
header the same way on every path (its one decoder,
:mod:`pubinbox.mail.encwords`); the paths differ in what they do with
the result, which :meth:`Headers.decoded` names with its ``utf8`` parameter.
Rewriting headers before a message is stored lives in
:mod:`pubinbox.mail.rewrite`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pubinbox import native
from pubinbox.mail import address
from pubinbox.mail.encwords import mime_header_decode
from pubinbox.mail.perlstr import PerlStr, friendly_bytes, latin1, perl_utf8_decode

__all__ = [
    "HEADER_SIZE_LIMIT",
    "Headers",
    "Layout",
    "field_pattern",
    "header_and_body_at",
    "header_raw",
    "header_str",
    "index_fields_py",
    "line_counts",
    "line_counts_py",
    "parse_layout",
    "split_message",
    "strip_from_line",
    "unfolded_fields_py",
    "whole_header",
]

#: headers larger than this are truncated at the last complete line (postfix)
HEADER_SIZE_LIMIT = 102400

_FROM_LINE = re.compile(rb"\A[\r\n]*From [^\r\n]*\r?\n")
_HEADERISH = re.compile(rb"^[a-z0-9-]+[ \t]*:", re.IGNORECASE | re.MULTILINE)
_FINAL_EOL = re.compile(rb"(\r?\n)\Z")
_ANY_EOL = re.compile(rb"\r?\n")
_FOLD = re.compile(rb"\r?\n[ \t]*")


def strip_from_line(raw: bytes) -> bytes:
    """Remove a leading mbox ``From `` line (and blank lines before it)."""
    return _FROM_LINE.sub(b"", raw, count=1)


@dataclass(frozen=True, slots=True)
class Layout:
    """A message as public-inbox's Eml sees it.

    ``body`` is None when the message has no body at all (no blank line);
    ``eol`` is the line ending of the blank separator line, re-emitted when
    the message is serialised again.
    """

    header: bytes
    body: bytes | None
    eol: bytes

    def as_bytes(self) -> bytes:
        """Serialise exactly like ``Eml->as_string``."""
        if self.body is None:
            return self.header
        return self.header + self.eol + self.body


def _truncate_header(hdr: bytes) -> bytes:
    if len(hdr) <= HEADER_SIZE_LIMIT:
        return hdr
    cut = hdr[:HEADER_SIZE_LIMIT]
    end = cut.rfind(b"\n")
    return cut[: end + 1] if end >= 0 else b""


def _blank_line_py(raw: bytes) -> tuple[int, bytes] | None:
    """(end, eol) of the first ``\r?\n(\r?\n)`` match, found with bytes.find
    (the regex has no literal prefix and scans ~10x slower)."""
    k1 = raw.find(b"\n\n")
    stop = k1 + 2 if k1 >= 0 else len(raw)
    # most mail has no CR at all: one memchr instead of a second scan
    k2 = raw.find(b"\n\r\n", 0, stop) if raw.find(b"\r", 0, stop) >= 0 else -1
    if k2 >= 0:
        return k2 + 3, b"\r\n"
    if k1 >= 0:
        return k1 + 2, b"\n"
    return None


def whole_header(raw: bytes) -> bytes:
    """The entire header block, however long (:func:`parse_layout` cuts it
    where public-inbox's parser stops reading)."""
    blank = _blank_line(raw)
    return raw[: blank[0]] if blank is not None else raw


def parse_layout(raw: bytes) -> Layout:
    """Split ``raw`` into header block, body and separator line ending."""
    blank = _blank_line(raw)
    if blank is not None:
        end, eol = blank
        hdr = raw[: end - len(eol)]
        return Layout(_truncate_header(hdr), raw[end:], eol)
    fe = _FINAL_EOL.search(raw)
    if _HEADERISH.search(raw) and fe is not None:
        # header only, the body is optional
        hdr = raw[: HEADER_SIZE_LIMIT + 1]
        return Layout(_truncate_header(hdr), None, fe.group(1))
    e = _ANY_EOL.search(raw)
    return Layout(b"", raw, e.group(0) if e else b"\n")


def header_and_body_at(raw: bytes) -> tuple[bytes, int]:
    """The header block as :func:`parse_layout` cuts it and the offset
    where the body starts (``len(raw)`` when there is none), without
    copying the body."""
    blank = _blank_line(raw)
    if blank is not None:
        end, eol = blank
        return _truncate_header(raw[: end - len(eol)]), end
    lay = parse_layout(raw)
    return lay.header, len(raw) - len(lay.body or b"")


def split_message(raw: bytes) -> tuple[bytes, bytes]:
    """Header block (ending with its last line's EOL) and body (may be empty)."""
    lay = parse_layout(raw)
    return lay.header, lay.body if lay.body is not None else b""


@functools.lru_cache(maxsize=256)
def field_pattern(name: str) -> re.Pattern[bytes]:
    """``Eml::re_memo``: one field and its continuation lines."""
    n = re.escape(name.encode("latin-1", "replace"))
    return re.compile(
        rb"^" + n + rb":[ \t]*([^\n]*\r?\n(?:[^:\n]*?[ \t]+[^\n]*\r?\n)*)",
        re.IGNORECASE | re.MULTILINE,
    )


def _unfold(v: bytes) -> bytes:
    # bytes.strip() strips exactly the bytes \s matches in a bytes pattern
    v = v.strip()
    return _FOLD.sub(b" ", v) if b"\n" in v else v


# Every field at once, with the same value rule as field_pattern: for any name
# without white space (the only ones looked up) this finds exactly what
# field_pattern(name) finds, because a continuation line always has white space
# before its first colon and so can never start a field of such a name.
# (a continuation line has a blank before its first colon, written so the
# regex engine never backtracks: "[^:\n \t]*[ \t]")
_ANY_FIELD = re.compile(rb"^([^:\n]+):[ \t]*([^\n]*\r?\n(?:[^:\n \t]*[ \t][^\n]*\r?\n)*)", re.MULTILINE)


def index_fields_py(header: bytes, only: tuple[bytes, ...] | None = None) -> dict[bytes, list[bytes]]:
    """{lower-case field name: [values, still folded]} in one pass; with
    *only* (lower-case names of at most 64 bytes), just those fields
    (``_native.index_fields`` is this, in C)."""
    out: dict[bytes, list[bytes]] = {}
    for name, value in _ANY_FIELD.findall(header):
        key = name.lower()
        if only is not None and key not in only:
            continue
        got = out.get(key)
        if got is None:
            out[key] = [value]
        else:
            got.append(value)
    return out


def line_counts_py(raw: bytes, at: int) -> tuple[int, int, int]:
    """``(raw.count(b"\\n"), raw.count(b"\\n", at), raw.count(b"\\r\\n"))``
    (:func:`line_counts` is this, in C when it is built)."""
    # most mail has no CR: one memchr instead of a third scan
    crlf = raw.count(b"\r\n") if raw.find(b"\r") >= 0 else 0
    return raw.count(b"\n"), raw.count(b"\n", max(at, 0)), crlf


def unfolded_fields_py(header: bytes, only: tuple[bytes, ...] | None = None) -> dict[bytes, list[bytes]]:
    """:func:`index_fields_py` with each value unfolded and trimmed
    (``header_raw``'s values)."""
    return {k: [_unfold(v) for v in vs] for k, vs in index_fields_py(header, only).items()}


_C = native.load()
#: how :class:`Headers` indexes a header block: in C, every value unfolded
#: at once (cheaper there than finding which are needed); in Python,
#: folded, and only the values asked for are unfolded
_INDEX_UNFOLDED = _C is not None


def _header_index(header: bytes, only: tuple[bytes, ...] | None) -> dict[bytes, list[bytes]]:
    if _C is None:
        return index_fields_py(header, only)
    got: dict[bytes, list[bytes]] = _C.index_fields(header, True, only)
    return got


@functools.lru_cache(maxsize=64)
def _as_tuple(only: frozenset[bytes]) -> tuple[bytes, ...]:
    return tuple(sorted(only))


#: field name -> the index's key (the names looked up are a few dozen)
_KEYS: dict[str, bytes] = {}
#: no values (shared: callers of Headers._values must not change a list)
_NONE: list[bytes] = []


def _field_key(name: str) -> bytes:
    key = _KEYS.get(name)
    if key is None:
        key = name.lower().encode("ascii", "replace")
        if len(_KEYS) < 1024:
            _KEYS[name] = key
    return key


line_counts: Callable[[bytes, int], tuple[int, int, int]] = _C.line_counts if _C else line_counts_py
#: (end, eol) of the blank line that ends the header (:func:`_blank_line_py`)
_blank_line: Callable[[bytes], tuple[int, bytes] | None] = _C.blank_line if _C else _blank_line_py


def header_raw(header: bytes, name: str) -> list[bytes]:
    """All values of field *name* in a header block, like ``Eml::header_raw``:
    case-insensitive, in order, unfolded and trimmed."""
    return [_unfold(v) for v in field_pattern(name).findall(header)]


# ---------------------------------------------------------------- headers

_ADDRESS_FIELDS = {
    f.lower() for base in ("From", "To", "Cc", "Sender", "Reply-To", "Bcc") for f in (base, "Resent-" + base)
}
_FULL_FIELDS = {"subject", "content-description", "content-type"}


def _decode_address_value(v: str) -> PerlStr:
    """``Eml::xs_addr_str``: decode each phrase, comment and group name,
    then format the list again (Email::Address::XS)."""
    if "=?" not in v:
        return v, False
    return _decode_encoded_addresses(v)


@functools.lru_cache(maxsize=8192)
def _decode_encoded_addresses(v: str) -> PerlStr:
    # memoised: parsing and formatting the list again is costly, and the
    # same encoded names come back in every reply of a thread
    groups = address.parse_groups(v, False)
    flagged = False
    fixed: list[tuple[str | None, list[address.Mailbox]]] = []
    for gname, members in groups:
        if gname is not None and "=?" in gname:
            gname, f = mime_header_decode(gname)
            flagged |= f
        new_members = []
        for mb in members:
            phrase, comment = mb.phrase, mb.comment
            if phrase and "=?" in phrase:
                phrase, f = mime_header_decode(phrase)
                flagged |= f
            if comment and "=?" in comment:
                comment, f = mime_header_decode(comment)
                flagged |= f
            new_members.append(address.Mailbox(phrase, mb.user, mb.host, comment))
        fixed.append((gname, new_members))
    out = address.format_groups(fixed)
    # the XS formatter decodes its output as UTF-8 when any input was a
    # character string, which leaves the flag off on ASCII
    return out, flagged and not out.isascii()


def _header_str(name: str, values: list[str]) -> list[PerlStr]:
    """``Eml::header_str`` of *name* over its raw values (latin-1 view)."""
    key = name.lower()
    if key in _ADDRESS_FIELDS:
        return [_decode_address_value(v) for v in values]
    if key in _FULL_FIELDS:
        return [mime_header_decode(v) if "=?" in v else (v, False) for v in values]
    return [(v, False) for v in values]


def header_str(header: bytes, name: str) -> list[PerlStr]:
    """``Eml::header_str`` on a header block (see :meth:`Headers.perl_decoded`)."""
    return _header_str(name, [latin1(v) for v in header_raw(header, name)])


class Headers:
    """Read-only view of a message's header block.

    Lookups are case-insensitive and return every occurrence in order.
    *only* (lower-case field names, each at most 64 bytes) are the fields
    the caller expects to read: the header block is indexed for those only
    (a list message has four times as many), and again in full the first
    time another is asked for.
    """

    __slots__ = ("_fields", "_hdr", "_latin", "_memo", "_only")

    def __init__(self, raw: bytes, *, header_only: bool = False, only: frozenset[bytes] | None = None) -> None:
        self._hdr = raw if header_only else parse_layout(raw).header
        self._fields: dict[bytes, list[bytes]] | None = None
        self._memo: dict[str, list[bytes]] = {}
        self._latin: dict[str, list[str]] = {}
        self._only = only

    @property
    def block(self) -> bytes:
        """The raw header block (possibly truncated at 100 KiB)."""
        return self._hdr

    def _index(self, key: bytes) -> dict[bytes, list[bytes]]:
        """The index of the header block, made (again, in full) when field
        *key* is not one it was made for."""
        only = self._only
        if only is not None and key not in only:
            self._fields = None  # indexed for *only*: index it all
            self._only = only = None
        fields = self._fields
        if fields is None:
            fields = self._fields = _header_index(self._hdr, None if only is None else _as_tuple(only))
        return fields

    def _indexed(self, name: str) -> list[bytes]:
        """The values of *name* as :data:`_header_index` gives them."""
        key = _field_key(name)
        return self._index(key).get(key) or _NONE

    def _values(self, name: str) -> list[bytes]:
        """The ``header_raw`` values (callers must not change the list)."""
        if _INDEX_UNFOLDED:  # the index has them: the usual way, kept short
            key = _KEYS.get(name) or _field_key(name)
            fields = self._fields
            if fields is None or (self._only is not None and key not in self._only):
                fields = self._index(key)
            return fields.get(key) or _NONE
        got = self._memo.get(name)
        if got is None:
            got = self._memo[name] = [_unfold(v) for v in self._indexed(name)]
        return got

    def raw_values(self, name: str) -> list[bytes]:
        """:meth:`raw_bytes` without the copy (callers must not change it)."""
        return self._values(name)

    def raw_bytes(self, name: str) -> list[bytes]:
        """``header_raw`` values as exact bytes (unfolded and trimmed)."""
        return list(self._values(name))

    def perl_raw_iter(self, name: str) -> Iterator[str]:
        """:meth:`perl_raw` one value at a time, each unfolded only when
        reached (``Received:`` is long and usually only its first value is
        read)."""
        got = self._memo.get(name)
        if got is not None:
            for v in got:
                yield v.decode("latin-1")
            return
        for v in self._indexed(name):
            yield (v if _INDEX_UNFOLDED else _unfold(v)).decode("latin-1")

    def raw(self, name: str) -> list[str]:
        """``header_raw`` values; each decoded as UTF-8, else latin-1."""
        return [friendly_bytes(v) for v in self._values(name)]

    def perl_raw(self, name: str) -> list[str]:
        """``header_raw`` values as Perl byte strings (latin-1 view);
        memoised (callers must not change the list): Message-ID, From, To
        and Cc are each read by several parts of a parse."""
        got = self._latin.get(name)
        if got is None:
            got = self._latin[name] = [v.decode("latin-1") for v in self._values(name)]
        return got

    def perl_decoded(self, name: str) -> list[PerlStr]:
        """``header_str`` values as Perl strings with their utf8 flag.

        What every public-inbox path gets from ``$eml->header($name)``.
        """
        return _header_str(name, self.perl_raw(name))

    def decoded(self, name: str, *, utf8: bool = True) -> list[str]:
        """``header_str`` values as text: RFC 2047 decoded (addresses per address).

        The paths of public-inbox differ only in what they do with bytes no
        encoded word covered (raw 8-bit text).  ``utf8=True``: each value
        goes through ``utf8::decode``, so they read as UTF-8 when the value
        is valid UTF-8 as a whole, else as latin-1: what Smsg stores in the
        overview and the search index (for a single value) and what our
        pages show.  ``utf8=False``: the ``header_str`` characters
        themselves, raw bytes as latin-1: what public-inbox's content hash
        UTF-8-encodes and what its message page prints.
        """
        if not utf8:
            return [v for v, _ in self.perl_decoded(name)]
        return [perl_utf8_decode(v, f)[0] for v, f in self.perl_decoded(name)]

    def names(self) -> list[str]:
        """Field names in order of appearance (continuation lines skipped)."""
        out: list[str] = []
        for line in self._hdr.split(b"\n"):
            if not line or line[:1] in (b" ", b"\t"):
                continue
            k, sep, _ = line.partition(b":")
            if sep and k and not re.search(rb"[ \t]", k.rstrip(b" \t")):
                out.append(latin1(k.rstrip(b" \t")))
        return out
