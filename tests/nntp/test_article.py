"""nntp.article: the one-pass header of the usual article equals the
field-by-field one, on real mail and on made-up headers."""

from __future__ import annotations

import mailbox
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pubinbox.nntp import article
from pubinbox.over.reader import OverRow


def _row(mid: str = "m@x") -> OverRow:
    return OverRow(7, 1, None, 0, 0, mid, "", "", "", "", (), "0" * 40, 0, 0, 0)


XREFS = ("news.example g.a:7", "news.example g.a:7 g.b:9")


def _reference(raw: bytes, row: OverRow, xref: str) -> bytes:
    """article_head done field by field, always."""
    head, _body, crlf = article.split_message(raw)
    server = xref.split(" ", 1)[0]
    groups = xref.split(" ", 1)[1].split(" ")
    added = {
        "Xref": xref.encode(),
        "Newsgroups": " ".join(g.split(":")[0] for g in groups).encode(),
        "Path": f"{server}!not-for-mail".encode(),
    }
    out = article._general_head(head, crlf, row, added)
    return article._MID_FOLD.sub(rb"\1 \2\r\n", out)


def _check(raw: bytes) -> None:
    head, _body, crlf = article.split_message(raw)
    for xref in XREFS:
        assert article.article_head(head, crlf, _row(), xref) == _reference(raw, _row(), xref)


def test_real_mail(hard_dir: Path, sample_mbox: Path) -> None:
    n = 0
    for f in sorted(hard_dir.rglob("*.eml")):
        _check(f.read_bytes())
        n += 1
    box = mailbox.mbox(str(sample_mbox))
    try:
        for key in box.iterkeys():
            _check(box.get_bytes(key))
            n += 1
    finally:
        box.close()
    assert n > 300


def test_fields_to_replace_take_the_general_path() -> None:
    raw = b"Message-ID: <a@x>\nPath: old!path\nmessage-id: <b@x>\nSubject: s\n\nbody\n"
    head, _b, crlf = article.split_message(raw)
    out = article.article_head(head, crlf, _row("a@x"), XREFS[0])
    assert out == (
        b"Message-ID: <a@x>\r\nPath: news.example!not-for-mail\r\nSubject: s\r\n"
        b"X-Alt-Message-ID: <b@x>\r\nXref: news.example g.a:7\r\nNewsgroups: g.a\r\n"
    )


_names = st.sampled_from(
    [b"Subject", b"From", b"Path", b"xref", b"NEWSGROUPS", b"Message-ID", b"X-Alt-Message-ID", b" Path", b"Received"]
)
_values = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" "))
_ends = st.sampled_from([b"\n", b"\r\n", b"\r", b"\n\t", b"\n "])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_names, _values, _ends), max_size=12), st.sampled_from([b"\n", b"\r\n"]))
def test_made_up_headers(fields: list[tuple[bytes, bytes, bytes]], end: bytes) -> None:
    head = b"".join(n + b": " + v + e for n, v, e in fields)
    _check(head + end + b"body" + end)


def _split_reference(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """split_message by plain finds: the first LF blank line, or a CRLF one
    before it."""
    if raw.startswith((b"From ", b"\r", b"\n")):
        raw = article._FROM_LINE.sub(b"", raw, count=1)
    a = raw.find(b"\n\n")
    b = raw.find(b"\n\r\n")
    if a < 0 and b < 0:
        return raw, b"", b"\r\n" if b"\r\n" in raw[:1000] else b"\n"
    if b < 0 or 0 <= a < b:
        return raw[: a + 1], raw[a + 2 :], b"\n"
    return raw[: b + 1], raw[b + 3 :], b"\r\n"


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.sampled_from([b"a", b": ", b"\n", b"\r", b"\r\n", b" ", b"From x", b"\n\r\n", b"\n\n"]), max_size=30)
)
def test_split_message(parts: list[bytes]) -> None:
    raw = b"".join(parts)
    assert article.split_message(raw) == _split_reference(raw)


def test_an_empty_message_id_before_a_field_to_replace() -> None:
    """The line after an empty Message-ID is still looked at (Hypothesis
    found the one-pass scan skipping it)."""
    _check(b"Message-ID: \nPath: \n\nbody\n")
    _check(b"Message-ID:\r\nPath: x\r\n\r\nbody\r\n")
