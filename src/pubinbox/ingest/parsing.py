"""A blob from git parsed once, for the overview and the search index.

:func:`parse_blob` is the one parse of a stored message (:class:`Parsed`):
its :class:`~pubinbox.ingest.message.Message` (the overview row's fields)
and, when the inbox has a search index, its search document.  The indexer
calls it in its own process for a few messages, and :func:`parse_chunk` /
:func:`extract_job` run it in parsing processes (:mod:`.pool`) for many
(:func:`parse_chunk`'s results travel as :func:`pack` makes them):
there the search document's stem texts are made too, which is the costly
half of a document and would otherwise wait for the one writing process.
A parsing process keeps its git reader and stem cache between tasks.
"""

from __future__ import annotations

import marshal
from dataclasses import dataclass
from pathlib import Path

from pubinbox.errors import CorruptObject
from pubinbox.ingest.message import Message, parse_stored, search_doc
from pubinbox.mail.meta import MessageMeta
from pubinbox.search.extract import SearchDoc, extract
from pubinbox.search.schema import ADDRESS_FIELDS, WORD_FIELDS, StemMaker
from pubinbox.search.writer import DocWords, crlf_size, doc_stems, doc_words
from pubinbox.series.marks import Marks
from pubinbox.store.git import GitReader
from pubinbox.store.layout import Layout

__all__ = ["Parsed", "Unreadable", "extract_job", "pack", "parse_blob", "parse_chunk", "unpack"]


@dataclass(frozen=True, slots=True)
class Parsed:
    """A blob from git, parsed (in a worker process when there are many):
    its id, the :class:`Message`, and its search document when the inbox
    has a search index."""

    blob: str
    message: Message
    doc: SearchDoc | None = None
    #: the stem texts of *doc* (search.writer.doc_stems), when a parsing process made them
    stems: tuple[str, ...] | None = None
    #: the words of *doc* (search.writer.doc_words), made with *stems*; when
    #: they came from a parsing process (:func:`unpack`), *doc* has no texts
    #: of the words fields but the address ones: the words stand for them
    words: DocWords | None = None

    def __reduce__(
        self,
    ) -> tuple[type[Parsed], tuple[str, Message, SearchDoc | None, tuple[str, ...] | None, DocWords | None]]:
        return Parsed, (self.blob, self.message, self.doc, self.stems, self.words)


def parse_blob(raw: bytes, blob: str, *, commit_time: int, search: bool, stems: StemMaker | None = None) -> Parsed:
    """Parse a blob found in git once, for the overview and the search
    index; with *stems*, the search document's stem texts and words are
    made too."""
    msg = parse_stored(raw, fallback_ts=commit_time)
    if not search:
        return Parsed(blob, msg)
    doc = search_doc(raw, msg)
    if stems is None:
        return Parsed(blob, msg, doc)
    return Parsed(blob, msg, doc, doc_stems(doc, stems), doc_words(doc, stems))


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A message whose blob could not be read (missing, corrupt)."""

    reason: str


def parse_chunk(args: tuple[str, int, list[tuple[str, int]], bool]) -> bytes:
    """In a worker: read and parse a run of blobs of one epoch; the
    results as :func:`pack` gives them (:func:`unpack` reads them)."""
    inboxdir, epoch, blobs, search = args
    git = _worker_reader(inboxdir)
    out: list[Parsed | Unreadable] = []
    for blob, ct in blobs:
        try:
            raw = git.blob(blob, epoch)
        except CorruptObject as e:
            out.append(Unreadable(str(e)))
            continue
        out.append(parse_blob(raw, blob, commit_time=ct, search=search, stems=_worker_stems() if search else None))
    return pack(out)


def pack(results: list[Parsed | Unreadable]) -> bytes:
    """*results* as plain tuples in :mod:`marshal`'s format: what a parsing
    process sends back.  Read back five times faster than a pickle of the
    objects (which is read in the one indexing process, the pipeline's
    narrow end).  With the words of a search document, its texts that the
    words stand for are left out (the writer reads only the words of those
    fields: :meth:`SearchWriter.add`), and each field's words travel as one
    string: a patch has a text a line, and reading them back was most of
    the indexing process's Python time at ``-L full``."""
    rows: list[object] = []
    for r in results:
        if isinstance(r, Unreadable):
            rows.append(r.reason)
            continue
        m = r.message
        rows.append(
            (
                r.blob,
                m.meta.__reduce__()[1],
                m.size,
                m.lines,
                m.crlf_size,
                None if m.series is None else m.series.__reduce__()[1],
                None if r.doc is None else _doc_row(r.doc, r.words is not None),
                r.stems,
                None if r.words is None else tuple("\n".join(texts) if texts else None for texts in r.words),
            )
        )
    return marshal.dumps(rows)


def unpack(data: bytes) -> list[Parsed | Unreadable]:
    """What :func:`pack` packed."""
    out: list[Parsed | Unreadable] = []
    for row in marshal.loads(data):
        if isinstance(row, str):
            out.append(Unreadable(row))
            continue
        blob, meta, size, lines, crlf, marks, doc, stems, words = row
        message = Message(MessageMeta(*meta), size, lines, crlf, None if marks is None else Marks(*marks))
        if words is not None:  # a words text never has a newline
            words = tuple(() if joined is None else tuple(joined.split("\n")) for joined in words)
        out.append(Parsed(blob, message, None if doc is None else SearchDoc(*doc), stems, words))
    return out


#: positions in a SearchDoc's fields of the texts its words stand for (the
#: address fields' texts are read by the writer at indexlevel medium)
_WORDS_STAND_FOR = frozenset(
    i for i, f in enumerate(SearchDoc.__slots__) if f in WORD_FIELDS and f not in ADDRESS_FIELDS
)


def _doc_row(doc: SearchDoc, with_words: bool) -> tuple[tuple[str, ...], ...]:
    row = doc.__reduce__()[1]
    if not with_words:
        return row
    return tuple(() if i in _WORDS_STAND_FOR else texts for i, texts in enumerate(row))


def extract_job(
    args: tuple[str, int, str],
) -> tuple[SearchDoc, int, tuple[str, ...] | None, DocWords | None] | Unreadable:
    """The search document of one blob (with its stem texts and words in a worker)."""
    inboxdir, epoch, blob = args
    try:
        raw = _worker_reader(inboxdir).blob(blob, epoch)
    except CorruptObject as e:
        return Unreadable(str(e))
    doc = extract(raw)
    return doc, crlf_size(raw), doc_stems(doc, _worker_stems()), doc_words(doc, _worker_stems())


# what a parsing process keeps between tasks
_WORKER_READERS: dict[str, GitReader] = {}
_WORKER_STEMS: list[StemMaker] = []


def _worker_stems() -> StemMaker:
    if not _WORKER_STEMS:
        _WORKER_STEMS.append(StemMaker())
    return _WORKER_STEMS[0]


def _worker_reader(inboxdir: str) -> GitReader:
    r = _WORKER_READERS.get(inboxdir)
    if r is None:
        r = _WORKER_READERS[inboxdir] = GitReader(Layout(Path(inboxdir)))
    return r
