"""Paths and creation of the public-inbox v2 directory layout.

``INBOXDIR/git/N.git`` are the epochs (bare repos, one branch each),
``all.git`` has no refs and lists every epoch in relative alternates,
``inbox.lock`` serialises writers and ``msgmap.sqlite3`` maps Message-IDs to
article numbers.  pubinbox's own derived files live in ``INBOXDIR/pubinbox/``
so public-inbox's ``xap15/`` and ours never touch each other.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pubinbox.errors import InboxNotFound, StorageError
from pubinbox.store.packs import drop_stale_keeps

BRANCH = "refs/heads/master"
_EPOCH_RE = re.compile(r"\A(\d+)\.git\Z")

_EPOCH_CONFIG = """[core]
\trepositoryFormatVersion = 0
\tfilemode = true
\tbare = true
[repack]
\twriteBitmaps = true
[include]
\tpath = ../../all.git/config
"""

_ALL_CONFIG = """[core]
\trepositoryFormatVersion = 0
\tfilemode = true
\tbare = true
[repack]
\twriteBitmaps = true
"""


@dataclass(frozen=True, slots=True)
class Layout:
    """Where everything of one v2 inbox lives."""

    inboxdir: Path

    @property
    def git_dir(self) -> Path:
        return self.inboxdir / "git"

    @property
    def all_git(self) -> Path:
        return self.inboxdir / "all.git"

    @property
    def lock_file(self) -> Path:
        return self.inboxdir / "inbox.lock"

    @property
    def msgmap(self) -> Path:
        return self.inboxdir / "msgmap.sqlite3"

    @property
    def own_dir(self) -> Path:
        """pubinbox's private directory for derived data."""
        return self.inboxdir / "pubinbox"

    @property
    def over_db(self) -> Path:
        return self.own_dir / "over.sqlite3"

    def epoch(self, n: int) -> Path:
        return self.git_dir / f"{n}.git"

    def epochs(self) -> list[int]:
        """Epoch numbers present on disk, ascending."""
        try:
            names = os.listdir(self.git_dir)
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            m = _EPOCH_RE.match(name)
            if m and (self.git_dir / name / "objects").is_dir():
                out.append(int(m.group(1)))
        return sorted(out)

    def check(self) -> None:
        """Raise InboxNotFound unless this looks like a v2 inbox."""
        if not self.inboxdir.is_dir():
            raise InboxNotFound(f"{self.inboxdir}: no such inbox directory")
        if not self.git_dir.is_dir():
            if is_v1(self.inboxdir):
                raise InboxNotFound(
                    f"{self.inboxdir}: a v1 inbox; pubinbox reads v2 only: "
                    f"`pubinbox convert {self.inboxdir} NEW_DIR`, then point inboxdir at NEW_DIR"
                )
            raise InboxNotFound(f"{self.inboxdir}: not a v2 inbox (no git/ directory)")


def is_v1(path: Path) -> bool:
    """A v1 inbox: a bare git repository (no ``git/`` of epochs)."""
    return (path / "objects").is_dir() and (path / "HEAD").is_file() and not (path / "git").is_dir()


def _write_if_missing(path: Path, text: str) -> None:
    """Write *text* unless the file has content (atomically: a crash leaves
    either no file or the whole file)."""
    try:
        if path.stat().st_size > 0:
            return
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def init_bare(path: Path, config_text: str) -> None:
    """Create a bare repository the way public-inbox does (no hooks, no
    description), without spawning git.  A new repository is built beside
    its final name and renamed into place, so a crash never leaves half a
    repository; an existing one only gets what it lacks."""
    if not path.exists():
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        _fill_bare(tmp, config_text)
        try:
            os.rename(tmp, path)
        except OSError:
            if not path.is_dir():
                raise
            # someone else created it meanwhile: keep theirs
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    _fill_bare(path, config_text)


def _fill_bare(path: Path, config_text: str) -> None:
    for sub in ("objects/info", "objects/pack", "refs/heads", "refs/tags"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    _write_if_missing(path / "config", config_text)
    _write_if_missing(path / "HEAD", f"ref: {BRANCH}\n")


def init_epoch(layout: Layout, n: int) -> Path:
    """Create epoch *n* (if missing) and list it in all.git's alternates."""
    path = layout.epoch(n)
    try:
        init_bare(path, _EPOCH_CONFIG)
        init_all(layout)
        _sync_alternates(layout)
    except OSError as e:
        raise StorageError(f"cannot create epoch {path}: {e}") from e
    return path


def init_all(layout: Layout) -> None:
    init_bare(layout.all_git, _ALL_CONFIG)


def ensure_all_git(layout: Layout) -> None:
    """Create all.git if missing and list every epoch on disk in it (after
    epochs were cloned or fetched by hand)."""
    try:
        init_all(layout)
        _sync_alternates(layout)
    except OSError as e:
        raise StorageError(f"cannot update {layout.all_git}: {e}") from e


def _sync_alternates(layout: Layout) -> None:
    """all.git/objects/info/alternates lists every epoch, relative, in order."""
    alt = layout.all_git / "objects" / "info" / "alternates"
    want = [f"../../git/{n}.git/objects" for n in layout.epochs()]
    try:
        have = alt.read_text().splitlines()
    except FileNotFoundError:
        have = []
    extra = [line for line in have if line not in want]  # keep foreign entries
    lines = want + extra
    if lines != have:
        tmp = alt.with_name("alternates.tmp")
        tmp.write_text("".join(f"{line}\n" for line in lines))
        os.replace(tmp, alt)


def init_inbox(layout: Layout, description: str) -> None:
    """Create the whole v2 skeleton: epoch 0, all.git, lock file, description."""
    layout.inboxdir.mkdir(parents=True, exist_ok=True)
    init_epoch(layout, layout.epochs()[-1] if layout.epochs() else 0)
    layout.lock_file.touch()
    _write_if_missing(layout.inboxdir / "description", description + "\n")
    layout.own_dir.mkdir(exist_ok=True)


_GIT_LOCKS = ("HEAD.lock", "config.lock", "packed-refs.lock", "index.lock", "shallow.lock")


def clear_stale_git_locks(layout: Layout) -> list[Path]:
    """Remove lock files (and pack ``.keep`` files) a killed git
    (fast-import) left in the epochs.

    Only call this while holding ``inbox.lock``: every writer of the inbox
    (ours and public-inbox's) holds it while git runs, and our fast-import
    inherits it, so a git lock file seen then belongs to a dead process.
    """
    removed = []
    for n in layout.epochs():
        git_dir = layout.epoch(n)
        candidates = [git_dir / name for name in _GIT_LOCKS]
        refs = git_dir / "refs"
        if refs.is_dir():
            candidates += list(refs.rglob("*.lock"))
        for path in candidates:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as e:
                raise StorageError(f"cannot remove stale {path}: {e}") from e
            removed.append(path)
        removed += drop_stale_keeps(git_dir)
    return removed
