"""Pack upkeep on real git repos: a writer that leaves more than
PACK_LIMIT packs (fast-import writes one per checkpoint) rolls them up when
it finishes, every message stays readable, and the .keep files a killed
fast-import leaves are removed when the next writer starts (issue 13)."""

from __future__ import annotations

from pathlib import Path

from pubinbox.ingest.writer import InboxWriter
from pubinbox.store.layout import Layout
from pubinbox.store.packs import PACK_LIMIT, pack_count
from tests.helpers import epoch_log, git, inbox_cfg, make_msg


def test_writer_rolls_up_packs_and_drops_stale_keeps(tmp_path: Path) -> None:
    ibx = inbox_cfg(tmp_path)
    (tmp_path / "test").mkdir()
    lay = Layout(ibx.inboxdir)
    lay.git_dir.mkdir()
    # fast-import explodes a pack of fewer than 100 objects (3 per message)
    per = 40
    n = (PACK_LIMIT + 4) * per
    w = InboxWriter(ibx, checkpoint_every=per).open()
    for i in range(n):
        w.add(make_msg(i))
    assert pack_count(lay.epoch(0)) > PACK_LIMIT  # one per checkpoint so far
    w.close()
    assert pack_count(lay.epoch(0)) <= PACK_LIMIT // 2
    assert len(epoch_log(lay.epoch(0))) == n
    assert git(lay.epoch(0), "fsck", "--no-progress", "--connectivity-only") == ""
    # a killed fast-import's .keep (its content is "fast-import"); git's own
    # keeps (anything else) are left alone
    pack = next((lay.epoch(0) / "objects" / "pack").glob("*.pack"))
    stale = pack.with_suffix(".keep")
    stale.write_bytes(b"fast-import\n")
    other = pack.with_name("pack-0000.keep")
    other.write_bytes(b"receive-pack 123 on host\n")
    with InboxWriter(ibx) as w2:
        w2.add(make_msg(n))
    assert not stale.exists() and other.exists()
    assert len(epoch_log(lay.epoch(0))) == n + 1
