"""Tests for pubinbox.mail.meta, including the differential test against
the installed public-inbox 1.9 Perl modules (tests/mail/pi_meta.pl)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pubinbox.mail.meta import extract_meta

from .conftest import compare

#: known, accepted differences: (path suffix, field) -> reason.  Empty: the
#: whole corpus agrees byte for byte.
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {}


def test_basic_fields() -> None:
    raw = (
        b"From: Alice Example <alice@example.com>\n"
        b"To: list@example.com\nCc: Bob <bob@x>, carol@y\n"
        b"Subject: [PATCH] foo: fix the frobnicator\n"
        b"Date: Mon, 2 Jan 2023 10:00:00 +0000\n"
        b"Message-ID: <m1@example.com>\nIn-Reply-To: <p@example.com>\n\nbody\n"
    )
    m = extract_meta(raw, 99)
    assert m.author_ident == b"Alice Example <alice@example.com>"
    assert m.author_time == b"1672653600 +0000" == m.committer_time
    assert m.commit_subject == b"[PATCH] foo: fix the frobnicator"
    assert m.mids == ("m1@example.com",) and m.references == ("p@example.com",)
    assert m.subject_path == "_patch_foo_fix_the_frobnicator"
    assert m.cc == "Bob <bob@x>, carol@y" and m.to == "list@example.com"
    assert (m.ds, m.ds_zone, m.ts, m.ts_zone) == (1672653600, "+0000", 1672653600, "+0000")


def test_fallbacks() -> None:
    m = extract_meta(b"Sender: Sam <sam@x>\n\nbody\n", 1234)
    assert m.author_ident == b"Sam <sam@x>"
    assert m.commit_subject == b"(no subject)"
    assert m.author_time == b"1234 +0000" and m.committer_time == b"1234 +0000"
    assert m.subject_path == "" and m.mids == ()
    m = extract_meta(b"From: <odd<x>@y>\nDate: Thu, 1 Jan 1970 00:00:00 +0100\n\n", 5)
    assert m.author_time == b"0 +0100"
    assert extract_meta(b"From: nobody\n\n", 5).author_ident == b"nobody <>"
    m = extract_meta(b"From: =?utf-8?q?J=C3=B6rg?= <j@x.de>\nSubject: =?utf-8?b?w6k=?=\n\n", 5)
    assert m.author_ident == "J\xf6rg <j@x.de>".encode()
    assert m.commit_subject == "\xe9".encode() and m.subject == "\xe9"


def test_multiple_from_and_subject_quirk() -> None:
    # public-inbox uses the first value undecoded: 8-bit text is encoded twice
    m = extract_meta(b"From: J\xc3\xb6 <j@x>\nFrom: k@x\nSubject: \xc3\xa9\nSubject: b\n\n", 5)
    assert m.author_ident == b"J\xc3\x83\xc2\xb6 <j@x>"
    assert m.commit_subject == b"\xc3\x83\xc2\xa9"
    assert m.subject == "\xe9, b"


INLINE = {
    "basic.eml": b"From: A <a@b>\nSubject: s\nDate: Mon, 2 Jan 2023 10:00:00 +0100\nMessage-ID: <x@y>\n\nb\n",
    "multi.eml": b"From: J\xc3\xb6 <j@x>\nFrom: k@x\nSubject: \xc3\xa9\nSubject: b\n\n",
    "latin1.eml": b"From: J\xf6rg <j\xf6@x>\nSubject: caf\xe9 \xfcber\nTo: \xe9@x\n\n",
    "sender.eml": b"Sender: Sam <sam@x>\nReceived: by x; 2 Jan 2023 10:00:00 -0000\n\n",
    "nofrom.eml": b"Subject: hi\n\n",
    "bare.eml": b"From: nobody\nSubject:  \n\n",
    "refs.eml": b"From: me@x\nTo: y\nMessage-ID: <a@x>\nMessage-ID: <b@x>\n"
    b"X-Alt-Message-ID: <c@x>\nReferences: <a@x> <y> <n> <me@x> <p@x>\nIn-Reply-To: <q@x>\n\n",
    "encoded.eml": b"From: =?utf-8?q?J=C3=B6rg?= (=?iso-8859-1?q?c=F6mment?=) <j@x>\n"
    b"To: =?gb18030?B?WkhPVQ==?= <z@x>, =?utf-8?b?w6k=?= <e@x>\n"
    b"Subject: =?utf-8?q?a?= =?utf-8?q?b?= c =?iso-2022-jp?b?GyRCRnxLXDhsGyhC?=\n\n",
    "viaquote.eml": b"From: \"'A U Thor <u@example.com>' via foo\" <foo@example.com>\n\n",
    "nul.eml": b"From: =?utf-8?q?a=00b?= <a@b>\nSubject: =?utf-8?q?x=00y=09z?=\n\n",
    "noheader.eml": b"no header here\n",
    "dates.eml": b"Date: Mon, 2 Jan 2023 10:00:00 +1400\nReceived: by x; Mon, 2 Jan 2023 09:00:00 +0000\n\n",
}


@pytest.mark.peer
def test_inline_against_public_inbox(tmp_path: Path) -> None:
    paths = []
    for name, raw in INLINE.items():
        p = tmp_path / name
        p.write_bytes(raw)
        paths.append(p)
    assert compare(paths) == []


def _check(paths: list[Path]) -> None:
    assert paths, "corpus not found"
    bad = [b for b in compare(paths) if not any(b[0].endswith(sfx) and b[1] == f for sfx, f in KNOWN_DIFFERENCES)]
    assert bad == [], f"{len(bad)} mismatches, first: {bad[:5]}"


@pytest.mark.corpus
@pytest.mark.peer
def test_corpus_from_large(corpus_dir: Path) -> None:
    _check(sorted((corpus_dir / "hard/from-large").glob("**/*.eml")))


@pytest.mark.corpus
@pytest.mark.peer
def test_corpus_third_party(corpus_dir: Path) -> None:
    paths = []
    for line in (corpus_dir / "hard/INDEX.tsv").read_text().splitlines()[1:]:
        cols = line.split("\t")
        if cols[0].startswith("third-party/") and cols[1] == "message":
            paths.append(corpus_dir / "hard" / cols[0])
    _check(paths)


def _epoch_messages(bundle: Path, dest: Path, limit: int) -> list[Path]:
    git = dest / "repo.git"
    subprocess.run(["git", "clone", "-q", "--mirror", str(bundle), str(git)], check=True)
    objs = (
        subprocess.run(
            ["git", "-C", str(git), "rev-list", "--objects", "--reverse", "master"],
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .splitlines()
    )
    blobs = [o.split()[0] for o in objs if o.endswith(" m")][:limit]
    out = subprocess.run(
        ["git", "-C", str(git), "cat-file", "--batch"],
        input="".join(b + "\n" for b in blobs).encode(),
        capture_output=True,
        check=True,
    ).stdout
    paths = []
    pos = 0
    while pos < len(out):
        nl = out.index(b"\n", pos)
        size = int(out[pos:nl].split()[2])
        p = dest / f"{len(paths):05d}.eml"
        p.write_bytes(out[nl + 1 : nl + 1 + size])
        paths.append(p)
        pos = nl + 1 + size + 1
    return paths


@pytest.mark.corpus
@pytest.mark.peer
@pytest.mark.slow
@pytest.mark.parametrize(
    "bundle",
    ["linux-erofs.lists.ozlabs.org.0.bundle", "linux-f2fs-devel.lists.sourceforge.net.0.bundle"],
)
def test_corpus_epoch_sample(bundle: str, corpus_dir: Path, tmp_path: Path) -> None:
    _check(_epoch_messages(corpus_dir / "epochs" / bundle, tmp_path, 2500))


_PIECES = [
    b"From:",
    b"Subject:",
    b"Date:",
    b"To:",
    b"Cc:",
    b"Sender:",
    b"Message-ID:",
    b"References:",
    b"Received:",
    b"Status:",
    b" ",
    b"\n",
    b"\r\n",
    b"\t",
    b"<",
    b">",
    b"@",
    b'"',
    b"(",
    b")",
    b"=?",
    b"?=",
    b"?q?",
    b"?b?",
    b"utf-8",
    b"\\",
    b",",
    b":",
    b";",
    b"\x00",
    b"\xff",
    b"\xc3\xa9",
    b"a",
    b"1",
    b"+0100",
    b"Jan",
    b"From ",
]


def test_hostile_input_never_raises() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from pubinbox.mail.rewrite import prepare_for_store

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.sampled_from(_PIECES), max_size=80), st.binary(max_size=40))
    def check(pieces: list[bytes], noise: bytes) -> None:
        raw = b"".join(pieces) + noise
        m = extract_meta(raw, 1)
        assert isinstance(m.author_ident, bytes) and m.commit_subject
        prepare_for_store(raw, list_id_address="l@x", extra_mids=("g@z",))

    check()
