"""Hostile mail against the live web archive.

The corpus of tests/web/hostile_corpus.py (scripts in every header and
part, dangerous link schemes, HTML-only mail, HTML/SVG attachments, evil
Message-IDs, bidi overrides, a 2 MB line, NUL bytes, bad charsets...) is
imported once with ``pubinbox import`` into a full-level inbox and served
by one ``pubinbox serve`` for the whole module.

Every page type of every message (message page, ``T/``, ``t/``, ``raw``,
``t.mbox.gz``, ``t.atom``, each attachment linked from the message page)
and the inbox pages (index, ``new.html``, ``new.atom``, search results,
hostile query strings echoed back) must answer without a server error, be
7-bit ASCII, and -- parsed with :mod:`html.parser` -- hold no element or
attribute that runs script, loads anything, or redirects: only the tags
the archive itself writes, no ``on*=`` or ``style=`` attribute, no link
with a scheme other than http, https, ftp or mailto, no ``<meta
http-equiv>``, and exactly one ``<style>`` (the page's own, in ``<head>``).
Attachments are never served as a type a browser renders as a document
and always carry ``X-Content-Type-Options: nosniff``.

Then headless chromium loads the pages: no dialog may open, no JavaScript
error may happen, no request may leave the server's origin, and the DOM
the browser built must be as clean as the parse above says.
"""

from __future__ import annotations

import gzip
import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest

from tests.live import LiveServer, clean_env, live_server
from tests.web import hostile_corpus
from tests.web.conftest import Archive, Fetched, build_inbox, config_with, fetch, mid_url
from tests.web.hostile_corpus import HOSTILE_QUERIES, LIST_ADDR, Hostile

pytestmark = pytest.mark.slow

MESSAGES = hostile_corpus.build()
BY_KEY = {h.key: h for h in MESSAGES}
KEYS = [h.key for h in MESSAGES]
ATTACH_KEYS = [h.key for h in MESSAGES if h.attachments]
TOKEN_KEYS = [h.key for h in MESSAGES if h.token]

ALLOWED_SCHEMES = {"http", "https", "ftp", "mailto"}
# every element the archive itself writes; anything else came from mail
ALLOWED_TAGS = {
    "html", "head", "title", "meta", "link", "style", "body", "form", "pre", "input", "a", "b", "i", "u",
    "em", "strong", "tt", "code", "hr", "br", "span", "details", "summary", "ul", "ol", "li", "p", "div",
    "label", "h1", "h2", "h3", "h4", "h5", "h6", "table", "tr", "td", "th", "thead", "tbody", "button",
    "select", "option", "small", "sup", "sub",
}  # fmt: skip
URL_ATTRS = {
    "href", "src", "action", "formaction", "data", "poster", "background", "cite", "longdesc", "usemap",
    "codebase", "xlink:href", "srcset", "ping", "manifest", "icon", "dynsrc", "lowsrc", "archive", "classid",
}  # fmt: skip
# media types a browser would render as a document (and run script in)
DOCUMENT_TYPES = {"text/html", "image/svg+xml", "application/xhtml+xml", "text/xml", "application/xml"}
ATOM_NS = "{http://www.w3.org/2005/Atom}"
XHTML_NS = "{http://www.w3.org/1999/xhtml}"
TRACEBACK = (b"Traceback (most recent call last)", b"Internal Server Error")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_WS_TRIM = "".join(chr(c) for c in range(0x21))


def url_scheme(value: str) -> str | None:
    """The scheme a browser would see in an attribute value (WHATWG URL
    parsing: leading/trailing C0 and space trimmed, tabs and newlines
    removed), lower-case; None for a relative URL."""
    v = value.strip(_WS_TRIM).replace("\t", "").replace("\n", "").replace("\r", "")
    m = _SCHEME.match(v)
    return m.group(1).lower() if m else None


# ------------------------------------------------------------------ HTML checks


class _Audit(HTMLParser):
    def __init__(self, *, feed_content: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.feed_content = feed_content  # Atom <content type="html">: the server's own <pre style>
        self.problems: list[str] = []
        self.tags: list[str] = []
        self.links: list[tuple[str, str, str]] = []  # (tag, attr, value)
        self.styles_in_head = 0
        self.styles_in_body = 0
        self.in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, attrs)

    def _tag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "body":
            self.in_body = True
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"element <{tag}> {attrs!r}"[:200])
        if tag == "style":
            if self.in_body:
                self.styles_in_body += 1
            else:
                self.styles_in_head += 1
        a = {k.lower(): v or "" for k, v in attrs}
        if tag == "meta" and (
            "http-equiv" in a or not ({"charset"} >= a.keys() or a.get("name") in ("viewport", "referrer"))
        ):
            self.problems.append(f"<meta {attrs!r}>"[:200])
        if tag == "link" and a.get("rel", "").lower() not in ("alternate", "stylesheet"):
            self.problems.append(f"<link {attrs!r}>"[:200])
        for k, v in a.items():
            if self.feed_content and tag == "pre" and k == "style" and v == "white-space:pre-wrap":
                continue
            if k.startswith("on") or k in ("style", "srcdoc", "formaction", "http-equiv"):
                self.problems.append(f"attribute {k}={v!r} on <{tag}>"[:200])
            if k in URL_ATTRS:
                self.links.append((tag, k, v))
                scheme = url_scheme(v)
                if scheme is not None and scheme not in ALLOWED_SCHEMES:
                    self.problems.append(f"<{tag} {k}={v!r}>: scheme {scheme}:"[:200])


def audit_html(body: bytes) -> _Audit:
    p = _Audit()
    p.feed(body.decode("ascii", "replace"))
    p.close()
    return p


def html_problems(r: Fetched) -> list[str]:
    """Everything wrong with an HTML response (empty list when clean)."""
    out: list[str] = []
    if r.status >= 500:
        out.append(f"status {r.status}")
    if r.media_type != "text/html":
        out.append(f"Content-Type {r.content_type!r}")
    out.extend(_text_problems(r.body))
    low = r.body.lower()
    if not low.lstrip().startswith(b"<!doctype html>") or not low.rstrip().endswith(b"</html>"):
        out.append("not a whole HTML document (missing doctype or </html>)")
    a = audit_html(r.body)
    out.extend(a.problems)
    if a.styles_in_head != 1 or a.styles_in_body:
        out.append(f"<style> elements: {a.styles_in_head} in head, {a.styles_in_body} in body (want 1, 0)")
    if low.count(b"<style") != 1 or re.search(
        rb"<\s*/?\s*(script|iframe|img|svg|object|embed|meta\s+http-equiv)\b", low
    ):
        out.append("raw markup of a forbidden element in the bytes")
    return out


def _text_problems(body: bytes) -> list[str]:
    out: list[str] = []
    if not body.isascii():
        i = next(i for i, c in enumerate(body) if c > 127)
        out.append(f"non-ASCII byte {body[i]:#x} at {i}: {body[max(0, i - 40) : i + 10]!r}")
    m = re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", body)
    if m:
        out.append(f"control byte {m.group()!r} at {m.start()}: {body[max(0, m.start() - 40) : m.start() + 10]!r}")
    out.extend(f"{t.decode()} in the page" for t in TRACEBACK if t in body)
    return out


def atom_problems(r: Fetched) -> list[str]:
    """Everything wrong with an Atom response."""
    out: list[str] = []
    if r.status != 200:
        return [f"status {r.status}"]
    if r.media_type != "application/atom+xml":
        out.append(f"Content-Type {r.content_type!r}")
    out.extend(_text_problems(r.body))
    try:
        root = ET.fromstring(r.body)
    except ET.ParseError as e:
        return [*out, f"not well-formed XML: {e}"]
    if root.tag != f"{ATOM_NS}feed":
        out.append(f"root element {root.tag}")
    for el in root.iter():
        local = el.tag.rsplit("}", 1)[-1]
        if el.tag.startswith(XHTML_NS) and local not in ALLOWED_TAGS:
            out.append(f"xhtml element <{local}> in the feed")
        for k, v in el.attrib.items():
            kl = k.rsplit("}", 1)[-1].lower()
            if kl.startswith("on") or kl == "srcdoc":
                out.append(f"attribute {kl} on <{local}>")
            if kl in ("href", "src") and (s := url_scheme(v)) is not None and s not in ALLOWED_SCHEMES:
                out.append(f"<{local} {kl}={v!r}>: scheme {s}:")
    # what a feed reader renders: <content type="html"> holds escaped HTML
    for c in root.iter(f"{ATOM_NS}content"):
        if c.get("type") == "html":
            a = _Audit(feed_content=True)
            a.feed(c.text or "")
            a.close()
            out.extend(f"in <content type=html>: {p}" for p in a.problems)
            if a.styles_in_head or a.styles_in_body:
                out.append("in <content type=html>: <style>")
    return out


@pytest.mark.parametrize(
    "snippet",
    [
        "<script>alert(1)</script>",
        "<img src=x>",
        "<a href='java&Tab;script:alert(1)'>x</a>",
        "<a href=' JaVaScRiPt&colon;alert(1)'>x</a>",
        '<a href="vbscript:x">x</a>',
        "<a href=data:text/html,x>x</a>",
        "<b onclick=x>x</b>",
        "<span style=color:red>x</span>",
        "<meta http-equiv=refresh content=0>",
        "<style>*{}</style>",
        "<svg/onload=alert(1)>",
        "<iframe srcdoc=x></iframe>",
    ],
)
def test_checker_catches(snippet: str) -> None:
    """The audit itself is not vacuous: each snippet in a page body is caught."""
    page = (
        '<!DOCTYPE html><html><head><meta charset="us-ascii"><title>t</title><style>p{}</style></head>'
        f"<body><pre>{snippet}</pre></body></html>"
    ).encode()
    assert html_problems(Fetched("http://x/", 200, {"content-type": "text/html"}, page))
    clean = page.replace(snippet.encode(), b'<a href="../x%2Fy@z/">ok</a> <a href="mailto:a@b">m</a>')
    assert not html_problems(Fetched("http://x/", 200, {"content-type": "text/html"}, clean))
    feed = (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><content type="html">'
        + snippet.replace("&", "&amp;").replace("<", "&lt;")
        + "</content></entry></feed>"
    ).encode()
    assert atom_problems(Fetched("http://x/", 200, {"content-type": "application/atom+xml"}, feed))


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    root = tmp_path_factory.mktemp("hostile")
    maildir = hostile_corpus.write_maildir(MESSAGES, root / "maildir")
    return build_inbox(root, "hostile", LIST_ADDR, maildir)


@pytest.fixture(scope="module")
def srv(archive: Archive) -> Iterator[LiveServer]:
    with live_server(archive.config, archive.name, env=clean_env(archive.config.parent / "server-home")) as s:
        yield s


class Web:
    """GETs against the server, each URL fetched once per module."""

    def __init__(self, srv: LiveServer) -> None:
        self.srv = srv
        self.cache: dict[str, Fetched] = {}

    def get(self, url: str) -> Fetched:
        if url not in self.cache:
            self.cache[url] = fetch(url)
        return self.cache[url]

    def msg_dir(self, key: str) -> str:
        """The URL of a hostile message's directory (``.../MID/``)."""
        if key == "dup2":  # stored under a generated Message-ID: the dup page links it
            page = self.get(mid_url(self.srv.base, BY_KEY["dup1"].mid)).text()
            found: list[str] = re.findall(r'Message-ID: &lt;<a href="\.\./([^"]+)/">', page)
            gen = [g for g in found if urllib.parse.unquote(g) != BY_KEY["dup1"].mid]
            assert len(gen) == 1, f"dup page does not link the second message's generated Message-ID:\n{page[-3000:]}"
            return self.srv.base + gen[0] + "/"
        return mid_url(self.srv.base, BY_KEY[key].mid)

    def attachment_urls(self, key: str) -> list[str]:
        page_url = self.msg_dir(key)
        r = self.get(page_url)
        out = []
        for _tag, attr, v in audit_html(r.body).links:
            if attr != "href" or url_scheme(v) is not None:
                continue
            last = urllib.parse.urlsplit(v).path.rsplit("/", 1)[-1]
            if re.fullmatch(r"[0-9]+(?:\.[0-9]+)*-[^/]*", last):
                out.append(urllib.parse.urljoin(page_url, v))
        return sorted(set(out))


@pytest.fixture(scope="module")
def web(srv: LiveServer) -> Web:
    return Web(srv)


def _q(**params: str) -> str:
    return "?" + urllib.parse.urlencode(params)


EVIL = '"><script>alert(1)</script>'

# Regression guards for bugs this module found (all fixed): a Message-ID like
# <javascript:alert(1)//@x> written as a bare relative href (now ':' is %3A),
# x= copied unescaped into search links (now only known views), and
# Message-ID hrefs not HTML-escaped (now href_mid escapes).


# ------------------------------------------------------------------ message pages


@pytest.mark.parametrize("page", ["", "T/", "t/"], ids=["message", "T", "t"])
@pytest.mark.parametrize("key", KEYS)
def test_message_pages_are_inert(web: Web, key: str, page: str) -> None:
    url = web.msg_dir(key) + page
    r = web.get(url)
    assert r.status == 200, f"GET {url}: {r.status}\n{r.text()[:2000]}"
    problems = html_problems(r)
    assert not problems, f"GET {url}:\n" + "\n".join(problems)
    h = BY_KEY[key]
    if h.token:
        assert h.token.encode() in r.body, f"GET {url}: the subject word {h.token} is not on the page"


@pytest.mark.parametrize("key", ATTACH_KEYS)
def test_attachment_links_shown(web: Web, key: str) -> None:
    urls = web.attachment_urls(key)
    assert len(urls) >= BY_KEY[key].attachments, f"{web.msg_dir(key)}: attachment links {urls}"


@pytest.mark.parametrize("key", KEYS)
def test_attachments_are_never_documents(web: Web, key: str) -> None:
    bad = []
    for url in web.attachment_urls(key):
        r = web.get(url)
        if r.status != 200:
            bad.append(f"{url}: status {r.status}")
            continue
        if r.media_type in DOCUMENT_TYPES or not r.media_type:
            bad.append(f"{url}: served as {r.content_type!r}")
        if r.headers.get("x-content-type-options", "").lower() != "nosniff":
            bad.append(f"{url}: no X-Content-Type-Options: nosniff ({r.headers})")
        bad.extend(f"{url}: {t.decode()}" for t in TRACEBACK if t in r.body)
    assert not bad, "\n".join(bad)


def _mboxrd_escape(body: bytes) -> bytes:
    return re.sub(rb"(?m)^(>*From )", rb">\1", body)


@pytest.mark.parametrize("key", KEYS)
def test_raw_is_plain_text_with_original_bytes(web: Web, key: str) -> None:
    url = web.msg_dir(key) + "raw"
    r = web.get(url)
    assert r.status == 200, f"GET {url}: {r.status}"
    assert r.media_type in ("text/plain", "application/mbox"), f"GET {url}: Content-Type {r.content_type!r}"
    assert r.body.startswith(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"), r.body[:200]
    body = BY_KEY[key].raw.split(b"\n\n", 1)[1]
    assert _mboxrd_escape(body) in r.body, f"GET {url}: the original body bytes (mboxrd-escaped) are not in raw"


@pytest.mark.parametrize("key", KEYS)
def test_thread_mbox_gz(web: Web, key: str) -> None:
    url = web.msg_dir(key) + "t.mbox.gz"
    r = web.get(url)
    assert r.status == 200, f"GET {url}: {r.status}"
    assert r.media_type == "application/gzip", r.content_type
    data = gzip.decompress(r.body)
    sep = b"From mboxrd@z Thu Jan  1 00:00:00 1970"
    assert data.startswith(sep + b"\n")
    froms = [ln for ln in data.split(b"\n") if ln.startswith(b"From ")]
    assert all(ln == sep for ln in froms), f"GET {url}: unescaped From lines {[f for f in froms if f != sep][:5]}"
    body = BY_KEY[key].raw.split(b"\n\n", 1)[1]
    assert _mboxrd_escape(body) in data, f"GET {url}: the message body is not in the thread mbox"


@pytest.mark.parametrize("key", KEYS)
def test_thread_atom(web: Web, key: str) -> None:
    url = web.msg_dir(key) + "t.atom"
    problems = atom_problems(web.get(url))
    assert not problems, f"GET {url}:\n" + "\n".join(problems)


# ------------------------------------------------------------------ inbox pages

# (id, path after the inbox URL); the older pages list the javascript: Message-IDs
INBOX_PAGES = [
    pytest.param("", id="index"),
    pytest.param("?t=20230102001000", id="index-older"),
    pytest.param("?t=20230102000000-", id="index-newer"),
    pytest.param(_q(t=EVIL), id="index-t-evil"),
    pytest.param("new.html", id="new.html"),
    pytest.param("new.html?t=20230102001600", id="new.html-older"),
    pytest.param("new.html" + _q(t=EVIL), id="new.html-t-evil"),
    pytest.param("_/text/help/", id="help"),
    pytest.param("_/text/color/", id="color"),
]


@pytest.mark.parametrize("path", INBOX_PAGES)
def test_inbox_pages_are_inert(web: Web, srv: LiveServer, path: str) -> None:
    url = srv.base + path
    r = web.get(url)
    assert r.status in (200, 404), f"GET {url}: {r.status}"
    problems = html_problems(r)
    assert not problems, f"GET {url}:\n" + "\n".join(problems)


def test_new_atom(web: Web, srv: LiveServer) -> None:
    for path in ("new.atom", "atom.xml"):
        problems = atom_problems(web.get(srv.base + path))
        assert not problems, f"GET {srv.base}{path}:\n" + "\n".join(problems)


def _msg_links(r: Fetched, base: str) -> list[tuple[str, str]]:
    """(href, absolute URL without fragment) of the links into message directories."""
    out = []
    path0 = urllib.parse.urlsplit(base).path
    for _tag, attr, v in audit_html(r.body).links:
        if attr != "href":
            continue
        u = urllib.parse.urljoin(r.url, v)
        sp = urllib.parse.urlsplit(u)
        if url_scheme(u) == "http" and sp.path.startswith(path0) and sp.path.count("/") > path0.count("/"):
            seg = sp.path[len(path0) :].split("/", 1)[0]
            if seg and seg not in ("_", "new.html"):
                out.append((v, sp._replace(fragment="").geturl()))
    return out


def _links_to(r: Fetched, base: str, mid: str) -> bool:
    """Whether the page links to ``mid``'s directory."""
    path0 = urllib.parse.urlsplit(base).path
    for _v, u in _msg_links(r, base):
        seg = urllib.parse.urlsplit(u).path[len(path0) :].split("/", 1)[0]
        if urllib.parse.unquote(seg) == mid:
            return True
    return False


def _token_param(key: str) -> Any:
    if key in ("midjs", "midjstab", "midjscolon", "middata", "midvb"):
        return pytest.param(key)
    if key == "midamp":
        return pytest.param(key)
    return key


@pytest.mark.parametrize("key", [_token_param(k) for k in TOKEN_KEYS])
def test_search_finds_and_is_inert(web: Web, srv: LiveServer, key: str) -> None:
    h: Hostile = BY_KEY[key]
    url = srv.base + _q(q=h.token)
    r = web.get(url)
    assert r.status == 200, f"GET {url}: {r.status}\n{r.text()[-1500:]}"
    problems = html_problems(r)
    assert not problems, f"GET {url}:\n" + "\n".join(problems)
    mid = urllib.parse.unquote(web.msg_dir(key)[len(srv.base) : -1])
    assert _links_to(r, srv.base, mid), f"GET {url}: no link to <{mid}>"
    u = srv.base + _q(q=h.token, x="t")
    rx = web.get(u)
    assert rx.status == 200, f"GET {u}: {rx.status}"
    problems = html_problems(rx)
    assert not problems, f"GET {u}:\n" + "\n".join(problems)
    u = srv.base + _q(q=h.token, x="A")
    problems = atom_problems(web.get(u))
    assert not problems, f"GET {u}:\n" + "\n".join(problems)


def _query_param(q: str) -> Any:
    # these queries find the messages whose Message-IDs are javascript: URLs
    marks: list[pytest.MarkDecorator] = []
    return pytest.param(q, id=repr(q)[1:-1][:40], marks=marks)


@pytest.mark.parametrize("q", [_query_param(q) for q in HOSTILE_QUERIES])
def test_hostile_queries_are_inert(web: Web, srv: LiveServer, q: str) -> None:
    """The query is echoed in the title, the search box and the links."""
    bad = []
    for url in (srv.base + _q(q=q), srv.base + _q(q=q, x="t")):
        r = web.get(url)
        if r.status not in (200, 400, 404):
            bad.append(f"GET {url}: status {r.status}")
        bad.extend(f"GET {url}: {p}" for p in html_problems(r))
    url = srv.base + _q(q=q, x="A")
    r = web.get(url)
    if r.status == 200:
        bad.extend(f"GET {url}: {p}" for p in atom_problems(r))
    elif r.status not in (400, 404):
        bad.append(f"GET {url}: status {r.status}")
    assert not bad, "\n".join(bad)


# "odd" finds the ten Message-IDs with URL-special characters (none looks like a scheme)
PARAM_URLS = [
    _q(q="odd", x=EVIL),
    _q(q="odd", o=EVIL, l=EVIL, r=EVIL, t=EVIL),
    _q(q="odd", o="-1", x=EVIL),
    _q(q="odd", x="t", o=EVIL, l=EVIL),
    _q(q="odd", l="1", x=EVIL),
    _q(q="odd", l="1", o="1", x=EVIL),
    _q(q="odd", l="1", o="-2", x=EVIL),
    _q(q="odd", x="A", l=EVIL, o=EVIL),
]


def test_search_parameters_are_escaped(web: Web, srv: LiveServer) -> None:
    """x=, o=, l=, r=, t= come back in the sort, view and page links."""
    bad = []
    for path in PARAM_URLS:
        url = srv.base + path
        r = web.get(url)
        if r.status not in (200, 400, 404):
            bad.append(f"GET {url}: status {r.status}")
        if r.media_type == "application/atom+xml":
            bad.extend(f"GET {url}: {p}" for p in atom_problems(r))
        else:
            bad.extend(f"GET {url}: {p}" for p in html_problems(r))
    assert not bad, "\n".join(bad)


def reflected_urls(base: str, origin: str) -> list[str]:
    """Paths that echo their own text (unknown Message-IDs, text pages)."""
    q = urllib.parse.quote
    evil = ["<script>alert(1)</script>", '"><svg onload=alert(1)>@x', "javascript:alert(1)//@x", "java&Tab;script:x@y"]
    out = []
    for e in evil:
        s = q(e, safe="@")
        out += [base + s + "/", base + s + "/T/", base + s + "/t/", base + f"_/text/{s}/", origin + "/" + s + "/"]
    out += [base + "scripthdr@hostile.example/" + q("99-<script>.html"), base + q("<script>") + ".css"]
    return out


def test_unknown_paths_are_inert(web: Web, srv: LiveServer) -> None:
    bad = []
    for url in reflected_urls(srv.base, srv.origin):
        r = web.get(url)
        if r.status not in (200, 300, 301, 302, 404):
            bad.append(f"GET {url}: status {r.status}")
        if r.media_type == "text/html":
            bad.extend(f"GET {url}: {p}" for p in html_problems(r))
        else:
            bad.extend(f"GET {url}: {p}" for p in _text_problems(r.body))
        loc = r.headers.get("location")
        if loc and (s := url_scheme(loc)) is not None and s not in ("http", "https"):
            bad.append(f"GET {url}: redirect to {loc!r}")
    assert not bad, "\n".join(bad)


LISTING_PAGES = [
    pytest.param("", id="index"),
    pytest.param("new.html", id="new.html"),
    pytest.param(_q(q="odd"), id="search"),
    pytest.param(_q(q="odd", x="t"), id="search-nested"),
    pytest.param(_q(q="hxfromline OR hxrtl OR hxattach OR hxmidquote OR hxmidsvg"), id="search-other"),
]


@pytest.mark.parametrize("path", LISTING_PAGES)
def test_listing_links_reach_their_message(web: Web, srv: LiveServer, path: str) -> None:
    """Every link from the index, new.html and search results into a message
    directory answers 200: odd Message-IDs are escaped right."""
    r = web.get(srv.base + path)
    assert r.status == 200
    links = _msg_links(r, srv.base)
    assert links, f"GET {r.url}: no message links"
    bad = []
    for href, url in links:
        got = web.get(url)
        if got.status != 200:
            bad.append(f"href={href!r} -> GET {url}: {got.status}")
    assert not bad, f"GET {r.url}:\n" + "\n".join(bad)


# ------------------------------------------------------------------ in a browser


_DOM_AUDIT = """() => {
  const ok = ['http:', 'https:', 'ftp:', 'mailto:'];
  const bad = [];
  const q = 'script,iframe,frame,frameset,img,image,object,embed,applet,base,svg,math,video,audio,'
          + 'source,picture,canvas,noscript,template,meta[http-equiv],link:not([rel=alternate])';
  for (const el of document.querySelectorAll(q)) bad.push('element ' + el.outerHTML.slice(0, 150));
  for (const el of document.querySelectorAll('[href],[src],[action]')) {
    const v = el.getAttribute('href') ?? el.getAttribute('src') ?? el.getAttribute('action');
    let p;
    try { p = new URL(v, document.baseURI).protocol; } catch (e) { continue; }  // cannot be followed
    if (!ok.includes(p)) bad.push('link ' + p + ' ' + el.outerHTML.slice(0, 150));
  }
  for (const el of document.querySelectorAll('*'))
    for (const at of el.attributes)
      if (/^on/i.test(at.name) || at.name === 'style' || at.name === 'srcdoc')
        bad.push('attribute ' + at.name + ' on <' + el.localName + '>');
  const styles = document.querySelectorAll('style');
  if (styles.length !== 1 || styles[0].parentElement !== document.head) bad.push(styles.length + ' <style> elements');
  return bad;
}"""


class Watch:
    """One browser page with listeners for dialogs, errors and requests."""

    def __init__(self, page: Any, origin: str) -> None:
        self.page = page
        self.origin = origin
        self.events: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda e: self.events.append(f"pageerror: {e}"))
        page.on("console", self._console)
        page.on("request", self._request)

    def _dialog(self, d: Any) -> None:
        self.events.append(f"dialog {d.type}: {d.message!r}")
        d.dismiss()

    def _console(self, m: Any) -> None:
        # the document's own 4xx status (checked by the caller) is logged as an error too
        if m.type == "error" and not m.text.startswith(
            "Failed to load resource: the server responded with a status of 4"
        ):
            self.events.append(f"console error: {m.text}")

    def _request(self, req: Any) -> None:
        u = urllib.parse.urlsplit(req.url)
        if f"{u.scheme}://{u.netloc}" != self.origin:
            self.events.append(f"request to another origin: {req.method} {req.url[:200]}")

    def load(self, url: str) -> list[str]:
        """Load *url*; returns every problem seen (events, DOM audit)."""
        self.events.clear()
        resp = self.page.goto(url, wait_until="load", timeout=60_000)
        self.page.wait_for_timeout(50)  # let a timer or a late handler fire
        out = [f"{url}: {e}" for e in self.events]
        if resp is None or resp.status >= 500:
            out.append(f"{url}: status {resp.status if resp else None}")
        if urllib.parse.urlsplit(self.page.url)._replace(fragment="").geturl() != url.split("#")[0]:
            out.append(f"{url}: navigated away to {self.page.url}")
        out.extend(f"{url}: {p}" for p in self.page.evaluate(_DOM_AUDIT))
        return out


@pytest.fixture(scope="module")
def watch(chromium: Any, srv: LiveServer) -> Iterator[Watch]:
    ctx = chromium.new_context(java_script_enabled=True)
    try:
        yield Watch(ctx.new_page(), srv.origin)
    finally:
        ctx.close()


BROWSER_THREADS = ("scripthdr", "replyjs", "attach", "rfc822", "htmlonly", "alternative", "dup1", "nul")


@pytest.mark.parametrize("key", KEYS)
def test_browser_message_pages(watch: Watch, web: Web, key: str) -> None:
    base = web.msg_dir(key)
    problems = watch.load(base)
    if key in BROWSER_THREADS:  # the thread pages of the others hold the same bodies
        problems += watch.load(base + "T/") + watch.load(base + "t/")
    assert not problems, "\n".join(problems)


BROWSER_PAGES = [
    pytest.param("", id="index"),
    pytest.param("new.html", id="new.html"),
    pytest.param("new.html?t=20230102001600", id="new.html-older"),
    pytest.param(_q(q="hx*"), id="search-all"),
    pytest.param(_q(q=hostile_corpus.XSS), id="search-script"),
    pytest.param(_q(q=hostile_corpus.SVG), id="search-svg"),
    pytest.param(_q(q="odd", x="t"), id="search-nested"),
    pytest.param(_q(q="odd", x=EVIL), id="search-x-evil"),
    pytest.param(_q(q="odd", l="1", o="1", x=EVIL), id="search-pages-x-evil"),
    pytest.param(_q(q="odd", o=EVIL, l=EVIL, r=EVIL, t=EVIL), id="search-params-evil"),
    pytest.param("%3Cscript%3Ealert(1)%3C%2Fscript%3E/", id="unknown-mid-script"),
    pytest.param("javascript:alert(1)%2F%2F@x/", id="unknown-mid-js"),
    pytest.param("%22%3E%3Csvg%20onload=alert(1)%3E@x/T/", id="unknown-thread-svg"),
]


@pytest.mark.parametrize("path", BROWSER_PAGES)
def test_browser_inbox_and_search_pages(watch: Watch, srv: LiveServer, path: str) -> None:
    problems = watch.load(srv.base + path)
    assert not problems, "\n".join(problems)


def test_browser_clicking_every_link_runs_no_script(watch: Watch, srv: LiveServer) -> None:
    """Follow (click) every link that is not http(s)/ftp/mailto on the pages
    that list Message-IDs: no dialog may open."""
    problems: list[str] = []
    pages = [srv.base, srv.base + _q(q="hx*")]
    for url in pages:
        watch.load(url)
        hrefs = watch.page.evaluate(
            """() => [...document.querySelectorAll('a[href]')]
                 .filter(a => !['http:', 'https:', 'ftp:', 'mailto:'].includes(a.protocol))
                 .map(a => a.getAttribute('href'))"""
        )
        for href in sorted(set(hrefs)):
            watch.page.goto(url)
            watch.events.clear()
            watch.page.locator(f"a[href={_css_str(href)}]").first.click(timeout=5000, no_wait_after=True)
            watch.page.wait_for_timeout(200)
            problems += [f"{url}: click <a href={href!r}>: {e}" for e in watch.events if e.startswith("dialog")]
    assert not problems, "\n".join(problems)


def _css_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ------------------------------------------------------------------ last


def test_server_logged_no_errors(web: Web, srv: LiveServer) -> None:
    """Runs last: rendering none of the above raised inside the server
    (a part that fails to render is logged and shown as text)."""
    for key in KEYS:  # when run alone: render every message once
        web.get(web.msg_dir(key))
    log = srv.stderr()
    assert "Traceback" not in log and "ERROR" not in log, log[-5000:]


# ------------------------------------------------------------------ obfuscated inbox


def test_obfuscated_pages_are_inert(archive: Archive, tmp_path: Any) -> None:
    """``obfuscate = true`` rewrites addresses inside already-escaped HTML:
    every page of every hostile message must still pass the audit."""
    cfg = config_with(archive.config, tmp_path, (f"publicinbox.{archive.name}.obfuscate", "true"))
    with live_server(cfg, archive.name, env=clean_env(tmp_path / "server-home")) as s:
        w = Web(s)
        urls = [s.base, s.base + "new.html", s.base + _q(q="example")]
        urls += [w.msg_dir(k) + page for k in KEYS for page in ("", "T/", "t/")]
        checked = 0
        for url in urls:
            r = w.get(url)
            assert r.status in (200, 404), f"GET {url}: {r.status}"
            problems = html_problems(r)
            assert not problems, f"GET {url}:\n" + "\n".join(problems)
            checked += "&#8226;" in r.text()
        assert checked, "no page was obfuscated: the setting had no effect"
        for path in ("new.atom", s.base + "?" + urllib.parse.urlencode({"q": "example", "x": "A"})):
            url = path if path.startswith("http") else s.base + path
            problems = atom_problems(w.get(url))
            assert not problems, f"GET {url}:\n" + "\n".join(problems)
