"""Temporary repositories for ``git apply --cached``, reused across solves.

Making one (``mkdtemp``, the skeleton) and removing it (a dozen
directories of loose objects) cost more than a typical solve, so a
finished solve hands its repository back and the next one takes it: its
index is removed and its alternates rewritten for the next inbox's code
repositories.  What stays behind is only loose objects, named by their
content, so a later solve cannot be misled by them.  A repository is
removed after :data:`MAX_USES` solves, when :data:`MAX_FREE` are already
waiting, after a failed solve, and at exit; a forked child makes its own.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path

from pubinbox.solver.gitfiles import init_bare

__all__ = ["MAX_FREE", "MAX_USES", "Scratch", "acquire", "clear", "release"]

MAX_USES = 50
MAX_FREE = 4


class Scratch:
    """``root/git`` (bare, objects borrowed through alternates), ``root/wt``
    (git's work tree, never written: ``--cached``), ``root/index``."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pubinbox-solve-"))
        self.pid = os.getpid()
        self.uses = 0
        init_bare(self.root / "git", [])
        (self.root / "wt").mkdir()

    @property
    def git_dir(self) -> Path:
        return self.root / "git"

    @property
    def index(self) -> Path:
        return self.root / "index"

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


_FREE: list[Scratch] = []
_LOCK = threading.Lock()


def acquire(alternates: list[Path]) -> Scratch:
    """A repository (reused if one is free) borrowing *alternates*' objects."""
    with _LOCK:
        while _FREE and _FREE[-1].pid != os.getpid():
            _FREE.pop()  # the parent's: it removes them
        s = _FREE.pop() if _FREE else None
    if s is None:
        s = Scratch()
    s.index.unlink(missing_ok=True)
    (s.git_dir / "objects" / "info" / "alternates").write_text("".join(f"{a}\n" for a in alternates))
    return s


def release(s: Scratch, ok: bool = True) -> None:
    """Hand *s* back after a solve (*ok*: it ended normally)."""
    s.uses += 1
    if ok and s.uses < MAX_USES and s.pid == os.getpid():
        with _LOCK:
            if len(_FREE) < MAX_FREE:
                _FREE.append(s)
                return
    s.remove()


def clear() -> None:
    """Remove every free repository (at exit; tests)."""
    with _LOCK:
        old = [s for s in _FREE if s.pid == os.getpid()]
        _FREE.clear()
    for s in old:
        s.remove()


atexit.register(clear)
