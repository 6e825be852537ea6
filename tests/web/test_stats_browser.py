"""The statistics page (issue 17) in real browsers: headless chromium at
1280 px in the light scheme and 390 px (a phone) in the dark one, over the
sample archive and an inbox with hostile poster names, screenshots kept in
``$PUBINBOX_ARTIFACTS`` (``stats-*.png``); w3m's dump shows the tables
with the numbers of the JSON document, and the hostile names as text."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live import LiveServer, clean_env, live_server
from tests.stats.test_stats import EVIL_NAME, MESSAGES
from tests.web.conftest import Archive, build_inbox, fetch

pytestmark = pytest.mark.slow

VIEWS: dict[str, dict[str, Any]] = {
    "desktop-light": {"viewport": {"width": 1280, "height": 900}, "color_scheme": "light"},
    "phone-dark": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
        "color_scheme": "dark",
    },
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    root = tmp_path_factory.mktemp("stats-hostile")
    mbox = root / "in.mbox"
    mbox.write_text("".join(MESSAGES), "utf-8")
    return build_inbox(root, "st", "list@example.org", mbox)


@pytest.fixture(scope="module")
def srv(sample_archive: Archive, hostile: Archive) -> Iterator[LiveServer]:
    cfg = sample_archive.config.parent / "stats-config"
    cfg.write_bytes(sample_archive.config.read_bytes() + hostile.config.read_bytes())
    env = clean_env(sample_archive.config.parent / "server-home-stats")
    with live_server(cfg, sample_archive.name, env=env) as s:
        yield s


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    value = os.environ.get("PUBINBOX_ARTIFACTS", "")
    d = Path(value) if value else tmp_path_factory.mktemp("screenshots")
    d.mkdir(parents=True, exist_ok=True)
    return d


_LAYOUT = """() => ({
  scrollWidth: document.scrollingElement.scrollWidth,
  innerWidth: window.innerWidth,
  background: getComputedStyle(document.body).backgroundColor,
  charts: [...document.querySelectorAll('svg')].map(s => ({
    right: s.getBoundingClientRect().right, width: s.getBoundingClientRect().width,
    color: getComputedStyle(s).color})),
})"""


@pytest.mark.parametrize("inbox", ["sample", "st"])
def test_stats_page_in_chromium(chromium: Any, srv: LiveServer, artifacts: Path, inbox: str) -> None:
    url = f"{srv.origin}/{inbox}/_/stats/"
    seen: dict[str, dict[str, Any]] = {}
    for view, opts in VIEWS.items():
        ctx = chromium.new_context(**opts)
        try:
            page = ctx.new_page()
            events: list[str] = []
            page.on("pageerror", lambda e, ev=events: ev.append(f"pageerror: {e}"))
            page.on("dialog", lambda d, ev=events: (ev.append(f"dialog: {d.message}"), d.dismiss()))
            page.on(
                "request",
                lambda r, ev=events: (
                    ev.append(f"request to another origin: {r.url}")
                    if f"{urllib.parse.urlsplit(r.url).scheme}://{urllib.parse.urlsplit(r.url).netloc}" != srv.origin
                    else None
                ),
            )
            resp = page.goto(url, wait_until="load")
            assert resp is not None and resp.status == 200
            page.screenshot(path=str(artifacts / f"stats-{inbox}-{view}.png"), full_page=True)
            lay = page.evaluate(_LAYOUT)
            assert not events, events
            assert len(lay["charts"]) >= 6, lay
            for c in lay["charts"]:
                assert c["width"] > 0 and c["right"] <= lay["innerWidth"] + 2, (view, c, lay["innerWidth"])
            assert lay["scrollWidth"] <= lay["innerWidth"] + 2, (view, lay)
            seen[view] = lay
        finally:
            ctx.close()
    light, dark = seen["desktop-light"], seen["phone-dark"]
    assert light["background"] != dark["background"]
    assert light["charts"][0]["color"] != dark["charts"][0]["color"]  # currentColor follows the scheme


def _w3m(url: str, home: Path) -> str:
    p = subprocess.run(
        ["w3m", "-dump", "-cols", "160", url],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(home),
        check=False,
    )
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_w3m_shows_the_tables(srv: LiveServer, tmp_path: Path) -> None:
    doc = json.loads(fetch(f"{srv.origin}/sample/_/stats/json").body)
    text = _w3m(f"{srv.origin}/sample/_/stats/", tmp_path / "home")
    for m in doc["months"]:
        want = rf"^{m['month']}\s+{m['messages']}\s+{m['threads']}\s+{m['patches']}\s+{m['replies']}$"
        assert re.search(want, text, re.MULTILINE), (want, text[:3000])
    for p in doc["posters"][:5]:
        assert re.search(rf"^\s*{p['messages']}\s+{re.escape(p['name'])}", text, re.MULTILINE), p
    for q in doc["first_reply"]:
        assert re.search(rf"^{q['quarter']}\s+{q['patches']}\s+{q['replied']}\s", text, re.MULTILINE), q


def test_w3m_hostile_names_are_text(srv: LiveServer, tmp_path: Path) -> None:
    text = _w3m(f"{srv.origin}/st/_/stats/", tmp_path / "home")
    shown = EVIL_NAME.replace("\u202e", "\ufffd")
    assert shown in text  # markup shown as text, the override neutralised
    assert "\u202e" not in text
