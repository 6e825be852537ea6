"""solver/gitfiles.py against real git: the index it writes is read by git,
the index git writes is read by it, loose objects read back hash right."""

from __future__ import annotations

import subprocess
import zlib
from pathlib import Path

import pytest

from pubinbox.solver.gitfiles import GitFileError, init_bare, read_index, read_loose, write_index


def git(git_dir: Path, *args: str, data: bytes | None = None, index: Path | None = None) -> bytes:
    env = {"GIT_DIR": str(git_dir), "HOME": str(git_dir), "PATH": "/usr/bin:/bin"}
    if index is not None:
        env["GIT_INDEX_FILE"] = str(index)
    return subprocess.run(["git", *args], input=data, env=env, capture_output=True, check=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    init_bare(tmp_path / "git", [])
    return tmp_path / "git"


def test_skeleton_is_a_repository(repo: Path) -> None:
    assert git(repo, "rev-parse", "--is-bare-repository").strip() == b"true"
    oid = git(repo, "hash-object", "-w", "--stdin", data=b"hello\n").strip().decode()
    assert git(repo, "cat-file", "-t", oid).strip() == b"blob"


@pytest.mark.parametrize(
    "name", [b"f.c", b"dir/sub/name with space.txt", b"x" * 5000, "d\u00e9j\u00e0/\u00fc.txt".encode()]
)
def test_index_written_is_read_by_git(repo: Path, name: bytes) -> None:
    oid = git(repo, "hash-object", "-w", "--stdin", data=b"content\n").strip().decode()
    index = repo.parent / "index"
    write_index(index, "100755", oid, name)
    assert git(repo, "ls-files", "-s", "-z", index=index) == b"100755 " + oid.encode() + b" 0\t" + name + b"\0"
    assert read_index(index) == [("100755", oid, name)]


def test_index_written_by_git_is_read(repo: Path) -> None:
    index = repo.parent / "index"
    entries = []
    for i, name in enumerate([b"a", b"b/c.txt", b"zz" * 40]):
        oid = git(repo, "hash-object", "-w", "--stdin", data=b"%d\n" % i).strip().decode()
        entries.append(("100644", oid, name))
        git(repo, "update-index", "--add", "--cacheinfo", f"100644,{oid},{name.decode()}", index=index)
    assert read_index(index) == sorted(entries, key=lambda e: e[2])


def test_bad_input_refused(repo: Path) -> None:
    index = repo.parent / "index"
    with pytest.raises(GitFileError):
        write_index(index, "100644", "ab" * 20, b"a\0b")
    with pytest.raises(GitFileError):
        write_index(index, "100644", "ab" * 32, b"sha256")
    index.write_bytes(b"DIRC" + b"\0" * 40)
    with pytest.raises(GitFileError):
        read_index(index)


def test_loose_objects(repo: Path) -> None:
    data = b"".join(b"line %d\n" % i for i in range(10000))
    oid = git(repo, "hash-object", "-w", "--stdin", data=data).strip().decode()
    assert read_loose(repo, oid, 1 << 20) == data
    assert read_loose(repo, "0" * 40, 1 << 20) is None
    with pytest.raises(GitFileError):  # too large
        read_loose(repo, oid, 100)
    tree = git(repo, "mktree", data=f"100644 blob {oid}\tf\n".encode()).strip().decode()
    with pytest.raises(GitFileError):  # not a blob
        read_loose(repo, tree, 1 << 20)
    # a loose object whose content does not hash to its name
    fake = "12" * 20
    (repo / "objects" / "12").mkdir()
    (repo / "objects" / "12" / fake[2:]).write_bytes(zlib.compress(b"blob 3\0abc"))
    with pytest.raises(GitFileError):
        read_loose(repo, fake, 1 << 20)
