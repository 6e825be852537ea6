"""RFC 2047 encoded words, decoded like Perl's Encode::MIME::Header (non-strict).

This is public-inbox's ``Eml::mhdr_decode`` (``decode('MIME-Header', $v,
FB_DEFAULT)``), the one decoder behind every ``header_str`` it calls: the
content hash, the overview and search fields, and the message page all get
their Subject, address phrases, Content-Description, Content-Type and file
names through it.  Adjacent words with the same charset and encoding are
joined before decoding (so a character split across two words survives),
white space between encoded words is dropped, a word in a charset Encode
does not know stays as written.  Charsets are resolved like Encode
(``find_mime_encoding``, then in this non-strict mode ``find_encoding``,
with ``utf8`` meaning strict ``UTF-8``) and decoded with
:func:`pubinbox.mail.charsets.decode`.
"""

from __future__ import annotations

import re

from pubinbox.mail.charsets import decode, perl_encoding, perl_mime_encoding
from pubinbox.mail.perlstr import PerlStr
from pubinbox.mail.transfer import decode_base64

__all__ = ["mime_header_decode"]

_CS = r"[!\"#$%&'+\-0-9A-Z\\^_`a-z{|}~]+"
_LANG = r"[A-Za-z]{1,8}(?:-[0-9A-Za-z]{1,8})*"
_WS = r"[\t\n\x0b\x0c\r ]"  # Perl's \s on a byte string
_EW = r"=\?" + _CS + r"(?:\*" + _LANG + r")?\?[QqBb]\?[^?]*\?="
# $re_capture_encoded_word_split \s* =?\1\2?\3?...?=
_EW_MERGE = re.compile(
    r"=\?(" + _CS + r")((?:\*" + _LANG + r")?)\?([QqBb])\?([^?]*)\?=" + _WS + r"*=\?\1\2\?\3\?([^?]*)\?=",
    re.DOTALL,
)
# ^(.*?)$re_match: the text before a run of encoded words, and the run
_EW_RUN = re.compile(r"(.*?)((?:" + _EW + _WS + r"*)*" + _EW + r")", re.DOTALL)
# ^(.*?)$re_capture: one word of the run and the blanks after it
_EW_ONE = re.compile(
    r"(.*?)(=\?(" + _CS + r")((?:\*" + _LANG + r")?)\?([QqBb]\?[^?]*)\?=" + _WS + r"*)",
    re.DOTALL,
)
# one line, folded continuation lines included, and its line ending
_LINE = re.compile(r"((?:[^\r\n]*(?:(?:\r\n|[\r\n])[ \t])?)*)(\r\n|[\r\n])?")
_B64_PAD_SPLIT = re.compile(r"(?<==)(?=[^=])")
_QP_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")


def _octets(enc_text: str) -> bytes:
    """The bytes of one word (``_decode_b`` / ``_decode_q``)."""
    enc, _, text = enc_text.partition("?")
    text = text.replace("\r", "").replace("\n", "")
    if enc in "Bb":
        # MIME::Base64 stops at '=': decode each padded piece on its own
        return b"".join(decode_base64(p.encode("latin-1", "replace")) for p in _B64_PAD_SPLIT.split(text))
    raw = text.replace("_", " ").encode("latin-1", "replace")
    return _QP_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), raw)


def _charset(name: str) -> str | None:
    """``find_mime_encoding``, else (non-strict) ``find_encoding``."""
    enc = perl_mime_encoding(name)
    if enc is None:
        enc = perl_encoding("UTF-8" if name.lower() == "utf8" else name)
    return enc


def mime_header_decode(s: str) -> PerlStr:
    """Decode the RFC 2047 words of a Perl string; (result, utf8 flag).

    *s* is a header value in the latin-1 view (:mod:`pubinbox.mail.perlstr`);
    text outside encoded words is kept as it is.  The flag is on when any
    word was decoded (Encode returns character strings).
    """
    out: list[str] = []
    flagged = False
    pos = 0
    n = len(s)
    while True:
        m = _LINE.match(s, pos)
        assert m is not None  # the pattern matches the empty string
        line = m.group(1)
        sep = m.group(2) or ""
        pos = m.end()
        if not line and not sep:
            break
        while True:  # join adjacent words of one charset and encoding
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
                enc = _charset(w.group(3))
                if enc is None:
                    # an unknown charset: the word stays, after a blank unless
                    # the output ends with one (/(?:\A|[ \t])$/, where $ also
                    # matches before a final newline)
                    cur = "".join(out)
                    cur = cur.removesuffix("\n")
                    out.append(("" if cur == "" or cur[-1] in " \t" else " ") + w.group(2))
                else:
                    flagged = True
                    out.append(decode(enc, _octets(w.group(5))))
            out.append(words[wp:])
        out.append(line[lp:].replace("\r", "").replace("\n", "") + sep)
        if pos >= n:
            break
    return "".join(out), flagged
