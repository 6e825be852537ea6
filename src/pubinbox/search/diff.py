"""Split a diff-bearing text into public-inbox's diff search fields.

This follows ``index_diff`` of public-inbox 1.9's SearchIdx.pm line by line,
which is how the ``dfn: dfa: dfb: dfhh: dfctx: dfpre: dfpost:`` prefixes and
the diff-related part of ``nq:`` get their text:

* ``diff --git a/X b/Y`` (names may be C-quoted): the line goes to the
  non-quoted text, X and Y (first path component removed) to ``dfn``; the
  text is now "in a diff".
* ``--- a/X`` / ``+++ b/Y``: X / Y to ``dfn`` (in a diff).  Traditional
  ``diff -u A B`` and ``--- A`` / ``+++ B`` headers keep the longest common
  trailing path of both names.
* ``index ABC..DEF``: ``dfpre`` / ``dfpost`` (hex ids as written).
* ``@@ -a,b +c,d @@ context``: the context to ``dfhh``.
* In a diff, ``+``/``-``/`` `` lines go (without the marker) to ``dfb`` /
  ``dfa`` / ``dfctx``; blank lines are ignored (MUAs strip the space).
* Mode, rename/copy, similarity, ``Binary files``, ``\\ No newline`` lines and
  ``GIT binary patch`` with its ``literal``/``delta`` lines go to the
  non-quoted text; the base-85 data is skipped.
* ``-- `` (a signature separator) ends the diff and is dropped; any other line
  goes to the non-quoted text and ends the diff, so prose after a patch is
  ordinary text again.

Deliberate difference from public-inbox: ``+++ /dev/null`` (a deleted file)
keeps the diff going, so the removed lines land in ``dfa``; public-inbox
1.9 treats the line as an unmatched traditional header and indexes the
removed lines as plain non-quoted text.  Likewise a traditional header pair
with ``/dev/null`` on one side indexes the other name and stays in the diff.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass, field

__all__ = ["DiffTerms", "git_unquote", "parse_diff_text"]


@dataclass(frozen=True, slots=True)
class DiffTerms:
    """The texts one diff-bearing section gives to each search field.

    ``nq`` holds the non-diff lines in blocks (each block is the lines seen
    between two diff lines, joined by newlines); the diff fields hold one
    entry per line or name.  ``dfn`` has each file name once.
    """

    nq: tuple[str, ...] = ()
    dfn: tuple[str, ...] = ()
    dfa: tuple[str, ...] = ()
    dfb: tuple[str, ...] = ()
    dfhh: tuple[str, ...] = ()
    dfctx: tuple[str, ...] = ()
    dfpre: tuple[str, ...] = ()
    dfpost: tuple[str, ...] = ()


@dataclass(slots=True)
class DiffAccumulator:
    """Mutable collector shared by several sections of one message."""

    nq: list[str] = field(default_factory=list)
    dfn: list[str] = field(default_factory=list)
    dfa: list[str] = field(default_factory=list)
    dfb: list[str] = field(default_factory=list)
    dfhh: list[str] = field(default_factory=list)
    dfctx: list[str] = field(default_factory=list)
    dfpre: list[str] = field(default_factory=list)
    dfpost: list[str] = field(default_factory=list)
    seen_fn: set[str] = field(default_factory=set)

    def freeze(self) -> DiffTerms:
        return DiffTerms(
            nq=tuple(self.nq),
            dfn=tuple(self.dfn),
            dfa=tuple(self.dfa),
            dfb=tuple(self.dfb),
            dfhh=tuple(self.dfhh),
            dfctx=tuple(self.dfctx),
            dfpre=tuple(self.dfpre),
            dfpost=tuple(self.dfpost),
        )


_GIT_ESC = {"\\": "\\", '"': '"', "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_UNQUOTE_RE = re.compile(r'\\([\\"abfnrtv]|[0-3][0-7]{2})')


def git_unquote(name: str) -> str:
    """Undo git's C-style quoting of a path (``"a/caf\\303\\251"``)."""
    if len(name) < 2 or name[0] != '"' or name[-1] != '"':
        return name
    inner = name[1:-1]
    if "\\" not in inner:
        return inner
    out = bytearray()
    pos = 0
    for m in _UNQUOTE_RE.finditer(inner):
        out += inner[pos : m.start()].encode("utf-8", "surrogatepass")
        e = m.group(1)
        if len(e) == 3:
            out.append(int(e, 8))
        else:
            out += _GIT_ESC[e].encode("ascii")
        pos = m.end()
    out += inner[pos:].encode("utf-8", "surrogatepass")
    return out.decode("utf-8", "replace")


def _after_first_component(name: str) -> str | None:
    """Perl ``(split(m'/', $name, 2))[1]``: drop ``a/``, ``b/``, ..."""
    parts = name.split("/", 1)
    return parts[1] if len(parts) == 2 else None


def _perl_split_slash(name: str) -> list[str]:
    parts = name.split("/")
    while parts and parts[-1] == "":
        parts.pop()
    return parts


_DIFF_GIT = re.compile(r'diff --git ("?[^/]+/.+) ("?[^/]+/.+)\Z')
_DIFF_TRAD = re.compile(r"diff -(.+) (\S+) (\S+)\Z")
_MINUS_PATH = re.compile(r'--- ("?[^/]+/.+)')
_PLUS_PATH = re.compile(r'\+\+\+ ("?[^/]+/.+)')
_MINUS_ANY = re.compile(r"--- (\S+)")
_PLUS_ANY = re.compile(r"\+\+\+ (\S+)")
_INDEX = re.compile(r"index ([a-f0-9]+)\.\.([a-f0-9]+)")
_HUNK_BARE = re.compile(r"@@ \S+ \S+ @@\s*\Z")
_HUNK_CTX = re.compile(r"@@ \S+ \S+ @@\s*(\S.*)\Z")
_IGNORED = re.compile(
    r"(?:(?:dis)?similarity index|(?:old|new) mode|(?:deleted|new) file mode"
    r"|(?:copy|rename) (?:from|to) |\\ No newline at end of file|Binary files .* differ)"
)
_BASE85 = re.compile(r"[a-zA-Z0-9!#$%&()*+\-;<=>?@^_`{|}~]+\Z")
_NONBLANK = re.compile(r"\S")
_DEV_NULL = "/dev/null"

# in_diff states (Perl's $in_diff: undef, false, true, or an old file name)
_UNDEF: None = None


def _truthy(state: bool | str | None) -> bool:
    if isinstance(state, str):
        return state not in ("", "0")
    return bool(state)


def _flush(acc: DiffAccumulator, xnq: list[str]) -> None:
    if xnq:
        acc.nq.append("\n".join(xnq))
        xnq.clear()


def _add_fn(acc: DiffAccumulator, xnq: list[str], name: str | None) -> None:
    if name is None or name == "":
        return
    if name not in acc.seen_fn:
        acc.seen_fn.add(name)
        _flush(acc, xnq)
        acc.dfn.append(name)


def _old_diff_fn(acc: DiffAccumulator, xnq: list[str], fa: str, fb: str) -> bool:
    """Common trailing path of two traditional diff names (index_old_diff_fn)."""
    if fa == _DEV_NULL or fb == _DEV_NULL:  # new or deleted file (see module doc)
        other = fb if fa == _DEV_NULL else fa
        if other != _DEV_NULL:
            _add_fn(acc, xnq, other)
        return True
    pa = _perl_split_slash(fa)
    pb = _perl_split_slash(fb)
    while pa and pb:
        ja = "/".join(pa)
        if ja == "/".join(pb):
            _add_fn(acc, xnq, ja)
            return True
        pa.pop(0)
        pb.pop(0)
    return False


def _is_plus_header(line: str) -> bool:
    return line.startswith("+++ ") and bool(_PLUS_PATH.match(line) or _PLUS_ANY.match(line))


def _is_minus_header(line: str) -> bool:
    if line == "-- ":
        return True
    return line.startswith("--- ") and bool(_MINUS_PATH.match(line) or _MINUS_ANY.match(line))


def parse_diff_into(acc: DiffAccumulator, text: str) -> None:
    """Parse one diff-bearing section (LF line ends) into *acc*."""
    in_diff: bool | str | None = _UNDEF
    active = False  # Perl truth of in_diff
    xnq: list[str] = []
    nq = acc.nq
    lines = text.split("\n")
    n = len(lines)
    i = 0
    while i < n:
        line = lines[i]
        i += 1
        c0 = line[:1]
        if active:
            if c0 == " ":  # context
                if xnq:
                    nq.append("\n".join(xnq))
                    xnq.clear()
                acc.dfctx.append(line[1:])
                continue
            if c0 == "+" and not (line.startswith("+++ ") and _is_plus_header(line)):
                if xnq:
                    nq.append("\n".join(xnq))
                    xnq.clear()
                acc.dfb.append(line[1:])
                continue
            if c0 == "-" and not (line.startswith(("--- ", "-- ")) and _is_minus_header(line)):
                if xnq:
                    nq.append("\n".join(xnq))
                    xnq.clear()
                acc.dfa.append(line[1:])
                continue
            if line.startswith("GIT binary patch"):
                xnq.append(line)
                while i < n and lines[i].startswith(("literal ", "delta ")):
                    xnq.append(lines[i])
                    i += 1
                    while i < n and (_BASE85.match(lines[i]) or not _NONBLANK.search(lines[i])):
                        i += 1
                continue
        if line == "":
            # may be diff context stripped by a MUA; "git apply" agrees
            continue
        if line == "-- ":  # signature: the diff is over
            in_diff, active = _UNDEF, False
            continue
        if c0 == "d":
            m = _DIFF_GIT.match(line)
            if m:
                xnq.append(line)
                in_diff, active = True, True
                _add_fn(acc, xnq, _after_first_component(git_unquote(m.group(1))))
                _add_fn(acc, xnq, _after_first_component(git_unquote(m.group(2))))
                continue
            m = _DIFF_TRAD.match(line)
            if m:
                xnq.append(line)
                if "u" in m.group(1) or "U" in m.group(1):
                    in_diff = active = _old_diff_fn(acc, xnq, m.group(2), m.group(3))
                continue
        elif c0 == "-":
            m = _MINUS_PATH.match(line)
            if m:
                _add_fn(acc, xnq, _after_first_component(git_unquote(m.group(1))))
                in_diff, active = True, True
                continue
            m = _MINUS_ANY.match(line)
            if m:
                in_diff = m.group(1)
                active = _truthy(in_diff)
                xnq.append(line)
                continue
        elif c0 == "+":
            m = _PLUS_PATH.match(line)
            if m:
                _add_fn(acc, xnq, _after_first_component(git_unquote(m.group(1))))
                in_diff, active = True, True
                continue
            if in_diff is not None:
                m = _PLUS_ANY.match(line)
                if m:
                    if isinstance(in_diff, str):
                        in_diff = _old_diff_fn(acc, xnq, in_diff, m.group(1))
                    elif m.group(1) == _DEV_NULL:
                        in_diff = True  # deleted file (see module doc)
                    else:
                        in_diff = _old_diff_fn(acc, xnq, "1" if in_diff else "0", m.group(1))
                    active = bool(in_diff)
                    continue
        elif c0 == "i":
            m = _INDEX.match(line)
            if m:
                acc.dfpre.append(m.group(1))
                acc.dfpost.append(m.group(2))
                in_diff, active = True, True
                continue
        elif c0 == "@":
            if _HUNK_BARE.match(line):
                continue
            m = _HUNK_CTX.match(line)
            if m:
                _flush(acc, xnq)
                acc.dfhh.append(m.group(1))
                continue
        xnq.append(line)
        if not _IGNORED.match(line):
            in_diff, active = _UNDEF, False
    _flush(acc, xnq)


def parse_diff_text(text: str) -> DiffTerms:
    """Diff search fields of *text* (a message section that holds a diff).

    CRLF line ends are accepted; never raises.
    """
    acc = DiffAccumulator()
    with suppress(Exception):  # hostile input must never raise
        parse_diff_into(acc, text.replace("\r\n", "\n"))
    return acc.freeze()
