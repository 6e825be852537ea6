"""``git patch-id --stable`` in pure Python.

public-inbox feeds the text of every message part that looks like a diff to
``git patch-id --stable`` and indexes the first id it prints as ``XDFID``
(the ``patchid:`` search prefix).  :func:`patch_id_stable` gives exactly the
first field of what git (2.39) prints for the same bytes, without spawning a
process.  The algorithm, as git's ``builtin/patch-id.c`` runs it:

* The input is cut into lines at ``\\n``; each line is treated as a C string
  (it ends at its first NUL byte).
* A line that is 40 hex digits, or ``commit `` / ``From `` followed by 40 hex
  digits (``git log`` / ``format-patch`` separators), ends the current patch
  and starts the next one; ``\\ No newline at end of file`` lines (any line
  starting with a backslash and a space, longer than 12 bytes) are ignored.
* Nothing counts before the first line starting with ``diff ``.  In a file
  header, ``index`` lines are remembered (not hashed) for binary diffs, other
  header lines that start with a letter are hashed, ``--- `` starts the
  hunks; any other line ends the patch (and the rest of the input is parsed
  as a further patch).  Hunk headers are parsed for their line counts and
  not hashed; hunk lines are hashed until the counts are used up; then only
  a hunk header or another ``diff `` line continues the patch.
* Every hashed line has its spaces, tabs, CRs and LFs removed; SHA-1 is
  computed per file and the per-file digests are added as 160-bit
  little-endian numbers (the "stable" combination).  A binary file adds the
  digest of its pre- and post-image ids and its remaining lines are skipped.
* The first patch that hashed a non-empty line is printed; so a patch id
  exists exactly when some line starts with ``diff `` (the fast path).
"""

from __future__ import annotations

import hashlib
import re

from pubinbox import native

__all__ = ["patch_id_stable", "patch_ids_stable"]

_HEX40 = re.compile(rb"[0-9a-fA-F]{40}")
_DIGITS = re.compile(rb"[0-9]*")
_ATOI = re.compile(rb"[ \t\n\v\f\r]*([+-]?[0-9]*)")
_WS = b" \t\n\r"  # git's sane_ctype isspace(): no \v, no \f
_MOD160 = 1 << 160
_NATIVE = native.load()
_EMPTY = b""


def _has_diff_line(data: bytes) -> bool:
    return data.startswith(b"diff ") or b"\ndiff " in data


def _atoi(s: bytes) -> int:
    """C ``atoi`` (glibc: ``(int) strtol``, saturating at the long range)."""
    m = _ATOI.match(s)
    digits = m.group(1) if m else b""
    if digits in (b"", b"+", b"-"):
        return 0
    v = int(digits)
    v = max(-(1 << 63), min(v, (1 << 63) - 1))
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


# the usual well-formed header (counts short enough for atoi to be exact;
# the lookaheads send a longer or signed second count to the slow path)
_HUNK = re.compile(rb"@@ -(?:[0-9]*,([0-9]{1,9})|[0-9]+) \+(?:[0-9]*,([0-9]{1,9})(?![0-9])|[0-9]+(?![0-9,]))")


def _scan_hunk_header(line: bytes, before: int, after: int) -> tuple[int, int]:
    """git's scan_hunk_header: new (before, after), partial on bad input."""
    m = _HUNK.match(line)
    if m:
        b, a = m.groups()
        return (int(b) if b else 1), (int(a) if a else 1)
    q = 4
    n = len(_DIGITS.match(line, q).group(0))  # type: ignore[union-attr]
    if line[q + n : q + n + 1] == b",":
        q += n + 1
        before = _atoi(line[q:])
        n = len(_DIGITS.match(line, q).group(0))  # type: ignore[union-attr]
    else:
        before = 1
    if n == 0 or line[q + n : q + n + 2] != b" +":
        return before, after
    r = q + n + 2
    n = len(_DIGITS.match(line, r).group(0))  # type: ignore[union-attr]
    if line[r + n : r + n + 1] == b",":
        r += n + 1
        after = _atoi(line[r:])
    else:
        after = 1
    return before, after


def _oid_str(s: bytes) -> bytes:
    """strlcpy into a GIT_MAX_HEXSZ + 1 buffer."""
    return s[:64]


def _digest(buf: list[bytes]) -> int:
    """SHA-1 of the hashed lines (whitespace removed) as a little-endian int."""
    h = hashlib.sha1(b"".join(buf).translate(None, _WS)).digest()
    return int.from_bytes(h, "little")


_HEXSTART = frozenset(b"0123456789abcdefABCDEF")
_ALPHA = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_C, _F, _BSL, _MINUS, _PLUS, _SP = b"cF\\-+ "


def _iter(data: bytes, undefined: list[bool] | None = None) -> list[tuple[str, str]]:
    """Every line git would print: (patch id, commit id of the patch).

    A binary file with no ``index`` line before it in the same patch makes
    git hash an uninitialised buffer; we hash empty ids and, when asked,
    report it in *undefined*.
    """
    out: list[tuple[str, str]] = []
    oid = "0" * 40
    lines = data.split(b"\n")
    if lines[-1] == _EMPTY:
        lines.pop()
        nl_last = True
    else:
        nl_last = False
    has_nul = b"\0" in data
    n_lines = len(lines)
    i = 0
    hexm = _HEX40.match
    hexstart = _HEXSTART
    alpha = _ALPHA
    while i < n_lines:
        # one get_one_patchid() call; the hashed lines of the current file
        # are collected in buf (SHA-1 is streaming, so joining is the same)
        next_oid = "0" * 40
        started = False  # git's patchlen != 0
        before = after = -1
        binary = False
        pre_oid = post_oid = _EMPTY
        have_oids = False
        buf: list[bytes] = []
        result = 0
        while i < n_lines:
            line = lines[i]
            i += 1
            has_nl = i < n_lines or nl_last
            if has_nul:
                nul = line.find(0)
                if nul >= 0:
                    line = line[:nul]
                    has_nl = False
            c0 = line[0] if line else -1
            p = line
            if c0 == _C:
                if line.startswith(b"commit "):
                    p = line[7:]
            elif c0 == _F:
                if line.startswith(b"From "):
                    p = line[5:]
            elif c0 == _BSL and line[1:2] == b" " and len(line) + has_nl > 12:
                continue
            if p and p[0] in hexstart:
                m = hexm(p)
                if m:
                    next_oid = m.group(0).lower().decode("ascii")
                    break
            if not started:
                if not line.startswith(b"diff "):
                    continue
                started = True
            if before == -1:
                if line.startswith((b"GIT binary patch", b"Binary files")):
                    binary = True
                    before = 0
                    if not have_oids and undefined is not None:
                        undefined.append(True)
                    result += _digest([*buf, pre_oid, post_oid])
                    buf = []
                    continue
                if line.startswith(b"index "):
                    full = line + b"\n" if has_nl else line
                    e1 = full.find(b"..")
                    if e1 >= 0:
                        e2 = full.find(b" ", e1)
                        if e2 < 0:
                            e2 = len(full) - 1
                        pre_oid = _oid_str(full[6:e1])
                        post_oid = _oid_str(full[e1 + 2 : e2])
                        have_oids = True
                    continue
                if line.startswith(b"--- "):
                    before = after = 1
                elif c0 not in alpha:
                    break
            if binary:
                if line.startswith(b"diff "):
                    binary = False
                    before = -1
                continue
            if before == 0 and after == 0:
                if line.startswith(b"@@ -"):
                    before, after = _scan_hunk_header(line, before, after)
                    continue
                if not line.startswith(b"diff "):
                    break
                result += _digest(buf)
                buf = []
                before = after = -1
            if c0 == _MINUS:
                before -= 1
            elif c0 == _PLUS:
                after -= 1
            elif c0 == _SP:
                before -= 1
                after -= 1
            buf.append(line)
        result += _digest(buf)
        if started:
            out.append(((result % _MOD160).to_bytes(20, "little").hex(), oid))
        oid = next_oid
    return out


def _first_id_py(data: bytes) -> str | None:
    """The id of the first patch of *data*, which starts with a ``diff `` line."""
    ids = _iter(data)
    return ids[0][0] if ids else None


def _first_id_c(data: bytes) -> str | None:
    """:func:`_first_id_py` with the lines gathered in C (``_native.patch_parts``:
    what each SHA-1 of the first patch covers)."""
    assert _NATIVE is not None
    total = sum(int.from_bytes(hashlib.sha1(p).digest(), "little") for p in _NATIVE.patch_parts(data))
    return (total % _MOD160).to_bytes(20, "little").hex()


_first_id = _first_id_c if _NATIVE is not None else _first_id_py


def _as_bytes(text: str | bytes) -> bytes:
    if isinstance(text, bytes):
        return text
    return text.encode("utf-8", "surrogatepass")


def patch_id_stable(text: str | bytes) -> str | None:
    """The first id ``git patch-id --stable`` prints for *text*, else None.

    *text* is a message body or a whole message (``str`` is encoded as
    UTF-8).  Never raises.
    """
    try:
        data = _as_bytes(text)
        if not _has_diff_line(data):
            return None
        # Lines before the first "diff " one only end patches that have not
        # started (no id printed) and set the commit id, which is not
        # returned here: the first id is the same from that line on.
        at = 0 if data.startswith(b"diff ") else data.find(b"\ndiff ") + 1
        return _first_id(data[at:] if at else data)
    except Exception:  # noqa: BLE001 - hostile input must never raise
        return None


def patch_ids_stable(text: str | bytes) -> tuple[tuple[str, str], ...]:
    """Every line ``git patch-id --stable`` prints: (patch id, commit id).

    The commit id comes from the ``commit``/``From``/40-hex line that
    started the patch (forty zeros when none did).
    """
    try:
        data = _as_bytes(text)
        if not _has_diff_line(data):
            return ()
        return tuple(_iter(data))
    except Exception:  # noqa: BLE001 - hostile input must never raise
        return ()
