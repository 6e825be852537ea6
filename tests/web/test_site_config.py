"""Site-wide web settings of the public-inbox config: the ``/`` listing
(``publicinbox.wwwlisting``, ``hide = www``) and operator stylesheets
(``publicinbox.css``, served as ``/$INBOX/KEY.css`` and ``/+/KEY.css``).

In process against real inboxes; the peer test checks the same settings
give the same answers from public-inbox-httpd."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from pubinbox.config import load
from pubinbox.web.app import build_app
from tests.helpers import make_msg
from tests.live import live_server
from tests.web.conftest import Archive, asgi_request, build_inbox, config_with, fetch, git_config


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """Inboxes ``one`` (url on example.com) and ``two`` (url on example.org)
    in one config file."""
    root = tmp_path_factory.mktemp("siteconf")
    mb = root / "m.mbox"
    mb.write_bytes(b"From x Thu Jan  1 00:00:00 1970\n" + make_msg(1, mid="m1@example.com", to="one@example.com"))
    a = build_inbox(root, "one", "one@example.com", mb)
    build_inbox(root, "two", "two@example.org", mb)  # same config file: root/pi-config
    git_config(a.config, "publicinbox.one.url", "http://example.com/one")
    git_config(a.config, "publicinbox.two.url", "http://example.org/two")
    return a


def _get(cfg: Path, path: str, host: str = "127.0.0.1:8080") -> httpx.Response:
    return asgi_request(build_app(load(cfg)), path, host=host)


# -- publicinbox.wwwlisting and hide = www ---------------------------------------------


def test_listing_all_is_the_default(two: Archive, tmp_path: Path) -> None:
    r = _get(config_with(two.config, tmp_path), "/")
    assert r.status_code == 200
    assert "example.com/one" in r.text and "example.org/two" in r.text


def test_listing_404(two: Archive, tmp_path: Path) -> None:
    r = _get(config_with(two.config, tmp_path, ("publicinbox.wwwlisting", "404")), "/")
    assert r.status_code == 404 and "no inboxes, yet" in r.text


def test_listing_match_domain(two: Archive, tmp_path: Path) -> None:
    cfg = config_with(two.config, tmp_path, ("publicinbox.wwwlisting", "match=domain"))
    r = _get(cfg, "/", host="example.org")
    assert r.status_code == 200
    assert "example.org/two" in r.text and "example.com/one" not in r.text
    assert _get(cfg, "/", host="elsewhere.net").status_code == 404


def test_hide_www(two: Archive, tmp_path: Path) -> None:
    cfg = config_with(two.config, tmp_path, ("publicinbox.two.hide", "www"))
    r = _get(cfg, "/")
    assert "example.com/one" in r.text and "example.org/two" not in r.text
    # hidden from the listing only: the inbox is still served
    assert _get(cfg, "/two/").status_code == 200


# -- publicinbox.css -------------------------------------------------------------------


def _style(html: str) -> str:
    return html[html.index("</title>") : html.index("</head>")]


def test_css_inlined(two: Archive, tmp_path: Path) -> None:
    css = tmp_path / "site.css"
    css.write_text(".q{color:#123456}</style><script>x</script>\n")
    cfg = config_with(two.config, tmp_path, ("publicinbox.css", str(css)))
    head = _style(_get(cfg, "/one/").text)
    # after our rules (so the operator's win), inside the one <style>
    assert head.count("<style>") == 1 and ".q{color:#123456}" in head
    assert head.index(".q{color:#123456}") > head.index("font-family:monospace")
    assert "</style><script>" not in head and "<link type=text/css" not in head
    r = _get(cfg, "/one/site.css")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
    assert r.text == css.read_text() and "max-age=31536000" in r.headers["cache-control"]
    assert _get(cfg, "/+/site.css").text == css.read_text()
    assert _get(cfg, "/+/userContent.css").status_code == 404  # only per inbox
    assert _get(cfg, "/one/nosuch.css").status_code == 404


def test_css_links(two: Archive, tmp_path: Path) -> None:
    dark = tmp_path / "216dark.css"
    dark.write_text("body{background:#010203}\n")
    printcss = tmp_path / "print.css"
    printcss.write_text("a{color:black}\n")
    bad = tmp_path / "bad.css"
    bad.write_text("body{color:red !important}\n")
    cfg = config_with(
        two.config,
        tmp_path,
        ("--add", "publicinbox.css", f"{dark} title=216dark"),
        ("--add", "publicinbox.css", f"{printcss} media=print"),
        ("--add", "publicinbox.css", str(bad)),
        ("--add", "publicinbox.css", "href=https://cdn.example/x.css title='remote one'"),
    )
    page = _get(cfg, "/one/m1@example.com/")
    head = _style(page.text)
    links = re.findall(r"<link type=text/css rel=stylesheet[^>]*>", head)
    assert len(links) == 3, head
    assert 'title="216dark"' in links[0] and 'href="../216dark.css?' in links[0]
    assert 'media="print"' in links[1] and 'href="../print.css?' in links[1]
    assert 'href="https://cdn.example/x.css"' in links[2] and 'title="remote one"' in links[2]
    assert "#010203" not in head  # titled: an alternative, not inlined
    assert _get(cfg, "/one/bad.css").status_code == 404  # !important refused
    listing = _style(_get(cfg, "/").text)
    assert 'href="+/216dark.css?' in listing
    deep = _style(_get(cfg, "/nosuch/a/b/").text)  # site-wide 404 page, three levels down
    assert 'href="../../../+/216dark.css?' in deep


@pytest.mark.peer
def test_same_as_public_inbox(two: Archive, tmp_path: Path) -> None:
    """public-inbox-httpd answers the same statuses for the same settings,
    and serves the same stylesheet bytes."""
    css = tmp_path / "site.css"
    css.write_text("a{color:#123}\n")
    cfg = config_with(
        two.config,
        tmp_path,
        ("publicinbox.wwwlisting", "all"),
        ("publicinbox.two.hide", "www"),
        ("publicinbox.css", f"{css} title=site"),
    )
    seen: dict[str, list[tuple[str, int]]] = {}
    for kind in ("pubinbox", "public-inbox"):
        with live_server(cfg, "one", kind=kind) as srv:
            got = []
            for path in ("/", "/one/site.css", "/+/site.css", "/one/nosuch.css"):
                r = fetch(srv.origin + path)
                got.append((path, r.status))
                if path == "/":
                    got.append(("two listed", int("example.org/two" in r.text())))
                    got.append(("one listed", int("example.com/one" in r.text())))
                elif r.status == 200:
                    got.append((path + " body", int(r.body == css.read_bytes())))
            page = fetch(srv.base + "m1@example.com/").text()
            got.append(("link", int(bool(re.search(r"<link[^>]*title=\"?site", page)))))
            seen[kind] = got
    assert seen["pubinbox"] == seen["public-inbox"]


# -- _/text/mirror/ and _/text/config/raw ------------------------------------------------

_SERVICES = (
    ("publicinbox.one.newsgroup", "inbox.one"),
    ("publicinbox.nntpserver", "nntp://news.example.com"),
    ("publicinbox.imapserver", "imaps://imap.example.com/"),
    ("publicinbox.pop3server", "pop.example.com"),
    ("publicinbox.one.nntpmirror", "news.mirror.org"),
    ("publicinbox.one.imapmirror", "imap://full.example.net/some.group"),
    ("publicinbox.one.infourl", "https://example.com/info"),
    ("publicinbox.one.replyto", ":list"),
    ("publicinbox.one.coderepo", "linux"),
    ("coderepo.linux.dir", "/nonexistent/linux.git"),
    ("coderepo.linux.cgiturl", "https://git.example.com/linux.git"),
)


def test_mirror_services(two: Archive, tmp_path: Path) -> None:
    cfg = config_with(two.config, tmp_path, *_SERVICES)
    (two.inboxdir / "cloneurl").write_text("https://mirror.example/one/0\n")
    try:
        raw = _get(cfg, "/one/_/text/mirror/raw").text
    finally:
        (two.inboxdir / "cloneurl").unlink()
    assert "  git clone --mirror http://127.0.0.1:8080/one/0 one/git/0.git\n" in raw
    assert "  git clone --mirror https://mirror.example/one/0\n" in raw
    assert (
        "  imaps://;AUTH=ANONYMOUS@imap.example.com/inbox.one\n  imap://;AUTH=ANONYMOUS@full.example.net/some.group\n"
        in raw
    )
    assert (
        "Newsgroups are available over NNTP:\n  nntp://news.example.com/inbox.one\n  nntp://news.mirror.org/inbox.one\n"
        in raw
    )
    assert "POP3 access is available:\n  pop3://pop.example.com\n" in raw
    html = _get(cfg, "/one/_/text/mirror/").text
    assert "<a id=imap>IMAP</a>" in html and "<a id=nntp>Newsgroups</a>" in html and "<a id=pop3>POP3</a>" in html
    # the footer of every page mentions both
    assert "as well as URLs for read-only IMAP folder(s) and NNTP newsgroup(s)." in _get(cfg, "/one/").text
    conf = _get(cfg, "/one/_/text/config/raw").text
    assert "\tinfourl = https://example.com/info\n\tnewsgroup = inbox.one\n\treplyto = :list\n" in conf
    assert "\tnntpmirror = nntp://news.mirror.org/inbox.one\n" in conf
    listing = _get(cfg, "/").text
    assert '<a href="https://example.com/info">https://example.com/info</a>' in listing
    page = _get(cfg, "/one/m1@example.com/").text
    assert '\n\n  List information: <a href="https://example.com/info">https://example.com/info</a>\n\n* Reply' in page
    # coderepo: in the footer of every inbox page, the mirror text and config/raw
    assert (
        'Code repositories for project(s) associated with this public inbox</a>\n\n\t<a href="https://git.example.com/linux.git">'
        in _get(cfg, "/one/").text
    )
    assert (
        "\n\thttps://git.example.com/linux.git\n" in raw
        or "https://git.example.com/linux.git" in _get(cfg, "/one/_/text/mirror/raw").text
    )
    assert (
        '[coderepo "linux"]\n\t; git clone https://git.example.com/linux.git /path/to/linux\n\tdir = /path/to/linux\n'
        in conf
    )


@pytest.mark.peer
def test_mirror_text_as_public_inbox(two: Archive, tmp_path: Path) -> None:
    """config/raw is byte-identical to public-inbox's; mirror/raw holds every
    line public-inbox prints (pubinbox adds its own commands and code URL)."""
    cfg = config_with(two.config, tmp_path, *_SERVICES)
    got: dict[str, tuple[str, str]] = {}
    for kind in ("pubinbox", "public-inbox"):
        with live_server(cfg, "one", kind=kind) as srv:
            texts = [
                fetch(srv.base + f"_/text/{k}/raw").text().replace(srv.origin, "ORIGIN") for k in ("config", "mirror")
            ]
            page = fetch(srv.base + "m1@example.com/").text().replace("<a\nhref", "<a href")
            texts[0] += "".join(re.findall(r"List information: .*\n", page))  # infourl in #R
            got[kind] = (texts[0], texts[1])
    assert got["pubinbox"][0] == got["public-inbox"][0]
    ours = got["pubinbox"][1].splitlines()
    theirs = [ln for ln in got["public-inbox"][1].splitlines() if "public-inbox.git" not in ln and "AGPL" not in ln]
    pos = 0
    for ln in theirs:  # same lines, same order
        pos = ours.index(ln, pos) + 1


# -- pubinbox.deltacache -----------------------------------------------------------------


def test_delta_cache_setting(two: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's delta-base cache is sized from the config when the site
    is built; a bad value is a config error (``serve`` checks it at start)."""
    from pubinbox.errors import ConfigError
    from pubinbox.store import packread
    from pubinbox.web.site import Site, delta_cache_bytes

    monkeypatch.setattr(packread, "_BASES", packread._Bases(1))
    assert delta_cache_bytes(load(two.config)) == packread.BASE_CACHE_BYTES == 32 << 20
    Site(load(config_with(two.config, tmp_path, ("pubinbox.deltacache", "8m")))).close()
    assert packread._BASES.limit == 8 << 20
    Site(load(config_with(two.config, tmp_path, ("pubinbox.deltacache", "0")))).close()
    assert packread._BASES.limit == 0
    for bad in ("-1", "lots"):
        with pytest.raises(ConfigError, match="deltacache"):
            delta_cache_bytes(load(config_with(two.config, tmp_path, ("pubinbox.deltacache", bad))))
