"""Keeping an epoch's pack count small.

``git fast-import`` writes a pack at every checkpoint (one per batch of
messages, one per ``mda`` delivery), and nothing else in a v2 inbox packs
them together: a long-lived inbox ends up with hundreds of packs, and every
object lookup (pages, NNTP/IMAP, the dedupe check) looks through them all.
:func:`tidy_packs` runs when a writer finishes: a geometric repack (each
pack at least twice the size of all smaller ones together, so the work is
amortised over the inbox's life) once there are more than
:data:`PACK_LIMIT`.  :func:`drop_stale_keeps` removes the ``.keep`` files a
killed fast-import leaves (they would exclude its packs from every repack).
Both only with ``inbox.lock`` held: no fast-import of ours or of
public-inbox's runs then.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

__all__ = ["PACK_LIMIT", "drop_stale_keeps", "pack_count", "tidy_packs"]

log = logging.getLogger(__name__)

#: more packs than this in an epoch and the writer repacks when it finishes
PACK_LIMIT = 16
#: what git fast-import writes into the .keep file of a pack it is writing
_FAST_IMPORT_KEEP = b"fast-import"


def _pack_dir(git_dir: Path) -> Path:
    return git_dir / "objects" / "pack"


def pack_count(git_dir: Path) -> int:
    try:
        return sum(1 for p in _pack_dir(git_dir).iterdir() if p.suffix == ".pack")
    except FileNotFoundError:
        return 0


def drop_stale_keeps(git_dir: Path) -> list[Path]:
    """Remove ``.keep`` files left by a killed git fast-import (lock held)."""
    removed = []
    try:
        keeps = [p for p in _pack_dir(git_dir).iterdir() if p.suffix == ".keep"]
    except FileNotFoundError:
        return []
    for keep in keeps:
        try:
            if keep.read_bytes().startswith(_FAST_IMPORT_KEEP):
                keep.unlink()
                removed.append(keep)
        except OSError:
            continue
    return removed


def tidy_packs(git_dir: Path, *, limit: int = PACK_LIMIT) -> bool:
    """Repack *git_dir* geometrically when it has more than *limit* packs;
    True when it did.  A failure is logged, never raised: the packs are
    still all there and readable."""
    if pack_count(git_dir) <= limit:
        return False
    proc = subprocess.run(
        ["git", "--git-dir", str(git_dir), "repack", "-d", "-q", "--geometric=2", "--no-write-bitmap-index"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        log.warning("%s: git repack failed: %s", git_dir, proc.stderr.decode(errors="replace").strip())
        return False
    return True
