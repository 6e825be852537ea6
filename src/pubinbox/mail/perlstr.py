"""Perl strings, modelled in Python: bytes as characters and the utf8 flag.

public-inbox keeps a header value as a Perl byte string; RFC 2047 decoding
turns it into a character string with the utf8 flag on, and what comes out
later (a commit, a content hash, a search term) depends on that flag.  A
Perl string is modelled as a Python ``str`` whose code points are Perl's
characters: an undecoded header byte ``b"\\xe9"`` is the character
``"\\xe9"`` (the latin-1 view, :func:`latin1`), plus a ``bool`` for the flag
where Perl's behaviour depends on it (``PerlStr``).  This module holds the
conversions every path shares: ``utf8::decode`` (:func:`perl_utf8_decode`),
``utf8::encode`` (:func:`perl_utf8_encode`), the "UTF-8 if valid, else
latin-1" reading our own pages use (:func:`friendly`), and Perl's ``\\s``
for both kinds of string.
"""

from __future__ import annotations

__all__ = [
    "ASCII_SPACE",
    "UNICODE_SPACE",
    "PerlStr",
    "friendly",
    "friendly_bytes",
    "latin1",
    "perl_utf8_decode",
    "perl_utf8_encode",
]

#: (characters, utf8 flag): a Perl string and the flag its behaviour depends on
PerlStr = tuple[str, bool]

#: Perl's ``\s`` on a byte string (flag off): ASCII blanks only
ASCII_SPACE = "\t\n\x0b\x0c\r "
#: Perl's ``\s`` on a character string (flag on): Unicode white space
UNICODE_SPACE = (
    ASCII_SPACE + "\x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u2028\u2029\u202f\u205f\u3000"
)


def latin1(b: bytes) -> str:
    """Bytes -> Perl byte string (one character per byte)."""
    return b.decode("latin-1")


def friendly_bytes(b: bytes) -> str:
    """Bytes as UTF-8 when valid, else as latin-1 (never raises)."""
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")


def friendly(s: str) -> str:
    """A Perl byte string (latin-1 view) read as UTF-8 when it is valid."""
    if s.isascii():
        return s
    try:
        return s.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return s


def perl_utf8_decode(s: str, flagged: bool = False) -> PerlStr:
    """Perl's in-place ``utf8::decode``: returns (string, utf8 flag).

    Strings holding characters above U+00FF are left alone (flag on).
    Otherwise the characters are taken as bytes and decoded as UTF-8 when
    valid (surrogates allowed, as Perl's lax UTF-8 allows them); when not
    valid the string stays a byte string (flag off).  *flagged* is the flag
    before the call: a flagged string of code points up to U+00FF holds the
    same bytes as the unflagged one, so Perl gives the same result.
    """
    del flagged
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
    """Perl's ``utf8::encode``: characters -> UTF-8 octets (lax: surrogates kept)."""
    return s.encode("utf-8", "surrogatepass")
