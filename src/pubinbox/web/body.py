"""Message bodies as HTML, and attachment downloads, as public-inbox 1.9 shows them.

:func:`render_body` turns one stored message into the text that goes inside
a ``<pre>`` on the message page, thread pages, ``new.html`` and Atom feeds,
following public-inbox's View.pm (``add_text_body`` / ``attach_link``),
ViewDiff.pm and Linkify.pm:

* every MIME part in public-inbox's order (:func:`iter_parts`); text parts
  are shown inline, HTML and binary parts only as a link line
  ``[-- Attachment #2: name --]`` / ``[-- Type: ..., Size: N bytes --]`` to
  ``$MSG/2-name`` (:func:`attachment` serves it), attached messages with
  their From/To/Cc/Subject/Date/Message-ID;
* quoted runs (lines starting with ``>``) in ``<span class="q">``; runs
  longer than ``fold_quotes`` lines keep their first and last lines visible
  and fold the middle into ``<details><summary>[... N more quoted
  lines]</summary>...</details>`` (no JavaScript; text browsers show it all);
* patches: ``<span class="head">`` for ``diff --git``/``index``/``---``/
  ``+++`` headers, ``hunk`` for ``@@ ... @@`` lines, ``add``/``del`` for
  runs of ``+``/``-`` lines (context lines get no span); diffstat file names
  link to their diff and back (``id=iZ31fs:x.c`` / ``id=Z31fs:x.c``: the
  same anchors as public-inbox, so shared lore.kernel.org links work);
* ``http``, ``https`` and ``ftp`` URLs and ``mailto:`` links become
  ``<a href>``; nothing else is ever linked.

Every piece of mail text goes through :func:`pubinbox.web.html.esc`.  The
work is linear in the size of the message (no regular expression that can
backtrack over a whole line), and nothing raises: a part that cannot be
rendered shows as escaped text.

Deliberate differences from public-inbox: control characters and bidi
overrides become U+FFFD (public-inbox writes ``\\x01``-style escapes and
keeps overrides); links are made for http(s)/ftp/mailto only (public-inbox
also links ftps, nntp(s), imap(s), news, snews and gopher, but not mailto);
hunk ranges are escaped (public-inbox writes them raw); text without a
charset is read as UTF-8 when valid; quote folding is ours.

With *obfs* (``obfuscate`` inboxes) addresses in the text and in the
headers of attached messages are obfuscated as public-inbox does
(:mod:`pubinbox.web.obfuscate`); in those headers public-inbox escapes its
``&#8226;`` a second time (the reader sees the text "&#8226;"), we do not.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace

from pubinbox.mail.mime import Part, iter_parts, perl_encoding, python_codec
from pubinbox.mail.parse import Headers, perl_utf8_decode
from pubinbox.search.diff import git_unquote
from pubinbox.search.extract import header_and_body_view, split_quotes
from pubinbox.web.cache import ByteCache
from pubinbox.web.html import esc
from pubinbox.web.obfuscate import Obfuscator

__all__ = ["Attachment", "attachment", "linkify", "render_body", "render_body_cached"]

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- linkify

# Linkify.pm's URL syntax for the schemes we link (html.SAFE_SCHEMES): host
# characters, then an optional path, query and fragment of RFC 3986
# characters.  Each piece is a single character class, so matching never
# backtracks.
_PATH_CH = r"[a-z0-9\-._~!$&';()*+,=:@/%]"
_URL = (
    r"(?:https?|ftp)://[@:\w.\-]+"
    r"(?:/" + _PATH_CH + r"*(?:\?" + _PATH_CH + r"+)?(?:\#[a-z0-9\-._~!$&';()*+,=:@/%?]+)?)?"
)
_MAILTO = r"mailto:[\w.!#$%&'*+/=?^`{|}~\-]+@[\w\-]+(?:\.[\w\-]+)*(?:\?" + _PATH_CH + r"+)?"
_LINK_RE = re.compile(r"\b(?:" + _URL + "|" + _MAILTO + ")", re.IGNORECASE)
_URL_RE = re.compile(r"\b" + _URL, re.IGNORECASE)
# Linkify.pm: a URL right after one of these keeps its closing partner out
_PAIRS = {"(": re.compile(r"\)[.,;+]?\Z"), "'": re.compile(r"'[.,;+]?\Z"), "!": re.compile(r"![.,;+]?\Z")}


def _trim_url(url: str, beg: str) -> tuple[str, str]:
    """Split trailing punctuation off a URL as Linkify.pm does: (url, end)."""
    pair = _PAIRS.get(beg)
    if pair is not None:
        m = pair.search(url)
        if m is not None:
            return url[: m.start()], url[m.start() :]
        return url, ""
    if url[-1] in ".,;":
        end = url[-1]
        url = url[:-1]
        if url.endswith(")"):
            # a ')' belongs to the URL only when it has its '('
            if "(" in url[:-1]:
                return url, end
            return url[:-1], ")" + end
        return url, end
    if url.endswith(")") and "(" not in url:
        return url[:-1], ")"
    return url, ""


def linkify(text: str, *, mailto: bool = True) -> str:
    """Escape *text* for HTML, with http(s)/ftp URLs and mailto: as links
    (not mailto: with *mailto* false: an obfuscated address is no link)."""
    if "://" not in text and (not mailto or ("ailto:" not in text and "AILTO:" not in text)):
        return esc(text)
    out: list[str] = []
    pos = 0
    for m in (_LINK_RE if mailto else _URL_RE).finditer(text):
        start = m.start()
        beg = text[start - 1] if start > pos else ""
        url, end = _trim_url(m.group(), beg)
        out.append(esc(text[pos:start]))
        u = esc(url)
        out.append(f'<a href="{u}">{u}</a>')
        out.append(esc(end))
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)


# ---------------------------------------------------------------- part text

_HTML_CT = re.compile(r"\btext/x?html\b")
_TEXT_CT = re.compile(r"\btext/\b", re.IGNORECASE)
_MIXED_CT = re.compile(r"\bmultipart/mixed\b", re.IGNORECASE)
_OCTET_CT = re.compile(r"\bapplication/octet-stream\b", re.IGNORECASE)
_7BIT = re.compile(r"\b7bit\b", re.IGNORECASE)
# what Perl's [^\p{XPosixPrint}\s] rejects, roughly: C0/C1 controls but
# whitespace, unassigned code points and non-characters
_NOT_PRINT = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")


def _utf8_or_latin1(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _decode_as(data: bytes, codec: str) -> str:
    s = data.decode(codec)
    if codec == "latin-1" and re.search("[\x80-\x9f]", s):
        # what browsers show for public-inbox's &#128;..&#159; (windows-1252)
        return data.decode("cp1252", "replace")
    return s


def part_text(part: Part, data: bytes) -> tuple[str | None, bool]:
    """(text, mangled) of a part as public-inbox's ``msg_part_text``.

    None for text/html and parts that are not text.  *mangled* is
    public-inbox's ``$err``: the declared charset could not decode the text
    and it was read as UTF-8 (the page then says so).  *data* is the
    transfer-decoded body.
    """
    ct = part.ct_raw or "text/plain"
    if _HTML_CT.search(ct):
        return None, False
    cs = part.charset
    if cs is not None:
        perl = perl_encoding(cs)
        codec = python_codec(perl) if perl else None
        if codec is not None:
            try:
                return _decode_as(data, codec), False
            except (UnicodeDecodeError, LookupError, ValueError):
                pass
    elif part.content_type in ("text/plain", "text/html"):
        return _utf8_or_latin1(data), False
    # the declared charset is unknown or wrong
    if _TEXT_CT.search(ct) or (not part.is_submsg and _MIXED_CT.search(ct)):
        cte = part.header_values("Content-Transfer-Encoding")
        if cte and _7BIT.search(cte[0].decode("latin-1")) and data and data.isascii():
            return data.decode("ascii"), False
        return _utf8_or_latin1(data), True
    if _OCTET_CT.search(ct):
        # MUAs label text attachments application/octet-stream
        s = _utf8_or_latin1(data)
        return (None, False) if _NOT_PRINT.search(s) else (s, False)
    return None, False


# ---------------------------------------------------------------- diffs

# public-inbox's portable file name for attachment links
_SAFE_FN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_\-.]+[a-zA-Z0-9]")
_HUNK = re.compile(r"@@ (\S+) (\S+) @@")
_DIFF_HINT = re.compile(r"^--- [^\n]+\n\+\+\+ [^\n]+\n@@ ", re.MULTILINE)
_DIFF_GIT = re.compile(r"^diff --git ", re.MULTILINE)
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


class _Ctx:
    """Rendering state of one message (public-inbox's ``$ctx`` keys)."""

    __slots__ = ("anchors", "apfx", "fold", "long_path", "mhref", "obfs", "out", "upfx")

    def __init__(self, msg_url: str, anchor_prefix: str, fold: int, obfs: Obfuscator | None = None) -> None:
        self.out: list[str] = []
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


def _anchor0(ctx: _Ctx, line: str) -> bool:
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


def _anchor1(ctx: _Ctx, pb: str | None) -> str | None:
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


def _before_or_after(ctx: _Ctx, text: str) -> None:
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
    for line in [*_lines(text), "---\n"]:
        if line != "---\n":
            piece.append(line)
            continue
        y = "".join(piece)
        piece = []
        if seen_dashes and _FILES_CHANGED.search(y):
            for stat in _lines(y):
                if not (stat.startswith(" ") and _anchor0(ctx, stat)):
                    out.append(ctx.linkify(stat))
        elif y:
            out.append(ctx.linkify(y))
        out.append(line)
        seen_dashes = True
    out.pop()  # the "---" added above as a sentinel


def _lines(text: str) -> list[str]:
    """Lines of *text* split at LF only, each keeping its LF."""
    parts = text.split("\n")
    last = parts.pop()
    out = [p + "\n" for p in parts]
    if last:
        out.append(last)
    return out


def _diff_header(ctx: _Ctx, header: str, pa: str, pb: str) -> None:
    pb_name = _strip_prefix(pb)
    html = ctx.linkify(header)

    def sub(_m: re.Match[str]) -> str:
        return _anchor1(ctx, pb_name) or "diff --git"

    if "diff --git" in html:
        html = _DIFF_GIT_SUB.sub(sub, html)
    ctx.out.append(f'<span class="head">{html}</span>')


# runs of "+" lines, runs of "-" lines, hunk header lines (ViewDiff.pm)
_DIFF_PIECE = re.compile(r"(?:^\+[^\n]*\n)+|(?:^-[^\n]*\n)+|^@@ [^\n]+\n", re.MULTILINE)


def _diff_body(ctx: _Ctx, text: str) -> bool:
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
                out.append(f'<span class="hunk">@@ {esc(h.group(1))} {esc(h.group(2))} @@{rest}</span>')
    if pos < len(text):
        out.append(ctx.linkify(text[pos:]))
    return True


# "index A..B" followed by "--- X" and "+++ Y" (ViewDiff.pm's $EXTRACT_DIFFS
# without the lines before it, which _flush_diff adds)
# (possessive: a long run of hex digits must not be retried digit by digit)
_HEADER_END = re.compile(
    r"^index [a-f0-9]{7,}+\.\.[a-f0-9]{7,}+[^\n]*+\n--- ([^\n]*+)\n\+\+\+ ([^\n]*+)\n", re.MULTILINE
)


def _flush_diff(ctx: _Ctx, text: str) -> None:
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


# ---------------------------------------------------------------- quotes

_FOLD_HEAD = 2  # quoted lines kept above a fold
_FOLD_TAIL = 4  # and below it: replies comment on the lines right above


def _quote(ctx: _Ctx, sec: str) -> None:
    """A run of ``>`` lines, the middle folded when it is long."""
    out = ctx.out
    n = sec.count("\n")
    hidden = n - _FOLD_HEAD - _FOLD_TAIL
    if ctx.fold <= 0 or n <= ctx.fold or hidden < 2:
        out.append(f'<span class="q">{ctx.linkify(sec)}</span>')
        return
    a = -1
    for _ in range(_FOLD_HEAD):
        a = sec.find("\n", a + 1)
    b = len(sec) - 1
    for _ in range(_FOLD_TAIL):
        b = sec.rfind("\n", 0, b)
    a += 1
    b += 1
    out.append(
        f'<span class="q">{ctx.linkify(sec[:a])}</span>'
        f"<details><summary>[... {hidden} more quoted lines]\n</summary>"
        f'<span class="q">{ctx.linkify(sec[a:b])}</span></details>'
        f'<span class="q">{ctx.linkify(sec[b:])}</span>'
    )


# ---------------------------------------------------------------- parts

_SUBMSG_FIELDS = ("From", "To", "Cc", "Subject", "Date", "Message-ID", "X-Alt-Message-ID")


def _submsg_hdr(ctx: _Ctx, part: Part) -> None:
    """The header fields of an attached message (View.pm submsg_hdr)."""
    hdr = part.header if part.header.endswith(b"\n") else part.header + b"\n"
    h = Headers(hdr, header_only=True)
    out = ctx.out
    out.append("\n")
    obfs = ctx.obfs
    for name in _SUBMSG_FIELDS:
        for v in h.decoded(name):
            # public-inbox obfuscates before escaping here, so its bullet
            # comes out as the text "&#8226;"; ours is the bullet itself
            out.append(f"{name}: {esc(obfs.text(v) if obfs else v)}\n")


def _display(s: str | None) -> str | None:
    """A header-derived name as text (undecoded 8-bit taken as UTF-8 when valid)."""
    return None if s is None else perl_utf8_decode(s)[0]


def _attach_link(ctx: _Ctx, part: Part, data: bytes, err: bool) -> None:
    """``[-- Attachment #N: name --]`` linking to the part's download URL."""
    if not part.raw_body and part.content_type.startswith("multipart/"):
        return  # an attached multipart message: its parts follow
    idx = part.idx_str
    ct = part.ct_raw or "text/plain"
    if not err:
        ct = ct.split(";", 1)[0]
    ct = esc(ct)
    fn = _display(part.filename)
    if fn is not None and _SAFE_FN.fullmatch(fn):
        sfn = fn
    elif ct == "text/plain":
        sfn = "a.txt"
    else:
        sfn = "a.bin"
    out = ctx.out
    nl = "" if idx == "1" else "\n"
    out.append(f'{nl}<a href="{ctx.mhref}{idx}-{sfn}">')
    if err:
        out.append("[-- Warning: decoded text below may be mangled, UTF-8 assumed --]\n")
    ts = f"Type: {ct}, Size: {len(data)} bytes"
    desc = _display(part.description)
    if desc is None:
        desc = fn or ""
    desc = esc(desc)
    out.append(
        f"[-- Attachment #{idx}: {ts} --]</a>\n"
        if desc == ""
        else f"[-- Attachment #{idx}: {desc} --]\n[-- {ts} --]</a>\n"
    )
    if part.is_submsg:
        _submsg_hdr(ctx, part)


_CRLF = re.compile(r"(?<!\r)\r+\n")  # from the first CR of a run only: linear


def _decoded(part: Part) -> bytes:
    """The part's body as public-inbox's web UI reads it.

    A multipart part that could not be split (no opening delimiter) is cut
    at its closing delimiter: public-inbox's walk does that in place when
    it is asked to free memory, as the web pages and downloads ask.
    """
    if part.content_type.startswith("multipart/") and part.raw_body:
        bnd = dict(part.attributes).get("boundary")
        if bnd and len(bnd) < 2048:
            try:
                b = bnd.encode("latin-1")
            except UnicodeEncodeError:
                b = bnd.encode("utf-8", "surrogatepass")
            m = re.search(rb"(?:\r?\n)?^--" + re.escape(b) + rb"--[ \t]*\r?$", part.raw_body, re.MULTILINE)
            if m is not None:
                return replace(part, raw_body=part.raw_body[: m.start()]).decoded()
    return part.decoded()


def _add_text_body(ctx: _Ctx, part: Part) -> None:
    """One MIME part (View.pm add_text_body)."""
    data = _decoded(part)
    s, err = part_text(part, data)
    if s is None:
        _attach_link(ctx, part, data, False)
        return
    out = ctx.out
    if part.is_submsg:
        _submsg_hdr(ctx, part)
        out.append("\n")
    if "\r" in s:
        s = _CRLF.sub("\n", s)  # CRLF as LF
    if ctx.obfs is not None:
        s = ctx.obfs.text(s)
    if "\r" in s:
        s = s.replace("\r", "\ufffd")  # a lone CR would be a line break to an HTML parser
    diff = "+++ " in s and _DIFF_HINT.search(s) is not None
    if diff:
        # diffstat anchors stay within one part of one message
        ctx.apfx = ctx.upfx + part.idx_str.replace(".", "/")
        if _DIFF_GIT.search(s):
            ctx.anchors = {}
        ctx.long_path = []
    sections = split_quotes(s)
    del s
    if part.filename is not None or (part.depth > 0 and not part.is_submsg) or err:
        _attach_link(ctx, part, data, err)
        out.append("\n")
    for sec in sections:
        if sec[0] == ">":
            _quote(ctx, sec)
        elif diff:
            _flush_diff(ctx, sec)
        else:
            out.append(ctx.linkify(sec))


def render_body(
    raw: bytes, *, msg_url: str, anchor_prefix: str = "", fold_quotes: int = 12, obfs: Obfuscator | None = None
) -> str:
    """HTML for inside ``<pre>``: the message body with its attachments.

    *msg_url*: URL of this message's directory ending in ``/`` relative to
    the page (``""`` on the message page, ``"../MID/"`` on thread pages), not
    HTML-escaped; attachment links are *msg_url* + ``2-file.log``.  Diffstat
    anchors are built from *msg_url* + *anchor_prefix* + the part index, as
    public-inbox builds them from the first and the last (so with
    *anchor_prefix* ``""`` they are the same ids as on public-inbox); give
    each message on a page a different *anchor_prefix* or *msg_url*.
    *fold_quotes*: quoted runs longer than this many lines fold their middle
    (0: never, e.g. for feeds).  *obfs*: obfuscate addresses in the text
    and in attached messages' headers (``obfuscate`` inboxes).
    """
    ctx = _Ctx(msg_url, anchor_prefix, fold_quotes, obfs)
    try:
        # the walk only needs the Content-* fields of the top header (a third
        # of the time on real mail goes to looking fields up in 8 KiB of
        # Received: and DKIM lines otherwise)
        view = header_and_body_view(raw)[1]
        for part in iter_parts(view):
            mark = len(ctx.out)
            try:
                _add_text_body(ctx, part)
            except Exception:
                log.exception("rendering part %s", part.idx_str)
                del ctx.out[mark:]
                ctx.out.append(_fallback(part.decoded(), obfs))
    except Exception:
        log.exception("rendering a message body")
        return _fallback(raw, obfs)
    return "".join(ctx.out)


def _fallback(data: bytes, obfs: Obfuscator | None) -> str:
    """Text that could not be rendered, shown escaped (and obfuscated)."""
    s = _utf8_or_latin1(data)
    return esc(obfs.text(s) if obfs is not None else s)


# ---------------------------------------------------------------- downloads

_CHARSET_OK = re.compile(r"[a-zA-Z0-9_\-]+")


@dataclass(frozen=True, slots=True)
class Attachment:
    """One MIME part to download (``/$INBOX/$MID/2-file.log``).

    ``content_type`` is what to serve, as public-inbox serves it: every
    ``text/*`` part as ``text/plain`` (with its charset when that is a plain
    token), anything else as ``application/octet-stream``, so no part is
    ever served as HTML.  ``declared_type`` is the part's own type.
    """

    content_type: str
    declared_type: str
    filename: str | None
    data: bytes


def attachment(raw: bytes, idx: str) -> Attachment | None:
    """The MIME part with index path *idx* (``"2"``, ``"1.2"``), or None."""
    for part in iter_parts(raw):
        if part.idx_str != idx:
            continue
        if part.content_type.startswith("text/"):
            ct = "text/plain"
            cs = part.charset
            if cs and _CHARSET_OK.fullmatch(cs):
                ct += f"; charset={cs}"
        else:
            ct = "application/octet-stream"
        return Attachment(ct, part.content_type, _display(part.filename), _decoded(part))
    return None


# ---------------------------------------------------------------- cache


def render_body_cached(
    cache: ByteCache,
    blob: str,
    raw: bytes,
    *,
    msg_url: str,
    anchor_prefix: str = "",
    fold_quotes: int = 12,
    obfs: Obfuscator | None = None,
) -> str:
    """:func:`render_body`, remembered in *cache* by git blob id (a blob
    never changes): every message page and thread page of a thread shows
    the same bodies."""
    key = ("body", blob, msg_url, anchor_prefix, fold_quotes, obfs)
    return cache.get_or_make(
        key, lambda: render_body(raw, msg_url=msg_url, anchor_prefix=anchor_prefix, fold_quotes=fold_quotes, obfs=obfs)
    )
