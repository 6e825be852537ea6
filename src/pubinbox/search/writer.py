"""Writing the Tantivy search index (``INBOXDIR/pubinbox/search/``).

The search index follows the overview: every message the overview gets is
added here under its article number and blob key (:func:`blob_key`), so a
document names the overview row it was made from; removals delete it.  It
is committed right after the overview at each checkpoint, and records the
highest article number it holds in ``state.json``; if a crash leaves it
behind the overview, the next writer or ``pubinbox index`` adds what is
missing (the overview, hence git, is its source), and when its document
count or highest number disagrees with the overview's the indexer compares
the two key by key (:meth:`SearchWriter.doc_keys`) and repairs it.  A search
index that cannot be opened is moved aside and rebuilt: it never stops mail
from being stored.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pubinbox.errors import IndexingError
from pubinbox.mail.address import emails
from pubinbox.search.extract import SearchDoc
from pubinbox.search.schema import (
    ADDRESS_FIELDS,
    EXACT_FIELDS,
    TEXT_FIELDS,
    WORD_FIELDS,
    StemMaker,
    build_schema,
    register_analyzers,
)

log = logging.getLogger(__name__)

HEAP_BYTES = 128 * 1024 * 1024
#: bump when build_schema changes: existing indexes are rebuilt
SCHEMA_VERSION = 7
STATE = "state.json"
#: documents read per query when comparing the index with the overview
SCAN_CHUNK = 65536


def blob_key(blob: str) -> int:
    """The first 64 bits of a blob id: with the article number, what a
    document is keyed by (0 for an id that is not hex)."""
    try:
        return int(blob[:16], 16)
    except ValueError:
        return 0


def _is_panic(e: BaseException) -> bool:
    """pyo3 turns a Rust panic into ``PanicException``, a BaseException."""
    return type(e).__name__ == "PanicException"


def search_dir(own_dir: Path) -> Path:
    return own_dir / "search"


def open_index(path: Path, level: str, *, create: bool) -> Any:
    """Open (or create) the Tantivy index at *path* for *level*."""
    import tantivy

    schema = build_schema(level)
    if not create and not (path / "meta.json").exists():
        raise IndexingError(f"{path}: no search index; run `pubinbox index` first")
    path.mkdir(parents=True, exist_ok=True)
    try:
        index = tantivy.Index(schema, path=str(path), reuse=True)
    except (ValueError, OSError, RuntimeError) as e:
        raise IndexingError(f"{path}: unreadable search index: {e}") from e
    except BaseException as e:
        if not _is_panic(e):
            raise
        raise IndexingError(f"{path}: unreadable search index: {e}") from e
    register_analyzers(index, writing=True)
    return index


def crlf_size(raw: bytes, *, counts: tuple[int, int] | None = None) -> int:
    """The size with CRLF line ends (IMAP RFC822.SIZE), which is what
    public-inbox's ``z:`` ranges compare; *counts*: ``raw.count(b"\\n")`` and
    ``raw.count(b"\\r\\n")`` when the caller has them (``mail.parse.line_counts``)."""
    if counts is None:
        # most mail has no CR: one memchr instead of a second scan
        counts = raw.count(b"\n"), (raw.count(b"\r\n") if raw.find(b"\r") >= 0 else 0)
    return len(raw) + counts[0] - counts[1]


def check_readable(index: Any) -> None:
    """A quick read of every segment (documents, the term dictionary of each
    text field, a stored document): raises IndexingError if any is broken."""
    import tantivy

    try:
        index.reload()
        searcher = index.searcher()
        res = searcher.search(tantivy.Query.all_query(), 1, count=True)
        for _score, addr in res.hits:
            searcher.doc(addr)
        for name in (*TEXT_FIELDS, *WORD_FIELDS.values(), *EXACT_FIELDS):
            for term, _n in searcher.terms_with_prefix(name, "", limit=1):
                searcher.search(tantivy.Query.term_query(index.schema, name, term), 1, count=True)
    except (ValueError, OSError, RuntimeError) as e:
        raise IndexingError(f"unreadable search index: {e}") from e
    except BaseException as e:
        if not _is_panic(e):
            raise
        raise IndexingError(f"unreadable search index: {e}") from e


def doc_stems(doc: SearchDoc, stems: StemMaker) -> tuple[str, ...]:
    """The stem field texts of *doc*, one per :data:`WORD_FIELDS` entry
    ("" when there are none): the costly half of a document, made where the
    document is parsed (a parsing process at ``pubinbox index -j``)."""
    out = []
    for name in WORD_FIELDS:
        texts = [text for text in getattr(doc, name) if text]
        out.append(stems("\n".join(texts)) if texts else "")
    return tuple(out)


#: :func:`doc_words`: per words field, a text's words for each of its texts
DocWords = tuple[tuple[str, ...], ...]


def doc_words(doc: SearchDoc, stems: StemMaker) -> DocWords:
    """The words field texts of *doc*: per :data:`WORD_FIELDS` entry, each
    of its (non-empty) texts' words as :meth:`StemMaker.words` joins them,
    what the writer's words fields take (one value a text, as the texts
    were: the positions of a value's words are the same); made where the
    document is parsed, with :func:`doc_stems`."""
    return tuple(tuple(stems.words(text) for text in getattr(doc, name) if text) for name in WORD_FIELDS)


def _abbrevs(oid: str) -> list[str]:
    """An id and every prefix down to 7 hex digits (any abbreviation matches)."""
    oid = oid.lower()
    return [oid[:n] for n in range(len(oid), 6, -1)]


class SearchWriter:
    """Adds and deletes documents; the caller holds inbox.lock.

    ``fresh`` is true when the index was created (or reset) by this writer:
    it then has to be filled from the overview, not merely caught up."""

    def __init__(self, own_dir: Path, level: str, *, rebuild_broken: bool = True) -> None:
        self.path = search_dir(own_dir)
        self.level = level
        self.fresh = not (self.path / "meta.json").exists()
        st = self._state()
        if st and (st.get("level") != level or st.get("schema") != SCHEMA_VERSION):
            # the schema depends on the level (positions or not) and changes
            # between versions: rebuild (from the overview and git), which is
            # `pubinbox index`'s work, not a delivery's
            if not rebuild_broken:
                raise IndexingError(f"{self.path}: indexlevel or schema changed; `pubinbox index` rebuilds it")
            log.warning("%s: indexlevel or schema changed; rebuilding the search index", self.path)
            self._move_aside(None)
        try:
            self.index = open_index(self.path, level, create=True)
            check_readable(self.index)
        except IndexingError as e:
            if not rebuild_broken:
                raise
            # corrupt: keep a copy for inspection, start over (git has everything)
            self._move_aside(e)
            self.index = open_index(self.path, level, create=True)
        self._writer: Any = None
        self._stems = StemMaker()
        self.max_num = self._read_state()
        self._pending_max = self.max_num
        self._dirty = False
        # a commit going on in a thread (commit(background=True)), the
        # documents made meanwhile, and what the commit raised
        self._committing: threading.Thread | None = None
        self._held: list[Any] = []
        self._commit_error: BaseException | None = None

    def _move_aside(self, error: IndexingError | None) -> None:
        """Take the index out of the way of a new one.  A rename, never a
        rewrite: readers that have its files open keep reading them, and
        see the new directory when they next look.  A broken index is kept
        (one copy, the newest) for inspection; an outdated one is dropped."""
        self.fresh = True
        if error is None:
            gone = self.path.with_name(f".search.old-{os.getpid()}")
            os.replace(self.path, gone)
            shutil.rmtree(gone, ignore_errors=True)
            return
        for old in self.path.parent.glob("search.broken-*"):
            shutil.rmtree(old, ignore_errors=True)
        aside = self.path.with_name(f"search.broken-{int(time.time())}")
        log.warning("%s; moving it to %s and rebuilding", error, aside)
        os.replace(self.path, aside)

    def _state(self) -> dict[str, Any]:
        try:
            with open(self.path / STATE) as f:
                got = json.load(f)
            return got if isinstance(got, dict) else {}
        except (FileNotFoundError, ValueError, OSError):
            return {}

    def _read_state(self) -> int:
        try:
            return int(self._state().get("max_num", 0))
        except (TypeError, ValueError):
            return 0

    def _w(self) -> Any:
        if self._writer is None:
            self._writer = self.index.writer(heap_size=HEAP_BYTES, num_threads=1)
        return self._writer

    def add(
        self,
        num: int,
        doc: SearchDoc,
        *,
        blob: str,
        ts: int,
        ds: int,
        size: int,
        replace: bool = False,
        stems: tuple[str, ...] | None = None,
        words: DocWords | None = None,
    ) -> None:
        """Add the document of message *num* (stored as *blob*); *replace*
        first deletes whatever the index holds under *num*.  *stems*,
        *words*: :func:`doc_stems` and :func:`doc_words` of *doc*, when a
        parsing process made them."""
        import tantivy

        if stems is None:
            stems = doc_stems(doc, self._stems)
        if words is None:
            words = doc_words(doc, self._stems)

        if replace:
            self._settle()
            self._w().delete_documents_by_query(self._num_query([num]))
        d = tantivy.Document()
        d.add_unsigned("num", num)
        d.add_unsigned("bkey", blob_key(blob))
        d.add_integer("ts", ts)
        d.add_integer("ds", ds)
        d.add_unsigned("bytes", size)
        for (name, words_field), stem_text, texts in zip(WORD_FIELDS.items(), stems, words, strict=True):
            # the words as written and their stems, as Xapian's TermGenerator
            for text in texts:
                d.add_text(words_field, text)
            if stem_text:
                d.add_text(name, stem_text)  # no positions: one text will do
        if self.level != "full":  # each address as a phrase (public-inbox's index_headers at medium)
            for name, alt in ADDRESS_FIELDS.items():
                for text in getattr(doc, name):
                    for addr in emails(text):
                        d.add_text(alt, self._stems.words(addr))
        for mid in doc.mids:
            d.add_text("mid", mid)
        for lid in doc.listid_exact:
            d.add_text("lid", lid)
        for name in ("dfpre", "dfpost"):
            for oid in getattr(doc, name):
                for ab in _abbrevs(oid):
                    d.add_text(name, ab)
        for pid in doc.patchid:
            d.add_text("patchid", pid)
        if self._committing is not None and self._committing.is_alive():
            self._held.append(d)  # the writer is the commit's until it is done
        else:
            self._settle()
            self._w().add_document(d)
        self._pending_max = max(self._pending_max, num)
        self._dirty = True

    def _num_query(self, nums: list[int]) -> Any:
        # Not delete_documents_by_term: given a Python int it builds an i64
        # term, which never matches the u64 field ``num``, and deletes nothing.
        import tantivy

        schema = self.index.schema
        if len(nums) == 1:
            return tantivy.Query.term_query(schema, "num", nums[0])
        return tantivy.Query.term_set_query(schema, "num", nums)

    def delete(self, nums: Iterable[int]) -> None:
        """Delete every document of these article numbers."""
        todo = sorted(set(nums))
        if not todo:
            return
        self._settle()
        w = self._w()
        for i in range(0, len(todo), SCAN_CHUNK):
            w.delete_documents_by_query(self._num_query(todo[i : i + SCAN_CHUNK]))
        self._dirty = True

    # -- what the index holds (after a commit) ----------------------------------
    def _searcher(self) -> Any:
        self._settle()
        self.index.reload()
        return self.index.searcher()

    def stats(self) -> tuple[int, int]:
        """(documents, highest article number) of what is committed."""
        import tantivy

        try:
            s = self._searcher()
            n = int(s.num_docs)
            if n == 0:
                return 0, 0
            res = s.search(tantivy.Query.all_query(), 1, count=False, order_by_field="num")
            top = s.fast_field_values("num", [addr for _k, addr in res.hits])
        except (ValueError, OSError, RuntimeError) as e:
            raise IndexingError(f"{self.path}: unreadable search index: {e}") from e
        return n, int(top[0] or 0) if top else 0

    def doc_keys(self, lo: int, hi: int) -> dict[int, list[int]]:
        """The blob keys of the documents numbered *lo*..*hi*, by number
        (a number with several keys, or a key that is not the overview's, is
        a document to repair)."""
        import tantivy

        out: dict[int, list[int]] = {}
        try:
            s = self._searcher()
            q = tantivy.Query.range_query(self.index.schema, "num", tantivy.FieldType.Unsigned, lo, hi)
            n = int(s.search(q, 1, count=True).count or 0)
            if n == 0:
                return out
            addrs = [addr for _k, addr in s.search(q, n, count=False).hits]
            nums = s.fast_field_values("num", addrs)
            keys = s.fast_field_values("bkey", addrs)
        except (ValueError, OSError, RuntimeError) as e:
            raise IndexingError(f"{self.path}: unreadable search index: {e}") from e
        for num, key in zip(nums, keys, strict=True):
            if num is not None:
                out.setdefault(int(num), []).append(int(key or 0))
        return out

    def set_max_num(self, num: int) -> None:
        """Record *num* as the highest number indexed (after a repair that
        compared everything: a catch-up starts above it)."""
        if num != self._pending_max:
            self._pending_max = num
            self._dirty = True

    def clear(self) -> None:
        self._settle()
        self.fresh = True
        self._w().delete_all_documents()
        self._pending_max = 0
        self._dirty = True

    def commit(self, *, background: bool = False) -> None:
        """Make what was added durable and visible.  *background*: in a
        thread, while the caller goes on (tantivy lets go of the
        interpreter while it commits, and a commit is mostly indexing the
        documents added since the last one: a quarter of ``index -L full``
        went by with everything else waiting for it); documents made
        meanwhile wait in memory, and the next call of any kind finishes
        the commit first."""
        self._settle()
        if not self._dirty:
            return
        top = self._pending_max
        self._dirty = False
        if not background:
            self._commit_now(top)
            return
        self._commit_error = None
        self._committing = threading.Thread(target=self._commit_bg, args=(top,), name="search-commit", daemon=True)
        self._committing.start()

    def _commit_now(self, top: int) -> None:
        self._w().commit()
        tmp = self.path / f".{STATE}.tmp"
        tmp.write_text(json.dumps({"max_num": top, "level": self.level, "schema": SCHEMA_VERSION}))
        os.replace(tmp, self.path / STATE)
        self.max_num = top

    def _commit_bg(self, top: int) -> None:
        try:
            self._commit_now(top)
        except BaseException as e:  # noqa: BLE001 - raised by _settle, in the caller's thread
            self._commit_error = e

    def _settle(self) -> None:
        """Wait for a commit going on in a thread, then add what was made meanwhile."""
        t = self._committing
        if t is None:
            return
        t.join()
        self._committing = None
        held, self._held = self._held, []
        err, self._commit_error = self._commit_error, None
        if held:
            w = self._w()
            for d in held:
                w.add_document(d)
            self._dirty = True
        if err is not None:
            self._dirty = True  # not committed: everything since the last commit is still to do
            if isinstance(err, (ValueError, OSError, RuntimeError)):
                raise IndexingError(f"{self.path}: search index commit: {err}") from err
            raise err

    def rollback(self) -> None:
        try:
            self._settle()
        except IndexingError:
            pass  # what it did not commit is rolled back below
        if self._writer is not None and self._dirty:
            self._writer.rollback()
        self._pending_max = self.max_num
        self._dirty = False

    def close(self) -> None:
        self._settle()
        if self._writer is not None:
            self._writer.wait_merging_threads()
            self._writer = None


# the exact fields are filled by hand above; keep the schema table honest
assert set(EXACT_FIELDS) == {"mid", "lid", "dfpre", "dfpost", "patchid"}
