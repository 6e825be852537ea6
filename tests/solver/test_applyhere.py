"""solver/applyhere.py: exact in-process application gives git's bytes
(checked against ``git apply`` on real diffs), or None."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pubinbox.solver.applyhere import apply_exact, blob_id, simple_header


def diff(tmp: Path, a: bytes, b: bytes) -> str:
    (tmp / "a").write_bytes(a)
    (tmp / "b").write_bytes(b)
    p = subprocess.run(["git", "diff", "--no-index", "a", "b"], cwd=tmp, capture_output=True, check=False)
    return p.stdout.decode().replace("a/a", "a/f").replace("b/b", "b/f")


def git_id(tmp: Path, data: bytes) -> str:
    p = subprocess.run(["git", "hash-object", "--stdin"], input=data, capture_output=True, check=True, cwd=tmp)
    return p.stdout.decode().strip()


BASE = b"".join(b"line %d\n" % i for i in range(30))
CASES = {
    "middle": (BASE, BASE.replace(b"line 15\n", b"line fifteen\n")),
    "two hunks": (BASE, BASE.replace(b"line 2\n", b"two\n").replace(b"line 27\n", b"x\ny\n")),
    "insert at top": (BASE, b"new\n" + BASE),
    "append": (BASE, BASE + b"tail\n"),
    "no newline before": (BASE.rstrip(b"\n"), BASE),
    "no newline after": (BASE, BASE.rstrip(b"\n")),
    "no newline both": (BASE + b"end", BASE + b"END"),
    "new file": (b"", b"hello\nworld\n"),
    "emptied": (BASE, b""),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_bytes_as_git(case: str, tmp_path: Path) -> None:
    a, b = CASES[case]
    d = diff(tmp_path, a, b)
    got = apply_exact(a, d.encode())
    assert got == b
    assert blob_id(got) == git_id(tmp_path, b)


def test_not_where_it_says_is_none(tmp_path: Path) -> None:
    a, b = CASES["middle"]
    d = diff(tmp_path, a, b)
    assert apply_exact(b"extra\n" + a, d.encode()) is None  # git would find it one line down: git's job
    assert apply_exact(a.replace(b"line 14\n", b"changed\n"), d.encode()) is None
    assert apply_exact(a, b"no hunks here\n") is None
    assert apply_exact(a, b"@@ -1 +1 @@\n?junk\n") is None


def test_simple_header() -> None:
    assert simple_header("diff --git a/f b/f\nindex 1234567..89abcde 100644\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n")
    assert simple_header(
        "diff --git a/f b/f\nnew file mode 100644\nindex 0000000..89abcde\n--- /dev/null\n+++ b/f\n@@ -0,0 +1 @@\n+b\n"
    )
    assert not simple_header(
        "diff --git a/f b/f\nold mode 100644\nnew mode 100755\nindex 1..2\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n"
    )
    assert not simple_header(
        "diff --git a/f b/g\nrename from f\nrename to g\nindex 1..2\n--- a/f\n+++ b/g\n@@ -1 +1 @@\n"
    )
    assert not simple_header(
        "diff --git a/f b/f\nnew file mode 120000\nindex 0..2\n--- /dev/null\n+++ b/f\n@@ -0,0 +1 @@\n"
    )
