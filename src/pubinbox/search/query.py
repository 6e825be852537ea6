"""public-inbox's search language, parsed into a small AST.

public-inbox hands the ``q=`` parameter to Xapian's QueryParser (flags
PHRASE | BOOLEAN | LOVEHATE | WILDCARD, default operator AND) after turning
the date prefixes into numbers (REFERENCE §5).  :func:`parse` reads the same
language and returns a tree of :class:`Node` objects for the search engine to
compile; it does no I/O.

AST
    :class:`Term` ``(field, text, wildcard)``, :class:`Phrase` ``(field,
    words)``, :class:`Range` ``(field, lo, hi)``, :class:`And`, :class:`Or`,
    :class:`Xor` ``(children)`` and :class:`Not` ``(child)``.  ``field`` is a
    canonical field name (:data:`PREFIXES` maps every prefix to one) or
    ``None`` for a bare word, which searches :data:`DEFAULT_SOURCES`.
    ``str(node)`` prints the tree canonically.

Conventions
    * Words are maximal runs of word characters (``\\w``: letters, digits and
      ``_``, as in Xapian), exactly what the index's tokenizer produces; see
      :func:`split_words`.  Case is kept; the engine lower-cases and stems.
    * A value that holds several words, quoted or not (``f:alice@example.com``,
      ``dfn:drivers/foo/bar.c``, ``foo-bar``, ``v5.10``, unknown
      ``foo:bar``) is a :class:`Phrase`: the words must be adjacent, as
      with Xapian's "phrase generator" characters.  A quoted value is always
      a :class:`Phrase`, even of one word.  ``s:(a b)`` applies ``s`` to every
      bare word in the group.
    * Boolean (exact) fields (:data:`BOOLEAN_FIELDS`, plus configured
      ``altid`` names) take their value verbatim up to white space or ``)``,
      or in double quotes with ``""`` for a literal quote.  ``mid:``/``lid:``
      lose one pair of surrounding ``<>``; ``lid:`` is lower-cased; the hex
      fields must be hexadecimal (``dfpre/dfpost/dfblob``: at least 7 digits)
      and are lower-cased.
    * Ranges: ``lo`` inclusive, ``hi`` exclusive, ``None`` = open.  ``d: dt:
      rt:`` bounds are **unix seconds UTC**; ``z:`` bytes; ``uid:`` article
      numbers.  See :func:`parse` for the date rules.
    * Wildcards: a trailing ``*`` on a single word of at least 2 characters
      in a text field (``frobnicat*``).  On a hex field it is an error
      (abbreviations of 7+ digits match already); on ``mid:``/``lid:``/altid
      it is part of the value (Message-IDs may contain ``*``), as in Xapian.
    * Unknown prefixes: as in Xapian, ``foo:bar`` is not an error but the
      phrase ``"foo bar"`` (URLs, ``Fixes:``, ``Link:`` stay searchable).
      Prefixes are case-sensitive (``S:x`` is the phrase ``"S x"``).
    * Operators ``AND OR NOT XOR`` are upper case only (``and`` is a word).
      Precedence, loosest first: ``OR``, ``XOR``, ``AND``/``NOT``, then
      juxtaposition (implicit AND), so ``a b OR c`` is ``(a AND b) OR c``.
      ``+x`` is the same as ``x``; ``-x`` is ``NOT x``.  A query or group
      whose only terms are excluded (``-foo``) yields a bare :class:`Not`,
      which the engine should read as "everything except"; ``NOT`` with
      nothing on its left is a syntax error, as in Xapian.

Errors raise :class:`QueryError` with a message naming the problem and its
0-based character position.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from pubinbox.errors import QueryError
from pubinbox.search.nodes import And, Node, Not, Or, Phrase, Range, Term, Xor, combine
from pubinbox.search.prefixes import (
    BOOLEAN_FIELDS,
    DATE_FIELDS,
    DEFAULT_SOURCES,
    HEX_FIELDS,
    PREFIXES,
    RANGE_FIELDS,
    TEXT_FIELDS,
    XAPIAN_SOURCES,
    split_words,
)
from pubinbox.search.ranges import parse_range

__all__ = [
    "BOOLEAN_FIELDS",
    "DATE_FIELDS",
    "DEFAULT_SOURCES",
    "PREFIXES",
    "RANGE_FIELDS",
    "TEXT_FIELDS",
    "XAPIAN_SOURCES",
    "And",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "QueryError",
    "Range",
    "Term",
    "Xor",
    "parse",
    "split_words",
]

#: b4 asks for the code-review replies of a whole series in one query
#: (``patchid:X OR ...``, 52 characters a patch); the URL limit is 16 KiB
MAX_QUERY_CHARS = 12_000
MAX_TERMS = 200
MAX_DEPTH = 50


# ---------------------------------------------------------------------------
# lexer

_QUOTES = '"\u201c\u201d'
_CHUNK_END = frozenset("()" + _QUOTES)
_PREFIX_RE = re.compile(r"([a-z][a-z0-9_]{0,31}):")
_OPS = frozenset({"AND", "OR", "NOT", "XOR"})


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "(" ")" "op" "+" "-" "atom"
    pos: int
    op: str = ""
    field: str | None = None  # for "(": the prefix of ``s:(``
    node: Node | None = None  # for "atom"


class _Lexer:
    def __init__(self, q: str, now: int, tz_offset: int, altids: frozenset[str]) -> None:
        self.q = q
        self.n = len(q)
        self.now = now
        self.tz_offset = tz_offset
        self.altids = altids
        self.toks: list[_Tok] = []
        self.nterms = 0

    def count(self, k: int, pos: int) -> None:
        self.nterms += k
        if self.nterms > MAX_TERMS:
            raise QueryError(f"too many terms (more than {MAX_TERMS}) at {pos}", pos)

    def atom(self, node: Node, pos: int) -> None:
        self.count(len(node.words) if isinstance(node, Phrase) else 1, pos)
        self.toks.append(_Tok("atom", pos, node=node))

    def chunk_end(self, i: int, stop: str = "") -> int:
        q, n = self.q, self.n
        while i < n and not q[i].isspace() and q[i] not in _CHUNK_END and q[i] not in stop:
            i += 1
        return i

    def run(self) -> list[_Tok]:
        q, n = self.q, self.n
        i = 0
        while i < n:
            c = q[i]
            if c.isspace():
                i += 1
            elif c == "(":
                self.toks.append(_Tok("(", i))
                i += 1
            elif c == ")":
                self.toks.append(_Tok(")", i))
                i += 1
            elif c in "+-":
                if i + 1 < n and not q[i + 1].isspace() and q[i + 1] != ")":
                    self.toks.append(_Tok(c, i))
                i += 1  # a lone + or - is ignored, as in Xapian
            elif c in _QUOTES:
                node, i = self.phrase(None, i)
                self.atom(node, i)
            else:
                i = self.word(i)
        return self.toks

    def phrase(self, field: str | None, i: int) -> tuple[Phrase, int]:
        """A quoted phrase starting at the quote at *i*; lei's ``""x y""`` too."""
        q, n = self.q, self.n
        start = i + 1
        doubled = start + 1 < n and q[start] in _QUOTES and q[start + 1] not in _QUOTES and not q[start + 1].isspace()
        if doubled:
            start += 1
        k = start
        while k < n and q[k] not in _QUOTES:
            k += 1
        if k >= n:
            raise QueryError(f"unbalanced '{q[i]}' at {i}", i)
        end = k + 1
        if doubled and end < n and q[end] in _QUOTES:
            end += 1
        words = split_words(q[start:k])
        if not words:
            raise QueryError(f"empty phrase at {i}", i)
        return Phrase(field, tuple(words)), end

    def word(self, i: int) -> int:
        q = self.q
        m = _PREFIX_RE.match(q, i)
        if m:
            name = m[1]
            if name in PREFIXES:
                return self.prefixed(PREFIXES[name], name, i, m.end())
            if name in self.altids:
                return self.boolean(name, name, i, m.end())
        end = self.chunk_end(i)
        chunk = q[i:end]
        if chunk in _OPS:
            self.toks.append(_Tok("op", i, op=chunk))
            return end
        node = self.text(None, chunk, i)
        if node is not None:
            self.atom(node, i)
        return end

    def text(self, field: str | None, chunk: str, pos: int) -> Term | Phrase | None:
        wildcard = chunk.endswith("*") and len(chunk) > 1 and (chunk[-2].isalnum() or chunk[-2] == "_")
        words = split_words(chunk[:-1] if wildcard else chunk)
        if not words:
            return None
        if wildcard:
            if len(words) > 1:
                raise QueryError(f"a wildcard '*' only works on a single word: '{chunk}' at {pos}", pos)
            if len(words[0]) < 2:
                raise QueryError(f"a wildcard needs at least 2 characters before '*': '{chunk}' at {pos}", pos)
            return Term(field, words[0], True)
        if len(words) == 1:
            return Term(field, words[0])
        return Phrase(field, tuple(words))

    def prefixed(self, field: str, name: str, i: int, j: int) -> int:
        q, n = self.q, self.n
        if field in BOOLEAN_FIELDS:
            return self.boolean(field, name, i, j)
        if j >= n or q[j].isspace() or q[j] == ")":
            raise QueryError(f"'{name}:' needs something to search for at {i}", i)
        if field in RANGE_FIELDS:
            end = self.chunk_end(j)
            value = q[j:end]
            if end < n and q[end] in "(" + _QUOTES or not value:
                raise QueryError(f"'{name}:' takes a value or a range A..B without quotes or parentheses at {i}", i)
            self.count(1, i)
            rnode = parse_range(field, name, value, i, self.now, self.tz_offset)
            self.toks.append(_Tok("atom", i, node=rnode))
            return end
        if q[j] == "(":
            self.toks.append(_Tok("(", i, field=field))
            return j + 1
        if q[j] in _QUOTES:
            node, end = self.phrase(field, j)
            self.atom(node, i)
            return end
        end = self.chunk_end(j)
        tnode = self.text(field, q[j:end], i)
        if tnode is None:
            raise QueryError(f"nothing to search for in '{q[i:end]}' at {i}", i)
        self.atom(tnode, i)
        return end

    def boolean(self, field: str, name: str, i: int, j: int) -> int:
        q, n = self.q, self.n
        if j < n and q[j] == '"':
            parts: list[str] = []
            k = j + 1
            while True:
                e = q.find('"', k)
                if e < 0:
                    raise QueryError(f"unbalanced '\"' at {j}", j)
                parts.append(q[k:e])
                if q.startswith('"', e + 1):
                    parts.append('"')
                    k = e + 2
                    continue
                break
            value, end = "".join(parts), e + 1
        else:
            end = j
            while end < n and not q[end].isspace() and q[end] != ")":
                end += 1
            value = q[j:end]
            if value.startswith("("):
                raise QueryError(f"'{name}:' takes one exact value, not a group, at {i}", i)
        self.atom(Term(field, _exact_value(field, name, value, i)), i)
        return end


def _exact_value(field: str, name: str, value: str, pos: int) -> str:
    if field in ("mid", "lid") and len(value) > 2 and value[0] == "<" and value[-1] == ">":
        value = value[1:-1]
    if field == "lid":
        value = value.lower()
    if field in HEX_FIELDS:
        if value.endswith("*"):
            raise QueryError(
                f"wildcards do not work on '{name}:' at {pos}"
                + ("; any abbreviation of 7 or more hex digits matches" if field != "patchid" else ""),
                pos,
            )
        value = value.lower()
        if not re.fullmatch(r"[0-9a-f]+", value):
            raise QueryError(f"'{name}:' needs hexadecimal digits, not '{value}', at {pos}", pos)
        if field != "patchid" and len(value) < 7:
            raise QueryError(f"'{name}:' needs at least 7 hex digits, not '{value}', at {pos}", pos)
    if not value.strip():
        raise QueryError(f"'{name}:' needs a value at {pos}", pos)
    return value


# ---------------------------------------------------------------------------
# parser


def _with_field(node: Node, field: str) -> Node:
    if isinstance(node, Term) and node.field is None:
        return Term(field, node.text, node.wildcard)
    if isinstance(node, Phrase) and node.field is None:
        return Phrase(field, node.words)
    return node


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.i = 0
        self.depth = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def parse(self) -> Node:
        node = self.or_expr(None)
        tok = self.peek()
        if tok is not None:  # only ")" can stop or_expr early
            raise QueryError(f"unbalanced ')' at {tok.pos}", tok.pos)
        return node

    def operand_after(self, op: _Tok) -> None:
        tok = self.peek()
        if tok is None or tok.kind == ")":
            raise QueryError(f"nothing after '{op.op}' at {op.pos}", op.pos)
        if tok.kind == "op":
            raise QueryError(f"nothing between '{op.op}' at {op.pos} and '{tok.op}' at {tok.pos}", tok.pos)

    def or_expr(self, field: str | None) -> Node:
        children = [self.xor_expr(field)]
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.op == "OR":
            self.i += 1
            self.operand_after(tok)
            children.append(self.xor_expr(field))
        return combine(Or, children)

    def xor_expr(self, field: str | None) -> Node:
        children = [self.and_expr(field)]
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.op == "XOR":
            self.i += 1
            self.operand_after(tok)
            children.append(self.and_expr(field))
        return combine(Xor, children)

    def and_expr(self, field: str | None) -> Node:
        children = [self.group(field)]
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.op in ("AND", "NOT"):
            self.i += 1
            negate = tok.op == "NOT"
            nxt = self.peek()
            if not negate and nxt is not None and nxt.kind == "op" and nxt.op == "NOT":
                self.i += 1
                negate, tok = True, nxt
            self.operand_after(tok)
            right = self.group(field)
            children.append(Not(right) if negate else right)
        return combine(And, children)

    def group(self, field: str | None) -> Node:
        items: list[Node] = []
        while (tok := self.peek()) is not None and tok.kind in ("atom", "(", "+", "-"):
            items.append(self.item(field))
        if not items:
            tok = self.peek()
            if tok is None:
                raise QueryError("empty query", 0)
            if tok.kind == "op":
                hint = "; use -word to exclude a word" if tok.op == "NOT" else ""
                raise QueryError(f"'{tok.op}' at {tok.pos} has nothing on its left{hint}", tok.pos)
            raise QueryError(f"unbalanced ')' at {tok.pos}", tok.pos)
        return combine(And, items)

    def item(self, field: str | None) -> Node:
        negations = 0
        first = self.peek()
        while (tok := self.peek()) is not None and tok.kind in ("+", "-"):
            negations += tok.kind == "-"
            self.i += 1
        tok = self.peek()
        if tok is None or tok.kind not in ("atom", "("):
            assert first is not None
            raise QueryError(f"nothing after '{first.kind}' at {first.pos}", first.pos)
        node = self.primary(field)
        for _ in range(negations):
            node = Not(node)
        return node

    def primary(self, field: str | None) -> Node:
        tok = self.toks[self.i]
        self.i += 1
        if tok.kind == "atom":
            assert tok.node is not None
            return tok.node if field is None else _with_field(tok.node, field)
        # "("
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(f"parentheses nested too deeply (more than {MAX_DEPTH}) at {tok.pos}", tok.pos)
        nxt = self.peek()
        if nxt is None:
            raise QueryError(f"unbalanced '(' at {tok.pos}", tok.pos)
        if nxt.kind == ")":
            raise QueryError(f"empty parentheses at {tok.pos}", tok.pos)
        inner = self.or_expr(tok.field if tok.field is not None else field)
        close = self.peek()
        if close is None or close.kind != ")":
            raise QueryError(f"unbalanced '(' at {tok.pos}", tok.pos)
        self.i += 1
        self.depth -= 1
        return inner


def parse(q: str, *, now: int | None = None, tz_offset: int = 0, altids: Iterable[str] = ()) -> Node:
    """Parse the search query *q* into a :class:`Node` tree.

    *now* (unix seconds, default: the clock) and *tz_offset* (seconds east of
    UTC) anchor relative dates (``2.weeks.ago``, ``yesterday``).  *altids*
    are the configured ``altid`` prefixes (exact-value fields).

    Date ranges (``d: dt: rt:``, bounds in unix seconds UTC, hi exclusive):

    * ``YYYYMMDD`` and ``YYYY-MM-DD`` mean a whole UTC day: the start of the
      day as a lower bound, the end of the day as an upper bound.
    * ``YYYYMMDDHHMMSS`` (UTC) and git approxidate forms mean a moment; as an
      upper bound it is included (``hi`` = moment + 1 s).  For ``rt:`` any
      number of 5 or more digits is unix seconds.
    * A single value: ``d:X`` is the UTC day holding X; ``dt:X``/``rt:X`` are
      the 24 hours from X (as public-inbox, without its inclusive end).
    * ``A..B``, ``A..``, ``..B``.  Ranges ending before they start are errors.

    ``z:`` and ``uid:`` take integers; a single value ``N`` is exactly N and
    ``A..B`` includes B.  Raises :class:`QueryError`.
    """
    if len(q) > MAX_QUERY_CHARS:
        raise QueryError(f"query too long ({len(q)} characters, at most {MAX_QUERY_CHARS})", MAX_QUERY_CHARS)
    if now is None:
        now = int(time.time())
    toks = _Lexer(q, now, tz_offset, frozenset(altids)).run()
    if not toks:
        raise QueryError("empty query", 0)
    return _Parser(toks).parse()
