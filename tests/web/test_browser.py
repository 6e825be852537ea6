"""The web archive in real browsers: headless chromium (Playwright, Debian's
chromium) and the text browsers w3m and lynx, over the sample archive
(sample/sample.mbox, 295 real linux-erofs messages).

Each page (a message with long quoted blocks, its thread flat and nested,
the inbox index, search results) is loaded at desktop (1280x900) and phone
(390x844, mobile) widths in the light and the dark colour scheme: no
console error, no request to another origin, no horizontal scrolling on the
phone, readable text, and a different background in the dark scheme.  A
screenshot of each goes to ``$PUBINBOX_ARTIFACTS`` (else a pytest temporary
directory) as ``PAGE-WIDTH-SCHEME.png``.  Long quoted blocks are folded in a
``<details>`` that opens on a click; text browsers show everything.
"""

from __future__ import annotations

import email.policy
import mailbox
import os
import re
import subprocess
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SAMPLE_MBOX
from tests.live import LiveServer, clean_env, live_server
from tests.web.conftest import Archive, fetch

pytestmark = pytest.mark.slow

# a reply with an 87-line quote (folded) in a 10+ message thread
MID = "akpjd2Cgu-nlCkLR@debian"
PAGES = {
    "message": f"{MID}/",
    "thread-flat": f"{MID}/T/",
    "thread-nested": f"{MID}/t/",
    "index": "",
    "search": "?q=xarray",
}
WIDTHS: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
}
SCHEMES = ("light", "dark")
SCROLL_TOLERANCE = 2  # px


@pytest.fixture(scope="module")
def srv(sample_archive: Archive) -> Iterator[LiveServer]:
    env = clean_env(sample_archive.config.parent / "server-home-browser")
    with live_server(sample_archive.config, sample_archive.name, env=env) as s:
        yield s


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    value = os.environ.get("PUBINBOX_ARTIFACTS", "")
    d = Path(value) if value else tmp_path_factory.mktemp("screenshots")
    d.mkdir(parents=True, exist_ok=True)
    return d


class Tab:
    """One browser page of one width, with listeners for errors and requests."""

    def __init__(self, ctx: Any, origin: str) -> None:
        self.page = ctx.new_page()
        self.origin = origin
        self.events: list[str] = []
        self.page.on("pageerror", lambda e: self.events.append(f"pageerror: {e}"))
        self.page.on("console", self._console)
        self.page.on("dialog", self._dialog)
        self.page.on("request", self._request)
        self.page.on("response", self._response)
        self.failed: list[str] = []  # URLs answered >= 400

    def _console(self, m: Any) -> None:
        if m.type != "error":
            return
        if m.text.startswith("Failed to load resource") and all(u.endswith("/favicon.ico") for u in self.failed):
            return  # chromium asks for /favicon.ico once; the archive has none (as public-inbox)
        self.events.append(f"console error: {m.text} (failed: {self.failed})")

    def _response(self, r: Any) -> None:
        if r.status >= 400:
            self.failed.append(r.url)

    def _dialog(self, d: Any) -> None:
        self.events.append(f"dialog: {d.message!r}")
        d.dismiss()

    def _request(self, req: Any) -> None:
        u = urllib.parse.urlsplit(req.url)
        if f"{u.scheme}://{u.netloc}" != self.origin:
            self.events.append(f"request to another origin: {req.url}")

    def load(self, url: str, scheme: str) -> None:
        self.events.clear()
        self.failed.clear()
        self.page.emulate_media(color_scheme=scheme)
        resp = self.page.goto(url, wait_until="load")
        assert resp is not None and resp.status == 200, f"GET {url}: {resp.status if resp else None}"


@pytest.fixture(scope="module")
def tabs(chromium: Any, srv: LiveServer) -> Iterator[dict[str, Tab]]:
    ctxs = {name: chromium.new_context(**opts) for name, opts in WIDTHS.items()}
    try:
        yield {name: Tab(ctx, srv.origin) for name, ctx in ctxs.items()}
    finally:
        for ctx in ctxs.values():
            ctx.close()


_LAYOUT = """() => ({
  scrollWidth: document.scrollingElement.scrollWidth,
  innerWidth: window.innerWidth,
  background: getComputedStyle(document.body).backgroundColor,
  color: getComputedStyle(document.body).color,
  fontPx: Math.min(...[...document.querySelectorAll('pre')].map(p => parseFloat(getComputedStyle(p).fontSize))),
  wide: [...document.querySelectorAll('body *')]
          .filter(e => e.getBoundingClientRect().right > window.innerWidth + 2)
          .slice(0, 5).map(e => e.outerHTML.slice(0, 120)),
})"""


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("page", list(PAGES))
def test_page_in_light_and_dark(tabs: dict[str, Tab], srv: LiveServer, artifacts: Path, page: str, width: str) -> None:
    tab = tabs[width]
    url = srv.base + PAGES[page]
    seen: dict[str, dict[str, Any]] = {}
    for scheme in SCHEMES:
        tab.load(url, scheme)
        lay = tab.page.evaluate(_LAYOUT)
        tab.page.screenshot(path=str(artifacts / f"{page}-{width}-{scheme}.png"))
        assert not tab.events, f"{url} ({width}, {scheme}):\n" + "\n".join(tab.events)
        if width == "phone":
            assert lay["scrollWidth"] <= lay["innerWidth"] + SCROLL_TOLERANCE, (
                f"{url} ({width}, {scheme}) scrolls sideways: scrollWidth {lay['scrollWidth']} > "
                f"viewport {lay['innerWidth']}; too wide: {lay['wide']}"
            )
        assert lay["fontPx"] >= 12, f"{url} ({width}, {scheme}): text {lay['fontPx']}px"
        assert lay["background"] != lay["color"], lay
        seen[scheme] = lay
    assert seen["light"]["background"] != seen["dark"]["background"], (
        f"{url} ({width}): same body background in light and dark: {seen['light']['background']}"
    )


def test_long_quote_folds_and_expands(tabs: dict[str, Tab], srv: LiveServer) -> None:
    tab = tabs["desktop"]
    tab.load(srv.base + PAGES["message"], "light")
    page = tab.page
    details = page.locator("pre details")
    assert details.count() >= 1, "no folded quote on a message with an 87-line quote"
    first = details.first
    summary = first.locator("summary")
    assert re.fullmatch(r"\[\.\.\. \d+ more quoted lines\]\s*", summary.inner_text()), summary.inner_text()
    hidden = first.locator(":scope > span.q")
    assert first.evaluate("d => d.open") is False
    assert not hidden.is_visible(), "the folded quote is visible before a click"
    assert summary.is_visible()
    n = int(re.search(r"\d+", summary.inner_text()).group())  # type: ignore[union-attr]
    summary.click()
    assert first.evaluate("d => d.open") is True
    assert hidden.is_visible(), "the folded quote stays hidden after a click"
    text = hidden.inner_text()
    lines = text.rstrip("\n").split("\n")
    assert len(lines) == n, f"summary says {n} lines, the fold holds {len(lines)}"
    assert all(ln.startswith(">") for ln in lines), lines[:5]
    assert not tab.events, tab.events


# ------------------------------------------------------------------ text browsers


@dataclass(frozen=True)
class Expected:
    from_line: str
    subject: str
    body_lines: list[str]
    folded_line: str  # a quoted line the web page folds away


def _expected() -> Expected:
    box = mailbox.mbox(str(SAMPLE_MBOX), create=False)
    try:
        for key in box.iterkeys():
            raw = box.get_bytes(key)
            if f"<{MID}>".encode() not in raw.split(b"\n\n", 1)[0]:
                continue
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            body = msg.get_content() if not msg.is_multipart() else ""
            own = [ln for ln in body.split("\n") if len(ln) > 20 and not ln.startswith(">")]
            quoted = [ln for ln in body.split("\n") if ln.startswith("> ") and len(ln) > 30]
            frm = " ".join(str(msg["From"]).split())
            return Expected(f"From: {frm}", " ".join(str(msg["Subject"]).split()), own[:1] + own[-1:], quoted[5])
    finally:
        box.close()
    raise AssertionError(f"<{MID}> not in {SAMPLE_MBOX}")


def _squash(s: str) -> str:
    return " ".join(s.split())


@pytest.mark.parametrize("browser", ["w3m", "lynx"])
def test_text_browser_dump(srv: LiveServer, tmp_path: Path, browser: str) -> None:
    url = srv.base + PAGES["message"]
    cmd = {
        "w3m": ["w3m", "-dump", "-cols", "200", url],
        "lynx": ["lynx", "-dump", "-width=200", "-nolist", "-assume_charset=us-ascii", url],
    }[browser]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=clean_env(tmp_path / "home"), check=False)
    assert p.returncode == 0, f"{' '.join(cmd)}: {p.stderr}"
    text = _squash(re.sub(r"\[\d+\]", "", p.stdout))  # lynx numbers its links
    exp = _expected()
    want = [exp.from_line, f"Subject: {exp.subject}", *exp.body_lines, "Thread overview", exp.folded_line]
    missing = [w for w in want if _squash(w) not in text]
    assert not missing, f"{browser} -dump {url} lacks {missing}:\n{p.stdout[:3000]}"


def test_message_page_is_ascii_html(srv: LiveServer) -> None:
    """What the browsers above were given: 7-bit HTML, no script."""
    r = fetch(srv.base + PAGES["message"])
    assert r.status == 200 and r.media_type == "text/html"
    assert r.body.isascii()
    assert b"<script" not in r.body.lower()
