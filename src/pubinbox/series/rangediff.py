"""A range-diff between two revisions of a series, from the mail alone.

``git range-diff`` needs both revisions as commits, which needs a tree
they apply to; the archive has none.  This computes the same answer from
the patches themselves: each patch is its commit message and its diff
(``index`` lines and hunk line numbers dropped, as range-diff does);
patches are paired first when equal, then by similarity (a pair must
share at least :data:`PAIR_MIN` of its lines, like range-diff's creation
factor), and each pair is shown as ``=`` (the same) or ``!`` with a diff of
the two patches; a patch only in the old revision is ``<``, only in the
new one ``>``.  Bounded: :data:`MAX_PATCHES` per side, :data:`MAX_LINES`
per patch, a time budget (what is left is listed without diffs).
"""

from __future__ import annotations

import difflib
import re
import time
from dataclasses import dataclass, field

__all__ = ["Entry", "Patch", "normalise", "range_diff"]

MAX_PATCHES = 200
MAX_LINES = 5000
#: share of lines two patches must have in common to be paired
PAIR_MIN = 0.4
#: seconds for the whole comparison
BUDGET = 3.0

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@ ?")
_DIFFSTAT = re.compile(r"^\s*\d+ files? changed")


@dataclass(slots=True)
class Patch:
    number: int
    title: str
    lines: list[str]


@dataclass(slots=True)
class Entry:
    """``=``: same; ``!``: changed (*diff*); ``<``: only old; ``>``: only new."""

    kind: str
    old: Patch | None
    new: Patch | None
    diff: list[str] = field(default_factory=list)


def normalise(title: str, body: str) -> list[str]:
    """The lines of a patch as range-diff compares them: the title, the
    commit message (to the ``---`` line, diffstat dropped), the diff
    without ``index`` lines and with hunk headers reduced to ``@@``."""
    out = [title, ""]
    lines = body.replace("\r", "").split("\n")
    in_diff = False
    stat = False
    for ln in lines:
        if ln.startswith("diff --git "):
            in_diff = True
        if not in_diff:
            if ln.rstrip() == "---":
                stat = True
                continue
            if stat:
                continue  # the diffstat and notes between --- and the diff
            out.append(ln)
            continue
        if ln.startswith("index ") or (ln == "-- " and in_diff):
            if ln == "-- ":
                break  # the signature after the diff
            continue
        out.append(_HUNK.sub("@@ ", ln).rstrip() if ln.startswith("@@") else ln)
        if len(out) >= MAX_LINES:
            out.append("[... patch cut: too long to compare]")
            break
    while out and not out[-1].strip():
        out.pop()
    return out


def _similar(a: Patch, b: Patch) -> float:
    sm = difflib.SequenceMatcher(None, a.lines, b.lines, autojunk=False)
    if sm.real_quick_ratio() < PAIR_MIN or sm.quick_ratio() < PAIR_MIN:
        return 0.0
    return sm.ratio()


def range_diff(old: list[Patch], new: list[Patch], budget: float = BUDGET) -> tuple[list[Entry], bool]:
    """The entries in the new revision's order, and whether the time
    budget ran out (the remaining changed pairs then have no diff)."""
    deadline = time.monotonic() + budget
    old, new = old[:MAX_PATCHES], new[:MAX_PATCHES]
    pair: dict[int, int] = {}  # new index -> old index
    used: set[int] = set()
    for j, b in enumerate(new):
        for i, a in enumerate(old):
            if i not in used and a.lines == b.lines:
                pair[j] = i
                used.add(i)
                break
    short = False
    scored: list[tuple[float, int, int]] = []
    for j, b in enumerate(new):
        if j in pair:
            continue
        for i, a in enumerate(old):
            if i in used:
                continue
            if time.monotonic() > deadline:
                short = True
                break
            r = _similar(a, b)
            if r >= PAIR_MIN:
                scored.append((r, i, j))
    for _r, i, j in sorted(scored, key=lambda x: (-x[0], x[2], x[1])):
        if i not in used and j not in pair:
            pair[j] = i
            used.add(i)
    out: list[Entry] = []
    shown: set[int] = set()

    def removed_before(limit: int) -> None:
        for i in range(limit):
            if i not in used and i not in shown:
                out.append(Entry("<", old[i], None))
                shown.add(i)

    for j, b in enumerate(new):
        k = pair.get(j)
        if k is None:
            out.append(Entry(">", None, b))
            continue
        removed_before(k)
        a = old[k]
        if a.lines == b.lines:
            out.append(Entry("=", a, b))
            continue
        if time.monotonic() > deadline:
            short = True
            out.append(Entry("!", a, b))
            continue
        diff = list(difflib.unified_diff(a.lines, b.lines, lineterm="", n=3))[2:]
        out.append(Entry("!", a, b, diff))
    removed_before(len(old))
    return out, short
