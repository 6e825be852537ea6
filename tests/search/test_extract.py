"""extract(): raw message -> texts of each search field, as public-inbox does."""

from __future__ import annotations

import dataclasses
import random
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pubinbox.mail.mbox import iter_mbox
from pubinbox.mail.mime import Part, iter_parts
from pubinbox.mail.parse import Headers
from pubinbox.search.extract import _META_NAMES, SearchDoc, extract, header_and_body_view, split_quotes

HDR = (
    "From: Alice Example <alice@example.com>\n"
    "To: Test List <test@example.com>\n"
    "Cc: Bob <bob@example.com>, carol@example.com\n"
    "Subject: [PATCH v2] frobnicator: fix off by one\n"
    "Date: Mon, 02 Jan 2023 10:00:00 +0000\n"
    "Message-ID: <20230102100000.12345-1-alice@example.com>\n"
    "X-Alt-Message-ID: <alt@example.com>\n"
    "List-Id: Test List <Test.Example.COM>\n"
)

PATCH_BODY = """The frobnicator is off by one.

Signed-off-by: Alice Example <alice@example.com>
---
 drivers/foo/bar.c | 2 +-
 include/baz.h     | 1 +
 2 files changed, 2 insertions(+), 1 deletion(-)

diff --git a/drivers/foo/bar.c b/drivers/foo/bar.c
index 83db48f..bf269f4 100644
--- a/drivers/foo/bar.c
+++ b/drivers/foo/bar.c
@@ -1,3 +1,3 @@ int frobnicate(int x)
 int x;
-return x + 1;
+return x;
 }
@@ -20,2 +20,2 @@ static int zebra(void)
-	old_zebra();
+	new_zebra();
diff --git a/include/baz.h b/include/baz.h
index 1111111..2222222 100644
--- a/include/baz.h
+++ b/include/baz.h
@@ -1 +1,2 @@
 #define BAZ 1
+#define QUX 2
--\x20
2.39.0
"""


def msg(body: str, headers: str = HDR, extra: str = "") -> bytes:
    return (headers + extra + "\n" + body).encode()


def git_first(data: bytes) -> str | None:
    out = subprocess.run(["git", "patch-id", "--stable"], input=data, capture_output=True, check=True).stdout
    return out.split()[0].decode() if out else None


def test_patch_with_two_files() -> None:
    d = extract(msg(PATCH_BODY))
    assert d.subject == ("[PATCH v2] frobnicator: fix off by one",)
    assert d.from_ == ("Alice Example <alice@example.com>",)
    assert d.to == ("Test List <test@example.com>",)
    assert d.cc == ("Bob <bob@example.com>, carol@example.com",)
    assert d.mids == ("20230102100000.12345-1-alice@example.com", "alt@example.com")
    # XM: the id, then its 3+ character word runs (it has a 12+ character word)
    assert d.mid_text[:2] == (
        "20230102100000.12345-1-alice@example.com",
        "20230102100000 12345 alice example com",
    )
    assert d.listid == d.listid_exact == ("test.example.com",)
    assert d.dfn == ("drivers/foo/bar.c", "include/baz.h")
    assert d.dfa == ("return x + 1;", "\told_zebra();")
    assert d.dfb == ("return x;", "\tnew_zebra();", "#define QUX 2")
    assert d.dfctx == ("int x;", "}", "#define BAZ 1")
    assert d.dfhh == ("int frobnicate(int x)", "static int zebra(void)")
    assert d.dfpre == ("83db48f", "1111111") and d.dfpost == ("bf269f4", "2222222")
    assert d.patchid == (git_first(PATCH_BODY.encode()),)
    assert d.patchid[0] is not None
    nq = "\n".join(d.nq)
    assert "The frobnicator is off by one." in nq and "2.39.0" in nq
    assert "new_zebra" not in nq
    assert d.quot == () and d.fn == ()
    assert set(d.body_all) >= set(d.nq) | set(d.dfa)


def test_reply_quoting_a_patch() -> None:
    body = (
        "On Mon, 2 Jan 2023 at 10:00, Alice Example wrote:\n"
        "> diff --git a/drivers/foo/bar.c b/drivers/foo/bar.c\n"
        "> --- a/drivers/foo/bar.c\n"
        "> +++ b/drivers/foo/bar.c\n"
        "> @@ -1,3 +1,3 @@ int frobnicate(int x)\n"
        ">  int x;\n"
        "> -return x + 1;\n"
        "> +return x;\n"
        "\n"
        "This looks wrong: zebra.\n"
        "\n"
        ">> older quote\n"
        "> more\n"
        "Thanks\n"
    )
    d = extract(msg(body, extra="In-Reply-To: <x@example.com>\n"))
    assert d.dfa == d.dfb == d.dfctx == d.dfn == d.dfhh == ()
    assert d.patchid == ()
    assert len(d.quot) == 2
    assert d.quot[0].startswith("> diff --git") and "> +return x;\n" in d.quot[0]
    assert d.quot[1] == ">> older quote\n> more\n"
    # the attribution line is not a quote
    assert d.nq[0] == "On Mon, 2 Jan 2023 at 10:00, Alice Example wrote:\n"
    assert "This looks wrong: zebra." in d.nq[1]
    assert d.nq[-1] == "Thanks\n"


def test_split_quotes() -> None:
    assert split_quotes("a\n> b\n> c\nd") == ["a\n", "> b\n> c\n", "d\n"]
    assert split_quotes("> x") == ["> x\n"]
    assert split_quotes("plain") == ["plain\n"]
    assert split_quotes("a\n>b\nc\n>d\n") == ["a\n", ">b\n", "c\n", ">d\n"]


def test_rename_patch() -> None:
    body = (
        "Move it.\n---\n"
        "diff --git a/fs/old.c b/fs/new.c\n"
        "similarity index 100%\n"
        "rename from fs/old.c\n"
        "rename to fs/new.c\n"
    )
    d = extract(msg(body))
    assert d.dfn == ("fs/old.c", "fs/new.c")
    assert "rename from fs/old.c" in "\n".join(d.nq)
    assert d.patchid == (git_first(body.encode()),)


def test_binary_patch() -> None:
    body = (
        "Add a logo.\n---\n"
        "diff --git a/logo.png b/logo.png\n"
        "new file mode 100644\n"
        "index 0000000000000000000000000000000000000000..4f2a1e5b8c3d7e9f0a1b2c3d4e5f60718293a4b5\n"
        "GIT binary patch\n"
        "literal 12\n"
        "TcmZ?wbhEHbWMp7q00001\n"
        "\n"
        "literal 0\n"
        "HcmV?d00001\n"
        "\n"
        "--\x20\n2.39.0\n"
    )
    d = extract(msg(body))
    nq = "\n".join(d.nq)
    assert "GIT binary patch" in nq and "literal 12" in nq
    assert "TcmZ" not in nq and "HcmV" not in nq
    assert d.dfn == ("logo.png",)
    assert d.dfpost == ("4f2a1e5b8c3d7e9f0a1b2c3d4e5f60718293a4b5",)
    assert d.patchid == (git_first(body.encode()),)


def test_html_only_mail_has_no_body_text() -> None:
    raw = msg(
        "<html><body><p>zebra in html</p></body></html>\n",
        extra="MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n",
    )
    d = extract(raw)
    assert d.nq == () and d.quot == ()
    assert d.subject and d.mids  # headers are still indexed


def test_alternative_indexes_the_plain_part_only() -> None:
    raw = msg(
        "--b\nContent-Type: text/plain; charset=utf-8\n\nplain zebra\n"
        "--b\nContent-Type: text/html; charset=utf-8\n\n<p>html giraffe</p>\n--b--\n",
        extra='MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="b"\n',
    )
    d = extract(raw)
    assert d.nq == ("plain zebra\n",)


def test_multipart_with_text_attachments() -> None:
    patch = "diff --git a/f.c b/f.c\n--- a/f.c\n+++ b/f.c\n@@ -1 +1 @@\n-old\n+new\n"
    raw = msg(
        "--b\nContent-Type: text/plain; charset=utf-8\n\nSee the attached log and patch.\n"
        '--b\nContent-Type: text/plain; charset=us-ascii\nContent-Disposition: attachment; filename="crash.log"\n\n'
        "BUG: kernel NULL pointer dereference\n"
        "--b\nContent-Type: text/x-patch\nContent-Disposition: attachment; filename=fix.patch\n"
        "Content-Transfer-Encoding: base64\n\n"
        + __import__("base64").encodebytes(patch.encode()).decode()
        + "--b\nContent-Type: application/octet-stream; name=dmesg.txt\n\nprintable dmesg output\n"
        "--b\nContent-Type: image/png; name=shot.png\nContent-Transfer-Encoding: base64\n\n"
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==\n"
        "--b--\n",
        extra='MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n',
    )
    d = extract(raw)
    assert d.fn == ("crash.log", "fix.patch", "dmesg.txt", "shot.png")
    nq = "\n".join(d.nq)
    assert "See the attached log and patch." in nq
    assert "BUG: kernel NULL pointer dereference" in nq
    assert "printable dmesg output" in nq  # octet-stream that is printable text
    assert "PNG" not in nq and "iVBOR" not in nq
    # the text/x-patch attachment is parsed as a diff and has a patch id
    assert d.dfn == ("f.c",) and d.dfa == ("old",) and d.dfb == ("new",)
    assert d.patchid == (git_first(patch.encode()),)


def test_attached_message_is_indexed_with_its_headers() -> None:
    inner = (
        "From: Dave Inner <dave@example.org>\n"
        "To: other@example.org\n"
        "Subject: inner subject giraffe\n"
        "Message-ID: <inner-123@example.org>\n"
        "List-Id: <other.example.org>\n"
        "\n"
        "inner body okapi\n"
        "> inner quote\n"
    )
    raw = msg(
        "--b\nContent-Type: text/plain\n\nForwarding this.\n"
        "--b\nContent-Type: message/rfc822\nContent-Disposition: attachment; filename=fwd.eml\n\n" + inner + "--b--\n",
        extra='MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n',
    )
    d = extract(raw)
    assert d.subject == ("[PATCH v2] frobnicator: fix off by one", "inner subject giraffe")
    assert d.from_[1] == "Dave Inner <dave@example.org>"
    assert d.to[1] == "other@example.org"
    assert "inner-123@example.org" in d.mids and d.mids[-1] == "alt@example.com"
    assert set(d.listid_exact) == {"other.example.org", "test.example.com"}
    assert d.fn == ("fwd.eml",)
    assert "inner body okapi\n" in d.nq
    assert d.quot == ("> inner quote\n",)


def test_quoted_printable_and_charsets() -> None:
    raw = msg(
        "caf=C3=A9 na=C3=AFve\n> quoted caf=C3=A9\n",
        extra="Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n",
    )
    d = extract(raw)
    assert d.nq == ("café naïve\n",)  # CRLF from QP decoding is normalised
    assert d.quot == ("> quoted café\n",)
    latin = (HDR + "Content-Type: text/plain; charset=iso-8859-1\n\n").encode() + b"na\xefve\n"
    assert extract(latin).nq == ("naïve\n",)
    # no charset, 8-bit UTF-8: decoded as UTF-8
    raw8 = (HDR + "\n").encode() + "naïve\n".encode()
    assert extract(raw8).nq == ("naïve\n",)


def test_encoded_headers() -> None:
    raw = b"From: =?UTF-8?Q?Ren=C3=A9?= <rene@example.com>\nSubject: =?UTF-8?B?w6l0w6k=?=\nMessage-ID: <a@b>\n\nx\n"
    d = extract(raw)
    assert d.from_ == ("René <rene@example.com>",) and d.subject == ("été",)
    assert d.mid_text == ("a@b",)  # no 12+ character word: no extra text


def test_empty_and_garbage() -> None:
    assert isinstance(extract(b""), SearchDoc)
    assert isinstance(extract(b"\x00\xff\r\n\r\n"), SearchDoc)
    d = extract(b"no header at all, just text\n")
    assert isinstance(d, SearchDoc)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    assert isinstance(extract(raw), SearchDoc)


def _sample(sample_mbox: Path) -> list[bytes]:
    with sample_mbox.open("rb") as fp:
        return list(iter_mbox(fp))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), data=st.data())
def test_never_raises_on_mutated_real_messages(sample_mbox: Path, seed: int, data: st.DataObject) -> None:
    if "m" not in _SAMPLE_CACHE:
        _SAMPLE_CACHE["m"] = _sample(sample_mbox)
    msgs = _SAMPLE_CACHE["m"]
    rng = random.Random(seed)
    raw = bytearray(rng.choice(msgs))
    for _ in range(data.draw(st.integers(1, 20))):
        op = rng.random()
        pos = rng.randrange(len(raw) + 1)
        if op < 0.4 and raw:
            raw[min(pos, len(raw) - 1)] = rng.randrange(256)
        elif op < 0.7:
            chunk = rng.choice(
                [b"\n", b"\r\n", b"\n\n", b"--", b"> ", b"diff --git a/", b"@@ -1 +1 @@", b"=?", b"\x00"]
            )
            raw[pos:pos] = chunk
        else:
            del raw[pos : pos + rng.randrange(1, 200)]
    assert isinstance(extract(bytes(raw)), SearchDoc)


_SAMPLE_CACHE: dict[str, list[bytes]] = {}


def _check_views(raw: bytes) -> None:
    """The reduced header views give what the full message gives."""
    h, view = header_and_body_view(raw)
    full = Headers(raw)
    for name in _META_NAMES:
        assert h.raw_bytes(name) == full.raw_bytes(name), name
        assert h.perl_decoded(name) == full.perl_decoded(name), name

    def norm(parts: list[Part]) -> list[Part]:
        return [dataclasses.replace(p, header=b"") if p.depth == 0 else p for p in parts]

    assert norm(list(iter_parts(view))) == norm(list(iter_parts(raw)))


def test_views_match_full_parse(sample_mbox: Path, hard_dir: Path) -> None:
    msgs = _sample(sample_mbox)
    msgs += [p.read_bytes() for p in sorted(hard_dir.rglob("*")) if p.is_file() and p.suffix not in (".md", ".tsv")]
    assert len(msgs) > 350
    for raw in msgs:
        _check_views(raw)


def test_speed_on_sample(sample_mbox: Path) -> None:
    msgs = _sample(sample_mbox)
    for raw in msgs:  # warm up
        extract(raw)
    t0 = time.perf_counter()
    for raw in msgs:
        extract(raw)
    per_msg = (time.perf_counter() - t0) / len(msgs)
    print(f"\nextract: {per_msg * 1e6:.0f} µs/message over {len(msgs)} messages of sample.mbox")
    assert per_msg < 0.02  # generous: machines vary; see the report for figures


@pytest.mark.corpus
@pytest.mark.slow
def test_corpus_epoch_views_and_extract(corpus_dir: Path, tmp_path: Path) -> None:
    from tests.search.test_patchid import _epoch_blobs

    blobs = _epoch_blobs(corpus_dir, tmp_path)
    with_diff = 0
    for raw in blobs:
        _check_views(raw)
        d = extract(raw)
        with_diff += bool(d.dfn)
    assert with_diff > 4000
