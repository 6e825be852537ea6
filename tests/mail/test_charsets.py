"""Tests for pubinbox.mail.charsets and pubinbox.mail.utf8 against Perl's Encode."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from pubinbox.mail.charsets import Undecodable, decode, perl_encoding, perl_mime_encoding
from pubinbox.mail.utf8 import decode_utf8, valid_utf8

HERE = Path(__file__).resolve().parent


def perl_decode(cases: list[tuple[str, bytes, str]]) -> list[str | None]:
    """Encode's answer per (encoding, bytes, mode): the characters, None on failure."""
    inp = "".join(f"{enc}\t{data.hex()}\t{mode}\n" for enc, data, mode in cases).encode()
    out = subprocess.run(["perl", str(HERE / "pi_decode.pl")], input=inp, capture_output=True, check=True)
    lines = out.stdout.decode().splitlines()
    assert len(lines) == len(cases)
    return [None if x in ("ERR", "NOENC") else _chars(bytes.fromhex(x)) for x in lines]


SUPER = "<above U+10FFFF>"


def _chars(b: bytes) -> str:
    try:
        return b.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:  # Perl's extended UTF-8: no Python character
        return SUPER


def test_perl_encoding_names() -> None:
    assert perl_encoding("UTF-8") == "utf-8-strict"
    assert perl_encoding("utf8") == "utf8"
    assert perl_encoding("gb2312") == "euc-cn"
    assert perl_encoding("latin1") == "iso-8859-1"
    assert perl_encoding("x-unknown") is None
    assert perl_encoding("gb18030") is None  # Encode::HanExtra is not installed
    assert perl_mime_encoding("latin1") is None  # not a MIME name
    assert perl_mime_encoding("ISO-8859-1") == "iso-8859-1"


def test_utf8_replacement_rules() -> None:
    # an encoded surrogate is one U+FFFD (Python's decoder gives three)
    assert decode_utf8(b"\xed\xa0\x80x") == "\ufffdx"
    # an overlong form and a code point above U+10FFFF: one each
    assert decode_utf8(b"\xc0\x80x\xf4\x90\x80\x80y") == "\ufffdx\ufffdy"
    # noncharacters are malformed for the strict decoder only
    assert decode_utf8(b"\xef\xbf\xbe") == "\ufffd"
    assert decode_utf8(b"\xef\xbf\xbe", strict=False) == "\ufffe"
    # a stray byte swallows the 3-byte character after it (Perl 5.36's DFA)
    assert decode_utf8(b"\x80\xe2\x82\xacA") == "\ufffdA"
    assert decode_utf8(b"\x80\xc3\xa9A") == "\ufffd\xe9A"
    assert valid_utf8(b"caf\xc3\xa9") and not valid_utf8(b"\xef\xbf\xbf")
    assert valid_utf8(b"\xed\xa0\x80", strict=False) and not valid_utf8(b"\xed\xa0\x80")


def test_decode_strict_raises() -> None:
    with pytest.raises(Undecodable):
        decode("utf-8-strict", b"\xff", strict=True)
    with pytest.raises(Undecodable):
        decode("ascii", b"\xe9", strict=True)
    assert decode("ascii", b"\xe9") == "\ufffd"
    assert decode("UTF-16", b"\x00a\x00b") == "ab"  # no BOM: big-endian
    assert decode("UTF-16", b"\xff\xfea\x00") == "a"


_BYTES = [0x41, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xAC, 0xB7, 0xBE, 0xBF, 0xC0, 0xC2, 0xC3, 0xDF, 0xE0, 0xE2, 0xED]
_BYTES += [0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xF8, 0xFC, 0xFE, 0xFF, 0x82, 0xA9]


@pytest.mark.peer
def test_utf8_against_encode() -> None:
    """Random malformed UTF-8, decoded by Encode and by us, strict and lax,
    with FB_DEFAULT (U+FFFD) and FB_WARN (fails or not)."""
    rng = random.Random(1)
    samples = [bytes(rng.choice(_BYTES) for _ in range(rng.randint(1, 8))) + b"x" for _ in range(4000)]
    samples += ["añb€c😀".encode()[: rng.randint(0, 12)] for _ in range(50)]
    cases = [(enc, s, mode) for s in samples for enc in ("utf-8-strict", "utf8") for mode in ("default", "warn")]
    got: list[str | None] = []
    for enc, s, mode in cases:
        strict = enc == "utf-8-strict"
        if mode == "default":
            got.append(decode(enc, s))
        else:
            got.append(decode(enc, s, strict=True) if valid_utf8(s, strict=strict) else None)
    want = perl_decode(cases)
    # the lax decoder's code points above U+10FFFF have no Python character
    bad = [
        (c, w, g) for c, w, g in zip(cases, want, got, strict=True) if w != g and not (c[0] == "utf8" and w == SUPER)
    ]
    assert bad == []
