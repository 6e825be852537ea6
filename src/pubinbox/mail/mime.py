"""Lenient MIME walker compatible with public-inbox's Eml/MsgIter.

Splits a raw message into header and body the way PublicInbox::Eml does,
extracts header values like ``header_raw`` (including its odd notion of
continuation lines), parses Content-Type/Content-Disposition (``contenttype.py``) and encoded
words (``encwords.py``) like public-inbox,
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
    perl_encoding,
    perl_mime_encoding,
    python_codec,
)
from pubinbox.mail.contenttype import parse_content_disposition, parse_content_type
from pubinbox.mail.encwords import mime_header_decode
from pubinbox.mail.transfer import decode_base64, decode_body, decode_qp

__all__ = [
    "MIME_NESTING_LIMIT",
    "MIME_PARTS_LIMIT",
    "Part",
    "decode_base64",
    "decode_body",
    "decode_qp",
    "header_raw",
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


# charsets: Perl Encode name resolution lives in pubinbox.mail.charsets


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
