"""``pubinbox clone`` and ``pubinbox fetch`` against a live ``pubinbox serve``
and a live ``public-inbox-httpd`` (Debian's 1.9): the mirror's article
numbers, overview and git equal the origin's; new mail and a new epoch come
with the next fetch (``--exit-code``: 127 when nothing changed); hostile
manifests are refused in one line; a non-empty directory is refused; an
origin that dies mid-clone leaves nothing configured, and a rerun completes."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import PUBINBOX, make_msg, run_cli
from tests.live import LiveServer, clean_env, live_server
from tests.mirror.origin import build_origin, epochs, objects, refs
from tests.mirror.proxy import Rules, proxy
from tests.web.conftest import Archive, config_with

pytestmark = [pytest.mark.peer, pytest.mark.slow]  # public-inbox-httpd is one of the origins


def _msgmap(inboxdir: Path) -> list[tuple[int, str]]:
    db = sqlite3.connect(f"file:{inboxdir / 'msgmap.sqlite3'}?mode=ro", uri=True)
    try:
        return [(int(n), str(m)) for n, m in db.execute("SELECT num, mid FROM msgmap ORDER BY num")]
    finally:
        db.close()


def _over(inboxdir: Path) -> list[tuple[object, ...]]:
    """The overview rows that must agree: number, Message-ID, blob, subject, dates."""
    db = sqlite3.connect(f"file:{inboxdir / 'pubinbox' / 'over.sqlite3'}?mode=ro", uri=True)
    try:
        return list(db.execute("SELECT num, mid, blob, subject, ts, ds, epoch FROM over ORDER BY num"))
    finally:
        db.close()


def _same(origin: Path, mirror: Path) -> None:
    assert epochs(mirror) == epochs(origin)
    for n in epochs(origin):
        a, b = origin / "git" / f"{n}.git", mirror / "git" / f"{n}.git"
        assert refs(b) == refs(a), n
        assert objects(b) == objects(a), n
    assert _msgmap(mirror) == _msgmap(origin)  # the origin's article numbers


def _cli(tmp: Path, cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(tmp / "home", PI_CONFIG=str(cfg))
    return subprocess.run([*PUBINBOX, *args], env=env, capture_output=True, text=True, timeout=600, check=False)


def _deliver(origin: Archive, first: int, count: int, *, big: int = 0) -> None:
    mbox = b"".join(
        b"From x Thu Jan  1 00:00:00 1970\n"
        + make_msg(i, to=origin.address, body=f"new {i}\n" + ("y" * 76 + "\n") * (big // 77))
        + b"\n"
        for i in range(first, first + count)
    )
    run_cli("import", origin.name, stdin=mbox, env={"PI_CONFIG": str(origin.config)}, check=True)


@pytest.fixture(scope="module", params=["pubinbox", "public-inbox"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Archive, LiveServer]]:
    kind = str(request.param)
    root = tmp_path_factory.mktemp(f"clone-{kind}")
    origin = build_origin(root / "o")
    with live_server(origin.config, origin.name, kind=kind) as srv:
        yield origin, srv


def test_clone_then_fetch(served: tuple[Archive, LiveServer], tmp_path: Path) -> None:
    origin, srv = served
    cfg = tmp_path / "config"
    m = tmp_path / "mirror"
    p = _cli(tmp_path, cfg, "clone", "-q", "-L", "basic", srv.base, str(m))
    assert p.returncode == 0, p.stderr
    _same(origin.inboxdir, m)
    assert _over(m) == _over(origin.inboxdir)
    conf = subprocess.run(
        ["git", "config", "-f", str(cfg), "--list"], capture_output=True, text=True, check=True
    ).stdout
    assert f"publicinbox.sample.inboxdir={m}" in conf
    assert f"publicinbox.sample.address={origin.address}" in conf  # from the origin's _/text/config/raw
    assert not (m / ".pubinbox-clone").exists()
    # nothing new
    assert _cli(tmp_path, cfg, "fetch", "-q", "--exit-code", "-C", str(m)).returncode == 127
    # new mail, then enough to roll over to a new epoch
    _deliver(origin, 7000, 3)
    p = _cli(tmp_path, cfg, "fetch", "-q", "--exit-code", "sample")
    assert p.returncode == 0, p.stderr
    _same(origin.inboxdir, m)
    before = epochs(origin.inboxdir)
    _deliver(origin, 7100, 6, big=400_000)
    assert len(epochs(origin.inboxdir)) > len(before)
    p = _cli(tmp_path, cfg, "fetch", "-q", "--exit-code", "-C", str(m))
    assert p.returncode == 0, p.stderr
    _same(origin.inboxdir, m)
    assert _over(m) == _over(origin.inboxdir)
    assert _cli(tmp_path, cfg, "fetch", "-q", "--exit-code", "-C", str(m)).returncode == 127
    # the mirror is an archive: pubinbox q finds what came by fetch
    q = _cli(tmp_path, cfg, "q", "-I", "sample", "-o", "json", "s:message 7101")
    assert q.returncode in (0, 69), q.stderr  # basic: no search index (69) is fine


def test_clone_refuses_non_empty_dir(served: tuple[Archive, LiveServer], tmp_path: Path) -> None:
    _origin, srv = served
    d = tmp_path / "busy"
    d.mkdir()
    (d / "x").write_text("mine\n")
    p = _cli(tmp_path, tmp_path / "config", "clone", "-q", srv.base, str(d))
    assert p.returncode != 0
    assert p.stderr.strip().count("\n") == 0 and "not empty" in p.stderr
    assert sorted(x.name for x in d.iterdir()) == ["x"]


def test_mirror_page_commands_work(served: tuple[Archive, LiveServer], tmp_path: Path) -> None:
    """The commands of ``_/text/mirror/`` run as printed give the same archive."""
    origin, srv = served
    if srv.kind != "pubinbox":
        pytest.skip("the mirror page under test is pubinbox's")
    page = fetch_text(f"{srv.base}_/text/mirror/raw")
    lines = [ln.split("#", 1)[0].strip() for ln in page.splitlines()]
    clones = [ln.split() for ln in lines if ln.startswith("git clone --mirror ")]
    assert len(clones) == len(epochs(origin.inboxdir))
    env = clean_env(tmp_path / "home", PI_CONFIG=str(tmp_path / "c1"))
    for argv in clones:
        subprocess.run(argv, cwd=tmp_path, env=env, check=True, capture_output=True)
    # "pubinbox init ..." then "pubinbox index ./DIR"
    init = next(ln for ln in lines if ln.startswith("pubinbox init "))
    index = next(ln for ln in lines if ln.startswith("pubinbox index "))
    for cmd in (init, index):
        subprocess.run([*PUBINBOX, *cmd.split()[1:]], cwd=tmp_path, env=env, check=True, capture_output=True)
    d = tmp_path / init.split()[3].removeprefix("./")
    _same(origin.inboxdir, d)
    # "pubinbox clone URL DIR" into another directory
    clone = next(ln for ln in lines if ln.startswith("pubinbox clone ")).split()
    env2 = clean_env(tmp_path / "home", PI_CONFIG=str(tmp_path / "c2"))
    sub = tmp_path / "second"
    sub.mkdir()
    subprocess.run([*PUBINBOX, *clone[1:], "-q"], cwd=sub, env=env2, check=True, capture_output=True)
    _same(origin.inboxdir, sub / clone[-1])


def test_origin_dies_mid_clone_then_rerun(served: tuple[Archive, LiveServer], tmp_path: Path) -> None:
    origin, srv = served
    cfg = tmp_path / "config"
    m = tmp_path / "m"
    rules = Rules(srv.origin, cut=re.compile(r"/git/1\.git/"))
    with proxy(rules) as url:
        p = _cli(tmp_path, cfg, "clone", "-q", "-L", "basic", f"{url}/{origin.name}/", str(m))
        assert p.returncode != 0
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert (m / ".pubinbox-clone").exists() and epochs(m) == [0]  # epoch 1 never half there
        assert not cfg.exists() or "sample" not in cfg.read_text()  # nothing served meanwhile
        rules.cut = None
        p = _cli(tmp_path, cfg, "clone", "-q", "-L", "basic", f"{url}/{origin.name}/", str(m))
        assert p.returncode == 0, p.stderr
    _same(origin.inboxdir, m)


def test_origin_killed_mid_clone_then_rerun(tmp_path: Path) -> None:
    """The origin's server is killed (SIGKILL) as the second epoch is asked
    for; once it is back, the same clone command completes."""
    origin = build_origin(tmp_path / "o")
    cfg = tmp_path / "config"
    m = tmp_path / "m"
    with live_server(origin.config, origin.name, kind="pubinbox") as srv:
        rules = Rules(srv.origin, cut=re.compile(r"/git/1\.git/"), on_cut=lambda: os.killpg(srv.pid, signal.SIGKILL))
        with proxy(rules) as url:
            p = _cli(tmp_path, cfg, "clone", "-q", "-L", "basic", f"{url}/{origin.name}/", str(m))
            assert p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1, p.stderr
            assert epochs(m) == [0] and not cfg.exists()
            with live_server(origin.config, origin.name, kind="pubinbox") as again:
                rules.upstream, rules.cut = again.origin, None
                p = _cli(tmp_path, cfg, "clone", "-q", "-L", "basic", f"{url}/{origin.name}/", str(m))
                assert p.returncode == 0, p.stderr
    _same(origin.inboxdir, m)
    assert _over(m) == _over(origin.inboxdir)


def test_origin_gone_mid_fetch_then_rerun(served: tuple[Archive, LiveServer], tmp_path: Path) -> None:
    """A fetch cut off while it clones a new epoch changes nothing the mirror
    serves (its overview is as it was); the next fetch completes."""
    origin, srv = served
    cfg = tmp_path / "config"
    m = tmp_path / "m"
    rules = Rules(srv.origin)
    with proxy(rules) as url:
        assert _cli(tmp_path, cfg, "clone", "-q", "-L", "basic", f"{url}/{origin.name}/", str(m)).returncode == 0
        before = _over(m)
        n = len(epochs(origin.inboxdir))
        _deliver(origin, 8500, 6, big=400_000)
        assert len(epochs(origin.inboxdir)) > n
        rules.cut = re.compile(rf"/git/{n}\.git/")
        p = _cli(tmp_path, cfg, "fetch", "-q", "--exit-code", "-C", str(m))
        assert p.returncode not in (0, 127) and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert _over(m) == before
        rules.cut = None
        p = _cli(tmp_path, cfg, "fetch", "-q", "--exit-code", "-C", str(m))
        assert p.returncode == 0, p.stderr
    _same(origin.inboxdir, m)
    assert _over(m) == _over(origin.inboxdir)


def test_fetch_every(served: tuple[Archive, LiveServer], tmp_path: Path) -> None:
    """``fetch --every 1`` keeps fetching: new mail at the origin shows up."""
    origin, srv = served
    cfg = tmp_path / "config"
    m = tmp_path / "m"
    assert _cli(tmp_path, cfg, "clone", "-q", "-L", "basic", srv.base, str(m)).returncode == 0
    env = clean_env(tmp_path / "home", PI_CONFIG=str(cfg))
    loop = subprocess.Popen([*PUBINBOX, "fetch", "-q", "--every", "1", "sample"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        _deliver(origin, 8800, 2)
        want = _msgmap(origin.inboxdir)
        deadline = time.monotonic() + 60
        while _msgmap(m) != want and time.monotonic() < deadline and loop.poll() is None:
            time.sleep(0.2)
        assert loop.poll() is None, loop.stderr.read() if loop.stderr else ""
        assert _msgmap(m) == want
    finally:
        loop.terminate()
        loop.communicate(timeout=30)
    _same(origin.inboxdir, m)


def test_fetch_after_purge_at_the_origin(served: tuple[Archive, LiveServer], tmp_path: Path) -> None:
    """The origin rewrites its history (pubinbox purge): fetch takes the
    rewritten epoch and reindexes; numbers, overview and git agree again.
    (A mirror cloned *after* a purge numbers the messages after the purged
    one one lower than the origin, as public-inbox-clone + -index do: the
    history does not hold the numbers; so this test runs after the others
    that compare numbers with a fresh clone.)"""
    origin, srv = served
    cfg = tmp_path / "config"
    m = tmp_path / "m"
    _deliver(origin, 8000, 2)
    assert _cli(tmp_path, cfg, "clone", "-q", "-L", "basic", srv.base, str(m)).returncode == 0
    assert "m8000@example.com" in {mid for _n, mid in _msgmap(m)}
    victim = make_msg(8000, to=origin.address, body="new 8000\n")
    p = run_cli("purge", "-I", origin.name, stdin=victim, env={"PI_CONFIG": str(origin.config)})
    assert p.returncode == 0, p.stderr
    assert "m8000@example.com" not in {mid for _n, mid in _msgmap(origin.inboxdir)}
    p = _cli(tmp_path, cfg, "fetch", "--exit-code", "-C", str(m))
    assert p.returncode == 0, p.stderr
    assert "rewritten" in p.stderr
    _same(origin.inboxdir, m)
    assert _over(m) == _over(origin.inboxdir)


def _gz(obj: object) -> bytes:
    return gzip.compress(json.dumps(obj).encode())


GOOD = {"fingerprint": "0" * 40, "modified": 1, "description": "d", "owner": None, "reference": None}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (_gz({"/../../etc/git/0.git": GOOD}), "not a /NAME/git/N.git path"),
        (_gz({"/sample/git/0.git/../../../x.git": GOOD}), "not a /NAME/git/N.git path"),
        (_gz({"/etc/passwd": GOOD}), "not a /NAME/git/N.git path"),
        (_gz({"/sample": GOOD}), "v1 inbox"),
        (_gz({"sample/git/0.git": GOOD}), "not a /NAME/git/N.git path"),
        (_gz({"/sample/git/0.git": dict(GOOD, modified=10**30)}), "bad 'modified'"),
        (_gz({"/sample/git/99999999.git": GOOD}), "not a /NAME/git/N.git path"),
        (_gz({"/sample/git/0.git": dict(GOOD, fingerprint="x" * 5000)}), "bad fingerprint"),
        (_gz([1, 2, 3]), "JSON object"),
        (gzip.compress(b"{not json"), "bad JSON"),
        (b"\x1f\x8b\x08garbage", "not a gzip file"),
        (gzip.compress(b"[" * 100000 + b"]" * 100000), "bad JSON"),
    ],
)
def test_hostile_manifest(tmp_path: Path, body: bytes, says: str) -> None:
    """Refused before anything else is asked of the origin (there is none
    behind this one: any other request would fail differently)."""
    with proxy(Rules("http://127.0.0.1:9", fixed={"/sample/manifest.js.gz": body})) as url:
        p = _cli(tmp_path, tmp_path / "config", "clone", "-q", f"{url}/sample/", str(tmp_path / "m"))
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], p.stderr
    assert not (tmp_path / "m").exists() and not (tmp_path / "config").exists()


def test_site_clone_with_filter(tmp_path: Path) -> None:
    """A whole site from /manifest.js.gz, -I choosing inboxes."""
    root = tmp_path / "site"
    a = build_origin(root, "alpha", sources=())
    _deliver(a, 1, 4)
    b_dir = root / "beta"
    run_cli("init", "-L", "basic", "beta", str(b_dir), "http://127.0.0.1/beta", "beta@example.com",
            env={"PI_CONFIG": str(a.config)}, check=True)  # fmt: skip
    _deliver(Archive(a.config, "beta", b_dir, "beta@example.com"), 50, 2)
    run_cli("init", "-L", "basic", "gamma", str(root / "gamma"), "http://127.0.0.1/gamma", "g@example.com",
            env={"PI_CONFIG": str(a.config)}, check=True)  # fmt: skip
    cfg = config_with(a.config, root)
    with live_server(cfg, "alpha", kind="pubinbox") as srv:
        p = _cli(
            tmp_path,
            tmp_path / "config",
            "clone",
            "-q",
            "-L",
            "basic",
            "-I",
            "al*",
            "-I",
            "beta",
            f"{srv.origin}/",
            str(tmp_path / "all"),
        )
        assert p.returncode == 0, p.stderr
    got = sorted(x.name for x in (tmp_path / "all").iterdir())
    assert got == ["alpha", "beta"]
    _same(a.inboxdir, tmp_path / "all" / "alpha")
    _same(b_dir, tmp_path / "all" / "beta")


def fetch_text(url: str) -> str:
    import urllib.request

    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=30) as r:
        return bytes(r.read()).decode()
