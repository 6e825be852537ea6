"""solver/solve.py on a real inbox (pubinbox import, its search index) and
real git repositories: chains, cycles, the limits, the log."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pubinbox.config import load
from pubinbox.inbox import Inbox
from pubinbox.solver import scratch
from pubinbox.solver.coderepo import CodeRepo
from pubinbox.solver.solve import Limits, Result, Solver, Want
from tests.web.conftest import build_inbox

MAIL = """From x@y Thu Jan  1 00:00:00 1970
From: A <a@example.com>
Subject: [PATCH] {n}
Date: Thu, 3 Dec 2026 12:00:{n:02d} +0000
Message-ID: <p{n}@example.com>

---
{diff}
"""


def git(cwd: Path, *args: str, data: bytes | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, input=data, capture_output=True, check=True).stdout.decode()


def blob_id(repo: Path, content: bytes) -> str:
    return git(repo, "hash-object", "--stdin", data=content).strip()


def modify(repo: Path, a: bytes, b: bytes, path: str = "f.txt") -> str:
    """A ``git diff`` of *path* from content *a* to *b* (index line with full ids)."""
    wt = repo / "wt"
    wt.mkdir(exist_ok=True)
    (wt / "a").write_bytes(a)
    (wt / "b").write_bytes(b)
    p = subprocess.run(
        ["git", "diff", "--no-index", "--full-index", "a", "b"], cwd=wt, capture_output=True, check=False
    )
    return p.stdout.decode().replace("a/a", f"a/{path}").replace("b/b", f"b/{path}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Inbox, CodeRepo, list[bytes]]]:
    root = tmp_path_factory.mktemp("solve")
    code = root / "code.git"
    git(root, "init", "-q", "--bare", str(code))
    versions = [b"".join(b"line %d\n" % i for i in range(k + 3)) for k in range(6)]  # v0 .. v5
    git(code, "hash-object", "-w", "--stdin", data=versions[0])
    diffs = [modify(root, versions[k], versions[k + 1]) for k in range(5)]  # v0->v1 ... v4->v5
    x, y = b"cycle x\n", b"cycle y\n"
    diffs += [modify(root, x, y, "c.txt"), modify(root, y, x, "c.txt")]  # x->y, y->x: a cycle
    # a patch whose hunk is one line off: only git apply (its offset search) applies it
    o0 = b"".join(b"o %d\n" % i for i in range(20))
    o1 = o0.replace(b"o 10\n", b"o ten\n")
    git(code, "hash-object", "-w", "--stdin", data=o0)
    diffs.append(re.sub(r"^@@ -8,7 \+8,7 @@", "@@ -9,7 +9,7 @@", modify(root, o0, o1, "o.txt"), flags=re.MULTILINE))
    mbox = root / "m.mbox"
    mbox.write_text("".join(MAIL.format(n=i, diff=d) for i, d in enumerate(diffs)))
    arch = build_inbox(root / "inbox", "t", "t@example.com", mbox)
    cfg = load(arch.config).inbox("t")
    box = Inbox.open(cfg)
    yield box, CodeRepo("code", code, ("https://git.example.org/code",)), [*versions, x, y, o1]
    box.close()


def solver(box: Inbox, repo: CodeRepo, limits: Limits | None = None) -> Solver:
    def search(q: str) -> Iterator[tuple[str, bytes]]:
        for r in box.search(q, relevance=True, limit=100).rows:
            yield r.mid, box.raw(r)

    return Solver((repo,), search, lambda mid: f"http://x/t/{mid}/", limits or Limits())


def test_chain_of_five(world: tuple[Inbox, CodeRepo, list[bytes]]) -> None:
    box, repo, v = world
    want = blob_id(repo.git_dir, v[5])
    res = solver(box, repo).solve(Want(want[:9], "f.txt"))
    assert (res.status, res.oid, res.data) == ("found", want, v[5])
    assert res.log.count("Applied patch f.txt cleanly") == 5
    assert "found " + blob_id(repo.git_dir, v[0])[:7] in res.log  # the base, from the coderepo
    assert "in https://git.example.org/code" in res.log


def test_limits(world: tuple[Inbox, CodeRepo, list[bytes]]) -> None:
    box, repo, v = world
    want = blob_id(repo.git_dir, v[5])
    deep = solver(box, repo, Limits(depth=3)).solve(Want(want))
    assert deep.status == "limit" and "a chain of more than 3 patches" in deep.log
    few = solver(box, repo, Limits(patches=2)).solve(Want(want))
    assert few.status == "limit" and "more than 2 patches tried" in few.log
    late = solver(box, repo, Limits(seconds=0.0)).solve(Want(want))
    assert late.status == "limit" and "gave up after 0 s" in late.log and late.log.endswith(f"could not find {want}\n")


def test_cycle_and_missing(world: tuple[Inbox, CodeRepo, list[bytes]]) -> None:
    box, repo, v = world
    res = solver(box, repo).solve(Want(blob_id(repo.git_dir, v[6])))  # x: only from y, only from x
    assert res.status == "missing"
    nothing: Result = solver(box, repo).solve(Want("abcdef1"))
    assert nothing.status == "missing" and nothing.log == "solving abcdef1 ...\ncould not find abcdef1\n"


def test_coderepo_blob_and_no_search(world: tuple[Inbox, CodeRepo, list[bytes]]) -> None:
    _box, repo, v = world
    base = blob_id(repo.git_dir, v[0])
    res = Solver((repo,), None, str).solve(Want(base[:7]))
    assert (res.status, res.type, res.data) == ("found", "blob", v[0])
    assert Solver((repo,), None, str).solve(Want(blob_id(repo.git_dir, v[1]))).status == "missing"


def test_scratch_repository_reused_then_removed(
    world: tuple[Inbox, CodeRepo, list[bytes]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box, repo, v = world
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    scratch.clear()
    res = solver(box, repo).solve(Want(blob_id(repo.git_dir, v[3])))
    assert res.status == "found"
    assert list(tmp_path.iterdir()) == []  # every patch applied in this process: no git, no scratch
    res = solver(box, repo).solve(Want(blob_id(repo.git_dir, v[8])))
    assert (res.status, res.data) == ("found", v[8])
    assert "Checking patch o.txt..." in res.log and "(offset -1 line" in res.log
    # one scratch repository, kept for the next solve, which reuses it
    kept = list(tmp_path.iterdir())
    assert len(kept) == 1 and kept[0].name.startswith("pubinbox-solve-")
    assert solver(box, repo).solve(Want(blob_id(repo.git_dir, v[8])[:10])).status == "found"
    assert list(tmp_path.iterdir()) == kept
    scratch.clear()
    assert list(tmp_path.iterdir()) == []
