"""Blob solves under load (web/solvepool.py), on a real ``pubinbox serve``:
while 4 long solves run, a message page still answers (checked by the
order in which answers arrive, not by timings); the solves' git runs
niced; ``pubinbox.solve*`` settings are obeyed."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live import LiveServer, isolated_environ, live_server
from tests.web.conftest import build_inbox, fetch, git_config, mid_url

pytestmark = pytest.mark.slow

CHAIN = 40  # patches between the code repository's blob and the one asked for
_HUNK = re.compile(r"^@@ -(\d+),(\d+) \+(\d+),(\d+) @@", re.MULTILINE)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True, text=True).stdout


@dataclass(frozen=True)
class World:
    root: Path
    config: Path
    name: str
    oid: str
    data: bytes
    mid: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("solvepool")
    with isolated_environ(root / "home"):
        code = root / "code"
        code.mkdir()
        _git(code, "init", "-q")
        _git(code, "config", "user.name", "T")
        _git(code, "config", "user.email", "t@example.com")
        (code / "foo.c").write_text("".join(f"int v{i};\n" for i in range(CHAIN + 2)))
        _git(code, "add", ".")
        _git(code, "commit", "-qm", "base")
        for i in range(CHAIN):  # each patch changes one line: every one is needed
            text = (code / "foo.c").read_text().replace(f"int v{i};\n", f"long v{i};\n")
            (code / "foo.c").write_text(text)
            _git(code, "commit", "-qam", f"change {i}")
        oid = _git(code, "rev-parse", "HEAD:foo.c").strip()
        data = (code / "foo.c").read_bytes()
        patches = root / "patches"
        _git(code, "format-patch", "-q", "--thread", "-o", str(patches), f"HEAD~{CHAIN}")
        # every hunk one line off: each patch needs git apply (its offset
        # search), none applies in the solver's process: 40 git processes a solve
        for p in patches.iterdir():
            p.write_text(_HUNK.sub(lambda m: f"@@ -{int(m[1]) + 1},{m[2]} +{int(m[3]) + 1},{m[4]} @@", p.read_text()))
        mirror = root / "code.git"
        _git(root, "clone", "-q", "--bare", str(code), str(mirror))
        _git(mirror, "update-ref", "refs/heads/master", f"HEAD~{CHAIN}")
        _git(mirror, "reflog", "expire", "--expire=now", "--all")
        _git(mirror, "gc", "-q", "--prune=now")
        first = min(patches.iterdir()).read_text()
        mid = next(line for line in first.splitlines() if line.lower().startswith("message-id:"))
        arch = build_inbox(root / "inbox", "pool", "pool@example.com", *sorted(patches.iterdir()))
        git_config(arch.config, f"publicinbox.{arch.name}.coderepo", "code")
        git_config(arch.config, "coderepo.code.dir", str(mirror))
        git_config(arch.config, "pubinbox.solveProcesses", "1")  # the 4 solves take turns
        git_config(arch.config, "pubinbox.solveTimeout", "300")  # a slow machine still finishes them
        yield World(root, arch.config, arch.name, oid, data, mid.split(":", 1)[1].strip().strip("<>"))


def _session(srv: LiveServer) -> list[int]:
    """Processes of the server's session (it runs in a new one)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[3]) == srv.pid:  # session id
                out.append(int(d.name))
    return out


def _nice(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[16])


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_pages_answer_while_four_solves_run(world: World, tmp_path: Path) -> None:
    with isolated_environ(world.root / "home"):
        env = dict(os.environ, TMPDIR=str(tmp_path))
        _pages_while_solving(world, tmp_path, env)


def _pages_while_solving(world: World, tmp_path: Path, env: dict[str, str]) -> None:
    with live_server(world.config, world.name, env=env, args=("-W", "1")) as srv:
        assert fetch(mid_url(srv.base, world.mid)).status == 200  # warm: the page itself is cheap
        done: list[str] = []
        answers: dict[str, tuple[int, bytes]] = {}
        lock = threading.Lock()

        def solve(k: int) -> None:
            r = fetch(f"{srv.base}{world.oid[: 7 + k]}/s/foo.c", timeout=600)  # 4 ids: 4 solves, no cache
            with lock:
                done.append(f"solve{k}")
                answers[f"solve{k}"] = (r.status, r.body)

        threads = [threading.Thread(target=solve, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        # a solve is under way once it has its scratch repository
        while not any(p.name.startswith("pubinbox-solve-") for p in tmp_path.iterdir()) and len(done) < 4:
            time.sleep(0.005)
        nices = {pid: _nice(pid) for pid in _session(srv) if "cat-file" in _cmdline(pid)}
        page = fetch(mid_url(srv.base, world.mid))
        with lock:
            done.append("page")
        for t in threads:
            t.join(timeout=600)
        assert page.status == 200
        assert all(a == (200, world.data) for a in answers.values()), {k: a[0] for k, a in answers.items()}
        assert len(done) == 5
        # the page came back while solves were still running or waiting
        assert done.index("page") < 4, done
        # the solves' long-lived git cat-file runs niced (+10); the worker does not
        assert nices and all(n >= 10 for n in nices.values()), nices
        workers = [pid for pid in _session(srv) if "pubinbox.web.worker" in " ".join(_cmdline(pid))]
        assert workers and all(_nice(pid) == 0 for pid in workers)


def test_solve_limits_from_config(world: World, tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_bytes(world.config.read_bytes())
    git_config(cfg, "pubinbox.solveDepth", "10")  # the chain is 40 long
    with isolated_environ(world.root / "home"), live_server(cfg, world.name) as srv:
        r = fetch(f"{srv.base}{world.oid[:12]}/s/?b=foo.c")
        assert r.status == 404
        assert "stopped: a chain of more than 10 patches" in r.text()


def test_message_page_links_lead_to_the_blobs(world: World) -> None:
    """Every ``index`` id and ``diff --git`` name of a patch links to
    ``/$OID/s/`` (lore's links), and the links work: the first patch's
    pre-image comes from the code repository, the last patch's
    post-image is rebuilt from all 40."""
    patches = sorted((world.root / "patches").iterdir())
    with isolated_environ(world.root / "home"), live_server(world.config, world.name) as srv:
        for p, want_data in ((patches[0], None), (patches[-1], world.data)):
            text = p.read_text()
            mid = next(x for x in text.splitlines() if x.lower().startswith("message-id:"))
            page = fetch(mid_url(srv.base, mid.split(":", 1)[1].strip().strip("<>"))).text()
            m = re.search(r"^index ([a-f0-9]+)\.\.([a-f0-9]+)", text, re.MULTILINE)
            assert m is not None
            pre, post = m.group(1), m.group(2)
            assert (
                f'<a href="../{pre}/s/?b=foo.c">a/foo.c</a> <a href="../{post}/s/?b=foo.c">b/foo.c</a>\n'
                f'index <a href="../{pre}/s/?b=foo.c">{pre}</a>..<a href="../{post}/s/?b=foo.c">{post}</a> 100644'
            ) in page
            oid = post if want_data is not None else pre
            got = fetch(f"{srv.base}{oid}/s/foo.c?b=foo.c")
            assert got.status == 200
            if want_data is not None:
                assert got.body == want_data
