"""RFC 2047 encoded words in header values, decoded like Perl's
Encode::MIME::Header (non-strict), as public-inbox shows them."""

from __future__ import annotations

import re

from pubinbox.mail.charsets import _perl_decode_lenient, perl_encoding, perl_mime_encoding
from pubinbox.mail.transfer import decode_base64

__all__ = ["mime_header_decode"]

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
