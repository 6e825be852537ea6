"""The ``pubinbox mda`` exit-code table on real full disks and broken configs.

An MTA acts on nothing but the exit status: 0 = delivered (the MTA forgets
the message), 75 = try again later, 65/67 = bounce to the sender.  So each
status must tell the truth:

- 0 once the message is durable in git, even if a later step (msgmap, the
  overview, the search index) fails: those are repaired from git by the next
  writer or ``pubinbox index``, and a 75 would make the MTA deliver it twice;
- 75 for every local or transient problem: a full disk, a git ref update
  that did not happen, a missing, unreadable or broken config file (a local
  mistake must never bounce a list's mail);
- 65/67 only for what the message itself or its recipient decides (an empty
  message is not mail: 65, as ``pubinbox import`` rejects it).

stderr is at most one line and never a traceback; the emergency Maildir holds
a complete copy of every message not stored (or nothing when its own disk is
full): never a partial file, never anything left in ``tmp/``.

Each row of :data:`TABLE` runs the real ``pubinbox mda`` against a real inbox
on its own small tmpfs (and an emergency Maildir on another), made full at
the moment the row names; "after git" rows fill the disk from git's
``reference-transaction`` hook once the ref update is committed, that is
exactly when the message has become durable.  Then the disks are emptied and
the MTA's retry (or the next message) must go through, leaving git, msgmap
and the overview consistent.

For the record, Debian's public-inbox-mda 1.9 on the same rows (checked by
hand): inbox full -> never exits (msgmap fails, it retries random
Message-IDs forever, 1 GB of stderr in 13 min); fills during the git write
-> 0 with the message only in the emergency Maildir; ref refused -> 2, not
stored, no emergency copy; full right after git -> 28 (errno) although
stored; emergency full -> 28 with a 0-byte or partial file left in tmp/;
config missing -> 67; config a directory or broken -> 128; empty message
with --no-precheck -> 0, stored under a random Message-ID.
"""

from __future__ import annotations

import base64
import os
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import make_msg
from tests.hostile.mda_fixtures import ADDR, Site, Tmpfs, mounted
from tests.store.inbox_check import check_consistent, expected_blob

K = 1024


@dataclass(frozen=True, slots=True)
class Row:
    """One delivery: the state of the world, then what must come out."""

    name: str
    # -- the world before the delivery
    inbox: str = "room"  # room | full | "<N>K" free
    emergency: str = "room"  # room | full | "<N>K" free
    after_git: tuple[str, ...] = ()  # disks filled the moment git commits the ref
    ref: str = "ok"  # ok | refused (a reference-transaction hook rejects the update)
    config: str = "ok"  # ok | missing | directory | syntax | mode000 | unsearchable | spamc (spamc not installed)
    msg: str = "small"  # small | big (~400 KB, incompressible) | empty | blank
    args: tuple[str, ...] = ()
    modes: bool = False  # run mda without CAP_DAC_OVERRIDE: file modes bind even root
    # -- what must hold afterwards
    status: int = 0
    in_git: bool = False  # the message is the epoch's newest commit
    kept: int = 0  # complete copies of the message in emergency new/ (tmp/ is always empty)
    says: str = ""  # the one stderr line contains this (case-insensitive)


TABLE: list[Row] = [
    Row("room everywhere", status=0, in_git=True, kept=0),
    # -- the inbox's disk is full; the emergency Maildir has room
    Row("inbox full", inbox="full", status=75, in_git=False, kept=1),
    Row("inbox fills during the git write", inbox="192K", msg="big", status=75, in_git=False, kept=1),
    Row("git ref update refused", ref="refused", status=75, in_git=False, kept=1, says="git"),
    # -- git has the commit, then the disk is full for msgmap / overview / search
    Row("inbox full right after git", after_git=("inbox",), status=0, in_git=True, kept=0, says="index"),
    Row(
        "both full right after git",
        after_git=("inbox", "emergency"),
        status=0,
        in_git=True,
        kept=0,
        says="index",
    ),
    # -- the emergency Maildir cannot take a copy: nothing is touched, the MTA keeps it
    Row("both full", inbox="full", emergency="full", status=75, in_git=False, kept=0, says="emergency"),
    Row("emergency full only", emergency="full", status=75, in_git=False, kept=0, says="emergency"),
    Row("emergency has room for half", emergency="64K", msg="big", status=75, in_git=False, kept=0, says="emergency"),
    # -- a local mistake in the config: never a bounce
    Row("config missing", config="missing", status=75, in_git=False, kept=1, says="config"),
    Row("config is a directory", config="directory", status=75, in_git=False, kept=1, says="config"),
    Row("config syntax error", config="syntax", status=75, in_git=False, kept=1, says="config"),
    Row("config mode 000", config="mode000", modes=True, status=75, in_git=False, kept=1, says="config"),
    Row("config dir mode 000", config="unsearchable", modes=True, status=75, in_git=False, kept=1, says="config"),
    Row("spamcheck=spamc, no spamc", config="spamc", status=75, in_git=False, kept=1, says="spamc"),
    # -- the message's own fault
    Row("empty, --no-precheck", msg="empty", args=("--no-precheck",), status=65, kept=1, says="empty"),
    Row("blank lines, --no-precheck", msg="blank", args=("--no-precheck",), status=65, kept=1, says="empty"),
    Row("empty, prechecks on", msg="empty", status=0, in_git=False, kept=1),  # as public-inbox: dropped, kept
]


def big_message(n: int) -> bytes:
    """~400 KB that zlib cannot shrink (under the 500 KiB precheck limit)."""
    data = base64.encodebytes(random.Random(n).randbytes(300 * K)).decode()
    return make_msg(n, body=data)


def message(kind: str, n: int) -> bytes:
    if kind == "small":
        return make_msg(n)
    if kind == "big":
        return big_message(n)
    return {"empty": b"", "blank": b"\n\n\n"}[kind]


def free_space(kind: str) -> int | None:
    if kind == "room":
        return None
    if kind == "full":
        return 0
    assert kind.endswith("K"), kind
    return int(kind[:-1]) * K


@pytest.fixture
def disks(tmp_path: Path) -> Iterator[tuple[Tmpfs, Tmpfs]]:
    """The inbox's disk (4 MiB) and the emergency Maildir's (2 MiB)."""
    with mounted(tmp_path / "inbox-disk", 4 * K * K) as a, mounted(tmp_path / "emergency-disk", 2 * K * K) as b:
        yield a, b


def _fill_hook(disks: list[Tmpfs]) -> str:
    fills = "".join(f"  dd if=/dev/zero of={d.path}/.fill-hook bs=4096 2>/dev/null\n" for d in disks)
    return f'cat >/dev/null\nif [ "$1" = committed ]; then\n{fills}fi\nexit 0\n'


def _break_config(site: Site, row: Row, tmp: Path) -> dict[str, str]:
    """Apply the row's config damage; returns extra environment for mda."""
    good = site.config.read_bytes()
    env: dict[str, str] = {}
    if row.config == "missing":
        env["PI_CONFIG"] = str(tmp / "no-such-config")
    elif row.config == "directory":
        d = tmp / "config-dir"
        d.mkdir()
        env["PI_CONFIG"] = str(d)
    elif row.config == "syntax":
        bad = tmp / "bad-config"
        bad.write_bytes(good + b'[publicinbox "test"\n')
        env["PI_CONFIG"] = str(bad)
    elif row.config == "mode000":
        f = tmp / "config-000"
        f.write_bytes(good)
        f.chmod(0)
        env["PI_CONFIG"] = str(f)
    elif row.config == "spamc":  # the default spam check, on a machine without spamc
        cfg = tmp / "spamc-config"
        cfg.write_bytes(good.replace(b"spamcheck = none", b"spamcheck = spamc"))
        path = tmp / "bin"
        path.mkdir()
        git = shutil.which("git")
        assert git is not None
        (path / "git").symlink_to(git)
        env["PI_CONFIG"] = str(cfg)
        env["PATH"] = str(path)
    elif row.config == "unsearchable":
        d = tmp / "locked"
        d.mkdir()
        (d / "config").write_bytes(good)
        d.chmod(0)
        env["PI_CONFIG"] = str(d / "config")
    return env


def _one_line(err: bytes, row: Row) -> str:
    text = err.decode(errors="replace")
    assert "Traceback" not in text, f"{row.name}: traceback on stderr:\n{text}"
    lines = text.splitlines()
    assert len(lines) <= 1, f"{row.name}: {len(lines)} lines on stderr:\n{text}"
    if row.status != 0:
        assert lines and lines[0].strip(), f"{row.name}: exit {row.status} without a reason on stderr"
    if row.says:
        assert row.says.lower() in text.lower(), f"{row.name}: stderr {text!r} does not mention {row.says!r}"
    return text


@pytest.mark.parametrize("row", TABLE, ids=[r.name for r in TABLE])
def test_mda_exit_table(row: Row, disks: tuple[Tmpfs, Tmpfs], tmp_path: Path, _scrub_env: Path) -> None:
    inbox_disk, em_disk = disks
    site = Site(inbox_disk, em_disk, _scrub_env)
    # a live inbox: one message already delivered with room everywhere
    assert site.mda(make_msg(1)).returncode == 0
    before = site.commits()
    assert len(before) == 1

    raw = message(row.msg, 2)
    env = _break_config(site, row, tmp_path)
    if row.ref == "refused":
        site.hook('cat >/dev/null\n[ "$1" = prepared ] && exit 1\nexit 0\n')
    if row.after_git:
        site.hook(_fill_hook([{"inbox": inbox_disk, "emergency": em_disk}[d] for d in row.after_git]))
    for disk, kind in ((inbox_disk, row.inbox), (em_disk, row.emergency)):
        leave = free_space(kind)
        if leave is not None:
            disk.fill(leave)

    p = site.mda(raw, *row.args, env=env, modes=row.modes)

    # -- the row: exit status, git, emergency Maildir, stderr
    got = (p.returncode, site.commits() != before, len(site.kept("new")))
    assert got == (row.status, row.in_git, row.kept), f"{row.name}: (status, in git, kept) = {got}; stderr {p.stderr!r}"
    err = _one_line(p.stderr, row)
    print(f"\n{row.name}: exit {p.returncode}, in git {got[1]}, kept {got[2]}: {err.strip()}")
    if row.in_git:
        assert len(site.commits()) == 2
        assert site.newest_blob() == expected_blob(raw, list_id_address=ADDR)
    if row.kept:
        assert site.kept("new") == [raw], f"{row.name}: the emergency copy is not the message"
    assert site.kept("tmp") == [], f"{row.name}: left in emergency tmp/: {[len(b) for b in site.kept('tmp')]} bytes"

    # -- then the disks are emptied and the config repaired: the MTA's retry
    # (after 75) or the next message (after 0) goes through, exactly once
    site.hook(None)
    inbox_disk.empty()
    em_disk.empty()
    if row.status == 75:
        retry = site.mda(raw, *row.args)
        assert retry.returncode == 0, retry.stderr.decode(errors="replace")
        assert len(site.commits()) == 2
        assert site.newest_blob() == expected_blob(raw, list_id_address=ADDR)
    elif row.in_git:
        nxt = site.mda(make_msg(3))
        assert nxt.returncode == 0, nxt.stderr.decode(errors="replace")
        assert len(site.commits()) == 3
    st = check_consistent(site.dir)  # msgmap and the overview caught up with git
    assert sorted(st.msgmap) == list(range(1, len(st.stored) + 1))
    assert site.kept("tmp") == []
    if row.config == "unsearchable":
        (tmp_path / "locked").chmod(0o700)  # let pytest clean it up


def test_unmountable_is_a_failure_not_a_skip(tmp_path: Path) -> None:
    """The table's premise: this machine lets the test make a real small disk."""
    with mounted(tmp_path / "probe", 64 * K) as fs:
        fs.fill()
        assert os.statvfs(fs.path).f_bavail == 0
