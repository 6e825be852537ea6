"""Every header decoded as public-inbox decodes it, on each of its paths.

public-inbox reads a header field through one decoder (``Eml::header_str``:
RFC 2047 words, address phrases) and then treats the result differently on
three paths; tests/mail/pi_headers.pl reports what each path gets and this
test compares it with pubinbox's code for the same path:

* display: ``header_str`` of every field of the message and of every
  attached message, with the utf8 flag
  (:meth:`~pubinbox.mail.parse.Headers.perl_decoded`);
* search: what ``Smsg->populate`` hands SearchIdx for From, To, Cc and
  Subject (top message and attached ones) and the parts' file names
  (:func:`pubinbox.search.extract.extract`);
* content hash: every chunk fed to the digest
  (:func:`pubinbox.mail.hashing.content_chunks`), plus the parts' file
  names and Content-Descriptions.

The default tier runs the repository's hard cases (tests/data/hard) and the
hand-made messages below; the corpus tier the whole of ``hard/``.
"""

from __future__ import annotations

import glob
import hashlib
import subprocess
from pathlib import Path

import pytest

from pubinbox.mail.hashing import content_chunks
from pubinbox.mail.mime import iter_parts
from pubinbox.mail.parse import Headers, header_str
from pubinbox.mail.perlstr import perl_utf8_encode
from pubinbox.search.extract import extract
from tests.conftest import HARD_DIR

from .test_hashing import KNOWN_MISMATCHES

HERE = Path(__file__).resolve().parent

#: messages written to exercise the decoders where the corpus is thin
HANDMADE: dict[str, bytes] = {
    # the case: an encoded surrogate (one U+FFFD in Perl)
    "surrogate": b"Subject: =?utf-8?q?=ED=A0=80x?=\nFrom: =?utf-8?q?=ED=A0=80?= <a@b.example>\n\nbody\n",
    # malformed UTF-8 in every way Encode counts differently from Python
    "malformed-utf8": b"Subject: =?UTF-8?Q?a=C0=80b=F4=90=80=80c=EF=BF=BEd=80=E2=82=ACe=80=C3=A9f=F0=80x?=\n"
    b"Content-Description: =?utf-8?b?7aCA7b+/?=\nTo: =?utf-8?q?=FF=FE?= <t@x.example>\n\nb\n",
    "unknown-charsets": b"Subject: a=?x-unknown?q?b?= =?gb18030?B?WkhPVQ==?= =?utf-8?q?c?=\n"
    b"From: =?gb18030?B?WkhPVQ==?= <353779207@qq.example>\nCc: =?unknown-8bit?Q?A=2E_B?= <x@y.example>\n\n",
    "aliases": b"Subject: =?utf8?q?=C3=A9?= =?latin1?q?=E9?= =?ks_c_5601-1987?b?x9G xbA=?=\n"
    b"To: =?UTF-16?b?AGEAYg==?= <u@x.example>, =?utf-16le?b?YQBiAA==?= <v@x.example>\n\n",
    "split-words": b"Subject: =?utf-8?q?=E2=82?= =?utf-8?q?=AC?=\t=?UTF-8?B?4oI=?=\n =?UTF-8?B?rA==?= end\n\n",
    "raw-8bit-mixed": b"Subject: caf\xc3\xa9 =?utf-8?q?=C3=A0?=\nFrom: J\xf6rg <j@x.example>\n"
    b"To: \xc3\xa9 <e@x.example>, =?utf-8?q?=C3=A9?= <f@x.example>\nCc: caf\xe9 (=?utf-8?q?c=C3=B6?=) <c@x.example>\n\n",
    "groups-comments": b'From: "=?utf-8?q?a=22b?=" <q@x.example> (=?iso-8859-1?q?c=F6mment?=)\n'
    b"To: =?utf-8?q?Gr=C3=BCppe?=: a@x.example, =?utf-8?q?B=C3=B6b?= <b@x.example>;\n"
    b"Reply-To: =?utf-8?q?=5C?= <r@x.example>\nResent-From: =?utf-8?q?R=C3=A9?= <rs@x.example>\n\n",
    "nul-tab": b"Subject: =?utf-8?q?x=00y=09z=0Aw?=\nFrom: =?utf-8?q?a=00b?= <a@b.example>\n\n",
    "uppercase-domain": b"From: =?utf-8?q?=C3=89?= <A@EXAMPLE.COM>\nTo: B <b@Ex\xc3\xa9MPLE.com>\n\n",
    "attachments": b"Content-Type: multipart/mixed; boundary=q\n\n--q\n"
    b"Content-Type: application/octet-stream; name==?utf-8?q?=ED=A0=80.bin?=\n"
    b"Content-Description: =?utf-8?q?d=C3=A9sc?= raw\xc3\xa9\n\nx\n--q\n"
    b"Content-Type: text/plain\nContent-Disposition: attachment;\n filename*=utf-8''%ED%A0%80%C3%A9.txt\n\ny\n--q\n"
    b"Content-Type: message/rfc822\n\nSubject: =?utf-8?q?inn=C3=A9r?= \xc3\xa9\n"
    b"From: =?utf-8?q?=ED=A0=80?= <in@x.example>\nX-Odd: =?utf-8?q?not_decoded?=\n\ninner\n--q--\n",
}


def _framed(msgs: list[bytes]) -> bytes:
    return b"".join(b"%d\n" % len(m) + m for m in msgs)


def perl_reports(msgs: list[bytes]) -> list[list[str]]:
    """pi_headers.pl's lines for each message."""
    out = subprocess.run(
        ["perl", str(HERE / "pi_headers.pl")], input=_framed(msgs), capture_output=True, check=True
    ).stdout.decode("latin-1")
    blocks = out.split("E\n")
    assert blocks[-1] == ""
    assert len(blocks) - 1 == len(msgs)
    return [b.splitlines() for b in blocks[:-1]]


def _hx(s: str) -> str:
    return perl_utf8_encode(s).hex()


def _chunk(c: bytes) -> str:
    return "C =" + hashlib.sha1(c).hexdigest() if len(c) > 4096 else "C " + c.hex()


def compare(raw: bytes, perl: list[str]) -> list[str]:
    """Differences between Perl's report and pubinbox's, one line each."""
    bad: list[str] = []
    if any(line.startswith("X ") for line in perl):
        return [f"perl failed: {perl}"]
    parts = {p.idx_str: p for p in iter_parts(raw)}
    blocks = {"top": Headers(raw).block} | {k: p.header for k, p in parts.items() if p.is_submsg}

    # display: header_str of every field
    want_h: dict[tuple[str, str], list[str]] = {}
    for line in perl:
        if line.startswith("H "):
            _, part, flag, name, hx = (line.split(" ") + [""])[:5]
            want_h.setdefault((part, name), []).append(f"{flag} {hx}")
    for (part, name), want in want_h.items():
        got = [f"{int(f)} {_hx(v)}" for v, f in header_str(blocks[part], name)]
        if got != want:
            bad.append(f"display {part} {name}: perl {want} ours {got}")

    # search: Smsg fields (non-empty values, top first) and file names
    doc = extract(raw)
    for field, got_t in (("from", doc.from_), ("to", doc.to), ("cc", doc.cc), ("subject", doc.subject)):
        want_s = [line.split(" ")[3] for line in perl if line.startswith("S ") and line.split(" ")[2] == field]
        want_s = [hx for hx in want_s if hx]
        got_s = [_hx(v) for v in got_t]
        if got_s != want_s:
            bad.append(f"search {field}: perl {want_s} ours {got_s}")
    want_fn = [line.split(" ")[2] for line in perl if line.startswith("F ") and line.split(" ")[2] not in ("-", "")]
    if [_hx(f) for f in doc.fn] != want_fn:
        bad.append(f"search fn: perl {want_fn} ours {[_hx(f) for f in doc.fn]}")

    # content hash (and what the page shows of a part)
    want_f = [line for line in perl if line.startswith(("F ", "D "))]
    got_f = []
    for p in parts.values():
        got_f.append(f"F {p.idx_str} " + ("-" if p.filename is None else _hx(p.filename)))
        got_f += [f"D {p.idx_str} {_hx(d)}" for d, _ in header_str(p.header, "Content-Description")]
    if got_f != want_f:
        bad.append(f"parts: perl {want_f} ours {got_f}")
    want_c = [line for line in perl if line.startswith("C ")]
    got_c = [_chunk(c) for c in content_chunks(raw)]
    if got_c != want_c:
        bad.append(f"hash chunks: perl {want_c} ours {got_c}")
    return bad


def check(named: dict[str, bytes], known: dict[str, str]) -> None:
    names = sorted(named)
    reports = perl_reports([named[n] for n in names])
    bad = {n: compare(named[n], r) for n, r in zip(names, reports, strict=True)}
    bad = {n: b for n, b in bad.items() if b and n not in known}
    assert bad == {}, f"{len(bad)} messages differ: {list(bad.items())[:3]}"


@pytest.mark.peer
def test_handmade() -> None:
    check(HANDMADE, {})


@pytest.mark.peer
def test_repository_hard_cases() -> None:
    files = sorted(glob.glob(str(HARD_DIR / "**" / "*.eml"), recursive=True))
    assert len(files) >= 90, f"no hard cases under {HARD_DIR}"
    check({f: Path(f).read_bytes() for f in files}, {})


@pytest.mark.corpus
@pytest.mark.peer
def test_corpus_hard(corpus_dir: Path) -> None:
    hard = corpus_dir / "hard"
    files = sorted(hard.glob("from-large/**/*.eml"))
    for line in (hard / "INDEX.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        rel, kind = line.split("\t")[:2]
        if rel.startswith("third-party/") and kind.startswith("message"):
            files.append(hard / rel)
    assert len(files) > 900
    # the two body-text differences of the content hash (headers all agree)
    check({str(f.relative_to(hard)): f.read_bytes() for f in files}, KNOWN_MISMATCHES)
