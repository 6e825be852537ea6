"""SameContent: dedupe by public-inbox's content hash, with the shortcut
of equal hash inputs (mail.hashing.content_inputs) -- it must answer what
comparing the hashes answers, on real hard cases and made-up headers."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pubinbox.ingest.message import SameContent
from pubinbox.mail.hashing import content_hash, content_inputs
from pubinbox.mail.mbox import iter_mbox

#: written out here, not taken from the module: a field it forgets must fail
FIELDS = (
    "Message-ID", "References", "In-Reply-To", "From", "Sender", "Subject", "Date", "To", "Cc",
    "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Content-Description",
    "MIME-Version", "Content-ID", "X-Alt-Message-ID", "Reply-To", "Resent-From", "Bcc",
    "Received", "X-Mailer", "List-Id", "Delivered-To", "DKIM-Signature", "Return-Path",
)  # fmt: skip


def _messages(hard_dir: Path, sample_mbox: Path) -> list[bytes]:
    out = [p.read_bytes() for p in sorted(hard_dir.rglob("*.eml"))]
    with sample_mbox.open("rb") as f:
        out += list(itertools.islice(iter_mbox(f), 60))
    assert len(out) > 100
    return out


def _with_fields(raw: bytes, lines: list[bytes], *, at_end: bool = False) -> bytes:
    """*raw* with header lines added at the top of its header (or the end)."""
    eol = b"\r\n" if b"\r\n" in raw[: raw.find(b"\n") + 1] else b"\n"
    add = b"".join(line + eol for line in lines)
    if not at_end:
        return add + raw
    cut = raw.find(eol + eol)
    if cut < 0:
        return raw + add
    return raw[: cut + len(eol)] + add + raw[cut + len(eol) :]


def test_copies_with_other_headers_are_found_without_hashing(hard_dir: Path, sample_mbox: Path) -> None:
    for raw in _messages(hard_dir, sample_mbox):
        copy = _with_fields(raw, [b"Received: from relay by mx; Mon, 1 Jan 2024 00:00:00 +0000", b"X-Mailer: x"])
        copy = _with_fields(copy, [b"List-Id: <a.b.c>"], at_end=True)
        assert content_inputs(copy) == content_inputs(raw)
        assert content_hash(copy) == content_hash(raw)
        assert SameContent(raw)(copy)


def test_a_changed_hashed_field_is_another_message(hard_dir: Path, sample_mbox: Path) -> None:
    for raw in _messages(hard_dir, sample_mbox):
        other = _with_fields(raw, [b"Cc: someone-else@example.org"], at_end=True)
        assert content_inputs(other) != content_inputs(raw)
        assert SameContent(raw)(other) == (content_hash(other) == content_hash(raw))


def test_the_same_text_in_another_transfer_encoding_is_a_copy() -> None:
    """Inputs differ (body bytes, Content-Transfer-Encoding), hashes agree:
    the hashes decide."""
    head = b"From: a@example.com\nSubject: s\nMessage-ID: <q@x>\nContent-Type: text/plain; charset=utf-8\n"
    plain = head + b"Content-Transfer-Encoding: 8bit\n\ncaf\xc3\xa9 au lait\n"
    qp = head + b"Content-Transfer-Encoding: quoted-printable\n\ncaf=C3=A9 au lait\n"
    assert content_inputs(plain) != content_inputs(qp)
    assert content_hash(plain) == content_hash(qp)
    assert SameContent(plain)(qp)


BASE = (
    b"From: Alice <alice@example.com>\nTo: list@example.org\nSubject: [PATCH] x\n"
    b"Date: Mon, 02 Jan 2023 10:00:00 +0000\nMessage-ID: <1@example.com>\n"
)


VALUES = (
    "v", "<1@example.com>", "<2@example.com>", "=?utf-8?q?caf=C3=A9?=", "base64", "b@c.d",
    "multipart/mixed; boundary=b", "text/plain; charset=latin1", "attachment; filename=f.txt",
)  # fmt: skip
BODIES = (b"body\n", b"Ym9keQo=\n", b"--b\n\nx\n--b--\n", b"caf\xe9\n")
#: with From, without, and with a reference (a Message-ID equal to it is not hashed)
BASES = (BASE, BASE.split(b"\n", 1)[1], BASE + b"References: <2@example.com>\n")
#: a field, its value, and whether it goes before the fields every message
#: has (then it is the first of its name)
FIELD = st.tuples(st.sampled_from(FIELDS), st.sampled_from(VALUES), st.booleans())


def _made(fields: list[tuple[str, str, bool]], body: bytes, base: bytes) -> bytes:
    before = b"".join(f"{k}: {v}\n".encode() for k, v, first in fields if first)
    after = b"".join(f"{k}: {v}\n".encode() for k, v, first in fields if not first)
    return before + base + after + b"\n" + body


def test_one_field_more_is_judged_as_the_hashes_judge() -> None:
    """Every field, value and place, added to every kind of message."""
    for base, body, name, value, first in itertools.product(BASES, BODIES, FIELDS, VALUES, (True, False)):
        a = _made([], body, base)
        b = _made([(name, value, first)], body, base)
        assert SameContent(a)(b) == (content_hash(a) == content_hash(b)), (name, value, first, base, body)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(FIELD, max_size=4),
    st.lists(FIELD, min_size=1, max_size=2),
    st.sampled_from(BODIES),
    st.sampled_from(BASES),
)
def test_same_content_answers_what_the_hashes_answer(
    shared: list[tuple[str, str, bool]], extra: list[tuple[str, str, bool]], body: bytes, base: bytes
) -> None:
    """A message and the same with a field or two more."""
    a, b = _made(shared, body, base), _made(shared + extra, body, base)
    assert SameContent(a)(b) == (content_hash(a) == content_hash(b))
