"""The stems and words of the search index; an index of the previous schema
(6: stems only) keeps answering.

Schema 7 added the words fields (the words as written, with positions; the
stem fields lost theirs).  An index built before that is rebuilt by
``pubinbox index``; until then the reader answers from what it holds, as
pubinbox did before -- stems for every word, phrases on stems -- and never
errors.  The old index is built here the way schema 6 did it (its fields,
its tokenizer), from the same messages.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from pubinbox.mail.address import emails
from pubinbox.search.extract import extract
from pubinbox.search.reader import Searcher
from pubinbox.search.schema import (
    ADDRESS_FIELDS,
    ALWAYS_POSITIONS,
    ANALYZER,
    EXACT_FIELDS,
    TEXT_FIELDS,
    StemMaker,
    analyzer,
)
from pubinbox.search.writer import SCHEMA_VERSION, blob_key
from tests.helpers import run_cli
from tests.search.test_search_e2e import make_inbox

tantivy = pytest.importorskip("tantivy")


def test_stem_fields_get_the_stems_that_differ() -> None:
    """Xapian's Z terms, less those equal to the word (the words field has
    them): every occurrence, upper case folded, none for a word starting
    with a digit or "_"."""
    make = StemMaker()
    text = "Applied applying apply 2nd _foos Thanks thank x86_64 caches cache,\ncache\u00a0cache \u00e9clairs"
    assert make(text).split() == ["appli"] * 3 + ["thank"] + ["cach"] * 4 + ["\u00e9clair"]
    assert make(text) == make(text)  # the second time from the cache
    assert make("") == make("2nd thank x86_64") == ""


def _schema6(level: str) -> object:
    """build_schema of SCHEMA_VERSION 6."""
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("num", stored=True, indexed=True, fast=True)
    sb.add_integer_field("ts", indexed=True, fast=True)
    sb.add_integer_field("ds", indexed=True, fast=True)
    sb.add_unsigned_field("bytes", indexed=True, fast=True)
    sb.add_unsigned_field("bkey", fast=True)
    pos = set(TEXT_FIELDS) if level == "full" else set(ALWAYS_POSITIONS) | set(ADDRESS_FIELDS.values())
    for name in TEXT_FIELDS:
        sb.add_text_field(name, tokenizer_name=ANALYZER, index_option="position" if name in pos else "freq")
    if level != "full":
        for name in ADDRESS_FIELDS.values():
            sb.add_text_field(name, tokenizer_name=ANALYZER, index_option="position")
    for name in EXACT_FIELDS:
        sb.add_text_field(name, tokenizer_name="raw", index_option="basic")
    return sb.build()


def _write_schema6(inbox: Path, level: str) -> None:
    """Replace the inbox's search index by a schema-6 one of the same messages."""
    sdir = inbox / "pubinbox" / "search"
    old = sdir.with_name("search.new")
    old.mkdir()
    index = tantivy.Index(_schema6(level), path=str(old))
    index.register_tokenizer(ANALYZER, analyzer())
    w = index.writer(heap_size=64 * 1024 * 1024, num_threads=1)
    rows = sqlite3.connect(inbox / "pubinbox" / "over.sqlite3").execute(
        "SELECT num, blob, ts, ds, bytes FROM over WHERE num > 0"
    )
    git = inbox / "all.git"
    top = 0
    for num, blob, ts, ds, size in rows:
        raw = subprocess.run(
            ["git", f"--git-dir={git}", "cat-file", "blob", blob], capture_output=True, check=True
        ).stdout
        doc = extract(raw)
        d = tantivy.Document()
        d.add_unsigned("num", num)
        d.add_unsigned("bkey", blob_key(blob))
        d.add_integer("ts", ts)
        d.add_integer("ds", ds)
        d.add_unsigned("bytes", size)
        for name in TEXT_FIELDS:
            for text in getattr(doc, name):
                if text:
                    d.add_text(name, text)
        if level != "full":
            for name, alt in ADDRESS_FIELDS.items():
                for text in getattr(doc, name):
                    for addr in emails(text):
                        d.add_text(alt, addr)
        for mid in doc.mids:
            d.add_text("mid", mid)
        w.add_document(d)
        top = max(top, num)
    w.commit()
    w.wait_merging_threads()
    (old / "state.json").write_text(json.dumps({"max_num": top, "level": level, "schema": 6}))
    sdir.rename(sdir.with_name("search.gone"))
    old.rename(sdir)


def _hits(s: Searcher, q: str) -> set[int]:
    return set(s.search(q, limit=1000).nums)


@pytest.mark.parametrize("level", ["full", "medium"])
def test_schema6_index_answers_until_rebuilt(tmp_path: Path, level: str) -> None:
    assert SCHEMA_VERSION > 6
    d, env = make_inbox(tmp_path, level)
    new = Searcher(d / "pubinbox", level)
    exact = {q: _hits(new, q) for q in ("deadlock", "DEADLOCK", 'b:"folios"', "b:folio", "s:decompr*")}
    assert exact["DEADLOCK"] < exact["deadlock"]
    assert exact['b:"folios"'] < exact["b:folio"]

    _write_schema6(d, level)
    s = Searcher(d / "pubinbox", level)
    assert not s.layout.words  # stems only
    # every kind of query answers, from stems: a capitalised or quoted word is
    # its stem there (what pubinbox answered before schema 7)
    assert _hits(s, "deadlock") == exact["deadlock"]
    assert _hits(s, "DEADLOCK") == exact["deadlock"]
    assert _hits(s, 'b:"folios"') == exact["b:folio"] == _hits(s, "b:folio")
    assert _hits(s, "s:decompr*") >= exact["s:decompr*"]
    assert _hits(s, "f:hsiangkao@linux.alibaba.com")
    assert _hits(s, "dfn:fs/erofs/zdata.c")
    phrase = _hits(s, 'q:"use after free"')
    assert bool(phrase) == (level == "full")  # positions on the stems at full only
    for q in ("x86_64", "2nd", "Folio*", "b:th*", '"page cache" OR s:erofs', "-deadlock"):
        s.search(q)  # never an error

    # `pubinbox index` rebuilds it; the same reader sees the new index
    p = run_cli("index", str(d), env=env, check=True)
    assert b"Traceback" not in p.stderr
    assert json.loads((d / "pubinbox" / "search" / "state.json").read_text())["schema"] == SCHEMA_VERSION
    for q, want in exact.items():
        assert _hits(s, q) == want, q
    assert s.layout.words
