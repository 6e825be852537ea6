"""The MIME tree of a message, walked like public-inbox's Eml/MsgIter.

:func:`iter_parts` walks the tree in the same order and with the same index
paths as ``PublicInbox::Eml::each_part`` (the ``1.2`` in attachment URLs
such as ``/$MID/1.2-foo.patch``), descending into message/rfc822 parts and
honouring the part-count and nesting limits; header and body are split as
``Eml->new``/``new_sub`` do (:func:`pubinbox.mail.parse.parse_layout`),
Content-Type/Content-Disposition are parsed as EmlContentFoo does
(:mod:`pubinbox.mail.contenttype`), bodies transfer-decoded as
MIME::Base64/QuotedPrint do (:mod:`pubinbox.mail.transfer`), and
:meth:`Part.text` is ``msg_part_text``.  Everything is a pure function over
bytes and never raises on hostile input.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from pubinbox.mail.charsets import Undecodable, decode, perl_encoding
from pubinbox.mail.contenttype import parse_content_disposition, parse_content_type
from pubinbox.mail.encwords import mime_header_decode
from pubinbox.mail.parse import header_raw, parse_layout
from pubinbox.mail.perlstr import UNICODE_SPACE, PerlStr, latin1, perl_utf8_decode
from pubinbox.mail.transfer import decode_body

__all__ = ["MIME_NESTING_LIMIT", "MIME_PARTS_LIMIT", "Part", "iter_parts"]

MIME_PARTS_LIMIT = 1000
MIME_NESTING_LIMIT = 20
MIME_BOUNDARY_LENGTH_LIMIT = 2048

# message/* subtypes public-inbox descends into
_MESSAGE_DESCEND = frozenset({"news", "rfc822", "rfc2822", "global"})


def _split(raw: bytes) -> tuple[bytes, bytes, bytes | None]:
    """``Eml->new``: (header, crlf, body or None)."""
    lay = parse_layout(raw)
    return lay.header, lay.eol, lay.body


def _split_sub(raw: bytes) -> tuple[bytes, bytes, bytes | None]:
    """``Eml->new_sub``: a leading blank line means no header."""
    if raw.startswith(b"\n"):
        return b"\n", b"\n", raw[1:]
    if raw.startswith(b"\r\n"):
        return b"\r\n", b"\r\n", raw[2:]
    return _split(raw)


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

    def text(self) -> PerlStr | None:
        """The part as text, as public-inbox's ``msg_part_text`` gives it.

        (text, utf8 flag), or None where public-inbox has no text: HTML
        parts, and parts that are neither decodable in their charset nor
        text/*, multipart/mixed or printable application/octet-stream.
        The text is the declared charset's (decoded like Encode, see
        :func:`pubinbox.mail.charsets.decode`); when that fails, a text/*
        part is read as UTF-8, else kept as bytes (latin-1 view, flag off),
        as public-inbox does.  Never raises.
        """
        try:
            return _msg_part_text(self, self.decoded())
        except Exception:  # noqa: BLE001 - never raise on hostile input
            return None


_HTML = re.compile(r"\btext/x?html\b")
_TEXTISH = re.compile(r"\btext/\b", re.IGNORECASE)
_MIXED = re.compile(r"\bmultipart/mixed\b", re.IGNORECASE)
_OCTET = re.compile(r"\bapplication/octet-stream\b", re.IGNORECASE)
_7BIT = re.compile(rb"\b7bit\b", re.IGNORECASE)
_PRINTABLE_SPACE = frozenset(UNICODE_SPACE)


def _body_str(part: Part, body: bytes) -> PerlStr:
    """``Eml::body_str``; raises Undecodable where it croaks."""
    if part.charset is None:
        if part.content_type in ("text/plain", "text/html"):
            return latin1(body), False
        raise Undecodable("no charset")
    enc = perl_encoding(part.charset)
    if enc is None:
        raise Undecodable(part.charset)
    return decode(enc, body, strict=True), True


def _printable(s: str) -> bool:
    """No character matches Perl's ``[^\\p{XPosixPrint}\\s]``."""
    return all(c in _PRINTABLE_SPACE or unicodedata.category(c) not in ("Cc", "Cs", "Cn") for c in s)


def _msg_part_text(part: Part, body: bytes) -> PerlStr | None:
    ct = part.ct_raw or "text/plain"
    if _HTML.search(ct):
        return None
    try:
        return _body_str(part, body)
    except Undecodable:
        pass
    if _TEXTISH.search(ct) or (not part.is_submsg and _MIXED.search(ct)):
        ctes = part.header_values("Content-Transfer-Encoding")
        if ctes and _7BIT.search(ctes[0]):
            return latin1(body), False
        try:  # charset_set('UTF-8'), body_str again, else the bytes
            return decode("utf-8-strict", body, strict=True), True
        except Undecodable:
            return latin1(body), False
    if _OCTET.search(ct):
        s = perl_utf8_decode(latin1(body))
        return s if _printable(s[0]) else None
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
        s = latin1(v[0])
        return mime_header_decode(s)[0] if "=?" in s else s

    def ct(self) -> tuple[str, str, dict[str, str | None]]:
        if self._ct is None:
            self._ct = parse_content_type(self.ct_header())
        return self._ct


def _mp_descend(node: _Node, nr: int) -> list[_Node] | None:
    typ, sub, attrs = node.ct()
    if typ == "message" and sub in _MESSAGE_DESCEND:
        h, c, b = _split(node.bdy or b"")
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
        fn = mime_header_decode(fn)[0]
    descs = header_raw(node.hdr, "Content-Description")
    desc: str | None = None
    if descs:
        d = latin1(descs[0])
        desc = mime_header_decode(d)[0] if "=?" in d else d
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
        h, c, b = _split(raw)
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
