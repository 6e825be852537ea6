"""Tests for pubinbox.mail.msgid (MID.pm / OverIdx.pm behaviour)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest

from pubinbox.mail.msgid import (
    drop_primary,
    id_compress,
    in_reply_to,
    mid2path,
    mid_clean,
    mid_escape,
    mids,
    mids_for_index,
    references,
    refs_from_field,
    refs_to_field,
    subject_normalized,
    subject_path,
    thread_candidates_perl,
    thread_references,
)
from pubinbox.mail.parse import Headers


def test_mids() -> None:
    h = Headers(b"Message-ID: <a@b> <c@d>\nMessage-Id: <a@b>\nMessage-ID: bare-id\nMessage-ID: <x\n\ty@z>\n\n")
    assert mids(h) == ["a@b", "c@d", "bare-id", "x y@z"]
    long = b"<" + b"m" * 300 + b"@x>"
    assert mids(Headers(b"Message-ID: " + long + b"\n\n")) == ["m" * 244]
    assert mids(Headers(b"Subject: none\n\n")) == []


def test_references() -> None:
    h = Headers(
        b"From: Me <me@x>\nTo: list@x\nCc: y\n"
        b"References: <r1@x> <r2@x>\n <r1@x> <me@x> <y>\n"
        b"In-Reply-To: <r3@x> (junk)\n\n"
    )
    assert references(h) == ["r1@x", "r2@x", "r3@x"]


def test_thread_references() -> None:
    h = Headers(
        b"Message-ID: <self@x>\nMessage-ID: <extra@x>\nX-Alt-Message-ID: <alt@x>\nReferences: <self@x> <p@x>\n\n"
    )
    assert mids_for_index(h) == ["self@x", "extra@x", "alt@x"]
    assert thread_references(h) == ["p@x", "extra@x", "alt@x"]
    assert thread_references(h, "extra@x") == ["self@x", "p@x", "alt@x"]


def test_mangled_reference_is_one_id() -> None:
    """``<Message-ID: <abc@example.com>>``: public-inbox's ``<([^>]+)>`` takes
    one id, and the overview's ``<a> <b>`` field gives it back (issue 15)."""
    h = Headers(b"Message-ID: <m@x>\nReferences: <Message-ID: <abc@example.com>> <p@x>\n\n")
    refs = references(h)
    assert refs == ["Message-ID: <abc@example.com", "p@x"]
    assert refs_to_field(refs) == "<Message-ID: <abc@example.com> <p@x>"
    assert refs_from_field(refs_to_field(refs)) == tuple(refs)
    assert refs_to_field([]) == "" and refs_from_field("") == ()
    odd = ["a b@x", "<<c@x", "caf\u00e9@x"]
    assert refs_from_field(refs_to_field(odd)) == tuple(odd)


def test_in_reply_to_and_primary() -> None:
    # the web's parent: last of References + In-Reply-To, a self reference kept
    h = Headers(b"Message-ID: <self@x>\nReferences: <p@x> <self@x>\n\n")
    assert in_reply_to(h) == "self@x" and thread_references(h) == ["p@x"]
    assert in_reply_to(Headers(b"Subject: x\n\n")) is None
    # a message numbered under its second id keeps the first in its references
    h = Headers(b"Message-ID: <orig@x>\nMessage-ID: <gen@z>\nIn-Reply-To: <p@x>\n\n")
    cands = thread_candidates_perl(h)
    assert cands == ["p@x", "orig@x", "gen@z"]
    assert drop_primary(cands, "gen@z") == ["p@x", "orig@x"]
    assert drop_primary(cands, "orig@x") == thread_references(h) == ["p@x", "gen@z"]


def test_helpers() -> None:
    assert mid_clean("<a@b> junk") == "a@b" and mid_clean("a@b") == "a@b"
    assert mid_escape("a b/c@d") == "a%20b%2Fc@d"
    assert id_compress("abc_-1") == "abc_-1"
    assert id_compress("a.b") == hashlib.sha1(b"a.b").hexdigest()
    h = hashlib.sha1(b"a@b").hexdigest()
    assert mid2path("a@b") == h[:2] + "/" + h[2:]


def test_subject_path() -> None:
    assert subject_path("[PATCH] foo: fix the frobnicator") == "_patch_foo_fix_the_frobnicator"
    assert subject_path("Re: [PATCH] foo: fix the frobnicator...") == "_patch_foo_fix_the_frobnicator"
    assert subject_path("RE: re: x") == "re_x"
    assert subject_normalized("  Re:   a  b..  ") == "a b"
    long = "x" * 41
    assert subject_path(long) == hashlib.sha1(long.encode()).hexdigest()
    assert subject_path("...") == ""


SUBJECTS = [
    "[PATCH] foo: fix the frobnicator",
    "Re: [PATCH v2 1/3] erofs: add something",
    "RE: Re: nested",
    "re:no space",
    "Re:\ttab",
    "trailing dots...",
    "   spaced    out   ",
    "caf\xe9 \xfcber",
    "\u65e5\u672c\u8a9e\u306e\u4ef6\u540d",
    "\u0928\u092e\u0938\u094d\u0924\u0947",
    "\u03a3\u039f\u03a3",
    "a\xa0b\u2003c\x1cd",
    "\u2160 roman \u00b2 super",
    "x" * 40,
    "x" * 41,
    "a/b~c.d-e",
]


_PERL = r"""
use PublicInbox::OverIdx;
use PublicInbox::MID;
while (my $l = <STDIN>) {
	chomp $l;
	my ($mode, $hex) = split(/ /, $l);
	my $s = pack('H*', $hex);
	utf8::decode($s) if $mode eq 'u';
	my $p = PublicInbox::MID::id_compress(PublicInbox::OverIdx::subject_path($s));
	print "$p\n";
}
"""


@pytest.mark.peer
def test_subject_path_against_perl() -> None:
    perl = shutil.which("perl")
    assert perl is not None, "perl is required"
    lines = []
    cases = []
    for s in SUBJECTS:
        lines.append("u " + s.encode("utf-8").hex())
        cases.append((s, True))
        if all(ord(c) < 256 for c in s) and not s.isascii():
            # a byte string that is not UTF-8: ASCII-only rules in Perl
            lines.append("b " + s.encode("latin-1").hex())
            cases.append((s, False))
    proc = subprocess.run(
        [perl, "-e", _PERL],
        input="\n".join(lines).encode() + b"\n",
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    want = proc.stdout.decode().splitlines()
    got = [subject_path(s, unicode_rules=u) for s, u in cases]
    assert list(zip(cases, got)) == list(zip(cases, want))
