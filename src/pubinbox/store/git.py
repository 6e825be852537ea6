"""Reading the git store: epochs, their commits, and message blobs (pygit2).

Readers open ``all.git`` (whose alternates list every epoch) for blobs, and
each epoch for its history.  A server's reader (``direct=True``) reads a
blob whose epoch is known from that epoch's packs itself
(:mod:`pubinbox.store.packread`: faster than libgit2 for messages read in
no particular order, as a server reads them); libgit2 reads the rest,
everything for the indexer (which reads in commit order, where libgit2 is
as fast: 45 us a f2fs message either way), and says what is wrong with a
bad object.

A v2 commit's tree holds one entry: ``m`` for
a message added, ``d`` for a message removed (the blob of the removed one).
A blob that is missing or cannot be inflated raises :class:`CorruptObject`;
a commit whose tree cannot be read is a :class:`Change` of kind ``x``, so
that the indexer can skip it with a warning, as public-inbox does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pubinbox.errors import CorruptObject, StorageError
from pubinbox.store.fastimport import rev_parse
from pubinbox.store.layout import BRANCH, Layout

if TYPE_CHECKING:
    import pygit2

    from pubinbox.store.packread import Packs

_PYGIT2: Any = None


def _pygit2() -> Any:
    """pygit2, imported on first use (it costs ~75 ms, and one ``mda``
    delivery usually needs no git reads at all)."""
    global _PYGIT2
    if _PYGIT2 is None:
        import pygit2

        # libgit2 re-hashes every object it reads unless told not to; git
        # itself does not, and it costs a third of bulk read time
        pygit2.settings.enable_strict_hash_verification(False)
        _PYGIT2 = pygit2
    return _PYGIT2


#: libgit2's GIT_OBJECT_BLOB
_BLOB = 3


def _read(odb: Any, key: Any) -> tuple[int, bytes] | None:
    try:
        got: tuple[int, bytes] = odb.read(key)
    except KeyError:
        return None
    return got


@dataclass(frozen=True, slots=True)
class Change:
    """One v2 commit: ``kind`` is ``m`` (added) or ``d`` (removed), or ``x``
    when its tree cannot be read (``blob`` is then the tree's id)."""

    commit: str
    kind: str
    blob: str
    commit_time: int


class GitReader:
    """Blob and history access for one inbox."""

    def __init__(self, layout: Layout, *, direct: bool = False) -> None:
        self.layout = layout
        self.direct = direct
        self._all: pygit2.Repository | None = None
        self._epochs: dict[int, pygit2.Repository] = {}
        self._packs: dict[int, Packs] = {}

    def _repo_all(self) -> pygit2.Repository:
        if self._all is None:
            try:
                self._all = _pygit2().Repository(str(self.layout.all_git))
            except (_pygit2().GitError, KeyError) as e:
                raise StorageError(f"cannot open {self.layout.all_git}: {e}") from e
        return self._all

    def epoch_repo(self, n: int) -> pygit2.Repository:
        repo = self._epochs.get(n)
        if repo is None:
            try:
                repo = _pygit2().Repository(str(self.layout.epoch(n)))
            except (_pygit2().GitError, KeyError) as e:
                raise StorageError(f"cannot open {self.layout.epoch(n)}: {e}") from e
            self._epochs[n] = repo
        return repo

    def refresh(self) -> None:
        """Forget cached repositories (after another process wrote)."""
        self._all = None
        self._epochs.clear()
        self.close_packs()

    def close_packs(self) -> None:
        for packs in self._packs.values():
            packs.close()
        self._packs.clear()

    def _packs_of(self, n: int) -> Packs:
        packs = self._packs.get(n)
        if packs is None:
            from pubinbox.store.packread import Packs  # servers only: not for mda's start

            packs = self._packs[n] = Packs(self.layout.epoch(n))
        return packs

    def blob(self, oid: str, epoch: int | None = None) -> bytes:
        """The bytes of blob *oid* (raises CorruptObject if it is missing or
        cannot be read)."""
        if self.direct and epoch is not None and len(oid) == 40:
            try:
                got = self._packs_of(epoch).read(bytes.fromhex(oid))
            except ValueError:
                got = None
            if got is not None and got[0] == _BLOB:
                return got[1]
        pg = _pygit2()
        try:
            key = pg.Oid(hex=oid)
        except ValueError as e:
            raise CorruptObject(f"bad object id {oid!r}") from e
        # the object database directly: no Blob object per message
        try:
            got = None
            if epoch is not None:
                got = _read(self.epoch_repo(epoch).odb, key)
            if got is None:
                got = _read(self._repo_all().odb, key)
            if got is None:
                # a new epoch may have appeared since all.git was opened
                self._all = None
                got = _read(self._repo_all().odb, key)
        except pg.GitError as e:  # e.g. a loose object that does not inflate
            raise CorruptObject(f"blob {oid} is corrupt: {e}") from e
        if got is None:
            raise CorruptObject(f"blob {oid} is missing")
        kind, data = got
        if kind != _BLOB:
            raise CorruptObject(f"object {oid} is not a blob")
        return data

    def commit_times(self, n: int, commit: str) -> tuple[int, int]:
        """(author time, committer time) of a commit of epoch *n*; zeros if
        it cannot be read."""
        try:
            c = self.epoch_repo(n).get(commit)
            return int(c.author.time), int(c.commit_time)  # type: ignore[union-attr]
        except (_pygit2().GitError, KeyError, ValueError, AttributeError, StorageError):
            return 0, 0

    def tip(self, n: int) -> str | None:
        """The commit epoch *n*'s branch points at (read from the ref files)."""
        return rev_parse(self.layout.epoch(n), BRANCH)

    def is_ancestor(self, n: int, old: str, new: str) -> bool:
        repo = self.epoch_repo(n)
        try:
            return old == new or bool(repo.descendant_of(new, old))
        except (_pygit2().GitError, KeyError, ValueError):
            return False

    def changes(
        self, n: int, since: str | None, until: str | None = None, *, walked: Callable[[Change], None] | None = None
    ) -> list[Change]:
        """Commits of epoch *n* after *since* up to *until* (default: tip),
        oldest first.  A v2 history is a line: it is walked from the tip
        back without sorting, so that *walked* sees each change as soon as
        it is read, newest first (the indexer starts parsing before the walk
        ends: sorting first reads every commit before giving the first);
        a history with a merge in it is walked again in topological order
        (*walked* may then see a change twice)."""
        repo = self.epoch_repo(n)
        tip = until or self.tip(n)
        if tip is None:
            return []
        pg = _pygit2()
        line = self._walk(repo, tip, since, pg.enums.SortMode.NONE, walked)
        if line is not None:
            line.reverse()
            return line
        got = self._walk(repo, tip, since, pg.enums.SortMode.TOPOLOGICAL | pg.enums.SortMode.REVERSE, None)
        assert got is not None
        return got

    @staticmethod
    def _walk(
        repo: pygit2.Repository, tip: str, since: str | None, mode: Any, walked: Callable[[Change], None] | None
    ) -> list[Change] | None:
        """The changes in *mode*'s order; with SortMode.NONE, None as soon as
        a commit is not the single parent of the one before (a merge)."""
        pg = _pygit2()
        walker = repo.walk(tip, mode)
        if since is not None:
            try:
                walker.hide(since)
            except (KeyError, ValueError, pg.GitError):
                pass
        linear = mode == pg.enums.SortMode.NONE
        out: list[Change] = []
        parent: Any = None
        for commit in walker:
            if linear:
                parents = commit.parent_ids
                if len(parents) > 1 or (parent is not None and commit.id != parent):
                    return None
                parent = parents[0] if parents else None
            cid = str(commit.id)
            try:
                tree = commit.tree
            except pg.GitError:
                change = Change(cid, "x", str(commit.tree_id), int(commit.commit_time))
            else:
                for kind in ("m", "d"):
                    try:
                        entry = tree[kind]
                    except KeyError:
                        continue
                    change = Change(cid, kind, str(entry.id), int(commit.commit_time))
                    break
                else:
                    continue
            out.append(change)
            if walked is not None:
                walked(change)
        return out


def packed_size(git_dir: Path) -> int:
    """Bytes of objects on disk in one repository (packs plus loose)."""
    total = 0
    objects = git_dir / "objects"
    try:
        for p in objects.rglob("*"):
            if p.is_file() and "info" not in p.parts[-2:-1]:
                total += p.stat().st_size
    except OSError:
        pass
    return total


def resolved_refs(repo: pygit2.Repository) -> Iterator[tuple[Any, bytes, Any]]:
    """(ref, raw name, object) of every ref of *repo* sorted by name, as
    ``git show-ref`` and ``update-server-info`` list them: symbolic refs
    resolved, refs to missing objects left out."""
    pygit2 = _pygit2()
    for ref in sorted(repo.listall_reference_objects(), key=lambda r: bytes(r.raw_name)):
        try:
            obj = repo.get(ref.resolve().target)
        except (pygit2.GitError, KeyError, ValueError):
            continue
        if obj is not None:
            yield ref, bytes(ref.raw_name), obj
