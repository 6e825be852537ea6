"""``pubinbox mda`` as an MTA runs it: one real process per message, real
git and SQLite, the emergency Maildir in ``$PI_EMERGENCY``.

Exit statuses and what is kept: 0 delivered; 0 with the message kept in the
emergency ``new/`` for a precheck failure or an exact resend (``CONFLICT`` on
stderr); 65 for HTML-only mail; 67 for an unknown recipient; 75 (kept) when
the inbox is locked too long or broken; a bad config file fails on one line.
"""

from __future__ import annotations

import fcntl
import os
import random
import subprocess
import threading
import time
from pathlib import Path

import pytest

from pubinbox.deliver.mda import filter_reject
from pubinbox.mail.mbox import iter_mbox
from pubinbox.mail.parse import split_message, strip_from_line
from pubinbox.store.fastimport import blob_oid
from tests.helpers import inbox_cfg, init_inbox, make_msg, run_cli
from tests.store.inbox_check import (  # noqa: F401 - fast_subprocesses is a fixture
    check_consistent,
    check_reindex_matches,
    expected_blob,
    fast_subprocesses,
    header_mids,
)

pytestmark = pytest.mark.usefixtures("fast_subprocesses")

ADDR = "test@example.com"


class Box:
    """One configured inbox, its config file and emergency Maildir."""

    def __init__(self, tmp: Path, extra_config: str = "") -> None:
        self.tmp = tmp
        self.dir = init_inbox(tmp)
        self.config = Path(os.environ["HOME"]) / ".public-inbox" / "config"
        with self.config.open("a") as f:
            f.write("[publicinboxmda]\n\tspamcheck = none\n" + extra_config)
        self.em = tmp / "emergency"

    def mda(
        self, raw: bytes, *args: str, recipient: str | None = ADDR, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        e = {"PI_EMERGENCY": str(self.em)}
        if recipient is not None:
            e["ORIGINAL_RECIPIENT"] = recipient
        e.update(env or {})
        return run_cli("mda", *args, stdin=raw, env=e)

    def kept(self, sub: str = "new") -> list[bytes]:
        d = self.em / sub
        return sorted(p.read_bytes() for p in d.iterdir()) if d.is_dir() else []

    def stored(self) -> list[bytes]:
        return list(check_consistent(self.dir).blobs.values())


def _ok(p: subprocess.CompletedProcess[bytes]) -> str:
    err = p.stderr.decode(errors="replace")
    assert "Traceback" not in err, err
    return err


# ---------------------------------------------------------------------------


def test_delivered_exit_0_and_list_id_appended(tmp_path: Path) -> None:
    box = Box(tmp_path)
    raw = make_msg(1)
    p = box.mda(b"From alice@example.com Mon Jan  2 00:00:00 2023\n" + raw)
    assert p.returncode == 0, _ok(p)
    assert _ok(p) == ""
    (blob,) = box.stored()
    header, body = split_message(blob)
    assert header.endswith(b"\nList-Id: <test.example.com>\n"), header
    assert blob == expected_blob(raw, list_id_address=ADDR)
    assert body == split_message(raw)[1]
    assert box.kept("new") == [] and box.kept("tmp") == []  # no copy left once stored


def test_existing_list_id_is_kept(tmp_path: Path) -> None:
    box = Box(tmp_path)
    raw = make_msg(1).replace(b"Subject:", b"List-Id: Other <other.example.org>\nSubject:")
    assert box.mda(raw).returncode == 0
    (blob,) = box.stored()
    assert blob == raw  # nothing added: it has a List-Id already
    assert blob.count(b"List-Id:") == 1


@pytest.mark.parametrize(
    ("what", "raw"),
    [
        ("not addressed to the list", make_msg(1, to="someone@example.org")),
        ("no Date", b"\n".join(line for line in make_msg(1).split(b"\n") if not line.startswith(b"Date:"))),
        ("two Message-IDs", make_msg(1).replace(b"Subject:", b"Message-ID: <other@example.com>\nSubject:")),
        ("no Message-ID", make_msg(1, mid=False)),  # type: ignore[arg-type]
    ],
)
def test_precheck_failure_exit_0_kept_in_emergency(tmp_path: Path, what: str, raw: bytes) -> None:
    box = Box(tmp_path)
    p = box.mda(raw)
    assert p.returncode == 0, (what, _ok(p))
    _ok(p)
    assert box.kept("new") == [raw], what
    assert box.kept("tmp") == []
    assert box.stored() == [], what
    # --no-precheck (mirroring) takes it
    p = box.mda(raw, "--no-precheck")
    assert p.returncode == 0, _ok(p)
    assert len(box.stored()) == 1


def test_exact_resend_conflict(tmp_path: Path) -> None:
    box = Box(tmp_path)
    raw = make_msg(2)
    assert box.mda(raw).returncode == 0
    p = box.mda(raw)
    assert p.returncode == 0
    assert "CONFLICT: Message-ID: <m2@example.com> exists" in _ok(p)
    assert box.kept("new") == [raw]
    assert len(box.stored()) == 1
    # the same Message-ID with other content is stored, under a generated one
    other = make_msg(2, body="something else\n")
    p = box.mda(other)
    assert p.returncode == 0, _ok(p)
    assert "CONFLICT" not in _ok(p)
    stored = box.stored()
    assert len(stored) == 2
    assert sum(1 for b in stored if "m2@example.com" in header_mids(b)) == 2


def test_html_only_exit_65(tmp_path: Path, hard_dir: Path) -> None:
    box = Box(tmp_path)
    html = next((hard_dir / "html-only").glob("*.eml")).read_bytes()
    p = box.mda(html, "--no-precheck")
    assert p.returncode == 65, _ok(p)
    assert "plain-text" in _ok(p) and "HTML" in _ok(p)
    assert box.stored() == []
    assert box.kept("new") == [strip_from_line(html)]


def test_unknown_recipient_exit_67(tmp_path: Path) -> None:
    box = Box(tmp_path)
    p = box.mda(make_msg(1), recipient="nobody@example.com")
    assert p.returncode == 67, _ok(p)
    assert "nobody@example.com" in _ok(p)
    assert box.stored() == []
    assert box.kept("new") == [make_msg(1)]


def test_plus_detail_addresses(tmp_path: Path) -> None:
    box = Box(tmp_path)
    raw = make_msg(3, to="Test List <test+patches@example.com>")
    p = box.mda(raw, recipient="test+patches@example.com")
    assert p.returncode == 0, _ok(p)
    assert len(box.stored()) == 1 and box.kept("new") == []


def test_routing_by_list_id(tmp_path: Path) -> None:
    box = Box(tmp_path, '[publicinbox "test"]\n\tlistid = test.lists.example.com\n')
    raw = make_msg(4).replace(b"Subject:", b"List-Id: The test list <test.lists.example.com>\nSubject:")
    p = box.mda(raw, recipient=None)
    assert p.returncode == 0, _ok(p)
    (blob,) = box.stored()
    assert blob == raw
    # an unknown List-Id and no ORIGINAL_RECIPIENT: nobody
    raw2 = make_msg(5).replace(b"Subject:", b"List-Id: <other.lists.example.com>\nSubject:")
    p = box.mda(raw2, recipient=None)
    assert p.returncode == 67, _ok(p)
    assert box.kept("new") == [raw2]


def _lock_timeout_supported() -> bool:
    from pubinbox import config

    return "pubinbox.locktimeout" in config.SETTINGS


def test_lock_held_exit_75_and_kept(tmp_path: Path) -> None:
    """Another writer holds inbox.lock beyond the lock timeout: 75, message kept."""
    if not _lock_timeout_supported():
        pytest.fail("no way to shorten mda's 300 s lock timeout (want config pubinbox.locktimeout)")
    box = Box(tmp_path, "[pubinbox]\n\tlocktimeout = 1\n")
    fd = os.open(box.dir / "inbox.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        t0 = time.monotonic()
        p = box.mda(make_msg(1))
        took = time.monotonic() - t0
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    assert p.returncode == 75, _ok(p)
    err = _ok(p)
    assert "lock" in err and err.strip().count("\n") == 0, err
    assert 1.0 <= took < 30, took
    assert box.kept("new") == [make_msg(1)]
    assert box.stored() == []
    # the MTA retries once the lock is free
    assert box.mda(make_msg(1)).returncode == 0
    assert len(box.stored()) == 1


def test_broken_inbox_exit_75_and_kept(tmp_path: Path) -> None:
    box = Box(tmp_path)
    assert box.mda(make_msg(1)).returncode == 0
    objects = box.dir / "git" / "0.git" / "objects"
    saved = tmp_path / "objects.saved"
    objects.rename(saved)
    objects.write_bytes(b"not a directory\n")
    p = box.mda(make_msg(2))
    assert p.returncode == 75, _ok(p)
    assert _ok(p).strip() and _ok(p).strip().count("\n") == 0
    assert box.kept("new") == [make_msg(2)]
    # repaired: the retry goes through, nothing lost or doubled
    objects.unlink()
    saved.rename(objects)
    assert box.mda(make_msg(2)).returncode == 0
    assert len(box.stored()) == 2


def test_unwritable_msgmap_exit_75_and_kept(tmp_path: Path) -> None:
    """msgmap.sqlite3 replaced by a directory: a transient failure, not a crash."""
    box = Box(tmp_path)
    assert box.mda(make_msg(1)).returncode == 0
    mm = box.dir / "msgmap.sqlite3"
    mm.rename(tmp_path / "msgmap.saved")
    mm.mkdir()
    p = box.mda(make_msg(2))
    assert p.returncode == 75, _ok(p)
    assert box.kept("new") == [make_msg(2)]
    mm.rmdir()
    (tmp_path / "msgmap.saved").rename(mm)
    assert box.mda(make_msg(2)).returncode == 0
    assert len(box.stored()) == 2


def test_bad_config_one_line_and_kept(tmp_path: Path) -> None:
    box = Box(tmp_path)
    box.config.write_text('[publicinbox "test"\n\tinboxdir = \n')  # unparsable
    p = box.mda(make_msg(1))
    assert p.returncode != 0
    err = _ok(p)
    assert err.strip() and err.strip().count("\n") == 0, err
    assert box.kept("new") == [make_msg(1)]


# ---------------------------------------------------------------------------
# eight deliveries at once


def _sample_ok(sample_mbox: Path, n: int) -> list[bytes]:
    ibx = inbox_cfg(Path("/nonexistent"))
    with sample_mbox.open("rb") as f:
        msgs = [m for m in iter_mbox(f) if filter_reject(strip_from_line(m), ibx) is None]
    assert len(msgs) >= n
    return msgs[:n]


def _parallel(tmp_path: Path, msgs: list[bytes], workers: int, dup_per_worker: int, seed: int) -> None:
    box = Box(tmp_path)
    rng = random.Random(seed)
    slices = [msgs[i::workers] for i in range(workers)]
    plan: list[list[bytes]] = []
    for i, sl in enumerate(slices):
        extra = [rng.choice(slices[(i + 1 + k) % workers]) for k in range(dup_per_worker)]
        mine = sl + extra
        rng.shuffle(mine)
        plan.append(mine)
    results: list[list[tuple[int, str]]] = [[] for _ in range(workers)]
    env = {"PI_EMERGENCY": str(box.em), "ORIGINAL_RECIPIENT": ADDR}

    def work(i: int) -> None:
        for raw in plan[i]:
            p = run_cli("mda", "--no-precheck", stdin=raw, env=env)
            results[i].append((p.returncode, p.stderr.decode(errors="replace")))

    t0 = time.monotonic()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - t0
    flat = [r for rs in results for r in rs]
    assert all(rc == 0 for rc, _ in flat), [r for r in flat if r[0] != 0][:3]
    assert not any("Traceback" in e for _, e in flat)
    conflicts = sum(1 for _, e in flat if "CONFLICT" in e)
    st = check_consistent(box.dir)
    want = {blob_oid(expected_blob(m, list_id_address=ADDR)) for m in msgs}
    have = [s.blob for s in st.stored]
    assert set(have) == want and len(have) == len(msgs)
    # every duplicate delivery was reported (and kept); numbers 1..N, no gaps
    assert conflicts == len(flat) - len(msgs), (conflicts, len(flat), len(msgs))
    assert len(box.kept("new")) == conflicts
    assert sorted(st.msgmap) == list(range(1, len(msgs) + 1))
    check_reindex_matches(box.dir, tmp_path)
    print(
        f"\n{workers} parallel mda: {len(flat)} deliveries of {len(msgs)} messages "
        f"({conflicts} duplicates) in {took:.1f}s"
    )


def test_eight_parallel_mda(tmp_path: Path, sample_mbox: Path) -> None:
    _parallel(tmp_path, _sample_ok(sample_mbox, 32), workers=8, dup_per_worker=1, seed=8)


@pytest.mark.corpus
@pytest.mark.slow
def test_eight_parallel_mda_120(tmp_path: Path, sample_mbox: Path) -> None:
    _parallel(tmp_path, _sample_ok(sample_mbox, 120), workers=8, dup_per_worker=3, seed=120)


# ---------------------------------------------------------------------------
# the one stderr line (the exit-code table itself is tests/hostile/test_mda_exit.py)


def test_one_line_condenses_held_stderr() -> None:
    from pubinbox.cli.mda import MAX_LINE, one_line

    held = (
        "pubinbox: search index not updated (io error)\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        "    boom()\n"
        "ValueError: boom\n"
        "\n"
        "fatal: sha1 file 'x' write error. Out of diskspace\n"
        "pubinbox: search index not updated (io error)\n"
    )
    line = one_line("git fast-import exited with status 128", held)
    assert line == (
        "git fast-import exited with status 128 [search index not updated (io error); "
        "ValueError: boom; fatal: sha1 file 'x' write error. Out of diskspace]"
    )
    assert one_line("", "") == ""
    assert one_line("", "pubinbox: spamc not found\n") == "spamc not found"
    assert len(one_line("x" * 5000, "")) == MAX_LINE


def test_missing_config_is_75_and_kept(tmp_path: Path) -> None:
    """A config file that is not there is a local mistake, never "no such user"."""
    box = Box(tmp_path)
    p = box.mda(make_msg(1), env={"PI_CONFIG": str(tmp_path / "nowhere")})
    assert p.returncode == 75, _ok(p)
    assert "no config file" in _ok(p) and _ok(p).count("\n") == 1
    assert box.kept("new") == [make_msg(1)]
    assert box.stored() == []


def test_empty_message_65_with_no_precheck(tmp_path: Path) -> None:
    box = Box(tmp_path)
    p = box.mda(b"From MAILER-DAEMON Mon Jan  2 00:00:00 2023\n\n", "--no-precheck")
    assert p.returncode == 65, _ok(p)
    assert "empty message" in _ok(p)
    assert box.stored() == []
    assert box.kept("new") == [b"\n"] and box.kept("tmp") == []
