"""Raw message bytes -> the texts each full-text search field gets.

This is the pure extraction half of search indexing: it reproduces what
public-inbox 1.9's SearchIdx.pm (``eml2doc`` / ``index_xapian`` /
``index_diff``) feeds to each Xapian prefix, and leaves tokenising and the
index itself to the caller.

* Header fields come from the top-level message (the From/To/Cc/Subject
  values public-inbox's Smsg holds, as ``extract_meta`` computes them) and
  from every attached ``message/rfc822`` message, whose Message-IDs and
  List-Ids are indexed too.
* Every MIME part (public-inbox's walk, :func:`iter_parts`) gives its file
  name to ``fn``; its text is taken like ``msg_part_text``: text/html and
  text/xhtml never; parts with a charset are decoded with it; text/* and a
  charset-less text/plain too (falling back to UTF-8, then raw bytes);
  application/octet-stream only when it decodes to printable text; other
  types not at all.  So text attachments (``.patch``, ``.log``) are indexed
  like the body, an HTML-only mail gives no body text.
* A part's text whose lines start with ``diff ``, ``--- `` or ``+++ `` goes
  whole to ``git patch-id --stable`` (:mod:`.patchid`).
* The text is split into quoted blocks (runs of lines starting with ``>``)
  and the rest: quoted blocks go to ``quot``; other sections that look like
  a diff are parsed by :mod:`.diff` (prose and diff headers to ``nq``, hunk
  lines to ``dfa``/``dfb``/``dfctx``...), the others go to ``nq`` as they
  are.  The "On ... wrote:" line is not a quote (it stays in ``nq``), a
  quoted patch stays in ``quot``.

Differences from public-inbox, on purpose: CRLF is turned into LF before
splitting (public-inbox leaves the CR on every line of quoted-printable
parts), text without a charset is decoded as UTF-8 when it is valid (else
latin-1) instead of being kept as bytes, file names in ``dfn`` are listed
once per message, and the removed lines of deleted files go to ``dfa``
(see :mod:`.diff`).
"""

from __future__ import annotations

import re
import unicodedata
from contextlib import suppress
from dataclasses import dataclass, field
from operator import attrgetter

from pubinbox.mail.charsets import perl_encoding, python_codec
from pubinbox.mail.meta import smsg_value
from pubinbox.mail.mime import Part, iter_parts
from pubinbox.mail.msgid import mids_for_index
from pubinbox.mail.parse import HEADER_SIZE_LIMIT, Headers, parse_layout
from pubinbox.search.diff import DiffAccumulator, parse_diff_into
from pubinbox.search.patchid import patch_id_stable

__all__ = ["SearchDoc", "extract", "looks_like_diff", "part_text", "split_quotes"]


@dataclass(frozen=True, slots=True)
class SearchDoc:
    """The texts of one message for each search field.

    Field (public-inbox prefix, query prefix): contents.

    * ``subject`` (S, ``s:``), ``from_`` (A, ``f:``), ``to`` (XTO, ``t:``),
      ``cc`` (XCC, ``c:``): the header values, one per message (the top one
      first, then attached messages); empty values left out.
    * ``listid`` (XL, ``l:``) and ``listid_exact`` (G, ``lid:``): the
      ``<...>`` part of each List-Id, lower-cased (same strings; the first
      is tokenised text, the second exact terms).
    * ``mids`` (Q, ``mid:``): exact Message-IDs (Message-ID and
      X-Alt-Message-ID, attached messages' too), without ``<>``.
    * ``mid_text`` (XM, ``m:``): each Message-ID as text, followed by the
      space-joined runs of 3+ word characters when it has a 12+ one.
    * ``nq`` (XNQ): non-quoted text, in sections; for a diff, only its prose
      and header lines (``diff --git``, mode, rename, ``GIT binary patch``,
      ...) -- the ``nq:`` *query* prefix also searches all ``df*`` fields and
      ``patchid``.
    * ``quot`` (XQUOT, ``q:``): quoted blocks, ``>`` markers included
      (with positions at ``-L full``, as public-inbox's index_phrase).
    * ``fn`` (XFN, ``n:``): attachment file names.
    * ``dfn`` (XDFN): file names from diff headers, ``a/``/``b/`` removed.
    * ``dfa`` / ``dfb`` / ``dfctx`` (XDFA / XDFB / XDFCTX): removed, added
      and context lines, one entry per line, marker removed.
    * ``dfhh`` (XDFHH): the function context after ``@@ ... @@``.
    * ``dfpre`` / ``dfpost`` (XDFPRE / XDFPOST): blob ids of ``index A..B``
      lines as written (public-inbox adds every prefix of 7+ characters as
      a term, so ids shorter than 7 give no term).
    * ``patchid`` (XDFID, ``patchid:``): ``git patch-id --stable`` of each
      diff-bearing part (usually 0 or 1).
    """

    subject: tuple[str, ...] = ()
    from_: tuple[str, ...] = ()
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    listid: tuple[str, ...] = ()
    listid_exact: tuple[str, ...] = ()
    mids: tuple[str, ...] = ()
    mid_text: tuple[str, ...] = ()
    nq: tuple[str, ...] = ()
    quot: tuple[str, ...] = ()
    fn: tuple[str, ...] = ()
    dfn: tuple[str, ...] = ()
    dfa: tuple[str, ...] = ()
    dfb: tuple[str, ...] = ()
    dfhh: tuple[str, ...] = ()
    dfctx: tuple[str, ...] = ()
    dfpre: tuple[str, ...] = ()
    dfpost: tuple[str, ...] = ()
    patchid: tuple[str, ...] = ()

    def __reduce__(self) -> tuple[type[SearchDoc], tuple[tuple[str, ...], ...]]:
        # positional fields: much cheaper to pickle than the dataclass's
        # per-field state (parsing processes send one per message)
        return SearchDoc, _DOC_FIELDS(self)

    @property
    def body_all(self) -> tuple[str, ...]:
        """Every body text ``b:`` searches: nq, quot and the diff fields."""
        return self.nq + self.quot + self.dfn + self.dfa + self.dfb + self.dfhh + self.dfctx + self.dfpre + self.dfpost


_DOC_FIELDS = attrgetter(*SearchDoc.__slots__)


@dataclass(slots=True)
class _Acc:
    subject: list[str] = field(default_factory=list)
    from_: list[str] = field(default_factory=list)
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    listid: list[str] = field(default_factory=list)
    mids: list[str] = field(default_factory=list)
    mid_text: list[str] = field(default_factory=list)
    quot: list[str] = field(default_factory=list)
    fn: list[str] = field(default_factory=list)
    patchid: list[str] = field(default_factory=list)
    diff: DiffAccumulator = field(default_factory=DiffAccumulator)

    def freeze(self) -> SearchDoc:
        d = self.diff
        return SearchDoc(
            subject=tuple(self.subject),
            from_=tuple(self.from_),
            to=tuple(self.to),
            cc=tuple(self.cc),
            listid=tuple(self.listid),
            listid_exact=tuple(dict.fromkeys(self.listid)),
            mids=tuple(dict.fromkeys(self.mids)),
            mid_text=tuple(self.mid_text),
            nq=tuple(d.nq),
            quot=tuple(self.quot),
            fn=tuple(self.fn),
            dfn=tuple(d.dfn),
            dfa=tuple(d.dfa),
            dfb=tuple(d.dfb),
            dfhh=tuple(d.dfhh),
            dfctx=tuple(d.dfctx),
            dfpre=tuple(d.dfpre),
            dfpost=tuple(d.dfpost),
            patchid=tuple(dict.fromkeys(self.patchid)),
        )


# ---------------------------------------------------------------- headers


def _index_headers(acc: _Acc, h: Headers) -> None:
    """index_headers: From/To/Cc/Subject as Smsg->populate holds them.

    The same values as :func:`pubinbox.mail.meta.extract_meta` gives
    (``from_``, ``to``, ``cc``, ``subject``), without its date and
    threading work.
    """
    for name, dst in (("From", acc.from_), ("To", acc.to), ("Cc", acc.cc), ("Subject", acc.subject)):
        vals = h.perl_decoded(name)
        if not vals:
            continue
        val = smsg_value(vals)[0]
        if val != "":
            dst.append(val)


_LIST_ID = re.compile(r"<([^>]+)>")
_LONG_WORD = re.compile(r"\w{12,}", re.ASCII)
_WORD3 = re.compile(r"\w{3,}", re.ASCII)


def _index_ids(acc: _Acc, h: Headers) -> None:
    """index_ids: Message-IDs (Q, XM) and List-Ids (G, XL)."""
    for mid in mids_for_index(h):
        acc.mids.append(mid)
        acc.mid_text.append(mid)
        if _LONG_WORD.search(mid):
            acc.mid_text.append(" ".join(_WORD3.findall(mid)))
    for lid in h.raw("List-Id"):
        m = _LIST_ID.search(lid)
        if m:
            acc.listid.append(m.group(1).lower())


# ---------------------------------------------------------------- part text

_HTML = re.compile(r"\btext/x?html\b")
_TEXTISH = re.compile(r"\btext/\b", re.IGNORECASE)
_MIXED = re.compile(r"\bmultipart/mixed\b", re.IGNORECASE)
_OCTET = re.compile(r"\bapplication/octet-stream\b", re.IGNORECASE)
_PRINT_EXTRA = frozenset({"Cf", "Co", "Zs"})


def _friendly(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _printable(s: str) -> bool:
    """No character outside Perl's ``[\\p{XPosixPrint}\\s]``."""
    if s.isprintable():
        return True
    for c in s:
        if not (c.isprintable() or c.isspace() or unicodedata.category(c) in _PRINT_EXTRA):
            return False
    return True


def part_text(part: Part) -> str | None:
    """The text public-inbox indexes for one part (``msg_part_text``), or None."""
    ct = part.ct_raw or "text/plain"
    if _HTML.search(ct):
        return None
    body = part.decoded()
    err = False
    s: str | None = None
    if part.charset is not None:
        perl = perl_encoding(part.charset)
        codec = python_codec(perl) if perl else None
        if codec is None:
            err = True
        else:
            try:
                s = body.decode(codec)
            except (UnicodeDecodeError, LookupError, ValueError):
                err = True
    elif part.content_type in ("text/plain", "text/html"):
        s = _friendly(body)
    else:
        err = True
    if not err:
        return s
    if _TEXTISH.search(ct) or (not part.is_submsg and _MIXED.search(ct)):
        return _friendly(body)
    if _OCTET.search(ct):
        t = _friendly(body)
        return t if _printable(t) else None
    return None


# ---------------------------------------------------------------- body

_LOOKS_DIFF = re.compile(r"^(?:diff|---|\+\+\+) ", re.MULTILINE)


def looks_like_diff(text: str) -> bool:
    """Whether public-inbox would run the diff parser / patch-id on *text*."""
    return _LOOKS_DIFF.search(text) is not None


_QUOTE_BLOCK = re.compile(r"\n((?:>[^\n]*\n)+)")


def split_quotes(text: str) -> list[str]:
    """Alternating non-quoted / quoted (``>``) sections, empty ones dropped.

    The sections of PublicInbox::MsgIter::split_quotes: a quoted section is
    a run of lines starting with ``>``.
    """
    if not text.endswith("\n"):
        text += "\n"
    if text[0] != ">" and "\n>" not in text:
        return [text]
    # search "\n>" (a literal prefix is much faster than a ^ anchor)
    t = "\n" + text
    out: list[str] = []
    pos = 1
    for m in _QUOTE_BLOCK.finditer(t):
        start, end = m.span(1)
        if start > pos:
            out.append(t[pos:start])
        out.append(t[start:end])
        pos = end
    if pos < len(t):
        out.append(t[pos:])
    return out


def _index_text(acc: _Acc, s: str) -> None:
    if looks_like_diff(s):
        pid = patch_id_stable(s)
        if pid is not None:
            acc.patchid.append(pid)
    if "\r" in s:
        s = s.replace("\r\n", "\n")
    for txt in split_quotes(s):
        if txt[0] == ">":
            acc.quot.append(txt)
        elif looks_like_diff(txt):
            parse_diff_into(acc.diff, txt)
        elif not txt.isspace():
            acc.diff.nq.append(txt)


def _index_part(acc: _Acc, part: Part) -> None:
    fn = part.filename
    if fn:
        acc.fn.append(fn)
    if part.is_submsg:
        hdr = part.header if part.header.endswith(b"\n") else part.header + b"\n"
        h = Headers(hdr, header_only=True)
        _index_ids(acc, h)
        _index_headers(acc, h)
    s = part_text(part)
    if s:
        _index_text(acc, s)


def _ci(word: str) -> str:
    """A case-insensitive regex for an ASCII word, as character classes.

    (re.IGNORECASE would lose the fast literal search for the leading LF.)
    """
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


# Fields of the top header, each with its continuation lines (header_raw's
# rule: a continuation line has a blank before its first colon, so it never
# starts a field whose name has no blank).  Searching for a leading LF is
# several times faster than a ^ anchor over 8 KiB of Received: lines.
_CONT = r"(?:\n[^:\n \t]*[ \t][^\n]*)*"
_CONTENT_FIELDS = re.compile(("\n(" + _ci("content-") + r"[^: \t\n]*:[^\n]*" + _CONT + ")").encode())
_META_NAMES = ("from", "to", "cc", "subject", "message-id", "x-alt-message-id", "list-id")
_META_FIELDS = re.compile(("\n((?:" + "|".join(_ci(n) for n in _META_NAMES) + "):[^\n]*" + _CONT + ")").encode())
_LONE_CR = re.compile(rb"\r(?!\n)")
_PLACEHOLDER = b"X-Pubinbox-Search: 1\n"


def header_and_body_view(raw: bytes) -> tuple[Headers, bytes]:
    """(Headers for the fields indexed, the message for the MIME walk).

    Both stand for *raw* with only the header fields they need: public-inbox
    looks every field up in the whole header block, which costs most of the
    time on real mail (8 KiB of Received: and DKIM headers), and the values
    and parts found are the same.
    """
    lay = parse_layout(raw)
    hdr, crlf, body = lay.header, lay.eol, lay.body
    if body is None or not hdr or len(hdr) > HEADER_SIZE_LIMIT // 2 or _LONE_CR.search(hdr):
        return Headers(raw), raw
    t = b"\n" + hdr
    meta = b"".join(f + b"\n" for f in _META_FIELDS.findall(t))
    mime = b"".join(f + b"\n" for f in _CONTENT_FIELDS.findall(t))
    return Headers(meta, header_only=True), _PLACEHOLDER + mime + crlf + body


def extract(raw: bytes, *, known: tuple[str, str, str, str] | None = None) -> SearchDoc:
    """Everything the search index needs from one message; never raises.

    *known*: (from, to, cc, subject) as :func:`pubinbox.mail.meta.extract_meta`
    already computed them for this message, to save decoding them twice.
    """
    acc = _Acc()
    try:
        h, view = header_and_body_view(raw)
    except Exception:  # noqa: BLE001 - hostile input must never raise
        return acc.freeze()
    if known is not None:
        for val, dst in zip(known, (acc.from_, acc.to, acc.cc, acc.subject), strict=True):
            if val != "":
                dst.append(val)
    else:
        with suppress(Exception):
            _index_headers(acc, h)
    for part in iter_parts(view):
        with suppress(Exception):
            _index_part(acc, part)
    with suppress(Exception):
        _index_ids(acc, h)
    return acc.freeze()
