"""Lenient splitting of raw mail into header and body, and header access.

This module reproduces the header semantics public-inbox 1.9 uses when it
stores mail (its ``Eml`` class): how the header block is separated from the
body, how a field is found and unfolded (``header_raw``), how it is decoded
(``header_str``: RFC 2047 for Subject-like fields, per address for address
fields), and how headers are removed or (re)written before the message
becomes a git blob.  Everything works on bytes and never raises for hostile
input.

Strings and bytes: Perl keeps header values as byte strings.  To reproduce
what public-inbox writes into commits we model a Perl string as a Python
``str`` whose code points are the Perl characters, so an undecoded header
byte ``b"\\xe9"`` is the character ``"\\xe9"`` (latin-1 view), plus a
``utf8`` flag where Perl semantics depend on it (see :func:`perl_utf8_decode`).
The public convenience accessors (:meth:`Headers.raw`) instead decode every
value as UTF-8 and fall back to latin-1 for that value if it is not valid
UTF-8; :meth:`Headers.raw_bytes` gives the exact bytes.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from dataclasses import dataclass

__all__ = [
    "BAD_HEADERS",
    "HEADER_SIZE_LIMIT",
    "UNWANTED_HEADERS",
    "Headers",
    "Layout",
    "append_header",
    "drop_unwanted_headers",
    "ensure_list_id",
    "layout_append_header",
    "layout_drop_unwanted",
    "layout_ensure_list_id",
    "layout_set_header",
    "mime_header_decode",
    "parse_layout",
    "perl_utf8_decode",
    "perl_utf8_encode",
    "prepare_for_store",
    "set_header",
    "split_message",
    "strip_from_line",
]

#: headers larger than this are truncated at the last complete line (postfix)
HEADER_SIZE_LIMIT = 102400

#: dropped by every writer (Import.pm) as potentially confusing
UNWANTED_HEADERS = ("Bytes", "Lines", "Content-Length", "Status", "X-Status")

#: the -mda "bad header" list (MDA.pm), dropped by every writer as well
BAD_HEADERS = (
    "delivered-to",
    "x-original-to",
    "approved",
    "approve",
    "x-approved",
    "x-approve",
    "urgent",
    "return-receipt-to",
    "disposition-notification-to",
    "x-confirm-reading-to",
    "x-pmrqc",
)

_FROM_LINE = re.compile(rb"\A[\r\n]*From [^\r\n]*\r?\n")
_BLANK_LINE = re.compile(rb"\r?\n(\r?\n)")
_HEADERISH = re.compile(rb"^[a-z0-9-]+[ \t]*:", re.IGNORECASE | re.MULTILINE)
_FINAL_EOL = re.compile(rb"(\r?\n)\Z")
_ANY_EOL = re.compile(rb"\r?\n")
_LEAD_WS = re.compile(rb"\A\s+")
_TRAIL_WS = re.compile(rb"\s+\Z")
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


def _blank_line(raw: bytes) -> tuple[int, bytes] | None:
    """(end, eol) of the first ``\r?\n(\r?\n)`` match, found with bytes.find
    (the regex has no literal prefix and scans ~10x slower)."""
    k1 = raw.find(b"\n\n")
    k2 = raw.find(b"\n\r\n", 0, k1 + 2 if k1 >= 0 else len(raw))
    if k2 >= 0:
        return k2 + 3, b"\r\n"
    if k1 >= 0:
        return k1 + 2, b"\n"
    return None


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


def split_message(raw: bytes) -> tuple[bytes, bytes]:
    """Header block (ending with its last line's EOL) and body (may be empty)."""
    lay = parse_layout(raw)
    return lay.header, lay.body if lay.body is not None else b""


def _field_re(name: str) -> re.Pattern[bytes]:
    n = re.escape(name.encode("ascii", "replace"))
    return re.compile(
        rb"^" + n + rb":[ \t]*([^\n]*\r?\n(?:[^:\n]*?[ \t]+[^\n]*\r?\n)*)",
        re.IGNORECASE | re.MULTILINE,
    )


def _unfold(v: bytes) -> bytes:
    # bytes.strip() strips exactly the bytes \s matches in a bytes pattern
    v = v.strip()
    return _FOLD.sub(b" ", v) if b"\n" in v else v


# Every field at once, with the same value rule as _field_re: for any name
# without white space (the only ones looked up) this finds exactly what
# _field_re(name) finds, because a continuation line always has white space
# before its first colon and so can never start a field of such a name.
# (a continuation line has a blank before its first colon, written so the
# regex engine never backtracks: "[^:\n \t]*[ \t]")
_ANY_FIELD = re.compile(rb"^([^:\n]+):[ \t]*([^\n]*\r?\n(?:[^:\n \t]*[ \t][^\n]*\r?\n)*)", re.MULTILINE)


def index_fields(header: bytes) -> dict[bytes, list[bytes]]:
    """{lower-case field name: [unfolded values]} in one pass."""
    out: dict[bytes, list[bytes]] = {}
    for name, value in _ANY_FIELD.findall(header):
        out.setdefault(name.lower(), []).append(value)
    return out


def header_values(header: bytes, name: str) -> list[bytes]:
    """All values of field ``name`` in a header block, ``header_raw`` style."""
    return [_unfold(v) for v in _field_re(name).findall(header)]


def latin1(b: bytes) -> str:
    """Byte string -> Perl-style character string (one char per byte)."""
    return b.decode("latin-1")


def _friendly(b: bytes) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")


def perl_utf8_decode(s: str, flagged: bool = False) -> tuple[str, bool]:
    """Emulate Perl's in-place ``utf8::decode``; returns (string, utf8 flag).

    Strings containing characters above U+00FF are left alone.  Otherwise the
    characters are taken as bytes and decoded as UTF-8 when valid; when not
    valid the string stays a byte string (flag off).
    """
    if s.isascii():
        return s, False
    try:
        b = s.encode("latin-1")
    except UnicodeEncodeError:  # characters above U+00FF
        return s, True
    try:
        d = b.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return s, False
    return d, not d.isascii()


def perl_utf8_encode(s: str) -> bytes:
    """Emulate ``utf8::encode``: characters -> UTF-8 octets."""
    return s.encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------- RFC 2047

_CS = r"[!\"#$%&'+\-0-9A-Z\\^_`a-z{|}~]+"
_LANG = r"[A-Za-z]{1,8}(?:-[0-9A-Za-z]{1,8})*"
_EW = r"=\?" + _CS + r"(?:\*" + _LANG + r")?\?[QqBb]\?[^?]*\?="
_EW_SPLIT = re.compile(r"=\?(" + _CS + r")((?:\*" + _LANG + r")?)\?([QqBb])\?([^?]*)\?=")
_EW_MERGE = re.compile(
    r"=\?(" + _CS + r")((?:\*" + _LANG + r")?)\?([QqBb])\?([^?]*)\?="
    r"[ \t\n\r\f\v]*=\?\1\2\?\3\?([^?]*)\?=",
    re.DOTALL,
)
_EW_RUN = re.compile(r"(.*?)((?:" + _EW + r"[ \t\n\r\f\v]*)*" + _EW + r")", re.DOTALL)
_EW_ONE = re.compile(
    r"(.*?)(=\?(" + _CS + r")((?:\*" + _LANG + r")?)\?([QqBb]\?[^?]*)\?="
    r"[ \t\n\r\f\v]*)",
    re.DOTALL,
)
_MH_LINE = re.compile(r"((?:[^\r\n]*(?:(?:\r\n|[\r\n])[ \t])?)*)(\r\n|[\r\n])?")
_B64_SPLIT = re.compile(r"(?<==)(?=[^=])")
_B64_ALPHA = re.compile(rb"[^A-Za-z0-9+/]")
_QP_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")

# Python codecs whose charset Perl's Encode also knows (without the optional
# Encode::HanExtra): a word in any other charset stays encoded, as in Perl.
_PERL_CODECS = frozenset(
    [
        "ascii",
        "latin-1",
        "utf-8",
        "utf-16",
        "utf-16-be",
        "utf-16-le",
        "utf-32",
        "utf-32-be",
        "utf-32-le",
        "utf-7",
        "cp037",
        "cp424",
        "cp437",
        "cp500",
        "cp737",
        "cp775",
        "cp850",
        "cp852",
        "cp855",
        "cp856",
        "cp857",
        "cp858",
        "cp860",
        "cp861",
        "cp862",
        "cp863",
        "cp864",
        "cp865",
        "cp866",
        "cp869",
        "cp874",
        "cp875",
        "cp932",
        "cp949",
        "cp950",
        "cp1006",
        "cp1026",
        "gbk",
        "gb2312",
        "big5",
        "big5hkscs",
        "euc_jp",
        "euc_kr",
        "shift_jis",
        "iso2022_jp",
        "iso2022_jp_1",
        "iso2022_kr",
        "johab",
        "hz",
        "koi8-r",
        "koi8-u",
        "hp-roman8",
        "mac-roman",
        "mac-cyrillic",
        "mac-greek",
        "mac-iceland",
        "mac-latin2",
        "mac-turkish",
        "mac-arabic",
        "mac-croatian",
        "mac-romanian",
        "mac-farsi",
        "tis-620",
    ]
    + [f"cp{n}" for n in range(1250, 1259)]
    + [f"iso8859-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16)]
)
_PERL_CODEC_KEYS = frozenset(c.replace("_", "-") for c in _PERL_CODECS)
_PERL_ONLY_ALIASES = {
    "gb_2312-80": "gb2312",
    "x-mac-roman": "mac-roman",
    "ks_c_5601-1987": "cp949",
}


def _find_charset(name: str) -> str | None:
    low = name.lower()
    if low == "utf8":
        low = "utf-8"
    low = _PERL_ONLY_ALIASES.get(low, low)
    try:
        info = codecs.lookup(low)
    except LookupError:
        return None
    return info.name if info.name.replace("_", "-") in _PERL_CODEC_KEYS else None


def _perl_replace(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeDecodeError):
        raise err
    obj = err.object
    start = err.start
    # an encoded surrogate counts as one malformed character in Encode
    if (
        start + 2 < len(obj)
        and obj[start] == 0xED
        and 0xA0 <= obj[start + 1] <= 0xBF
        and 0x80 <= obj[start + 2] <= 0xBF
    ):
        return "\ufffd", start + 3
    return "\ufffd" * (err.end - start), err.end


codecs.register_error("pubinbox-perl-replace", _perl_replace)


def _b64_lenient(text: bytes) -> bytes:
    """MIME::Base64::decode_base64: ignore junk, stop at '=', allow short."""
    eq = text.find(b"=")
    if eq >= 0:
        text = text[:eq]
    text = _B64_ALPHA.sub(b"", text)
    rem = len(text) % 4
    if rem == 1:
        text = text[:-1]
    elif rem:
        text += b"=" * (4 - rem)
    try:
        return base64.b64decode(text)
    except (binascii.Error, ValueError):
        return b""


def _decode_word(charset: str, enc_text: str) -> str | None:
    codec = _find_charset(charset)
    if codec is None:
        return None
    enc, _, text = enc_text.partition("?")
    text = text.replace("\r", "").replace("\n", "")
    raw = text.encode("latin-1", "replace")
    if enc in "Bb":
        octets = b"".join(_b64_lenient(p.encode("latin-1", "replace")) for p in _B64_SPLIT.split(text))
    else:
        raw = raw.replace(b"_", b" ")
        octets = _QP_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
    if codec in ("utf-16", "utf-32"):
        # Encode's UTF-16/32 read a missing byte order mark as big-endian
        boms = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
        if not octets.startswith(boms):
            codec += "-be"
    return octets.decode(codec, "pubinbox-perl-replace")


def mime_header_decode(s: str) -> tuple[str, bool]:
    """Decode RFC 2047 words like Encode's ``MIME-Header`` (lenient mode).

    ``s`` is a Perl-style string (see module docstring).  Adjacent words with
    the same charset and encoding are merged before decoding, whitespace
    between encoded words is dropped, words in unknown charsets are kept.
    Returns the decoded string and whether any word was decoded (which turns
    Perl's utf8 flag on).
    """
    out: list[str] = []
    flagged = False
    pos = 0
    n = len(s)
    while True:
        m = _MH_LINE.match(s, pos)
        assert m is not None
        line = m.group(1)
        sep = m.group(2) or ""
        pos = m.end()
        if not line and not sep:
            break
        while True:
            merged = _EW_MERGE.sub(lambda x: "=?{}{}?{}?{}{}?=".format(*x.group(1, 2, 3, 4, 5)), line, count=1)
            if merged == line:
                break
            line = merged
        lp = 0
        while True:
            r = _EW_RUN.match(line, lp)
            if r is None:
                break
            lp = r.end()
            out.append(r.group(1).replace("\r", "").replace("\n", ""))
            words = r.group(2)
            wp = 0
            while True:
                w = _EW_ONE.match(words, wp)
                if w is None:
                    break
                wp = w.end()
                out.append(w.group(1))
                dec = _decode_word(w.group(3), w.group(5))
                if dec is None:
                    cur = "".join(out)
                    sp = "" if cur == "" or cur[-1] in " \t" else " "
                    out.append(sp + w.group(2))
                else:
                    flagged = True
                    out.append(dec)
            out.append(words[wp:])
        out.append(line[lp:].replace("\r", "").replace("\n", "") + sep)
        if pos >= n:
            break
    return "".join(out), flagged


# ---------------------------------------------------------------- headers

_ADDRESS_FIELDS = {
    f.lower() for base in ("From", "To", "Cc", "Sender", "Reply-To", "Bcc") for f in (base, "Resent-" + base)
}
_FULL_FIELDS = {"subject", "content-description", "content-type"}


def _decode_address_value(v: str) -> tuple[str, bool]:
    from pubinbox.mail import address as _addr

    if "=?" not in v:
        return v, False
    groups = _addr.parse_groups(v, False)
    flagged = False
    fixed: list[tuple[str | None, list[_addr.Mailbox]]] = []
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
            new_members.append(_addr.Mailbox(phrase, mb.user, mb.host, comment))
        fixed.append((gname, new_members))
    return _addr.format_groups(fixed), flagged


class Headers:
    """Read-only view of a message's header block.

    Lookups are case-insensitive and return every occurrence in order.
    """

    __slots__ = ("_fields", "_hdr", "_memo")

    def __init__(self, raw: bytes, *, header_only: bool = False) -> None:
        self._hdr = raw if header_only else parse_layout(raw).header
        self._fields: dict[bytes, list[bytes]] | None = None
        self._memo: dict[str, list[bytes]] = {}

    @property
    def block(self) -> bytes:
        """The raw header block (possibly truncated at 100 KiB)."""
        return self._hdr

    def raw_bytes(self, name: str) -> list[bytes]:
        """``header_raw`` values as exact bytes (unfolded and trimmed)."""
        got = self._memo.get(name)
        if got is None:
            if self._fields is None:
                self._fields = index_fields(self._hdr)
            got = [_unfold(v) for v in self._fields.get(name.lower().encode("ascii", "replace"), ())]
            self._memo[name] = got
        return list(got)

    def raw(self, name: str) -> list[str]:
        """``header_raw`` values; each decoded as UTF-8, else latin-1."""
        return [_friendly(v) for v in self.raw_bytes(name)]

    def perl_raw(self, name: str) -> list[str]:
        """``header_raw`` values as Perl byte strings (latin-1 view)."""
        return [latin1(v) for v in self.raw_bytes(name)]

    def perl_decoded(self, name: str) -> list[tuple[str, bool]]:
        """``header_str`` values as Perl strings with their utf8 flag."""
        key = name.lower()
        ret: list[tuple[str, bool]] = []
        for v in self.perl_raw(name):
            if key in _ADDRESS_FIELDS:
                ret.append(_decode_address_value(v))
            elif key in _FULL_FIELDS and "=?" in v:
                ret.append(mime_header_decode(v))
            else:
                ret.append((v, False))
        return ret

    def decoded(self, name: str) -> list[str]:
        """``header_str`` values: RFC 2047 decoded (addresses per address).

        Undecoded 8-bit text is taken as UTF-8 when the value is valid UTF-8
        as a whole, else as latin-1 (what public-inbox's readers do).
        """
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


# ---------------------------------------------------------------- rewriting

_WS = b" \t\n\r\f\v"


def _expand_tabs(line: bytes) -> bytes:
    out = bytearray()
    for i, seg in enumerate(line.split(b"\t")):
        if i:
            col = len(out) - (out.rfind(b"\n") + 1)
            out += b" " * (8 - col % 8)
        out += seg
    return bytes(out)


def _expand(text: bytes) -> bytes:
    return b"".join(_expand_tabs(ln) for ln in text.splitlines(keepends=True))


def _unexpand(text: bytes) -> bytes:
    lines = []
    for line in text.split(b"\n"):
        line = _expand(line)
        full = len(line) // 8 * 8
        chunks = [line[i : i + 8] for i in range(0, full, 8)]
        last = line[full:]
        fixed = [re.sub(rb"  +\Z", b"\t", c) for c in chunks]
        lines.append(b"".join(fixed) + (b"\t" if last == b" " * 8 else last))
    return b"\n".join(lines)


def _wrap(text: bytes, columns: int) -> bytes:
    """Text::Wrap::wrap('', "\\t", text) with $huge = 'overflow'."""
    t = _expand(text)
    ll = columns - 1
    nll = columns - 8 - 1
    fits = re.compile(rb"([^\n]{0,%d})((?=\s)(?:\r\n|[\s\S])|\n+|\Z)" % max(ll, 0))
    over = re.compile(rb"([^\n]*?)((?=\s)(?:\r\n|[\s\S])|\n+|\Z)")
    done = re.compile(rb"(?:(?=\s)(?:\r\n|[\s\S]))*\Z")
    r = b""
    lead = b""
    nl = b""
    rem = b""
    pos = 0
    while True:
        d = done.match(t, pos)
        if d is not None:
            pos = d.end()
            break
        m = fits.match(t, pos) or over.match(t, pos)
        if m is None:  # pragma: no cover - 'overflow' always matches
            break
        r += _unexpand(nl + lead + m.group(1))
        rem = m.group(2)
        pos = m.end()
        lead = b"\t"
        ll = nll
        fits = re.compile(rb"([^\n]{0,%d})((?=\s)(?:\r\n|[\s\S])|\n+|\Z)" % ll)
        nl = b"\n"
    r += rem
    if pos != len(t):
        r += lead + t[pos:]
    return r


def _serialise(name: str, value: bytes, eol: bytes) -> bytes:
    pfx = name.encode("utf-8") + b": "
    width = 78 - len(pfx)
    if len(value) >= width and (re.search(rb"\n[^ \t]", value) or b"\n" not in value):
        return pfx + _wrap(value, width) + eol
    return pfx + value + eol


def layout_set_header(lay: Layout, name: str, values: list[bytes]) -> Layout:
    """``Eml->header_set`` on a parsed message (see :func:`set_header`)."""
    pat = _field_re(name)
    if not values:
        return Layout(pat.sub(b"", lay.header), lay.body, lay.eol)
    it = iter([_serialise(name, v, lay.eol) for v in values])
    hdr = pat.sub(lambda _m: next(it, b""), lay.header)
    return Layout(hdr + b"".join(it), lay.body, lay.eol)


# One pass over the header is equivalent to removing each field in turn: a
# removed field's continuation lines can never start with "Name:".
_UNWANTED_RE = re.compile(
    rb"^(?:"
    + b"|".join(re.escape(n.encode()) for n in UNWANTED_HEADERS + BAD_HEADERS)
    + rb"):[ \t]*([^\n]*\r?\n(?:[^:\n]*?[ \t]+[^\n]*\r?\n)*)",
    re.IGNORECASE | re.MULTILINE,
)


def layout_drop_unwanted(lay: Layout) -> Layout:
    """Import.pm ``drop_unwanted_headers`` on a parsed message."""
    return Layout(_UNWANTED_RE.sub(b"", lay.header), lay.body, lay.eol)


def layout_append_header(lay: Layout, name: str, value: bytes) -> Layout:
    """Import.pm ``append_mid`` generalised: current raw values + one more."""
    return layout_set_header(lay, name, header_values(lay.header, name) + [value])


def layout_ensure_list_id(lay: Layout, primary_address: str) -> Layout:
    """MDA.pm ``set_list_headers``: add ``List-Id: <a.b.c>`` when absent."""
    if header_values(lay.header, "List-Id"):
        return lay
    pa = primary_address.replace("@", ".").encode("utf-8")
    return layout_set_header(lay, "List-Id", [b"<" + pa + b">"])


def set_header(raw: bytes, name: str, values: list[bytes]) -> bytes:
    """``Eml->header_set``: replace every ``name`` field by ``values``.

    Existing occurrences are replaced in place one by one, surplus values are
    appended at the end of the header, surplus occurrences are deleted.  With
    no values the field is removed.  Long values are folded like Text::Wrap
    (with "\n\t", whatever the message's line endings).
    """
    return layout_set_header(parse_layout(raw), name, values).as_bytes()


def drop_unwanted_headers(raw: bytes) -> bytes:
    """Remove the fields every public-inbox writer drops before storing.

    The result is ``Eml->as_string`` of the message, which equals the input
    except when fields were removed, when the header exceeds 100 KiB, or when
    the message has no header at all (a blank line is then prepended).
    Public-inbox parses a message once and applies every rewrite to that
    parse; to chain rewrites exactly, use the ``layout_*`` functions on one
    :class:`Layout` (re-parsing serialised output can differ for messages
    without a header) or :func:`prepare_for_store`.
    """
    return layout_drop_unwanted(parse_layout(raw)).as_bytes()


def append_header(raw: bytes, name: str, value: str) -> bytes:
    """Add one more ``name`` field as public-inbox does (``append_mid``).

    Public-inbox re-sets the field with its current raw values plus the new
    one, so existing occurrences are re-serialised (unfolded, canonical field
    name) and the new one is appended at the end of the header.
    """
    return layout_append_header(parse_layout(raw), name, value.encode("utf-8")).as_bytes()


def ensure_list_id(raw: bytes, primary_address: str) -> bytes:
    """-mda's ``set_list_headers``: add ``List-Id: <a.b.c>`` if missing."""
    return layout_ensure_list_id(parse_layout(raw), primary_address).as_bytes()


def prepare_for_store(
    raw: bytes,
    *,
    list_id_address: str | None = None,
    extra_mids: tuple[str, ...] = (),
) -> bytes:
    """The blob public-inbox stores for ``raw`` (already without From line).

    Applies, on one parse like public-inbox: -mda's List-Id (when
    ``list_id_address`` is given), appended generated Message-IDs, then the
    unwanted-header removal.
    """
    lay = parse_layout(raw)
    if list_id_address is not None:
        lay = layout_ensure_list_id(lay, list_id_address)
    for mid in extra_mids:
        lay = layout_append_header(lay, "Message-ID", b"<" + mid.encode("utf-8") + b">")
    return layout_drop_unwanted(lay).as_bytes()
