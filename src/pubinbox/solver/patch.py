"""One file's diff out of a message, as the solver feeds it to ``git apply``.

A message's text parts (the parts the search index reads) are scanned for
``diff --git`` sections whose ``index A..B`` names the wanted post-image
blob (either id may be the abbreviation of the other).  A section is its
header lines and then exactly the hunk lines the ``@@ -a,b +c,d @@``
counts promise, so a signature or prose after the patch is never part of
it; a blank line inside a hunk is a context line whose space a mailer
dropped.  Binary patches and sections without an ``index`` line are
skipped (git needs the full blob ids for those).
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass

from pubinbox.mail.mime import iter_parts
from pubinbox.search.diff import git_unquote
from pubinbox.search.extract import part_text

__all__ = ["NULL_OID", "FilePatch", "find_patches", "oid_matches"]

#: the sections looked at in one message (a huge series is cut short)
MAX_SECTIONS = 2000

_DIFF_GIT = re.compile(r"^diff --git ((?:\"(?:[^\"\\]|\\.)*\")|\S+) ((?:\"(?:[^\"\\]|\\.)*\")|\S+)\s*\Z")
_INDEX = re.compile(r"^index ([a-f0-9]{7,64})\.\.([a-f0-9]{7,64})(?: ([0-7]{6}))?\s*\Z")
_MODE = re.compile(r"^(?:new file|new|deleted file) mode ([0-7]{6})\s*\Z")
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_HEADER_LINE = re.compile(r"^(?:old mode|new mode|deleted file mode|new file mode|similarity index|"
                          r"dissimilarity index|rename from|rename to|copy from|copy to|index|--- |\+\+\+ )")  # fmt: skip
NULL_OID = re.compile(r"\A0{7,64}\Z")


@dataclass(frozen=True, slots=True)
class FilePatch:
    """A ``diff --git`` section for one file."""

    oid_a: str  # as written (abbreviated); all zeros for a new file
    oid_b: str
    path_a: str  # without the "a/" prefix; "/dev/null" for a new file
    path_b: str
    mode_b: str  # 100644 unless the header says otherwise
    text: str  # the whole section, for git apply

    @property
    def is_new(self) -> bool:
        return NULL_OID.match(self.oid_a) is not None


def oid_matches(written: str, want: str) -> bool:
    """Does an id as a patch writes it stand for the wanted (maybe abbreviated) id?"""
    return written.startswith(want) or want.startswith(written)


def _strip_prefix(name: str) -> str | None:
    name = git_unquote(name)
    if name == "/dev/null":
        return name
    parts = name.split("/", 1)
    return parts[1] if len(parts) == 2 and parts[1] else None


def _section(lines: list[str], i: int, want: str) -> tuple[FilePatch | None, int]:
    """The section starting at ``lines[i]`` (a ``diff --git`` line) if it
    produces *want*, and the index after it."""
    m = _DIFF_GIT.match(lines[i].rstrip("\n"))
    start = i
    i += 1
    oid_a = oid_b = mode = None
    path_a = path_b = _strip_prefix(m.group(2)) if m else None
    if m:
        path_a = _strip_prefix(m.group(1))
    while i < len(lines) and _HEADER_LINE.match(lines[i]):
        line = lines[i].rstrip("\n")
        if (im := _INDEX.match(line)) is not None:
            oid_a, oid_b, mode = im.group(1), im.group(2), im.group(3) or mode
        elif (mm := _MODE.match(line)) is not None:
            mode = mm.group(1)
        elif line.startswith("--- "):
            path_a = _strip_prefix(line[4:]) or path_a
        elif line.startswith("+++ "):
            path_b = _strip_prefix(line[4:]) or path_b
        i += 1
    hunks = 0
    while i < len(lines) and (h := _HUNK.match(lines[i])) is not None:
        old = int(h.group(2)) if h.group(2) is not None else 1
        new = int(h.group(4)) if h.group(4) is not None else 1
        i += 1
        while i < len(lines) and (old > 0 or new > 0):
            c = lines[i][:1]
            if c in (" ", "\n", ""):
                old, new = old - 1, new - 1
                if c != " ":
                    lines[i] = " " + lines[i]
            elif c == "-":
                old -= 1
            elif c == "+":
                new -= 1
            elif c != "\\":
                break
            i += 1
        while i < len(lines) and lines[i].startswith("\\ "):  # "\ No newline at end of file"
            i += 1
        if old != 0 or new != 0:
            return None, i  # a damaged hunk: git apply would refuse it anyway
        hunks += 1
    if oid_a is None or oid_b is None or path_a is None or path_b is None or (hunks == 0):
        return None, i
    if path_b == "/dev/null" or not oid_matches(oid_b, want):
        return None, i  # a deletion produces no blob; another blob: its text is not needed
    text = "".join(x if x.endswith("\n") else x + "\n" for x in lines[start:i])
    return FilePatch(oid_a, oid_b, path_a, path_b, mode or "100644", text), i


def _sections(text: str, want: str) -> list[FilePatch]:
    lines = text.replace("\r\n", "\n").splitlines(keepends=True)
    out: list[FilePatch] = []
    # every section starts at a "diff --git " line (no hunk line can: they
    # start with " ", "+", "-" or "\\"); a section whose index line names
    # another blob is not parsed further
    starts = [i for i, line in enumerate(lines) if line.startswith("diff --git ")][:MAX_SECTIONS]
    done = 0
    for i in starts:
        if i < done:
            continue
        j = i + 1
        while j < len(lines) and _HEADER_LINE.match(lines[j]) and not lines[j].startswith("index "):
            j += 1
        im = _INDEX.match(lines[j].rstrip("\n")) if j < len(lines) else None
        if im is not None and not oid_matches(im.group(2), want):
            continue
        fp, done = _section(lines, i, want)
        if fp is not None:
            out.append(fp)
    return out


def find_patches(raw: bytes, want: str, path_b: str | None = None) -> list[FilePatch]:
    """The sections of message *raw* producing blob *want* (hint: *path_b*
    first).  Never raises on hostile mail: what cannot be parsed is skipped."""
    found: list[FilePatch] = []
    with suppress(Exception):
        for part in iter_parts(raw):
            t = None
            with suppress(Exception):
                t = part_text(part)
            # an id abbreviates to at least 7 digits: without those, no section of the part matches
            if t is None or "diff --git " not in t or want[:7] not in t:
                continue
            found.extend(_sections(t, want))
    if path_b:
        found.sort(key=lambda fp: fp.path_b != path_b)
    return found
