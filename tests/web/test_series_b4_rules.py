"""Three rules of ``b4 am`` found on linux-erofs (issue 12), on a small
inbox made for them and checked against real b4 (from the venv) run on a
live ``pubinbox serve``: the series mbox is byte for byte b4's.

- A reply whose References list the patch before the cover letter counts
  for the patch its In-Reply-To names, not for the cover letter (so not for
  every patch).
- A partial reroll without a cover letter takes the one of the revision
  before, with the trailers it was given.
- The same patch (same patch-id) in another thread, right below a cover
  letter that was acked: the ack counts for it (b4's code-review search).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.live import LiveServer, live_server
from tests.web.conftest import fetch
from tests.web.test_series_b4 import b4_am

ANN = "Ann Author <ann@example.org>"
ROB = "Rob Reviewer <rob@example.org>"
MIA = "Mia Maintainer <mia@example.org>"
TOM = "Tom Tester <tom@example.org>"


def _diff(n: int) -> str:
    return (
        f"---\n f{n}.c | 1 +\n 1 file changed, 1 insertion(+)\n\n"
        f"diff --git a/f{n}.c b/f{n}.c\nindex 1111111..222222{n} 100644\n--- a/f{n}.c\n+++ b/f{n}.c\n"
        f"@@ -1 +1,2 @@\n a\n+line {n}\n"
    )


def _cover(title: str) -> str:
    return f"The {title}.\n\nAnn Author (2):\n  one\n  two\n\n f1.c | 1 +\n f2.c | 1 +\n 2 files changed, 2 insertions(+)\n"


def _msg(mid: str, frm: str, subject: str, body: str, minute: int, irt: str | None = None,
         refs: list[str] | None = None) -> str:  # fmt: skip
    head = f"From: {frm}\nTo: list@example.org\nSubject: {subject}\nDate: Mon, 2 Mar 2026 10:{minute:02d}:00 +0000\n"
    head += f"Message-ID: <{mid}>\n"
    if irt:
        head += f"In-Reply-To: <{irt}>\nReferences: {' '.join(f'<{m}>' for m in (refs or [irt]))}\n"
    return f"From mboxrd@z Thu Jan  1 00:00:00 1970\n{head}\n{body}\n"


def _patch(n: int, d: int) -> str:
    return f"Change {n}.\n\nSigned-off-by: {ANN}\n" + _diff(d)


MSGS = [
    # thread A: v1 (cover + 2), a review whose References put the patch first,
    # an ack of the cover letter, then a v2 that re-sends patch 2 only
    _msg("c1@example.org", ANN, "[PATCH 0/2] feature", _cover("feature"), 1),
    _msg("a1@example.org", ANN, "[PATCH 1/2] one", _patch(1, 1), 2, "c1@example.org"),
    _msg("a2@example.org", ANN, "[PATCH 2/2] two", _patch(2, 2), 3, "c1@example.org"),
    _msg(
        "r1@example.org",
        ROB,
        "Re: [PATCH 2/2] two",
        f"> +line 2\n\nReviewed-by: {ROB}\n",
        4,
        "a2@example.org",
        ["a2@example.org", "c1@example.org"],
    ),
    _msg("r0@example.org", MIA, "Re: [PATCH 0/2] feature", f"For the series:\nAcked-by: {MIA}\n", 5, "c1@example.org"),
    _msg(
        "v2p2@example.org",
        ANN,
        "[PATCH v2 2/2] two",
        _patch(2, 3),
        6,
        "a2@example.org",
        ["c1@example.org", "a2@example.org"],
    ),
    # thread B: v3, its own thread, patch 1 unchanged; its cover acked
    _msg("c3@example.org", ANN, "[PATCH v3 0/2] feature", _cover("feature, v3"), 10),
    _msg("d1@example.org", ANN, "[PATCH v3 1/2] one", _patch(1, 1), 11, "c3@example.org"),
    _msg("d2@example.org", ANN, "[PATCH v3 2/2] two", _patch(2, 3), 12, "c3@example.org"),
    _msg("r3@example.org", TOM, "Re: [PATCH v3 0/2] feature", f"Acked-by: {TOM}\n", 13, "c3@example.org"),
]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("b4-rules")
    cfg = tmp / "config"
    env = {"PI_CONFIG": str(cfg)}
    d = tmp / "rules"
    run_cli("init", "-L", "full", "rules", str(d), "http://127.0.0.1/rules/", "list@example.org", env=env, check=True)
    (tmp / "in.mbox").write_text("".join(MSGS))
    run_cli("import", str(d), str(tmp / "in.mbox"), env=env, check=True)
    with live_server(cfg, "rules", kind="pubinbox") as s:
        yield s


def _patches(mbox: bytes) -> list[str]:
    return [p for p in re.split(r"^From git@z .*\n", mbox.decode(), flags=re.MULTILINE) if p]


@pytest.mark.parametrize(
    ("sid", "version"), [("c1@example.org", 1), ("v2p2@example.org", 2), ("c3@example.org", 3)], ids=["v1", "v2", "v3"]
)
def test_mbox_is_b4_am(srv: LiveServer, tmp_path: Path, sid: str, version: int) -> None:
    ours = fetch(f"{srv.base}series/{sid}/mbox")
    assert ours.status == 200
    theirs = b4_am(srv, tmp_path, "-v", str(version), sid)
    assert ours.body == theirs, (
        subprocess.list2cmdline(["diff"]) + "\n" + ours.body.decode() + "\n---\n" + theirs.decode()
    )
    got = _patches(ours.body)
    assert len(got) == 2
    if version == 1:
        # Rob reviewed patch 2 only (In-Reply-To), Mia acked the cover, Tom acked v3's cover
        # (patch 1 is the same there)
        assert f"Reviewed-by: {ROB}" not in got[0] and f"Reviewed-by: {ROB}" in got[1]
        assert all(f"Acked-by: {MIA}" in p for p in got)
        assert f"Acked-by: {TOM}" in got[0] and f"Acked-by: {TOM}" not in got[1]
    elif version == 2:
        # patch 1 taken from v1, and v1's cover letter with Mia's ack
        assert "[PATCH v2 1/2]" in got[0] and all(f"Acked-by: {MIA}" in p for p in got)
