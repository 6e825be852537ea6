"""UTF-8 decoded exactly as Perl's Encode does it (``utf-8-strict`` and ``utf8``).

public-inbox decodes ``=?UTF-8?...?=`` words and UTF-8 bodies with Encode
(3.17 on Perl 5.36, Debian 12).  Valid input decodes as anywhere else; what
differs is how malformed input turns into U+FFFD, and that reaches the
content hash, the overview and the search index:

* the strict decoder (``UTF-8``, ``utf-8-strict``) also refuses surrogates,
  code points above U+10FFFF and the 66 noncharacters (U+FDD0..U+FDEF,
  U+xxFFFE, U+xxFFFF); Python's accepts noncharacters;
* one U+FFFD replaces a start byte and the continuation bytes after it
  (``ED A0 80``, an encoded surrogate, is one U+FFFD, where Python gives
  three), a stray continuation byte is one U+FFFD by itself;
* Perl 5.36's ``utf8n_to_uvchr`` walks its DFA on from the reject state
  after a malformed first byte (``inline.h``: the loop tests for rejection
  only after consuming the next byte), so a malformed byte can swallow the
  character after it: ``80 E2 82 AC`` (a stray byte, then "€") is one
  U+FFFD, ``80 C3 A9`` is U+FFFD then "é".  :func:`_malformed_len` walks
  the same table (``PL_strict_utf8_dfa_tab`` from ``perl.h``) the same way.

tests/mail/test_charsets.py compares it with Encode on 16,000 random
malformed inputs (both decoders, FB_DEFAULT and FB_WARN).  The lax decoder
(``utf8``) accepts Perl's extended UTF-8; code points above U+10FFFF,
which a Python string cannot hold, come out as U+FFFD.
"""

from __future__ import annotations

import re

__all__ = ["decode_utf8", "valid_utf8"]

# PL_strict_utf8_dfa_tab (perl.h, Perl 5.36): 256 byte classes, then the
# transition rows of states N0..N11 (Nk = 19 * k); state 1 rejects.
_CLASSES = (
    [0] * 128
    + [9] * 15
    + [10]
    + [11] * 15
    + [12]
    + [13] * 15
    + [14]
    + [15] * 7
    + [16]
    + [15] * 6
    + [17, 18]
    + [1, 1]
    + [2] * 30
    + [7]
    + [3] * 12
    + [1, 3, 4]
    + [8, 6, 6, 6, 5]
    + [1] * 11
)
_N = [19 * k for k in range(12)]
_N1, _N2, _N3, _N4, _N5, _N6, _N7, _N8, _N9, _N10, _N11 = _N[1:]
_ROWS = [
    [0, 1, _N1, _N2, _N4, _N7, _N6, _N3, _N5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [1, 1, 1, 1, 1, 1, 1, 1, 1] + [_N1] * 10,
    [1] * 13 + [_N1] * 6,
    [1, 1, 1, 1, 1, 1, 1, 1, 1, _N1, _N1, _N1, _N1, _N1, _N1, _N1, _N8, _N1, _N9],
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, _N2, _N10, _N2, _N10, _N2, _N2, _N2, _N10],
    [1, 1, 1, 1, 1, 1, 1, 1, 1, _N2, _N10, _N2, _N10, _N2, _N10, _N2, _N2, _N2, _N10],
    [1, 1, 1, 1, 1, 1, 1, 1, 1, _N2, _N10, 1, 1, 1, 1, 1, 1, 1, 1],
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0],
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1],
    [1, 1, 1, 1, 1, 1, 1, 1, 1, _N1, _N1, _N1, _N1, _N1, _N1, _N1, _N1, _N1, _N11],
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1],
]
_TAB = bytes(_CLASSES + [x for row in _ROWS for x in row])
assert len(_TAB) == 256 + 12 * 19

# Perl's UTF8SKIP for start bytes (its extended UTF-8 goes up to 13 bytes)
_SKIP = bytes([1] * 0xC0 + [2] * 32 + [3] * 16 + [4] * 8 + [5] * 4 + [6] * 2 + [7, 13])
# the smallest code point each length may encode (shorter is overlong)
_MIN_CP = {2: 0x80, 3: 0x800, 4: 0x10000, 5: 0x200000, 6: 0x4000000, 7: 0x80000000, 13: 1 << 36}
_NONCHAR = re.compile(
    "[\ufdd0-\ufdef\ufffe\uffff\U0001fffe\U0001ffff\U0002fffe\U0002ffff"
    "\U0003fffe\U0003ffff\U0004fffe\U0004ffff\U0005fffe\U0005ffff\U0006fffe\U0006ffff"
    "\U0007fffe\U0007ffff\U0008fffe\U0008ffff\U0009fffe\U0009ffff\U000afffe\U000affff"
    "\U000bfffe\U000bffff\U000cfffe\U000cffff\U000dfffe\U000dffff\U000efffe\U000effff"
    "\U000ffffe\U000fffff\U0010fffe\U0010ffff]"
)


def _char_at(data: bytes, i: int, strict: bool) -> tuple[int, int]:
    """(length, code point) of the well-formed character at *i*, (0, 0) if none."""
    b = data[i]
    if b < 0x80:
        return 1, b
    if b < 0xC0:
        return 0, 0
    k = _SKIP[b]
    if i + k > len(data):
        return 0, 0
    cp = b & (0 if k >= 7 else 0x1F >> (k - 2))
    for x in data[i + 1 : i + k]:
        if x & 0xC0 != 0x80:
            return 0, 0
        cp = cp << 6 | x & 0x3F
    if cp < _MIN_CP[k] or cp >= 1 << 64:
        return 0, 0
    if strict and (cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF or 0xFDD0 <= cp <= 0xFDEF or cp & 0xFFFE == 0xFFFE):
        return 0, 0
    return k, cp


def _malformed_len(data: bytes, i: int) -> int:
    """How many bytes Encode replaces by one U+FFFD at a malformed *i*.

    ``utf8n_to_uvchr(s, e - s, &ulen, UTF8_ALLOW_ANY)``: the inlined DFA
    (which keeps walking from the reject state, see the module docstring)
    and, when it does not accept, the helper's length (the start byte and
    the continuation bytes that follow it, as many as it announces).
    """
    n = len(data)
    state = _TAB[256 + _TAB[data[i]]]
    j = i + 1
    while j < n:
        state = _TAB[256 + state + _TAB[data[j]]]
        if state == 0:
            return j - i + 1
        if state == 1:
            break
        j += 1
    b = data[i]
    if b & 0xC0 == 0x80:
        return 1
    avail = min(_SKIP[b], n - i)
    k = 1
    while k < avail and data[i + k] & 0xC0 == 0x80:
        k += 1
    return k


def _fast(data: bytes, strict: bool) -> str | None:
    """The common case: valid input, decoded by Python (None if not valid)."""
    try:
        s = data.decode("utf-8") if strict else data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None
    if strict and not s.isascii() and _NONCHAR.search(s):
        return None
    return s


def decode_utf8(data: bytes, *, strict: bool = True) -> str:
    """Encode's ``decode`` with FB_DEFAULT: malformed input becomes U+FFFD.

    *strict*: ``utf-8-strict`` (what ``UTF-8`` names); else Perl's lax ``utf8``.
    """
    s = _fast(data, strict)
    if s is not None:
        return s
    out: list[str] = []
    i = 0
    n = len(data)
    while i < n:
        k, cp = _char_at(data, i, strict)
        if k:
            out.append(chr(cp) if cp <= 0x10FFFF else "\ufffd")
            i += k
        else:
            out.append("\ufffd")
            i += _malformed_len(data, i)
    return "".join(out)


def valid_utf8(data: bytes, *, strict: bool = True) -> bool:
    """Whether Encode decodes *data* without a warning (FB_WARN would croak)."""
    if _fast(data, strict) is not None:
        return True
    i = 0
    n = len(data)
    while i < n:
        k, _ = _char_at(data, i, strict)
        if not k:
            return False
        i += k
    return True
