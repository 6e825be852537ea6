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


REPLY = b"""From: R <r@example.com>
Subject: Re: [PATCH 1/2] x: fix y

> Reviewed-by: Quoted <q@example.com>
> +two

Looks good.
Reviewed-by: R <r@example.com>
  acked-by:   M <m@example.com>  \r
Tested-by: T <t@example.com>
--
sig: Reviewed-by: Sig <s@example.com>
-- 
Reviewed-by: Below <b@example.com>
"""


def test_review_trailers_of_a_reply_and_of_a_patch() -> None:
    """A reply's own unquoted Reviewed-by/Acked-by lines above its
    signature (not Tested-by, not quoted ones); a patch's above its ---."""
    m = marks_of(REPLY, "Re: [PATCH 1/2] x: fix y")
    assert m is not None and (m.patchid, m.change_id, m.base_commit) == (None, None, None)
    assert m.reviews == "Reviewed-by\tR <r@example.com>\nAcked-by\tM <m@example.com>"
    assert marks_of(b"Subject: Re: x\n\nThanks, applied.\n", "Re: x") is None
    own = PATCH.replace(b"text\n", b"text\n\nAcked-by: M <m@example.com>\n")
    got = marks_of(own + b"Reviewed-by: After <a@example.com>\n", "[PATCH 1/2] x: fix y")
    assert got is not None and got.patchid is not None and got.reviews == "Acked-by\tM <m@example.com>"
    assert scan(PATCH).reviews is None
