"""IMAP SEARCH keys (RFC 3501 §6.4.4) as a predicate over overview rows.

Strings match as case-insensitive **substrings** (public-inbox matches
whole words only): SUBJECT/FROM/TO/CC against the overview's decoded
fields, HEADER/BCC/BODY/TEXT against the stored message (read only when a
key needs it).  Flags: every message is unflagged and, having no \\Seen,
UNSEEN and OLD; none is RECENT.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pubinbox.imap.commands import Bad, Token, parse_date, parse_seqset
from pubinbox.over.reader import OverRow

if TYPE_CHECKING:
    from pubinbox.imap.protocol import IMAPSession

__all__ = ["Compiled", "compile_keys", "split_raw"]


class Raw(Protocol):
    """Where the stored message of a row comes from (an Inbox)."""

    def raw(self, row: OverRow) -> bytes: ...


Pred = Callable[[int, OverRow, Raw], bool]
MAX_KEYS = 100
_FALSE = {"ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN", "NEW", "RECENT"}
_TRUE = {"ALL", "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN", "OLD"}
_DAY = 86400


def _s(t: Token) -> str:
    if isinstance(t, list):
        raise Bad("string expected")
    return t.decode("utf-8", "surrogateescape") if isinstance(t, bytes) else t


def split_raw(data: bytes) -> tuple[bytes, bytes]:
    """(header, body) of a stored message, LF or CRLF line ends."""
    lf, crlf = data.find(b"\n\n"), data.find(b"\r\n\r\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return data[:crlf], data[crlf + 4 :]
    return (data, b"") if lf < 0 else (data[:lf], data[lf + 2 :])


def _raw(box: Raw, row: OverRow) -> tuple[str, str]:
    head, body = split_raw(box.raw(row))
    return head.decode("utf-8", "replace").lower(), body.decode("utf-8", "replace").lower()


def _header(box: Raw, row: OverRow, field: str, needle: str) -> bool:
    head, _ = _raw(box, row)
    key = field.lower() + ":"
    head = head.replace("\r\n", "\n")
    for line in head.replace("\n ", " ").replace("\n\t", " ").split("\n"):
        if line.startswith(key) and needle in line[len(key) :]:
            return True
    return False


@dataclass(frozen=True, slots=True)
class Compiled:
    """A SEARCH: its predicate, whether it reads messages from git, and the
    strings every hit's body must hold (its top-level BODY keys, for
    :mod:`pubinbox.imap.narrow`)."""

    pred: Pred
    reads: bool
    body_needles: tuple[str, ...]


def compile_keys(tokens: list[Token], session: IMAPSession) -> Compiled:
    """The conjunction of the keys in *tokens*."""
    budget = [MAX_KEYS]
    pos = [0]
    needles: list[str] = []
    reads = [False]
    depth = [0]  # inside NOT or OR: a BODY there is not required of every hit

    def take() -> Token:
        if pos[0] >= len(tokens_stack[-1]):
            raise Bad("search key expected")
        t = tokens_stack[-1][pos[0]]
        pos[0] += 1
        return t

    tokens_stack = [tokens]

    def key() -> Pred:
        budget[0] -= 1
        if budget[0] < 0:
            raise Bad("too many search keys")
        t = take()
        if isinstance(t, list):
            saved = pos[0]
            tokens_stack.append(t)
            pos[0] = 0
            preds = []
            while pos[0] < len(t):
                preds.append(key())
            tokens_stack.pop()
            pos[0] = saved
            if not preds:
                raise Bad("empty list")
            return lambda m, r, b: all(p(m, r, b) for p in preds)
        k = _s(t).upper()
        if k in _TRUE:
            return lambda m, r, b: True
        if k in _FALSE:
            return lambda m, r, b: False
        if k == "KEYWORD":
            take()
            return lambda m, r, b: False
        if k == "UNKEYWORD":
            take()
            return lambda m, r, b: True
        if k == "NOT":
            depth[0] += 1
            p = key()
            depth[0] -= 1
            return lambda m, r, b: not p(m, r, b)
        if k == "OR":
            depth[0] += 1
            p1, p2 = key(), key()
            depth[0] -= 1
            return lambda m, r, b: p1(m, r, b) or p2(m, r, b)
        if k in ("SUBJECT", "FROM", "TO", "CC"):
            needle = _s(take()).lower()
            attr = {"SUBJECT": "subject", "FROM": "from_", "TO": "to", "CC": "cc"}[k]
            return lambda m, r, b: needle in getattr(r, attr).lower()
        if k in ("BCC", "HEADER", "BODY", "TEXT"):
            reads[0] = True
        if k == "BCC":
            needle = _s(take()).lower()
            return lambda m, r, b: _header(b, r, "bcc", needle)
        if k == "HEADER":
            field, needle = _s(take()), _s(take()).lower()
            return lambda m, r, b: _header(b, r, field, needle)
        if k == "BODY":
            needle = _s(take()).lower()
            if depth[0] == 0:
                needles.append(needle)
            return lambda m, r, b: needle in _raw(b, r)[1]
        if k == "TEXT":
            needle = _s(take()).lower()
            return lambda m, r, b: any(needle in x for x in _raw(b, r))
        if k in ("LARGER", "SMALLER"):
            n = _s(take())
            if not n.isdigit() or len(n) > 12:
                raise Bad("number expected")
            size = int(n)
            return (lambda m, r, b: r.bytes > size) if k == "LARGER" else (lambda m, r, b: r.bytes < size)
        if k in ("SINCE", "BEFORE", "ON", "SENTSINCE", "SENTBEFORE", "SENTON"):
            day = parse_date(_s(take()))
            field = "ds" if k.startswith("SENT") else "ts"
            base = k.removeprefix("SENT")
            if base == "SINCE":
                return lambda m, r, b: getattr(r, field) >= day
            if base == "BEFORE":
                return lambda m, r, b: getattr(r, field) < day
            return lambda m, r, b: day <= getattr(r, field) < day + _DAY
        if k == "UID":
            uids = session.uids
            ranges = parse_seqset(_s(take()), uids[-1] if uids else 0)
            return lambda m, r, b: any(lo <= r.num <= hi for lo, hi in ranges)
        if k[:1].isdigit() or k[:1] == "*":
            ranges = parse_seqset(k, len(session.uids))
            return lambda m, r, b: any(lo <= m <= hi for lo, hi in ranges)
        raise Bad(f"unknown search key {k}")

    preds = []
    while pos[0] < len(tokens):
        preds.append(key())
    return Compiled(lambda m, r, b: all(p(m, r, b) for p in preds), reads[0], tuple(needles))
