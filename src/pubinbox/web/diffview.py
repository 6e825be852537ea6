"""Patches inside message bodies, as public-inbox's ViewDiff.pm shows them:
``diff --git``/``index``/``---``/``+++`` headers in ``<span class="head">``,
``@@`` lines in ``hunk``, runs of ``+``/``-`` lines in ``add``/``del``, and
diffstat file names linked to their diff and back (``id=iZ31fs:x.c`` /
``id=Z31fs:x.c``, the anchors lore.kernel.org links use).  Also the
rendering state of one message (:class:`RenderCtx`), which body.py shares.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from pubinbox.search.diff import git_unquote
from pubinbox.web.html import esc
from pubinbox.web.linkify import linkify
from pubinbox.web.obfuscate import Obfuscator

__all__ = ["DIFF_GIT", "DIFF_HINT", "RenderCtx", "flush_diff", "lines_of"]


# public-inbox's portable file name for attachment links
_HUNK = re.compile(r"@@ (\S+) (\S+) @@")
DIFF_HINT = re.compile(r"^--- [^\n]+\n\+\+\+ [^\n]+\n@@ ", re.MULTILINE)
DIFF_GIT = re.compile(r"^diff --git ", re.MULTILINE)
_DIFF_GIT_SUB = re.compile(r"^diff --git", re.MULTILINE)
_FILES_CHANGED = re.compile(r"^ [0-9]+ files? changed, ", re.MULTILINE)
_STAT_COMMENT = re.compile(r"\((?:new|gone|(?:new|mode) [+\-][lx])\)\Z")

# Hval.pm to_attr: bytes outside [A-Za-z0-9_.-] as "::xx", '/' as ':'
_ATTR_MAP = [chr(c) if chr(c).isascii() and (chr(c).isalnum() or chr(c) in "_.-") else f"::{c:02x}" for c in range(256)]
_ATTR_MAP[0x2F] = ":"


def _to_attr(s: str) -> str | None:
    """An HTML id for a file name, as public-inbox's ``to_attr``."""
    if "//" in s:
        return None
    b = s.encode("utf-8", "surrogatepass")
    first = ""
    if b and not (0x41 <= b[0] <= 0x59 or 0x61 <= b[0] <= 0x7A):  # ids start with [A-Ya-z]
        first = f"Z{b[0]:02x}"
        b = b[1:]
    return first + "".join([_ATTR_MAP[c] for c in b])


def _is_fn(s: str) -> bool:
    """ViewDiff.pm's ``$FN``: ``"?[^/\\n]+/[^\\n]+`` or ``/dev/null``."""
    if s == "/dev/null":
        return True
    k = s.find("/")
    return k >= 1 and len(s) > k + 1


def _strip_prefix(name: str) -> str | None:
    """Drop ``a/``, ``b/`` (the first path component) from a diff header name."""
    if name == "/dev/null":
        return name
    parts = git_unquote(name).split("/", 1)
    return parts[1] if len(parts) == 2 else None


class RenderCtx:
    """Rendering state of one message (public-inbox's ``$ctx`` keys)."""

    __slots__ = ("anchors", "apfx", "dstate", "fold", "long_path", "mhref", "obfs", "out", "spfx", "upfx")

    def __init__(
        self, msg_url: str, anchor_prefix: str, fold: int, obfs: Obfuscator | None = None, spfx: str | None = None
    ) -> None:
        self.out: list[str] = []
        # way back to /$INBOX/ for /$OID/s/ links (None: the inbox has no coderepo)
        self.spfx = spfx
        # the current diff's (pre-image id, post-image id, query) for hunk links
        self.dstate: tuple[str, str, str] | None = None
        self.obfs = obfs
        self.mhref = esc(msg_url)
        self.upfx = msg_url + anchor_prefix
        self.fold = fold
        self.apfx = ""
        # attr -> True for diffstat anchors still waiting for their diff
        self.anchors: dict[str, bool] | None = None
        self.long_path: list[str] = []

    def linkify(self, text: str) -> str:
        return linkify(text, mailto=self.obfs is None)


def _diffstat_name(fn: str) -> str:
    """The file name a diffstat entry stands for (renames, comments, quoting)."""
    fn = fn.rstrip(" ")
    m = _STAT_COMMENT.search(fn)
    if m is not None:
        fn = fn[: m.start()].rstrip(" ")
    # "dir/{old => new}/x" and "old => new": the new name
    i = fn.find("{")
    done = False
    if i >= 0:
        k = fn.rfind("}")
        j = fn.rfind(" => ", i + 2, k - 1) if k > i else -1
        if j >= 0:
            fn = fn[:i] + fn[j + 4 : k] + fn[k + 1 :]
            done = True
    if not done:
        j = fn.rfind(" => ", 0, len(fn) - 1)
        if j >= 0:
            fn = fn[j + 4 :]
    return git_unquote(fn)


def _anchor0(ctx: RenderCtx, line: str) -> bool:
    """A diffstat line `` name | 3 ++-``: link the name to its diff."""
    # ViewDiff.pm: /^ (.+)( +\| .*\z)/s -- the last " | " with text before it
    k = line.rfind(" | ")
    if k < 2:
        return False
    orig, rest = line[1:k], line[k:]
    fn = _diffstat_name(orig)
    if fn.startswith("..."):
        fn = fn[4:] if fn.startswith(".../") else fn[3:]
        ctx.long_path.append(fn)
    attr = _to_attr(ctx.apfx + fn)
    if attr is None or ctx.anchors is None:
        return False
    ctx.anchors[attr] = True
    name = orig.rstrip(" ")
    spaces = orig[len(name) :]
    ctx.out.append(f" <a id=i{attr} href=#{attr}>{esc(name)}</a>{spaces}{ctx.linkify(rest)}")
    return True


def _anchor1(ctx: RenderCtx, pb: str | None) -> str | None:
    """The ``diff --git`` link back to its diffstat line, if there is one."""
    if pb is None:
        return None
    attr = _to_attr(ctx.apfx + pb)
    if attr is None:
        return None
    anchors = ctx.anchors if ctx.anchors is not None else {}
    ok = anchors.pop(attr, None)
    if not ok:
        # diffstat shortened the name to ".../tail": match the tail, in order
        if not ctx.long_path:
            return None
        fn = ctx.long_path.pop(0)
        if not pb.endswith(fn):
            return None
        attr = _to_attr(ctx.apfx + fn)
        if attr is None or not anchors.pop(attr, None):
            return None
    return f"<a href=#i{attr} id={attr}>diff</a> --git"


def _before_or_after(ctx: RenderCtx, text: str) -> None:
    """Prose around a patch: commit message, ``---``, diffstat, signature."""
    if not text:
        return
    out = ctx.out
    if ctx.anchors is None or "---\n" not in text:
        out.append(ctx.linkify(text))
        return
    # pieces between "---" lines; a diffstat is looked for after the first
    piece: list[str] = []
    seen_dashes = False
    for line in [*lines_of(text), "---\n"]:
        if line != "---\n":
            piece.append(line)
            continue
        y = "".join(piece)
        piece = []
        if seen_dashes and _FILES_CHANGED.search(y):
            for stat in lines_of(y):
                if not (stat.startswith(" ") and _anchor0(ctx, stat)):
                    out.append(ctx.linkify(stat))
        elif y:
            out.append(ctx.linkify(y))
        out.append(line)
        seen_dashes = True
    out.pop()  # the "---" added above as a sentinel


def lines_of(text: str) -> list[str]:
    """Lines of *text* split at LF only, each keeping its LF."""
    parts = text.split("\n")
    last = parts.pop()
    out = [p + "\n" for p in parts]
    if last:
        out.append(last)
    return out


_UNSAFE_KEEP = "-._~!$&'()*+,;=:@/"  # Hval.pm's UNSAFE: what uri_escape_utf8 leaves alone
_INDEX_IDS = re.compile(r"^index ([a-f0-9]+)\.\.([a-f0-9]+)", re.MULTILINE)
_NULL = re.compile(r"0{7,}")
# the two names of the (escaped) "diff --git" line: plain, or C-quoted
_NAME = r"(?:&#34;(?:[^&\\\n]|\\.|&(?!#34;))*&#34;|[^\s&]*(?:&(?!#34;)[^\s&]*)*)"
_DIFF_GIT_NAMES = re.compile(rf"^(diff --git) ({_NAME}) ({_NAME})$", re.MULTILINE)


def _solver_links(ctx: RenderCtx, html: str, pa: str | None, pb: str | None) -> str:
    """ViewDiff.pm's diff_header, and more (lore's promise: every blob id and
    file name of a patch leads to that version of the file): both ids of the
    ``index`` line and both names of ``diff --git`` link to ``/$OID/s/``
    (the pre-image with ``?b=`` its own path, the post-image with
    ``?b=NEW&a=OLD``; an added or deleted file's id as public-inbox
    links it); the hunk headers link to both (public-inbox's query for
    each)."""
    spfx = ctx.spfx
    ctx.dstate = None
    if spfx is None or pa is None or pb is None:
        return html
    if pa == pb and pb != "/dev/null":
        q = "?b=" + quote(pb, safe=_UNSAFE_KEEP)
    else:
        qs = [f"{k}={quote(p, safe=_UNSAFE_KEEP)}" for k, p in (("b", pb), ("a", pa)) if p != "/dev/null"]
        q = "?" + "&amp;".join(qs)
    m = _INDEX_IDS.search(html)
    if m is None:
        return html
    oid_a, oid_b = m.group(1), m.group(2)
    null_a, null_b = _NULL.fullmatch(oid_a) is not None, _NULL.fullmatch(oid_b) is not None
    # a deleted file's id: public-inbox's link (?a=OLD); else the old path as b=
    qa = q if null_b else "?b=" + quote(pa, safe=_UNSAFE_KEEP.replace("&", ""))
    if not null_a and not null_b:
        ctx.dstate = (oid_a, oid_b, q)
    href_a = None if null_a or pa == "/dev/null" else f"{spfx}{oid_a}/s/{qa}"
    href_b = None if null_b or pb == "/dev/null" else f"{spfx}{oid_b}/s/{q}"
    ids = f"index {_a(href_a, oid_a)}..{_a(href_b, oid_b)}"
    html = html[: m.start()] + ids + html[m.end() :]
    d = _DIFF_GIT_NAMES.search(html)
    if d is not None:
        names = f"{_a(href_a, d.group(2))} {_a(href_b, d.group(3))}"
        html = html[: d.start(2)] + names + html[d.end(3) :]
    return html


def _a(href: str | None, text: str) -> str:
    return text if href is None else f'<a href="{href}">{text}</a>'


def _hunk_links(ctx: RenderCtx, ca: str, cb: str) -> str:
    """ViewDiff.pm's diff_hunk: ``-a,b`` and ``+c,d`` link to the blobs at those lines."""
    if ctx.dstate is None or ctx.spfx is None:
        return f"@@ {esc(ca)} {esc(cb)} @@"
    oid_a, oid_b, q = ctx.dstate
    na = re.match(r"-([0-9]+)", ca)
    nb = re.match(r"\+([0-9]+)", cb)
    ha = f"#n{na.group(1)}" if na else ""
    hb = f"#n{nb.group(1)}" if nb else ""
    return (
        f'@@ <a href="{ctx.spfx}{oid_a}/s/{q}{ha}">{esc(ca)}</a> <a href="{ctx.spfx}{oid_b}/s/{q}{hb}">{esc(cb)}</a> @@'
    )


def _diff_header(ctx: RenderCtx, header: str, pa: str, pb: str) -> None:
    pb_name = _strip_prefix(pb)
    html = _solver_links(ctx, ctx.linkify(header), _strip_prefix(pa), pb_name)

    def sub(_m: re.Match[str]) -> str:
        return _anchor1(ctx, pb_name) or "diff --git"

    if "diff --git" in html:
        html = _DIFF_GIT_SUB.sub(sub, html)
    ctx.out.append(f'<span class="head">{html}</span>')


# runs of "+" lines, runs of "-" lines, hunk header lines (ViewDiff.pm)
_DIFF_PIECE = re.compile(r"(?:^\+[^\n]*\n)+|(?:^-[^\n]*\n)+|^@@ [^\n]+\n", re.MULTILINE)


def _diff_body(ctx: RenderCtx, text: str) -> bool:
    """Text after a diff header; False once a ``-- `` signature ends the patch."""
    out = ctx.out
    pos = 0
    for m in _DIFF_PIECE.finditer(text):
        if m.start() > pos:
            out.append(ctx.linkify(text[pos : m.start()]))  # context lines
        pos = m.end()
        piece = m.group()
        c = piece[0]
        if c == "+":
            out.append(f'<span class="add">{ctx.linkify(piece)}</span>')
        elif c == "-":
            if piece.startswith("-- \n"):  # a signature: the patch is over
                _before_or_after(ctx, text[m.start() :])
                return False
            out.append(f'<span class="del">{ctx.linkify(piece)}</span>')
        else:
            h = _HUNK.match(piece)
            if h is None:
                out.append(ctx.linkify(piece))
            else:
                rest = ctx.linkify(piece[h.end() :])
                out.append(f'<span class="hunk">{_hunk_links(ctx, h.group(1), h.group(2))}{rest}</span>')
    if pos < len(text):
        out.append(ctx.linkify(text[pos:]))
    return True


# "index A..B" followed by "--- X" and "+++ Y" (ViewDiff.pm's $EXTRACT_DIFFS
# without the lines before it, which flush_diff adds)
# (possessive: a long run of hex digits must not be retried digit by digit)
_HEADER_END = re.compile(
    r"^index [a-f0-9]{7,}+\.\.[a-f0-9]{7,}+[^\n]*+\n--- ([^\n]*+)\n\+\+\+ ([^\n]*+)\n", re.MULTILINE
)


def flush_diff(ctx: RenderCtx, text: str) -> None:
    """A non-quoted section of a part with a patch in it (ViewDiff.pm flush_diff)."""
    pos = 0  # start of the text not yet written (always a line start)
    in_diff = False
    for m in _HEADER_END.finditer(text):
        pa, pb = m.group(1), m.group(2)
        if not (_is_fn(pa) and _is_fn(pb)):
            continue
        # the header also takes the run of lines before "index" that start
        # with a lower-case letter: diff --git, mode, rename, similarity ...
        start = m.start()
        while start > pos:
            ls = text.rfind("\n", pos, start - 1) + 1 or pos
            if start - 1 - ls < 2 or not ("a" <= text[ls] <= "z"):
                break
            start = ls
        if start > pos:
            if in_diff:
                in_diff = _diff_body(ctx, text[pos:start])
            else:
                _before_or_after(ctx, text[pos:start])
        _diff_header(ctx, text[start : m.end()], pa, pb)
        in_diff = True
        pos = m.end()
    if pos < len(text):
        if in_diff:
            _diff_body(ctx, text[pos:])
        else:
            _before_or_after(ctx, text[pos:])
