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

from pubinbox.mail.charsets import perl_encoding, python_codec
from pubinbox.mail.mime import Part, iter_parts
from pubinbox.mail.parse import Headers
from pubinbox.mail.perlstr import perl_utf8_decode
from pubinbox.search.extract import header_and_body_view, split_quotes
from pubinbox.web.cache import ByteCache
from pubinbox.web.diffview import DIFF_GIT, DIFF_HINT, RenderCtx, flush_diff
from pubinbox.web.html import esc
from pubinbox.web.linkify import linkify
from pubinbox.web.obfuscate import Obfuscator

__all__ = ["Attachment", "attachment", "linkify", "render_body", "render_body_cached"]  # linkify: re-exported

log = logging.getLogger(__name__)

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


# ---------------------------------------------------------------- quotes

_FOLD_HEAD = 2  # quoted lines kept above a fold
_FOLD_TAIL = 4  # and below it: replies comment on the lines right above


def _quote(ctx: RenderCtx, sec: str) -> None:
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

_SAFE_FN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_\-.]+[a-zA-Z0-9]")  # attachment names used as they are in links
_SUBMSG_FIELDS = ("From", "To", "Cc", "Subject", "Date", "Message-ID", "X-Alt-Message-ID")


def _submsg_hdr(ctx: RenderCtx, part: Part) -> None:
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


def _attach_link(ctx: RenderCtx, part: Part, data: bytes, err: bool) -> None:
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


def _add_text_body(ctx: RenderCtx, part: Part) -> None:
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
    diff = "+++ " in s and DIFF_HINT.search(s) is not None
    if diff:
        # diffstat anchors stay within one part of one message
        ctx.apfx = ctx.upfx + part.idx_str.replace(".", "/")
        if DIFF_GIT.search(s):
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
            flush_diff(ctx, sec)
        else:
            out.append(ctx.linkify(sec))


def render_body(
    raw: bytes,
    *,
    msg_url: str,
    anchor_prefix: str = "",
    fold_quotes: int = 12,
    obfs: Obfuscator | None = None,
    spfx: str | None = None,
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
    and in attached messages' headers (``obfuscate`` inboxes).  *spfx*:
    the way back to ``/$INBOX/`` when the inbox has a ``coderepo``: blob
    ids and hunk headers of patches then link to the ``/$OID/s/`` solver.
    """
    ctx = RenderCtx(msg_url, anchor_prefix, fold_quotes, obfs, spfx)
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
    spfx: str | None = None,
) -> str:
    """:func:`render_body`, remembered in *cache* by git blob id (a blob
    never changes): every message page and thread page of a thread shows
    the same bodies."""
    key = ("body", blob, msg_url, anchor_prefix, fold_quotes, obfs, spfx)
    return cache.get_or_make(
        key,
        lambda: render_body(
            raw, msg_url=msg_url, anchor_prefix=anchor_prefix, fold_quotes=fold_quotes, obfs=obfs, spfx=spfx
        ),
    )
