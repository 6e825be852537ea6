"""Lenient MIME walker compatible with public-inbox's Eml/MsgIter.

Splits a raw message into header and body the way PublicInbox::Eml does,
extracts header values like ``header_raw`` (including its odd notion of
continuation lines), parses Content-Type/Content-Disposition like the
non-strict PublicInbox::EmlContentFoo (RFC 2231 continuations included),
and walks the MIME tree in the same order and with the same index paths
as ``PublicInbox::Eml::each_part`` (the ``1.2`` in attachment URLs such as
``/$MID/1.2-foo.patch``), descending into message/rfc822 parts and
honouring the part-count and nesting limits.  Body decoding mimics
MIME::Base64 / MIME::QuotedPrint (including public-inbox's LF->CRLF step
after quoted-printable decoding).  Everything is a pure function over
bytes and never raises on hostile input.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass

from pubinbox.mail.charsets import (
    _PERL2PY,
    _perl_decode_lenient,
    perl_encoding,
    perl_mime_encoding,
    python_codec,
)

__all__ = [
    "MIME_NESTING_LIMIT",
    "MIME_PARTS_LIMIT",
    "Part",
    "decode_base64",
    "decode_body",
    "decode_qp",
    "header_raw",
    "headers_of",
    "iter_parts",
    "mime_header_decode",
    "parse_content_disposition",
    "parse_content_type",
    "perl_encoding",
    "perl_mime_encoding",
    "python_codec",
    "split_message",
]

MIME_PARTS_LIMIT = 1000
MIME_NESTING_LIMIT = 20
MIME_BOUNDARY_LENGTH_LIMIT = 2048
HEADER_SIZE_LIMIT = 102400

# message/* subtypes public-inbox descends into
_MESSAGE_DESCEND = frozenset({"news", "rfc822", "rfc2822", "global"})

# ---------------------------------------------------------------------------
# header / body split (PublicInbox::Eml::new and new_sub)


def _hdr_truncate(hdr: bytes) -> bytes:
    if len(hdr) <= HEADER_SIZE_LIMIT:
        return hdr
    hdr = hdr[:HEADER_SIZE_LIMIT]
    end = hdr.rfind(b"\n")
    return hdr[: end + 1] if end >= 0 else b""


_BLANK_RE = re.compile(rb"\r?\n(\r?\n)")
_HDR_ONLY_RE = re.compile(rb"^[a-z0-9-]+[ \t]*:", re.IGNORECASE | re.MULTILINE)
_EOL_RE = re.compile(rb"(\r?\n)")


def split_message(raw: bytes) -> tuple[bytes, bytes, bytes | None]:
    """Split like ``PublicInbox::Eml->new``: (header, crlf, body or None)."""
    if b"\r\n" not in raw:
        pos = raw.find(b"\n\n")
        if pos >= 0:
            return _hdr_truncate(raw[: pos + 1]), b"\n", raw[pos + 2 :]
    m = _BLANK_RE.search(raw)
    if m:
        nl = m.group(1)
        return _hdr_truncate(raw[: m.end() - len(nl)]), nl, raw[m.end() :]
    if _HDR_ONLY_RE.search(raw) and raw.endswith(b"\n"):
        crlf = b"\r\n" if raw.endswith(b"\r\n") else b"\n"
        return _hdr_truncate(raw[: HEADER_SIZE_LIMIT + 1]), crlf, None
    m = _EOL_RE.search(raw)
    return b"", (m.group(1) if m else b"\n"), raw


def _split_sub(raw: bytes) -> tuple[bytes, bytes, bytes | None]:
    """Like ``PublicInbox::Eml->new_sub``: a leading blank line means no header."""
    if raw.startswith(b"\n"):
        return b"\n", b"\n", raw[1:]
    if raw.startswith(b"\r\n"):
        return b"\r\n", b"\r\n", raw[2:]
    return split_message(raw)


# ---------------------------------------------------------------------------
# header extraction (PublicInbox::Eml::header_raw)

_HDR_RE_CACHE: dict[str, re.Pattern[bytes]] = {}
_TRAIL_WS = re.compile(rb"[\t\n\x0b\x0c\r ]+\Z")
_LEAD_WS = re.compile(rb"\A[\t\n\x0b\x0c\r ]+")
_FOLD = re.compile(rb"\r?\n[ \t]*")


def _hdr_re(name: str) -> re.Pattern[bytes]:
    r = _HDR_RE_CACHE.get(name)
    if r is None:
        pat = rb"^" + re.escape(name.encode("latin-1")) + rb":[ \t]*([^\n]*\r?\n(?:[^:\n]*?[ \t]+[^\n]*\r?\n)*)"
        r = re.compile(pat, re.IGNORECASE | re.MULTILINE)
        _HDR_RE_CACHE[name] = r
    return r


def header_raw(hdr: bytes, name: str) -> list[bytes]:
    """All values of header *name*, unfolded, as public-inbox's header_raw."""
    out = []
    for v in _hdr_re(name).findall(hdr):
        v = _TRAIL_WS.sub(b"", v)
        v = _LEAD_WS.sub(b"", v)
        out.append(_FOLD.sub(b" ", v))
    return out


def headers_of(raw: bytes) -> bytes:
    """The raw header block of a message (as public-inbox splits it)."""
    return split_message(raw)[0]


# charsets: Perl Encode name resolution lives in pubinbox.mail.charsets


# ---------------------------------------------------------------------------
# RFC 2047 decoding (Encode::MIME::Header, non-strict)

_EW = r"=\?[!\"#$%&'+\-0-9A-Z\\^_`a-z{|}~]+(?:\*[A-Za-z]{1,8}(?:-[0-9A-Za-z]{1,8})*)?\?[QqBb]\?[^?]*\?="
_EW_SPLIT = re.compile(
    r"=\?([!\"#$%&'+\-0-9A-Z\\^_`a-z{|}~]+)((?:\*[A-Za-z]{1,8}(?:-[0-9A-Za-z]{1,8})*)?)"
    r"\?([QqBb])\?([^?]*)\?=[\t\n\x0b\x0c\r ]*=\?\1\2\?\3\?([^?]*)\?=",
    re.DOTALL,
)
_EW_RUN = re.compile(r"^(.*?)((?:" + _EW + r"[\t\n\x0b\x0c\r ]*)*" + _EW + r")", re.DOTALL)
_EW_CAP = re.compile(
    r"^(.*?)(=\?([!\"#$%&'+\-0-9A-Z\\^_`a-z{|}~]+)((?:\*[A-Za-z]{1,8}(?:-[0-9A-Za-z]{1,8})*)?)"
    r"\?([QqBb]\?[^?]*)\?=[\t\n\x0b\x0c\r ]*)",
    re.DOTALL,
)
_LINE_RE = re.compile(r"^((?:[^\r\n]*(?:(?:\r\n|[\r\n])[ \t])?)*)(\r\n|[\r\n])?")
_SPLIT_PAD = re.compile(r"(?<==)(?=[^=])")


def _b64_text(text: str) -> bytes:
    out = bytearray()
    for chunk in _SPLIT_PAD.split(text):
        out += decode_base64(chunk.encode("latin-1", "replace"))
    return bytes(out)


def _q_text(text: str) -> bytes:
    text = text.replace("_", " ")
    b = text.encode("latin-1", "replace")
    return re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), b)


def mime_header_decode(s: str) -> str:
    """Decode RFC 2047 words like Perl's ``Encode::MIME::Header`` decode.

    Input is a Perl-ish string: raw header bytes map to code points 0-255
    (latin-1); text outside encoded words is passed through unchanged.
    """
    out: list[str] = []
    rest = s
    while True:
        m = _LINE_RE.match(rest)
        assert m is not None
        line = m.group(1)
        sep = m.group(2) or ""
        rest = rest[m.end() :]
        if not line and not sep:
            break
        while True:
            m2 = _EW_SPLIT.search(line)
            if m2 is None:
                break
            line = (
                line[: m2.start()]
                + "=?"
                + m2.group(1)
                + m2.group(2)
                + "?"
                + m2.group(3)
                + "?"
                + m2.group(4)
                + m2.group(5)
                + "?="
                + line[m2.end() :]
            )
        while True:
            m3 = _EW_RUN.match(line)
            if m3 is None:
                break
            out.append(m3.group(1).replace("\r", "").replace("\n", ""))
            words = m3.group(2)
            line = line[m3.end() :]
            while True:
                m4 = _EW_CAP.match(words)
                if m4 is None:
                    break
                out.append(m4.group(1))
                orig = m4.group(2)
                charset = m4.group(3)
                mime_enc, _, text = m4.group(5).partition("?")
                words = words[m4.end() :]
                text = text.replace("\r", "").replace("\n", "")
                enc = perl_mime_encoding(charset)
                if enc is None:
                    enc = perl_encoding("UTF-8" if charset.lower() == "utf8" else charset)
                if enc is None:
                    cur = "".join(out)
                    if cur and cur[-1] not in " \t":
                        out.append(" ")
                    out.append(orig)
                    continue
                raw = _b64_text(text) if mime_enc in "Bb" else _q_text(text)
                out.append(_perl_decode_lenient(enc, raw))
            out.append(words)
        out.append(line.replace("\r", "").replace("\n", "") + sep)
        if not rest:
            # Perl's loop makes one more (empty) pass and stops
            break
    return "".join(out)


# ---------------------------------------------------------------------------
# Content-Type / Content-Disposition (non-strict PublicInbox::EmlContentFoo)

_TOKEN = r"[\x21\x23-\x27\x2A\x2B\x2D\x2E\x30-\x39\x41-\x5A\x5E-\x7E]+"
_TOKEN_NS = r"(?:[\x00-\x08\x0B\x0C\x0E-\x1F\x7E-\xFF]+|" + _TOKEN + r")"
_QTEXT_NS = r"(?:[\x80-\xFF]|[\x01-\x08\x0B\x0C\x0E-\x1F\x21\x23-\x5B\x5D-\x7E\x7F])"
_QSTRING = re.compile(r'^"((?:[ \t]*(?:[\x01-\x08\x0B\x0C\x0E-\x1F\x21\x23-\x5B\x5D-\x7E\x7F]|\\[\x00-\x7F]))*[ \t]*)"')
_QSTRING_NS = re.compile(r'^"((?:[ \t]*(?:' + _QTEXT_NS + r'|\\[\x00-\xFF]))*[ \t]*)"')
_TOKEN_RE = re.compile(r"^(" + _TOKEN + r")")
_TOKEN_NS_RE = re.compile(r"^(" + _TOKEN_NS + r")")
_TOKEN_NS_EQ = re.compile(r"^" + _TOKEN_NS + r"=")
_CT_TYPE = re.compile(r"^(" + _TOKEN + r")/(" + _TOKEN + r")")
_CT_TYPE_NS = re.compile(r"^(" + _TOKEN_NS + r")/(" + _TOKEN_NS + r")")
_ATTR_TOK = re.compile(r"^(" + _TOKEN + r")=")
_ATTR_NS = re.compile(r"^(" + _TOKEN_NS + r")=")
_ATTR_LAX = re.compile(r"^([^;=\t\n\x0b\x0c\r ]+)[\t\n\x0b\x0c\r ]*=")
_WS_LEAD = re.compile(r"^[\t\n\x0b\x0c\r ]+")
_WS_TRAIL = re.compile(r"[\t\n\x0b\x0c\r ]+\n?$")
_UNFOLD = re.compile(r"(?:\r\n|[\r\n])(?=[ \t])")
_RFC2231_KEY = re.compile(r"^(.*)\*([0-9])\*?\n?$", re.DOTALL)
_RFC2231_ENC = re.compile(r"^(.*)\*\n?$", re.DOTALL)
_EXVALUE = re.compile(r"^([!\"#$%&'+\-0-9A-Z\\^_`a-z{|}~]+)?'(?:[A-Za-z]{1,8}(?:-[0-9A-Za-z]{1,8})*)?'(.*)\n?$")
_BACKSLASH = re.compile(r"\\(.)")


class _Buf:
    """A mutable string consumed from the left (Perl ``s/^...//`` idiom)."""

    __slots__ = ("s",)

    def __init__(self, s: str) -> None:
        self.s = s

    def eat(self, pat: re.Pattern[str]) -> re.Match[str] | None:
        m = pat.match(self.s)
        if m is not None:
            self.s = self.s[m.end() :]
        return m


def _clean_comments(b: _Buf) -> bool:
    ret = b.eat(_WS_LEAD) is not None
    while b.s:
        if not b.s.startswith("("):
            break
        s = b.s
        i = 1
        level = 1
        n = len(s)
        while i < n:
            ch = s[i]
            i += 1
            if ch == "(":
                level += 1
            elif ch == ")":
                level -= 1
                if level == 0:
                    break
            elif ch == "\\":
                i += 1
        b.s = s[i:]
        if b.eat(_WS_LEAD) is not None:
            ret = True
    return ret


def _extract_value(b: _Buf) -> str | None:
    value: str | None = None
    while b.s:
        m = b.eat(_TOKEN_RE)
        if m is not None:
            value = (value or "") + m.group(1)
        else:
            m = b.eat(_QSTRING)
            if m is not None:
                value = (value or "") + _BACKSLASH.sub(r"\1", m.group(1))
            else:
                m = b.eat(_TOKEN_NS_RE)
                if m is not None:
                    value = (value or "") + m.group(1)
                else:
                    m = b.eat(_QSTRING_NS)
                    if m is not None:
                        value = (value or "") + _BACKSLASH.sub(r"\1", m.group(1))
        erased = _clean_comments(b)
        if not b.s or b.s.startswith(";"):
            break
        if erased:
            if _TOKEN_NS_EQ.match(b.s):
                break
            value = (value or "") + " "
        value = (value or "") + b.s[0]
        b.s = b.s[1:]
    return value


def _parse_attributes(s: str) -> dict[str, str | None]:
    if s and not s.startswith(";"):
        s = "; " + s
    b = _Buf(s)
    attrs: dict[str, str | None] = {}
    while b.s:
        b.s = b.s.removeprefix(";")
        _clean_comments(b)
        if not b.s:
            return attrs
        m = b.eat(_ATTR_TOK) or b.eat(_ATTR_NS) or b.eat(_ATTR_LAX)
        if m is None:
            return attrs
        attr = m.group(1).lower()
        _clean_comments(b)
        attrs[attr] = _extract_value(b)
        _clean_comments(b)
    return attrs


def _process_rfc2231(attrs: dict[str, str | None]) -> dict[str, str | None]:
    cont: dict[str, dict[int, str | None]] = {}
    encoded: set[str] = set()
    for k in list(attrs):
        m = _RFC2231_KEY.match(k)
        if m is None:
            continue
        a, sec = m.group(1), int(m.group(2))
        cont.setdefault(a, {})[sec] = attrs[k]
        if k.endswith("*"):
            encoded.add(a)
        del attrs[k]
    for a, secs in cont.items():
        key = a + "*" if a in encoded else a
        attrs[key] = "".join(secs.get(i) or "" for i in range(max(secs) + 1))
    for k in list(attrs):
        m = _RFC2231_ENC.match(k)
        if m is None:
            continue
        v = attrs[k] or ""
        m2 = _EXVALUE.match(v)
        if m2 is None:
            continue
        charset, value = m2.group(1) or "", m2.group(2)
        raw = re.sub(r"%([0-9A-Fa-f]{2})", lambda x: chr(int(x.group(1), 16)), value)
        if charset:
            enc = perl_mime_encoding(charset)
            if enc is not None:
                try:
                    rb = raw.encode("latin-1")
                except UnicodeEncodeError:
                    rb = raw.encode("utf-8", "surrogatepass")
                raw = _perl_decode_lenient(enc, rb)
        attrs[m.group(1)] = raw
        del attrs[k]
    return attrs


def parse_content_type(ct: str | None) -> tuple[str, str, dict[str, str | None]]:
    """Parse a Content-Type value: (type, subtype, attributes), never raises."""
    if not ct:
        ct = "text/plain; charset=us-ascii"
    ct = _UNFOLD.sub("", ct)
    b = _Buf(ct)
    _clean_comments(b)
    m = b.eat(_CT_TYPE) or b.eat(_CT_TYPE_NS)
    if m is None:
        return "text", "plain", {"charset": "us-ascii"}
    typ, sub = m.group(1).lower(), m.group(2).lower()
    _clean_comments(b)
    rest = _WS_TRAIL.sub("", b.s)
    return typ, sub, _process_rfc2231(_parse_attributes(rest))


def parse_content_disposition(cd: str | None) -> tuple[str, dict[str, str | None]]:
    """Parse a Content-Disposition value: (type, attributes), never raises."""
    if not cd:
        cd = "attachment"
    cd = _UNFOLD.sub("", cd)
    b = _Buf(cd)
    _clean_comments(b)
    m = b.eat(_TOKEN_RE) or b.eat(_TOKEN_NS_RE)
    if m is None:
        return "attachment", {}
    typ = m.group(1).lower()
    _clean_comments(b)
    rest = _WS_TRAIL.sub("", b.s)
    return typ, _process_rfc2231(_parse_attributes(rest))


# ---------------------------------------------------------------------------
# transfer decoding (MIME::Base64 / MIME::QuotedPrint XS behaviour)

_B64_INDEX = [-1] * 256
for _i, _c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"):
    _B64_INDEX[_c] = _i
_B64_INDEX[ord("=")] = 64
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/=]+")
_B64_STRICT = re.compile(rb"\A(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z")


def decode_base64(data: bytes) -> bytes:
    """Decode like MIME::Base64::decode_base64: junk ignored, stop at '='."""
    import binascii

    clean = _B64_JUNK.sub(b"", data)
    pad = clean.find(b"=")
    if pad < 0 and len(clean) % 4 == 0:
        try:
            return binascii.a2b_base64(clean)
        except binascii.Error:
            pass
    if pad >= 0 and _B64_STRICT.match(clean):
        try:
            return binascii.a2b_base64(clean)
        except binascii.Error:
            pass
    out = bytearray()
    idx = _B64_INDEX
    n = len(clean)
    i = 0
    while i < n:
        c = [idx[x] for x in clean[i : i + 4]]
        i += 4
        if len(c) < 4:
            if len(c) < 2:
                break
            if len(c) == 2:
                c.append(64)
            c.append(64)
        if c[0] == 64 or c[1] == 64:
            break
        out.append(((c[0] << 2) | ((c[1] & 0x30) >> 4)) & 0xFF)
        if c[2] == 64:
            break
        out.append((((c[1] & 0x0F) << 4) | ((c[2] & 0x3C) >> 2)) & 0xFF)
        if c[3] == 64:
            break
        out.append((((c[2] & 0x03) << 6) | c[3]) & 0xFF)
    return bytes(out)


_QP_RE = re.compile(rb"([ \t]+)(?=\r?\n)|=([0-9A-Fa-f]{2})|=[ \t]*\r?\n|\r\n")


def _qp_sub(m: re.Match[bytes]) -> bytes:
    if m.group(1) is not None:
        return b""
    h = m.group(2)
    if h is not None:
        return bytes([int(h, 16)])
    if m.group(0) == b"\r\n":
        return b"\n"
    return b""


def decode_qp(data: bytes) -> bytes:
    """Decode like MIME::QuotedPrint::decode_qp (CRLF -> LF, lenient)."""
    return _QP_RE.sub(_qp_sub, data)


_CTE_TOKEN = re.compile(rb"([a-zA-Z0-9\-]+)")


def decode_body(body: bytes, cte: bytes | None) -> bytes:
    """Transfer-decode a body like ``PublicInbox::Eml::body``."""
    if not cte:
        return body
    m = _CTE_TOKEN.search(cte)
    if m is None:
        return body
    enc = m.group(1).lower()
    if enc == b"base64":
        return decode_base64(body)
    if enc in (b"quoted-printable", b"quotedprint", b"qp"):
        return decode_qp(body).replace(b"\n", b"\r\n")
    return body


# ---------------------------------------------------------------------------
# text decoding for display / indexing (lenient, never raises)

_JUNK_CHARSETS = frozenset(
    {
        "",
        "y",
        "n",
        "8",
        "8bit",
        "7bit",
        "unknown",
        "unknown-8bit",
        "x-unknown",
        "none",
        "default",
        "charset",
        "us",
        "x-user-defined",
    }
)
_UPGRADE = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc-cn": "gb18030",
    "cp936": "gb18030",
    "ascii": "utf-8",
    "us-ascii": "utf-8",
    "iso-8859-1": "cp1252",
    "latin-1": "cp1252",
    "latin1": "cp1252",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "big5": "big5hkscs",
    "iso8859_1": "cp1252",
}


def _py_codec_for(charset: str) -> str | None:
    cs = charset.strip().strip("\"'").lower()
    if cs in _JUNK_CHARSETS:
        return None
    if cs in _UPGRADE:
        return _UPGRADE[cs]
    perl = perl_encoding(cs)
    if perl is not None:
        py = _PERL2PY.get(perl)
        if py is not None:
            return _UPGRADE.get(py, py)
    try:
        name = codecs.lookup(cs).name
    except (LookupError, ValueError):
        return None
    return _UPGRADE.get(name, name)


def bytes_to_text(data: bytes, charset: str | None) -> str:
    """Best-effort bytes -> str: declared charset, then UTF-8, then cp1252."""
    codec = _py_codec_for(charset) if charset else None
    if codec is not None:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError, ValueError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if codec is not None:
        try:
            return data.decode(codec, "replace")
        except (LookupError, ValueError):
            pass
    return data.decode("cp1252", "replace").replace("\x00", "\ufffd")


# ---------------------------------------------------------------------------
# parts


@dataclass(frozen=True, slots=True)
class Part:
    """One node of the MIME tree as public-inbox's msg_iter callback sees it.

    ``idx`` is the public-inbox index path ((1,) for a non-multipart
    message; (1,), (2,), (1, 2)... for multipart children); ``depth`` is
    public-inbox's depth (0 for a single-part message).  Besides leaves,
    public-inbox also reports message/rfc822 parts themselves and
    multipart bodies of attached messages (``is_submsg``), so do we.
    """

    idx: tuple[int, ...]
    content_type: str
    charset: str | None
    filename: str | None
    description: str | None
    cte: str | None
    raw_body: bytes
    depth: int = 0
    header: bytes = b""
    is_submsg: bool = False
    ct_raw: str | None = None
    attributes: tuple[tuple[str, str | None], ...] = ()

    @property
    def idx_str(self) -> str:
        """The index path as used in URLs, e.g. ``"1.2"``."""
        return ".".join(str(i) for i in self.idx)

    def header_values(self, name: str) -> list[bytes]:
        """Raw values of a header of this part (header_raw semantics)."""
        return header_raw(self.header, name)

    def decoded(self) -> bytes:
        """Transfer-decoded body, byte-identical to public-inbox's ``->body``."""
        ctes = header_raw(self.header, "Content-Transfer-Encoding")
        try:
            return decode_body(self.raw_body, ctes[0] if ctes else None)
        except Exception:  # noqa: BLE001 - never raise on hostile input
            return self.raw_body

    def text(self) -> str | None:
        """Decoded body as text (declared charset with fallbacks).

        Returns None for non-text parts that do not look like text; never
        raises.
        """
        try:
            data = self.decoded()
            main = self.content_type.split("/", 1)[0]
            if main in ("text", "message") or self.charset is not None:
                return bytes_to_text(data, self.charset)
            if main == "multipart":
                return bytes_to_text(data, self.charset)
            try:
                s = data.decode("utf-8")
            except UnicodeDecodeError:
                return None
            if all(c.isprintable() or c.isspace() for c in s):
                return s
            return None
        except Exception:  # noqa: BLE001 - never raise on hostile input
            return None


class _Node:
    """Internal mutable MIME node (header, crlf, body) during the walk."""

    __slots__ = ("_ct", "_ctraw", "bdy", "call_cb", "crlf", "hdr", "is_submsg")

    def __init__(self, hdr: bytes, crlf: bytes, bdy: bytes | None, is_submsg: bool = False) -> None:
        self.hdr = hdr
        self.crlf = crlf
        self.bdy = bdy
        self.is_submsg = is_submsg
        self.call_cb = False
        self._ct: tuple[str, str, dict[str, str | None]] | None = None
        self._ctraw: str | None = None

    def ct_header(self) -> str | None:
        v = header_raw(self.hdr, "Content-Type")
        if not v:
            return None
        s = v[0].decode("latin-1")
        if "=?" in s:
            s = mime_header_decode(s)
        return s

    def ct(self) -> tuple[str, str, dict[str, str | None]]:
        if self._ct is None:
            self._ct = parse_content_type(self.ct_header())
        return self._ct


def _mp_descend(node: _Node, nr: int) -> list[_Node] | None:
    typ, sub, attrs = node.ct()
    if typ == "message" and sub in _MESSAGE_DESCEND:
        h, c, b = split_message(node.bdy or b"")
        nxt = _Node(h, c, b, is_submsg=True)
        node.call_cb = True
        return [nxt]
    if typ != "multipart":
        return None
    bnd = attrs.get("boundary")
    if bnd is None or bnd == "" or len(bnd) >= MIME_BOUNDARY_LENGTH_LIMIT:
        return None
    try:
        bnd_b = bnd.encode("latin-1")
    except UnicodeEncodeError:
        bnd_b = bnd.encode("utf-8", "surrogatepass")
    node.call_cb = node.is_submsg
    if nr:
        bdy = node.bdy
        node.bdy = None
    else:
        bdy = node.bdy if node.bdy is not None else b""
    if bdy is None:
        return None
    q = re.escape(bnd_b)
    end_re = re.compile(rb"(?:\r?\n)?^--" + q + rb"--[ \t]*\r?$", re.MULTILINE)
    m = end_re.search(bdy)
    epilogue_missing = m is None
    cut = bdy[: m.start()] if m is not None else bdy
    split_re = re.compile(rb"(?:\r?\n)?(?:^--" + q + rb"[ \t]*\r?\n)+", re.MULTILINE)
    limit = MIME_PARTS_LIMIT + 3 - nr
    fields = _perl_split(split_re, cut, limit)
    pre, parts = fields[0], fields[1:]
    if parts:
        if epilogue_missing:
            last = parts[-1]
            mm = re.search(rb"\n\r?\n\Z", last)
            if mm is not None:
                parts[-1] = last[: mm.start()] + b"\n"
        nodes = []
        for p in parts:
            if re.search(rb"[^ \t\r\n]", p):
                h, c, b = _split_sub(p)
                nodes.append(_Node(h, c, b))
        if b":" in pre:
            h, c, b = _split_sub(pre)
            nodes.insert(0, _Node(h, c, b))
        return nodes
    if node.bdy is None:
        node.bdy = cut
    return None


def _perl_split(pat: re.Pattern[bytes], s: bytes, limit: int) -> list[bytes]:
    """Perl ``split(/pat/, $s, $limit)`` with a positive limit."""
    out: list[bytes] = []
    pos = 0
    if limit <= 1:
        return [s]
    for m in pat.finditer(s):
        if m.end() == m.start():
            continue
        if m.start() == 0 and m.end() == 0:
            continue
        out.append(s[pos : m.start()])
        pos = m.end()
        if len(out) >= limit - 1:
            break
    out.append(s[pos:])
    return out


def _make_part(node: _Node, depth: int, idx: tuple[int, ...]) -> Part:
    typ, sub, attrs = node.ct()
    cds = header_raw(node.hdr, "Content-Disposition")
    _, cd_attrs = parse_content_disposition(cds[0].decode("latin-1") if cds else None)
    fn = cd_attrs.get("filename")
    if fn is None or fn == "":
        fn = attrs.get("name")
    if fn is not None and "=?" in fn:
        fn = mime_header_decode(fn)
    descs = header_raw(node.hdr, "Content-Description")
    desc: str | None = None
    if descs:
        d = descs[0].decode("latin-1")
        desc = mime_header_decode(d) if "=?" in d else d
    ctes = header_raw(node.hdr, "Content-Transfer-Encoding")
    cte = ctes[0].decode("latin-1").strip().lower() if ctes else None
    cs = attrs.get("charset")
    return Part(
        idx=idx,
        content_type=f"{typ}/{sub}",
        charset=cs,
        filename=fn,
        description=desc,
        cte=cte,
        raw_body=node.bdy or b"",
        depth=depth,
        header=node.hdr,
        is_submsg=node.is_submsg,
        ct_raw=node.ct_header(),
        attributes=tuple(attrs.items()),
    )


def iter_parts(raw: bytes) -> Iterator[Part]:
    """Yield the parts public-inbox's ``msg_iter`` would call back with.

    Same order and index paths as PublicInbox::Eml::each_part; never raises.
    """
    try:
        h, c, b = split_message(raw)
        top = _Node(h, c, b)
        first = _mp_descend(top, 0)
        if first is None:
            yield _make_part(top, 0, (1,))
            return
        if top.call_cb:
            yield _make_part(top, 0, (0,))
        # stack entries: [queue, idx path (tuple), counter]
        cur: tuple[list[_Node], tuple[int, ...]] = (first, ())
        counter = [0]
        stack: list[tuple[list[_Node], tuple[int, ...], list[int]]] = []
        nr = 0
        while True:
            if not cur[0]:
                if not stack:
                    break
                q, pfx, counter = stack.pop()
                cur = (q, pfx)
                if not q:
                    continue
            nr += 1
            if nr > MIME_PARTS_LIMIT:
                break
            counter[0] += 1
            idx = cur[1] + (counter[0],)
            depth = len(idx)
            sub = cur[0].pop(0)
            nxt = _mp_descend(sub, nr) if depth < MIME_NESTING_LIMIT else None
            if nxt is not None:
                if cur[0]:
                    stack.append((cur[0], cur[1], counter))
                if sub.call_cb:
                    yield _make_part(sub, depth, idx)
                cur = (nxt, idx)
                counter = [0]
            else:
                yield _make_part(sub, depth, idx)
    except Exception:  # noqa: BLE001 - hostile input must never raise
        return
