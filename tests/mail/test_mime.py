"""Unit and property tests for pubinbox.mail.mime (public-inbox-compatible walker)."""

from __future__ import annotations

import glob
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from pubinbox.mail.contenttype import parse_content_type
from pubinbox.mail.mime import iter_parts
from pubinbox.mail.transfer import decode_base64, decode_qp
from tests.conftest import HARD_DIR


def parts(raw: bytes) -> list[tuple[str, str, str | None, bytes]]:
    return [(p.idx_str, p.content_type, p.filename, p.decoded()) for p in iter_parts(raw)]


MIXED = b"""From: a@example.com
Subject: mixed
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XX"

preamble without colon
--XX
Content-Type: text/plain; charset=utf-8

hello
--XX
Content-Type: text/x-log; name="crash.log"
Content-Disposition: attachment; filename="crash.log"
Content-Transfer-Encoding: base64

Y3Jhc2gK
--XX--
epilogue
"""


def test_single_part() -> None:
    raw = b"Subject: x\n\nbody\n"
    assert parts(raw) == [("1", "text/plain", None, b"body\n")]
    (p,) = iter_parts(raw)
    assert p.idx == (1,) and p.depth == 0 and p.charset == "us-ascii"


def test_mixed_with_attachment() -> None:
    assert parts(MIXED) == [
        ("1", "text/plain", None, b"hello"),
        ("2", "text/x-log", "crash.log", b"crash\n"),
    ]
    p = next(iter(iter_parts(MIXED)))
    assert p.text() == ("hello", True) and p.charset == "utf-8"


def test_nested_alternative() -> None:
    raw = b"""Content-Type: multipart/mixed; boundary=out

--out
Content-Type: multipart/alternative; boundary=in

--in
Content-Type: text/plain

plain
--in
Content-Type: text/html

<p>html</p>
--in--
--out
Content-Type: text/x-patch; name=foo.patch

diff
--out--
"""
    got = [(i, ct, fn) for i, ct, fn, _ in parts(raw)]
    assert got == [("1.1", "text/plain", None), ("1.2", "text/html", None), ("2", "text/x-patch", "foo.patch")]
    assert [p.depth for p in iter_parts(raw)] == [2, 2, 1]


def test_message_rfc822_descends() -> None:
    raw = b"""Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/plain

see attached
--b
Content-Type: message/rfc822

Subject: inner
Content-Type: multipart/mixed; boundary=c

--c
Content-Type: text/plain

inner one
--c
Content-Type: text/plain

inner two
--c--
--b--
"""
    got = [(p.idx_str, p.content_type, p.is_submsg) for p in iter_parts(raw)]
    # public-inbox reports the message/rfc822 part itself and the attached
    # message's multipart container too (the latter with an empty body)
    assert got == [
        ("1", "text/plain", False),
        ("2", "message/rfc822", False),
        ("2.1", "multipart/mixed", True),
        ("2.1.1", "text/plain", False),
        ("2.1.2", "text/plain", False),
    ]


def test_quoted_printable_and_crlf() -> None:
    raw = (
        b"Content-Type: text/plain; charset=iso-8859-1\n"
        b"Content-Transfer-Encoding: quoted-printable\n\n"
        b"caf=E9 soft=\nbreak  \nx\n"
    )
    (p,) = iter_parts(raw)
    # like public-inbox: QP output has LF turned into CRLF
    assert p.decoded() == b"caf\xe9 softbreak\r\nx\r\n"
    assert p.text() == ("caf\xe9 softbreak\r\nx\r\n", True)


def test_decoders_lenient() -> None:
    assert decode_base64(b"QUJD") == b"ABC"
    assert decode_base64(b"QQ==QUJD") == b"A"
    assert decode_base64(b"QUJDR") == b"ABC"
    assert decode_base64(b"!!Q U\nJ\x00D") == b"ABC"
    assert decode_qp(b"a=4") == b"a=4"
    assert decode_qp(b"a=41=\r\nb  \r\n") == b"aAb\n"


def test_broken_boundary_is_single_part() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=nope\n\njust text\n"
    assert parts(raw) == [("1", "multipart/mixed", None, b"just text\n")]


def test_missing_closing_boundary_and_empty_parts() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=z\n\n--z\n\n \n--z\nContent-Type: text/plain\n\nlast\n\n"
    assert parts(raw) == [("1", "text/plain", None, b"last\n")]


def test_no_content_type_and_junk_charset() -> None:
    raw = b"Content-Type: text/plain; charset=y\n\n\xe9t\xe9\n"
    (p,) = iter_parts(raw)
    assert p.charset == "y"
    # an unknown charset, not UTF-8 either: the bytes (msg_part_text)
    assert p.text() == ("\xe9t\xe9\n", False)
    raw = b"Content-Type: text/plain; charset=gb2312\n\n\x81\x40\n"
    (p,) = iter_parts(raw)
    assert p.text() == ("\x81@\n", False)  # GBK-only char labelled gb2312: bytes
    (p,) = iter_parts(b"Content-Type: text/html; charset=utf-8\n\n<p>x</p>\n")
    assert p.text() is None
    (p,) = iter_parts(b"Content-Type: image/png\n\n\x89PNG\r\n")
    assert p.text() is None


def test_rfc2231_and_2047_filenames() -> None:
    raw = b"""Content-Type: multipart/mixed; boundary=q

--q
Content-Type: application/octet-stream
Content-Disposition: attachment;
 filename*0*=utf-8''caf%C3%A9;
 filename*1=".txt"

x
--q
Content-Type: application/octet-stream; name="=?utf-8?q?na=C3=AFve?=.bin"

y
--q--
"""
    assert [p.filename for p in iter_parts(raw)] == ["caf\xe9.txt", "na\xefve.bin"]


def test_content_type_parser() -> None:
    assert parse_content_type(None) == ("text", "plain", {"charset": "us-ascii"})
    t, s, a = parse_content_type('Text/Plain (c); charset="UTF-8"; format=flowed')
    assert (t, s, a) == ("text", "plain", {"charset": "UTF-8", "format": "flowed"})
    assert parse_content_type("garbage")[:2] == ("text", "plain")


def test_depth_limit() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=b0\n\n"
    for i in range(1, 25):
        raw += b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i - 1, i)
    raw += b"--b24\n\ndeep\n"
    got = list(iter_parts(raw))
    assert len(got) == 1 and len(got[0].idx) == 20  # depth 20 is a leaf


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_never_raises_on_random_bytes(raw: bytes) -> None:
    for p in iter_parts(raw):
        p.decoded()
        p.text()


# the curated hard cases shipped in the repository (tests/data/hard): the
# test fails, never falls back, if they are missing
_SAMPLES = sorted(glob.glob(str(HARD_DIR / "**" / "*.eml"), recursive=True))[:60]


def test_mutation_samples_present() -> None:
    assert len(_SAMPLES) >= 40, f"no hard cases under {HARD_DIR}"


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(1, 40))
def test_never_raises_on_mutated_messages(seed: int, nmut: int) -> None:
    rng = random.Random(seed)
    assert _SAMPLES, f"no hard cases under {HARD_DIR}"
    with open(rng.choice(_SAMPLES), "rb") as f:
        raw = bytearray(f.read())
    tokens = [
        b"\n",
        b"\r\n",
        b"--",
        b"=?",
        b"?=",
        b"\x00",
        b";",
        b"=",
        b"boundary=",
        b"Content-Type: multipart/mixed; boundary=x\n",
        b"charset=",
        b"\xff",
        b"--x\n",
        b"base64",
        b"quoted-printable",
    ]
    for _ in range(nmut):
        pos = rng.randrange(len(raw) + 1)
        op = rng.randrange(3)
        if op == 0:
            raw[pos:pos] = rng.choice(tokens)
        elif op == 1:
            del raw[pos : pos + rng.randrange(1, 50)]
        else:
            raw[pos : pos + 1] = bytes([rng.randrange(256)])
    for p in iter_parts(bytes(raw)):
        p.decoded()
        p.text()
