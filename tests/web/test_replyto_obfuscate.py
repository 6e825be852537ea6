"""``publicinbox.<name>.replyto`` and ``obfuscate`` (+ global ``noObfuscate``)
in the web UI, in process on a real inbox, and against public-inbox-httpd 1.9."""

from __future__ import annotations

import html
import logging
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from pubinbox.config import load
from pubinbox.web.app import build_app
from pubinbox.web.obfuscate import Obfuscator, git_bool
from pubinbox.web.reply import squote_maybe
from tests.helpers import run_cli
from tests.live import clean_env, isolated_environ, live_server
from tests.web.conftest import asgi_request, fetch

ROOT_MID = "root@example.com"
MSGS = [
    b"""From: Alice Example <alice@example.com>
To: Test List <test@example.com>, Bob <bob@sub.example.net>
Cc: carol@example.org
Reply-To: reply@example.com
Subject: hello alice@example.com
Date: Mon, 02 Jan 2023 10:00:00 +0000
Message-ID: <root@example.com>

Write to dave@example.com or Test@Example.com or test@example.com
see https://user@example.com/x and mailto:heidi@example.com
list a@x.com,b@y.com and a@b.c@d.e.f
from y@free.example.com and other@example.com and z@notfree.example.com
> quoted ivan@example.com
""",
    b"""From: Bob <bob@sub.example.net>
To: test@example.com
Subject: Re: hello alice@example.com
Date: Mon, 02 Jan 2023 11:00:00 +0000
Message-ID: <r1@example.com>
In-Reply-To: <root@example.com>
References: <root@example.com>

reply by bob@sub.example.net
""",
    b"""From: Carol <carol@example.org>
To: test@example.com, a@x.com,b@y.com
Cc: Dave <dave@free.example.com>
Subject: Re: ping frank@example.com about it
Date: Mon, 02 Jan 2023 12:00:00 +0000
Message-ID: <r2@example.com>
In-Reply-To: <r1@example.com>
References: <root@example.com> <r1@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain

see attached from grace@example.com
--b
Content-Type: message/rfc822

From: Judy <judy@example.com>
To: test@example.com
Subject: inner karl@example.com
Date: Mon, 02 Jan 2023 09:00:00 +0000
Message-ID: <inner@example.com>

inner body mallory@example.com
--b--
""",
]
B = "&#8226;"  # the bullet, as pages spell it


def _build(tmp: Path) -> Path:
    """Inboxes ``test`` (the messages) and ``other`` (empty); returns the config."""
    cfg = tmp / "config"
    with isolated_environ(tmp / "home") as env:
        env = {**env, "PI_CONFIG": str(cfg)}
        for name in ("test", "other"):
            run_cli("init", "-L", "full", name, str(tmp / name), f"http://example.com/{name}", f"{name}@example.com",
                    env=env, check=True)  # fmt: skip
        mb = tmp / "m.mbox"
        mb.write_bytes(b"".join(b"From x Thu Jan  1 00:00:00 1970\n" + m + b"\n" for m in MSGS))
        run_cli("import", "test", str(mb), env=env, check=True)
    return cfg


def _variant(base: Path, dest: Path, settings: dict[str, list[str]]) -> Path:
    """A copy of config *base* with *settings* (key -> values) added."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(base, dest)
    for key, values in settings.items():
        for v in values:
            subprocess.run(["git", "config", "-f", str(dest), "--add", key, v], check=True)
    return dest


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("replyto"))


class Site:
    """The in-process app for one config variant."""

    def __init__(self, base: Path, settings: dict[str, list[str]]) -> None:
        n = len(list(base.parent.glob("variant-*")))
        self.config = _variant(base, base.parent / f"variant-{n}" / "config", settings)
        self.app = build_app(load(self.config))

    def get(self, path: str) -> httpx.Response:
        r = asgi_request(self.app, path)
        assert r.status_code == 200, (path, r.status_code)
        return r

    def text(self, path: str) -> str:
        return self.get(path).content.decode("ascii")


def reply_block(page: str) -> str:
    m = re.search(r"<pre id=R>.*?(?:before the message body\.\n|</pre>)", page, re.DOTALL)
    assert m, page[-2000:]
    return m.group(0)


def send_email_args(page: str) -> list[str]:
    m = re.search(r"git send-email \\\n(.*?/path/to/YOUR_REPLY)\n", reply_block(page), re.DOTALL)
    assert m
    return [html.unescape(a.strip()) for a in m.group(1).split(" \\\n")]


def mailto(page: str) -> str | None:
    m = re.search(r'<a href="(mailto:[^"]*)">mailto: link</a>', reply_block(page))
    return html.unescape(m.group(1)) if m else None


# -- replyto ------------------------------------------------------------------------


def test_replyto_all_is_the_default(archive: Path) -> None:
    for settings in ({}, {"publicinbox.test.replyto": [":all"]}, {"publicinbox.test.replyto": ["0"]}):
        page = Site(archive, settings).text(f"/test/{ROOT_MID}/")
        assert "and reply-to-all from there" in page
        assert send_email_args(page) == [
            "--in-reply-to=root@example.com",
            "--to=alice@example.com",
            "--cc=bob@sub.example.net",
            "--cc=carol@example.org",
            "--cc=reply@example.com",
            "--cc=test@example.com",
            "/path/to/YOUR_REPLY",
        ]
        assert mailto(page) == (
            "mailto:alice@example.com?In-Reply-To=%3Croot@example.com%3E"
            "&Cc=bob%40sub.example.net%2Ccarol%40example.org%2Creply%40example.com%2Ctest%40example.com"
            "&Subject=Re%3A%20hello%20alice%40example.com"
        )


def test_replyto_list(archive: Path) -> None:
    page = Site(archive, {"publicinbox.test.replyto": [":list"]}).text(f"/test/{ROOT_MID}/")
    assert "and reply-to-list from there: <a href=raw>mbox</a>" in page
    assert send_email_args(page) == ["--in-reply-to=root@example.com", "--to=test@example.com", "/path/to/YOUR_REPLY"]
    assert mailto(page) == (
        "mailto:test@example.com?In-Reply-To=%3Croot@example.com%3E&Subject=Re%3A%20hello%20alice%40example.com"
    )


@pytest.mark.parametrize(
    ("value", "shown"),
    [(":none=this list is dead & <gone>", "this list is dead &amp; &lt;gone&gt;"), (":none=", "replies disabled")],
)
def test_replyto_none(archive: Path, value: str, shown: str) -> None:
    page = Site(archive, {"publicinbox.test.replyto": [value]}).text(f"/test/{ROOT_MID}/")
    # public-inbox: the text alone, no rule before it, no instructions
    assert f"</pre><pre id=R>{shown}</pre><hr><pre>This is a public inbox" in page
    assert "Reply instructions" not in page and "git send-email" not in page and "mailto:" not in page.split("id=R")[1]
    assert '<a href="#R">reply</a>' in page  # the link to it stays, as public-inbox


def test_replyto_lists(archive: Path, caplog: pytest.LogCaptureFixture) -> None:
    cases = {
        # header names (any case) and :list, in order; the first address is --to
        "Reply-To, :list": ["--to=reply@example.com", "--cc=test@example.com"],
        "cc,to": ["--to=carol@example.org", "--cc=bob@sub.example.net", "--cc=test@example.com"],
        # an address is taken as written (only --to is lower-cased)
        "Foo@Bar.ORG, From": ["--to=foo@bar.org", "--cc=alice@example.com"],
        "x@example.net,x@example.net , :list": ["--to=x@example.net", "--cc=test@example.com"],
        # unknown words are ignored: nothing left means the list address
        "bogus, :none": ["--to=test@example.com"],
    }
    for value, want in cases.items():
        with caplog.at_level(logging.WARNING, logger="pubinbox.web.reply"):
            page = Site(archive, {"publicinbox.test.replyto": [value]}).text(f"/test/{ROOT_MID}/")
        assert send_email_args(page)[1:-1] == want, value
        mode = "reply-to-list" if ":list" in value else "reply-to-all"
        assert f"and {mode} from there" in page, value
    assert "unrecognized replyto = 'bogus'" in caplog.text and "':none'" in caplog.text
    # the last value counts, as git's (and public-inbox's) single-valued keys
    page = Site(archive, {"publicinbox.test.replyto": [":none=x", ":list"]}).text(f"/test/{ROOT_MID}/")
    assert send_email_args(page)[1:-1] == ["--to=test@example.com"]


def test_replyto_quotes_message_id_like_public_inbox() -> None:
    assert squote_maybe("a.b+c-d/e,f%g@h") == "a.b+c-d/e,f%g@h"
    assert squote_maybe("CA+x=y@mail.gmail.com") == "'CA+x=y@mail.gmail.com'"
    assert squote_maybe("a'b!c") == "'a'\\''b'\\!'c'"


# -- obfuscate: the rules -----------------------------------------------------------


def test_git_bool() -> None:
    for v in ("true", "Yes", "on", "1", "2", "+1", "0x10"):
        assert git_bool(v) is True, v
    for v in ("false", "NO", "off", "0", "-0", "0x0", "000"):
        assert git_bool(v) is False, v
    for v in ("", "maybe", "0x1f", "1.0"):
        assert git_bool(v) is None, v


def test_obfuscator_rules() -> None:
    o = Obfuscator(frozenset({"list@example.com", "Mixed@Example.com".lower()}), r"(?:free\.example\.com)\Z")
    t = o.text
    assert t("mail alice@example.com now") == "mail alice@example\u2022com now"
    assert t("alice@sub.example.co.uk") == "alice@sub\u2022example.co.uk"  # the first dot only
    assert t("list@example.com List@example.com") == "list@example.com List@example\u2022com"  # exact, lower case
    assert t("x@free.example.com x@notfree.example.com") == "x@free.example.com x@notfree.example.com"  # suffix
    assert t("https://user@example.com/x") == "https://user@example.com/x"  # URLs with a user part
    assert t("a@x.com,b@y.com") == "a@x.com,b@y\u2022com"  # the last address of a blank-free run
    assert t("a@b.c@d.e.f") == "a@b.c@d\u2022e.f"
    assert t("@example.com x@localhost <@a.b>") == "@example.com x@localhost <@a.b>"
    assert t("\u00e9l\u00e8ve@\u00e9cole.fr") == "\u00e9l\u00e8ve@\u00e9cole\u2022fr"  # Unicode \w in bodies
    # escaped header text: 7-bit (public-inbox sees &#NNN; there), so no match
    assert o.html("&lt;\u00e9l\u00e8ve@\u00e9cole.fr&gt;") == "&lt;\u00e9l\u00e8ve@\u00e9cole.fr&gt;"
    assert o.html("&lt;bob@example.com&gt;") == "&lt;bob@example\u2022com&gt;"
    assert o.shell("bob@sub.example.net") == "bob@sub$(echo .)example.net"
    assert t("no at sign") == "no at sign"


def test_obfuscator_from_config(archive: Path) -> None:
    cfg = _variant(archive, archive.parent / "cfg-noobf" / "config", {
        "publicinbox.noobfuscate": ["@free.example.com example.org", "Dave@Example.com"],
    })  # fmt: skip
    o = Obfuscator.from_config(load(cfg))
    assert o.addresses == {"test@example.com", "other@example.com", "dave@example.com"}
    assert o.text("a@x.free.example.com b@example.org c@badexample.org d@example.net") == (
        "a@x.free.example.com b@example.org c@badexample.org d@example\u2022net"
    )
    # addresses only: no domain is exempt (public-inbox 1.9 would exempt them all)
    cfg = _variant(archive, archive.parent / "cfg-noobf2" / "config", {"publicinbox.noobfuscate": ["x@y.org"]})
    assert Obfuscator.from_config(load(cfg)).text("d@example.net") == "d@example\u2022net"


def test_obfuscator_linear_on_hostile_text() -> None:
    o = Obfuscator()
    for s in ("a" * 300_000 + "@", "@a" * 150_000, ("x" * 1000 + "@") * 300, "a@" + "b" * 300_000 + ".c"):
        t0 = time.monotonic()
        o.text(s)
        o.html(s)
        assert time.monotonic() - t0 < 2, s[:20]


# -- obfuscate: every page ----------------------------------------------------------

OBFS = {"publicinbox.test.obfuscate": ["true"], "publicinbox.noobfuscate": ["@free.example.com"]}


@pytest.fixture(scope="module")
def obfs_site(archive: Path) -> Site:
    return Site(archive, OBFS)


def test_obfuscated_message_page(obfs_site: Site) -> None:
    page = obfs_site.text(f"/test/{ROOT_MID}/")
    assert f"<title>hello alice@example{B}com - Alice Example</title>" in page
    assert f"From: Alice Example &lt;alice@example{B}com&gt;\n" in page
    # the inboxes' own addresses and noObfuscate's domains stay
    assert f"To: Test List &lt;test@example.com&gt;, Bob &lt;bob@sub{B}example.net&gt;\n" in page
    assert f'Subject: <a href="#r" id=t>hello alice@example{B}com</a>' in page
    assert "Message-ID: &lt;root@example.com&gt;" in page  # Message-IDs are not addresses
    body = page.split("<pre id=b>", 1)[1].split("</pre>", 1)[0]
    assert f"Write to dave@example{B}com or Test@Example{B}com or test@example.com\n" in body
    assert '<a href="https://user@example.com/x">https://user@example.com/x</a>' in body
    assert f"mailto:heidi@example{B}com\n" in body  # no mailto: link for an obfuscated address
    assert f"list a@x.com,b@y{B}com and a@b.c@d{B}e.f\n" in body
    # a noObfuscate domain exempts any domain ending in it, as public-inbox
    assert "from y@free.example.com and other@example.com and z@notfree.example.com\n" in body
    assert f'<span class="q">&gt; quoted ivan@example{B}com\n</span>' in body
    # the thread overview
    assert f'">ping frank@example{B}com about it</a> Carol\n' in page
    # reply instructions: the shell puts the dot back; no mailto: link
    assert send_email_args(page) == [
        "--in-reply-to=root@example.com",
        "--to=alice@example$(echo .)com",
        "--cc=bob@sub$(echo .)example.net",
        "--cc=carol@example$(echo .)org",
        "--cc=reply@example$(echo .)com",
        "--cc=test@example.com",
        "/path/to/YOUR_REPLY",
    ]
    assert mailto(page) is None and "via mailto: links" not in page
    assert (
        "git-send-email.html</a>\n</pre>\n\n"
        "  Be sure your reply has a <b>Subject:</b> header at the top and a blank line\n  before the message body.\n"
    ) in page


def test_obfuscated_attached_message(obfs_site: Site) -> None:
    page = obfs_site.text("/test/r2@example.com/")
    assert f"To: test@example.com, a@x.com,b@y{B}com\nCc: Dave &lt;dave@free.example.com&gt;\n" in page
    assert f"see attached from grace@example{B}com\n" in page
    assert f"From: Judy &lt;judy@example{B}com&gt;\nTo: test@example.com\nSubject: inner karl@example{B}com\n" in page
    assert f"inner body mallory@example{B}com\n" in page


def test_obfuscated_raw_is_application_mbox(archive: Path, obfs_site: Site) -> None:
    r = obfs_site.get(f"/test/{ROOT_MID}/raw")
    assert r.headers["content-type"] == "application/mbox; charset=us-ascii"
    assert r.headers["content-disposition"] == "inline; filename=hello-alice-example.com.mbox"
    assert b"alice@example.com" in r.content  # raw is raw
    r = Site(archive, {}).get(f"/test/{ROOT_MID}/raw")
    assert r.headers["content-type"] == "text/plain; charset=us-ascii"
    assert r.headers["content-disposition"] == "inline; filename=hello-alice-example.com.txt"
    # thread mbox.gz is gzip either way
    assert obfs_site.get(f"/test/{ROOT_MID}/t.mbox.gz").headers["content-type"] == "application/gzip"


@pytest.mark.parametrize("kind", ["T", "t"])
def test_obfuscated_thread_pages(obfs_site: Site, kind: str) -> None:
    page = obfs_site.text(f"/test/{ROOT_MID}/{kind}/")
    assert "<title>hello alice@example.com</title>" in page  # as public-inbox
    assert f"<b>hello alice@example{B}com</b></u>\n" in page
    assert "From: Carol @ 2023-01-02 12:00 UTC" in page
    assert "  To: test, a, b; <b>+Cc:</b> Dave\n" in page  # names only
    assert f"reply by bob@sub{B}example.net\n" in page
    assert f">ping frank@example{B}com about it</a> Carol\n" in page  # overview
    assert "frank@example.com" not in page and "bob@sub.example.net" not in page


def test_obfuscated_index_search_feeds(obfs_site: Site) -> None:
    page = obfs_site.text("/test/")
    # as public-inbox: a topic's first subject as it is, later ones obfuscated
    assert '/T/#t">hello alice@example.com</a>' in page
    assert f'/T/#u">ping frank@example{B}com about it</a>' in page
    page = obfs_site.text("/test/?q=example")
    assert f'<a href="r2@example.com/">Re: ping frank@example{B}com about it</a></b>' in page
    assert f'<a href="root@example.com/">hello alice@example{B}com</a></b>' in page
    page = obfs_site.text("/test/?q=example&x=t")
    assert f">ping frank@example{B}com about it</a> Carol\n" in page
    # feeds and new.html: bodies only, as public-inbox
    for path in ("/test/new.atom", f"/test/{ROOT_MID}/t.atom", "/test/?q=example&x=A"):
        feed = obfs_site.text(path)
        assert f"reply by bob@sub{B}example.net" in feed, path
        assert "<email>bob@sub.example.net</email>" in feed, path
        assert "bob@sub.example.net\n" not in feed
    page = obfs_site.text("/test/new.html")
    assert f"reply by bob@sub{B}example.net\n" in page
    assert "<b>Re: ping frank@example.com about it</b>" in page


def test_not_obfuscated_without_true(archive: Path) -> None:
    for value in ("false", "0", "maybe", ""):
        page = Site(archive, {"publicinbox.test.obfuscate": [value]}).text(f"/test/{ROOT_MID}/")
        assert B not in page and "$(echo .)" not in page, value
        assert '<a href="mailto:heidi@example.com">' in page
    # another inbox's setting does not count
    page = Site(archive, {"publicinbox.other.obfuscate": ["true"]}).text(f"/test/{ROOT_MID}/")
    assert B not in page


# -- against public-inbox-httpd 1.9 -------------------------------------------------


def _norm_theirs(s: str) -> str:
    """public-inbox's markup with our spelling (attribute line breaks, '&')."""
    s = re.sub(r"<(a|pre|b|span|u)\n", r"<\1 ", s)
    s = re.sub(r"\n(href|id|class|rel)=", r" \1=", s)
    s = s.replace("&#38;", "&amp;")
    # attached messages' headers: public-inbox escapes its bullet twice (documented)
    return s.replace("&amp;#8226;", B)


def _norm_ours(s: str) -> str:
    # public-inbox does not link mailto: (a documented difference of body.py)
    return re.sub(r'<a href="(mailto:[^"]*)">[^<]*</a>', r"\1", s)


def _between(s: str, start: str, end: str) -> str:
    i = s.index(start)
    return s[i : s.index(end, i)]


def _entries(page: str) -> list[str]:
    """Subject line, From/To lines and body of each message of a thread page."""
    subjects = re.findall(r" id=m\w+>\*</a> (.*\n)", page)
    rest = re.findall(r"\nFrom: .*?(?=<a href=#m\w+ id=e\w+>\^</a>)", page, re.DOTALL)
    assert len(subjects) == len(rest) == len(MSGS), page
    return [x + y for x, y in zip(subjects, rest, strict=True)]


SECTIONS = [
    ("<title>", "</title>"),
    ("<pre id=b>", "</pre>"),  # headers and body
    ("Thread overview", "</pre>"),
    ("id=R>", "<hr><pre>This is a public inbox"),
]


@pytest.mark.peer
@pytest.mark.slow
@pytest.mark.parametrize(
    "settings",
    [
        {**OBFS, "publicinbox.test.replyto": ["Reply-To, :list"]},
        {"publicinbox.test.obfuscate": ["yes"]},
        {"publicinbox.test.replyto": [":none=this list is dead & <gone>"]},
        {"publicinbox.test.replyto": ["cc, to"]},
    ],
    ids=["obfuscate+replyto-list", "obfuscate", "none", "headers"],
)
def test_same_as_public_inbox(tmp_path: Path, settings: dict[str, list[str]]) -> None:
    """Message pages (title, headers, body, overview, reply instructions),
    thread pages, search results and raw's headers, as public-inbox-httpd
    serves them for the same config and inbox."""
    cfg = _variant(_build(tmp_path), tmp_path / "variant" / "config", settings)
    ours = Site(cfg, {})
    bad = []

    def same(what: str, theirs: str, mine: str) -> None:
        if theirs != mine:
            bad.append(f"{what}\n--- public-inbox\n{theirs}\n--- pubinbox\n{mine}")

    with live_server(cfg, "test", kind="public-inbox", env=clean_env(tmp_path / "pi-home")) as srv:

        def pages(path: str) -> tuple[str, str]:
            r = fetch(srv.base + path)
            assert r.status == 200, (path, r.text())
            return _norm_theirs(r.body.decode("ascii")), ours.text(f"/test/{path}")

        for mid in (ROOT_MID, "r1@example.com", "r2@example.com"):
            a, b = pages(f"{mid}/")
            for start, end in SECTIONS:
                mine = _between(b, start, end)
                same(f"{mid}/ {start}", _between(a, start, end), _norm_ours(mine) if start == "<pre id=b>" else mine)
            theirs, mine = fetch(f"{srv.base}{mid}/raw"), ours.get(f"/test/{mid}/raw")
            # (the charset of a message without Content-Type differs: us-ascii there)
            same(f"{mid}/raw", theirs.media_type, mine.headers["content-type"].split(";")[0])
            same(f"{mid}/raw", theirs.headers["content-disposition"], mine.headers["content-disposition"])
        for kind in ("T", "t"):
            # each message's subject line, From/To lines and body (the small
            # trees around them and the overview show the root's subject
            # differently, which has nothing to do with obfuscation)
            a, b = pages(f"{ROOT_MID}/{kind}/")
            same(f"{kind}/", "\n".join(_entries(a)), _norm_ours("\n".join(_entries(b))))
        a, b = pages("?q=example")
        # (public-inbox also shows relevance on date-ordered results)
        a = re.sub(r" \[[0-9]+%\]", "", _between(a, "</form><pre>", "</pre>"))
        same("?q=", a, _between(b, "</form><pre>", "</pre>"))
    assert not bad, "\n\n".join(bad)
