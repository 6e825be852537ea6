"""The web's one cache (bounded in bytes) and validators that do not depend
on the process: two workers, or two mirrors of the same data, give a page
the same ETag and Last-Modified, so caches and load balancers work."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pubinbox.web.cache import ByteCache, size_of
from tests.conftest import SAMPLE_MBOX
from tests.helpers import run_cli
from tests.live import isolated_environ, live_server
from tests.web.conftest import Archive, build_inbox, fetch, mid_url

MID = "20260615084011.325686-1-hsiangkao@linux.alibaba.com"


def test_cache_is_bounded_in_bytes() -> None:
    c = ByteCache(10_000)
    for i in range(100):
        c.put(("k", i), "x" * 500)
    assert c.bytes <= 10_000
    assert 10 <= len(c) < 20
    assert c.get(("k", 99)) == "x" * 500  # the newest stay
    assert c.get(("k", 0)) is None  # the oldest went first
    c.put(("big",), "y" * 2000)  # over an eighth of the budget: never kept
    assert c.get(("big",)) is None
    assert c.get_or_make(("m",), lambda: "made") == "made"
    assert c.get(("m",)) == "made"


def test_cache_lru_order() -> None:
    c = ByteCache(8 * (size_of("a" * 100) + 200))  # room for exactly 8
    for k in "abcdefgh":
        c.put(k, "a" * 100)
    assert c.get("a") is not None  # a is now the most recent
    c.put("i", "a" * 100)
    assert c.get("b") is None and c.get("a") is not None and len(c) == 8


def _mirror(src: Archive, root: Path) -> Archive:
    """A mirror of *src* made the way mirrors are: the epoch cloned with
    git, then `pubinbox init` + `pubinbox index` (its own msgmap and
    overview, built from git alone)."""
    inboxdir = root / src.name
    (inboxdir / "git").mkdir(parents=True)
    subprocess.run(
        ["git", "clone", "-q", "--mirror", str(src.inboxdir / "git" / "0.git"), str(inboxdir / "git" / "0.git")],
        check=True,
    )
    config = root / "pi-config"
    env = {"PI_CONFIG": str(config)}
    with isolated_environ(root / "home"):
        run_cli(
            "init",
            "-L",
            "full",
            src.name,
            str(inboxdir),
            f"http://127.0.0.1/{src.name}",
            src.address,
            env=env,
            check=True,
        )
        run_cli("index", str(inboxdir), env=env, check=True)
    return Archive(config, src.name, inboxdir, src.address)


@pytest.mark.slow
def test_etag_same_across_workers_and_mirrors(tmp_path: Path) -> None:
    origin = build_inbox(tmp_path / "origin", "sample", "sample@example.com", SAMPLE_MBOX)
    mirror = _mirror(origin, tmp_path / "mirror")
    pages = ["", mid_url("", MID), mid_url("", MID) + "T/", "new.atom"]
    seen: dict[str, set[tuple[str, str]]] = {p: set() for p in pages}
    for arch in (origin, mirror):
        with live_server(arch.config, arch.name, kind="pubinbox", args=("-W", "2")) as srv:
            for _ in range(6):  # a new connection each time: both workers answer
                for p in pages:
                    r = fetch(srv.base + p, headers={"Host": "lore.example.org"})
                    assert r.status == 200, (p, r.status)
                    seen[p].add((r.headers["etag"], r.headers.get("last-modified", "")))
            # a validator from the other copy is honoured
            if arch is mirror:
                for p in pages:
                    etag = next(iter(seen[p]))[0]
                    r = fetch(srv.base + p, headers={"Host": "lore.example.org", "If-None-Match": etag})
                    assert r.status == 304, p
    for p, vals in seen.items():
        assert len(vals) == 1, (p, vals)
        etag, lm = next(iter(vals))
        assert etag.startswith('W/"') and lm


def test_etag_changes_with_new_mail(tmp_path: Path) -> None:
    from tests.helpers import make_msg

    arch = build_inbox(tmp_path / "a", "sample", "sample@example.com", SAMPLE_MBOX)
    with live_server(arch.config, arch.name, kind="pubinbox") as srv:
        before = fetch(srv.base).headers["etag"]
        assert fetch(srv.base).headers["etag"] == before
        run_cli(
            "import", arch.name, stdin=make_msg(1, to=arch.address), env={"PI_CONFIG": str(arch.config)}, check=True
        )
        assert fetch(srv.base).headers["etag"] != before


def test_an_idle_site_forgets_what_it_can_make_again(sample_archive: Archive) -> None:
    """``Site.release`` (an idle worker) empties the page cache and the
    parsers' memo tables; the pages served after are the same.  Web requests
    leave the process's delta-base cache alone."""
    from pubinbox.config import load
    from pubinbox.mail import address
    from pubinbox.store import packread
    from pubinbox.web.app import build_app
    from tests.web.conftest import asgi_request

    app = build_app(load(sample_archive.config))
    site = app.web.site
    packread.drop_bases()
    paths = [mid_url("/sample/", MID), mid_url("/sample/", MID) + "T/", "/sample/", "/sample/t.mbox.gz"]
    before = [asgi_request(app, p).content for p in paths]
    assert len(site.cache) > 0 and address._all_boxes.cache_info().currsize > 0
    assert packread._BASES.size == 0  # a web request keeps its delta bases to itself
    site.release()
    assert len(site.cache) == 0 and site.cache.bytes == 0
    assert address._all_boxes.cache_info().currsize == 0
    assert [asgi_request(app, p).content for p in paths] == before
