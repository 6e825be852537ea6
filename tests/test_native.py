"""pubinbox._native against the pure-Python functions it replaces.

Each C function must give exactly what its Python reference gives, on real
mail (the hard cases, sample/sample.mbox, whole lists in the corpus tier)
and on generated input built from the pieces that matter to it (colons,
blanks, CRs, NULs, diff lines, trailer lines in every case).  The Python
references are themselves tested against public-inbox and git elsewhere
(tests/mail, tests/search/test_patchid.py), so equal here means right.

In CI the extension must be built (a compiler is installed): a missing one
fails there instead of skipping every comparison.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pubinbox import native
from pubinbox.mail import dates
from pubinbox.mail.address import _simple_emails_py
from pubinbox.mail.mbox import iter_mbox
from pubinbox.mail.meta import META_FIELDS
from pubinbox.mail.parse import (
    Headers,
    _blank_line_py,
    header_and_body_at,
    index_fields_py,
    line_counts_py,
    unfolded_fields_py,
)
from pubinbox.search import patchid
from pubinbox.series.marks import _has_marker_py, review_matches_py
from tests.search.test_patchid import _POOL


def _built() -> ModuleType:
    mod = native.load()
    if mod is None:
        if os.environ.get("CI"):
            pytest.fail("pubinbox._native is not built (setup.py needs a C compiler; .ci/run installs gcc)")
        pytest.skip("pubinbox._native is not built (no C compiler at install)")
    return mod


@pytest.fixture
def c() -> ModuleType:
    return _built()


def _real_mail(hard_dir: Path, sample_mbox: Path) -> Iterator[bytes]:
    for f in sorted(hard_dir.rglob("*.eml")):
        yield f.read_bytes()
    with sample_mbox.open("rb") as fp:
        yield from iter_mbox(fp)


#: index_fields' *only*: the parse's fields, none, a name of 64 bytes and one longer
_ONLY = (
    tuple(sorted(META_FIELDS)),
    (),
    (b"received", b"x" * 64, b"y" * 65, b"subject:"),
)


#: dates the C parser took (it leaves some to Python), of those it was asked
_DATES = {"taken": 0, "asked": 0}


def _check_date(c: ModuleType, s: str, *, count: bool = True) -> None:
    got = c.rfc822_date(s)
    _DATES["asked"] += count
    if got is not None:
        _DATES["taken"] += count
        assert got == dates.str2date_zone_py(s), s


def _check_message(c: ModuleType, raw: bytes) -> None:
    hdr, body_at = header_and_body_at(raw)
    got = c.index_fields(hdr)
    want = index_fields_py(hdr)
    assert got == want and list(got) == list(want), hdr[:300]
    assert c.index_fields(hdr, True) == unfolded_fields_py(hdr), hdr[:300]
    for only in _ONLY:
        assert c.index_fields(hdr, True, only) == unfolded_fields_py(hdr, only), hdr[:300]
    # the whole message too: a body is a header block that goes wrong
    assert c.index_fields(raw) == index_fields_py(raw)
    assert c.line_counts(raw, body_at) == line_counts_py(raw, body_at)
    assert c.blank_line(raw) == _blank_line_py(raw)
    assert c.has_marker(raw) == _has_marker_py(raw)
    for patch in (True, False):
        assert c.review_matches(raw, patch) == review_matches_py(raw, patch=patch), raw[:300]
    h = Headers(raw)
    for v in h.perl_raw("Date"):
        _check_date(c, v)
    for v in h.perl_raw("Received"):
        _check_date(c, v, count=False)  # not a date: "from host by host ...; date"
        m = dates._RECEIVED.search(v)
        if m is not None:
            _check_date(c, m.group(1))
    for field in ("From", "To", "Cc", "Sender", "Reply-To"):
        for v in h.perl_raw(field) + [v for v, _ in h.perl_decoded(field)]:
            assert c.simple_emails(v) == _simple_emails_py(v), v
    if patchid._has_diff_line(raw):
        at = 0 if raw.startswith(b"diff ") else raw.find(b"\ndiff ") + 1
        assert patchid._first_id_c(raw[at:]) == patchid._first_id_py(raw[at:]), raw[:300]


def test_real_mail_gives_the_same(c: ModuleType, hard_dir: Path, sample_mbox: Path) -> None:
    n = 0
    _DATES.update(taken=0, asked=0)
    for raw in _real_mail(hard_dir, sample_mbox):
        _check_message(c, raw)
        n += 1
    assert n > 350  # 93 hard cases and 295 sample messages
    assert _DATES["taken"] > _DATES["asked"] * 0.95  # the usual dates: nearly all


@pytest.mark.corpus
def test_whole_lists_give_the_same(c: ModuleType, corpus_dir: Path, tmp_path: Path) -> None:
    import pygit2

    n = 0
    for bundle in sorted((corpus_dir / "epochs").glob("*.bundle")):
        repo_dir = tmp_path / bundle.name
        subprocess.run(["git", "clone", "-q", "--mirror", str(bundle), str(repo_dir)], check=True)
        repo = pygit2.Repository(str(repo_dir))
        for commit in repo.walk(repo.head.target):
            for entry in commit.tree:
                if entry.name == "m":
                    _check_message(c, repo[entry.id].data)
                    n += 1
    assert n > 30000


# ----------------------------------------------------------- generated input

_HEADER_BYTES = st.sampled_from(
    [b"a", b"B", b":", b" ", b"\t", b"\r", b"\n", b"\n", b"x-y", b"\x00", b"\xe9", b"\x0b", b"\x0c", b"\r\n "]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_HEADER_BYTES, max_size=60).map(b"".join))
def test_index_fields_generated(data: bytes) -> None:
    c = _built()
    assert c.index_fields(data) == index_fields_py(data)
    assert list(c.index_fields(data)) == list(index_fields_py(data))
    assert c.index_fields(data, True) == unfolded_fields_py(data)
    for only in ((b"a", b"b", b"x-y", b"\xe9", b"a\x00b"), (b"",)):
        assert c.index_fields(data, True, only) == unfolded_fields_py(data, only)
        assert list(c.index_fields(data, False, only)) == list(index_fields_py(data, only))


_FIELD_LINES = st.sampled_from(
    [
        b"Subject: x",
        b"subject:",
        b"SUBJECT:  \t",
        b" folded: more",
        b"\tfolded",
        b"no colon here",
        b":empty name",
        b"To :spaced",
        b"x:y:z",
        b"Cc: a\r",
        b"",
        b"\r",
        b"weird\x00: nul",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FIELD_LINES, max_size=20), st.booleans())
def test_index_fields_generated_lines(lines: list[bytes], final_newline: bool) -> None:
    c = _built()
    data = b"\n".join(lines) + (b"\n" if final_newline else b"")
    assert c.index_fields(data) == index_fields_py(data)
    assert c.index_fields(data, True) == unfolded_fields_py(data)
    only = (b"subject", b"to ", b"x", b"cc", b"weird\x00", b"folded")
    assert c.index_fields(data, True, only) == unfolded_fields_py(data, only)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([b"\n", b"\r", b"\r\n", b"a", b"\n\n"]), max_size=40).map(b"".join), st.integers(-3, 50)
)
def test_line_counts_generated(data: bytes, at: int) -> None:
    c = _built()
    assert c.line_counts(data, at) == line_counts_py(data, at)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_POOL), min_size=1, max_size=40), st.booleans())
def test_patch_ids_generated(lines: list[bytes], final_newline: bool) -> None:
    _built()
    data = b"\n".join([b"diff --git a/f b/f", *lines]) + (b"\n" if final_newline else b"")
    assert patchid._first_id_c(data) == patchid._first_id_py(data)


_HUNK_HEADERS = st.sampled_from(
    [
        b"@@ -1,3 +1,4 @@",
        b"@@ -1 +1 @@",
        b"@@ -,2 +,1 @@",
        b"@@ -1,-2 +1,99999999999999 @@",
        b"@@ -1, +1",
        b"@@ -1,3 @@",
        b"@@ -x +1 @@",
        b"@@ -1,+3 +1, 2 @@",
        b"@@ -99999999999999999999999,1 +1,-99999999999999999999999 @@",
        b"@@ -0,0 +1 @@",
        b"index 1234567..abcdef0 100644",
        b"index ab..",
        b"index ..cd",
        b"index a..b c..d",
        b"index " + b"f" * 70 + b".." + b"e" * 70,
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_HUNK_HEADERS, st.sampled_from(_POOL)), min_size=1, max_size=30), st.booleans())
def test_patch_ids_generated_headers(lines: list[bytes], final_newline: bool) -> None:
    _built()
    data = b"\n".join([b"diff --git a/f b/f", b"--- a/f", b"+++ b/f", *lines]) + (b"\n" if final_newline else b"")
    assert patchid._first_id_c(data) == patchid._first_id_py(data)


_TRAILER_LINES = st.sampled_from(
    [
        b"Reviewed-by: A <a@example.com>",
        b"reviewed-BY :  B  ",
        b"  Acked-by:\tC\t",
        b"ACKED-BY: D\r",
        b"Acked-by:",
        b"Acked-by:   ",
        b"Acked-by: \r",
        b"Acked-by: x\ry",
        b"Reviewed-by: " + b"v" * 300,
        b"Reviewed-by: " + b"v" * 301,
        b"> Reviewed-by: quoted",
        b"Tested-by: E",
        b"---",
        b"-- ",
        b"diff --git a/f b/f",
        b"text ed-by x",
        b"",
        b"\xff\xfe",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_TRAILER_LINES, max_size=25), st.booleans(), st.booleans())
def test_review_matches_generated(lines: list[bytes], final_newline: bool, patch: bool) -> None:
    c = _built()
    raw = b"Subject: x\n\n" + b"\n".join(lines) + (b"\n" if final_newline else b"")
    assert c.review_matches(raw, patch) == review_matches_py(raw, patch=patch)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([b"\n", b"\r", b"\r\n", b"a: b", b"\n\n", b"\n\r\n", b" "]), max_size=30).map(b"".join))
def test_blank_line_generated(data: bytes) -> None:
    c = _built()
    assert c.blank_line(data) == _blank_line_py(data)


_MARKER_PIECES = st.sampled_from(
    [b"change-id:", b"Change-Id: x", b"BASE-COMMIT: abc", b"base-commit", b"change-id :", b" change-id:", b"\n", b"x"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_MARKER_PIECES, max_size=12).map(b"".join))
def test_has_marker_generated(data: bytes) -> None:
    c = _built()
    assert c.has_marker(data) == _has_marker_py(data)


_ADDRESS_PIECES = st.sampled_from(
    [
        "a", "Bo", "x.y", "@", ".", "a@b", "a@b.c", " ", "\t", ",", "<", ">", "<a@b.c>", '"', '"q p"', '"a\\"b"',
        "\\", "\r", "\n", "(c)", ":", ";", "\x00", "é", "ű", "!#$%&'*+/=?^_`{|}~-", "[1.2.3.4]",
    ]
)  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.lists(_ADDRESS_PIECES, max_size=14).map("".join))
def test_simple_emails_generated(value: str) -> None:
    c = _built()
    assert c.simple_emails(value) == _simple_emails_py(value)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.sampled_from(["A B <a@b.c>", '"Q, R" <q.r@s>', "x@y.z", "<p@q>", "bad <x>", "m@n."]), min_size=1, max_size=5
    ),
    st.sampled_from([",", ", ", " ,\t", ",,"]),
    st.sampled_from(["", ",", " , ", "\t"]),
)
def test_simple_emails_generated_lists(items: list[str], sep: str, tail: str) -> None:
    c = _built()
    value = sep.join(items) + tail
    assert c.simple_emails(value) == _simple_emails_py(value)


def test_no_native_turns_it_off() -> None:
    """PUBINBOX_NO_NATIVE=1: the Python functions, whether it is built or not."""
    code = (
        "from pubinbox.mail import parse; from pubinbox.search import patchid; "
        "print(parse.line_counts is parse.line_counts_py, patchid._first_id is patchid._first_id_py)"
    )
    env = {**os.environ, "PUBINBOX_NO_NATIVE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True"]


_DATE_PARTS = st.sampled_from(
    [
        "Wed", "wed,", "Thursday, ", "5", "05", "31", "29", "0", "123", " ", "  ", "\t", "\n", ",", "Dec", "feb",
        "FEBRUARY", "Sept", "2018", "1969", "1970", "2000", "2100", "0999", "18", "10000", "10:11:12", "23:59:60",
        "24:00", "1:2", "10.11", "10:1", "10:11:1", ":", ".", "+0100", "-0000", "+1400", "-1359", "+0075", "--500",
        "+-0100", "0100", "+01000", "EST", "UT", "UTC", "GMT", "Z", "(CET)", "x", "\u00e9", "\xa0",
    ]
)  # fmt: skip


@settings(max_examples=2000, deadline=None)
@given(st.lists(_DATE_PARTS, max_size=14).map("".join), st.lists(_DATE_PARTS, max_size=14).map(" ".join))
def test_rfc822_date_generated(glued: str, spaced: str) -> None:
    c = _built()
    for s in (glued, spaced, "Wed, 5 Dec 2018 " + spaced, "5 Dec 2018 10:11:12 " + glued):
        got = c.rfc822_date(s)
        if got is not None:
            assert got == dates.str2date_zone_py(s), s
