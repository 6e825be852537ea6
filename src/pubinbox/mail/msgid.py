"""Message-ID, References and subject keys, as public-inbox derives them.

``mids`` gives every ``<...>`` of every Message-ID field (or the whole value
when it has no angle brackets), with CR/LF/TAB removed, cut at 244 bytes and
de-duplicated.  ``references`` gives References then In-Reply-To ids in
order, without duplicates, without the junk answers ``y``/``n`` of old
git-send-email prompts and without the message's own To/From/Cc addresses.
``thread_references`` adds the overview rules (extra Message-IDs of the
message itself, no self reference), in two steps for the writers, which
know the id a message is numbered under only after parsing it
(``thread_candidates_perl``, then ``drop_primary``); ``refs_to_field`` and
``refs_from_field`` write and read them as the overview stores them
(``<a> <b>``, read back with the same ``<([^>]+)>`` that extracted them, so
an id with blanks or a ``<`` in it stays one id).  ``in_reply_to`` is the
parent the web shows (the last of ``references``).  ``subject_path`` is the
key of the overview ``subject`` table.

Functions ending in ``_perl`` work on Perl-style strings (one character per
byte of the header, see :mod:`pubinbox.mail.perlstr`) and are exact; the
plain ones return ids decoded as UTF-8 (latin-1 when not valid UTF-8).
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import quote

from pubinbox.mail.address import emails
from pubinbox.mail.parse import Headers
from pubinbox.mail.perlstr import ASCII_SPACE, UNICODE_SPACE, friendly

__all__ = [
    "MAX_MID_SIZE",
    "drop_primary",
    "id_compress",
    "in_reply_to",
    "mid2path",
    "mid_clean",
    "mid_escape",
    "mids",
    "mids_for_index",
    "mids_for_index_perl",
    "mids_perl",
    "references",
    "references_perl",
    "refs_from_field",
    "refs_to_field",
    "subject_normalized",
    "subject_path",
    "thread_candidates_perl",
    "thread_references",
]

#: longest Message-ID kept (Xapian term limit minus the prefix)
MAX_MID_SIZE = 244
_ID_MAX = 40
_MID_EXTRACT = re.compile(r"<([^>]+)>", re.DOTALL)


def _bracketed(v: str) -> list[str]:
    # nothing after the last '>' can match; avoids quadratic scans of "<<<<"
    return _MID_EXTRACT.findall(v, 0, v.rfind(">") + 1)


def _extract(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        cur = _bracketed(v)
        out.extend(cur if cur else [v])
    return out


def _uniq(ids: list[str], seen: set[str] | None = None) -> list[str]:
    seen = set() if seen is None else seen
    out = []
    for mid in ids:
        mid = mid.replace("\n", "").replace("\t", "").replace("\r", "")
        mid = mid[:MAX_MID_SIZE]
        if mid not in seen:
            seen.add(mid)
            out.append(mid)
    return out


def mids_perl(h: Headers) -> list[str]:
    """Message-IDs as Perl byte strings (latin-1 view)."""
    return _uniq(_extract(h.perl_raw("Message-ID")))


def mids(h: Headers) -> list[str]:
    """All Message-IDs of a message, first one is the usual primary id."""
    return [friendly(m) for m in mids_perl(h)]


def mids_for_index_perl(h: Headers) -> list[str]:
    """Message-ID plus X-Alt-Message-ID ids (what the overview records)."""
    return _uniq(_extract(h.perl_raw("Message-ID") + h.perl_raw("X-Alt-Message-ID")))


def mids_for_index(h: Headers) -> list[str]:
    """Friendly-decoded :func:`mids_for_index_perl`."""
    return [friendly(m) for m in mids_for_index_perl(h)]


def references_perl(h: Headers) -> list[str]:
    """References + In-Reply-To ids, cleaned (Perl byte-string view)."""
    found: list[str] = []
    for field in ("References", "In-Reply-To"):
        for v in h.perl_raw(field):
            found.extend(_bracketed(v))
    if not found:
        return []  # nothing to clean: no address parsing (a thread's first message)
    seen = {"y", "n"}
    for field in ("To", "From", "Cc"):
        for v in h.perl_raw(field):
            seen.update(emails(v, utf8=False))
    return _uniq(found, seen)


def references(h: Headers) -> list[str]:
    """Friendly-decoded :func:`references_perl`."""
    return [friendly(m) for m in references_perl(h)]


def thread_candidates_perl(h: Headers, *, own: list[str] | None = None) -> list[str]:
    """:func:`references_perl`, then the message's own ids when it carries
    several (Message-ID and X-Alt-Message-ID): what Smsg
    ``parse_references`` starts from, before the message's own number
    decides which id is its primary (:func:`drop_primary`).  *own*:
    :func:`mids_for_index_perl` when the caller has it."""
    refs = references_perl(h)
    if own is None:
        own = mids_for_index_perl(h)
    return refs + own if len(own) > 1 else refs


def drop_primary(refs: Iterable[str], primary: str) -> list[str]:
    """The overview's references: *refs* without *primary* (the id the
    message is numbered under: no self reference), duplicates and ids over
    :data:`MAX_MID_SIZE` (Smsg ``parse_references``)."""
    seen = {primary}
    out = []
    for r in refs:
        if len(r) > MAX_MID_SIZE or r in seen:
            continue
        seen.add(r)
        out.append(r)
    return out


def thread_references(h: Headers, primary: str | None = None) -> list[str]:
    """References used for threading (Smsg ``parse_references``).

    When the message carries several ids (Message-ID and X-Alt-Message-ID),
    they are all added after the references; the primary id (default: the
    first Message-ID) and duplicates are dropped.  Perl byte-string view.
    """
    if primary is None:
        m = mids_perl(h)
        primary = m[0] if m else ""
    return drop_primary(thread_candidates_perl(h), primary)


def in_reply_to(h: Headers) -> str | None:
    """The message it replies to, as public-inbox's web shows it (View
    ``in_reply_to``: the last of :func:`references`; unlike the overview's
    references it keeps a self reference and adds no extra Message-IDs)."""
    refs = references(h)
    return refs[-1] if refs else None


def refs_to_field(refs: tuple[str, ...] | list[str]) -> str:
    """References as the overview stores them: ``<a> <b>`` (Smsg's
    ``references``), "" for none."""
    return "<" + "> <".join(refs) + ">" if refs else ""


def refs_from_field(field: str) -> tuple[str, ...]:
    """The ids of a stored ``<a> <b>`` field, extracted as they were from
    the header (public-inbox's SearchThread reads them with ``$MID_EXTRACT``
    too): ``<Message-ID: <x@y>>`` stays the one id ``Message-ID: <x@y``."""
    return tuple(_bracketed(field)) if field else ()


def mid_clean(mid: str) -> str:
    """Contents of the first ``<...>``, else the string itself."""
    m = _MID_EXTRACT.search(mid, 0, mid.rfind(">") + 1)
    return m.group(1) if m else mid


#: a Message-ID that :func:`mid_escape` leaves as it is (most of them)
_MID_UNRESERVED = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@]*\Z")


def mid_escape(mid: str) -> str:
    """Percent-escape a Message-ID for URLs (RFC 3986 path segment)."""
    if _MID_UNRESERVED.match(mid):  # a page of 200 hits: 200 quote() calls less
        return mid
    return quote(mid.encode("utf-8", "surrogatepass"), safe="-._~!$&'()*+,;=:@")


_NOT_ID_CHAR = re.compile(r"[^a-zA-Z0-9_\-]")


def id_compress(s: str, force: bool = False) -> str:
    """Keep short ``[A-Za-z0-9_-]`` ids, else their SHA-1 hex."""
    if force or _NOT_ID_CHAR.search(s) or len(s) > _ID_MAX:
        return hashlib.sha1(s.encode("utf-8", "surrogatepass")).hexdigest()
    return s


def mid2path(mid: str) -> str:
    """v1 blob path ``xx/yyyy...`` of a Message-ID."""
    if re.fullmatch(r"[a-f0-9]{40}", mid):
        h = mid
    else:
        h = hashlib.sha1(mid_clean(mid).encode("utf-8", "surrogatepass")).hexdigest()
    return h[:2] + "/" + h[2:]


# ---------------------------------------------------------- subjects


def _is_word(c: str, uni: bool) -> bool:
    if c.isascii():
        return c.isalnum() or c == "_"
    if not uni:
        return False
    cat = unicodedata.category(c)
    if cat[0] in "LM" or cat in ("Nd", "Nl", "Pc"):
        return True
    o = ord(c)
    return (
        o in (0x200C, 0x200D)
        or 0x24B6 <= o <= 0x24E9
        or 0x1F130 <= o <= 0x1F149
        or 0x1F150 <= o <= 0x1F169
        or 0x1F170 <= o <= 0x1F189
    )


def _subject_res(sp: str) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    cls = "[" + re.escape(sp) + "]"
    return (
        re.compile(r"\A" + cls + "+|" + cls + r"+\Z"),
        re.compile(cls + "+"),
        re.compile(r"\.+\Z"),
        re.compile(r"\A[rR][eE]:" + cls + "+"),
    )


_SUBJ_RES = {True: _subject_res(UNICODE_SPACE), False: _subject_res(ASCII_SPACE)}


@functools.lru_cache(maxsize=16384)
def subject_normalized(subject: str, *, unicode_rules: bool = True) -> str:
    """Trim, squeeze blanks, drop trailing dots and one leading ``re:``."""
    trim, blanks, dots, reply = _SUBJ_RES[unicode_rules]
    s = trim.sub("", subject)
    s = blanks.sub(" ", s)
    s = dots.sub("", s)
    return reply.sub("", s, count=1)


_NON_PATH_ASCII = re.compile(r"[^A-Za-z0-9_.~/-]+")


def subject_path(subject: str, *, unicode_rules: bool = True) -> str:
    """The overview ``subject.path`` key for a (decoded) subject.

    ``unicode_rules=False`` reproduces Perl on a byte string that was not
    valid UTF-8 (only ASCII letters are word characters and lower-cased).
    An empty subject gives an empty key (public-inbox stores no sid then).
    """
    s = subject_normalized(subject, unicode_rules=unicode_rules)
    if s.isascii():  # fast path: the same rules, for ASCII only
        return id_compress(_NON_PATH_ASCII.sub("_", s).lower())
    out: list[str] = []
    run = False
    for c in s:
        if _is_word(c, unicode_rules) or c in ".~/-":
            out.append(c)
            run = False
        elif not run:
            out.append("_")
            run = True
    s = "".join(out)
    if unicode_rules:
        s = s.replace("\u03a3", "\u03c3").lower()
    else:
        s = "".join(c.lower() if c.isascii() else c for c in s)
    return id_compress(s)
