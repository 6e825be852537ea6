"""Content-Transfer-Encoding bodies decoded like Perl's MIME::Base64 and
MIME::QuotedPrint (XS), including public-inbox's LF->CRLF step after
quoted-printable decoding.  Never raises on hostile input."""

from __future__ import annotations

import re

__all__ = ["decode_base64", "decode_body", "decode_qp"]

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
