"""Tests for pubinbox.mail.rewrite: the header rewrites public-inbox makes before storing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pubinbox.mail.parse import Headers, split_message, strip_from_line
from pubinbox.mail.rewrite import append_header, drop_unwanted_headers, ensure_list_id, prepare_for_store

from .conftest import perl_meta

LF = b"From: a@b\nSubject: hi\n\nbody\n"
CRLF = b"From: a@b\r\nSubject: hi\r\n\r\nbody\r\n"


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
