"""Answering queries: the public-inbox query language on the Tantivy index.

:func:`pubinbox.search.query.parse` turns the user's string into an AST;
this module compiles it to Tantivy queries (fields from
:data:`~pubinbox.search.schema.XAPIAN_FIELD`), runs it, and returns article
numbers newest first (by received time, like public-inbox) or by relevance,
with the total count.  Wildcards are expanded through the term dictionary
and capped; everything that could run long is bounded.

Words are looked up as public-inbox's QueryParser (stemming strategy
STEM_SOME) does it, observed through its Perl API
(tests/interop/test_phrase_differential.py): a word starting with a
lower-case letter matches its English stem (``applied`` finds "applies"),
any other word (``Applied``, ``2nd``, ``_foo``), a quoted word, a phrase and
a wildcard match the words as written, lower-cased -- the stem fields and
the words fields of :mod:`~pubinbox.search.schema`.  An index built before
the words fields existed (schema 6) answers from its stems alone until
``pubinbox index`` rebuilds it.
"""

from __future__ import annotations

import json
import os
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pubinbox.errors import IndexDamaged, QueryTooCostly, SearchUnavailable
from pubinbox.search.backend import SearchResult
from pubinbox.search.query import (
    XAPIAN_SOURCES,
    And,
    Node,
    Not,
    Or,
    Phrase,
    QueryError,
    Range,
    Term,
    Xor,
    parse,
)
from pubinbox.search.schema import (
    ADDRESS_FIELDS,
    ANALYZER,
    EXACT_FIELDS,
    RANGE_FIELDS,
    STEMMED_CATEGORIES,
    TEXT_FIELDS,
    WORD_FIELDS,
    WORDS_ANALYZER,
    XAPIAN_FIELD,
    analyzer,
    positional_fields,
    register_analyzers,
)
from pubinbox.search.window import Edges, estimate, worth_growing
from pubinbox.search.writer import search_dir

#: public-inbox allows at most 100 expansions of a wildcard
MAX_WILDCARD = 100
MAX_LIMIT = 10_000
#: deepest page of results: Tantivy's top-N collector allocates room for
#: 2 x (offset + limit) hits of 24 bytes up front, once per index segment
#: (measured: o=1,000,000 needs 48 MB a segment, ~400 MB on erofs' index),
#: so this bounds a query's memory to a few MB a segment
MAX_OFFSET = 100_000
#: the cost budget of one query: term and phrase clauses after wildcard
#: expansion, each field counted, an XOR operand once per copy it needs
MAX_CLAUSES = 20_000


def _panic(e: BaseException) -> bool:
    """pyo3 turns a Rust panic into ``PanicException``, a BaseException."""
    return type(e).__name__ == "PanicException"


class Searcher:
    """Read side of one inbox's search index (one per thread or process).

    Opens the index read-only and follows it: new commits are picked up
    with a reload, a replaced index directory (``rm -rf`` and a rebuild by
    ``pubinbox index``) is reopened; a missing index raises
    :class:`SearchUnavailable`, an unreadable one :class:`IndexDamaged`."""

    def __init__(self, own_dir: Path, level: str) -> None:
        import tantivy

        self._tantivy = tantivy
        self.level = level
        self.path = search_dir(own_dir)
        self._an = {ANALYZER: analyzer(), WORDS_ANALYZER: analyzer(stem=False)}
        self.index: Any = None
        self._stamp: tuple[int, int, int] = (0, 0, 0)
        #: the newest-first windows (:mod:`~pubinbox.search.window`)
        self._edges = Edges(-1, 0)
        self._open()

    def _current_stamp(self) -> tuple[int, int, int]:
        """(directory inode, meta.json mtime, meta.json inode); zeros when missing."""
        try:
            d = os.stat(self.path)
            m = os.stat(self.path / "meta.json")
        except OSError:
            return (0, 0, 0)
        return (d.st_ino, m.st_mtime_ns, m.st_ino)

    def _open(self) -> None:
        stamp = self._current_stamp()
        if stamp == (0, 0, 0):
            raise SearchUnavailable(f"{self.path}: no search index; `pubinbox index` builds it")
        try:
            index = self._tantivy.Index.open(str(self.path))
            register_analyzers(index)
        except (ValueError, OSError, RuntimeError) as e:
            raise IndexDamaged(
                f"{self.path}: the search index cannot be read ({e}); `pubinbox index` rebuilds it"
            ) from e
        except BaseException as e:
            if not _panic(e):
                raise
            raise IndexDamaged(f"{self.path}: the search index cannot be read; `pubinbox index` rebuilds it") from e
        self.index = index
        self.schema = index.schema
        self.layout = _layout(self.path, self.level)
        self._stamp = stamp
        self._edges = Edges(-1, 0)

    def reload(self) -> None:
        self.index.reload()

    def refresh(self) -> None:
        """See commits made since the last search (a long-lived reader, e.g.
        the web server): a stat() of the directory and meta.json; a reload
        when a commit happened, a reopen when the directory was replaced."""
        stamp = self._current_stamp()
        if stamp == self._stamp:
            return
        if stamp[0] != self._stamp[0] or stamp == (0, 0, 0):
            self._open()
            return
        try:
            self.index.reload()
            self._stamp = stamp
        except (ValueError, OSError, RuntimeError):
            self._open()

    # -- public API ----------------------------------------------------------
    def search(
        self,
        query: str | Node,
        *,
        offset: int = 0,
        limit: int = 200,
        relevance: bool = False,
        ascending: bool = False,
        now: int | None = None,
        exact: bool = True,
    ) -> SearchResult:
        """Run *query*; raises QueryError for a malformed one, QueryTooCostly
        over the budget.  Newest first (oldest first when *ascending*) or by
        relevance.  Unless *exact*, a newest-first page may come from the
        newest messages alone, with an estimated total
        (:mod:`~pubinbox.search.window`)."""
        node = parse(query, now=now) if isinstance(query, str) else query
        if not 0 <= offset <= MAX_OFFSET:
            raise QueryError(f"result offset {offset} out of range (0 to {MAX_OFFSET})", 0)
        self.refresh()
        try:
            return self._run(node, offset, limit, relevance, ascending, exact)
        except (ValueError, OSError, RuntimeError) as e:
            raise IndexDamaged(f"the search index cannot be read ({e}); `pubinbox index` rebuilds it") from e
        except BaseException as e:
            if not _panic(e):
                raise
            raise IndexDamaged(f"the search index failed ({e}); `pubinbox index` rebuilds it") from e

    def _run(self, node: Node, offset: int, limit: int, relevance: bool, ascending: bool, exact: bool) -> SearchResult:
        tantivy = self._tantivy
        searcher = self.index.searcher()
        q = _Compiler(self, searcher).compile(node)
        limit = max(0, min(limit, MAX_LIMIT))
        want = max(limit, 1)  # Tantivy's collectors panic on a limit of 0
        order = tantivy.Order.Asc if ascending else tantivy.Order.Desc
        if relevance:
            res = searcher.search(q, want, count=True, offset=offset, order=order)
        elif not exact and not ascending and (got := self._windowed(searcher, q, offset, limit)) is not None:
            return got
        else:
            res = searcher.search(q, want, count=True, order_by_field="ts", offset=offset, order=order)
        return self._result(searcher, res.hits[:limit], int(res.count or 0), relevance)

    def _result(self, searcher: Any, hits: list[Any], total: int, relevance: bool, exact: bool = True) -> SearchResult:
        addrs = [addr for _key, addr in hits]
        # the fast-field column, not the stored document: no decompression
        vals = searcher.fast_field_values("num", addrs)
        nums = tuple(int(n) for n in vals if n is not None)
        scores = tuple(float(k) for (k, _a), n in zip(hits, vals) if n is not None) if relevance else ()
        return SearchResult(total=total, nums=nums, scores=scores, exact=exact)

    def _windowed(self, searcher: Any, q: Any, offset: int, limit: int) -> SearchResult | None:
        """The page from the smallest window holding ``offset + limit`` hits,
        or None when none does (the whole index answers)."""
        tantivy = self._tantivy
        want = max(limit, 1)
        Q, Occur = tantivy.Query, tantivy.Occur
        num_docs = int(searcher.num_docs)
        edges = self._edges
        if edges.stale(num_docs):
            edges = self._edges = Edges(num_docs, int(time.time()))
        schema = self.schema

        def since(t: int) -> Any:
            return Q.range_query(schema, "ts", tantivy.FieldType.Integer, t, 1 << 62, True, True)

        def count_from(t: int) -> int:
            return int(searcher.search(since(t), 1, count=True).count or 0)

        i = 0
        while (w := edges.get(i, count_from)) is not None:
            wq = Q.boolean_query([(Occur.Must, q), (Occur.Must, since(w.lo))])
            res = searcher.search(wq, want, count=True, order_by_field="ts", offset=offset, order=tantivy.Order.Desc)
            hits = int(res.count or 0)
            if hits >= offset + want:
                total = estimate(hits, w, num_docs, edges.num_docs)
                return self._result(searcher, res.hits[:limit], total, False, exact=False)
            if not worth_growing(hits, offset + want):
                return None
            i += 1
        return None

    def count(self, query: str | Node) -> int:
        return self.search(query, limit=0).total

    def fields(self, field: str | None) -> list[str]:
        out = []
        for src in XAPIAN_SOURCES.get(field, ()):
            f = XAPIAN_FIELD.get(src)
            if f is not None and f not in out:
                out.append(f)
        if not out:
            raise QueryError(f"unknown search field {field!r}", 0)
        return out

    def tokens(self, text: str, field: str) -> list[str]:
        """The terms *text* is looked up as in *field*: words as written in
        a words field, stems in any other."""
        stem = self.layout.tokenizer.get(field) != WORDS_ANALYZER
        return [t for t in self._an[ANALYZER if stem else WORDS_ANALYZER].analyze(text) if t]

    def own_stem(self, stem: str) -> bool:
        """Whether *stem* is the stem of the word *stem* (then the words
        field, not the stem field, holds it: :class:`~.schema.StemMaker`)."""
        return bool(self._an[ANALYZER].analyze(stem) == [stem])


@dataclass(frozen=True, slots=True)
class _Layout:
    """What an index holds, by field: its tokenizer (stems or words) and
    whether it has positions."""

    #: text field -> tokenizer name
    tokenizer: dict[str, str]
    #: text fields a phrase can match
    positions: frozenset[str]
    #: stem field -> its words field (none in a schema-6 index)
    words: dict[str, str]


def _make_layout(tokenizer: dict[str, str], positions: frozenset[str]) -> _Layout:
    words = {f: w for f, w in WORD_FIELDS.items() if tokenizer.get(w) == WORDS_ANALYZER}
    return _Layout(tokenizer, positions, words)


def _layout(path: Path, level: str) -> _Layout:
    """The layout of the index at *path* as its ``meta.json`` declares it,
    so an index built by an older schema (no words fields, stems with
    positions) or for another indexlevel answers by what it holds until it
    is rebuilt; the current schema's for *level* when that file cannot be
    read."""
    try:
        with open(path / "meta.json", encoding="utf-8") as f:
            fields = json.load(f)["schema"]
        tokenizer: dict[str, str] = {}
        positions = set()
        for e in fields:
            if e.get("type") != "text":
                continue
            indexing = (e.get("options") or {}).get("indexing") or {}
            tokenizer[str(e["name"])] = str(indexing.get("tokenizer", ""))
            if indexing.get("record") == "position":
                positions.add(str(e["name"]))
        return _make_layout(tokenizer, frozenset(positions))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        tokenizer = dict.fromkeys(TEXT_FIELDS, ANALYZER)
        tokenizer.update(dict.fromkeys([*WORD_FIELDS.values(), *ADDRESS_FIELDS.values()], WORDS_ANALYZER))
        return _make_layout(tokenizer, positional_fields(level))


def _stemmed(word: str) -> bool:
    """Whether Xapian's QueryParser (STEM_SOME) stems *word*: only when it
    starts with a lower-case (or caseless) letter; ``Applied``, ``2nd``,
    ``_foo`` are looked up as written."""
    return unicodedata.category(word[:1] or " ") in STEMMED_CATEGORIES


class _Compiler:
    """One query's AST compiled to Tantivy queries, within the cost budget
    (:data:`MAX_CLAUSES`): the clauses are counted as they are made, and an
    XOR's operands are counted once for every copy of them it needs."""

    def __init__(self, s: Searcher, searcher: Any) -> None:
        self.s = s
        self.searcher = searcher
        self.schema = s.schema
        self.Q = s._tantivy.Query
        self.Occur = s._tantivy.Occur
        self.cost = 0

    def spend(self, n: int, what: str) -> None:
        self.cost += n
        if self.cost > MAX_CLAUSES:
            raise QueryTooCostly(
                f"query too expensive: more than {MAX_CLAUSES} search terms once {what}; "
                "use fewer or longer wildcard prefixes, fewer XOR/OR terms, or a field prefix (s:, f:, b:)",
                0,
            )

    def compile(self, node: Node) -> Any:
        Q, Occur = self.Q, self.Occur
        if isinstance(node, And):
            # "a AND NOT b" is one boolean query (Must a, MustNot b): a NOT
            # compiled alone is "everything but b", and intersecting with it
            # walks every document of the index
            clauses = [
                (Occur.MustNot, self.compile(c.child)) if isinstance(c, Not) else (Occur.Must, self.compile(c))
                for c in node.children
            ]
            if all(occur == Occur.MustNot for occur, _q in clauses):
                clauses.insert(0, (Occur.Must, Q.all_query()))
            return Q.boolean_query(clauses)
        if isinstance(node, Or):
            return Q.boolean_query([(Occur.Should, self.compile(c)) for c in node.children])
        if isinstance(node, Xor):
            return self._xor(node)
        if isinstance(node, Not):
            return Q.boolean_query([(Occur.Must, Q.all_query()), (Occur.MustNot, self.compile(node.child))])
        if isinstance(node, Range):
            self.spend(1, "ranges are counted")
            return self._range(node)
        if isinstance(node, Term):
            return self._term(node)
        if isinstance(node, Phrase):
            return self._phrase(node)
        raise QueryError(f"cannot search for {node}", 0)

    def _xor(self, node: Xor) -> Any:
        """Xapian's OP_XOR: an odd number of the operands match.  Built as a
        balanced tree of ``(a OR b) AND NOT (a AND b)``, so every operand is
        copied once per level: n operands cost about n times their size."""
        Q, Occur = self.Q, self.Occur
        subs: list[tuple[Any, int]] = []
        for c in node.children:
            before = self.cost
            q = self.compile(c)
            subs.append((q, self.cost - before))
        depth = max(1, (len(subs) - 1).bit_length())
        self.spend(sum(c for _q, c in subs) * ((1 << depth) - 1), "XOR copies its operands")

        def tree(items: list[tuple[Any, int]]) -> Any:
            if len(items) == 1:
                return items[0][0]
            mid = len(items) // 2
            a, b = tree(items[:mid]), tree(items[mid:])
            either = Q.boolean_query([(Occur.Should, a), (Occur.Should, b)])
            both = Q.boolean_query([(Occur.Must, a), (Occur.Must, b)])
            return Q.boolean_query([(Occur.Must, either), (Occur.MustNot, both)])

        return tree(subs)

    def _term(self, node: Term) -> Any:
        Q, Occur = self.Q, self.Occur
        shoulds = []
        for f in self.s.fields(node.field):
            if f in EXACT_FIELDS:
                val = node.text if f == "mid" else node.text.lower()
                if node.wildcard and f not in ("mid", "lid"):
                    continue
                shoulds.append(Q.term_query(self.schema, f, val))
                continue
            words = self.s.layout.words.get(f)
            if node.wildcard:
                shoulds.extend(self._wildcard(f, node.text) if words is None else self._expand(words, node.text))
                continue
            # STEM_SOME: a word starting with a lower-case letter means its
            # stem, any other the word as written
            look = f if words is None or _stemmed(node.text) else words
            toks = self.s.tokens(node.text, look)
            if not toks:
                continue
            if len(toks) > 1:
                if (q := self._phrase_on(f, node.text)) is not None:
                    shoulds.append(q)
                continue
            shoulds.append(Q.term_query(self.schema, look, toks[0]))
            if look == f and words is not None and self.s.own_stem(toks[0]):
                # the words that are their own stem are in the words field only
                shoulds.append(Q.term_query(self.schema, words, toks[0]))
        self.spend(len(shoulds), "words are looked up in every field they search")
        if not shoulds:
            return Q.empty_query()
        if len(shoulds) == 1:
            return shoulds[0]
        return Q.boolean_query([(Occur.Should, q) for q in shoulds])

    def _expand(self, field: str, text: str) -> list[Any]:
        """The words of *field* starting with *text*, as Xapian expands a
        wildcard: over the words as written, never their stems."""
        prefix = self.s.tokens(text, field)
        if len(prefix) != 1:
            return []
        terms = [t for t, _n in self.searcher.terms_with_prefix(field, prefix[0], limit=MAX_WILDCARD + 1)]
        if len(terms) > MAX_WILDCARD:
            raise QueryError(f"{text}* matches more than {MAX_WILDCARD} words; use a longer prefix", 0)
        self.spend(len(terms), f"{text}* is expanded")
        return [self.Q.term_query(self.schema, field, t) for t in terms]

    def _wildcard(self, field: str, text: str) -> list[Any]:
        """Terms starting with *text* in an index of stems alone (schema 6):
        a stem that the prefix extends (``frobnic`` for ``frobnicat*``) also
        counts, as long as it is at most 3 characters shorter."""
        Q = self.Q
        prefix = text.lower()
        terms = {t for t, _n in self.searcher.terms_with_prefix(field, prefix, limit=MAX_WILDCARD + 1)}
        short = prefix[: max(2, len(prefix) - 3)]
        if short != prefix:
            for t, _n in self.searcher.terms_with_prefix(field, short, limit=10 * MAX_WILDCARD):
                # a stem only drops letters from the end of its word
                if prefix.startswith(t) and len(t) >= len(prefix) - 3 and prefix[len(t) :].isalpha():
                    terms.add(t)
        if len(terms) > MAX_WILDCARD:
            raise QueryError(f"{text}* matches more than {MAX_WILDCARD} words; use a longer prefix", 0)
        self.spend(len(terms), f"{text}* is expanded")
        return [Q.term_query(self.schema, field, t) for t in sorted(terms)]

    def _phrase_field(self, field: str) -> str | None:
        """Where a phrase on *field* is looked up: its words field, or its
        stems in a schema-6 index; None where nothing has positions."""
        lay = self.s.layout
        look = lay.words.get(field, field)
        if look in lay.positions:
            return look
        addr = ADDRESS_FIELDS.get(field, "")
        return addr if addr in lay.positions else None

    def _phrase_on(self, field: str, text: str) -> Any | None:
        """The words of *text* adjacent in *field*; None where it cannot match.

        Xapian answers a phrase from positions only, and only the words as
        written have them: words indexed without them (public-inbox at
        indexlevel medium, except Message-ID words, List-Ids, file names and
        addresses) never match a phrase, even though every word is there
        (observed with Xapian 1.4 through public-inbox's Perl API,
        tests/interop/test_phrase_differential.py).  At medium the addresses
        of From/To/Cc have positions of their own
        (:data:`~pubinbox.search.schema.ADDRESS_FIELDS`)."""
        look = self._phrase_field(field)
        toks = self.s.tokens(text, look or field)
        self.spend(len(toks) - 1, "phrases are counted word by word")
        if look is None:
            return None
        words: list[str | tuple[int, str]] = list(toks)
        return self.Q.phrase_query(self.schema, look, words)

    def _phrase(self, node: Phrase) -> Any:
        Q, Occur = self.Q, self.Occur
        shoulds = []
        text = " ".join(node.words)
        for f in self.s.fields(node.field):
            if f in EXACT_FIELDS:
                val = text if f == "mid" else text.lower()
                shoulds.append(Q.term_query(self.schema, f, val))
                continue
            # a quoted word is the word as written, too
            look = self.s.layout.words.get(f, f)
            toks = self.s.tokens(text, look)
            if not toks:
                continue
            if len(toks) == 1:
                shoulds.append(Q.term_query(self.schema, look, toks[0]))
            elif (q := self._phrase_on(f, text)) is not None:
                shoulds.append(q)
        self.spend(len(shoulds), "phrases are looked up in every field they search")
        if not shoulds:
            return Q.empty_query()
        return shoulds[0] if len(shoulds) == 1 else Q.boolean_query([(Occur.Should, q) for q in shoulds])

    def _range(self, node: Range) -> Any:
        Q = self.Q
        ft = self.s._tantivy.FieldType
        field = RANGE_FIELDS.get(node.field)
        if field is None:
            raise QueryError(f"{node.field}: is not a range", 0)
        if node.lo is None and node.hi is None:
            return Q.all_query()
        kind = ft.Unsigned if field in ("num", "bytes") else ft.Integer
        lo = node.lo
        if lo is not None and kind == ft.Unsigned and lo < 0:
            lo = 0
        if node.hi is not None and kind == ft.Unsigned and node.hi <= 0:
            return Q.empty_query()
        return Q.range_query(
            self.schema,
            field,
            kind,
            lo,
            node.hi,
            include_lower=True,
            include_upper=node.hi is None,
        )
