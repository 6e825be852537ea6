"""patch_id_stable() against ``git patch-id --stable`` itself.

Default tier: hand-made edge cases, random patch-like streams and every
message of sample/sample.mbox, each compared with git's output.  Corpus
tier: every message of the linux-erofs epoch in one batched git call, and
the decoded part texts public-inbox feeds to git.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from pubinbox.mail.mbox import iter_mbox
from pubinbox.mail.mime import iter_parts
from pubinbox.search.extract import looks_like_diff, part_text
from pubinbox.search.patchid import _iter, patch_id_stable, patch_ids_stable

ZERO = "0" * 40


def git_patch_ids(data: bytes) -> list[tuple[str, str]]:
    out = subprocess.run(["git", "patch-id", "--stable"], input=data, capture_output=True, check=True).stdout
    return [(f[0], f[1]) for f in (line.split() for line in out.decode().splitlines())]


def git_first(data: bytes) -> str | None:
    ids = git_patch_ids(data)
    return ids[0][0] if ids else None


PATCH = b"""From: A <a@example.com>
Subject: [PATCH] two files

Commit message.

Signed-off-by: A <a@example.com>
---
 a.c | 3 ++-
 b.c | 1 +
 2 files changed, 3 insertions(+), 1 deletion(-)

diff --git a/a.c b/a.c
index 83db48f..bf269f4 100644
--- a/a.c
+++ b/a.c
@@ -1,4 +1,5 @@ int main(void)
 int x;
-int y = x;
+int y = x + 1;
+int z;
 int w;
 return 0;
@@ -10,3 +11,3 @@ static void f(void)
 a
-b
+c
 d
diff --git a/b.c b/b.c
index 1111111..2222222 100644
--- a/b.c
+++ b/b.c
@@ -1 +1,2 @@
 one
+two
--\x20
2.39.0
"""


def test_basic_patch_matches_git() -> None:
    pid = patch_id_stable(PATCH)
    assert pid is not None and len(pid) == 40
    assert pid == git_first(PATCH)
    assert patch_id_stable(PATCH.decode()) == pid


def test_whitespace_is_ignored_and_order_of_files_is_not() -> None:
    spaced = PATCH.replace(b"int y = x + 1;", b"int  y=x +1 ;\t")
    assert patch_id_stable(spaced) == patch_id_stable(PATCH)
    # --stable: swapping the two files keeps the id
    head, rest = PATCH.split(b"diff --git a/a.c", 1)
    file_a, file_b = rest.split(b"diff --git a/b.c", 1)
    file_b, sig = file_b.split(b"--\x20\n", 1)
    swapped = head + b"diff --git a/b.c" + file_b + b"diff --git a/a.c" + file_a + b"--\x20\n" + sig
    assert patch_id_stable(swapped) == patch_id_stable(PATCH) == git_first(swapped)


def test_no_diff_is_none() -> None:
    assert patch_id_stable(b"Subject: hi\n\njust text\n--- not a diff\n") is None
    assert patch_id_stable(b"") is None
    assert patch_id_stable("> diff --git a/x b/x\n") is None
    assert patch_ids_stable(b"no diff here\n") == ()


EDGE_CASES = [
    # binary patch followed by a text file
    (
        b"diff --git a/bin b/bin\nindex 1234567..89abcde 100644\nGIT binary patch\nliteral 5\n"
        b"McmZ?d00001\n\nliteral 0\nHcmV?d00001\n\ndiff --git a/t b/t\n--- a/t\n+++ b/t\n@@ -1 +1 @@\n-a\n+b\n"
    ),
    # only a binary file, "Binary files ... differ"
    b"diff --git a/x.png b/x.png\nindex 0000000..1111111\nBinary files /dev/null and b/x.png differ\n",
    # mode change only, then a rename, then a real change
    (
        b"diff --git a/s b/s\nold mode 100644\nnew mode 100755\ndiff --git a/o b/n\nsimilarity index 90%\n"
        b"rename from o\nrename to n\ndiff --git a/c b/c\n--- a/c\n+++ b/c\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n"
    ),
    # "\ No newline at end of file" and CRLF lines
    b"diff --git a/f b/f\r\n--- a/f\r\n+++ b/f\r\n@@ -1 +1 @@\r\n-a\r\n\\ No newline at end of file\r\n+b\r\n",
    # hunk counts that do not add up (hand-edited patch), then prose
    b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,5 +1,5 @@\n-a\n+b\nprose after\nmore\n",
    # bad hunk headers
    b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,3 @@\n-a\n@@ -x +1 @@\n+b\n@@ -1,-2 +1,99999999999999 @@\n c\n",
    # a 40-hex line, "commit <hex>" and "From <hex>" split patches
    b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n" + b"a" * 40 + b"\n"
    b"diff --git a/g b/g\n--- a/g\n+++ b/g\n@@ -1 +1 @@\n-a\n+c\n"
    b"commit " + b"B" * 40 + b" (tag)\ndiff --git a/h b/h\n--- a/h\n+++ b/h\n@@ -1 +1 @@\n-a\n+d\n"
    b"From " + b"0123456789" * 4 + b" Mon Sep 17 00:00:00 2001\nSubject: x\n\ndiff --git a/i b/i\n",
    # "diff " in prose: git still prints an id
    b"Some text\ndiff between the two is small\n\nmore text\n",
    # NUL bytes inside lines
    b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\x00junk\n+b\n\x00\n",
    # index line without a mode, no trailing newline at the end of input
    b"diff --git a/f b/f\nindex abc..def\nBinary files a/f and b/f differ",
    # empty line inside a hunk, and a second hunk
    b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n\n-c\n+d\n@@ -9 +9 @@\n-e\n+f\n",
    # traditional diff -u
    b"diff -u old/f new/f\n--- old/f\t2020-01-01\n+++ new/f\t2020-01-02\n@@ -1 +1 @@\n-a\n+b\n",
]


@pytest.mark.parametrize("data", EDGE_CASES)
def test_edge_cases_match_git(data: bytes) -> None:
    assert list(patch_ids_stable(data)) == git_patch_ids(data)
    assert patch_id_stable(data) == git_first(data)


_POOL = [
    b"diff --git a/f b/f",
    b"diff --git a/g b/g",
    b"diff -u a b",
    b"index 1234567..abcdef0 100644",
    b"index 1234567..abcdef0",
    b"index ..",
    b"new file mode 100644",
    b"deleted file mode 100644",
    b"similarity index 99%",
    b"rename from x",
    b"--- a/f",
    b"--- /dev/null",
    b"+++ b/f",
    b"+++ /dev/null",
    b"@@ -1,3 +1,4 @@ func",
    b"@@ -1 +1 @@",
    b"@@ -0,0 +1 @@",
    b"@@ -2,0 +3,2 @@",
    b"@@ -1, +1",
    b"@@ -,2 +,1 @@",
    b" context",
    b" ",
    b"",
    b"-removed",
    b"+added",
    b"-",
    b"+",
    b"\\ No newline at end of file",
    b"\\ short",
    b"GIT binary patch",
    b"literal 12",
    b"zcmV?d00001",
    b"Binary files a/x and b/x differ",
    b"-- ",
    b"2.39.0",
    b"prose line",
    b"Prose Line",
    b"> quoted",
    b"commit 0123456789abcdef0123456789abcdef01234567",
    b"fedcba9876543210FEDCBA9876543210fedcba98 trailing",
    b"From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001",
    b"From: someone",
    b"-a\x00b",
    b"+x\r",
    b"\t tab",
    b"\xc3\xa9t\xc3\xa9",
]


def _defined(doc: bytes) -> bool:
    """No binary file without a preceding ``index`` line in its patch.

    git hashes the blob ids of the last ``index`` line for a binary file;
    without one it reads an uninitialised buffer (not reproducible).
    """
    undefined: list[bool] = []
    _iter(doc, undefined)
    return not undefined


def _random_doc(rng: random.Random) -> bytes:
    while True:
        lines = [rng.choice(_POOL) for _ in range(rng.randint(1, 40))]
        if rng.random() < 0.7:
            lines.insert(0, b"diff --git a/f b/f")
        doc = b"\n".join(lines)
        doc = doc if rng.random() < 0.2 else doc + b"\n"
        if _defined(doc):
            return doc


def test_random_streams_match_git() -> None:
    rng = random.Random(20240601)
    docs = [_random_doc(rng) for _ in range(400)]
    # one git process for all: each doc alone, then all docs in one stream
    stream = b"".join(
        b"commit %040x\n" % (i + 1) + d + (b"" if d.endswith(b"\n") else b"\n") for i, d in enumerate(docs)
    )
    assert list(patch_ids_stable(stream)) == git_patch_ids(stream)
    for d in docs[:60]:  # a few alone (no trailing newline matters there)
        assert list(patch_ids_stable(d)) == git_patch_ids(d), d


def test_sample_messages_match_git(sample_mbox: Path) -> None:
    with sample_mbox.open("rb") as fp:
        msgs = list(iter_mbox(fp))
    with_id = 0
    for m in msgs:
        ours = patch_id_stable(m)
        assert ours == git_first(m), m[:300]
        with_id += ours is not None
    assert with_id > 100  # sample.mbox is mostly patches


def _epoch_blobs(corpus_dir: Path, tmp_path: Path) -> list[bytes]:
    git_dir = tmp_path / "erofs.git"
    bundle = corpus_dir / "epochs" / "linux-erofs.lists.ozlabs.org.0.bundle"
    subprocess.run(["git", "clone", "-q", "--mirror", str(bundle), str(git_dir)], check=True)
    revs = subprocess.run(
        ["git", "-C", str(git_dir), "rev-list", "--reverse", "master"], capture_output=True, check=True
    ).stdout.split()
    out = subprocess.run(
        ["git", "-C", str(git_dir), "cat-file", "--batch"],
        input=b"".join(r + b":m\n" for r in revs),
        capture_output=True,
        check=True,
    ).stdout
    blobs = []
    pos = 0
    while pos < len(out):
        nl = out.index(b"\n", pos)
        size = int(out[pos:nl].split()[2])
        blobs.append(out[nl + 1 : nl + 1 + size])
        pos = nl + 1 + size + 1
    return blobs


def _stream(docs: list[bytes]) -> bytes:
    return b"".join(b"commit %040x\n" % (i + 1) + d + (b"" if d.endswith(b"\n") else b"\n") for i, d in enumerate(docs))


@pytest.mark.corpus
@pytest.mark.slow
def test_corpus_epoch_matches_git(corpus_dir: Path, tmp_path: Path) -> None:
    blobs = _epoch_blobs(corpus_dir, tmp_path)
    assert len(blobs) > 15000
    # whole messages, as `git patch-id --stable < message` sees them
    stream = _stream(blobs)
    theirs = git_patch_ids(stream)
    assert list(patch_ids_stable(stream)) == theirs
    assert len(theirs) > 5000
    # what public-inbox feeds git: the text of each part that looks like a diff
    texts = [
        s.encode("utf-8", "surrogatepass")
        for raw in blobs
        for p in iter_parts(raw)
        if (s := part_text(p)) and looks_like_diff(s)
    ]
    stream = _stream(texts)
    assert list(patch_ids_stable(stream)) == git_patch_ids(stream)
    # and a few hundred one process each (the trailing newline kept as is)
    for t in texts[:300]:
        assert patch_id_stable(t) == git_first(t)


def test_a_long_or_signed_second_count_is_read_as_git_reads_it() -> None:
    """git's scan_hunk_header takes the whole count after the comma with
    atoi (a 14-digit one wraps at 32 bits, a sign is read); the fast path
    once took only its first nine digits, or the digits before the comma."""
    for header in (b"@@ -1,3 +1,-99999999999999999999999 @@", b"@@ -1,3 +1,99999999999999 @@", b"@@ -1 +2,-1 @@"):
        data = b"diff --git a/f b/f\n--- a/f\n+++ b/f\n" + header + b"\n-a\n+b\n c\n--- a/f\n" + header + b"\n"
        assert patch_id_stable(data) == git_first(data), header
        assert list(patch_ids_stable(data)) == git_patch_ids(data), header
