"""Tests of pubinbox.mail.mbox: mbox reading in every format, mboxrd writing.

The round-trip rule under test: ``iter_mbox(mboxrd_bytes(m))`` gives ``m``
back when ``m`` ends with a newline, ``m + b"\\n"`` when it does not, and
nothing when ``m`` holds only whitespace.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pubinbox.errors import InputError
from pubinbox.mail.mbox import (
    gzip_mboxrd,
    iter_mbox,
    iter_mbox_entries,
    mboxrd_bytes,
    write_mboxrd,
)

SEP = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"
PLAIN_SEP = b"From someone@example.com Thu Jan  1 00:00:00 1970\n"
ESCAPING = Path(__file__).resolve().parent.parent / "data" / "hard" / "mbox-escaping"
HARD = ESCAPING.parent


def norm(m: bytes) -> bytes:
    """What reading back an mboxrd entry of ``m`` gives."""
    return m if m.endswith(b"\n") else m + b"\n"


def blank(m: bytes) -> bool:
    return not m.strip(b" \t\r\n")


def mboxo_bytes(m: bytes) -> bytes:
    """A plain mboxo writer: only ^From lines are quoted (lossy)."""
    return SEP + re.sub(rb"^From ", b">From ", m, flags=re.MULTILINE) + b"\n"


def mboxo_readback(m: bytes) -> bytes:
    """What an mboxo reader can give back for ``m``."""
    return re.sub(rb"^>From ", b"From ", m, flags=re.MULTILINE)


def read(data: bytes, fmt: str = "auto") -> list[bytes]:
    return list(iter_mbox(io.BytesIO(data), fmt))


# --------------------------------------------------------------------------
# Hypothesis round trips

_LINES = st.one_of(
    st.sampled_from(
        [
            b"From x\n",
            b"From \n",
            b"From - \n",
            SEP,
            b"From mboxrd@z Thu Jan  1 00:00:00 1970\r\n",
            PLAIN_SEP,
            b">From y\n",
            b">>From z\r\n",
            b">>>From \n",
            b">From\n",
            b"From:x\n",
            b"\n",
            b"\r\n",
            b" \t\n",
            b">\n",
            b"Subject: hi\r\n",
            b"Content-Length: 3\n",
        ]
    ),
    st.binary(max_size=40),
)
_TAILS = st.sampled_from([b"", b"x", b"From tail", b">From tail", b"\r", b" "])
MESSAGES = st.builds(lambda ls, t: b"".join(ls) + t, st.lists(_LINES, max_size=12), _TAILS)


@given(st.lists(MESSAGES, max_size=6))
def test_mboxrd_round_trip(msgs: list[bytes]) -> None:
    data = b"".join(mboxrd_bytes(m) for m in msgs)
    want = [norm(m) for m in msgs if not blank(m)]
    assert read(data) == want
    assert read(data, "mboxrd") == want


@given(MESSAGES)
def test_mboxrd_bytes_shape(m: bytes) -> None:
    out = mboxrd_bytes(m)
    assert out.startswith(b"From mboxrd@z Thu Jan  1 00:00:00 1970")
    assert out.endswith(b"\n\n")
    # one blank line after the (newline-terminated) message, nothing else
    assert out.endswith(re.sub(rb"^(>*From )", rb">\1", norm(m), flags=re.MULTILINE) + b"\n")
    buf = io.BytesIO()
    write_mboxrd(m, buf)
    assert buf.getvalue() == out


@given(st.lists(MESSAGES, max_size=6))
def test_mboxo_reads_what_mboxo_can_represent(msgs: list[bytes]) -> None:
    data = b"".join(mboxo_bytes(norm(m)) for m in msgs)
    want = [mboxo_readback(norm(m)) for m in msgs if not blank(m)]
    assert read(data, "mboxo") == want


@given(st.lists(st.tuples(MESSAGES, st.booleans()), max_size=5))
def test_mboxcl2_round_trip(items: list[tuple[bytes, bool]]) -> None:
    """Content-Length delimits exactly, whatever the body holds."""
    data = b""
    want = []
    for body, crlf in items:
        eol = b"\r\n" if crlf else b"\n"
        msg = b"Subject: s" + eol + b"Content-Length: %d" % len(body) + eol + eol + body
        data += PLAIN_SEP + msg + b"\n"
        want.append(msg)
    assert read(data) == want
    assert read(data, "mboxcl2") == want


@given(st.lists(MESSAGES, max_size=6))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_gzip_mboxrd(msgs: list[bytes]) -> None:
    chunks = list(gzip_mboxrd(iter(msgs), chunk_size=64))
    whole = gzip.decompress(b"".join(chunks))
    assert whole == b"".join(mboxrd_bytes(m) for m in msgs)
    assert read(whole) == [norm(m) for m in msgs if not blank(m)]


# --------------------------------------------------------------------------
# writer details


def test_mboxrd_bytes_exact() -> None:
    assert mboxrd_bytes(b"A: b\n\nFrom x\n>From y\nz\n") == (SEP + b"A: b\n\n>From x\n>>From y\nz\n\n")
    # no final newline: one is added, then the blank line
    assert mboxrd_bytes(b"A: b\n\nz") == SEP + b"A: b\n\nz\n\n"
    # CRLF messages get a CRLF From line and, like public-inbox, a LF blank line
    assert mboxrd_bytes(b"A: b\r\n\r\nFrom x\r\n") == (
        b"From mboxrd@z Thu Jan  1 00:00:00 1970\r\nA: b\r\n\r\n>From x\r\n\n"
    )
    # a leading From line (old import bug) is quoted, not dropped
    assert mboxrd_bytes(b"From a b\nA: b\n\nc\n") == SEP + b">From a b\nA: b\n\nc\n\n"


def test_gzip_mboxrd_is_lazy() -> None:
    def gen() -> Iterator[bytes]:
        yield b"A: b\n\n" + os.urandom(200_000)
        raise RuntimeError("consumed too far")

    chunks = gzip_mboxrd(gen(), chunk_size=1024)
    assert next(chunks)  # the first chunk comes before the second message
    with pytest.raises(RuntimeError):
        list(chunks)


_PERL_WRITE = r"""
use strict; use PublicInbox::Eml; use PublicInbox::Mbox;
local $/; binmode STDIN; binmode STDOUT;
my $raw = <STDIN>;
my $eml = PublicInbox::Eml->new(\$raw);
print PublicInbox::Mbox::msg_hdr(undef, $eml), PublicInbox::Mbox::msg_body($eml);
"""
_PERL_READ = r"""
use strict; use PublicInbox::Eml; use PublicInbox::MboxReader;
binmode STDIN; binmode STDOUT;
PublicInbox::MboxReader->mboxrd(\*STDIN, sub { my $s = $_[0]->as_string;
    print length($s), "\n", $s });
"""


def _perl_messages(out: bytes) -> list[bytes]:
    msgs = []
    while out:
        n, _, out = out.partition(b"\n")
        msgs.append(out[: int(n)])
        out = out[int(n) :]
    return msgs


@pytest.mark.peer
def test_same_as_public_inbox() -> None:
    """public-inbox writes the same bytes and reads our mboxrd the same way."""
    msgs = [p.read_bytes() for p in sorted(HARD.glob("*from-line-in-body/*.eml"))]
    msgs += [
        b"Subject: x\r\n\r\nFrom a\r\n>From b\r\n>>From c\r\n",
        b"Subject: y\n\n>>>From \nFrom\n\n\n",
    ]
    for m in msgs:
        perl = subprocess.run(["perl", "-e", _PERL_WRITE], input=m, capture_output=True, check=True)
        assert perl.stdout == mboxrd_bytes(m)
    data = b"".join(mboxrd_bytes(m) for m in msgs)
    perl = subprocess.run(["perl", "-e", _PERL_READ], input=data, capture_output=True, check=True)
    assert _perl_messages(perl.stdout) == msgs == read(data)


# --------------------------------------------------------------------------
# the mbox-escaping corpus files (tests/data/hard copy)


def test_mbox_escaping_mboxrd_lossless() -> None:
    data = (ESCAPING / "from-lines.mboxrd").read_bytes()
    msgs = read(data)
    assert len(msgs) == 25 == data.count(b"\n" + SEP) + 1
    # writing them again gives the file back byte for byte
    assert b"".join(mboxrd_bytes(m) for m in msgs) == data
    # the local copies of four of the originals are among them, in order
    local = [p.read_bytes() for p in sorted(HARD.glob("from-line-in-body/*.eml"))]
    local += [p.read_bytes() for p in sorted(HARD.glob("gt-from-line-in-body/*.eml"))]
    assert len(local) == 4
    positions = [msgs.index(m) for m in local]
    assert positions == sorted(positions)
    assert any(re.search(rb"^From ", m, re.MULTILINE) for m in msgs)
    assert any(re.search(rb"^>From ", m, re.MULTILINE) for m in msgs)
    assert read(data, "mboxrd") == msgs


def test_mbox_escaping_mboxo_lossy() -> None:
    originals = read((ESCAPING / "from-lines.mboxrd").read_bytes())
    data = (ESCAPING / "from-lines.mboxo").read_bytes()
    assert b"".join(mboxo_bytes(m) for m in originals) == data  # the file's convention
    got = read(data, "mboxo")
    assert got == [mboxo_readback(m) for m in originals]
    assert got != originals  # it is lossy: ">From " lines came back as "From "


@pytest.mark.corpus
def test_mbox_escaping_against_originals(corpus_dir: Path) -> None:
    hard = corpus_dir / "hard"
    originals = [
        p.read_bytes()
        for d in ("from-line-in-body", "gt-from-line-in-body")
        for p in sorted((hard / "from-large" / d).glob("*.eml"))
    ]
    assert len(originals) == 25
    assert read((hard / "mbox-escaping" / "from-lines.mboxrd").read_bytes()) == originals
    got = read((hard / "mbox-escaping" / "from-lines.mboxo").read_bytes(), "mboxo")
    assert got == [mboxo_readback(m) for m in originals]


@pytest.mark.corpus
def test_third_party_mboxrd(corpus_dir: Path) -> None:
    hard = corpus_dir / "hard"
    path = hard / "third-party.mboxrd"
    nsep = len(
        re.findall(
            rb"^From mboxrd@z Thu Jan  1 00:00:00 1970\n",
            path.read_bytes(),
            re.MULTILINE,
        )
    )
    files: dict[int, Path] = {}
    with open(hard / "INDEX.tsv", encoding="utf-8") as f:
        head = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(head, line.rstrip("\n").split("\t"), strict=True))
            if row["bundle"] == "third-party.mboxrd":
                files[int(row["bundle_msg_no"])] = hard / row["path"]
    with open(path, "rb") as fp:
        msgs = list(iter_mbox(fp))
    assert len(msgs) == nsep == len(files) == 686
    for n, msg in enumerate(msgs, 1):
        assert msg == norm(files[n].read_bytes()), files[n]


# --------------------------------------------------------------------------
# formats and detection


def test_mboxcl2_unescaped_from_line_in_body() -> None:
    body = b"From foo@bar Thu Jan  1 00:00:00 1970\nFrom here on\n>From there\n"
    m1 = b"Subject: one\nContent-Length: %d\n\n" % len(body) + body
    m2 = b"Subject: two\nContent-Length: 2\n\nx\n"
    data = PLAIN_SEP + m1 + b"\n" + PLAIN_SEP + m2 + b"\n"
    assert read(data) == [m1, m2]
    assert read(data, "mboxcl2") == [m1, m2]
    # without Content-Length the From line in the body would split it
    assert len(read(data, "mboxrd")) == 3
    # lei-style separators name the format
    lei = data.replace(PLAIN_SEP, b"From 0123abc@mboxcl2 Thu Jan  1 00:00:00 1970\n")
    assert read(lei) == [m1, m2]


def test_mboxcl_unquotes_body() -> None:
    body = b">From here\n>>From there\n"
    msg = b"Subject: s\nContent-Length: %d\n\n" % len(body)
    data = PLAIN_SEP + msg + body + b"\n"
    assert read(data, "mboxcl") == [msg + b"From here\n>>From there\n"]
    assert read(data, "mboxcl2") == [msg + body]
    assert read(data) == [msg + body]  # auto: mboxcl2, the lossless reading
    lei = data.replace(PLAIN_SEP, b"From 0123abc@mboxcl Thu Jan  1 00:00:00 1970\n")
    assert read(lei) == [msg + b"From here\n>>From there\n"]


def test_content_length_inconsistent_falls_back() -> None:
    m1 = b"Subject: one\nContent-Length: 5\n\nhello world\n>From x\n"
    m2 = b"Subject: two\nContent-Length: 999999\n\nshort\n"
    m3 = b"Subject: three\nContent-Length: 1\nContent-Length: 1\n\nx\n"
    m4 = b"Subject: four\nContent-Length: many\n\nx\n"
    data = b"".join(PLAIN_SEP + m + b"\n" for m in (m1, m2, m3, m4))
    want = [m1.replace(b">From", b"From"), m2, m3, m4]
    assert read(data) == want
    assert read(data, "mboxcl2") == [m1, m2, m3, m4]


def test_crlf_mbox() -> None:
    data = (
        b"From a@b Thu Jan  1 00:00:00 1970\r\nSubject: x\r\n\r\n>From y\r\nbody\r\n\r\n"
        b"From a@b Thu Jan  1 00:00:00 1970\r\nSubject: z\r\n\r\nlast\r\n"
    )
    assert read(data) == [
        b"Subject: x\r\n\r\nFrom y\r\nbody\r\n",
        b"Subject: z\r\n\r\nlast\r\n",
    ]


def test_missing_final_newline() -> None:
    assert read(SEP + b"A: b\n\nbody") == [b"A: b\n\nbody"]
    assert read(SEP + b"A: b\n\n1\n" + SEP + b"A: c\n\n2") == [
        b"A: b\n\n1\n",
        b"A: c\n\n2",
    ]


def test_separator_rules() -> None:
    # the first line is a separator whatever follows "From "; later ones must
    # look like real From_ lines
    data = b"From whoever\nA: 1\n\nFrom the start\nFrom x Mon Sep 17 00:00:00 2001\nA: 2\n\n"
    assert read(data) == [b"A: 1\n\nFrom the start\n", b"A: 2\n"]
    # separators with a time zone, and gmime's bare "From -"
    data = b"From - \nA: 1\n\nFrom a Mon Feb  8 02:53:47 PST 1993\nA: 2\n\nFrom - \nA: 3\n"
    assert read(data) == [b"A: 1\n", b"A: 2\n", b"A: 3\n"]
    # empty and whitespace-only messages are skipped
    assert read(SEP + SEP + b" \n\n" + SEP + b"A: b\n") == [b"A: b\n"]


def test_single_message_without_from_line() -> None:
    eml = b"Subject: x\n\nFrom a@b Thu Jan  1 00:00:00 1970\n>From y\n"
    assert read(eml) == [eml]  # never split, never unescaped
    assert read(b"\n  \n" + eml) == [b"\n  \n" + eml]  # leading whitespace kept
    bom = b"\xef\xbb\xbfReceived: x\r\n\r\nbody"
    assert read(bom) == [bom]
    quoted = b">From a@b Thu Jan  1 00:00:00 1970\nSubject: x\n\nFrom c Thu Jan  1 00:00:00 1970\n"
    assert read(quoted) == [quoted]
    entries = list(iter_mbox_entries(io.BytesIO(eml)))
    assert [(e.offset, e.separated) for e in entries] == [(0, False)]


def test_garbage_before_first_separator() -> None:
    data = b"this is not mail\n\nFrom a@b Thu Jan  1 00:00:00 1970\nA: b\n\nc\n"
    assert read(data) == [b"A: b\n\nc\n"]
    entries = list(iter_mbox_entries(io.BytesIO(data)))
    assert entries[0].offset == data.index(b"From ")
    # no separator at all: it was one (odd) message after all
    assert read(b"not a header\nbut mail\n") == [b"not a header\nbut mail\n"]


def test_empty_input() -> None:
    assert read(b"") == []
    assert read(b"\n\r\n \n") == []
    assert read(SEP) == []


def test_offsets() -> None:
    msgs = [b"A: 1\n\nx\n", b"A: 2\n\nFrom y\n", b"A: 3\n"]
    data = b"\n" + b"".join(mboxrd_bytes(m) for m in msgs)
    entries = list(iter_mbox_entries(io.BytesIO(data)))
    assert [e.raw for e in entries] == msgs
    for e in entries:
        assert e.separated
        assert data[e.offset :].startswith(SEP)
    assert entries[0].offset == 1


def test_unknown_format() -> None:
    with pytest.raises(InputError, match="unknown mbox format 'mbox'"):
        read(SEP + b"A: b\n", "mbox")


def test_streams_from_a_pipe() -> None:
    """Messages come out while the writer is still far from done."""
    msgs = [b"Subject: %d\n\n" % i + b"From line\n" + b"x" * 2000 + b"\n" for i in range(3000)]
    total = sum(len(mboxrd_bytes(m)) for m in msgs)
    written = [0]
    r, w = os.pipe()

    def writer() -> None:
        with os.fdopen(w, "wb") as out:
            for m in msgs:
                data = mboxrd_bytes(m)
                out.write(data)
                written[0] += len(data)

    t = threading.Thread(target=writer)
    t.start()
    try:
        with os.fdopen(r, "rb") as fp:
            assert not fp.seekable()
            it = iter_mbox(fp)
            assert next(it) == msgs[0]
            assert written[0] < total // 4
            rest = list(it)
    finally:
        t.join()
    assert [msgs[0], *rest] == msgs
