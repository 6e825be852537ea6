"""``/$INBOX/$OID/s/`` in the app: routing, hints, hostile parameters,
inboxes without a coderepo, the raw view's types, the cache."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from pubinbox.config import load
from pubinbox.web.app import build_app
from tests.web.conftest import Archive, asgi_request, config_with


def _blob(repo: Path, data: bytes) -> str:
    p = subprocess.run(
        ["git", f"--git-dir={repo}", "hash-object", "-w", "--stdin"], input=data, capture_output=True, check=True
    )
    return p.stdout.decode().strip()


@pytest.fixture(scope="module")
def apps(sample_archive: Archive, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, str, str]:
    tmp = tmp_path_factory.mktemp("solver-web")
    code = tmp / "code.git"
    subprocess.run(["git", "init", "-q", "--bare", str(code)], check=True)
    text = _blob(code, b"hello <world> & co\nline 2\n")
    binary = _blob(code, b"\x00\x01\x02binary")
    cfg = config_with(
        sample_archive.config,
        tmp,
        ("publicinbox.sample.coderepo", "code"),
        ("coderepo.code.dir", str(code)),
        ("coderepo.code.cgitUrl", "https://git.example.org/code"),
    )
    return build_app(load(cfg)), build_app(load(sample_archive.config)), text, binary


def test_blob_page_raw_and_types(apps: tuple[Any, Any, str, str]) -> None:
    app, _plain, text, binary = apps
    r = asgi_request(app, f"/sample/{text[:8]}/s/?b=dir/hello.txt")
    assert r.status_code == 200
    assert f"{text} blob 26 bytes (<a href=hello.txt>raw</a>)" in r.text
    assert "<code>hello &lt;world&gt; &amp; co\nline 2\n</code>" in r.text
    assert "<a id=n2 href=#n2>2</a>" in r.text and "https://git.example.org/code" in r.text
    raw = asgi_request(app, f"/sample/{text[:8]}/s/hello.txt")
    assert (raw.status_code, raw.headers["content-type"], raw.content) == (
        200,
        "text/plain",
        b"hello <world> & co\nline 2\n",
    )
    b = asgi_request(app, f"/sample/{binary}/s/x.bin")
    assert (b.headers["content-type"], b.content) == ("application/octet-stream", b"\x00\x01\x02binary")
    assert "binary blob" in asgi_request(app, f"/sample/{binary}/s/").text
    assert asgi_request(app, f"/sample/{text}/s", follow_redirects=False).headers["location"] == "s/"


def test_not_found_and_no_coderepo(apps: tuple[Any, Any, str, str]) -> None:
    app, plain, text, _b = apps
    r = asgi_request(app, "/sample/abcdef0123/s/?b=fs/erofs/super.c")
    assert r.status_code == 404 and "could not find abcdef0123" in r.text
    assert asgi_request(plain, f"/sample/{text}/s/").status_code == 404  # as public-inbox: only with a coderepo
    assert asgi_request(app, "/sample/abcdef/s/").status_code != 200  # fewer than 7 digits: not an id


@pytest.mark.parametrize(
    "query",
    ["?b=" + "x" * 20000, "?A=zzzz&a=../../etc/passwd&b=../../x", "?b=%00%ff%fe", "?b=a%0Ab&A=" + "f" * 100],
)
def test_hostile_hints(apps: tuple[Any, Any, str, str], query: str) -> None:
    app, _plain, text, _b = apps
    r = asgi_request(app, f"/sample/{text[:7]}/s/{query}")
    assert r.status_code in (200, 404)
    r = asgi_request(app, f"/sample/1234567/s/{query}")
    assert r.status_code == 404 and "could not find 1234567" in r.text


def test_cached_by_generation(apps: tuple[Any, Any, str, str]) -> None:
    app, _plain, text, _b = apps
    site = app.web.site
    asgi_request(app, f"/sample/{text[:9]}/s/")
    hits = site.cache.hits
    asgi_request(app, f"/sample/{text[:9]}/s/")
    assert site.cache.hits > hits
