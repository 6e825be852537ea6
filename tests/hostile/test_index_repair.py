"""``pubinbox index`` repairs what damage and loss leave behind (issue 16).

* Defect 3: after the overview is lost, ``index`` must not add a second
  search document per message (the old writer's deletes never matched the
  u64 ``num`` field); an index doubled by that bug heals, and a ``d`` commit
  or a removal really deletes the search document.
* Defect 5: a truncated ``over.sqlite3``, a truncated search segment, a lost
  or damaged msgmap are repaired by ``index`` while another process holds
  the old files open (raw SQLite read transaction, open Tantivy searcher,
  or a real ``pubinbox serve``).
* Defect 7: a missing or corrupt git object is a warning naming the commit
  and the object; indexing goes on, exit 0, the count is reported (as
  ``public-inbox-index`` does: compared on the same damaged repository).

Real git, SQLite, Tantivy and ``pubinbox`` processes throughout; the
search index is read with Tantivy directly, the overview with sqlite3.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_MBOX
from tests.helpers import epoch_log, git, make_msg, run_cli
from tests.live import isolated_environ, live_server

SAMPLE_COUNT = 295


# --------------------------------------------------------------------------
# inboxes


@dataclass(frozen=True)
class Box:
    config: Path
    name: str
    dir: Path

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
        return run_cli("--config", str(self.config), *args, check=check, timeout=timeout)

    def index(self, *args: str) -> str:
        """``pubinbox index`` that must exit 0; returns its stderr."""
        p = self.cli("index", *args, str(self.dir), check=False)
        err = p.stderr.decode(errors="replace")
        assert p.returncode == 0, f"pubinbox index exited {p.returncode}:\n{err}"
        return err

    @property
    def over_db(self) -> Path:
        return self.dir / "pubinbox" / "over.sqlite3"

    @property
    def search_dir(self) -> Path:
        return self.dir / "pubinbox" / "search"


def _config(path: Path, name: str, inboxdir: Path) -> None:
    for key, val in (
        ("inboxdir", str(inboxdir)),
        ("address", f"{name}@example.com"),
        ("url", f"http://127.0.0.1/{name}"),
        ("indexlevel", "full"),
    ):
        subprocess.run(["git", "config", "-f", str(path), f"publicinbox.{name}.{key}", val], check=True)


def _new_box(root: Path, *sources: Path) -> Box:
    root.mkdir(parents=True, exist_ok=True)
    box = Box(root / "config", "s", root / "s")
    box.cli("init", "-L", "full", box.name, str(box.dir), "http://127.0.0.1/s", "s@example.com")
    if sources:
        box.cli("import", box.name, *map(str, sources))
    return box


def _copy(src: Box, root: Path) -> Box:
    root.mkdir(parents=True, exist_ok=True)
    box = Box(root / "config", src.name, root / src.name)
    shutil.copytree(src.dir, box.dir, symlinks=True)
    _config(box.config, box.name, box.dir)
    return box


@pytest.fixture(scope="module")
def sample_box(tmp_path_factory: pytest.TempPathFactory) -> Box:
    """sample/sample.mbox imported once (-L full); tests work on copies."""
    root = tmp_path_factory.mktemp("repair-sample")
    with isolated_environ(root / "home"):
        return _new_box(root, SAMPLE_MBOX)


def _small_mbox(path: Path, n: int) -> Path:
    with path.open("wb") as f:
        for i in range(1, n + 1):
            f.write(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + make_msg(i, body=f"word{i} common text\n") + b"\n")
    return path


# --------------------------------------------------------------------------
# what the indexes hold


def over_rows(box: Box) -> list[tuple[int, str, str]]:
    """(num, mid, blob) of every message in the overview."""
    db = sqlite3.connect(f"file:{box.over_db}?mode=ro", uri=True)
    try:
        return [(int(n), str(m), str(b)) for n, m, b in db.execute("SELECT num, mid, blob FROM over WHERE num > 0")]
    finally:
        db.close()


def msgmap_state(box: Box) -> tuple[list[tuple[int, str]], dict[str, str]]:
    db = sqlite3.connect(f"file:{box.dir / 'msgmap.sqlite3'}?mode=ro", uri=True)
    try:
        rows = [(int(n), str(m)) for n, m in db.execute("SELECT num, mid FROM msgmap ORDER BY num")]
        return rows, {str(k): str(v) for k, v in db.execute("SELECT key, val FROM meta")}
    finally:
        db.close()


class SearchIndex:
    """The on-disk Tantivy index, opened fresh (as a new reader would)."""

    def __init__(self, box: Box) -> None:
        import tantivy

        self.t = tantivy
        self.index = tantivy.Index.open(str(box.search_dir))
        self.searcher = self.index.searcher()

    def nums(self) -> list[int]:
        """The article number of every live document, duplicates included."""
        s = self.searcher
        n = int(s.num_docs)
        if n == 0:
            return []
        hits = s.search(self.t.Query.all_query(), n, count=False).hits
        return sorted(int(v) for v in s.fast_field_values("num", [a for _k, a in hits]))

    def count_mid(self, mid: str) -> int:
        q = self.t.Query.term_query(self.index.schema, "mid", mid)
        return int(self.searcher.search(q, 1, count=True).count or 0)


def assert_search_matches(box: Box) -> None:
    """One search document per overview message, none else; ``mid:`` of
    the first, a middle and the last message gives one hit."""
    rows = sorted(over_rows(box))
    si = SearchIndex(box)
    nums = si.nums()
    dupes = sorted({n for n in nums if nums.count(n) > 1}) if len(nums) != len(set(nums)) else []
    assert not dupes, f"{len(nums)} documents for {len(rows)} messages; doubled: {dupes[:10]}"
    assert nums == [n for n, _m, _b in rows], (len(nums), len(rows))
    for _num, mid, _blob in (rows[0], rows[len(rows) // 2], rows[-1]):
        assert si.count_mid(mid) == 1, mid


def q_matches(box: Box, query: str) -> int:
    """``pubinbox q``'s "# N matches"."""
    p = box.cli("q", "-I", box.name, "-n", "1", query)
    m = re.search(rb"# (\d+) match", p.stderr)
    assert m, p.stderr
    return int(m.group(1))


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def truncate_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


# --------------------------------------------------------------------------
# defect 3: search documents are keyed, never doubled


def test_overview_lost_gives_no_second_search_document(sample_box: Box, tmp_path: Path) -> None:
    box = _copy(sample_box, tmp_path)
    assert len(over_rows(box)) == SAMPLE_COUNT
    assert_search_matches(box)
    mid = sorted(over_rows(box))[100][1]
    remove_db(box.over_db)
    box.index()
    assert len(over_rows(box)) == SAMPLE_COUNT
    assert_search_matches(box)
    assert q_matches(box, f"mid:{mid}") == 1
    assert q_matches(box, "d:1970-01-01..") == SAMPLE_COUNT
    box.index()  # a second run leaves it right
    assert_search_matches(box)


def test_doubled_search_index_heals_when_a_writer_opens_it(tmp_path: Path) -> None:
    """An index damaged as the old writer left it (every replace added a
    second document) is checked against the overview when a writer opens
    it: ``import`` repairs a small damage, ``index`` any."""
    from pubinbox.search.extract import extract
    from pubinbox.search.writer import SearchWriter

    box = _new_box(tmp_path, _small_mbox(tmp_path / "in.mbox", 12))
    rows = sorted(over_rows(box))

    def damage(nums: list[int]) -> None:
        w = SearchWriter(box.dir / "pubinbox", "full")
        for num, _mid, blob in rows:
            if num in nums:
                raw = git(box.dir / "git" / "0.git", "cat-file", "blob", blob).encode()
                w.add(num, extract(raw), blob=blob, ts=0, ds=0, size=len(raw))  # no replace: a second copy
        w.add(999, extract(make_msg(999)), blob="0" * 40, ts=0, ds=0, size=1)  # no such message
        w.commit()
        w.close()

    damage([2, 5, 7])
    assert len(SearchIndex(box).nums()) == 12 + 4
    box.cli("import", box.name, str(_small_mbox(tmp_path / "more.mbox", 13)))  # one new message
    assert len(over_rows(box)) == 13
    assert_search_matches(box)
    damage([n for n, _m, _b in rows])
    box.index()
    assert_search_matches(box)


@pytest.mark.corpus
@pytest.mark.slow
def test_overview_lost_erofs(tmp_path: Path, corpus_dir: Path) -> None:
    """The issue's case on a whole list: 15,171 messages, overview deleted."""
    root = tmp_path / "erofs"
    (root / "X" / "git").mkdir(parents=True)
    bundle = corpus_dir / "epochs" / "linux-erofs.lists.ozlabs.org.0.bundle"
    subprocess.run(["git", "clone", "-q", "--mirror", str(bundle), str(root / "X/git/0.git")], check=True)
    box = Box(root / "config", "erofs", root / "X")
    box.cli("init", "-L", "full", "erofs", str(box.dir), "http://x/erofs", "a@b")
    box.index()
    n = len(over_rows(box))
    assert n == 15171
    assert_search_matches(box)
    remove_db(box.over_db)
    t0 = time.monotonic()
    box.index()
    took = time.monotonic() - t0
    assert len(over_rows(box)) == n
    assert_search_matches(box)
    mid = sorted(over_rows(box))[n // 3][1]
    assert q_matches(box, f"mid:{mid}") == 1
    print(f"\nerofs: overview rebuilt from git in {took:.1f}s, search index kept")


def test_removal_deletes_the_search_document(tmp_path: Path) -> None:
    from pubinbox.config import InboxConfig
    from pubinbox.ingest.writer import InboxWriter

    box = _new_box(tmp_path, _small_mbox(tmp_path / "in.mbox", 10))
    rows = {num: (mid, blob) for num, mid, blob in over_rows(box)}
    # a removal by our writer (spam removal: a d commit + the databases)
    ibx = InboxConfig(name=box.name, inboxdir=box.dir, addresses=("s@example.com",), indexlevel="full")
    with InboxWriter(ibx) as w:
        assert w.remove_blob(rows[3][1], "spam") == 1
    assert SearchIndex(box).count_mid(rows[3][0]) == 0
    assert_search_matches(box)
    # a d commit another writer put in git (as public-inbox-learn rm does)
    epoch = box.dir / "git" / "0.git"
    tree = subprocess.run(
        ["git", f"--git-dir={epoch}", "mktree"],
        input=f"100644 blob {rows[6][1]}\td\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tip = epoch_log(epoch)[-1]
    commit = git(epoch, "commit-tree", tree, "-p", tip, "-m", "rm").strip()
    git(epoch, "update-ref", "refs/heads/master", commit)
    box.index()
    assert 6 not in {n for n, _m, _b in over_rows(box)}
    assert SearchIndex(box).count_mid(rows[6][0]) == 0
    assert_search_matches(box)
    assert q_matches(box, "b:common") == 8


# --------------------------------------------------------------------------
# defect 7: unreadable git objects


@dataclass(frozen=True)
class Damaged:
    box: Box
    missing: tuple[str, str]  # (commit, blob)
    corrupt: tuple[str, str]  # (commit, blob)
    no_tree: tuple[str, str] | None  # (commit, tree)
    saved: bytes  # the missing blob's object file


def _loose(epoch: Path) -> None:
    """Unpack every pack of *epoch* into loose objects (git fast-import
    leaves a small import loose already)."""
    for pack in list((epoch / "objects" / "pack").glob("*.pack")):
        data = pack.read_bytes()
        for f in (epoch / "objects" / "pack").glob(f"{pack.stem}.*"):
            f.unlink()
        subprocess.run(["git", f"--git-dir={epoch}", "unpack-objects", "-q"], input=data, check=True)


def _object(epoch: Path, oid: str) -> Path:
    return epoch / "objects" / oid[:2] / oid[2:]


def damaged_mirror(tmp_path: Path, *, tree: bool = True) -> Damaged:
    """12 messages in a loose-object epoch, one blob missing, one corrupt
    and (with *tree*) one commit's tree missing; msgmap and pubinbox/ gone,
    as in a fresh mirror of a damaged epoch."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    box = _new_box(tmp_path, _small_mbox(tmp_path / "in.mbox", 12))
    epoch = box.dir / "git" / "0.git"
    _loose(epoch)
    commits = epoch_log(epoch)
    blob4 = git(epoch, "rev-parse", f"{commits[3]}:m").strip()
    blob6 = git(epoch, "rev-parse", f"{commits[5]}:m").strip()
    tree9 = git(epoch, "rev-parse", f"{commits[8]}^{{tree}}").strip()
    saved = _object(epoch, blob4).read_bytes()
    _object(epoch, blob4).unlink()
    os.chmod(_object(epoch, blob6), 0o644)
    _object(epoch, blob6).write_bytes(b"\x78\x01garbage, not zlib")
    if tree:
        _object(epoch, tree9).unlink()
    shutil.rmtree(box.dir / "pubinbox")
    remove_db(box.dir / "msgmap.sqlite3")
    fsck = subprocess.run(["git", f"--git-dir={epoch}", "fsck"], capture_output=True, text=True, check=False)
    assert blob4 in fsck.stdout + fsck.stderr
    return Damaged(box, (commits[3], blob4), (commits[5], blob6), (commits[8], tree9) if tree else None, saved)


def test_missing_and_corrupt_objects_are_skipped_with_a_warning(tmp_path: Path) -> None:
    d = damaged_mirror(tmp_path)
    box = d.box
    err = box.index()
    assert d.no_tree is not None
    for commit, oid in (d.missing, d.corrupt, d.no_tree):
        line = next((x for x in err.splitlines() if oid in x), "")
        assert commit in line, (oid, err)
    assert "3 unreadable git object" in err, err
    assert len(over_rows(box)) == 9
    assert_search_matches(box)
    # a second run goes through too (it does not stop where the first did)
    err = box.index()
    assert "3 unreadable git object" in err, err
    assert len(over_rows(box)) == 9
    # the object comes back (copied from another mirror): indexed now
    path = _object(box.dir / "git" / "0.git", d.missing[1])
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(d.saved)
    err = box.index()
    assert "2 unreadable git object" in err, err
    assert d.missing[1] in {b for _n, _m, b in over_rows(box)}
    assert len(over_rows(box)) == 10
    assert_search_matches(box)


def test_missing_objects_in_parallel_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same through the worker processes that parse a large backlog."""
    from pubinbox.config import InboxConfig
    from pubinbox.ingest import indexer
    from pubinbox.ingest.indexing import index_inbox

    d = damaged_mirror(tmp_path, tree=False)
    monkeypatch.setattr(indexer, "PARALLEL_MIN", 1)
    ibx = InboxConfig(name="s", inboxdir=d.box.dir, addresses=("s@example.com",), indexlevel="full")
    stats = index_inbox(ibx, jobs=2)
    assert stats.unreadable == 2 and stats.added == 10
    assert len(over_rows(d.box)) == 10
    assert_search_matches(d.box)


@pytest.mark.peer
def test_missing_objects_as_public_inbox(tmp_path: Path) -> None:
    """public-inbox-index on the same damaged epoch: a warning per object,
    exit 0, and the same article numbers as ours.  (A missing tree makes
    public-inbox-index 1.9 die in ``git log``; ours skips that commit.)"""
    d = damaged_mirror(tmp_path / "ours", tree=False)
    theirs = _copy(d.box, tmp_path / "theirs")
    p = subprocess.run(
        ["public-inbox-index", str(theirs.dir)],
        env={**os.environ, "PI_CONFIG": str(theirs.config)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    assert f"{d.missing[1]} is not a blob (type=missing)" in p.stderr
    assert f"{d.corrupt[1]} is not a blob" in p.stderr
    err = d.box.index()
    assert d.missing[1] in err and d.missing[0] in err
    assert msgmap_state(d.box)[0] == msgmap_state(theirs)[0]


# --------------------------------------------------------------------------
# defect 5: repairs while readers hold the damaged files


READER = r"""
import sqlite3, sys, tantivy
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, isolation_level=None)
db.execute("BEGIN")  # a read transaction held open, as a long request does
n = db.execute("SELECT COUNT(*) FROM over WHERE num > 0").fetchone()[0]
searcher = tantivy.Index.open(sys.argv[2]).searcher()  # segment files mapped
print(n, searcher.num_docs, flush=True)
sys.stdin.read()
print("bye", flush=True)
"""


@dataclass
class Reader:
    proc: subprocess.Popen[str]

    def finish(self) -> None:
        assert self.proc.poll() is None, "the reader died"
        out, _err = self.proc.communicate("", timeout=30)
        assert self.proc.returncode == 0 and out.strip() == "bye", (self.proc.returncode, out)


@pytest.fixture
def reader_of() -> Iterator[Callable[[Box], Reader]]:
    started: list[subprocess.Popen[str]] = []

    def start(box: Box) -> Reader:
        p = subprocess.Popen(
            [sys.executable, "-c", READER, str(box.over_db), str(box.search_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(p)
        assert p.stdout is not None
        first = p.stdout.readline().split()
        assert first == [str(SAMPLE_COUNT), str(SAMPLE_COUNT)], first
        return Reader(p)

    yield start
    for p in started:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_truncated_overview_repaired_while_a_reader_holds_it(
    sample_box: Box, tmp_path: Path, reader_of: Callable[[Box], Reader]
) -> None:
    box = _copy(sample_box, tmp_path)
    reader = reader_of(box)
    old_inode = box.over_db.stat().st_ino
    truncate_half(box.over_db)
    t0 = time.monotonic()
    err = box.index()
    assert time.monotonic() - t0 < 60
    assert "rebuilding it from git" in err, err
    assert box.over_db.stat().st_ino != old_inode  # a new file, renamed in place
    assert len(over_rows(box)) == SAMPLE_COUNT
    db = sqlite3.connect(f"file:{box.over_db}?mode=ro", uri=True)
    assert db.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    db.close()
    assert_search_matches(box)
    reader.finish()
    assert "rebuilding" not in box.index()  # healthy now: nothing to repair


def test_damaged_search_index_rebuilt_while_a_reader_holds_it(
    sample_box: Box, tmp_path: Path, reader_of: Callable[[Box], Reader]
) -> None:
    box = _copy(sample_box, tmp_path)
    reader = reader_of(box)
    segment = max(
        (p for p in box.search_dir.iterdir() if p.suffix in (".idx", ".pos", ".term")), key=lambda p: p.stat().st_size
    )
    truncate_half(segment)
    err = box.index()
    assert "moving it to" in err, err
    assert list(box.dir.glob("pubinbox/search.broken-*"))
    assert_search_matches(box)
    reader.finish()
    # and a search index deleted outright
    reader = reader_of(box)
    shutil.rmtree(box.search_dir)
    box.index()
    assert_search_matches(box)
    assert q_matches(box, "d:1970-01-01..") == SAMPLE_COUNT
    reader.finish()


def test_repaired_while_serving(sample_box: Box, tmp_path: Path) -> None:
    """A real ``pubinbox serve`` holds the overview and search index open;
    ``index`` repairs a truncated overview under it, exit 0, and the server
    serves the repaired archive."""
    from tests.web.conftest import fetch, mid_url

    box = _copy(sample_box, tmp_path)
    mid = max(over_rows(box))[1]
    with live_server(box.config, box.name, kind="pubinbox") as srv:
        assert fetch(mid_url(srv.base, mid)).status == 200
        truncate_half(box.over_db)
        fetch(mid_url(srv.base, mid))  # whatever it answers, the server keeps the file open
        box.index()
        assert_search_matches(box)
        deadline = time.monotonic() + 10
        while (status := fetch(mid_url(srv.base, mid)).status) != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status == 200
        assert fetch(f"{srv.base}?q=mid:{mid}").status == 200


def test_lost_msgmap_restored_from_the_overview(sample_box: Box, tmp_path: Path) -> None:
    box = _copy(sample_box, tmp_path)
    before_rows, before_meta = msgmap_state(box)
    remove_db(box.dir / "msgmap.sqlite3")
    err = box.index()
    assert "restoring its article numbers from the overview" in err, err
    rows, meta = msgmap_state(box)
    assert rows == before_rows
    assert meta["created_at"] == before_meta["created_at"]  # the IMAP UIDVALIDITY
    box.cli("import", box.name, str(_small_mbox(tmp_path / "new.mbox", 1)))
    assert max(n for n, _m, _b in over_rows(box)) == SAMPLE_COUNT + 1  # never a reused number


def test_damaged_msgmap_salvaged_and_kept(sample_box: Box, tmp_path: Path) -> None:
    box = _copy(sample_box, tmp_path)
    before_rows, before_meta = msgmap_state(box)
    truncate_half(box.dir / "msgmap.sqlite3")
    err = box.index()
    assert "salvaging its article numbers" in err, err
    rows, meta = msgmap_state(box)
    assert rows == before_rows
    assert meta["created_at"] == before_meta["created_at"]
    kept = [p for p in box.dir.glob("msgmap.sqlite3.broken-*") if not p.name.endswith("-journal")]
    assert len(kept) == 1 and kept[0].stat().st_size > 0
    # without the overview either: what can be read keeps its numbers, the
    # rest get new ones, above every number ever handed out
    shutil.copy(kept[0], box.dir / "msgmap.sqlite3")
    remove_db(box.over_db)
    box.index()
    rows, meta = msgmap_state(box)
    old = dict(before_rows)
    assert all(old.get(n) == m or n > SAMPLE_COUNT for n, m in rows), rows
    assert meta["created_at"] == before_meta["created_at"]
    assert len(over_rows(box)) == SAMPLE_COUNT
    assert_search_matches(box)
