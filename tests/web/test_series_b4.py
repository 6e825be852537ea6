"""``/$INBOX/series/$ID/mbox`` against ``b4 am -o -`` run on a live
``pubinbox serve`` of the sample archive: for real series of linux-erofs,
every patch carries the same trailers in the same order (the patch's own,
then those of the replies, then those given to the same patch elsewhere),
except for the differences documented below (issue 12)."""

from __future__ import annotations

import email
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest

from tests.live import LiveServer, clean_env, live_server
from tests.web.conftest import Archive, fetch

B4 = Path(sys.executable).parent / "b4"
#: series compared (the newest complete ones of the sample: 51)
COUNT = 50
_TRAILER = re.compile(
    r"^(Reviewed-by|Acked-by|Tested-by|Reported-by|Suggested-by|Co-developed-by|Signed-off-by|Fixes|Link|Closes|Cc): ",
    re.IGNORECASE,
)
#: series id -> why b4's answer differs from ours
DIFFERENCES = {
    "20260707132152.1176967-1-hsiangkao@linux.alibaba.com": (
        "a Tested-by given to the same patch re-sent as v2 in the same thread: we carry it to v1 too, "
        "b4 am -v 1 carries trailers only forward"
    ),
    "20260629121750.3392300-2-hch@lst.de": "b4 rewrites the patch's own 'Cc: <stable@vger.kernel.org>' without <>",
    "20260624133732.18218-1-hudson@cyzhu.com": (
        "v1 sent twice in one thread with a patch renamed in between (b4 warns 'duplicate messages'): "
        "b4 takes 1/2 from the first sending, we take the later one"
    ),
}


@pytest.fixture(scope="module")
def srv(sample_archive: Archive) -> Iterator[LiveServer]:
    with live_server(sample_archive.config, "sample", kind="pubinbox") as s:
        yield s


def _split(mbox: bytes) -> list[bytes]:
    parts = re.split(rb"^From [^\n]*\n", mbox, flags=re.MULTILINE)
    return [re.sub(rb"^>(>*From )", rb"\1", p, flags=re.MULTILINE) for p in parts if p.strip()]


def _trailers(mbox: bytes, skip_link: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for raw in _split(mbox):
        m = email.message_from_bytes(raw, policy=policy.default)
        body = m.get_body(("plain",))
        text = body.get_content() if body is not None else ""  # type: ignore[attr-defined]
        text = text.split("\n---\n", 1)[0]
        mid = str(m["Message-ID"]).strip().strip("<>")
        out[mid] = [ln for ln in text.splitlines() if _TRAILER.match(ln) and not ln.startswith(skip_link)]
    return out


def test_series_mbox_matches_b4_am(srv: LiveServer, sample_archive: Archive, tmp_path: Path) -> None:
    db = sqlite3.connect(sample_archive.inboxdir / "pubinbox" / "series.sqlite3")
    try:
        series = db.execute(
            "SELECT id, version FROM series WHERE present = total ORDER BY ts DESC LIMIT ?", (COUNT,)
        ).fetchall()
    finally:
        db.close()
    assert len(series) == COUNT
    home = tmp_path / "home"
    env = clean_env(home, XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    (home / ".gitconfig").write_text(
        "[user]\n\tname = T\n\temail = t@example.org\n"
        f"[b4]\n\tmidmask = {srv.base}%s\n\tlinkmask = {srv.base}%s/\n\tattestation-policy = off\n"
    )
    same, differ, with_reviews = [], {}, 0
    for sid, version in series:
        ours = _trailers(fetch(f"{srv.base}series/{sid}/mbox").body, f"Link: {srv.base}")
        p = subprocess.run(
            [str(B4), "-n", "--no-stdin", "am", "-v", str(version), "-o", "-", sid],
            cwd=tmp_path, env=env, capture_output=True, timeout=120, check=False,
        )  # fmt: skip
        assert p.returncode == 0, p.stderr.decode()[-2000:]
        theirs = _trailers(p.stdout, f"Link: {srv.base}")
        assert ours, sid
        if ours == theirs:
            same.append(sid)
            with_reviews += b"    + " in p.stderr
        else:
            differ[sid] = (ours, theirs)
    undocumented = {k: v for k, v in differ.items() if k not in DIFFERENCES}
    assert not undocumented, undocumented
    assert len(same) >= COUNT - len(DIFFERENCES)
    print(f"{len(same)} series equal, {with_reviews} with trailers from replies; documented: {sorted(differ)}")
    assert with_reviews >= 8  # series where b4 added trailers from replies, and so did we
