"""Tests for pubinbox.mail.parse: splitting, header access, rewriting."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pubinbox.mail.parse import (
    Headers,
    append_header,
    drop_unwanted_headers,
    ensure_list_id,
    mime_header_decode,
    parse_layout,
    perl_utf8_decode,
    prepare_for_store,
    split_message,
    strip_from_line,
)

from .conftest import perl_meta

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


def test_mime_header_decode_details() -> None:
    # split multi-byte characters across words are joined first
    assert mime_header_decode("=?utf-8?q?=C3?= =?utf-8?q?=A9?=") == ("\xe9", True)
    assert mime_header_decode("a =?utf-8?b?w6k=?= b") == ("a \xe9 b", True)
    assert mime_header_decode("=?bogus?q?x?=") == ("=?bogus?q?x?=", False)
    assert mime_header_decode("=?utf-8?q?=FF?=")[0] == "\ufffd"


def test_perl_utf8_decode() -> None:
    assert perl_utf8_decode("caf\xc3\xa9") == ("caf\xe9", True)
    assert perl_utf8_decode("caf\xe9") == ("caf\xe9", False)
    assert perl_utf8_decode("abc") == ("abc", False)
    assert perl_utf8_decode("\u20ac") == ("\u20ac", True)


def test_drop_unwanted_headers() -> None:
    raw = (
        b"From: a@b\nStatus: RO\nDelivered-To: x@y\nX-Status:\n"
        b"Approved: secret\n continued\nSubject: s\nContent-Length: 3\n\nbody\nStatus: kept\n"
    )
    assert drop_unwanted_headers(raw) == b"From: a@b\nSubject: s\n\nbody\nStatus: kept\n"
    assert drop_unwanted_headers(LF) == LF
    assert drop_unwanted_headers(CRLF) == CRLF


def test_append_header() -> None:
    raw = b"Message-ID: <a@b>\nSubject: s\n\nbody\n"
    out = append_header(raw, "Message-ID", "<gen@z>")
    assert out == b"Message-ID: <a@b>\nSubject: s\nMessage-ID: <gen@z>\n\nbody\n"
    # existing fields are re-serialised unfolded with the canonical name
    raw = b"message-id:\n <a@b>\nSubject: s\r\n\r\nbody"
    out = append_header(raw, "Message-ID", "<gen@z>")
    # rewritten lines end like the blank separator line (CRLF here)
    assert out == b"Message-ID: <a@b>\r\nSubject: s\r\nMessage-ID: <gen@z>\r\n\r\nbody"


def test_list_id() -> None:
    out = ensure_list_id(LF, "test@example.com")
    assert out == b"From: a@b\nSubject: hi\nList-Id: <test.example.com>\n\nbody\n"
    has = b"List-Id: <x>\n\nb"
    assert ensure_list_id(has, "test@example.com") == has


def test_long_value_is_folded() -> None:
    words = " ".join([f"word{i}" for i in range(30)])
    out = append_header(b"A: b\n\nc", "X-Long", words)
    hdr = split_message(out)[0]
    assert b"\n\t" in hdr
    assert Headers(out).raw("X-Long") == [words]


INLINE = {
    "plain.eml": LF,
    "crlf.eml": CRLF,
    "noheader.eml": b"just a body\nStatus: x\n\nmore\n",
    "headeronly.eml": b"Subject: only\nStatus: RO\n",
    "unwanted.eml": b"From: a@b\nLines: 3\nBytes: 4\nX-PMRQC: 1\nurgent: yes\nSubject: s\n\nb\n",
    "folded-mid.eml": b"Message-ID:\n <long@x>\nmessage-id: <second@x>\nSubject: s\n\nb\n",
    "long-listid.eml": b"Subject: s\nMessage-ID: <" + b"x" * 90 + b"@y>\n\nb\n",
    "tabs.eml": b"Message-ID: <a@b>\t<c@d>   (comment with   many    spaces and more text here)\n\nb",
    "listid.eml": b"List-Id: <foo.bar>\nSubject: s\n\nb\n",
    "fromline.eml": b"From mboxrd@z Thu Jan  1 00:00:00 1970\nSubject: s\nStatus: O\n\nb\n",
}


@pytest.mark.peer
def test_rewrites_match_public_inbox(tmp_path: Path) -> None:
    paths = []
    for name, raw in INLINE.items():
        p = tmp_path / name
        p.write_bytes(raw)
        paths.append(p)
    want = perl_meta(paths)
    for p in paths:
        raw = strip_from_line(p.read_bytes())
        exp = want[str(p)]
        assert hashlib.sha1(drop_unwanted_headers(raw)).hexdigest() == exp[13], p.name
        mda = prepare_for_store(raw, list_id_address="test@example.com", extra_mids=("gen.x@z",))
        assert hashlib.sha1(mda).hexdigest() == exp[14], p.name
