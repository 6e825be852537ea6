"""git over HTTP from a live ``pubinbox serve``: real ``git clone --mirror``
(protocol v0 and v2, smart and dumb) of every epoch, compared with the
origin's refs and objects; gzip'd request bodies; 404s that start no
process; a client that goes away or stops reading leaves no git behind, and a
slow reader is not cut by the idle timeout."""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile.conftest import children, cmdline, wait_for
from tests.live import LiveServer, clean_env, live_server
from tests.mirror.origin import build_origin, epochs, git_out, objects, refs
from tests.web.conftest import Archive, config_with, fetch

pytestmark = pytest.mark.slow

BIG = 24 << 20  # bytes of incompressible data on a side ref of the last epoch


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    return build_origin(tmp_path_factory.mktemp("git-origin"))


@pytest.fixture(scope="module")
def served(origin: Archive, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    cfg = config_with(origin.config, tmp_path_factory.mktemp("git-serve"), ("pubinbox.gitProcesses", "2"))
    with live_server(cfg, origin.name, kind="pubinbox", args=("-W", "2")) as srv:
        yield srv


def _git(*args: str, cwd: Path, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = clean_env(cwd / "home", **(env_extra or {}))
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("version", ["0", "2"])
@pytest.mark.parametrize("form", ["git/{n}.git", "{n}"])
def test_clone_mirror_every_epoch(served: LiveServer, origin: Archive, tmp_path: Path, version: str, form: str) -> None:
    ns = epochs(origin.inboxdir)
    assert len(ns) >= 3
    for n in ns:
        url = f"{served.base}{form.format(n=n)}"
        dst = tmp_path / f"{n}.git"
        p = _git("-c", f"protocol.version={version}", "clone", "--mirror", url, str(dst), cwd=tmp_path,
                 env_extra={"GIT_TRACE_PACKET": str(tmp_path / f"trace{n}")})  # fmt: skip
        assert p.returncode == 0, p.stderr
        src = origin.inboxdir / "git" / f"{n}.git"
        assert refs(dst) == refs(src)
        assert objects(dst) == objects(src)
        trace = (tmp_path / f"trace{n}").read_text(errors="replace")
        assert ("version 2" in trace) == (version == "2"), "the protocol version asked for was spoken"
        fsck = _git("--git-dir", str(dst), "fsck", "--strict", cwd=tmp_path)
        assert fsck.returncode == 0, fsck.stderr


def test_dumb_http_clone(served: LiveServer, origin: Archive, tmp_path: Path) -> None:
    n = epochs(origin.inboxdir)[-1]
    dst = tmp_path / "dumb.git"
    p = _git(
        "clone", "--mirror", f"{served.base}git/{n}.git", str(dst), cwd=tmp_path, env_extra={"GIT_SMART_HTTP": "0"}
    )
    assert p.returncode == 0, p.stderr
    src = origin.inboxdir / "git" / f"{n}.git"
    assert refs(dst) == refs(src)
    assert objects(dst) == objects(src)
    r = fetch(f"{served.base}git/{n}.git/info/refs")
    assert r.status == 200 and r.headers["cache-control"].startswith("no-cache")
    assert r.body.decode() == "".join(f"{ln.split()[0]}\t{ln.split()[1]}\n" for ln in refs(src).splitlines())
    packs = fetch(f"{served.base}git/{n}.git/objects/info/packs").text().split()
    assert packs and packs[0] == "P"
    r = fetch(f"{served.base}git/{n}.git/objects/pack/{packs[1]}", method="HEAD")
    assert r.status == 200 and "max-age=31536000" in r.headers["cache-control"]
    assert int(r.headers["content-length"]) == (src / "objects" / "pack" / packs[1]).stat().st_size
    assert fetch(f"{served.base}git/{n}.git/HEAD").body == (src / "HEAD").read_bytes()
    desc = fetch(f"{served.base}{n}/description")
    assert desc.status == 200 and desc.body == (origin.inboxdir / "description").read_bytes()


def _pkt(line: str) -> bytes:
    return f"{len(line) + 4:04x}{line}".encode()


def _post_upload_pack(srv: LiveServer, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    try:
        conn.request("POST", f"/{srv.inbox}/{path}", body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_upload_pack_request_body(served: LiveServer, origin: Archive, encoding: str) -> None:
    """A v0 want/done request, plain or gzip'd (git gzips big ones): NAK, then a pack."""
    tip = git_out(origin.inboxdir / "git" / "0.git", "rev-parse", "refs/heads/master").strip()
    req = _pkt(f"want {tip} ofs-delta\n") + b"0000" + _pkt("done\n")
    h = {"Content-Type": "application/x-git-upload-pack-request"}
    if encoding == "gzip":
        req = gzip.compress(req)
        h["Content-Encoding"] = "gzip"
    status, out = _post_upload_pack(served, "git/0.git/git-upload-pack", req, h)
    assert status == 200
    assert out.startswith(b"0008NAK\n") and out[8:12] == b"PACK"
    status, _ = _post_upload_pack(
        served, "git/0.git/git-upload-pack", b"\x1f\x8b junk", h | {"Content-Encoding": "gzip"}
    )
    assert status in (200, 400, 500)  # a cut or an error, never a hang
    status, _ = _post_upload_pack(served, "git/0.git/git-upload-pack", req, {"Content-Type": "text/plain"})
    assert status == 415


def test_unknown_epochs_and_paths(served: LiveServer, origin: Archive) -> None:
    before = _git_procs(served)
    for path in ("git/99.git/info/refs", "99/info/refs", "git/1234567.git/HEAD", "git/99.git/git-upload-pack"):
        r = fetch(f"{served.base}{path}?service=git-upload-pack")
        assert r.status == 404, path
    # not git paths: the web's own pages answer (never a file of the repository)
    for path in (
        "git/0.git/config",
        "git/0.git/packed-refs",
        "0/objects/../config",
        "git/0.git/objects/info/../../config",
    ):
        r = fetch(f"{served.base}{path}")
        assert b"[core]" not in r.body, path
    assert fetch(f"{served.base}git/0.git/info/refs?service=git-receive-pack").status == 403
    assert fetch(f"{served.base}git/0.git/git-upload-pack").status == 405
    assert _git_procs(served) == before == []


def _sid(pid: int) -> int | None:
    """The session id of *pid*, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[3])
    except (OSError, ValueError, IndexError):
        return None


def _git_procs(srv: LiveServer) -> list[int]:
    """git processes below the server (workers' children and theirs)."""
    out = []
    stack = [srv.pid]
    while stack:
        p = stack.pop()
        for c in children(p):
            stack.append(c)
            if "upload-pack" in cmdline(c) or "pack-objects" in cmdline(c):
                out.append(c)
    return out


def _add_big_ref(git_dir: Path) -> str:
    """A commit on refs/heads/zz-big holding BIG random bytes; its id."""
    blob = subprocess.run(["git", f"--git-dir={git_dir}", "hash-object", "-w", "--stdin"], input=os.urandom(BIG),
                          capture_output=True, check=True).stdout.decode().strip()  # fmt: skip
    tree = subprocess.run(["git", f"--git-dir={git_dir}", "mktree"], input=f"100644 blob {blob}\tbig\n".encode(),
                          capture_output=True, check=True).stdout.decode().strip()  # fmt: skip
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    commit = subprocess.run(["git", f"--git-dir={git_dir}", "commit-tree", tree, "-m", "big"], env=env,
                            capture_output=True, check=True).stdout.decode().strip()  # fmt: skip
    return commit


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    """An origin whose epoch 0 holds a large incompressible commit (on
    refs/heads/zz-big), served with a 2 s idle timeout and one git process."""
    root = tmp_path_factory.mktemp("git-big")
    arch = build_origin(root / "o", sources=())
    git_dir = arch.inboxdir / "git" / "0.git"
    commit = _add_big_ref(git_dir)
    subprocess.run(["git", f"--git-dir={git_dir}", "update-ref", "refs/heads/zz-big", commit], check=True)
    cfg = config_with(arch.config, root, ("pubinbox.idleTimeout", "2"), ("pubinbox.gitProcesses", "1"))
    with live_server(cfg, arch.name, kind="pubinbox", args=("-W", "1")) as srv:
        yield srv, commit


def _start_pack(srv: LiveServer, commit: str, *, small: bool = True) -> socket.socket:
    s = socket.socket()
    if small:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", srv.port))
    body = _pkt(f"want {commit}\n") + b"0000" + _pkt("done\n")
    s.sendall(
        f"POST /{srv.inbox}/git/0.git/git-upload-pack HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/x-git-upload-pack-request\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    assert s.recv(12).startswith(b"HTTP/1.1 200")
    return s


def test_disconnect_mid_pack_kills_git(big: tuple[LiveServer, str]) -> None:
    srv, commit = big
    s = _start_pack(srv, commit)
    wait_for(lambda: _git_procs(srv), what="git upload-pack running")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
    s.close()
    wait_for(lambda: not _git_procs(srv), timeout=15, what="git gone after the client left")
    assert fetch(f"{srv.base}_/text/help/").status == 200


def test_stalled_reader_is_cut_slow_reader_is_not(big: tuple[LiveServer, str]) -> None:
    srv, commit = big
    s = _start_pack(srv, commit)  # reads nothing more
    try:
        wait_for(lambda: _git_procs(srv), what="git upload-pack running")
        wait_for(lambda: not _git_procs(srv), timeout=30, what="git killed once the client stopped reading")
    finally:
        s.close()
    # a reader that keeps reading, slower than the pack is made, for longer
    # than the idle timeout, gets all of it
    s = _start_pack(srv, commit, small=False)
    got = 0
    t0 = time.monotonic()
    try:
        s.settimeout(30)
        while chunk := s.recv(256 << 10):
            got += len(chunk)
            time.sleep(0.05)
    finally:
        s.close()
    assert got > BIG, f"got {got} bytes in {time.monotonic() - t0:.1f}s"
    wait_for(lambda: not _git_procs(srv), what="git done")


def test_queue_beyond_the_limit(big: tuple[LiveServer, str], tmp_path: Path) -> None:
    """gitProcesses = 1: two clones at once both complete (one waits)."""
    srv, _commit = big
    procs = [
        subprocess.Popen(
            ["git", "clone", "-q", "--mirror", f"{srv.base}git/0.git", str(tmp_path / f"c{i}")],
            env=clean_env(tmp_path / "home"),
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    seen = 0
    while any(p.poll() is None for p in procs):
        # one git request = one session (upload-pack is started as a session
        # leader; anything it runs shares its session id)
        seen = max(seen, len({_sid(p) for p in _git_procs(srv)} - {None}))
        time.sleep(0.02)
    errs = [p.communicate()[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    assert seen <= 1


def test_trickled_request_body_is_cut(big: tuple[LiveServer, str]) -> None:
    """A client that sends a few bytes of its upload-pack request and then
    nothing does not hold a git process past the idle timeout (2 s here)."""
    srv, _commit = big
    s = socket.create_connection(("127.0.0.1", srv.port))
    try:
        s.sendall(
            f"POST /{srv.inbox}/git/0.git/git-upload-pack HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/x-git-upload-pack-request\r\nContent-Length: 1000\r\n\r\n0032want ".encode()
        )
        wait_for(lambda: _git_procs(srv), what="git upload-pack started")
        wait_for(lambda: not _git_procs(srv), timeout=30, what="git killed once the body stalled")
        s.settimeout(30)
        assert s.recv(100).startswith(b"HTTP/1.1 400")
    finally:
        s.close()


def test_gzip_bomb_is_refused(big: tuple[LiveServer, str]) -> None:
    srv, commit = big
    bomb = gzip.compress(_pkt(f"want {commit}\n") + b"0" * (40 << 20))
    h = {"Content-Type": "application/x-git-upload-pack-request", "Content-Encoding": "gzip"}
    status, body = _post_upload_pack(srv, "git/0.git/git-upload-pack", bomb, h)
    assert status == 400, body[:200]
    wait_for(lambda: not _git_procs(srv), what="no git left")
