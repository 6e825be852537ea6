"""The "reviewed" state of a series (issue 12): counted by the series sync
from the ``Reviewed-by``/``Acked-by`` trailers ingest took from the bytes
(a patch's own, a reply's naming its sender, the cover letter's for every
patch), never from the author, a quoted line or a trailer naming someone
else than the sender; kept current as replies arrive (incremental sync),
the same after ``index --reindex``; served as ``state=reviewed`` on
``/$INBOX/series/``, on the list and series pages and in the API."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from pubinbox.series.store import series_db
from pubinbox.store.layout import Layout
from tests.helpers import run_cli
from tests.live import live_server
from tests.web.conftest import fetch

AUTHOR = "Ann Author <ann@example.org>"
REV = "Rob Reviewer <rob@example.org>"
ACK = "Mia Maintainer <mia@example.org>"
DIFF = """---
 f.c | 1 +
 1 file changed, 1 insertion(+)

diff --git a/f.c b/f.c
index 1111111..2222222 100644
--- a/f.c
+++ b/f.c
@@ -1 +1,2 @@
 a
+{n}
"""


def _msg(mid: str, frm: str, subject: str, body: str, date: int, irt: list[str] | None = None) -> str:
    refs = ""
    if irt:
        refs = f"In-Reply-To: <{irt[-1]}>\nReferences: {' '.join(f'<{m}>' for m in irt)}\n"
    d = f"Mon, 2 Mar 2026 10:{date:02d}:00 +0000"
    return (
        f"From x@y Mon Mar  2 10:00:00 2026\nFrom: {frm}\nTo: list@example.org\nSubject: {subject}\n"
        f"Date: {d}\nMessage-ID: <{mid}>\n{refs}\n{body}\n"
    )


def _patch(n: int, extra: str = "") -> str:
    return f"Change {n}.\n\nSigned-off-by: {AUTHOR}\n{extra}" + DIFF.format(n=n)


COVER = "c0@example.org"
P1, P2 = "p1@example.org", "p2@example.org"
SERIES = [
    _msg(COVER, AUTHOR, "[PATCH 0/2] two changes", "Two changes.\n\n f.c | 2 ++\n", 1),
    _msg(P1, AUTHOR, "[PATCH 1/2] one", _patch(1), 2, [COVER]),
    _msg(P2, AUTHOR, "[PATCH 2/2] two", _patch(2), 3, [COVER]),
]
#: none of these counts: the author's own ack, a quoted one, one naming
#: someone else than the sender
NOISE = [
    _msg("n1@example.org", AUTHOR, "Re: [PATCH 1/2] one", f"Acked-by: {AUTHOR}\n", 4, [COVER, P1]),
    _msg("n2@example.org", REV, "Re: [PATCH 2/2] two", f"> Reviewed-by: {ACK}\n\nok\n", 5, [COVER, P2]),
    _msg("n3@example.org", REV, "Re: [PATCH 2/2] two", f"Reviewed-by: {ACK}\n", 6, [COVER, P2]),
]
REVIEW_P1 = _msg("r1@example.org", REV, "Re: [PATCH 1/2] one", f"Looks good.\n\nReviewed-by: {REV}\n", 7, [COVER, P1])
ACK_COVER = _msg(
    "a0@example.org", ACK, "Re: [PATCH 0/2] two changes", f"For the series:\nAcked-by: {ACK}\n", 8, [COVER]
)
#: a v2 whose patches carry the reviews in their own trailers
V2 = [
    _msg("v2p1@example.org", AUTHOR, "[PATCH v2 1/2] one", _patch(1, f"Reviewed-by: {REV}\n"), 20),
    _msg("v2p2@example.org", AUTHOR, "[PATCH v2 2/2] two", _patch(2, f"Acked-by: {ACK}\n"), 21, ["v2p1@example.org"]),
]


def _import(d: Path, env: dict[str, str], tmp: Path, msgs: list[str]) -> None:
    f = tmp / "in.mbox"
    f.write_text("".join(msgs))
    run_cli("import", str(d), str(f), env=env, check=True)


def _reviewed(d: Path) -> dict[str, tuple[int, int]]:
    db = sqlite3.connect(series_db(Layout(d)))
    try:
        return {str(i): (int(p), int(r)) for i, p, r in db.execute("SELECT id, present, reviewed FROM series")}
    finally:
        db.close()


def test_reviewed_counted_as_replies_arrive_and_served(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    env = {"PI_CONFIG": str(cfg)}
    d = tmp_path / "rv"
    run_cli("init", "-L", "basic", "rv", str(d), "http://example.com/rv/", "list@example.org", env=env, check=True)
    _import(d, env, tmp_path, SERIES)
    assert _reviewed(d) == {COVER: (2, 0)}
    _import(d, env, tmp_path, NOISE)
    assert _reviewed(d) == {COVER: (2, 0)}
    _import(d, env, tmp_path, [REVIEW_P1])  # a reply to an old patch: incremental
    assert _reviewed(d) == {COVER: (2, 1)}
    _import(d, env, tmp_path, [ACK_COVER])  # the cover letter's ack counts for both
    assert _reviewed(d) == {COVER: (2, 2)}
    _import(d, env, tmp_path, V2)
    got = _reviewed(d)
    assert got == {COVER: (2, 2), "v2p1@example.org": (2, 2)}
    run_cli("index", "--reindex", str(d), env=env, check=True)
    assert _reviewed(d) == got

    with live_server(cfg, "rv", kind="pubinbox") as srv:
        page = fetch(f"{srv.base}series/?state=reviewed")
        assert page.status == 200
        text = page.body.decode()
        assert "two changes" in text and "2/2, reviewed" in text
        detail = fetch(f"{srv.base}series/{COVER}/").body.decode()
        assert "all reviewed" in detail
        api = json.loads(fetch(f"{srv.origin}/api/v1/inboxes/rv/series?state=reviewed").body)
        assert sorted(s["id"] for s in api["results"]) == sorted(got)
        assert all(s["reviewed"] == 2 and s["all_reviewed"] for s in api["results"])
        assert fetch(f"{srv.base}series/?state=reviewd").status == 400


def test_partly_reviewed_is_not_reviewed(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    env = {"PI_CONFIG": str(cfg)}
    d = tmp_path / "rv"
    run_cli("init", "-L", "basic", "rv", str(d), "http://example.com/rv/", "list@example.org", env=env, check=True)
    _import(d, env, tmp_path, [*SERIES, REVIEW_P1])
    assert _reviewed(d) == {COVER: (2, 1)}
    with live_server(cfg, "rv", kind="pubinbox") as srv:
        assert "No patch series match" in fetch(f"{srv.base}series/?state=reviewed").body.decode()
        assert "2/2, 1 reviewed" in fetch(f"{srv.base}series/").body.decode()
        api = json.loads(fetch(f"{srv.origin}/api/v1/inboxes/rv/series").body)
        assert [(s["reviewed"], s["all_reviewed"]) for s in api["results"]] == [(1, False)]
