"""series/marks: b4's change-id:/base-commit: lines found in any case and
on any line (the first too), the last one of each kept, none in a message
without them; the patch-id is git's (issue 13)."""

from __future__ import annotations

import subprocess

import pytest

from pubinbox.series.marks import marks_of, scan

PATCH = b"""From: A <a@example.com>
Subject: [PATCH 1/2] x: fix y

text

---
 a | 1 +
diff --git a/a b/a
index 1111111..2222222 100644
--- a/a
+++ b/a
@@ -1 +1,2 @@
 one
+two
--
2.40.0
"""


@pytest.mark.parametrize(
    ("raw", "cid", "base"),
    [
        (b"Change-ID: 20240101-x\n\nbody\n", "20240101-x", None),
        (b"Subject: x\n\nbody\nBASE-COMMIT: abcdef1\n", None, "abcdef1"),
        (b"Subject: x\n\nchange-id: one\nbase-commit: 1234567\nchange-id: two\n", "two", "1234567"),
        (b"Subject: x\n\nno change-id: here\nbase-commit: not-hex\n", None, None),
        (b"Subject: x\n\nbody\n", None, None),
    ],
)
def test_markers(raw: bytes, cid: str | None, base: str | None) -> None:
    m = scan(raw)
    assert (m.change_id, m.base_commit) == (cid, base)


def test_patch_id_is_gits_and_only_for_patch_subjects() -> None:
    want = subprocess.run(["git", "patch-id", "--stable"], input=PATCH, capture_output=True, check=True).stdout
    m = marks_of(PATCH, "[PATCH 1/2] x: fix y")
    assert m is not None and m.patchid == want.split()[0].decode()
    assert marks_of(PATCH, "Re: [PATCH 1/2] x: fix y") is None
    assert marks_of(PATCH, "x: fix y") is None
