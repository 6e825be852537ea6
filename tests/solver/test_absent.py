"""solver/absent.py against real git repositories: never "absent" for an
object git has (packed, loose, through alternates, any abbreviation), and
"absent" for ids it does not have."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from pubinbox.solver.absent import surely_absent


def git(git_dir: Path, *args: str, data: bytes | None = None) -> str:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], input=data, capture_output=True, check=True
    ).stdout.decode()


def add(git_dir: Path, n: int, tag: str) -> list[str]:
    """*n* new loose blobs (one git for all)."""
    files = git_dir.parent / f"{git_dir.name}-{tag}"
    files.mkdir()
    for i in range(n):
        (files / str(i)).write_bytes(b"%s %d\n" % (tag.encode(), i))
    paths = "".join(f"{files / str(i)}\n" for i in range(n)).encode()
    return git(git_dir, "hash-object", "-w", "--stdin-paths", data=paths).split()


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str], list[str], list[str]]:
    root = tmp_path_factory.mktemp("absent")
    base = root / "base.git"
    child = root / "child.git"
    for g in (base, child):
        subprocess.run(["git", "init", "-q", "--bare", str(g)], check=True)
    packed = add(base, 300, "packed")
    # packed: in objects/pack/*.idx (they are unreachable: repack would leave them loose)
    git(
        base,
        "pack-objects",
        "-q",
        str(base / "objects" / "pack" / "pack"),
        data="".join(f"{o}\n" for o in packed).encode(),
    )
    git(base, "prune-packed")
    loose = add(base, 20, "loose")  # loose: objects/xx/
    (child / "objects" / "info" / "alternates").write_text("../../base.git/objects\n")  # relative, as git allows
    own = add(child, 5, "own")
    return base, child, packed, loose, own


def _missing(n: int) -> list[str]:
    return [hashlib.sha1(b"not there %d" % i).hexdigest() for i in range(n)]


def test_present_objects_never_absent(repos: tuple[Path, Path, list[str], list[str], list[str]]) -> None:
    base, child, packed, loose, own = repos
    assert (base / "objects" / "pack").is_dir() and list((base / "objects" / "pack").glob("*.idx"))
    for oid in packed + loose:
        for n in (7, 8, 12, 40):
            assert not surely_absent(base, oid[:n]), oid[:n]
            assert not surely_absent(child, oid[:n]), oid[:n]  # through the alternates
    for oid in own:
        assert not surely_absent(child, oid[:7])
        assert surely_absent(base, oid)  # not in base


def test_missing_objects_absent(repos: tuple[Path, Path, list[str], list[str], list[str]]) -> None:
    base, child, packed, loose, _own = repos
    have = packed + loose
    for oid in _missing(300):
        for n in (7, 9, 40):
            expect = not any(h.startswith(oid[:n]) for h in have)
            assert surely_absent(base, oid[:n]) == expect
        if surely_absent(child, oid[:7]):
            out = git(child, "cat-file", "--batch-check", data=oid[:7].encode() + b"\n")
            assert out.split()[-1] == "missing"


def test_unsure_means_ask_git(tmp_path: Path) -> None:
    assert not surely_absent(tmp_path / "nothing-here", "abcdef0")  # not a repository: git decides
    g = tmp_path / "bad.git"
    subprocess.run(["git", "init", "-q", "--bare", str(g)], check=True)
    (g / "objects" / "pack" / "pack-x.idx").write_bytes(b"garbage")
    assert not surely_absent(g, "abcdef0")
    assert not surely_absent(g, "ABCDEF0") and not surely_absent(g, "../../x")
