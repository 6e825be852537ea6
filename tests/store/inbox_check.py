"""Independent consistency checks of a v2 inbox on disk, for the crash,
concurrency and hostile-input tests.

Everything here reads the inbox with plain ``git`` processes and ``sqlite3``
(never through pubinbox's own readers) so that a bug in pubinbox cannot hide
itself: git is the truth, msgmap and the overview must agree with it.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pubinbox.mail.parse import strip_from_line
from pubinbox.mail.rewrite import prepare_for_store
from pubinbox.store.fastimport import blob_oid
from tests.helpers import run_cli

_MID_HDR = re.compile(rb"^Message-ID:[ \t]*((?:[^\n]*\n)(?:[ \t][^\n]*\n)*)", re.IGNORECASE | re.MULTILINE)
_ANGLE = re.compile(rb"<([^<>]+)>")


@dataclass(frozen=True, slots=True)
class StoredMsg:
    epoch: int
    commit: str
    blob: str


@dataclass(slots=True)
class InboxState:
    """What is on disk: git (truth), msgmap and overview."""

    stored: list[StoredMsg]
    blobs: dict[str, bytes]
    msgmap: dict[int, str]
    over: list[tuple[int, str, str]]  # (num, blob, mid) of real messages
    over_meta: dict[str, str]
    tips: dict[int, str | None] = field(default_factory=dict)


def epochs(inboxdir: Path) -> list[int]:
    out = []
    for p in (inboxdir / "git").iterdir():
        m = re.fullmatch(r"(\d+)\.git", p.name)
        if m:
            out.append(int(m.group(1)))
    return sorted(out)


def _git(git_dir: Path, *args: str, stdin: bytes | None = None) -> bytes:
    p = subprocess.run(["git", f"--git-dir={git_dir}", *args], input=stdin, capture_output=True, check=False)
    if p.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} in {git_dir} failed: {p.stderr.decode(errors='replace')}")
    return p.stdout


def tip(git_dir: Path) -> str | None:
    p = subprocess.run(
        ["git", f"--git-dir={git_dir}", "rev-parse", "-q", "--verify", "refs/heads/master"],
        capture_output=True,
        check=False,
        text=True,
    )
    return p.stdout.strip() or None


def stored_messages(inboxdir: Path) -> list[StoredMsg]:
    """Every message blob (tree entry ``m``) of every epoch, oldest first,
    from ``git log --raw``; a blob stored twice shows up twice."""
    result: list[StoredMsg] = []
    for n in epochs(inboxdir):
        gd = inboxdir / "git" / f"{n}.git"
        if tip(gd) is None:
            continue
        out = _git(gd, "log", "--reverse", "--format=C %H", "--raw", "--no-abbrev", "refs/heads/master")
        commit = ""
        for line in out.decode().splitlines():
            if line.startswith("C "):
                commit = line[2:]
            elif line.startswith(":"):
                meta, path = line.split("\t", 1)
                parts = meta.split()
                status, new = parts[4], parts[3]
                if path == "m" and status in ("A", "M"):
                    result.append(StoredMsg(n, commit, new))
                elif path == "m" and status == "D":
                    pass  # a removal ("d" commit) drops the message
    return result


def read_blobs(inboxdir: Path, stored: Iterable[StoredMsg]) -> dict[str, bytes]:
    """The bytes of each stored blob via ``git cat-file --batch`` per epoch."""
    by_epoch: dict[int, list[str]] = {}
    for s in stored:
        by_epoch.setdefault(s.epoch, []).append(s.blob)
    blobs: dict[str, bytes] = {}
    for n, oids in by_epoch.items():
        out = _git(inboxdir / "git" / f"{n}.git", "cat-file", "--batch", stdin="".join(o + "\n" for o in oids).encode())
        pos = 0
        for oid in oids:
            nl = out.index(b"\n", pos)
            head = out[pos:nl].split()
            assert head[0].decode() == oid and head[1] == b"blob", head
            size = int(head[2])
            blobs[oid] = out[nl + 1 : nl + 1 + size]
            pos = nl + 1 + size + 1
    return blobs


def header_mids(raw: bytes) -> list[str]:
    """Message-IDs in the Message-ID header fields of *raw* (header only)."""
    hdr = raw.split(b"\n\n", 1)[0].replace(b"\r\n", b"\n") + b"\n"
    mids = []
    for m in _MID_HDR.finditer(hdr):
        found = _ANGLE.findall(m.group(1))
        if not found and m.group(1).strip():  # no <>: the whole value, as public-inbox takes it
            found = [m.group(1)]
        for a in found:
            mids.append(re.sub(r"\s+", " ", a.strip().decode("utf-8", "replace")))
    return mids


def load_state(inboxdir: Path) -> InboxState:
    stored = stored_messages(inboxdir)
    blobs = read_blobs(inboxdir, stored)
    mm = sqlite3.connect(f"file:{inboxdir / 'msgmap.sqlite3'}?mode=ro", uri=True)
    try:
        msgmap = {int(n): str(m) for n, m in mm.execute("SELECT num, mid FROM msgmap")}
    finally:
        mm.close()
    over_path = inboxdir / "pubinbox" / "over.sqlite3"
    ov = sqlite3.connect(f"file:{over_path}?mode=ro", uri=True)
    try:
        over = [
            (int(n), str(b), str(m))
            for n, b, m in ov.execute("SELECT num, blob, mid FROM over WHERE num > 0 ORDER BY num")
        ]
        over_meta = {str(k): str(v) for k, v in ov.execute("SELECT key, val FROM meta")}
    finally:
        ov.close()
    tips = {n: tip(inboxdir / "git" / f"{n}.git") for n in epochs(inboxdir)}
    return InboxState(stored, blobs, msgmap, over, over_meta, tips)


def expected_blob(raw: bytes, *, list_id_address: str | None = None) -> bytes:
    return prepare_for_store(strip_from_line(raw), list_id_address=list_id_address)


def check_consistent(inboxdir: Path) -> InboxState:
    """git, msgmap and overview agree; no blob stored twice; git is sound;
    all.git lists every epoch.  Returns the state for further checks."""
    st = load_state(inboxdir)
    counts = Counter(s.blob for s in st.stored)
    twice = {b: c for b, c in counts.items() if c > 1}
    assert not twice, f"blobs stored more than once: {twice}"
    stored_blobs = set(counts)
    # msgmap: exactly one row per stored message
    assert len(st.msgmap) == len(st.stored), (
        f"msgmap has {len(st.msgmap)} rows for {len(st.stored)} messages in git; "
        f"orphans: {sorted(set(st.msgmap) - {n for n, _, _ in st.over})[:20]}"
    )
    # overview: one row per stored message, with its blob, numbered as msgmap
    over_blobs = Counter(b for _, b, _ in st.over)
    assert set(over_blobs) == stored_blobs, (
        f"overview blobs differ from git: missing {sorted(stored_blobs - set(over_blobs))[:5]}, "
        f"extra {sorted(set(over_blobs) - stored_blobs)[:5]}"
    )
    assert all(c == 1 for c in over_blobs.values()), [b for b, c in over_blobs.items() if c > 1]
    assert len(st.over) == len(st.stored)
    assert {n for n, _, _ in st.over} == set(st.msgmap)
    for num, blob, mid in st.over:
        assert st.msgmap[num] == mid, (num, st.msgmap[num], mid)
        # the number's Message-ID is one the stored message carries
        assert mid in header_mids(st.blobs[blob]), (num, mid, header_mids(st.blobs[blob]))
    # the overview knows it is up to date with every epoch
    for n, t in st.tips.items():
        if t is not None:
            assert st.over_meta.get(f"last_commit-{n}") == t, (n, st.over_meta.get(f"last_commit-{n}"), t)
    check_git(inboxdir)
    return st


def check_git(inboxdir: Path) -> None:
    """``git fsck`` passes on every epoch; all.git's alternates list each one."""
    eps = epochs(inboxdir)
    assert eps, "no epochs"
    for n in eps:
        gd = inboxdir / "git" / f"{n}.git"
        p = subprocess.run(
            ["git", f"--git-dir={gd}", "fsck", "--no-progress", "--no-dangling"],
            capture_output=True,
            check=False,
            text=True,
        )
        assert p.returncode == 0, f"git fsck {gd}: {p.stdout}{p.stderr}"
    alt = (inboxdir / "all.git" / "objects" / "info" / "alternates").read_text().split()
    want = {f"../../git/{n}.git/objects" for n in eps}
    assert want <= set(alt), (alt, want)


def check_reindex_matches(inboxdir: Path, scratch: Path) -> None:
    """A fresh ``pubinbox index --reindex`` of a copy gives the same numbers,
    blobs and Message-IDs (and the same thread partition) as the live overview."""
    copy = scratch / f"reindex-{inboxdir.name}"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(inboxdir, copy, symlinks=True)
    run_cli("index", "--reindex", str(copy), check=True)
    q = "SELECT num, blob, mid, subject, ds, ts, epoch FROM over WHERE num > 0 ORDER BY num"
    live = _rows(inboxdir, q)
    fresh = _rows(copy, q)
    assert live == fresh, _diff(live, fresh)
    assert _threads(inboxdir) == _threads(copy)
    mq = "SELECT num, mid FROM msgmap ORDER BY num"
    assert _rows(inboxdir, mq, "msgmap.sqlite3") == _rows(copy, mq, "msgmap.sqlite3")
    shutil.rmtree(copy)


def _rows(inboxdir: Path, q: str, db: str = "pubinbox/over.sqlite3") -> list[tuple[object, ...]]:
    c = sqlite3.connect(f"file:{inboxdir / db}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in c.execute(q)]
    finally:
        c.close()


def _threads(inboxdir: Path) -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for num, tid in _rows(inboxdir, "SELECT num, tid FROM over WHERE num > 0"):
        groups.setdefault(int(tid), set()).add(int(num))  # type: ignore[call-overload]
    return {frozenset(g) for g in groups.values()}


def _diff(a: list[tuple[object, ...]], b: list[tuple[object, ...]]) -> str:
    def short(rows: set[tuple[object, ...]]) -> list[tuple[object, ...]]:
        return [tuple(str(v)[:70] if isinstance(v, str) else v for v in r) for r in sorted(rows, key=str)[:5]]

    sa, sb = set(a), set(b)
    return f"{len(sa - sb)} rows differ\nlive only: {short(sa - sb)}\nreindex only: {short(sb - sa)}"


def expected_blobs(raws: Iterable[bytes], *, list_id_address: str | None = None) -> dict[str, bytes]:
    """blob id -> original message, for messages that store under their own
    Message-ID (no generated one appended)."""
    return {blob_oid(expected_blob(r, list_id_address=list_id_address)): r for r in raws}


@pytest.fixture
def fast_subprocesses(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Let the many short ``pubinbox`` processes of these tests reuse compiled
    bytecode (kept outside the tree) even where PYTHONDONTWRITEBYTECODE is set."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "")
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", str(tmp_path_factory.getbasetemp() / "pycache"))
