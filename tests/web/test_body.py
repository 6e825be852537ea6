"""render_body() / attachment(): message bodies as HTML inside <pre>, as public-inbox shows them."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pubinbox.mail.mbox import iter_mbox
from pubinbox.mail.mime import iter_parts
from pubinbox.mail.parse import Headers
from pubinbox.web.body import attachment, linkify, render_body
from pubinbox.web.html import ascii_bytes
from pubinbox.web.obfuscate import Obfuscator

HDR = (
    "From: Alice Example <alice@example.com>\n"
    "To: Test List <test@example.com>\n"
    "Subject: test\n"
    "Date: Mon, 02 Jan 2023 10:00:00 +0000\n"
    "Message-ID: <t@example.com>\n"
)


def plain(body: str, charset: str = "utf-8") -> bytes:
    """A single-part text/plain message."""
    return (HDR + f"Content-Type: text/plain; charset={charset}\n\n" + body).encode()


def sample_msgs(sample_mbox: Path) -> list[bytes]:
    with sample_mbox.open("rb") as fp:
        return list(iter_mbox(fp))


def hard_msgs(hard_dir: Path) -> list[tuple[str, bytes]]:
    return [(str(p.relative_to(hard_dir)), p.read_bytes()) for p in sorted(hard_dir.rglob("*.eml"))]


def by_mid(msgs: list[bytes], mid: str) -> bytes:
    for m in msgs:
        if f"<{mid}>" in Headers(m).raw("Message-ID"):
            return m
    raise AssertionError(mid)


# ---------------------------------------------------------------- markup checks

ALLOWED = {"a": {"href", "id"}, "span": {"class"}, "details": set(), "summary": set(), "b": set()}
SPAN_CLASSES = {"q", "head", "hunk", "add", "del"}
SAFE_HREF = re.compile(
    r"(?:https?://|ftp://|mailto:|#|(?:\.\./[^/]+/)?[0-9][0-9.]*-[A-Za-z0-9][A-Za-z0-9_.\-]*\Z)", re.IGNORECASE
)


class TagChecker(HTMLParser):
    """Collects every tag; fails on anything render_body never emits."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED, tag
        for name, value in attrs:
            assert name in ALLOWED[tag], (tag, name)
            assert value is not None
            if name == "href":
                assert SAFE_HREF.match(value), value
                assert "javascript:" not in value.lower()
                self.hrefs.append(value)
            elif name == "id":
                self.ids.append(value)
            elif name == "class":
                assert value in SPAN_CLASSES, value
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise AssertionError(f"self-closing <{tag}/>")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        raise AssertionError("comment")

    def handle_decl(self, decl: str) -> None:
        raise AssertionError("declaration")

    def handle_pi(self, data: str) -> None:
        raise AssertionError("processing instruction")

    def unknown_decl(self, data: str) -> None:
        raise AssertionError("unknown declaration")


OUR_TAG = re.compile(r"</?(?:a|span|details|summary|b)[ >]")


def check_markup(out: str) -> TagChecker:
    """Only our tags, balanced, no '<' from the mail, no bidi overrides."""
    low = out.lower()
    for bad in ("<script", "<iframe", "<img", "<style", "<object", "<embed", "<svg", "<form", "<input"):
        assert bad not in low
    assert not re.search(r"\son[a-z]+\s*=", low)
    for m in re.finditer("<", out):
        assert OUR_TAG.match(out, m.start()), out[m.start() : m.start() + 40]
    assert not re.search("[\u202a-\u202e\u2066-\u2069\x00\r]", out)
    p = TagChecker()
    p.feed(out)
    p.close()
    assert p.stack == [], p.stack
    return p


def visible(out: str) -> str:
    """The text a reader sees (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]*>", "", out))


# ---------------------------------------------------------------- every real message


def test_sample_and_hard_render(sample_mbox: Path, hard_dir: Path) -> None:
    msgs = [(f"sample#{i}", m) for i, m in enumerate(sample_msgs(sample_mbox))] + hard_msgs(hard_dir)
    assert len(msgs) > 380
    for name, raw in msgs:
        for url, fold in (("", 12), ("../some%2Fmid@example.com/", 0)):
            out = render_body(raw, msg_url=url, fold_quotes=fold)
            p = check_markup(out)
            ascii_bytes(out)  # the page encoding never fails
            ids = set(p.ids)
            assert len(ids) == len(p.ids), name  # ids are unique within a message
            # every diff header links back to a diffstat line that exists
            for h in p.hrefs:
                if h.startswith("#i"):
                    assert h[1:] in ids, (name, h)


def test_mbox_escaping_files(hard_dir: Path) -> None:
    for f in sorted((hard_dir / "mbox-escaping").glob("*.mbox*")):
        with f.open("rb") as fp:
            for raw in iter_mbox(fp):
                check_markup(render_body(raw, msg_url=""))


def test_plain_text_round_trips() -> None:
    body = "Hello <world> & 'friends' \"x\"\n\ttabbed   \ntrailing spaces   \n"
    out = render_body(plain(body), msg_url="")
    check_markup(out)
    assert visible(out) == body
    assert "trailing spaces   \n" in out
    assert "&lt;world&gt; &amp; &#39;friends&#39; &#34;x&#34;" in out


def test_crlf_normalised_and_controls_neutralised() -> None:
    raw = plain("line one\r\nline\rtwo\r\r\nnul\x00here \u202eevil\u202c end\r\n")
    out = render_body(raw, msg_url="")
    check_markup(out)
    assert visible(out) == "line one\nline\ufffdtwo\nnul\ufffdhere \ufffdevil\ufffd end\n"


def test_bidi_override_in_quote_link_and_attachment_name() -> None:
    raw = (
        HDR + 'Content-Type: multipart/mixed; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\n> quoted \u202egnp.exe\nhttp://ex.com/\u202ex\n"
        '--b\nContent-Type: text/plain\nContent-Disposition: attachment; filename="a\u202etxt.exe"\n\nx\n'
        "--b--\n"
    ).encode()
    out = render_body(raw, msg_url="")
    check_markup(out)
    assert "\u202e" not in out
    assert '<a href="2-a.txt">[-- Attachment #2: a\ufffdtxt.exe --]' in out


# ---------------------------------------------------------------- quotes


def quoted_msg(n: int) -> tuple[bytes, str]:
    q = "".join(f"> quoted line {i}\n" for i in range(1, n + 1))
    body = "On Monday, Bob wrote:\n" + q + "\nMy reply.\n"
    return plain(body), body


def test_quote_span_short_block_not_folded() -> None:
    raw, body = quoted_msg(12)
    out = render_body(raw, msg_url="")
    assert "<details>" not in out
    assert out.count('<span class="q">') == 1
    assert '<span class="q">&gt; quoted line 1\n' in out
    assert "&gt; quoted line 12\n</span>\nMy reply.\n" in out
    assert visible(out) == body


def test_quote_folding() -> None:
    raw, body = quoted_msg(20)
    out = render_body(raw, msg_url="")
    check_markup(out)
    assert out == (
        "On Monday, Bob wrote:\n"
        '<span class="q">&gt; quoted line 1\n&gt; quoted line 2\n</span>'
        "<details><summary>[... 14 more quoted lines]\n</summary>"
        '<span class="q">' + "".join(f"&gt; quoted line {i}\n" for i in range(3, 17)) + "</span></details>"
        '<span class="q">' + "".join(f"&gt; quoted line {i}\n" for i in range(17, 21)) + "</span>"
        "\nMy reply.\n"
    )
    # no text is lost: only the summary line is added
    assert visible(re.sub(r"<summary>.*?</summary>", "", out, flags=re.DOTALL)) == body


def test_quote_folding_threshold_and_disabled() -> None:
    raw, body = quoted_msg(40)
    assert "<details>" not in render_body(raw, msg_url="", fold_quotes=0)
    assert visible(render_body(raw, msg_url="", fold_quotes=0)) == body
    assert "[... 34 more quoted lines]" in render_body(raw, msg_url="", fold_quotes=12)
    assert "<details>" not in render_body(raw, msg_url="", fold_quotes=40)
    assert "[... 34 more quoted lines]" in render_body(raw, msg_url="", fold_quotes=39)


@pytest.mark.parametrize("cmd", [["w3m", "-dump", "-T", "text/html"], ["lynx", "-dump", "-nolist", "-stdin"]])
def test_folded_quotes_readable_in_text_browsers(cmd: list[str]) -> None:
    if shutil.which(cmd[0]) is None:
        pytest.skip(f"{cmd[0]} not installed")
    raw, _ = quoted_msg(30)
    page = f"<html><body><pre>{render_body(raw, msg_url='')}</pre></body></html>"
    text = subprocess.run(cmd, input=ascii_bytes(page), capture_output=True, check=True, timeout=60).stdout.decode()
    lines = [ln.strip() for ln in text.splitlines()]
    expect = ["On Monday, Bob wrote:"] + [f"> quoted line {i}" for i in range(1, 31)] + ["", "My reply."]
    got = [ln for ln in lines if not ln.startswith("[... ")]
    assert got[: len(expect)] == expect
    assert "[... 24 more quoted lines]" in lines


# ---------------------------------------------------------------- patches

PATCH_MID = "20260615084011.325686-1-hsiangkao@linux.alibaba.com"


def test_real_patch_markup(sample_mbox: Path) -> None:
    raw = by_mid(sample_msgs(sample_mbox), PATCH_MID)
    out = render_body(raw, msg_url="")
    check_markup(out)
    # diffstat names link to their diff and back (public-inbox's anchors)
    assert " <a id=iZ31fsck:main.c href=#Z31fsck:main.c>fsck/main.c</a>          | 5 +++--\n" in out
    assert " <a id=iZ31include:erofs:defs.h href=#Z31include:erofs:defs.h>include/erofs/defs.h</a> | 9" in out
    assert (
        '<span class="head"><a href=#iZ31fsck:main.c id=Z31fsck:main.c>diff</a> --git a/fsck/main.c b/fsck/main.c\n'
        "index 21ada195edab..f7f1387fe642 100644\n--- a/fsck/main.c\n+++ b/fsck/main.c\n</span>"
    ) in out
    assert (
        '<span class="hunk">@@ -784,6 +784,7 @@ static inline int erofs_extract_symlink(struct erofs_inode *inode)\n'
        '</span> {\n \tstruct erofs_vfile vf;\n \tbool tryagain = true;\n<span class="add">+\terofs_off_t bufsz;\n</span>'
    ) in out
    assert '<span class="del">-\tbuf = malloc(inode-&gt;i_size + 1);\n-\tif (!buf) {\n</span>' in out
    # the signature after the patch is plain text again
    assert re.search(r"\n-- \n2\.43\.5\n+\Z", out)
    assert '<span class="del">-- ' not in out


def test_anchor_prefix_and_msg_url_make_anchors_unique(sample_mbox: Path) -> None:
    raw = by_mid(sample_msgs(sample_mbox), PATCH_MID)
    a = set(re.findall(r"id=(\S+?)[ >]", render_body(raw, msg_url="../x@y/", anchor_prefix="")))
    b = set(re.findall(r"id=(\S+?)[ >]", render_body(raw, msg_url="../x@y/", anchor_prefix="m2")))
    c = set(re.findall(r"id=(\S+?)[ >]", render_body(raw, msg_url="../z@y/", anchor_prefix="")))
    assert a and not a & b and not a & c
    # absolute URLs (feeds): no anchors at all, as public-inbox
    assert " id=" not in render_body(raw, msg_url="https://example.com/i/x@y/")


PATCH = """Commit message with http://example.com/a.

Signed-off-by: A <a@example.com>
---
 dir/{old.c => new.c}  | 2 +-
 .../very/long/path/name.h | 1 +
 2 files changed, 2 insertions(+), 1 deletion(-)

diff --git a/dir/old.c b/dir/new.c
similarity index 90%
rename from dir/old.c
rename to dir/new.c
index 1234567..89abcde 100644
--- a/dir/old.c
+++ b/dir/new.c
@@ -1,2 +1,2 @@ int <main>(void)
 ctx
-old & <b>
+new http://example.com/x
diff --git a/some/very/long/path/name.h b/some/very/long/path/name.h
index 1111111..2222222 100644
--- a/some/very/long/path/name.h
+++ b/some/very/long/path/name.h
@@ -1 +1,2 @@
 x
+y
--\x20
2.39.0
"""


def test_patch_renames_long_paths_and_escaping() -> None:
    out = render_body(plain(PATCH), msg_url="")
    check_markup(out)
    assert visible(out) == PATCH
    assert " <a id=iZ31dir:new.c href=#Z31dir:new.c>dir/{old.c =&gt; new.c}</a>  | 2 +-\n" in out
    assert "<a href=#iZ31dir:new.c id=Z31dir:new.c>diff</a> --git a/dir/old.c b/dir/new.c\nsimilarity index 90%" in out
    assert (
        " <a id=iZ31very:long:path:name.h href=#Z31very:long:path:name.h>.../very/long/path/name.h</a> | 1 +\n"
    ) in out
    assert "<a href=#iZ31very:long:path:name.h id=Z31very:long:path:name.h>diff</a> --git" in out
    assert '<span class="hunk">@@ -1,2 +1,2 @@ int &lt;main&gt;(void)\n</span>' in out
    assert '<span class="del">-old &amp; &lt;b&gt;\n</span>' in out
    assert '<span class="add">+new <a href="http://example.com/x">http://example.com/x</a>\n</span>' in out
    assert out.endswith("-- \n2.39.0\n")
    assert '<span class="del">-- ' not in out


def test_hostile_hunk_header_is_escaped() -> None:
    body = "index 1234567..89abcde\n--- a/x\n+++ b/x\n@@ <script>alert(1)</script> +1 @@\n-a\n+b\n"
    out = render_body(plain(body), msg_url="")
    check_markup(out)
    assert '<span class="hunk">@@ &lt;script&gt;alert(1)&lt;/script&gt; +1 @@\n</span>' in out


def test_no_index_line_no_markup() -> None:
    # as public-inbox: a diff header needs its "index A..B" line
    body = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
    assert render_body(plain(body), msg_url="") == body


def test_quoted_patch_is_a_quote() -> None:
    body = "> --- a/x\n> +++ b/x\n> @@ -1 +1 @@\n> -a\n> +b\n\nLooks good.\n"
    out = render_body(plain(body), msg_url="")
    assert 'class="add"' not in out and 'class="del"' not in out
    assert out.startswith('<span class="q">&gt; --- a/x\n')


# ---------------------------------------------------------------- attachments

B64_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
MULTI = (
    HDR + "MIME-Version: 1.0\n"
    'Content-Type: multipart/mixed; boundary="XX"\n\n'
    "preamble\n"
    "--XX\n"
    "Content-Type: text/plain; charset=utf-8\n\n"
    "The body.\n"
    "--XX\n"
    "Content-Type: text/plain; charset=us-ascii\n"
    'Content-Disposition: attachment; filename="crash.log"\n\n'
    "BUG: at line 1\nsecond line\n"
    "--XX\n"
    'Content-Type: image/png; name="dot.png"\n'
    "Content-Transfer-Encoding: base64\n"
    "Content-Description: a <tiny> dot\n\n" + B64_PNG + "\n"
    "--XX\n"
    "Content-Type: text/html; charset=utf-8\n\n"
    "<html><script>alert(1)</script><img src=x onerror=alert(2)></html>\n"
    "--XX\n"
    'Content-Type: application/octet-stream; name="../../etc/passwd"\n\n'
    "root:x:0:0\n"
    "--XX--\n"
)


def test_attachment_links() -> None:
    raw = MULTI.encode()
    out = render_body(raw, msg_url="../t@example.com/")
    check_markup(out)
    assert out.startswith(
        '<a href="../t@example.com/1-a.txt">[-- Attachment #1: Type: text/plain, Size: 9 bytes --]</a>\n\nThe body.\n\n'
    )
    assert (
        '\n<a href="../t@example.com/2-crash.log">[-- Attachment #2: crash.log --]\n'
        "[-- Type: text/plain, Size: 26 bytes --]</a>\n\nBUG: at line 1\nsecond line\n"
    ) in out
    assert (
        '\n<a href="../t@example.com/3-dot.png">[-- Attachment #3: a &lt;tiny&gt; dot --]\n'
        "[-- Type: image/png, Size: 70 bytes --]</a>\n"
    ) in out
    assert '\n<a href="../t@example.com/4-a.bin">[-- Attachment #4: Type: text/html, Size: 66 bytes --]</a>\n' in out
    assert "alert" not in out  # HTML is never shown
    # an unsafe name is not used in the URL (printable octet-stream text is shown)
    assert (
        '\n<a href="../t@example.com/5-a.bin">[-- Attachment #5: ../../etc/passwd --]\n'
        "[-- Type: application/octet-stream, Size: 10 bytes --]</a>\n\nroot:x:0:0\n"
    ) in out
    assert out.endswith("root:x:0:0\n")


def test_attachment_download() -> None:
    raw = MULTI.encode()
    parts = {p.idx_str: p for p in iter_parts(raw)}
    for idx, p in parts.items():
        a = attachment(raw, idx)
        assert a is not None
        assert a.data == p.decoded()
        assert a.declared_type == p.content_type
    a2, a3, a4, a5 = (attachment(raw, i) for i in "2345")
    assert a2 is not None and a2.content_type == "text/plain; charset=us-ascii" and a2.filename == "crash.log"
    assert a3 is not None and a3.content_type == "application/octet-stream" and a3.data.startswith(b"\x89PNG")
    assert a4 is not None and a4.content_type == "text/plain; charset=utf-8"  # never served as HTML
    assert a5 is not None and a5.filename == "../../etc/passwd"
    assert attachment(raw, "6") is None
    assert attachment(raw, "0") is None
    assert attachment(raw, "1.1") is None


def test_single_part_html_only(hard_dir: Path) -> None:
    for f in sorted((hard_dir / "html-only").glob("*.eml")):
        raw = f.read_bytes()
        out = render_body(raw, msg_url="")
        check_markup(out)
        assert re.fullmatch(
            r'<a href="1-a\.bin">\[-- Attachment #1: Type: text/html, Size: [0-9]+ bytes --\]</a>\n', out
        ), out
        a = attachment(raw, "1")
        assert a is not None and a.content_type.startswith("text/plain") and b"<" in a.data


def test_multipart_alternative_text_shown_html_linked(sample_mbox: Path) -> None:
    msgs = [
        m for m in sample_msgs(sample_mbox) if [p.content_type for p in iter_parts(m)] == ["text/plain", "text/html"]
    ]
    assert msgs
    for raw in msgs:
        out = render_body(raw, msg_url="")
        check_markup(out)
        assert out.startswith('<a href="1-a.txt">[-- Attachment #1: Type: text/plain, Size: ')
        assert re.search(
            r'\n<a href="2-a\.bin">\[-- Attachment #2: Type: text/html, Size: [0-9]+ bytes --\]</a>\n\Z', out
        )


def test_pgp_signature_attachment(sample_mbox: Path) -> None:
    msgs = [m for m in sample_msgs(sample_mbox) if any(p.filename == "signature.asc" for p in iter_parts(m))]
    assert msgs
    for raw in msgs:
        out = render_body(raw, msg_url="")
        assert re.search(
            r'\n<a href="2-signature\.asc">\[-- Attachment #2: signature\.asc --\]\n'
            r"\[-- Type: application/pgp-signature, Size: [0-9]+ bytes --\]</a>\n\Z",
            out,
        ), out[-300:]


def test_attached_message(hard_dir: Path) -> None:
    raw = (hard_dir / "message-rfc822-attached" / "linux-kselftest-012515.eml").read_bytes()
    out = render_body(raw, msg_url="")
    check_markup(out)
    assert (
        '<a href="2-a.bin">[-- Attachment #2: Forwarded message \u2014 [PROBLEM] kmemleak: 2 new suspected memory leaks --]\n'
        "[-- Type: message/rfc822, Size: 2294 bytes --]</a>\n\n"
        "From: Jeffrin Jose T &lt;jeffrin@rajagiritech.edu.in&gt;\n"
        "To: lkml &lt;linux-kernel@vger.kernel.org&gt;\n"
        "Subject: [PROBLEM] kmemleak: 2 new suspected memory leaks\n"
        "Date: Tue, 08 Dec 2020 04:30:15 +0530\n"
        "Message-ID: &lt;b65ca811947006b04e6027e30649c263a787323d.camel@rajagiritech.edu.in&gt;\n\nhello,\n"
    ) in out
    a = attachment(raw, "2")
    assert a is not None and a.content_type == "application/octet-stream" and b"Subject: [PROBLEM]" in a.data
    # nested parts get nested index paths
    raw = (hard_dir / "message-rfc822-attached" / "linux-btrfs-058189.eml").read_bytes()
    out = render_body(raw, msg_url="")
    assert '<a href="1.1.1-a.txt">[-- Attachment #1.1.1: Type: text/plain' in out
    assert '<a href="1.1.2-ForwardedMessage.eml">[-- Attachment #1.1.2: ForwardedMessage.eml --]\n' in out
    assert "\nSubject: Re: snapshots of subvolumes recursivly?\n" in out
    b = attachment(raw, "1.1.2.1")
    assert b is not None and b.content_type == "text/plain; charset=iso-8859-15"


def test_wrong_charset_warns() -> None:
    raw = plain("caf\u00e9\n", charset="us-ascii")  # UTF-8 bytes declared as ASCII
    out = render_body(raw, msg_url="")
    assert out == (
        '<a href="1-a.bin">[-- Warning: decoded text below may be mangled, UTF-8 assumed --]\n'
        "[-- Attachment #1: Type: text/plain; charset=us-ascii, Size: 6 bytes --]</a>\n\ncaf\u00e9\n"
    )
    out = render_body(plain("x\n", charset="no-such-charset"), msg_url="")
    assert "UTF-8 assumed" in out and out.endswith("\nx\n")


# ---------------------------------------------------------------- linkify


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("see http://example.com/a.", 'see <a href="http://example.com/a">http://example.com/a</a>.'),
        ("https://ex.com/p?q=1&r=2#f", '<a href="https://ex.com/p?q=1&amp;r=2#f">https://ex.com/p?q=1&amp;r=2#f</a>'),
        ("ftp://ftp.ex.org/pub/", '<a href="ftp://ftp.ex.org/pub/">ftp://ftp.ex.org/pub/</a>'),
        ("HTTPS://EX.COM/", '<a href="HTTPS://EX.COM/">HTTPS://EX.COM/</a>'),
        ("(see http://ex.com/a)", '(see <a href="http://ex.com/a">http://ex.com/a</a>)'),
        ("(http://ex.com/a).", '(<a href="http://ex.com/a">http://ex.com/a</a>).'),
        ("http://ex.com/wiki/A_(b).", '<a href="http://ex.com/wiki/A_(b)">http://ex.com/wiki/A_(b)</a>.'),
        ("http://ex.com/x),", '<a href="http://ex.com/x">http://ex.com/x</a>),'),
        ("'http://ex.com/x',", '&#39;<a href="http://ex.com/x">http://ex.com/x</a>&#39;,'),
        ("<http://ex.com/x>", '&lt;<a href="http://ex.com/x">http://ex.com/x</a>&gt;'),
        ('"http://ex.com/x"onclick=1', '&#34;<a href="http://ex.com/x">http://ex.com/x</a>&#34;onclick=1'),
        ("mailto:a.b@ex.com.", '<a href="mailto:a.b@ex.com">mailto:a.b@ex.com</a>.'),
        ("mailto:x@ex.com?subject=hi", '<a href="mailto:x@ex.com?subject=hi">mailto:x@ex.com?subject=hi</a>'),
    ],
)
def test_linkify_positive(text: str, expect: str) -> None:
    assert linkify(text) == expect
    out = render_body(plain(text + "\n"), msg_url="")
    assert out == expect + "\n"
    check_markup(out)


@pytest.mark.parametrize(
    "text",
    [
        "javascript:alert(1)",
        "javascript://%0aalert(1)",
        "JaVaScRiPt:alert(document.cookie)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "mailto:",
        "mailto:nobody",
        "a@b.com",
        "xhttp://ex.com/",
        "http:/ex.com",
        "http://",
    ],
)
def test_linkify_negative(text: str) -> None:
    out = render_body(plain(text + "\n"), msg_url="")
    assert "<a" not in out
    assert visible(out) == text + "\n"


def test_linkify_only_the_url_part() -> None:
    out = linkify("javascript:http://ex.com/x")
    assert out == 'javascript:<a href="http://ex.com/x">http://ex.com/x</a>'


# ---------------------------------------------------------------- robustness


def test_huge_single_line() -> None:
    raw = plain("x" * 5_000_000 + " http://ex.com/ " + "<" * 1000 + "\n")
    out = render_body(raw, msg_url="")
    assert out.startswith("x" * 1000)
    assert "&lt;" * 1000 in out


@pytest.mark.parametrize(
    "body",
    [
        " " * 1_000_000 + "| x\n",
        "diff --git " + "a/ " * 300_000 + "\nindex 1234567..89abcde\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n",
        "abc def\n" * 200_000 + "index 1234567..89abcde\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n",
        "---\n 1 file changed, x\n " + "{a => " * 100_000 + " | 1\n",
        "mailto:" + "a" * 500_000 + "\n",
        "http://" + "(" * 500_000 + ".\n",
    ],
)
def test_hostile_lines_complete(body: str) -> None:
    raw = plain("--- a/x\n+++ b/x\n@@ -1 +1 @@\n" + body)
    out = render_body(raw, msg_url="")
    assert len(out) >= len(body) // 2


def test_garbage_never_raises() -> None:
    for raw in (
        b"",
        b"\x00\xff\xfe",
        b"Content-Type: multipart/mixed; boundary=x\n\n--x\n--x\n--x--",
        b"Content-Type: text/plain; charset=\xff\n\n\xff\xfe",
        b"Content-Type: message/rfc822\n\nContent-Type: message/rfc822\n\n" * 30,
        b"Content-Transfer-Encoding: base64\n\n!!!!====",
    ):
        check_markup(render_body(raw, msg_url=""))


# lines that exercise every branch of the renderer
LINES = [
    "diff --git a/x b/x\nindex 1234567..89abcde 100644\n--- a/x\n+++ b/x",
    "---\n x | 2 +-\n 1 file changed, 1 insertion(+)",
    "@@ -1,2 +1,2 @@ f\n x\n-a\n+b",
    "diff --git a/x b/x",
    "diff --git a/x y",
    "index 1234567..89abcde 100644",
    "index 123..456",
    "--- a/x",
    "--- /dev/null",
    "+++ b/x",
    "@@ -1 +1 @@ f",
    "@@ x",
    "+add",
    "-del",
    "-- ",
    "---",
    " 1 file changed, 1 insertion(+)",
    " x | 2 +-",
    " ... | 1",
    " {a => b} | 1",
    "> quoted http://q.com/",
    ">",
    "new file mode 100644",
    "context",
    "http://ex.com/(a).",
    "mailto:a@b.c",
    "<script>alert(1)</script>",
    "& &amp; ' \"",
    "\u202eRTL",
    "",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(LINES) | st.text(max_size=30), max_size=40), st.integers(0, 5))
def test_visible_text_is_the_body(lines: list[str], fold: int) -> None:
    body = "\n".join(lines) + "\n"
    out = render_body(plain(body), msg_url="", fold_quotes=fold)
    check_markup(out)
    expect = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff]", "\ufffd", body)
    expect = re.sub(r"\r+\n", "\n", expect).replace("\r", "\ufffd")
    assert visible(re.sub(r"<summary>.*?</summary>", "", out, flags=re.DOTALL)) == expect


# ---------------------------------------------------------------- public-inbox, differential

PI_BODIES = r"""
use strict; use v5.10.1;
use PublicInbox::Eml; use PublicInbox::View;
# pubinbox's escaping: control characters as U+FFFD, '&' as &amp;
$PublicInbox::Hval::xhtml_map{chr($_)} = "\x{fffd}" for (0..8, 11..31, 127);
$PublicInbox::Hval::xhtml_map{'&'} = '&amp;';
binmode STDIN; binmode STDOUT;
# an obfuscate inbox: the addresses of OBFS below exempt
my $obfs = { obfuscate => 1, -no_obfuscate => { 'test@example.com' => 1 },
	-no_obfuscate_re => qr/(?:example\.org|\.kernel\.org)\z/i };
while (defined(my $l = <STDIN>)) {
	my ($len, $o, $mhref) = ($l =~ /\A([0-9]+) ([01]) (.*)\n\z/s) or die "bad: $l";
	read(STDIN, my $raw, $len) == $len or die 'short';
	my $obuf = '';
	my $ctx = { ibx => $o ? $obfs : {}, mhref => $mhref, obuf => \$obuf };
	$ctx->{-obfs_ibx} = $obfs if $o;
	PublicInbox::View::multipart_text_as_html(PublicInbox::Eml->new(\$raw), $ctx);
	print $obuf, "\0E\n";
}
"""


def _perl_norm(s: str) -> str:
    """public-inbox's markup with our spelling of the same things."""
    for a, b in (("<a\nhref", "<a href"), ("<a\nid", "<a id"), ("\nhref=#", " href=#"), ("\nid=", " id=")):
        s = s.replace(a, b)
    s = s.replace("<span\nclass", "<span class")

    # C1 controls and bidi overrides: U+FFFD here
    def ref(m: re.Match[str]) -> str:
        n = int(m.group(1))
        bad = (0x80 <= n <= 0x9F and n != 0x85) or 0x202A <= n <= 0x202E or 0x2066 <= n <= 0x2069
        return "&#65533;" if bad else m.group(0)

    return re.sub(r"&#([0-9]+);", ref, s)


# address-like text for obfuscation (public-inbox's rules, quirks included)
ADDRESSES = (
    "a@x.com,b@y.com a@b.c@d.e.f https://u@h.com/p xhttps://u@h.com ://a@b.com\n"
    "\u00e9@\u00fc.de na\u00efve@ex\u00e4mple.com a\u00a0b@c.com a\x1cb@c.com a\x0bb@c.com\n"
    "Test@Example.com test@example.com foo@bar.example.org x@kernel.org x@vger.kernel.org\n"
    '<foo+bar=baz@ex-ample.co.uk> @@a.b a@@b.c a@-b.c a@b_c.d a@b..c a@.b.c "q@x.y"\n'
    "\tname@host.tld\tmailto:m@x.org?subject=a@b.cd (see: http://x.org/a@b.cd) [z@z.zz]\n"
    "> quoted q@x.y and r@s.t\n"
)
OBFS = Obfuscator(frozenset({"test@example.com"}), r"(?:example\.org|\.kernel\.org)\Z")


def _py_norm(s: str) -> str:
    # public-inbox does not link mailto:
    return re.sub(r'<a href="(mailto:[^"]*)">[^<]*</a>', r"\1", s)


@pytest.mark.peer
def test_same_as_public_inbox(sample_mbox: Path, hard_dir: Path, tmp_path: Path) -> None:
    """Byte for byte public-inbox 1.9's body HTML, but for the documented differences."""
    msgs = [(f"sample#{i}", m) for i, m in enumerate(sample_msgs(sample_mbox))] + hard_msgs(hard_dir)
    msgs.append(("patch", plain(PATCH)))
    msgs.append(("multi", MULTI.encode()))
    msgs.append(("addresses", plain(ADDRESSES)))
    msgs.append(("addresses-patch", plain(PATCH.replace("A <a@example.com>", ADDRESSES.replace("\n", " ")))))
    script = tmp_path / "pi_bodies.pl"
    script.write_text(PI_BODIES)
    mhref = "../x@y/"
    # every message twice: as is, and for an obfuscate inbox
    runs = [(name, raw, o) for o in (False, True) for name, raw in msgs]
    data = b"".join(b"%d %d %s\n" % (len(m), o, mhref.encode()) + m for _, m, o in runs)
    res = subprocess.run(["perl", str(script)], input=data, capture_output=True, check=True, timeout=600)
    outs = res.stdout.split(b"\0E\n")
    assert outs[-1] == b"" and len(outs) == len(runs) + 1
    bad = []
    for (name, raw, o), pl in zip(runs, outs, strict=False):
        mine = _py_norm(ascii_bytes(render_body(raw, msg_url=mhref, fold_quotes=0, obfs=OBFS if o else None)).decode())
        theirs = _perl_norm(pl.decode("ascii"))
        if o:
            # attached messages' headers: public-inbox escapes its bullet twice
            theirs = theirs.replace("&amp;#8226;", "&#8226;")
        if mine != theirs:
            bad.append(f"{name} (obfuscated)" if o else name)
    assert bad == []
    assert sum("&#8226;" in pl.decode() for pl in outs[len(msgs) :]) > 200  # it was exercised
