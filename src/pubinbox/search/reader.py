"""Answering queries: the public-inbox query language on the Tantivy index.

:func:`pubinbox.search.query.parse` turns the user's string into an AST;
this module compiles it to Tantivy queries (fields from
:data:`~pubinbox.search.schema.XAPIAN_FIELD`), runs it, and returns article
numbers newest first (by received time, like public-inbox) or by relevance,
with the total count.  Wildcards are expanded through the term dictionary
and capped; everything that could run long is bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pubinbox.errors import SearchUnavailable
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
from pubinbox.search.schema import EXACT_FIELDS, NO_POSITIONS, RANGE_FIELDS, XAPIAN_FIELD, analyzer
from pubinbox.search.writer import open_index, search_dir

#: public-inbox allows at most 100 expansions of a wildcard
MAX_WILDCARD = 100
MAX_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Article numbers of one page of hits, and how many match in all."""

    total: int
    nums: tuple[int, ...]
    scores: tuple[float, ...] = ()  # relevance order only, same order as nums


class Searcher:
    """Read side of one inbox's search index (one per thread)."""

    def __init__(self, own_dir: Path, level: str) -> None:
        import tantivy

        self._tantivy = tantivy
        self.level = level
        self._meta = search_dir(own_dir) / "meta.json"
        self._meta_stamp = self._stamp()
        self.index = open_index(search_dir(own_dir), level, create=False)
        self.schema = self.index.schema
        self._an = analyzer()

    def _stamp(self) -> tuple[int, int]:
        try:
            st = self._meta.stat()
        except OSError:
            return (0, 0)
        return (st.st_mtime_ns, st.st_ino)

    def reload(self) -> None:
        self.index.reload()

    def refresh(self) -> None:
        """See commits made since the last search (a long-lived reader, e.g.
        the web server): one stat() of meta.json, a reload only if it changed."""
        stamp = self._stamp()
        if stamp != self._meta_stamp:
            self._meta_stamp = stamp
            self.index.reload()

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
    ) -> SearchResult:
        """Run *query*; raises QueryError for a malformed one.  Newest
        first (oldest first when *ascending*) or by relevance."""
        node = parse(query, now=now) if isinstance(query, str) else query
        self.refresh()
        searcher = self.index.searcher()
        q = self.compile(node, searcher)
        limit = max(0, min(limit, MAX_LIMIT))
        want = max(limit, 1)  # Tantivy's collectors panic on a limit of 0
        try:
            import tantivy

            order = tantivy.Order.Asc if ascending else tantivy.Order.Desc
            if relevance:
                res = searcher.search(q, want, count=True, offset=offset, order=order)
            else:
                res = searcher.search(q, want, count=True, order_by_field="ts", offset=offset, order=order)
            hits = res.hits[:limit]
            addrs = [addr for _key, addr in hits]
            # the fast-field column, not the stored document: no decompression
            vals = searcher.fast_field_values("num", addrs)
            nums = tuple(int(n) for n in vals if n is not None)
            scores = tuple(float(k) for (k, _a), n in zip(hits, vals) if n is not None) if relevance else ()
        except (ValueError, OSError, RuntimeError) as e:
            raise SearchUnavailable(f"the search index cannot be read ({e}); `pubinbox index` rebuilds it") from e
        return SearchResult(total=int(res.count or 0), nums=nums, scores=scores)

    def count(self, query: str | Node) -> int:
        return self.search(query, limit=0).total

    # -- compiling -----------------------------------------------------------
    def compile(self, node: Node, searcher: Any) -> Any:
        Q = self._tantivy.Query
        Occur = self._tantivy.Occur
        if isinstance(node, And):
            return Q.boolean_query([(Occur.Must, self._positive(c, searcher)) for c in node.children])
        if isinstance(node, Or):
            return Q.boolean_query([(Occur.Should, self.compile(c, searcher)) for c in node.children])
        if isinstance(node, Xor):
            # exactly one of them: at least one, and not two at once
            subs = [self.compile(c, searcher) for c in node.children]
            any_q = Q.boolean_query([(Occur.Should, s) for s in subs])
            pairs = [
                Q.boolean_query([(Occur.Must, subs[i]), (Occur.Must, subs[j])])
                for i in range(len(subs))
                for j in range(i + 1, len(subs))
            ]
            return Q.boolean_query([(Occur.Must, any_q)] + [(Occur.MustNot, p) for p in pairs])
        if isinstance(node, Not):
            return Q.boolean_query([(Occur.Must, Q.all_query()), (Occur.MustNot, self.compile(node.child, searcher))])
        if isinstance(node, Range):
            return self._range(node)
        if isinstance(node, Term):
            return self._term(node, searcher)
        if isinstance(node, Phrase):
            return self._phrase(node)
        raise QueryError(f"cannot search for {node}", 0)

    def _positive(self, node: Node, searcher: Any) -> Any:
        # "a AND NOT b": And(a, Not(b)) -> must a, must-not b (no all_query needed)
        return self.compile(node, searcher)

    def _fields(self, field: str | None) -> list[str]:
        out = []
        for src in XAPIAN_SOURCES.get(field, ()):
            f = XAPIAN_FIELD.get(src)
            if f is not None and f not in out:
                out.append(f)
        if not out:
            raise QueryError(f"unknown search field {field!r}", 0)
        return out

    def _tokens(self, text: str) -> list[str]:
        return [t for t in self._an.analyze(text) if t]

    def _term(self, node: Term, searcher: Any) -> Any:
        Q = self._tantivy.Query
        Occur = self._tantivy.Occur
        shoulds = []
        for f in self._fields(node.field):
            if f in EXACT_FIELDS:
                val = node.text if f == "mid" else node.text.lower()
                if node.wildcard and f not in ("mid", "lid"):
                    continue
                shoulds.append(Q.term_query(self.schema, f, val))
                continue
            if node.wildcard:
                shoulds.extend(self._wildcard(f, node.text, searcher))
                continue
            toks = self._tokens(node.text)
            if not toks:
                continue
            if len(toks) == 1:
                shoulds.append(Q.term_query(self.schema, f, toks[0]))
            else:
                shoulds.append(self._phrase_on(f, toks))
        if not shoulds:
            return Q.empty_query()
        if len(shoulds) == 1:
            return shoulds[0]
        return Q.boolean_query([(Occur.Should, q) for q in shoulds])

    def _wildcard(self, field: str, text: str, searcher: Any) -> list[Any]:
        """Terms starting with *text*.  The index holds English stems, so a
        stem that the prefix extends (``frobnic`` for ``frobnicat*``) also
        counts, as long as it is at most 3 characters shorter."""
        Q = self._tantivy.Query
        prefix = text.lower()
        terms = {t for t, _n in searcher.terms_with_prefix(field, prefix, limit=MAX_WILDCARD + 1)}
        short = prefix[: max(2, len(prefix) - 3)]
        if short != prefix:
            for t, _n in searcher.terms_with_prefix(field, short, limit=10 * MAX_WILDCARD):
                # a stem only drops letters from the end of its word
                if prefix.startswith(t) and len(t) >= len(prefix) - 3 and prefix[len(t) :].isalpha():
                    terms.add(t)
        if len(terms) > MAX_WILDCARD:
            raise QueryError(f"{text}* matches more than {MAX_WILDCARD} words; use a longer prefix", 0)
        return [Q.term_query(self.schema, field, t) for t in sorted(terms)]

    def _phrase_on(self, field: str, toks: list[str]) -> Any:
        Q = self._tantivy.Query
        Occur = self._tantivy.Occur
        if self.level == "full" and field not in NO_POSITIONS:
            words: list[str | tuple[int, str]] = list(toks)
            return Q.phrase_query(self.schema, field, words)
        # no positions (indexlevel medium; quoted text, like public-inbox's
        # XQUOT): all the words, anywhere -- what Xapian answers there too,
        # as the differential test against public-inbox shows
        return Q.boolean_query([(Occur.Must, Q.term_query(self.schema, field, t)) for t in toks])

    def _phrase(self, node: Phrase) -> Any:
        Q = self._tantivy.Query
        Occur = self._tantivy.Occur
        shoulds = []
        text = " ".join(node.words)
        for f in self._fields(node.field):
            if f in EXACT_FIELDS:
                val = text if f == "mid" else text.lower()
                shoulds.append(Q.term_query(self.schema, f, val))
                continue
            toks = self._tokens(text)
            if not toks:
                continue
            shoulds.append(Q.term_query(self.schema, f, toks[0]) if len(toks) == 1 else self._phrase_on(f, toks))
        if not shoulds:
            return Q.empty_query()
        return shoulds[0] if len(shoulds) == 1 else Q.boolean_query([(Occur.Should, q) for q in shoulds])

    def _range(self, node: Range) -> Any:
        Q = self._tantivy.Query
        ft = self._tantivy.FieldType
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
