"""Tests for pubinbox.mail.parse: splitting a message, reading its header fields."""

from __future__ import annotations

import itertools
from pathlib import Path

from pubinbox.mail.mbox import iter_mbox
from pubinbox.mail.meta import META_FIELDS
from pubinbox.mail.parse import Headers, header_raw, header_str, parse_layout, split_message, strip_from_line

LF = b"From: a@b\nSubject: hi\n\nbody\n"
CRLF = b"From: a@b\r\nSubject: hi\r\n\r\nbody\r\n"


def test_split_lf_crlf() -> None:
    assert split_message(LF) == (b"From: a@b\nSubject: hi\n", b"body\n")
    assert split_message(CRLF) == (b"From: a@b\r\nSubject: hi\r\n", b"body\r\n")
    assert parse_layout(CRLF).eol == b"\r\n"


def test_split_header_only_and_no_header() -> None:
    lay = parse_layout(b"Subject: x\nFrom: y\n")
    assert lay.body is None and lay.header == b"Subject: x\nFrom: y\n"
    assert lay.as_bytes() == b"Subject: x\nFrom: y\n"
    lay = parse_layout(b"just a body")
    assert lay.header == b"" and lay.body == b"just a body"
    # public-inbox serialises a header-less message with a leading blank line
    assert lay.as_bytes() == b"\njust a body"
    assert split_message(b"") == (b"", b"")


def test_split_mixed_line_endings() -> None:
    hdr, body = split_message(b"A: 1\nB: 2\r\n\r\nx\n\ny")
    assert hdr == b"A: 1\nB: 2\r\n" and body == b"x\n\ny"


def test_header_truncated_at_limit() -> None:
    big = b"X-Big: " + b"a" * 200 + b"\n"
    raw = b"Subject: s\n" + big * 600 + b"\nbody"
    hdr, body = split_message(raw)
    assert len(hdr) <= 102400 and hdr.endswith(b"\n") and body == b"body"


def test_strip_from_line() -> None:
    assert strip_from_line(b"From mboxrd@z Thu Jan  1 00:00:00 1970\nA: b\n\nc") == b"A: b\n\nc"
    assert strip_from_line(b"\n\nFrom x\r\nA: b\n") == b"A: b\n"
    assert strip_from_line(b"A: b\n\nFrom x\n") == b"A: b\n\nFrom x\n"


def test_header_raw_unfolds_and_trims() -> None:
    h = Headers(b"Subject:  a\n\tb \n  c  \nsubject: second\nTo: x\n\n")
    # each fold becomes one space; blanks before the line break stay
    assert h.raw("Subject") == ["a b  c", "second"]
    assert h.raw("SUBJECT") == ["a b  c", "second"]
    assert h.raw("Cc") == []
    assert h.names() == ["Subject", "subject", "To"]


def test_header_raw_continuation_heuristic() -> None:
    # a line with a blank before any colon continues the previous field
    h = Headers(b"Subject: a\nnot a header: b\nTo: t\n\n")
    assert h.raw("Subject") == ["a not a header: b"]


def test_raw_non_utf8_convention() -> None:
    h = Headers(b"Subject: caf\xc3\xa9\nX-L: caf\xe9\n\n")
    assert h.raw("Subject") == ["caf\xe9"]
    assert h.raw("X-L") == ["caf\xe9"]
    assert h.raw_bytes("X-L") == [b"caf\xe9"]


def test_decoded_rfc2047() -> None:
    h = Headers(
        b"Subject: =?utf-8?q?caf=C3=A9?= =?utf-8?q?_bar?= tail\n"
        b"From: =?iso-8859-1?q?J=F6rg?= <j@x.de>\n"
        b"To: =?x-unknown?q?abc?= <t@x>\n\n"
    )
    assert h.decoded("Subject") == ["caf\xe9 bar tail"]
    assert h.decoded("From") == ["J\xf6rg <j@x.de>"]
    assert h.decoded("To") == ["=?x-unknown?q?abc?= <t@x>"]


def test_header_raw_of_a_block() -> None:
    hdr = split_message(b"Subject: a\n b\nX: 1\nsubject:  two \n\nbody")[0]
    assert header_raw(hdr, "Subject") == [b"a b", b"two"]


def test_decoded_paths() -> None:
    # raw 8-bit text is UTF-8 for the overview and our pages, latin-1 (as
    # Perl's header_str leaves it) for the content hash
    h = Headers(b"Subject: caf\xc3\xa9 =?utf-8?q?=C3=A0?=\nSubject: caf\xc3\xa9\nX-L: caf\xe9\n\n")
    assert h.perl_decoded("Subject") == [("caf\xc3\xa9 \xe0", True), ("caf\xc3\xa9", False)]
    assert h.decoded("Subject", utf8=False) == ["caf\xc3\xa9 \xe0", "caf\xc3\xa9"]
    # utf8::decode takes the characters as bytes: c3 a9 20 e0 is not UTF-8
    assert h.decoded("Subject") == ["caf\xc3\xa9 \xe0", "caf\xe9"]
    assert h.decoded("X-L") == ["caf\xe9"]
    assert header_str(h.block, "subject") == h.perl_decoded("Subject")


def test_headers_indexed_for_some_fields_read_every_field(hard_dir: Path, sample_mbox: Path) -> None:
    # Headers(only=...) indexes those fields only, and the whole block the
    # first time another is read: every field reads the same either way
    from pubinbox.mail import parse

    raws = [f.read_bytes() for f in sorted(hard_dir.rglob("*.eml"))]
    with sample_mbox.open("rb") as fp:
        raws += list(itertools.islice(iter_mbox(fp), 60))
    assert len(raws) > 150
    indexed: list[tuple[bytes, ...] | None] = []
    real = parse._header_index

    def spy(header: bytes, only: tuple[bytes, ...] | None) -> dict[bytes, list[bytes]]:
        indexed.append(only)
        return real(header, only)

    for raw in raws:
        full = Headers(raw)
        full.raw_bytes("x")  # indexed before the spy
        names = full.names() + ["Message-ID", "nosuch", "SUBJECT", "x-ALT-message-id"]
        parse._header_index = spy
        try:
            some = Headers(raw, only=META_FIELDS)
            for name in ["Subject", "received", "Message-Id"]:
                assert some.raw_bytes(name) == full.raw_bytes(name), name
            assert indexed == [tuple(sorted(META_FIELDS))]  # one index, of those fields only
            for name in names:
                assert some.raw_bytes(name) == full.raw_bytes(name), name
                assert some.perl_decoded(name) == full.perl_decoded(name), name
            assert indexed[1:] == [None]  # another field: the whole block, once
        finally:
            parse._header_index = real
            indexed.clear()
