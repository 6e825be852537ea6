"""Shared pieces of the web tests that run real clients against a live server.

* :func:`build_inbox` -- ``pubinbox init -L full`` + ``pubinbox import`` into a
  fresh directory, with its own public-inbox config file;
* ``sample_archive`` (session) -- sample/sample.mbox imported once;
* :func:`fetch` -- one plain HTTP request (no proxy, no gzip, no redirects
  followed) returning status, headers and the exact body bytes;
* :func:`asgi_request` -- one request to an app in this process (httpx over
  ASGI; the in-process tests' only client);
* :func:`launch_chromium` -- Debian's chromium under Playwright (never
  ``playwright install``: downloads are blocked);
* :func:`mid_url` -- the URL of a Message-ID's directory.
"""

from __future__ import annotations

import asyncio
import http.client
import subprocess
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import SAMPLE_MBOX
from tests.helpers import run_cli
from tests.live import isolated_environ

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


@dataclass(frozen=True)
class Archive:
    config: Path
    name: str
    inboxdir: Path
    address: str


def build_inbox(root: Path, name: str, address: str, *sources: Path | str) -> Archive:
    """A full-level inbox *name* under *root* holding *sources* (mbox, Maildir...)."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "pi-config"
    inboxdir = root / name
    env = {"PI_CONFIG": str(config)}
    with isolated_environ(root / "home"):
        run_cli("init", "-L", "full", name, str(inboxdir), f"http://127.0.0.1/{name}", address, env=env, check=True)
        if sources:
            run_cli("import", name, *map(str, sources), env=env, check=True)
    return Archive(config, name, inboxdir, address)


def git_config(cfg: Path, *args: str) -> None:
    """``git config -f CFG ARGS...`` (set, ``--add``, ``--unset``)."""
    subprocess.run(["git", "config", "-f", str(cfg), *args], check=True)


def config_with(base: Path, tmp: Path, *settings: tuple[str, ...]) -> Path:
    """``tmp/config``: a copy of config *base* with *settings* (``git config`` argument lists)."""
    cfg = tmp / "config"
    cfg.write_bytes(base.read_bytes())
    for s in settings:
        git_config(cfg, *s)
    return cfg


@pytest.fixture(scope="session")
def sample_archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """sample/sample.mbox (295 real messages) in inbox ``sample``, imported once."""
    return build_inbox(tmp_path_factory.mktemp("web-sample"), "sample", "sample@example.com", SAMPLE_MBOX)


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def media_type(self) -> str:
        return self.content_type.split(";", 1)[0].strip().lower()

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def fetch(url: str, *, method: str = "GET", headers: dict[str, str] | None = None, timeout: float = 60) -> Fetched:
    """One request, exactly as given (the path is sent verbatim, already escaped)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port or 80, timeout=timeout)
    try:
        path = u.path + (f"?{u.query}" if u.query else "")
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        body = r.read()
        h: dict[str, str] = {}
        for k, v in r.getheaders():
            k = k.lower()
            h[k] = f"{h[k]}, {v}" if k in h else v
        return Fetched(url, r.status, h, body)
    finally:
        conn.close()


def asgi_request(
    app: Any, path: str, *, method: str = "GET", host: str = "127.0.0.1:8080", **kw: Any
) -> httpx.Response:
    """One request to the ASGI *app* in this process (no lifespan), as a
    client of http://HOST would send it; *kw* go to httpx (headers, ...)."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as c:
            return await c.request(method, path, **kw)

    return asyncio.run(go())


def mid_url(base: str, mid: str) -> str:
    """``base`` (ending in ``/``) + the escaped Message-ID + ``/``."""
    return base + quote(mid.encode("utf-8", "surrogatepass"), safe="@") + "/"


def launch_chromium(p: Any) -> Any:
    """A headless Debian chromium from a ``sync_playwright()`` handle."""
    return p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless chromium for the module."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: install Debian's chromium package", pytrace=False)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            yield browser
        finally:
            browser.close()
