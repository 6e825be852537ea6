"""grokmirror manifests, ``/manifest.js.gz`` and ``/$INBOX/manifest.js.gz``:
in process against real inboxes (fields checked against git itself), and
the same requests against public-inbox-httpd for the same config."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from pubinbox.config import load
from pubinbox.web import manifest as grok
from pubinbox.web.app import build_app
from tests.helpers import make_msg, run_cli
from tests.live import isolated_environ, live_server
from tests.web.conftest import Archive, asgi_request, build_inbox, config_with, fetch, git_config

OWNER = "\u00d3wner Example <owner@example.com>"
DESC = "L\u00efst  one\n  second line\n"  # public-inbox folds the whole file for epochs
DESC_FOLDED = "L\u00efst one second line"


def _git(git_dir: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, check=True, text=True).stdout


def _mbox(first: int, n: int, to: str) -> bytes:
    return b"".join(
        b"From x Thu Jan  1 00:00:00 1970\n" + make_msg(i, to=to, body=f"body {i}\n" + "x" * 300 + "\n") + b"\n"
        for i in range(first, first + n)
    )


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """``one`` (url on example.com, three epochs, an owner, an epoch with its
    own description, one with an alternate), ``two`` (url on example.org)
    and ``nourl`` (no url) in one config file."""
    root = tmp_path_factory.mktemp("manifest")
    one = build_inbox(root, "one", "one@example.com")
    build_inbox(root, "two", "two@example.org", _write(root / "two.mbox", _mbox(100, 2, "two@example.org")))
    build_inbox(root, "nourl", "nourl@example.net", _write(root / "n.mbox", _mbox(200, 1, "nourl@example.net")))
    cfg = one.config
    git_config(cfg, "publicinbox.one.url", "http://example.com/one")
    git_config(cfg, "publicinbox.two.url", "http://example.org/two")
    git_config(cfg, "--unset", "publicinbox.nourl.url")
    git_config(cfg, "pubinbox.epochsize", "1500")  # ~3 messages an epoch
    with isolated_environ(root / "home"):
        mb = _write(root / "one.mbox", _mbox(1, 8, "one@example.com"))
        run_cli("import", "one", str(mb), env={"PI_CONFIG": str(cfg)}, check=True)
    d = one.inboxdir
    (d / "description").write_text(DESC, "utf-8")
    epochs = sorted(int(p.name.split(".")[0]) for p in (d / "git").glob("*.git"))
    assert epochs == [0, 1, 2]
    git_config(d / "all.git" / "config", "gitweb.owner", OWNER)  # epochs include it
    (d / "git" / "0.git" / "description").write_text("Unnamed repository; edit this file 'description'\n")
    (d / "git" / "1.git" / "description").write_text("epoch one, by hand\nmore\n")
    (d / "git" / "2.git" / "objects" / "info" / "alternates").write_text(f"{d}/git/0.git/objects\n")
    return one


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


def _req(app: Any, path: str, host: str = "example.com", method: str = "GET") -> httpx.Response:
    return asgi_request(app, path, method=method, host=host)


def _get(cfg: Path, path: str, host: str = "example.com") -> httpx.Response:
    return _req(build_app(load(cfg)), path, host)


def _decode(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200 and r.headers["content-type"] == "application/gzip"
    assert "content-encoding" not in r.headers  # the body itself is the gzip file
    assert int(r.headers["content-length"]) == len(r.content)
    got: dict[str, Any] = json.loads(gzip.decompress(r.content))
    return got


def _show_ref_sha1(git_dir: Path) -> str:
    out = subprocess.run(["git", f"--git-dir={git_dir}", "show-ref"], capture_output=True, check=True).stdout
    return hashlib.sha1(out).hexdigest()


def _newest(git_dir: Path) -> int:
    return max(int(t) for t in _git(git_dir, "for-each-ref", "--format=%(committerdate:unix)").split())


# -- fields ---------------------------------------------------------------------------


def test_inbox_manifest_fields(three: Archive) -> None:
    r = _get(three.config, "/one/manifest.js.gz")
    m = _decode(r)
    d = three.inboxdir
    assert sorted(m) == ["/one/git/0.git", "/one/git/1.git", "/one/git/2.git"]
    for n in range(3):
        e = m[f"/one/git/{n}.git"]
        git_dir = d / "git" / f"{n}.git"
        assert set(e) == {"fingerprint", "modified", "description", "owner", "reference"}
        assert e["fingerprint"] == _show_ref_sha1(git_dir)
        assert e["modified"] == _newest(git_dir) and isinstance(e["modified"], int)
        assert e["owner"] == OWNER
    # git's template text (or none, as pubinbox writes epochs) -> the inbox's, folded
    assert m["/one/git/0.git"]["description"] == f"{DESC_FOLDED} [epoch 0]"
    assert m["/one/git/1.git"]["description"] == "epoch one, by hand"
    assert m["/one/git/2.git"]["description"] == f"{DESC_FOLDED} [epoch 2]"
    # the one alternate, as a path on this site
    assert m["/one/git/2.git"]["reference"] == "/one/git/0.git"
    assert m["/one/git/0.git"]["reference"] is None
    # the newest commit time, or when a ref last moved if later (commit
    # times follow the messages' dates: grokmirror's If-Modified-Since
    # needs a time that grows with every change)
    newest = max(e["modified"] for e in m.values())
    moved = max(
        int(p.stat().st_mtime) for n in range(3) for p in (d / "git" / f"{n}.git" / "refs").rglob("*") if p.is_file()
    )
    # (a second earlier while that second is not over)
    lm = max(newest, moved)
    assert r.headers["last-modified"] in (formatdate(lm, usegmt=True), formatdate(lm - 1, usegmt=True))
    assert b"\\u00d3wner" in gzip.decompress(r.content)  # JSON in ASCII, as public-inbox's


def test_head(three: Archive) -> None:
    app = build_app(load(three.config))
    g = _req(app, "/one/manifest.js.gz")
    h = _req(app, "/one/manifest.js.gz", method="HEAD")
    assert h.status_code == 200 and h.content == b""
    for k in ("content-type", "content-length", "last-modified"):
        assert h.headers[k] == g.headers[k]


def test_v1_inbox_and_empty_repos(tmp_path: Path) -> None:
    """A v1 inbox is one repository at ``/NAME``; repositories without refs
    are left out (``git show-ref`` fails on them)."""
    v1 = tmp_path / "v1"
    subprocess.run(["git", "init", "-q", "--bare", str(v1)], check=True)
    cfg = tmp_path / "config"
    git_config(cfg, "publicinbox.old.inboxdir", str(v1))
    git_config(cfg, "publicinbox.old.address", "old@example.com")
    git_config(cfg, "publicinbox.old.url", "http://example.com/old")
    assert _decode(_get(cfg, "/old/manifest.js.gz")) == {}
    tree = _git(v1, "mktree").strip()
    env = {"GIT_COMMITTER_DATE": "1700000000 +0000", "GIT_AUTHOR_DATE": "1600000000 +0000"}
    commit = subprocess.run(
        ["git", f"--git-dir={v1}", "commit-tree", tree, "-m", "x"],
        capture_output=True,
        check=True,
        text=True,
        env={**os.environ, **env},
    ).stdout.strip()
    _git(v1, "update-ref", "refs/heads/master", commit)
    m = _decode(_get(cfg, "/manifest.js.gz"))
    assert m == {
        "/old": {
            "fingerprint": _show_ref_sha1(v1),
            "modified": 1700000000,
            "description": "Unnamed repository; edit this file 'description' to name the repository.",
            "owner": None,
            "reference": None,
        }
    }


# -- which inboxes: publicinbox.grokmanifest, hide = manifest -------------------------


def _inboxes(m: dict[str, Any]) -> set[str]:
    return {k.split("/")[1] for k in m}


def test_match_domain_is_the_default(three: Archive, tmp_path: Path) -> None:
    cfg = config_with(three.config, tmp_path)
    assert _inboxes(_decode(_get(cfg, "/manifest.js.gz", host="example.com"))) == {"one"}
    assert _inboxes(_decode(_get(cfg, "/manifest.js.gz", host="EXAMPLE.org:8080"))) == {"two"}
    empty = _get(cfg, "/manifest.js.gz", host="elsewhere.net")
    assert _decode(empty) == {} and empty.headers["last-modified"]
    # the site-wide one holds the same entries as the per-inbox one
    assert _decode(_get(cfg, "/manifest.js.gz")) == _decode(_get(cfg, "/one/manifest.js.gz"))
    bad = config_with(three.config, tmp_path, ("publicinbox.grokmanifest", "bogus"))  # warned, default used
    assert _inboxes(_decode(_get(bad, "/manifest.js.gz", host="example.org"))) == {"two"}


def test_grokmanifest_all_and_404(three: Archive, tmp_path: Path) -> None:
    cfg = config_with(three.config, tmp_path, ("publicinbox.grokmanifest", "all"))
    # every inbox with a url (as public-inbox: one without is never listed)
    assert _inboxes(_decode(_get(cfg, "/manifest.js.gz", host="elsewhere.net"))) == {"one", "two"}
    assert _inboxes(_decode(_get(cfg, "/nourl/manifest.js.gz"))) == {"nourl"}
    cfg = config_with(three.config, tmp_path, ("publicinbox.grokmanifest", "404"))
    # as public-inbox: an empty manifest, not a 404 status; per inbox unaffected
    assert _decode(_get(cfg, "/manifest.js.gz")) == {}
    assert _inboxes(_decode(_get(cfg, "/one/manifest.js.gz"))) == {"one"}


def test_hide_manifest(three: Archive, tmp_path: Path) -> None:
    cfg = config_with(
        three.config,
        tmp_path,
        ("publicinbox.grokmanifest", "all"),
        ("publicinbox.two.hide", "www, manifest"),
    )
    assert _inboxes(_decode(_get(cfg, "/manifest.js.gz"))) == {"one"}
    assert _inboxes(_decode(_get(cfg, "/two/manifest.js.gz"))) == {"two"}  # still served per inbox
    assert _get(cfg, "/nosuch/manifest.js.gz").status_code == 404


# -- freshness and caching ------------------------------------------------------------


def test_delivery_changes_fingerprint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = build_inbox(tmp_path, "live", "live@example.com", _write(tmp_path / "a.mbox", _mbox(1, 2, "live@example.com")))
    git_config(a.config, "publicinboxmda.spamcheck", "none")  # no spamc here
    app = build_app(load(a.config))
    calls: list[Path] = []
    real = grok.read_state

    def counting(git_dir: Path) -> grok.RepoState | None:
        calls.append(git_dir)
        return real(git_dir)

    monkeypatch.setattr(grok, "read_state", counting)
    first = _req(app, "/live/manifest.js.gz", host="127.0.0.1")
    again = _req(app, "/live/manifest.js.gz", host="127.0.0.1")
    assert again.content == first.content and len(calls) == 1  # refs unchanged: nothing re-read
    before = _decode(first)["/live/git/0.git"]
    env = {"PI_CONFIG": str(a.config), "ORIGINAL_RECIPIENT": "live@example.com"}
    p = run_cli("mda", stdin=make_msg(50, mid="new@example.com", to="live@example.com"), env=env)
    assert p.returncode == 0, p.stderr
    after = _decode(_req(app, "/live/manifest.js.gz", host="127.0.0.1"))["/live/git/0.git"]
    assert len(calls) == 2
    assert after["fingerprint"] != before["fingerprint"]
    assert after["fingerprint"] == _show_ref_sha1(a.inboxdir / "git" / "0.git")
    assert after["modified"] == _newest(a.inboxdir / "git" / "0.git") >= before["modified"]


# -- against public-inbox ---------------------------------------------------------------


@pytest.mark.peer
@pytest.mark.parametrize("policy", [None, "all", "404"])
def test_same_as_public_inbox(three: Archive, tmp_path: Path, policy: str | None) -> None:
    """public-inbox-httpd gives the same manifests (decoded) for the same
    config, Host and paths."""
    settings = [("publicinbox.nourl.hide", "www")]
    if policy is not None:
        settings.append(("publicinbox.grokmanifest", policy))
    cfg = config_with(three.config, tmp_path, ("publicinbox.two.hide", "manifest"), *settings)
    paths = ["/manifest.js.gz", "/one/manifest.js.gz", "/two/manifest.js.gz", "/nourl/manifest.js.gz"]
    seen: dict[str, list[Any]] = {}
    for kind in ("public-inbox", "pubinbox"):  # public-inbox-index first: both see the same disk
        with live_server(cfg, "one", kind=kind) as srv:
            got: list[Any] = []
            for host in ("example.com", "example.org"):
                for path in paths:
                    r = fetch(srv.origin + path, headers={"Host": host})
                    m = json.loads(gzip.decompress(r.body)) if r.status == 200 else None
                    got.append((host, path, r.status, r.media_type, m))
                    if m:  # ours may be later: when a ref last moved (test_inbox_manifest_fields)
                        lm = parsedate_to_datetime(r.headers["last-modified"]).timestamp()
                        got.append(("modified", max(e["modified"] for e in m.values()) <= lm))
                    assert int(r.headers["content-length"]) == len(r.body)
            seen[kind] = got
    assert seen["pubinbox"] == seen["public-inbox"]
    assert any(m for *_x, m in seen["pubinbox"] if isinstance(m, dict) and "/one/git/2.git" in m)


def test_conditional_requests(three: Archive) -> None:
    """grokmirror's If-Modified-Since (and If-None-Match) give a 304; the
    ETag is the body's, so every worker (and a second app: another process
    or mirror of the same data) gives the same one."""
    app = build_app(load(three.config))
    for path in ("/one/manifest.js.gz", "/manifest.js.gz"):
        g = asgi_request(app, path, host="example.com")
        assert g.status_code == 200 and g.headers["etag"] == '"' + hashlib.sha1(g.content).hexdigest() + '"'
        again = asgi_request(build_app(load(three.config)), path, host="example.com")
        assert again.headers["etag"] == g.headers["etag"]
        lm = g.headers["last-modified"]
        nm = asgi_request(app, path, host="example.com", headers={"if-modified-since": lm})
        assert nm.status_code == 304 and nm.content == b"" and nm.headers["last-modified"] == lm
        nm = asgi_request(app, path, host="example.com", headers={"if-none-match": g.headers["etag"]})
        assert nm.status_code == 304
        older = formatdate(_newest(three.inboxdir / "git" / "0.git") - 86400 * 400, usegmt=True)
        assert "GMT" in lm
        assert asgi_request(app, path, host="example.com", headers={"if-modified-since": older}).status_code == 200
        assert asgi_request(app, path, host="example.com", headers={"if-none-match": '"x"'}).status_code == 200
        assert asgi_request(app, path, host="example.com", headers={"if-modified-since": "garbage"}).status_code == 200
