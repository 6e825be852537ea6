"""The search index as a sieve for IMAP ``SEARCH BODY`` (substring semantics kept).

``SEARCH BODY <string>`` matches a message whose body holds the string as a
case-insensitive substring of its stored bytes (RFC 3501 §6.4.4); the scan
reads every message of the mailbox from git.  The search index (Tantivy,
public-inbox's ``b:`` fields) knows words, not substrings, and not every word
of every body: HTML parts, MIME part headers and boundaries, encoded
(base64, quoted-printable) bytes and diff header lines (``diff --git``,
``index ...``) never reach it.  So the index only narrows the candidates
when that cannot lose a match:

* the string has an *inner word*: a run of ASCII letters, digits and ``_``
  (the index's words) with an ASCII non-word character on both sides
  inside the string, shorter than the index's longest word -- any body holding the
  string holds that word whole (a first or last word may be part of a
  longer one: ``foo`` of ``xfoo bar``);
* a message is *plain* (:func:`is_plain`): one text/plain part in 7bit or
  8bit, an ASCII-compatible charset -- then every word of its body is in
  the index's ``b:`` except, in a patch, the words of a few diff lines
  (``--- a/...``, ``index ...``, ``@@ -1,2 ...``), which
  :func:`unindexed_words` finds by running the indexer's extraction; the
  worker keeps them all in one set, and a word in it is never used to
  rule messages out.  Only plain messages outside the index's hits are
  skipped; every other message is scanned as before.  Whether a message is
  plain is learnt when a scan reads it and remembered per worker
  (:class:`PlainCache`, 4 bytes per article number, the blob's fingerprint
  so an edited message is learnt again);
* the index covers the mailbox: it holds as many of its article numbers
  as the overview (``uid:LO..HI``), so nothing is waiting to be indexed.

Every candidate is still checked by the scan, so hits are always exact;
the index only saves reading the plain messages it rules out.
"""

from __future__ import annotations

import re
import threading
from array import array
from collections.abc import Sequence

__all__ = [
    "MAX_WORD",
    "PlainCache",
    "has_diff",
    "index_query",
    "inner_words",
    "is_plain",
    "narrowable",
    "unindexed_words",
]

#: longer words are not in the index (schema.analyzer: remove_long(64) bytes)
MAX_WORD = 60
#: at most this many words of one string go to the index
MAX_WORDS = 8
_WORD = re.compile(r"[A-Za-z0-9_]+")

_PLAIN_CHARSETS = re.compile(
    rb"(?:us-ascii|ascii|utf-8|utf8|iso-8859-\d{1,2}|iso8859-\d{1,2}|latin-?1|windows-125\d|cp125\d|koi8-[ru])"
)
_CT = re.compile(rb"(?im)^content-type:[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)")
_CTE = re.compile(rb"(?im)^content-transfer-encoding:[ \t]*([^\n]*)")
_DIFF = re.compile(rb"(?m)^(?:diff|---|\+\+\+) ")
#: the search fields ``b:`` searches (prefixes.XAPIAN_SOURCES["b"]) that hold words
_B_FIELDS = ("nq", "quot", "dfn", "dfa", "dfb", "dfhh", "dfctx")
#: an ASCII word of the raw body with no word byte (nor a non-ASCII one) beside it
_RAW_WORD = re.compile(rb"(?<![A-Za-z0-9_\x80-\xff])[A-Za-z0-9_]+(?![A-Za-z0-9_\x80-\xff])")
_TEXT_WORD = re.compile(r"\w+")
_HEXLIKE = re.compile(r"[0-9a-f]{7,}")
#: words kept as unindexed at most (past it, no more patches are learnt as plain)
MAX_UNSAFE = 50_000
_PARAM = re.compile(rb';[ \t]*([a-z0-9_-]+)[ \t]*=[ \t]*("[^"]*"|[^; \t]*)')


def inner_words(needle: str) -> list[str]:
    """The words of *needle* that any text holding it holds whole (see the
    module docstring), lower-cased, at most :data:`MAX_WORDS`, longest
    first."""
    out: set[str] = set()
    for m in _WORD.finditer(needle):
        start, end = m.span()
        if start == 0 or end == len(needle):
            continue  # may be the end or the start of a longer word
        if not (needle[start - 1].isascii() and needle[end].isascii()):
            # beside a non-ASCII character, whose bytes another charset may
            # read as a letter (the index's \w would run on)
            continue
        w = m.group(0).lower()
        if len(w) < MAX_WORD and narrowable(w):
            out.add(w)
    return sorted(out, key=lambda w: (-len(w), w))[:MAX_WORDS]


def narrowable(word: str) -> bool:
    """Numbers and hex ids (hunk ranges, modes, blob ids of diffs: many,
    and often unindexed) never narrow, so they need not be remembered."""
    return not word.isdigit() and _HEXLIKE.fullmatch(word) is None


def has_diff(raw: bytes) -> bool:
    return _DIFF.search(raw) is not None


def unindexed_words(raw: bytes) -> set[str]:
    """The narrowable ASCII words of the body of *raw* (a plain message)
    that the search index's ``b:`` does not hold, by the indexer's own
    extraction (:func:`pubinbox.search.extract.extract`)."""
    from pubinbox.search.extract import extract

    doc = extract(raw)
    indexed: set[str] = set()
    for name in _B_FIELDS:
        for text in getattr(doc, name):
            indexed.update(t.lower() for t in _TEXT_WORD.findall(text))
    _head, body = _split(raw)
    out: set[str] = set()
    for m in _RAW_WORD.findall(body):
        w = m.decode("ascii").lower()
        if w not in indexed and len(w) < MAX_WORD and narrowable(w):
            out.add(w)
    return out


def _split(raw: bytes) -> tuple[bytes, bytes]:
    lf = raw.find(b"\n\n")
    crlf = raw.find(b"\r\n\r\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return raw[:crlf].replace(b"\r\n", b"\n"), raw[crlf + 4 :]
    if lf >= 0:
        return raw[:lf], raw[lf + 2 :]
    return b"", b""


def is_plain(raw: bytes) -> bool:
    """Whether every word of the body of the message *raw* is in the
    search index's ``b:`` but those of diff header lines
    (:func:`unindexed_words`): a single text/plain part (or no
    Content-Type), 7bit/8bit, an ASCII-compatible charset, no binary patch."""
    head, body = _split(raw)
    if not head or len(head) > 50_000 or b"\r" in head:
        return False
    types = _CT.findall(b"\n" + head)
    if len(types) > 1:
        return False
    if types:
        value = types[0].lower().replace(b"\n", b" ")
        if not value.strip().startswith(b"text/plain") or value.count(b";") > 4:
            return False
        for name, val in _PARAM.findall(value):
            if name == b"charset" and not _PLAIN_CHARSETS.fullmatch(val.strip(b'"')):
                return False
    encodings = _CTE.findall(b"\n" + head)
    if len(encodings) > 1 or (encodings and encodings[0].strip().lower() not in (b"7bit", b"8bit")):
        return False
    return b"GIT binary patch" not in body


def index_query(words: Sequence[str], lo: int, hi: int) -> str:
    """The query for the messages of article numbers *lo*..*hi* whose
    ``b:`` holds every word."""
    return " ".join(f"b:{w}" for w in words) + f" uid:{lo}..{hi}"


class PlainCache:
    """Which article numbers of each inbox are plain messages, learnt by
    the scans of one worker: per inbox an array of 32-bit fingerprints of
    the blob (0: not known to be plain), grown to the highest number seen
    (4 bytes per article)."""

    def __init__(self) -> None:
        self._by_inbox: dict[str, array[int]] = {}
        self._lock = threading.Lock()
        #: words of plain messages the index does not hold (never narrow on them)
        self.unsafe: set[str] = set()

    @staticmethod
    def fingerprint(blob: str) -> int:
        try:
            return int(blob[:8], 16) | 1
        except ValueError:
            return 0

    def learn(self, inbox: str, num: int, blob: str, unindexed: set[str] | None) -> None:
        """Remember article *num* (blob *blob*) as plain with the words
        *unindexed* of it not in the index, or (None) as not plain."""
        if num <= 0 or num > 1 << 31:
            return
        with self._lock:
            plain = unindexed is not None
            if unindexed:
                if len(self.unsafe) + len(unindexed - self.unsafe) > MAX_UNSAFE:
                    plain = False
                else:  # before the message counts as plain
                    self.unsafe |= unindexed
            arr = self._by_inbox.setdefault(inbox, array("I"))
            if num >= len(arr):
                if not plain:
                    return
                arr.frombytes(bytes(4 * (num + 1 - len(arr) + 1024)))
            arr[num] = self.fingerprint(blob) if plain else 0

    def plain(self, inbox: str, num: int, blob: str) -> bool:
        arr = self._by_inbox.get(inbox)
        return arr is not None and 0 < num < len(arr) and arr[num] != 0 and arr[num] == self.fingerprint(blob)
